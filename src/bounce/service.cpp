// service.cpp - see service.h.
#include "service.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <map>
#include <optional>
#include <variant>

#include "base/attr_expand.h"
#include "base/read_file.h"
#include "base/strings.h"
#include "dsn.h"
#include "log/log.h"
#include "mail/date.h"
#include "mail/notify.h"
#include "queue/queue_file.h"
#include "queue/queue_id.h"
#include "queue/reader.h"
#include "queue/status_log.h"
#include "submit/cleanup_client.h"
#include "submit/post.h"

namespace postern::bounce {
namespace proto = ipc::proto;
namespace {

proto::StatusReply reply(std::int64_t status, std::string reason = {}) {
  proto::StatusReply r;
  r.status = status;
  r.reason = str::printable(reason, 1024);
  return r;
}

proto::StatusReply fail(std::string_view id, std::string reason) {
  log::warning("{}: refused request: {}", str::printable(id, 64), reason);
  return reply(proto::kStatusFail, std::move(reason));
}

proto::StatusReply retry(std::string_view id, std::string reason) {
  log::warning("{}: {}", str::printable(id, 64), reason);
  return reply(proto::kStatusRetry, std::move(reason));
}

std::string_view op_name(proto::BounceOp op) {
  for (const auto& n : proto::kBounceOpNames)
    if (n.value == op) return n.name;
  return "?";
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

Status append(const Settings& s, const queue::QueueId& id, const proto::BounceRequest& req) {
  std::vector<queue::StatusEntry> entries;
  entries.reserve(req.recipients.size());
  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  for (std::size_t i = 0; i < req.recipients.size(); ++i) {
    auto r = queue::decode_recipient(req.recipients[i]);
    if (!r) return r.take_error();  // check() already decoded it; kept for safety
    queue::StatusEntry e;
    e.recipient = r->address;
    e.original_recipient = r->orig_rcpt;
    e.orcpt = r->orcpt;
    e.notify = r->notify;
    e.status = req.dsn[i];
    e.action = req.action;
    e.reason = req.text[i];
    e.relay = req.relay[i];
    e.time = now;
    entries.push_back(std::move(e));
  }
  auto path = queue::queue_path(s.queue_root, s.log_queue, id, s.hash);
  auto st = queue::append_status_log(path, entries);
  if (!st && st.error().sys_errno == ENOENT) {
    // A hash subdirectory that is missing (hash_queue_depth raised since
    // the tree was made): create it, mode as in the layout table.
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    if (!ec) {
      ::chmod(path.parent_path().c_str(), queue::spec(s.log_queue).mode);
      st = queue::append_status_log(path, entries);
    }
  }
  return st;
}

// The original's envelope and the bounded copy for the notice.
struct Original {
  queue::QueueMessage message;
  OriginalCollector collected;
};

enum class Fault { Retry, Fail };
struct OriginalError {
  Fault fault;
  std::string reason;
};

// `headers_only`: whatever the sender asked (postmaster copies).
std::variant<Original, OriginalError> read_original(const Settings& s, queue::QueueName q, const queue::QueueId& id,
                                                    bool want_full_default, bool headers_only = false) {
  auto path = queue::queue_path(s.queue_root, q, id, s.hash);
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (auto found = queue::find_in_queue(s.queue_root, q, id)) path = *found;
  }
  queue::ReadOptions opts;
  opts.require_ready = false;   // qmgr owns the file; the mark does not matter to a reader
  opts.verify_content = false;  // content() checks each record it returns
  opts.max_recipients = 0;      // the logs name the recipients
  auto rd = queue::QueueFileReader::open(path, opts);
  if (!rd) {
    const Error& e = rd.error();
    Fault f = (e.sys_errno == ENOENT || queue::is_corrupt(e)) ? Fault::Fail : Fault::Retry;
    return OriginalError{f, fmt::format("original message: {}", e.message)};
  }
  // RET=HDRS only ever takes away: delay and success notices carry the
  // header alone whatever the sender asked (Postfix's bounce_warn_service()
  // and bounce_trace_service()).
  const auto& ret = rd->message().dsn_ret;
  bool full = want_full_default && (!ret || *ret == queue::DsnRet::Full) && !headers_only;
  // A message larger than bounce_size_limit comes back as its header only,
  // complete, never as a cut-off message/rfc822 part whose MIME structure
  // would not close (Postfix 2.5 and later).
  if (full && rd->message().size.content_size > s.size_limit) full = false;
  // The header is bounded by cleanup's header_size_limit already; this
  // bound only guards against a file written with a larger one.
  const std::size_t limit = full ? s.size_limit : std::max<std::size_t>(s.size_limit, kMaxReturnedHeader);
  Original o{rd->message(), OriginalCollector(full, limit)};
  auto cursor = rd->content();
  queue::ContentPiece piece;
  for (;;) {
    auto more = cursor.next(piece);
    if (!more) {
      // A damaged body still leaves a useful notice: send what was read.
      log::warning("{}: reading original message: {}", id.str(), more.error().message);
      break;
    }
    if (!*more || !o.collected.add(piece.data, piece.complete)) break;
  }
  return o;
}

// Submits one notice; the new queue ID, or an Error (cleanup unreachable,
// no verdict, or a rejection).
// Every parameter is a reference to the caller's named objects: GCC 12
// mishandles temporaries in co_await expressions (docs/coding.md).
asio::awaitable<Result<std::string>> submit_notice(asio::io_context& io, const Settings& s, NoticeInfo& info,
                                                   const std::vector<std::string>& recipients,
                                                   const std::vector<queue::StatusEntry>& entries,
                                                   const OriginalCollector& original,
                                                   const std::string& notice_sender) {
  submit::Post post;
  post.sender = notice_sender;
  post.recipients = recipients;
  post.flags = submit::cleanup_flag::kBounce | s.autodetect;
  post.origin = "bounce";
  // As the notice labels its parts (a Charset: utf-8 template's text is
  // 8-bit): cleanup records it, and the smtp client then never sends raw
  // 8-bit to a server without 8BITMIME.
  post.eight_bit = notice_is_8bit(info, original);
  const std::function<std::string(const std::string&)> compose = [&](const std::string& queue_id) {
    info.new_queue_id = queue_id;
    return compose_notice(info, entries, original);
  };
  co_return co_await submit::post_message(io, s.cleanup_socket, s.timeout, post, compose);
}

std::string local_date(std::int64_t t) { return mail::mail_date(static_cast<std::time_t>(t)); }

// flush (bounce, trace) and warn (defer).
asio::awaitable<proto::StatusReply> send_notice(asio::io_context& io, const Settings& s, const queue::QueueId& id,
                                           const proto::BounceRequest& req, NoticeKind kind) {
  const std::string& qid = id.str();
  auto q = queue::parse_queue_name(req.queue_name);
  // maildrop: pickup's notice for a submission cleanup refused (the file
  // still holds the content; pickup removes it afterwards).
  const bool maildrop = q && *q == queue::QueueName::Maildrop && kind == NoticeKind::Failure;
  if (!q || (*q != queue::QueueName::Incoming && *q != queue::QueueName::Active &&
             *q != queue::QueueName::Deferred && *q != queue::QueueName::Hold && !maildrop))
    co_return fail(qid, fmt::format("bad queue name \"{}\"", str::printable(req.queue_name, 32)));

  const auto log_path = queue::queue_path(s.queue_root, s.log_queue, id, s.hash);
  auto log_file = queue::read_status_log(log_path);
  if (!log_file) {
    if (log_file.error().sys_errno == ENOENT) co_return reply(proto::kStatusOk);  // nothing logged: nothing to say
    co_return retry(qid, fmt::format("cannot read status log: {}", log_file.error().message));
  }
  if (log_file->malformed > 0)
    log::warning("{}: {}: {} malformed entries skipped", qid, log_path.string(), log_file->malformed);
  auto entries = select_entries(kind, log_file->entries);
  // Postmaster notices (notify_classes) list every recipient of the log.
  const auto all_entries = select_entries(kind, log_file->entries, true);
  const bool remove_log = kind != NoticeKind::Delay;
  auto done = [&]() -> proto::StatusReply {
    if (remove_log && ::unlink(log_path.c_str()) != 0 && errno != ENOENT)
      log::warning("{}: cannot remove {}: {}", qid, log_path.string(), std::strerror(errno));
    return reply(proto::kStatusOk);
  };
  // Whether a postmaster copy goes out (bounce: failures; delay: delay
  // warnings), independent of the sender's NOTIFY, as in Postfix.
  const bool copy_wanted = (kind == NoticeKind::Failure && s.notify_bounce && !s.bounce_recipients.empty()) ||
                           (kind == NoticeKind::Delay && s.notify_delay && !s.delay_recipients.empty());
  if (entries.empty() && !copy_wanted) co_return done();  // every recipient said NOTIFY=NEVER (or not this kind)

  // Failures return the whole message unless the sender asked for headers
  // only (DSN RET=HDRS); delay and success notices only its header (Postfix).
  auto orig = read_original(s, *q, id, kind == NoticeKind::Failure);
  if (auto* err = std::get_if<OriginalError>(&orig)) {
    if (err->fault == Fault::Fail) co_return fail(qid, err->reason);
    co_return retry(qid, err->reason);
  }
  auto& original = std::get<Original>(orig);
  const std::string& sender = original.message.sender;

  NoticeInfo info;
  info.kind = kind;
  info.myhostname = s.myhostname;
  info.mail_name = s.mail_name;
  info.queue_id = qid;
  info.sender = sender;
  info.envid = original.message.dsn_envid;
  info.arrival = original.message.arrival_sec;
  info.now = static_cast<std::int64_t>(std::time(nullptr));
  info.date = local_date(info.now);
  info.arrival_date = local_date(info.arrival);
  info.format_time = &local_date;
  if (kind == NoticeKind::Delay && s.max_queue_lifetime.count() > 0)
    info.retry_until = info.arrival + s.max_queue_lifetime.count();
  const auto& own = kind == NoticeKind::Failure ? s.templates.failure
                    : kind == NoticeKind::Delay ? s.templates.delay
                                                : s.templates.success;
  if (own) info.templ = &*own;
  std::string_view what = kind == NoticeKind::Failure ? "non-delivery notification"
                          : kind == NoticeKind::Delay ? "delay notification"
                                                      : "delivery status notification";

  if (sender.empty() || iequals(sender, s.double_bounce_sender) ||
      iequals(mail::qualify_with_origin(sender, s.myorigin), s.double_bounce_sender)) {
    if (kind != NoticeKind::Failure || !sender.empty()) {
      // Nobody to tell about delays or successes of a notice; and a failed
      // postmaster notice is dropped, so that failures never loop.
      if (!sender.empty() && kind == NoticeKind::Failure)
        log::warning("{}: undeliverable postmaster notification discarded", qid);
      // A delayed notice (null sender): the postmaster hears of it with
      // notify_classes delay, with the whole message (Postfix's
      // bounce_warn_service()).
      if (kind == NoticeKind::Delay && sender.empty() && copy_wanted && !all_entries.empty()) {
        auto whole = read_original(s, *q, id, true);
        if (auto* err = std::get_if<OriginalError>(&whole)) {
          if (err->fault == Fault::Fail) co_return fail(qid, err->reason);
          co_return retry(qid, err->reason);
        }
        info.postmaster = true;
        info.to = s.delay_recipients.front();
        auto new_id = co_await submit_notice(io, s, info, s.delay_recipients, all_entries,
                                             std::get<Original>(whole).collected, s.double_bounce_sender);
        if (!new_id) co_return retry(qid, fmt::format("postmaster {} not sent: {}", what, new_id.error().message));
        log::info("{}: postmaster {}: {}", qid, what, *new_id);
      }
      co_return done();
    }
    // A notice that could not be delivered: the postmaster hears of it only
    // with notify_classes bounce or 2bounce (Postfix's default: neither),
    // with every recipient and the whole message.
    if (!(s.notify_bounce || s.notify_2bounce) || s.twobounce_recipients.empty() || all_entries.empty())
      co_return done();
    info.postmaster = true;
    info.to = s.twobounce_recipients.front();
    auto new_id = co_await submit_notice(io, s, info, s.twobounce_recipients, all_entries, original.collected,
                                         s.double_bounce_sender);
    if (!new_id) co_return retry(qid, fmt::format("postmaster {} not sent: {}", what, new_id.error().message));
    log::info("{}: postmaster {}: {}", qid, what, *new_id);
    co_return done();
  }

  if (!entries.empty()) {
    info.to = sender;
    // Named first: g++ 12 and braced temporaries inside co_await (ipc/async.h).
    const std::vector<std::string> recipients{sender};
    const std::string null_sender;
    auto new_id = co_await submit_notice(io, s, info, recipients, entries, original.collected, null_sender);
    if (!new_id) co_return retry(qid, fmt::format("sender {} not sent: {}", what, new_id.error().message));
    log::info("{}: sender {}: {}", qid, what, *new_id);
  }
  if (copy_wanted) {
    // Not critical: a failure is a warning, and the sender's notice is not
    // sent again for it (Postfix).
    const auto& to = kind == NoticeKind::Failure ? s.bounce_recipients : s.delay_recipients;
    info.postmaster = true;
    info.to = to.front();
    info.new_queue_id.clear();
    auto headers = read_original(s, *q, id, false, true);
    Result<std::string> new_id = make_error("original message unreadable");
    if (auto* h = std::get_if<Original>(&headers))
      new_id = co_await submit_notice(io, s, info, to, all_entries, h->collected, s.double_bounce_sender);
    if (new_id)
      log::info("{}: postmaster {}: {}", qid, what, *new_id);
    else
      log::warning("{}: postmaster notice failed while {} {}: {}", qid,
                   kind == NoticeKind::Failure ? "bouncing to" : "warning", str::printable(sender, 300),
                   new_id.error().message);
  }
  co_return done();
}

}  // namespace

Result<Settings> Settings::from_config(const config::Config& cfg, std::string_view service) {
  Settings s;
  if (service == cfg.str("bounce_service_name")) s.log_queue = queue::QueueName::Bounce;
  else if (service == cfg.str("defer_service_name")) s.log_queue = queue::QueueName::Defer;
  else if (service == cfg.str("trace_service_name")) s.log_queue = queue::QueueName::Trace;
  else
    return make_error("service \"{}\" is none of bounce_service_name, defer_service_name, trace_service_name",
                      service);
  s.queue_root = cfg.str("queue_directory");
  s.cleanup_socket = submit::cleanup_socket_path(s.queue_root, cfg.str("cleanup_service_name"));
  auto autodetect = submit::smtputf8_autodetect(cfg, "bounce");
  if (!autodetect) return autodetect.take_error();
  s.autodetect = *autodetect;
  std::string names;
  for (const auto& n : cfg.list("hash_queue_names")) names += n + ",";
  auto hash = queue::HashConfig::from_params(names, cfg.integer("hash_queue_depth"));
  if (!hash) return hash.take_error();
  s.hash = *hash;
  s.timeout = cfg.time("ipc_timeout");
  s.myhostname = cfg.str("myhostname");
  s.mail_name = cfg.str("mail_name");
  s.myorigin = cfg.str("myorigin");
  s.size_limit = static_cast<std::size_t>(std::max<std::int64_t>(1, cfg.integer("bounce_size_limit")));
  s.twobounce_recipients = cfg.list("2bounce_notice_recipient");
  s.bounce_recipients = cfg.list("bounce_notice_recipient");
  s.delay_recipients = cfg.list("delay_notice_recipient");
  auto classes = mail::Problems::parse(cfg.list("notify_classes"));
  if (!classes) return classes.take_error();
  // The other classes are smtpd's (its session transcripts).
  s.notify_bounce = classes->has(mail::Problem::kBounce);
  s.notify_2bounce = classes->has(mail::Problem::k2Bounce);
  s.notify_delay = classes->has(mail::Problem::kDelay);
  s.double_bounce_sender = mail::qualify_with_origin(cfg.str("double_bounce_sender"), s.myorigin);
  s.max_queue_lifetime = cfg.time("maximal_queue_lifetime");
  if (std::string file(str::trim(cfg.str("bounce_template_file"))); !file.empty()) {
    auto text = read_file(file, kMaxTemplateFile);
    if (!text) return make_error("bounce_template_file: {}", text.error().message);
    // delay_warning_time_hours and the like: the parameter in that unit,
    // whole units (Postfix's bounce(5)); everything else is main.cf's.
    const std::pair<const char*, std::int64_t> times[] = {{"delay_warning_time", cfg.time("delay_warning_time").count()},
                                                          {"maximal_queue_lifetime", s.max_queue_lifetime.count()}};
    const std::pair<const char*, std::int64_t> units[] = {
        {"seconds", 1}, {"minutes", 60}, {"hours", 3600}, {"days", 86400}, {"weeks", 7 * 86400}};
    // Values are looked up once per name: the special ones above, else
    // main.cf's (expanded), else empty, as an undefined $name in main.cf.
    std::map<std::string, std::string, std::less<>> values;
    for (const auto& [name, value] : times)
      for (const auto& [unit, secs] : units) values[fmt::format("{}_{}", name, unit)] = std::to_string(value / secs);
    auto lookup = [&](std::string_view name) -> const std::string* {
      auto it = values.find(name);
      if (it == values.end()) it = values.emplace(std::string(name), cfg.get(name).value_or("")).first;
      return &it->second;
    };
    auto expand = [&](std::string_view raw) -> Result<std::string> {
      auto x = expand_attributes(raw, lookup);
      if (!x) return x.take_error();
      return std::move(x->text);
    };
    auto parsed = parse_templates(*text, file, expand);
    if (!parsed) return parsed.take_error();
    for (const auto& w : parsed->warnings) log::warning("{}", w);
    s.templates = std::move(*parsed);
  }
  return s;
}

asio::awaitable<proto::StatusReply> handle_request(asio::io_context& io, const Settings& s,
                                                   const proto::BounceRequest& req) {
  auto id = queue::QueueId::parse(req.queue_id);
  if (!id) {
    // Not an ID: do not put it where log readers expect one.
    log::warning("refused request: {}", id.error().message);
    co_return reply(proto::kStatusFail, id.error().message);
  }
  const auto op = req.op;
  const auto service = s.log_queue;
  if (op == proto::BounceOp::Append) {
    auto st = append(s, *id, req);
    if (!st) co_return retry(id->str(), fmt::format("cannot append to status log: {}", st.error().message));
    co_return reply(proto::kStatusOk);
  }
  if (op == proto::BounceOp::Remove) {
    auto path = queue::queue_path(s.queue_root, service, *id, s.hash);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      co_return retry(id->str(), fmt::format("cannot remove {}: {}", path.string(), std::strerror(errno)));
    co_return reply(proto::kStatusOk);
  }
  if (op == proto::BounceOp::Flush && service == queue::QueueName::Bounce)
    co_return co_await send_notice(io, s, *id, req, NoticeKind::Failure);
  if (op == proto::BounceOp::Flush && service == queue::QueueName::Trace)
    co_return co_await send_notice(io, s, *id, req, NoticeKind::Success);
  if (op == proto::BounceOp::Warn && service == queue::QueueName::Defer)
    co_return co_await send_notice(io, s, *id, req, NoticeKind::Delay);
  co_return fail(id->str(), fmt::format("operation {} is not offered by the {} service", op_name(op),
                                        queue::to_string(service)));
}

}  // namespace postern::bounce
