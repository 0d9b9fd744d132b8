// local - the local delivery agent (Postfix local(8)); master.cf "local unix - n n - - local".
//
// A privileged single-client server: it keeps root (unpriv = n) so that each
// delivery can become the recipient, and serves delivery requests on
// private/local, one at a time, several on one connection when qmgr keeps
// it: read the request, deliver every recipient, answer one dsn/text/relay
// per recipient (ipc/proto/deliver.h). The
// deliveries themselves are blocking and run in privilege-dropped workers
// (agent.h explains the design); one request at a time per process, like
// Postfix's local. Alias tables are opened before anything else and the
// process retires after a request when one of them changed.
//
// Parameters: see agent.h, plus ipc_timeout and the skeleton's.
// Logs: one status line per destination (agent.h); warnings for malformed
// requests.
#include <chrono>
#include <memory>

#include "agent.h"
#include "ipc/async.h"
#include "log/log.h"
#include "server/requests.h"
#include "server/skeleton.h"

using namespace postern;
namespace proto = ipc::proto;

namespace {

std::unique_ptr<local::Agent> g_agent;

asio::awaitable<void> serve(server::Context& ctx, server::Socket sock) {
  // qmgr sends its next delivery on the same connection (ipc/proto/deliver.h).
  const auto timeout = std::chrono::duration_cast<ipc::AsyncDuration>(ctx.cfg().time("ipc_timeout"));
  co_await server::serve_requests<proto::DeliveryRequest>(
      ctx, sock, timeout, [&ctx](proto::DeliveryRequest req) -> asio::awaitable<proto::DeliveryReply> {
        proto::DeliveryReply reply = g_agent->handle(req);
        if (g_agent->tables_changed()) {
          log::info("table has changed -- restarting");
          ctx.request_stop();
        }
        co_return reply;
      });
}

}  // namespace

int main(int argc, char** argv) {
  server::Daemon d;
  d.name = "local";
  d.model = server::Model::Single;
  d.privileged = true;
  d.pre_drop = [](server::Context& ctx) -> Status {
    auto s = local::Settings::from_config(ctx.cfg());
    if (!s) return s.take_error();
    auto a = local::Agent::create(std::move(*s));
    if (!a) return a.take_error();
    g_agent = std::move(*a);
    return {};
  };
  d.serve = serve;
  return server::run(argc, argv, std::move(d));
}
