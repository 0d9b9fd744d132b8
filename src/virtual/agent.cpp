// agent.cpp - see agent.h.
#include "agent.h"

#include <unistd.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "base/strings.h"
#include "deliver/outcome.h"
#include "deliver/queue_content.h"
#include "deliver/request_file.h"
#include "deliver/status_filter.h"
#include "deliver/status_line.h"
#include "deliver/worker.h"
#include "log/log.h"
#include "mailbox.h"
#include "queue/reader.h"

namespace postern::virt {

using deliver::Outcome;
namespace proto = ipc::proto;

Result<Settings> Settings::from_config(const config::Config& cfg) {
  Settings s;
  s.queue_dir = cfg.str("queue_directory");
  s.mailbox_base = std::string(str::trim(cfg.str("virtual_mailbox_base")));
  if (s.mailbox_base.empty()) return make_error("virtual_mailbox_base is empty; it must be an absolute path");
  if (s.mailbox_base.front() != '/')
    return make_error("virtual_mailbox_base must be an absolute path, not \"{}\"", str::printable(s.mailbox_base));
  s.mailbox_maps = cfg.str("virtual_mailbox_maps");
  s.uid_maps = cfg.str("virtual_uid_maps");
  s.gid_maps = cfg.str("virtual_gid_maps");
  s.minimum_uid = cfg.integer("virtual_minimum_uid");
  auto locks = deliver::LockMethods::parse(cfg.str("virtual_mailbox_lock"));
  if (!locks) return make_error("virtual_mailbox_lock: {}", locks.error().message);
  s.locks = *locks;
  s.lock_params.attempts = static_cast<int>(cfg.integer("deliver_lock_attempts"));
  s.lock_params.delay = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.time("deliver_lock_delay"));
  s.lock_params.stale = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.time("stale_lock_time"));
  if (auto st = cfg.check_mailbox_limit("virtual_mailbox_limit"); !st) return st.take_error();
  s.mailbox_limit = static_cast<std::uint64_t>(cfg.size("virtual_mailbox_limit"));
  s.recipient_delimiter = cfg.str("recipient_delimiter");
  s.myhostname = cfg.str("myhostname");
  s.ipc_timeout = cfg.time("ipc_timeout");
  s.soft_bounce = cfg.boolean("soft_bounce");
  s.status_filter = cfg.str("virtual_delivery_status_filter");
  return s;
}

namespace {

// The one task kind: deliver the message to paths[0] (relative to
// virtual_mailbox_base; a Maildir when it ends in "/").
constexpr std::string_view kTaskDeliver = "virtual";

}  // namespace

struct Agent::Impl {
  Settings s;
  Resolver resolver;
  std::unique_ptr<deliver::StatusFilter> status_filter;  // null: none
  deliver::WorkerPool pool{[this](const deliver::Task& t, const queue::QueueFileReader* r) { return execute(t, r); },
                           s.ipc_timeout, 8, "virtual"};

  Impl(Settings settings, Resolver r) : s(std::move(settings)), resolver(std::move(r)) {}

  // Runs in the worker, as the recipient's uid/gid.
  deliver::ChildResult execute(const deliver::Task& t, const queue::QueueFileReader* r) {
    if (t.kind != kTaskDeliver || t.paths.size() != 1 || !r)
      return {Outcome::deferred("4.3.0", "malformed delivery task"), {}};
    // The worker's drop failed silently or the agent is misconfigured:
    // never write a mailbox as root.
    if (::geteuid() == 0 || ::getuid() == 0)
      return {Outcome::deferred("4.3.5", "mail system configuration error: will not deliver as root"), {}};
    // The path comes from the agent, but it is checked again here, where
    // it is used.
    Destination d;
    d.relative = t.paths[0];
    if (check_mailbox_result(d.relative)) return {Outcome::deferred("4.3.5", "mail system configuration error"), {}};
    d.maildir = d.relative.back() == '/';
    d.path = mailbox_path(s.mailbox_base, d.relative);
    deliver::Envelope env{t.sender, t.original_recipient, t.delivered_to};
    StoreOptions so;
    so.mailbox_base = s.mailbox_base;
    so.locks = s.locks;
    so.lock_params = s.lock_params;
    so.size_limit = s.mailbox_limit;
    so.hostname = s.myhostname;
    auto content = deliver::queue_content(*r);
    return {store(d, env, content, so), {}};
  }
};

Agent::Agent(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Agent::~Agent() = default;

Result<std::unique_ptr<Agent>> Agent::create(Settings settings) {
  ResolverOptions ro;
  ro.mailbox_base = settings.mailbox_base;
  ro.minimum_uid = settings.minimum_uid;
  ro.recipient_delimiter = settings.recipient_delimiter;
  auto r = Resolver::open(settings.mailbox_maps, settings.uid_maps, settings.gid_maps, std::move(ro));
  if (!r) return r.take_error();
  auto filter = deliver::StatusFilter::open("virtual_delivery_status_filter", settings.status_filter);
  if (!filter) return filter.take_error();
  auto impl = std::make_unique<Impl>(std::move(settings), std::move(*r));
  impl->status_filter = std::move(*filter);
  return std::unique_ptr<Agent>(new Agent(std::move(impl)));
}

bool Agent::tables_changed() const { return impl_->resolver.changed(); }

proto::DeliveryReply Agent::handle(const proto::DeliveryRequest& req) {
  const std::int64_t start = deliver::now_usec();
  proto::DeliveryReply reply;
  struct Rcpt {
    std::optional<queue::RecipientFields> fields;
    std::string shown;  // for the log when it did not decode
  };
  std::vector<Rcpt> rcpts;
  for (const auto& raw : req.recipients) {
    auto d = queue::decode_recipient(raw);
    if (d) rcpts.push_back({std::move(*d), {}});
    else rcpts.push_back({std::nullopt, str::printable(raw, 100)});
  }
  auto finish = [&](const Rcpt& r, const Outcome& original) {
    const Outcome o = deliver::filter_status(impl_->status_filter.get(), original, req.queue_id);
    deliver::StatusLine sl;
    sl.queue_id = req.queue_id;
    sl.recipient = r.fields ? std::string_view(r.fields->address) : std::string_view(r.shown);
    if (r.fields) sl.orig_recipient = r.fields->orig_rcpt;
    sl.relay = impl_->s.relay();
    sl.arrival_usec = req.arrival_usec;
    sl.active_usec = req.active_usec;
    sl.agent_start_usec = start;
    sl.connected_usec = start;
    sl.done_usec = deliver::now_usec();
    auto rep = deliver::report_outcome(o, impl_->s.soft_bounce);
    sl.dsn = rep.dsn;
    sl.status = rep.status;
    sl.text = o.text;
    log::info("{}", deliver::format_status_line(sl));
    reply.dsn.push_back(rep.dsn);
    reply.text.push_back(str::printable(o.text, 1000));
    reply.relay.push_back(impl_->s.relay());
  };
  auto all = [&](const Outcome& o) {
    for (const auto& r : rcpts) finish(r, o);
    return reply;
  };

  // Every record checked before any delivery (the worker reads the same
  // descriptor without walking the content again), the loop headers read.
  auto file = deliver::open_request_file(impl_->s.queue_dir, req.queue_name, req.queue_id);
  if (!file) return all(file.failure());
  const queue::QueueFileReader* reader = &file->reader;
  const std::vector<std::string>& loop_headers = file->delivered_to;
  const std::string sender = reader->message().sender;
  for (const auto& r : rcpts) {
    if (!r.fields || r.fields->address.empty()) {
      finish(r, Outcome::deferred("4.3.0", "malformed recipient in delivery request"));
      continue;
    }
    const auto& f = *r.fields;
    const std::string key = str::lower(f.address);
    if (std::find(loop_headers.begin(), loop_headers.end(), key) != loop_headers.end()) {
      finish(r, Outcome::bounced("5.4.6", "mail forwarding loop for " + f.address));
      continue;
    }
    auto dest = impl_->resolver.resolve(f.address);
    if (!dest) {
      finish(r, dest.failure());
      continue;
    }
    deliver::Task t;
    t.kind = std::string(kTaskDeliver);
    t.queue_id = req.queue_id;
    t.paths = {dest->relative};
    t.sender = sender;
    t.original_recipient = f.orig_rcpt.empty() ? f.address : f.orig_rcpt;
    t.delivered_to = f.address;
    t.user_uid = dest->uid;
    t.user_gid = dest->gid;
    t.flag = dest->maildir;
    // Just the primary group (empty name): Postfix's virtual sets the
    // uid and gid only.
    deliver::Identity who{dest->uid, dest->gid, ""};
    auto res = impl_->pool.run(who, t, reader->fd());
    finish(r, res.outcome);
  }
  return reply;
}

}  // namespace postern::virt
