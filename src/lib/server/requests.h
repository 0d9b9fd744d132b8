// requests.h - the next request on a connection that carries many (the
// request/reply services: trivial-rewrite, bounce).
//
// A client may keep its connection between requests; waiting for the next
// one is bounded by max_idle, so an idle client cannot keep the process
// from retiring. A close by the client or an idle timeout ends the
// connection quietly; any other read error is logged; a request that does
// not decode as T is logged and refused (the client gets a "status" reply
// with the reason and the connection ends).
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

template <ipc::Schema T>
asio::awaitable<std::optional<T>> next_request(Context& ctx, Socket& sock) {
  const auto idle_timeout = std::chrono::duration_cast<ipc::AsyncDuration>(ctx.cfg().time("max_idle"));
  auto frame = co_await ipc::read_frame(sock, {}, idle_timeout);
  if (!frame) {
    const auto& m = frame.error().message;
    if (m.find("connection closed by peer") == std::string::npos && m.find("timeout (0 of") == std::string::npos)
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

}  // namespace postern::server
