// error, discard - delivery agents whose answer is the next hop (Postfix's
// error(8) and discard(8)): "error" bounces every recipient, "retry" (the
// error program under that service name) defers them, "discard" reports
// them delivered. The next hop, from transport_maps or *_transport
// ("error:5.1.2 no such domain"), is the reason; see reason.h.
//
// master.cf: "error unix - - n - - error", "retry unix - - n - - error",
// "discard unix - - n - - discard". The same code builds both programs
// (discard with POSTERN_DISCARD=1).
//
// Nothing is read from the queue file: qmgr's request names the recipients,
// and qmgr alone acts on the answer (bounce, defer, mark done). Logs one
// Postfix-shaped status line per recipient, relay=none, e.g. "ID:
// to=<u@example.com>, relay=none, delay=0.1, delays=0.1/0/0/0, dsn=5.1.2,
// status=bounced (no such domain)".
//
// Parameters: ipc_timeout, soft_bounce; the server skeleton's (max_use, max_idle, ...).
#include "base/strings.h"
#include "deliver/status_line.h"
#include "error/reason.h"
#include "ipc/proto/deliver.h"
#include "log/log.h"
#include "queue/queue_file.h"
#include "server/requests.h"
#include "server/skeleton.h"

using namespace postern;

#ifndef POSTERN_DISCARD
#define POSTERN_DISCARD 0
#endif

namespace {

ipc::proto::DeliveryReply answer(const ipc::proto::DeliveryRequest& req, error_agent::Mode mode, bool soft_bounce) {
  const std::int64_t start = deliver::now_usec();
  deliver::Outcome o = error_agent::outcome_for(mode, req.nexthop);
  auto rep = deliver::report_outcome(o, soft_bounce);
  ipc::proto::DeliveryReply reply;
  for (const auto& enc : req.recipients) {
    auto r = queue::decode_recipient(enc);
    std::string address = r ? r->address : std::string("unknown");
    deliver::StatusLine line{.queue_id = req.queue_id,
                             .recipient = address,
                             .orig_recipient = r ? std::string_view(r->orig_rcpt) : std::string_view(),
                             .relay = "none",
                             .arrival_usec = req.arrival_usec,
                             .active_usec = req.active_usec,
                             .agent_start_usec = start,
                             .connected_usec = 0,
                             .done_usec = deliver::now_usec(),
                             .dsn = rep.dsn,
                             .status = rep.status,
                             .text = o.text};
    log::info("{}", deliver::format_status_line(line));
    reply.dsn.push_back(rep.dsn);
    reply.text.push_back(str::printable(o.text, 1000));  // the reply field holds 1,024 bytes
    reply.relay.push_back("none");
  }
  return reply;
}

}  // namespace

int main(int argc, char** argv) {
  constexpr bool kDiscard = POSTERN_DISCARD != 0;
  error_agent::Mode mode = error_agent::Mode::Bounce;
  std::chrono::seconds timeout{3600};
  bool soft_bounce = false;
  server::Daemon d;
  d.name = kDiscard ? "discard" : "error";
  d.model = server::Model::Multi;
  d.pre_drop = [&](server::Context& ctx) -> Status {
    mode = error_agent::mode_for(kDiscard, ctx.service());
    timeout = ctx.cfg().time("ipc_timeout");
    soft_bounce = ctx.cfg().boolean("soft_bounce");
    return {};
  };
  d.serve = [&](server::Context& ctx, server::Socket sock) -> asio::awaitable<void> {
    co_await server::serve_requests<ipc::proto::DeliveryRequest>(
        ctx, sock, timeout, [&](ipc::proto::DeliveryRequest req) -> asio::awaitable<ipc::proto::DeliveryReply> {
          co_return answer(req, mode, soft_bounce);
        });
  };
  return server::run(argc, argv, std::move(d));
}
