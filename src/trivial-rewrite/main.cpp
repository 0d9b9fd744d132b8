// trivial-rewrite - address rewriting and resolution service (Postfix trivial-rewrite(8)).
//
// Listens on private/rewrite (master.cf: "rewrite unix - - n - - trivial-rewrite").
// cleanup asks it to rewrite addresses to user@fully.qualified.domain form;
// qmgr, smtpd and others ask it where a recipient's mail goes (transport,
// next hop, recipient). One process serves many clients at once; each
// connection carries many requests, one at a time (docs/ipc.md).
//
// Lookup tables (mydestination, relay_domains, transport_maps, ...) are opened
// before the privilege drop and chroot, so that their files stay reachable.
// Parameters: see rewrite.h, resolve.h, service.h. Logs: see service.h.
#include <chrono>
#include <memory>

#include "ipc/async.h"
#include "log/log.h"
#include "server/skeleton.h"
#include "service.h"

using namespace postern;
namespace proto = ipc::proto;

namespace {

std::unique_ptr<rewrite_service::Service> g_service;
bool g_stopping = false;

asio::awaitable<void> serve(server::Context& ctx, server::Socket sock) {
  const auto io_timeout = std::chrono::duration_cast<ipc::AsyncDuration>(ctx.cfg().time("ipc_timeout"));
  // Waiting for the next request: a client that keeps an idle connection
  // longer than max_idle would otherwise keep this process from retiring.
  const auto idle_timeout = std::chrono::duration_cast<ipc::AsyncDuration>(ctx.cfg().time("max_idle"));
  for (;;) {
    auto frame = co_await ipc::read_frame(sock, {}, idle_timeout);
    if (!frame) {
      const auto& m = frame.error().message;
      if (m.find("connection closed by peer") == std::string::npos && m.find("timeout (0 of") == std::string::npos)
        log::warning("{}: read request from {}: {}", ctx.service(), server::peer_text(sock), m);
      co_return;
    }
    auto req = ipc::decode<proto::RewriteRequest>(frame->payload);
    if (!req) {
      log::warning("{}: malformed request from {}: {}", ctx.service(), server::peer_text(sock),
                   req.error().message);
      co_await ipc::refuse(sock, req.error().message);
      co_return;
    }
    auto reply = g_service->handle(*req);
    Status st;
    bool refused = false;
    if (auto* rw = std::get_if<proto::RewriteReply>(&reply)) {
      st = co_await ipc::write_message(sock, *rw, {}, io_timeout);
    } else if (auto* rs = std::get_if<proto::ResolveReply>(&reply)) {
      st = co_await ipc::write_message(sock, *rs, {}, io_timeout);
    } else {
      refused = true;
      st = co_await ipc::write_message(sock, std::get<proto::StatusReply>(reply), {}, io_timeout);
    }
    if (!st) {
      log::warning("{}: write reply to {}: {}", ctx.service(), server::peer_text(sock), st.error().message);
      co_return;
    }
    if (!g_stopping && g_service->tables_changed()) {
      g_stopping = true;
      log::info("table has changed -- restarting");
      ctx.request_stop();
    }
    if (refused) co_return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  server::Daemon d;
  d.name = "trivial-rewrite";
  d.model = server::Model::Multi;
  d.client_limit = 100;
  d.pre_drop = [](server::Context& ctx) -> Status {
    auto s = rewrite_service::Service::create(ctx.cfg());
    if (!s) return s.take_error();
    g_service = std::make_unique<rewrite_service::Service>(std::move(*s));
    return {};
  };
  d.serve = serve;
  return server::run(argc, argv, std::move(d));
}
