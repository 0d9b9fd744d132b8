// qmgr.cpp - see qmgr.h.
#include "qmgr.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <system_error>
#include <unordered_map>

#include "base/strings.h"
#include "base/unique_fd.h"
#include "config/master_cf.h"
#include "config/transport.h"
#include "deliver/outcome.h"
#include "deliver/status_line.h"
#include "ipc/async.h"
#include "ipc/status_call.h"
#include "ipc/proto/deliver.h"
#include "ipc/proto/status.h"
#include "ipc/proto/trivial_rewrite.h"
#include "log/log.h"
#include "queue/reader.h"
#include "queue/status_log.h"
#include "queue/update.h"
#include "server/flow.h"

namespace postern::qmgr {

namespace fs = std::filesystem;
namespace proto = ipc::proto;
using error_code = boost::system::error_code;
using Clock = std::chrono::steady_clock;

// RFC 3464 actions, named so that no temporary string is built inside a
// co_await expression (docs/coding.md).
const std::string kActionFailed = "failed";
const std::string kActionDelayed = "delayed";
const std::string kActionDelivered = "delivered";
const std::string kActionRelayed = "relayed";
const std::string kActionExpanded = "expanded";

namespace {

std::int64_t now_sec() { return static_cast<std::int64_t>(::time(nullptr)); }

std::chrono::milliseconds ms(std::chrono::seconds s) { return std::chrono::duration_cast<std::chrono::milliseconds>(s); }

Status ensure_dir(const fs::path& dir) {
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return {};
  fs::create_directories(dir, ec);
  if (ec) return make_error("mkdir {}: {}", dir.string(), ec.message());
  ::chmod(dir.c_str(), 0700);
  return {};
}

// rename(2) within the queue directory, creating a missing hash directory.
Status move_file(const fs::path& from, const fs::path& to) {
  if (::rename(from.c_str(), to.c_str()) == 0) return {};
  if (errno == ENOENT && ::access(from.c_str(), F_OK) == 0) {
    if (auto st = ensure_dir(to.parent_path()); !st) return st;
    if (::rename(from.c_str(), to.c_str()) == 0) return {};
  }
  return sys_error("rename {} to {}", from.string(), to.string());
}

}  // namespace

// ---------------------------------------------------------------- settings

Result<Settings> Settings::from_config(const config::Config& cfg) {
  Settings s;
  s.queue_root = cfg.str("queue_directory");
  auto hash = queue::HashConfig::from_params(cfg.str("hash_queue_names"), cfg.integer("hash_queue_depth"));
  if (!hash) return hash.take_error();
  s.hash = *hash;
  s.active_limit = static_cast<std::size_t>(std::max<std::int64_t>(1, cfg.integer("qmgr_message_active_limit")));
  s.recipient_limit =
      static_cast<std::size_t>(std::max<std::int64_t>(1, cfg.integer("qmgr_message_recipient_limit")));
  s.recipient_minimum =
      static_cast<std::size_t>(std::max<std::int64_t>(1, cfg.integer("qmgr_message_recipient_minimum")));
  s.queue_run_delay = cfg.time("queue_run_delay");
  for (const auto& t : cfg.list("defer_transports")) {
    if (!config::valid_transport_name(t)) return make_error("defer_transports: \"{}\" is not a transport name", t);
    s.defer_transports.insert(t);
  }
  s.allow_min_user = cfg.boolean("allow_min_user");
  s.min_backoff = cfg.time("minimal_backoff_time");
  s.max_backoff = cfg.time("maximal_backoff_time");
  s.max_lifetime = cfg.time("maximal_queue_lifetime");
  s.bounce_lifetime = cfg.time("bounce_queue_lifetime");
  // Postfix's qmgr_post_init() sanity checks.
  if (s.recipient_limit < s.active_limit) {
    log::warning("qmgr_message_recipient_limit is smaller than qmgr_message_active_limit - adjusting "
                 "qmgr_message_recipient_limit");
    s.recipient_limit = s.active_limit;
  }
  if (s.bounce_lifetime > s.max_lifetime) {
    log::warning("bounce_queue_lifetime is larger than maximal_queue_lifetime - adjusting bounce_queue_lifetime");
    s.bounce_lifetime = s.max_lifetime;
  }
  s.double_bounce_sender = cfg.str("double_bounce_sender");
  s.queue_names.recipient_delimiter = cfg.str("recipient_delimiter");
  s.queue_names.owner_request_special = cfg.boolean("owner_request_special");
  s.queue_names.double_bounce_sender = s.double_bounce_sender;
  s.delay_warning = cfg.time("delay_warning_time");
  s.transport_retry = cfg.time("transport_retry_time");
  s.request_timeout = ms(cfg.time("ipc_timeout"));
  s.delivery_timeout = std::max(s.request_timeout, ms(cfg.time("daemon_timeout")));
  s.service_timeout = ms(cfg.time("qmgr_ipc_timeout"));
  s.rewrite_service = cfg.str("rewrite_service_name");
  s.bounce_service = cfg.str("bounce_service_name");
  s.defer_service = cfg.str("defer_service_name");
  s.trace_service = cfg.str("trace_service_name");
  s.myhostname = cfg.str("myhostname");
  s.soft_bounce = cfg.boolean("soft_bounce");
  s.in_flow = cfg.time("in_flow_delay").count() > 0;
  s.initial_concurrency = static_cast<int>(std::clamp<std::int64_t>(cfg.integer("initial_destination_concurrency"), 1, 100000));
  // Postfix stops on a bad feedback value; a per-transport one is checked
  // when the transport is first used (transport()).
  for (const char* name : {"default_destination_concurrency_positive_feedback",
                           "default_destination_concurrency_negative_feedback"})
    if (!parse_feedback(cfg.str(name)))
      return make_error("{}: bad value \"{}\" (a number from 0 to 1, optionally followed by /concurrency)", name,
                        cfg.str(name));
  s.process_limit = static_cast<int>(std::clamp<std::int64_t>(cfg.integer("default_process_limit"), 1, 100000));
  // A transport runs at most maxproc agent processes; Multi agents serve
  // many deliveries each, but Single ones (local) one: never ask for more
  // concurrency than master.cf allows. An unreadable master.cf leaves the
  // default limit (the master would not run with it anyway).
  if (auto services = config::load_master_cf(cfg.config_dir()); services) {
    for (const auto& svc : *services) {
      if (svc.type != config::ServiceType::Unix) continue;
      int limit = svc.maxproc ? *svc.maxproc : s.process_limit;
      s.service_process_limits[svc.name] = limit == 0 ? 100000 : limit;
    }
  }
  if (s.queue_run_delay.count() < 1) s.queue_run_delay = Seconds(1);
  const config::Config* c = &cfg;
  s.lookup = [c](const std::string& name) -> std::string { return c->get(name).value_or(""); };
  return s;
}

// ---------------------------------------------------------------- setup

QueueManager::QueueManager(asio::io_context& io, Settings s)
    : io_(io),
      s_(std::move(s)),
      rw_(io, s_.queue_root / "private" / s_.rewrite_service,
          rewrite::Options{.timeout = s_.service_timeout}),
      timer_(io),
      recycler_(s_.queue_root, kRecycleCap),
      agents_(io, s_.queue_root / "private") {}

QueueManager::~QueueManager() = default;

void QueueManager::start() {
  // Before any file is recycled or delivered: files in recycle/ that still
  // carry the ready mark (a crash, an older Postern) become reusable unless
  // a queued message has their inode (queue/recycle.h).
  if (auto sw = queue::sweep_recycle_bin(s_.queue_root, s_.hash); !sw)
    log::warning("recycle bin: {}", sw.error().message);
  else if (sw->cleared || sw->queued)
    log::info("recycle bin: {} file(s) made reusable, {} left alone (the inode of a queued message)",
              sw->cleared, sw->queued);
  recover_active();
  request_scan(true, true, false);
  asio::co_spawn(io_, timer_loop(), asio::detached);
}

asio::awaitable<void> QueueManager::timer_loop() {
  for (;;) {
    timer_.expires_after(s_.queue_run_delay);
    error_code ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    request_scan(true, true, false);
  }
}

void QueueManager::trigger(const ipc::TriggerRequest& r) {
  if (r.flush_dead) {
    // ...and, as Postfix's QMGR_FLUSH_DFXP, what the next scans take
    // ignores defer_transports (postqueue -s, -f).
    want_flush_ = true;
    // Flush: forget what we learned about dead destinations and transports.
    for (auto& [k, d] : dests_) {
      if (d.window.dead()) d.window.revive();
      d.dead_until = {};
    }
    for (auto& [k, t] : transports_) t.dead_until = {};
  }
  request_scan(r.wakeup || r.scan_incoming, r.scan_deferred, r.scan_all);
  if (r.flush_dead) schedule();
}

void QueueManager::request_scan(bool incoming, bool deferred, bool all) {
  want_incoming_ |= incoming;
  want_deferred_ |= deferred;
  want_all_ |= all && deferred;
  if (scan_posted_ || !(want_incoming_ || want_deferred_)) return;
  scan_posted_ = true;
  asio::post(io_, [this] { run_scans(); });
}

void QueueManager::run_scans() {
  scan_posted_ = false;
  bool inc = want_incoming_, def = want_deferred_, all = want_all_;
  const bool flush = all || std::exchange(want_flush_, false);
  want_incoming_ = want_deferred_ = want_all_ = false;
  // New mail first, like Postfix's preference for the incoming queue.
  if (inc) {
    // A flush (scan all) takes new mail for defer_transports along too.
    scan_queue(queue::QueueName::Incoming, all, flush);
    // Tokens for cleanup (server/flow.h): one per message taken while
    // incoming/ has a backlog; the full count once it has none.
    if (s_.in_flow)
      server::replenish(static_cast<std::size_t>(s_.process_limit), std::exchange(fed_incoming_, 0),
                        !incoming_backlog_);
  }
  if (def) scan_queue(queue::QueueName::Deferred, all, flush);
}

// A crash leaves files in active/: they go back to incoming/, where the
// normal scan takes them again (recipients already marked done stay done).
void QueueManager::recover_active() {
  queue::QueueScanner sc(s_.queue_root, queue::QueueName::Active, s_.hash);
  std::size_t n = 0;
  for (;;) {
    auto e = sc.next();
    if (!e) {
      log::warning("scan active queue: {}", e.error().message);
      break;
    }
    if (!*e) break;
    auto dst = queue::queue_path(s_.queue_root, queue::QueueName::Incoming, (*e)->id, s_.hash);
    if (auto st = move_file((*e)->path, dst); !st)
      log::warning("{}: {}", (*e)->id.str(), st.error().message);
    else
      ++n;
  }
  if (n) log::info("recovered {} message{} from the active queue", n, n == 1 ? "" : "s");
}

bool QueueManager::has_room() const {
  return active_.size() < s_.active_limit && (in_memory_rcpts_ < s_.recipient_limit || active_.empty());
}

std::size_t QueueManager::slice_size() const {
  std::size_t room = s_.recipient_limit > in_memory_rcpts_ ? s_.recipient_limit - in_memory_rcpts_ : 0;
  // At most 5,000 at a time, as Postfix's qmgr reads them: one message
  // does not take all the room, and resolving a slice does not hold the
  // event loop for long. While messages wait for room, half of it: a scan
  // then brings them in, so that a long list does not hold the active
  // queue until its last recipient, nor crawls at the minimum.
  room = std::min<std::size_t>(room, 5000);
  if (incoming_backlog_ || deferred_backlog_) room /= 2;
  return std::max(room, s_.recipient_minimum);
}

void QueueManager::scan_queue(queue::QueueName q, bool ignore_time, bool flush) {
  bool& backlog = q == queue::QueueName::Incoming ? incoming_backlog_ : deferred_backlog_;
  backlog = false;
  queue::QueueScanner sc(s_.queue_root, q, s_.hash);
  auto now = now_sec();
  for (;;) {
    auto e = sc.next();
    if (!e) {
      log::warning("scan {} queue: {}", queue::to_string(q), e.error().message);
      break;
    }
    if (!*e) break;
    const queue::QueueEntry& entry = **e;
    if (active_.count(entry.id.str())) continue;  // a stale name; the active copy rules
    struct stat st {};
    if (::lstat(entry.path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    // A file still being written (or whose writer died) has no ready mark.
    if (!queue::is_ready_mode(st.st_mode)) continue;
    if (q == queue::QueueName::Deferred && !ignore_time && st.st_mtime > now) continue;
    if (!has_room()) {
      backlog = true;
      // A flush that did not fit goes on ignoring times when room returns.
      if (q == queue::QueueName::Deferred) deferred_backlog_all_ = ignore_time;
      break;
    }
    activate(entry, q, flush);
  }
}

void QueueManager::to_corrupt(const fs::path& path, const std::string& id, const Error& why) {
  auto qid = queue::QueueId::parse(id);
  fs::path dst = qid ? queue::queue_path(s_.queue_root, queue::QueueName::Corrupt, *qid, s_.hash)
                     : s_.queue_root / "corrupt" / id;
  if (auto st = move_file(path, dst); !st) {
    log::warning("{}: {}: cannot move to corrupt queue: {}", id, why.message, st.error().message);
    return;
  }
  log::warning("{}: {}: moved to corrupt/{}", id, why.message, id);
}

// Leaves a message in deferred/ with its next-retry time in the mtime.
void QueueManager::park(const fs::path& path, const std::string& id, Seconds delay) {
  auto qid = queue::QueueId::parse(id);
  if (!qid) return;
  auto now = now_sec();
  struct timeval tv[2] = {{static_cast<time_t>(now), 0}, {static_cast<time_t>(now + delay.count()), 0}};
  if (::utimes(path.c_str(), tv) != 0) log::warning("{}: utimes {}: {}", id, path.string(), std::strerror(errno));
  auto dst = queue::queue_path(s_.queue_root, queue::QueueName::Deferred, *qid, s_.hash);
  if (auto st = move_file(path, dst); !st) log::warning("{}: {}", id, st.error().message);
}

void QueueManager::activate(const queue::QueueEntry& e, queue::QueueName from, bool flush) {
  const std::string id = e.id.str();
  fs::path dst = queue::queue_path(s_.queue_root, queue::QueueName::Active, e.id, s_.hash);
  if (auto st = move_file(e.path, dst); !st) {
    // Gone meanwhile (postsuper -d) is not worth a warning.
    if (st.error().sys_errno != ENOENT) log::warning("{}: {}", id, st.error().message);
    return;
  }
  queue::ReadOptions ro;
  ro.require_ready = true;
  ro.verify_content = false;  // the agents read the content; the size record still checks its bounds
  // The pending recipients, one slice at a time (Postfix's qmgr reads its
  // recipients the same way): a list of a million costs memory for the
  // slice only, and other messages keep their room.
  ro.pending_only = true;
  ro.max_recipients = slice_size();
  auto r = queue::QueueFileReader::open(dst, ro);
  if (!r) {
    const Error& err = r.error();
    if (queue::is_corrupt(err)) {
      to_corrupt(dst, id, err);
    } else if (queue::is_not_ready(err)) {
      auto back = queue::queue_path(s_.queue_root, from, e.id, s_.hash);
      (void)move_file(dst, back);
    } else {
      log::warning("{}: {}", id, err.message);
      park(dst, id, s_.min_backoff);
    }
    return;
  }
  auto m = std::make_shared<Message>();
  m->id = id;
  m->path = dst;
  m->flush = flush;
  if (struct stat st {}; ::fstat(r->fd(), &st) == 0) {
    m->dev = st.st_dev;
    m->ino = st.st_ino;
    m->force_expired = queue::is_force_expired_mode(st.st_mode);
    if (queue::is_unthrottle_mode(st.st_mode)) {
      // postqueue -i: a flush of this message. The mark is for this
      // activation only (Postfix's qmgr clears it too).
      m->flush = m->unthrottle = true;
      if (::fchmod(r->fd(), (st.st_mode & 07777) & ~queue::kUnthrottleMark) != 0)
        log::warning("{}: clear the unthrottle mark of {}: {}", id, dst.string(), std::strerror(errno));
    }
  }
  m->env = r->take_message();
  m->active_usec = postern::deliver::now_usec();
  m->from_deferred = from == queue::QueueName::Deferred;
  m->results.resize(m->env.recipients.size());
  m->in_memory = m->unfinished = m->env.recipients.size();
  in_memory_rcpts_ += m->in_memory;
  m->shared = std::make_shared<Shared>();
  m->shared->more_at = m->env.more_recipients_at;
  m->shared->parts = 1;
  if (m->shared->more_at != 0) {
    auto first = std::move(m->env.recipients);
    m->shared->header = m->env;
    m->env.recipients = std::move(first);
  }
  m->serial = m->shared->serials = m->shared->newest = 1;
  log::info("{}: from=<{}>, size={}, nrcpt={} (queue active)", id, str::printable(m->env.sender, 1024),
            m->env.size.content_size, m->env.size.recipient_count);
  active_.insert(id);
  if (from == queue::QueueName::Incoming) ++fed_incoming_;
  admit(std::move(m));
}

// ---------------------------------------------------------------- resolution

void QueueManager::admit(std::shared_ptr<Message> m) {
  resolve_queue_.push_back(std::move(m));
  if (!resolver_running_) {
    resolver_running_ = true;
    asio::co_spawn(io_, resolver_loop(), asio::detached);
  }
}

asio::awaitable<void> QueueManager::resolver_loop() {
  while (!resolve_queue_.empty()) {
    auto m = std::move(resolve_queue_.front());
    resolve_queue_.pop_front();
    try {
      co_await resolve_message(m);
    } catch (const std::exception& e) {
      log::warning("{}: resolve: {}", m->id, e.what());
    }
  }
  resolver_running_ = false;
}

QueueManager::Transport& QueueManager::transport(const std::string& name) {
  auto it = transports_.find(name);
  if (it != transports_.end()) return it->second;
  Transport t;
  auto look = [this](const std::string& n) { return s_.lookup ? s_.lookup(n) : std::string(); };
  auto pl = s_.service_process_limits.find(name);
  t.limit = pl != s_.service_process_limits.end() ? pl->second : s_.process_limit;
  std::int64_t rl = parse_count(per_transport(look, name, "destination_recipient_limit",
                                              "default_destination_recipient_limit"), 50);
  if (rl == 0 || rl > static_cast<std::int64_t>(proto::kMaxDeliveryRecipients))
    rl = static_cast<std::int64_t>(proto::kMaxDeliveryRecipients);
  t.recipient_limit = static_cast<std::size_t>(rl);
  t.window.initial = static_cast<int>(std::clamp<std::int64_t>(
      parse_count(per_transport(look, name, "initial_destination_concurrency", "initial_destination_concurrency"),
                  s_.initial_concurrency),
      1, 100000));
  for (auto [field, suffix] : {std::pair{&t.window.positive, "destination_concurrency_positive_feedback"},
                               std::pair{&t.window.negative, "destination_concurrency_negative_feedback"}}) {
    const std::string text = per_transport(look, name, suffix, std::string("default_") + suffix);
    if (auto f = parse_feedback(text)) {
      *field = *f;
    } else {
      log::warning("{}_{}: bad value \"{}\"; using 1/concurrency", name, suffix, str::printable(text, 100));
    }
  }
  t.window.limit = static_cast<int>(std::min<std::int64_t>(
      100000, parse_count(per_transport(look, name, "destination_concurrency_limit",
                                        "default_destination_concurrency_limit"), 20)));
  t.window.failed_cohort_limit = static_cast<int>(std::min<std::int64_t>(
      100000, parse_count(per_transport(look, name, "destination_concurrency_failed_cohort_limit",
                                        "default_destination_concurrency_failed_cohort_limit"), 1)));
  t.dest_rate_delay =
      parse_delay(per_transport(look, name, "destination_rate_delay", "default_destination_rate_delay"), Seconds(0));
  t.rate_delay =
      parse_delay(per_transport(look, name, "transport_rate_delay", "default_transport_rate_delay"), Seconds(0));
  // A paced destination has one delivery at a time (Postfix's window 1).
  if (t.dest_rate_delay.count() > 0) t.window.initial = t.window.limit = 1;
  return transports_.emplace(name, t).first->second;
}

asio::awaitable<void> QueueManager::resolve_message(std::shared_ptr<Message> m) {
  if (m->force_expired) {
    co_await force_expire(m);
    co_return;
  }
  std::map<std::string, Job> groups;  // dest_key -> recipients so far
  std::vector<Job> jobs;
  Job immediate{m, "", "", "", {}, {}};
  std::vector<Outcome> immediate_out;
  std::optional<std::string_view> sender = std::string_view(m->env.sender);
  // A content filter overrides the resolver for every recipient (Postfix's
  // qmgr): "transport:nexthop", the nexthop $myhostname when empty. The
  // address goes to the filter as it is; the filter's reinjection is
  // resolved like any other mail.
  std::optional<rewrite::Resolved> filter;
  // A redirect (the REDIRECT action of smtpd's access tables or cleanup's
  // checks) overrides everything, the filter too, and only once per
  // message (Postfix's qmgr): the first recipient still to be delivered
  // becomes the redirect address, resolved as usual; the others are
  // dropped without a word, as Postfix drops them.
  std::optional<std::string> redirect;
  if (auto rd = m->env.attribute(queue::attr::kRedirect); rd && !rd->empty()) redirect = std::string(*rd);
  if (auto cf = m->env.attribute(queue::attr::kContentFilter); !redirect && cf && !cf->empty()) {
    rewrite::Resolved fr;
    auto colon = cf->find(':');
    fr.transport = std::string(cf->substr(0, colon));
    fr.nexthop = colon == std::string_view::npos ? std::string() : std::string(cf->substr(colon + 1));
    if (fr.nexthop.empty()) fr.nexthop = s_.myhostname;
    filter = std::move(fr);
  }

  for (std::size_t i = 0; i < m->env.recipients.size(); ++i) {
    if (m->results[i].state != RcptState::Pending) continue;
    const auto& f = m->env.recipients[i].fields;
    std::string_view addr = f.address;
    if (redirect) {
      if (m->shared->redirected) {
        m->results[i].state = RcptState::Done;
        --m->unfinished;
        continue;
      }
      m->shared->redirected = true;
      addr = *redirect;
    }
    // (No co_await inside a conditional expression: GCC 12 miscompiles it.)
    Result<rewrite::Resolved> r = make_error("unresolved");
    if (filter) {
      r = *filter;
      r->recipient = f.address;
    } else {
      r = co_await rw_.resolve(addr, sender);
    }
    if (!r) {
      // The why goes to the log; the recipient gets Postfix's text.
      log::warning("{}: address resolver: {}", m->id, r.error().message);
      immediate.rcpts.push_back(i);
      immediate_out.push_back({"4.3.0", "address resolver failure", "none"});
      continue;
    }
    // Postfix's qmgr_resolve_one(): whatever the resolver says, these two
    // flags mean the retry or error service with a fixed reason.
    if (r->flags & proto::resolve_flag::kFail) {
      immediate.rcpts.push_back(i);
      immediate_out.push_back({"4.3.0", "address resolver failure", "none"});
      continue;
    }
    if (r->flags & proto::resolve_flag::kError) {
      immediate.rcpts.push_back(i);
      immediate_out.push_back({"5.1.3", "bad address syntax", "none"});
      continue;
    }
    // allow_min_user = no (the default): a recipient that starts with '-'
    // bounces, here where no transport setup can bypass it (a command that
    // takes addresses as arguments could read one as an option), as in
    // Postfix's queue manager.
    if (!s_.allow_min_user && !r->recipient.empty() && r->recipient.front() == '-') {
      immediate.rcpts.push_back(i);
      immediate_out.push_back({"5.1.3", "bad address syntax", "none"});
      continue;
    }
    // Postfix's qmgr_message_resolve(): local mail to the double-bounce
    // address is a postmaster notification that could not be delivered;
    // it is discarded rather than bounced (no triple bounces).
    if ((r->flags & proto::resolve_flag::kLocal) &&
        str::iequals(std::string_view(r->recipient).substr(0, r->recipient.rfind('@')), s_.double_bounce_sender)) {
      immediate.rcpts.push_back(i);
      immediate_out.push_back({"2.0.0", "undeliverable postmaster notification discarded", "none"});
      log::warning("{}: undeliverable postmaster notification discarded", m->id);
      continue;
    }
    if (!config::valid_transport_name(r->transport)) {
      immediate.rcpts.push_back(i);
      immediate_out.push_back({"4.3.5", "mail transport unavailable: bad transport name", "none"});
      continue;
    }
    if (!m->flush && s_.defer_transports.contains(r->transport)) {
      immediate.rcpts.push_back(i);
      immediate_out.push_back({"4.3.2", "deferred transport", "none"});
      continue;
    }
    Transport& t = transport(r->transport);
    std::string key =
        r->transport + '\x01' + queue_name(t.recipient_limit, r->transport, r->nexthop, r->recipient, s_.queue_names);
    queue::RecipientFields rf = f;
    rf.address = r->recipient.empty() ? std::string(addr) : r->recipient;
    if (rf.orig_rcpt.empty() && rf.address != f.address) rf.orig_rcpt = f.address;
    auto enc = queue::encode_recipient(rf);
    if (!enc) {
      immediate.rcpts.push_back(i);
      immediate_out.push_back({"5.1.3", "bad address: " + enc.error().message, "none"});
      continue;
    }
    auto it = groups.find(key);
    if (it == groups.end()) it = groups.emplace(key, Job{m, r->transport, r->nexthop, key, {}, {}}).first;
    it->second.rcpts.push_back(i);
    it->second.encoded.push_back(std::move(*enc));
    if (it->second.rcpts.size() >= t.recipient_limit) {
      jobs.push_back(std::move(it->second));
      groups.erase(it);
    }
  }
  for (auto& [k, j] : groups) jobs.push_back(std::move(j));
  if (m->unthrottle) {
    // Postfix's QMGR_FLUSH_EACH: what is known to be dead is tried again
    // for this message's destinations and transports.
    for (const auto& j : jobs) {
      transport(j.transport).dead_until = {};
      if (auto it = dests_.find(j.dest_key); it != dests_.end()) {
        if (it->second.window.dead()) it->second.window.revive();
        it->second.dead_until = {};
      }
    }
  }

  m->outstanding = jobs.size() + (immediate.rcpts.empty() ? 0 : 1);
  m->resolving = false;
  if (m->outstanding == 0) {
    co_await finalize(m);
    co_return;
  }
  if (!immediate.rcpts.empty())
    asio::co_spawn(io_, complete_job(std::move(immediate), std::move(immediate_out), true), asio::detached);
  for (auto& j : jobs) enqueue(std::move(j));
  schedule();
}

// postsuper -e/-f (Postfix's forced expiration): nothing is delivered. A
// recipient with a delay reason in the defer log keeps its latest one; the
// others are deferred now with Postfix's "message is administratively
// expired" (4.7.0, logged like any deferral). finalize() then returns every
// pending recipient to the sender, as for a message past its lifetime.
asio::awaitable<void> QueueManager::force_expire(std::shared_ptr<Message> m) {
  std::unordered_map<std::string, const queue::StatusEntry*> latest;
  Result<queue::StatusLog> defer_log = make_error("no queue ID");
  if (auto qid = queue::QueueId::parse(m->id))
    defer_log = queue::read_status_log(queue::queue_path(s_.queue_root, queue::QueueName::Defer, *qid, s_.hash));
  if (defer_log) {
    for (const auto& e : defer_log->entries) {
      if (e.action != "delayed") continue;
      latest[e.recipient] = &e;
      if (!e.original_recipient.empty()) latest[e.original_recipient] = &e;
    }
  }
  Job now{m, "", "", "", {}, {}};
  std::vector<Outcome> now_out;
  for (std::size_t i = 0; i < m->env.recipients.size(); ++i) {
    if (m->results[i].state != RcptState::Pending) continue;
    const auto& f = m->env.recipients[i].fields;
    auto it = latest.find(f.address);
    if (it == latest.end() && !f.orig_rcpt.empty()) it = latest.find(f.orig_rcpt);
    if (it != latest.end()) {
      const queue::StatusEntry& e = *it->second;
      m->results[i] = RcptResult{RcptState::Deferred, e.status, e.reason, e.relay.empty() ? "none" : e.relay};
      --m->unfinished;
      continue;
    }
    now.rcpts.push_back(i);
    now_out.push_back({"4.7.0", "message is administratively expired", "none"});
  }
  m->resolving = false;
  m->outstanding = now.rcpts.empty() ? 0 : 1;
  if (m->outstanding == 0)
    co_await finalize(m);
  else
    co_await complete_job(std::move(now), std::move(now_out), true);
}

// ---------------------------------------------------------------- scheduling

void QueueManager::enqueue(Job job, bool at_head) {
  auto it = dests_.find(job.dest_key);
  if (it == dests_.end()) it = dests_.emplace(job.dest_key, Destination(transport(job.transport).window)).first;
  Destination& d = it->second;
  d.transport = job.transport;
  // Jobs of one message stay together in its round-robin slot. A message's
  // jobs are enqueued in one synchronous burst, so its slot, if any, is the
  // last one (no scan of the whole list: it may hold thousands of messages).
  // A job going back (requeue()) joins the first slot, or opens one there.
  if (!d.rr.empty() && (at_head ? d.rr.front() : d.rr.back()).first == job.msg->id) {
    if (at_head)
      d.rr.front().second.push_front(std::move(job));
    else
      d.rr.back().second.push_back(std::move(job));
    return;
  }
  std::string id = job.msg->id;
  auto slot = d.rr.emplace(at_head ? d.rr.begin() : d.rr.end(), std::move(id), std::deque<Job>{});
  slot->second.push_back(std::move(job));
}

void QueueManager::fail_queued(Destination& d, const std::string& dsn, const std::string& text) {
  for (auto& slot : d.rr) {
    for (auto& j : slot.second) {
      std::vector<Outcome> out(j.rcpts.size(), Outcome{dsn, text, "none"});
      asio::co_spawn(io_, complete_job(std::move(j), std::move(out), true), asio::detached);
    }
  }
  d.rr.clear();
}

void QueueManager::schedule() {
  auto now = Clock::now();
  // Take turns: each pass starts at most one job per destination, starting
  // from a rotating position, until nothing more can start.
  std::vector<std::map<std::string, Destination>::iterator> order;
  order.reserve(dests_.size());
  for (auto it = dests_.begin(); it != dests_.end(); ++it) order.push_back(it);
  std::size_t start = dest_rr_.next(order.size());
  bool progress = true;
  while (progress) {
    progress = false;
    for (std::size_t k = 0; k < order.size(); ++k) {
      Destination& d = order[(start + k) % order.size()]->second;
      if (d.rr.empty()) continue;
      Transport& t = transport(d.transport);
      if (t.dead_until != Clock::time_point{} && now < t.dead_until) {
        fail_queued(d, "4.3.0", "mail transport unavailable");
        continue;
      }
      if (d.window.dead()) {
        if (now >= d.dead_until) {
          d.window.revive();
        } else {
          fail_queued(d, "4.4.1", "delivery temporarily suspended: " + d.dead_reason);
          continue;
        }
      }
      if (!d.window.can_start(d.running) || t.running >= t.limit) continue;
      if (t.paced()) {
        if (now < d.next_start || now < t.next_start) continue;
        if (t.rate_delay.count() > 0 && t.running > 0) continue;
      }
      Job j = std::move(*pop_job(d));
      ++d.running;
      ++t.running;
      asio::co_spawn(io_, deliver(std::move(j)), asio::detached);
      progress = true;
    }
  }
  // Idle destinations are forgotten (like Postfix's queues); dead and
  // pausing ones are kept so that their state survives until they revive
  // or may start again, and so are those with a delivery that finished
  // within the last second (ConnCache::recent()).
  for (auto it = dests_.begin(); it != dests_.end();) {
    if (it->second.rr.empty() && it->second.running == 0 && !it->second.window.dead() &&
        now >= it->second.next_start && !it->second.conn_cache.recent(now))
      it = dests_.erase(it);
    else
      ++it;
  }
}

std::optional<QueueManager::Job> QueueManager::pop_job(Destination& d) {
  if (d.rr.empty()) return std::nullopt;
  auto& slot = d.rr.front();
  Job j = std::move(slot.second.front());
  slot.second.pop_front();
  if (slot.second.empty()) {
    d.rr.pop_front();
  } else {
    d.rr.splice(d.rr.end(), d.rr, d.rr.begin());  // next message's turn
  }
  return j;
}

void QueueManager::requeue(Job job) { enqueue(std::move(job), true); }

std::optional<QueueManager::Job> QueueManager::take_for_lane(const std::string& key, bool pipelined) {
  auto it = dests_.find(key);
  if (it == dests_.end() || it->second.rr.empty()) return std::nullopt;
  Destination& d = it->second;
  Transport& t = transport(d.transport);
  if (t.dead_until != Clock::time_point{} && Clock::now() < t.dead_until) return std::nullopt;
  if (d.window.dead()) return std::nullopt;
  // A paced delivery waits after each one: schedule() starts the next.
  if (t.paced()) return std::nullopt;
  // The lane is one of d.running: it goes on while the window still has
  // room for it (a failure may have shrunk it), and, with every process of
  // the transport busy, only while no other destination waits for one.
  if (d.running > d.window.allowed()) return std::nullopt;
  if (t.running >= t.limit) {
    for (const auto& [k, other] : dests_)
      if (k != key && other.transport == d.transport && !other.rr.empty()) return std::nullopt;
  }
  // A job that could have a lane of its own now waits for schedule() to
  // start one rather than queue behind this lane's delivery.
  if (pipelined && d.window.can_start(d.running) && t.running < t.limit) return std::nullopt;
  return pop_job(d);
}

void QueueManager::pace(const std::string& key, const std::string& tname) {
  Transport& t = transport(tname);
  if (!t.paced()) return;
  auto now = Clock::now();
  Seconds wait{0};
  if (t.dest_rate_delay.count() > 0) {
    if (auto dit = dests_.find(key); dit != dests_.end()) {
      dit->second.next_start = now + t.dest_rate_delay;
      wait = t.dest_rate_delay;
    }
  }
  if (t.rate_delay.count() > 0) {
    t.next_start = now + t.rate_delay;
    wait = std::max(wait, t.rate_delay);
  }
  if (wait.count() <= 0) return;
  // One timer per delivery of a paced transport: few (they pace).
  auto timer = std::make_shared<asio::steady_timer>(io_, wait);
  timer->async_wait([this, timer](const error_code& ec) {
    if (!ec) schedule();
  });
}

void QueueManager::end_lane(const std::string& key, const std::string& tname) {
  if (auto dit = dests_.find(key); dit != dests_.end()) --dit->second.running;
  --transport(tname).running;
}

proto::DeliveryRequest QueueManager::delivery_request(const Job& job, const std::string& key) {
  proto::DeliveryRequest req;
  req.queue_name = "active";
  req.queue_id = job.msg->id;
  req.nexthop = job.nexthop;
  req.flags = job.msg->from_deferred ? proto::delivery_flag::kRetry : 0;
  if (auto dit = dests_.find(key); dit != dests_.end()) {
    auto f = dit->second.conn_cache.select(dit->second.running, Clock::now());
    if (f.load) req.flags |= proto::delivery_flag::kConnLoad;
    if (f.store) req.flags |= proto::delivery_flag::kConnStore;
  }
  req.arrival_usec = job.msg->env.arrival_sec * 1000000 + job.msg->env.arrival_usec;
  req.active_usec = job.msg->active_usec;
  req.recipients = job.encoded;
  return req;
}

// One lane: a connection to an agent that carries deliveries to one
// destination one after another, while the destination has jobs and its
// window keeps the lane (take_for_lane). schedule() counted the lane in
// the destination's and the transport's `running`; end_lane() gives them
// back.
//
// With the window full, the lane sends the destination's next job before
// the reply to the current one is in (kLaneDepth requests outstanding).
// The agent reads one request at a time, so it starts the next delivery as
// soon as it has answered the last, instead of waiting for qmgr to wake
// up, read the reply, do the bookkeeping and send. It still makes one
// delivery at a time, so the destination's concurrency is what the window
// says.
//
// A request the agent never read (it said closing, or failed an earlier
// request on the connection) is no failure: it goes back to the head of its
// destination's queue. A kept connection that fails before a reply (the
// agent retired or stopped between two requests, or died) gets what is
// outstanding once more on a new connection.
asio::awaitable<void> QueueManager::deliver(Job first) {
  const std::string key = first.dest_key;
  const std::string tname = first.transport;
  const auto send_timeout = std::chrono::duration_cast<ipc::AsyncDuration>(s_.request_timeout);
  const auto reply_timeout = std::chrono::duration_cast<ipc::AsyncDuration>(s_.delivery_timeout);

  auto lease = agents_.acquire(tname);
  if (!lease) {
    log::warning("connect to transport private/{}: {}", tname, lease.error().message);
    transport(tname).dead_until = Clock::now() + s_.transport_retry;
    std::vector<Outcome> out(first.rcpts.size(), Outcome{"4.3.0", "mail transport unavailable", "none"});
    end_lane(key, tname);
    co_await complete_job(std::move(first), std::move(out), true);
    schedule();
    co_return;
  }

  std::deque<Job> todo;  // taken for this lane, not sent yet
  std::deque<Job> sent;  // sent, reply not read yet (the agent answers in order)
  todo.push_back(std::move(first));
  bool writable = true;   // more requests may go out on the connection
  bool readable = true;   // replies may still come in on it
  bool retried = false;   // a new connection since the last good reply
  std::size_t answered = 0;
  Error failure;

  // The agent closed or dropped a connection: a new one, if this lane has
  // not just tried that, for a kept connection or one that carried replies.
  auto reconnect = [&](const Error& why) -> bool {
    if (retried || !(lease->reused || answered > 0) || !ipc::closed_before_reply(why)) return false;
    auto fresh = agents_.connect(tname);
    if (!fresh) return false;
    log::debug("transport {}: kept connection failed ({}); connecting anew", tname, why.message);
    lease = std::move(fresh);
    retried = true;
    answered = 0;
    writable = readable = true;
    // What went out unanswered goes out again, in order. Should the agent
    // have delivered one before it died, this repeats the delivery, as the
    // deferral that is the alternative would later: a duplicate, never a
    // loss.
    while (!sent.empty()) {
      todo.push_front(std::move(sent.back()));
      sent.pop_back();
    }
    return true;
  };

  for (;;) {
    while (writable && sent.size() < kLaneDepth) {
      if (todo.empty()) {
        auto j = take_for_lane(key, !sent.empty());
        if (!j) break;
        todo.push_back(std::move(*j));
      }
      auto st = co_await ipc::write_message(lease->sock, delivery_request(todo.front(), key), {}, send_timeout);
      if (!st) {
        // Closed by the agent: what it has answered so far is read below.
        writable = false;
        failure = st.take_error();
        break;
      }
      sent.push_back(std::move(todo.front()));
      todo.pop_front();
    }

    std::optional<Job> job;
    std::vector<Outcome> out;
    bool answer = false;  // the agent's word on `job`, in `out`
    if (sent.empty()) {
      if (todo.empty()) break;  // nothing more for this lane
      if (reconnect(failure)) continue;
      // Not even the request could be sent.
      job = std::move(todo.front());
      todo.pop_front();
      readable = false;
    } else {
      auto reply = co_await ipc::read_message<proto::DeliveryReply>(lease->sock, {}, reply_timeout);
      if (!reply && reconnect(reply.error())) continue;
      job = std::move(sent.front());
      sent.pop_front();
      if (auto dit = dests_.find(key); dit != dests_.end()) dit->second.conn_cache.done(Clock::now());
      if (reply && reply->dsn.size() == job->rcpts.size()) {
        answer = true;
        retried = false;
        ++answered;
        if (reply->closing) writable = readable = false;
        for (std::size_t i = 0; i < job->rcpts.size(); ++i)
          out.push_back(
              Outcome{reply->dsn[i], reply->text[i], reply->relay[i], reply->action ? (*reply->action)[i] : ""});
        if (auto dit = dests_.find(key); dit != dests_.end()) {
          Destination& d = dit->second;
          if (reply->site_failure) {
            if (d.window.failure()) {
              d.dead_until = Clock::now() + s_.min_backoff;
              d.dead_reason = reply->text.empty() ? std::string("destination unreachable") : reply->text[0];
              log::debug("destination {} marked dead: {}", key, d.dead_reason);
            }
          } else {
            d.window.success();
          }
        }
      } else {
        failure = reply ? Error{"reply for the wrong number of recipients"} : reply.take_error();
        readable = false;
      }
    }
    if (!answer) {
      log::warning("{}: transport {}: {}", job->msg->id, tname, failure.message);
      out.assign(job->rcpts.size(), Outcome{"4.3.0", "unknown mail transport error", "none"});
      if (auto dit = dests_.find(key); dit != dests_.end() && dit->second.window.failure()) {
        dit->second.dead_until = Clock::now() + s_.min_backoff;
        dit->second.dead_reason = "unknown mail transport error";
      }
    }
    pace(key, tname);
    // qmgr logs the status only of what the agent did not answer (the
    // agent logs its own).
    asio::co_spawn(io_, complete_job(std::move(*job), std::move(out), !answer), asio::detached);
    if (!readable) break;
    // A window that grew, or room for another destination's lane.
    schedule();
  }
  // What the agent never read waits at the head of the queue for the next lane.
  while (!sent.empty()) {
    requeue(std::move(sent.back()));
    sent.pop_back();
  }
  while (!todo.empty()) {
    requeue(std::move(todo.back()));
    todo.pop_back();
  }
  if (writable && readable && answered > 0) agents_.release(tname, std::move(lease->sock));
  end_lane(key, tname);
  schedule();
}

// ---------------------------------------------------------------- results

void QueueManager::log_status(const Message& m, std::size_t i, const Outcome& o, std::string_view status) {
  const auto& f = m.env.recipients[i].fields;
  postern::deliver::StatusLine sl;
  sl.queue_id = m.id;
  sl.recipient = f.address;
  sl.orig_recipient = f.orig_rcpt;
  sl.relay = o.relay.empty() ? std::string_view("none") : std::string_view(o.relay);
  sl.arrival_usec = m.env.arrival_sec * 1000000 + m.env.arrival_usec;
  sl.active_usec = m.active_usec;
  sl.done_usec = postern::deliver::now_usec();
  sl.dsn = o.dsn;
  sl.status = status;
  sl.text = o.text;
  log::info("{}", postern::deliver::format_status_line(sl));
}

asio::awaitable<Status> QueueManager::bounce_call(const std::string& service, proto::BounceRequest req) {
  auto timeout = std::chrono::duration_cast<ipc::AsyncDuration>(s_.service_timeout);
  co_return co_await ipc::status_call(io_, s_.queue_root / "private" / service, service, std::move(req), timeout);
}

asio::awaitable<Status> QueueManager::append(const std::string& service, const Message& m,
                                             const std::vector<std::size_t>& idx,
                                             const std::vector<Outcome>& outcomes, const std::string& action) {
  std::vector<proto::BounceEntry> entries;
  for (std::size_t k = 0; k < idx.size(); ++k) {
    auto enc = queue::encode_recipient(m.env.recipients[idx[k]].fields);
    if (!enc) continue;
    entries.push_back({std::move(*enc), outcomes[k].dsn, str::printable(outcomes[k].text, 1024),
                       outcomes[k].relay.empty() ? std::string("none") : str::printable(outcomes[k].relay, 1024)});
  }
  auto requests = proto::append_requests(m.id, action, std::move(entries));  // named: GCC 12, co_await
  for (auto& req : requests) {
    auto st = co_await bounce_call(service, std::move(req));
    if (!st) co_return st;
  }
  co_return Status{};
}

asio::awaitable<void> QueueManager::complete_job(Job job, std::vector<Outcome> outcomes, bool qmgr_logs) {
  auto m = job.msg;
  std::vector<std::size_t> b_idx, d_idx, t_idx, r_idx, x_idx;
  std::vector<Outcome> b_out, d_out, t_out, r_out, x_out;
  for (std::size_t k = 0; k < job.rcpts.size(); ++k) {
    std::size_t i = job.rcpts[k];
    Outcome o = outcomes[k];
    char cls = o.dsn.empty() ? '4' : o.dsn[0];
    // soft_bounce: qmgr's own bounces (an address the resolver refuses)
    // become deferrals as the agents' do (deliver::report_outcome()).
    bool soft = s_.soft_bounce && cls == '5';
    if (soft) {
      o.dsn = postern::deliver::soften_dsn(o.dsn);
      cls = '4';
    }
    if (qmgr_logs) log_status(*m, i, o, soft ? "SOFTBOUNCE" : cls == '5' ? "bounced" : cls == '2' ? "sent" : "deferred");
    if (cls == '2') {
      m->results[i] = RcptResult{RcptState::Done, o.dsn, o.text, o.relay};
      // NOTIFY=SUCCESS: our notice says "delivered", or "relayed" after a
      // hand-over to an MTA without DSN, or "expanded" for an alias that
      // local(8) expanded; none when the next MTA speaks DSN and took the
      // request over (Postfix's smtp_rcpt_done()).
      if ((m->env.recipients[i].fields.notify & queue::kNotifySuccess) && o.action != proto::kSuccessNone) {
        const bool relayed = o.action == proto::kSuccessRelayed, expanded = o.action == proto::kSuccessExpanded;
        (relayed ? r_idx : expanded ? x_idx : t_idx).push_back(i);
        (relayed ? r_out : expanded ? x_out : t_out).push_back(o);
      }
    } else if (cls == '5') {
      b_idx.push_back(i);
      b_out.push_back(o);
    } else {
      d_idx.push_back(i);
      d_out.push_back(o);
    }
  }
  if (!b_idx.empty()) {
    auto st = co_await append(s_.bounce_service, *m, b_idx, b_out, kActionFailed);
    for (std::size_t k = 0; k < b_idx.size(); ++k) {
      if (st) {
        m->results[b_idx[k]] = RcptResult{RcptState::Bounced, b_out[k].dsn, b_out[k].text, b_out[k].relay};
      } else {
        // Never lose a bounce: the recipient stays queued and is tried again.
        m->results[b_idx[k]] = RcptResult{RcptState::Deferred, "4.3.0", "bounce or trace service failure", "none"};
      }
    }
    if (!st) log::warning("{}: bounce service failure: {}", m->id, st.error().message);
  }
  if (!d_idx.empty()) {
    for (std::size_t k = 0; k < d_idx.size(); ++k)
      m->results[d_idx[k]] = RcptResult{RcptState::Deferred, d_out[k].dsn, d_out[k].text, d_out[k].relay};
    auto st = co_await append(s_.defer_service, *m, d_idx, d_out, kActionDelayed);
    if (!st) log::warning("{}: defer service failure: {}", m->id, st.error().message);
  }
  // The success notices' records, one trace append per DSN action.
  // (A named array: GCC 12 mishandles temporaries that live across co_await.)
  const std::array<std::tuple<std::vector<std::size_t>*, std::vector<Outcome>*, const std::string*>, 3> traces{
      {{&t_idx, &t_out, &kActionDelivered}, {&r_idx, &r_out, &kActionRelayed}, {&x_idx, &x_out, &kActionExpanded}}};
  for (const auto& [idx, outs, action] : traces) {
    if (idx->empty()) continue;
    auto st = co_await append(s_.trace_service, *m, *idx, *outs, *action);
    if (!st) {
      log::warning("{}: trace service failure: {}", m->id, st.error().message);
      // A delivery whose NOTIFY=SUCCESS record cannot be kept is deferred,
      // as Postfix's sent() defers it: the sender asked to be told, and a
      // second delivery is the lesser harm than a notice that never comes.
      std::vector<Outcome> again;
      for (std::size_t k = 0; k < idx->size(); ++k) {
        Outcome o{"4.3.0", m->id + ": " + s_.trace_service + " service failed", (*outs)[k].relay};
        m->results[(*idx)[k]] = RcptResult{RcptState::Deferred, o.dsn, o.text, o.relay};
        log_status(*m, (*idx)[k], o, "deferred");
        again.push_back(std::move(o));
      }
      auto d = co_await append(s_.defer_service, *m, *idx, again, kActionDelayed);
      if (!d) log::warning("{}: defer service failure: {}", m->id, d.error().message);
    }
  }
  // Other jobs of the message still run: what this one finished goes into
  // the file now, so that a qmgr restart (reload, crash) does not deliver
  // it again with the rest; after the notices' appends, as Postfix's agents
  // mark a recipient done after sent()/bounce_append(). No fsync: like
  // theirs, the mark is for the next qmgr, and a machine crash at worst
  // repeats a delivery. A message's last job skips it: finalize() follows.
  if (m->outstanding > 1) mark_finished(*m, false);
  m->unfinished -= std::min(m->unfinished, job.rcpts.size());
  read_ahead_if_due(m);
  if (m->outstanding > 0) --m->outstanding;
  if (m->outstanding == 0 && !m->resolving) co_await finalize(m);
}

asio::awaitable<void> QueueManager::finalize(std::shared_ptr<Message> m) {
  auto now = now_sec();
  Seconds age(std::max<std::int64_t>(0, now - m->env.arrival_sec));
  auto qid = queue::QueueId::parse(m->id);

  std::vector<std::size_t> deferred;
  for (std::size_t i = 0; i < m->results.size(); ++i)
    if (m->results[i].state == RcptState::Deferred || m->results[i].state == RcptState::Pending) deferred.push_back(i);

  // Expiry: deferred recipients of a message past its lifetime become
  // bounces with their last reason.
  Seconds lifetime = m->env.sender.empty() ? s_.bounce_lifetime : s_.max_lifetime;
  const bool expire_now = m->force_expired || expired(age, lifetime);
  if (!deferred.empty() && expire_now && s_.soft_bounce) {
    // Postfix: the return is a bounce like any other, so soft_bounce keeps
    // the message queued (and says so) until it is turned off.
    for (auto i : deferred) {
      const auto& r = m->results[i];
      log_status(*m, i, Outcome{r.dsn.empty() ? "4.4.7" : postern::deliver::soften_dsn(r.dsn),
                                r.text.empty() ? "message is too old" : r.text, r.relay.empty() ? "none" : r.relay},
                 "SOFTBOUNCE");
    }
  } else if (!deferred.empty() && expire_now) {
    std::vector<Outcome> out;
    for (auto i : deferred) {
      const auto& r = m->results[i];
      out.push_back(Outcome{r.dsn.empty() ? "4.4.7" : r.dsn, r.text.empty() ? "message is too old" : r.text,
                            r.relay.empty() ? "none" : r.relay});
    }
    auto st = co_await append(s_.bounce_service, *m, deferred, out, kActionFailed);
    if (st) {
      // One line for the message, as Postfix's qmgr logs it (its recipients
      // were logged when they were deferred).
      for (auto i : deferred) m->results[i].state = RcptState::Bounced;
      if (!m->shared->expiry_logged)
        log::info("{}: from=<{}>, status={}, returned to sender", m->id, str::printable(m->env.sender, 1024),
                  m->force_expired ? "force-expired" : "expired");
      m->shared->expiry_logged = true;
      deferred.clear();
    } else {
      log::warning("{}: bounce service failure: {}", m->id, st.error().message);
    }
  }

  // Other slices run, or more recipients wait in the file (a slice too
  // small to have read ahead reads now): the notices and the move wait for
  // the last slice, where the others' deferrals count too. What this one
  // finished goes into the file before it leaves memory, so that a restart
  // does not repeat it.
  Shared& sh = *m->shared;
  read_ahead_if_due(m);
  if (sh.parts > 1 || sh.more_at != 0) {
    mark_finished(*m);
    sh.deferred += deferred.size();
    --sh.parts;
    in_memory_rcpts_ -= std::min(in_memory_rcpts_, m->in_memory);
    m->in_memory = 0;
    if (incoming_backlog_ || deferred_backlog_)
      request_scan(incoming_backlog_, deferred_backlog_, deferred_backlog_ && deferred_backlog_all_);
    co_return;
  }
  // A slice that could not be read leaves its recipients in the file:
  // the message stays, as with a deferral.
  const bool any_deferred = !deferred.empty() || sh.deferred > 0 || sh.read_error.has_value();

  bool bounce_log = qid && has_log(queue::QueueName::Bounce, *qid);
  bool bounce_ok = true;
  // The bounced recipients are marked done before their notice goes out,
  // as Postfix marks them right after the bounce log append: a crash
  // between the notice and the mark tried them again and, failing again,
  // sent the sender a second notice. A flush that fails leaves the log, so
  // the notice still goes out at the next attempt.
  if (bounce_log) {
    mark_finished(*m);
    bounce_ok = co_await flush_notice(s_.bounce_service, "bounce", *m);
  }

  // The success notice (NOTIFY=SUCCESS) is made from the message: when its
  // flush fails the message stays, finished recipients marked, until it
  // works.
  bool trace_ok = true;
  if (!any_deferred && bounce_ok && qid && has_log(queue::QueueName::Trace, *qid))
    trace_ok = co_await flush_notice(s_.trace_service, "trace", *m);

  if (!any_deferred && bounce_ok && trace_ok) {
    // Everything finished: no need to mark recipients done one by one.
    if (qid && has_log(queue::QueueName::Defer, *qid)) {
      proto::BounceRequest req;
      req.op = proto::BounceOp::Remove;
      req.queue_id = m->id;
      auto st = co_await bounce_call(s_.defer_service, std::move(req));
      if (!st) log::warning("{}: defer service failure: {}", m->id, st.error().message);
    }
    // Kept for cleanup to reuse when the recycle bin has room (queue/recycle.h).
    if (qid && recycler_.take(m->path, *qid)) {
      log::info("{}: removed", m->id);
    } else if (::unlink(m->path.c_str()) == 0) {
      log::info("{}: removed", m->id);
    } else if (errno != ENOENT) {
      log::warning("{}: remove {}: {}", m->id, m->path.string(), std::strerror(errno));
    } else if (auto held = locate(*m)) {
      // Put on hold while its deliveries ran: the held file keeps what was
      // done, and a release finds nothing left to deliver.
      mark_finished(*m);
      log::info("{}: finished while on hold ({})", m->id, held->string());
    }
    forget(m);
    co_return;
  }

  // The message stays: record what is finished, so it is not repeated.
  mark_finished(*m);
  if (auto now_at = locate(*m); !now_at || *now_at != m->path) {
    // On hold or removed by postsuper meanwhile: it is not ours to park.
    forget(m);
    co_return;
  }
  if (sh.read_error && queue::is_corrupt(*sh.read_error)) {
    to_corrupt(m->path, m->id, *sh.read_error);
    forget(m);
    co_return;
  }
  UniqueFd fd(::open(m->path.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    log::warning("{}: open {}: {}", m->id, m->path.string(), std::strerror(errno));
  } else {
    // A delay warning, once (cleanup wrote arrival + delay_warning_time).
    if (s_.delay_warning.count() > 0 && m->env.warning_time > 0 && now >= m->env.warning_time) {
      proto::BounceRequest req;
      req.op = proto::BounceOp::Warn;
      req.queue_name = "active";
      req.queue_id = m->id;
      auto st = co_await bounce_call(s_.defer_service, std::move(req));
      if (st) {
        if (auto w = queue::set_warning_time(fd.get(), 0); !w) log::warning("{}: {}", m->id, w.error().message);
      } else {
        log::warning("{}: defer service failure: {}", m->id, st.error().message);
      }
    }
  }
  fd = UniqueFd();
  park(m->path, m->id, backoff_delay(age, s_.min_backoff, s_.max_backoff));
  forget(m);
}

void QueueManager::read_ahead_if_due(const std::shared_ptr<Message>& m) {
  const Shared& sh = *m->shared;
  if (sh.more_at == 0 || sh.newest != m->serial || m->resolving) return;
  if (m->unfinished * 2 > m->env.recipients.size()) return;
  read_slice(m);
}

void QueueManager::read_slice(const std::shared_ptr<Message>& from) {
  Shared& sh = *from->shared;
  // Whatever goes wrong here, the unread recipients stay pending in the
  // file; the message is kept (finalize()) and the next activation reads
  // them again.
  auto give_up = [&](Error why) {
    sh.read_error = std::move(why);
    sh.more_at = 0;
  };
  if (auto now_at = locate(*from); !now_at || *now_at != from->path) {
    // On hold or removed by postsuper meanwhile: a release starts over with
    // what is left in the file.
    give_up(Error{"moved out of the active queue", ENOENT});
    return;
  }
  // The file was validated whole at activation; this reads on from where
  // the last slice stopped, checking what it reads, and no further than
  // the slice (a list read in n slices costs one pass).
  UniqueFd fd(::open(from->path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  struct stat st {};
  if (!fd || ::fstat(fd.get(), &st) != 0 || st.st_dev != from->dev || st.st_ino != from->ino) {
    give_up(Error{"replaced under its name", ENOENT});  // not the file we were reading
    return;
  }
  auto r = queue::read_recipient_slice(fd.get(), from->path.string(), sh.header.size, sh.more_at, slice_size(),
                                       /*pending_only=*/true);
  if (!r) {
    log::warning("{}: {}", from->id, r.error().message);
    give_up(r.take_error());
    return;
  }
  auto m = std::make_shared<Message>();
  m->id = from->id;
  m->path = from->path;
  m->dev = from->dev;
  m->ino = from->ino;
  m->env = sh.header;
  m->env.recipients = std::move(r->recipients);
  m->env.more_recipients_at = r->more_at;
  m->active_usec = from->active_usec;
  m->from_deferred = from->from_deferred;
  m->flush = from->flush;
  m->unthrottle = from->unthrottle;
  m->force_expired = from->force_expired;
  m->shared = from->shared;
  m->serial = sh.newest = ++sh.serials;
  ++sh.parts;
  sh.more_at = m->env.more_recipients_at;
  m->results.assign(m->env.recipients.size(), RcptResult{});
  m->in_memory = m->unfinished = m->env.recipients.size();
  in_memory_rcpts_ += m->in_memory;
  admit(std::move(m));
  if (incoming_backlog_ || deferred_backlog_)
    request_scan(incoming_backlog_, deferred_backlog_, deferred_backlog_ && deferred_backlog_all_);
}

// Asks the bounce or trace service to send the message's notice and remove
// its log; false (logged as "<what> service failure") when it did not.
asio::awaitable<bool> QueueManager::flush_notice(const std::string& service, std::string_view what,
                                                 const Message& m) {
  proto::BounceRequest req;
  req.op = proto::BounceOp::Flush;
  req.queue_name = "active";
  req.queue_id = m.id;
  auto st = co_await bounce_call(service, std::move(req));
  if (!st) log::warning("{}: {} service failure: {}", m.id, what, st.error().message);
  co_return static_cast<bool>(st);
}

// Marks the recipients that are delivered or bounced as done in the queue
// file, once; with `sync` the marks are fsynced together at the end.
void QueueManager::mark_finished(Message& m, bool sync) {
  bool any = false;
  for (std::size_t i = 0; i < m.results.size() && !any; ++i)
    any = (m.results[i].state == RcptState::Done || m.results[i].state == RcptState::Bounced) &&
          !m.env.recipients[i].done;
  if (!any) return;
  auto where = locate(m);
  if (!where) return;  // removed meanwhile (postsuper -d): nothing to mark
  UniqueFd fd(::open(where->c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    log::warning("{}: open {}: {}", m.id, where->string(), std::strerror(errno));
    return;
  }
  // Every mark written first, then one fsync for them all: a slice of
  // thousands of recipients must not cost thousands of device waits.
  bool wrote = false;
  for (std::size_t i = 0; i < m.results.size(); ++i) {
    auto state = m.results[i].state;
    if ((state == RcptState::Done || state == RcptState::Bounced) && !m.env.recipients[i].done) {
      if (auto st = queue::mark_recipient_done(fd.get(), m.env.recipients[i].offset, false); !st) {
        log::warning("{}: {}", m.id, st.error().message);
      } else {
        m.env.recipients[i].done = true;
        wrote = true;
      }
    }
  }
  if (sync && wrote) {
    while (::fsync(fd.get()) != 0) {
      if (errno == EINTR) continue;
      log::warning("{}: fsync {}: {}", m.id, where->string(), std::strerror(errno));
      break;
    }
  }
}

std::optional<fs::path> QueueManager::locate(const Message& m) const {
  auto same = [&](const fs::path& p) {
    struct stat st {};
    return ::lstat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_dev == m.dev && st.st_ino == m.ino;
  };
  if (same(m.path)) return m.path;
  if (auto qid = queue::QueueId::parse(m.id)) {
    fs::path held = queue::queue_path(s_.queue_root, queue::QueueName::Hold, *qid, s_.hash);
    if (same(held)) return held;
  }
  return std::nullopt;
}

// Whether a bounce/defer/trace log exists for the message. The bounce
// daemon writes logs only at the configured hash path, so one lstat
// answers (find_in_queue's walk over every depth cost 6 per log, 18 per
// message, on the hot path).
bool QueueManager::has_log(queue::QueueName q, const queue::QueueId& id) const {
  fs::path p = queue::queue_path(s_.queue_root, q, id, s_.hash);
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

void QueueManager::forget(const std::shared_ptr<Message>& m) {
  in_memory_rcpts_ -= std::min(in_memory_rcpts_, m->in_memory);
  m->in_memory = 0;
  active_.erase(m->id);
  // Room again: take what the last scans had to leave behind.
  if (incoming_backlog_ || deferred_backlog_)
    request_scan(incoming_backlog_, deferred_backlog_, deferred_backlog_ && deferred_backlog_all_);
}

}  // namespace postern::qmgr
