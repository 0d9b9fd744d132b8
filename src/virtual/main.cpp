// virtual - the virtual mailbox delivery agent (Postfix virtual(8));
// master.cf "virtual unix - n n - - virtual".
//
// A privileged single-client server like local: it keeps root (unpriv = n)
// so that each delivery can become the mailbox owner from
// virtual_uid_maps/virtual_gid_maps, and serves delivery requests on
// private/virtual, one at a time, several on one connection when qmgr
// keeps it (ipc/proto/deliver.h). The tables are opened in pre_drop, before
// anything else; the process retires after a request when one of them
// changed. The file work runs in privilege-dropped workers (agent.h).
//
// Parameters: see agent.h, plus ipc_timeout and the skeleton's.
// Logs: one status line per recipient (agent.h); warnings for malformed
// requests and configuration errors.
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

std::unique_ptr<virt::Agent> g_agent;

asio::awaitable<void> serve(server::Context& ctx, server::Socket sock) {
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
  d.name = "virtual";
  d.model = server::Model::Single;
  d.privileged = true;
  d.pre_drop = [](server::Context& ctx) -> Status {
    auto s = virt::Settings::from_config(ctx.cfg());
    if (!s) return s.take_error();
    auto a = virt::Agent::create(std::move(*s));
    if (!a) return a.take_error();
    g_agent = std::move(*a);
    return {};
  };
  d.serve = serve;
  return server::run(argc, argv, std::move(d));
}
