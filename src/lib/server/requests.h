// requests.h - the next request on a connection that carries many (the
// request/reply services: trivial-rewrite, bounce; the delivery agents).
//
// A client may keep its connection between requests; waiting for the next
// one is bounded by max_idle, so an idle client cannot keep the process
// from retiring. A close by the client or an idle timeout ends the
// connection quietly; any other read error is logged; a request that does
// not decode as T is logged and refused (the client gets a "status" reply
// with the reason and the connection ends).
//
// serve_requests() (the delivery agents) also ends the wait when the
// process stops, so that a reload takes effect at the next delivery; its
// client (qmgr) sends a request that meets such a close once more on a new
// connection. next_request() alone keeps serving a stopping process's
// clients until they close or the skeleton's drain ends, because the
// clients of trivial-rewrite and bounce do not try again.
//
// Parameters: max_idle. Logs: "<service>: read request from <peer>: ..."
// and "<service>: malformed request from <peer>: ..." warnings.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "ipc/async.h"
#include "log/log.h"
#include "server/skeleton.h"

namespace postern::server {

// Registers a connection as waiting for its client's next request while it
// exists: the skeleton cancels the wait when the process stops.
class IdleWait {
 public:
  IdleWait(Context& ctx, Socket& sock) : ctx_(ctx), sock_(&sock) { ctx_.idle_begin(sock_); }
  ~IdleWait() { ctx_.idle_end(sock_); }
  IdleWait(const IdleWait&) = delete;
  IdleWait& operator=(const IdleWait&) = delete;

 private:
  Context& ctx_;
  Socket* sock_;
};

// `limits`: a service whose requests are small says how small, so that a
// longer frame is refused at its header.
template <ipc::Schema T>
asio::awaitable<std::optional<T>> next_request(Context& ctx, Socket& sock, ipc::FrameLimits limits = {}) {
  const auto idle_timeout = std::chrono::duration_cast<ipc::AsyncDuration>(ctx.cfg().time("max_idle"));
  auto frame = co_await ipc::read_frame(sock, limits, idle_timeout);
  if (!frame) {
    const auto& m = frame.error().message;
    if (!ctx.stopping() && m.find("connection closed by peer") == std::string::npos &&
        m.find("timeout (0 of") == std::string::npos)
      log::warning("{}: read request from {}: {}", ctx.service(), peer_text(sock), m);
    co_return std::nullopt;
  }
  auto req = ipc::decode<T>(frame->payload);
  if (!req) {
    log::warning("{}: malformed request from {}: {}", ctx.service(), peer_text(sock), req.error().message);
    co_await ipc::refuse(sock, req.error().message);
    co_return std::nullopt;
  }
  co_return std::optional<T>(std::move(*req));
}

// Serves requests of type Req on one connection until the client closes it,
// it idles past max_idle, or the process stops; handle(Req) returns an
// awaitable of the reply, whose `closing` field this sets. The first request
// came with the connection, which the skeleton counted as a use; each later
// one counts as another (Context::count_use()), so that max_use still
// bounds the work of one process. A reply says closing = 1 when no request
// will be read after it (the process stops or retires), so that the client
// does not send one into a closing connection.
template <ipc::Schema Req, class Handle>
asio::awaitable<void> serve_requests(Context& ctx, Socket& sock, ipc::AsyncDuration write_timeout, Handle handle) {
  for (bool first = true;; first = false) {
    // A stop that came while the last reply was being written: that reply
    // said 0, and the client's next request meets the close (qmgr sends it
    // again on a new connection).
    if (ctx.stopping() && !first) co_return;
    std::optional<Req> req;
    if (first) {
      // Served even when the process stops meanwhile: the client connected
      // to send it, and a new connection gets no second try.
      req = co_await next_request<Req>(ctx, sock);
    } else {
      IdleWait idle(ctx, sock);
      req = co_await next_request<Req>(ctx, sock);
    }
    if (!req) co_return;
    if (!first) ctx.count_use();
    Context::WatchedRequest watched(ctx);
    auto reply = co_await handle(std::move(*req));
    reply.closing = ctx.stopping() ? 1 : 0;
    const bool closing = reply.closing != 0;
    auto st = co_await ipc::write_message(sock, std::move(reply), {}, write_timeout);
    if (!st) {
      log::warning("{}: write reply to {}: {}", ctx.service(), peer_text(sock), st.error().message);
      co_return;
    }
    if (closing) co_return;
  }
}

}  // namespace postern::server
