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
#include "server/requests.h"
#include "server/skeleton.h"
#include "service.h"

using namespace postern;
namespace proto = ipc::proto;

namespace {

std::unique_ptr<rewrite_service::Service> g_service;
bool g_stopping = false;

asio::awaitable<void> serve(server::Context& ctx, server::Socket sock) {
  const auto io_timeout = std::chrono::duration_cast<ipc::AsyncDuration>(ctx.cfg().time("ipc_timeout"));
  for (;;) {
    auto req = co_await server::next_request<proto::RewriteRequest>(ctx, sock);
    if (!req) co_return;
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
