// pipe - deliver mail to an external command (Postfix's pipe(8)).
//
// master.cf: "dovecot unix - n n - - pipe flags=DRhu user=vmail:vmail
// argv=/usr/lib/dovecot/deliver -f ${sender} -d ${recipient}"; transports
// name the service (transport_maps, virtual_transport, ...). See pipe.h for
// the attributes and macros and docs/man/pipe.md.
//
// A privileged single-client server (unpriv = n, like Postfix's pipe): each
// request from qmgr is one run of the command, as user= (never root, never
// mail_owner), with the message on standard input, formatted per flags=,
// for all the request's recipients (<service>_destination_recipient_limit
// decides how many qmgr puts in one request; flags D and O need 1). The
// run is bounded by <service>_time_limit (default $command_time_limit).
// Exit status 0 is "sent", sysexits codes and "D.S.N text" output map as
// for local(8) commands (deliver/command.h): EX_TEMPFAIL defers, most
// others bounce.
//
// Logs one Postfix-shaped status line per recipient: "ID:
// to=<u@example.com>, relay=dovecot, delay=0.1, delays=0.1/0/0/0.02,
// dsn=2.0.0, status=sent (delivered via dovecot service)".
//
// Parameters: <service>_time_limit, command_time_limit, export_environment,
// recipient_delimiter, queue_directory, mail_owner, ipc_timeout; the
// skeleton's.
#include <algorithm>
#include <optional>

#include "base/strings.h"
#include "config/registry.h"
#include "deliver/command.h"
#include "deliver/copy.h"
#include "deliver/delivered_to.h"
#include "deliver/queue_content.h"
#include "deliver/status_filter.h"
#include "deliver/status_line.h"
#include "ipc/proto/deliver.h"
#include "log/log.h"
#include "pipe/pipe.h"
#include "queue/layout.h"
#include "queue/queue_file.h"
#include "queue/queue_id.h"
#include "queue/reader.h"
#include "security/privileges.h"
#include "server/requests.h"
#include "server/skeleton.h"
#include "spawn/attributes.h"

using namespace postern;

namespace {

struct Service {
  std::string name;  // the master.cf service: relay= and "delivered via NAME service"
  pipe::Settings settings;
  deliver::CommandOptions options;
  std::filesystem::path queue_root;
  std::string delimiter;
  std::chrono::seconds ipc_timeout{3600};
  bool soft_bounce = false;
  std::shared_ptr<deliver::StatusFilter> status_filter;  // pipe_delivery_status_filter; null: none
};
std::optional<Service> g_service;

Status configure(server::Context& ctx) {
  auto attr = spawn::parse_attributes(ctx.args(), pipe::kAttributeNames);
  if (!attr) return make_error("service {}: {}", ctx.service(), attr.error().message);
  auto settings = pipe::Settings::from_attributes(attr->extra, attr->argv);
  if (!settings) return make_error("service {}: {}", ctx.service(), settings.error().message);
  auto creds = spawn::command_credentials(*attr, ctx.cfg().str("mail_owner"), ctx.cfg().str("setgid_group"),
                                           ctx.service());
  if (!creds) return creds.take_error();
  Service s;
  s.name = ctx.service();
  s.settings = std::move(*settings);
  s.queue_root = ctx.cfg().str("queue_directory");
  s.delimiter = ctx.cfg().str("recipient_delimiter");
  s.soft_bounce = ctx.cfg().boolean("soft_bounce");
  s.ipc_timeout = ctx.cfg().time("ipc_timeout");
  auto filter = deliver::StatusFilter::open("pipe_delivery_status_filter", ctx.cfg().str("pipe_delivery_status_filter"));
  if (!filter) return filter.take_error();
  s.status_filter = std::move(*filter);
  s.options.run_as = std::move(*creds);
  s.options.export_environment = ctx.cfg().list("export_environment");
  s.options.umask = s.settings.umask;
  s.options.working_directory = s.settings.directory.empty() ? s.queue_root.string() : s.settings.directory;
  s.options.description = s.settings.argv.front();
  const std::string limit_name = ctx.service() + "_time_limit";
  s.options.time_limit = ctx.cfg().time(config::find_param(limit_name) ? limit_name : "command_time_limit");
  g_service = std::move(s);
  return {};
}

deliver::Outcome run(const Service& s, const ipc::proto::DeliveryRequest& req,
                     const std::vector<pipe::Recipient>& rcpts) {
  auto qname = queue::parse_queue_name(req.queue_name);
  auto qid = queue::QueueId::parse(req.queue_id);
  std::optional<queue::QueueFileReader> reader;
  std::string why = "bad queue name or queue ID";
  if (qname && qid) {
    if (auto path = queue::find_in_queue(s.queue_root, *qname, *qid)) {
      queue::ReadOptions ro;
      ro.verify_content = false;  // checked piece by piece while it is sent
      ro.max_recipients = 0;      // the request names the recipients
      auto r = queue::QueueFileReader::open(*path, ro);
      if (r) reader.emplace(std::move(*r));
      else why = r.error().message;
    } else {
      why = "queue file not found";
    }
  }
  if (!reader) {
    log::warning("{}: cannot read queue file: {}", req.queue_id, why);
    return deliver::Outcome::deferred("4.3.0", "mail system malfunction: cannot read queue file");
  }
  const auto& msg = reader->message();
  const auto& f = s.settings.flags;
  if ((f.delivered_to || f.original_to) && rcpts.size() > 1) {
    // One Delivered-To: header cannot name several recipients (Postfix).
    log::warning("pipe flag `{}' requires {}_destination_recipient_limit = 1", f.delivered_to ? 'D' : 'O', s.name);
    return deliver::Outcome::deferred("4.3.5", "mail system configuration error");
  }
  if (s.settings.size_limit && msg.size.content_size > *s.settings.size_limit)
    return deliver::Outcome::bounced("5.2.3", "message too large");
  if (f.delivered_to) {
    // Flag D also reports mail forwarding loops, as local and virtual do:
    // a message that already says it was delivered to this recipient
    // bounces instead of running the command again (Postfix's pipe).
    auto headers = deliver::queue_content(*reader);
    auto seen = deliver::delivered_to_values(headers);
    if (!seen) return deliver::read_error_outcome(seen.error());
    const std::string key = str::lower(rcpts.front().address);
    if (std::find(seen->begin(), seen->end(), key) != seen->end())
      return deliver::Outcome::bounced("5.4.6", "mail forwarding loop for " + rcpts.front().address);
  }

  pipe::MessageInfo m;
  m.sender = msg.sender;
  m.nexthop = req.nexthop;
  m.queue_id = req.queue_id;
  m.size = msg.size.content_size;
  for (auto [macro, attr] : {std::pair{"client_address", queue::attr::kClientAddress},
                             std::pair{"client_hostname", queue::attr::kClientName},
                             std::pair{"client_port", queue::attr::kClientPort},
                             std::pair{"client_helo", queue::attr::kHeloName},
                             std::pair{"client_protocol", queue::attr::kProtocol},
                             std::pair{"sasl_method", queue::attr::kSaslMethod},
                             std::pair{"sasl_username", queue::attr::kSaslUsername},
                             std::pair{"sasl_sender", queue::attr::kSaslSender}})
    if (auto v = msg.attribute(attr)) m.client[macro] = std::string(*v);
  auto argv = pipe::expand(s.settings, m, rcpts, s.delimiter);

  deliver::Envelope env;
  // Postfix's pipe(8): null_sender replaces the null sender in the From_
  // line and Return-Path: too (flags F and R); empty keeps "<>".
  env.sender = msg.sender.empty() ? s.settings.null_sender : msg.sender;
  env.delivered_to = rcpts.front().address;
  // Flag O: the recipient as given to Postern, also when not rewritten.
  env.original_recipient = rcpts.front().original.empty() ? rcpts.front().address : rcpts.front().original;
  auto content = deliver::queue_content(*reader);
  deliver::MessageFormatter formatter(env, s.settings.copy_options(), content);
  auto result = deliver::run_argv(argv, s.options, deliver::formatted_input(formatter));
  if (result.outcome.is_sent()) return deliver::Outcome::sent(fmt::format("delivered via {} service", s.name));
  return result.outcome;
}

ipc::proto::DeliveryReply deliver_request(const Service& s, const ipc::proto::DeliveryRequest& req) {
  const std::int64_t start = deliver::now_usec();
  std::vector<pipe::Recipient> rcpts;
  std::vector<queue::RecipientFields> fields;
  for (const auto& enc : req.recipients) {
    auto r = queue::decode_recipient(enc);
    fields.push_back(r ? *r : queue::RecipientFields{});
    rcpts.push_back(pipe::Recipient{r ? r->address : std::string(), r ? r->orig_rcpt : std::string()});
  }
  deliver::Outcome o = rcpts.empty() ? deliver::Outcome::deferred("4.3.0", "no recipients in the request")
                                     : run(s, req, rcpts);
  o = deliver::filter_status(s.status_filter.get(), o, req.queue_id);
  ipc::proto::DeliveryReply reply;
  const std::int64_t done = deliver::now_usec();
  auto rep = deliver::report_outcome(o, s.soft_bounce);
  for (const auto& r : fields) {
    deliver::StatusLine line{.queue_id = req.queue_id,
                             .recipient = r.address,
                             .orig_recipient = r.orig_rcpt,
                             .relay = s.name,
                             .arrival_usec = req.arrival_usec,
                             .active_usec = req.active_usec,
                             .agent_start_usec = start,
                             .connected_usec = start,
                             .done_usec = done,
                             .dsn = rep.dsn,
                             .status = rep.status,
                             .text = o.text};
    log::info("{}", deliver::format_status_line(line));
    reply.dsn.push_back(rep.dsn);
    reply.text.push_back(str::printable(o.text, 1000));  // the reply field holds 1,024 bytes
    reply.relay.push_back(s.name);
  }
  return reply;
}

}  // namespace

int main(int argc, char** argv) {
  server::Daemon d;
  d.name = "pipe";
  d.model = server::Model::Single;
  d.privileged = true;
  d.pre_drop = configure;
  // Work as mail_owner between commands, keeping root only to start and
  // stop them (Postfix's drop_privileges() hook in pipe and spawn).
  d.post_drop = [](server::Context& ctx) -> Status {
    return security::work_as_mail_owner(ctx.cfg().str("mail_owner"));
  };
  d.serve = [](server::Context& ctx, server::Socket sock) -> asio::awaitable<void> {
    const Service& s = *g_service;
    // The command runs to completion inside the handler: one delivery at a
    // time per process, as in Postfix; maxproc bounds the processes.
    co_await server::serve_requests<ipc::proto::DeliveryRequest>(
        ctx, sock, s.ipc_timeout, [&](ipc::proto::DeliveryRequest req) -> asio::awaitable<ipc::proto::DeliveryReply> {
          co_return deliver_request(s, req);
        });
  };
  return server::run(argc, argv, std::move(d));
}
