// mailbox_agent.h - main() of a privileged delivery agent that writes as the
// recipient and reads tables that may change (local, virtual).
//
// Such an agent is a single-client server that keeps root (master.cf
// unpriv = n) so that each delivery can become the recipient, and serves
// delivery requests one at a time, several on one connection when qmgr
// keeps it (ipc/proto/deliver.h). Its tables are opened in pre_drop,
// before anything else; after a request, when one of them has changed, it
// logs "table has changed -- restarting" and retires, as Postfix's agents
// do, so the master starts one with the new tables.
//
// The Agent type provides:
//   static Result<std::unique_ptr<Agent>> create(Settings);
//   ipc::proto::DeliveryReply handle(const ipc::proto::DeliveryRequest&);
//   bool tables_changed() const;
// and Settings a static Result<Settings> from_config(const config::Config&).
//
// Reads ipc_timeout (one request) and the skeleton's parameters.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "ipc/async.h"
#include "ipc/proto/deliver.h"
#include "log/log.h"
#include "security/privileges.h"
#include "server/requests.h"
#include "server/skeleton.h"

namespace postern::server {

template <class Agent, class Settings>
int run_mailbox_agent(int argc, char** argv, std::string name) {
  // One agent per process; the skeleton calls pre_drop once, before serve.
  static std::unique_ptr<Agent> agent;
  Daemon d;
  d.name = std::move(name);
  d.model = Model::Single;
  d.privileged = true;
  d.pre_drop = [](Context& ctx) -> Status {
    auto s = Settings::from_config(ctx.cfg());
    if (!s) return s.take_error();
    // An agent that hands mail on must know its own master.cf name.
    if constexpr (requires(Settings& x) { x.service_name = std::string(); }) s->service_name = ctx.service();
    auto a = Agent::create(std::move(*s));
    if (!a) return a.take_error();
    agent = std::move(*a);
    return {};
  };
  // Between deliveries it works as mail_owner, root only as its real and
  // saved uid (Postfix's drop_privileges() hook in local and virtual): the
  // queue file, qmgr's requests and the tables it looks up are mail_owner's
  // to read anyway, and what must be root (becoming a recipient, creating
  // a mailbox in a root-owned spool) happens in the worker it forks, which
  // takes root back only to drop it for good (deliver/worker.h).
  d.post_drop = [](Context& ctx) -> Status { return security::work_as_mail_owner(ctx.cfg().str("mail_owner")); };
  d.serve = [](Context& ctx, Socket sock) -> asio::awaitable<void> {
    const auto timeout = std::chrono::duration_cast<ipc::AsyncDuration>(ctx.cfg().time("ipc_timeout"));
    co_await serve_requests<ipc::proto::DeliveryRequest>(
        ctx, sock, timeout, [&ctx](ipc::proto::DeliveryRequest req) -> asio::awaitable<ipc::proto::DeliveryReply> {
          ipc::proto::DeliveryReply reply = agent->handle(req);
          if (agent->tables_changed()) {
            log::info("table has changed -- restarting");
            ctx.request_stop();
          }
          co_return reply;
        });
  };
  return run(argc, argv, std::move(d));
}

}  // namespace postern::server
