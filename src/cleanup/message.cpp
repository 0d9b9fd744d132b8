// message.cpp - envelope, recipients and streamed content of one message
// (see message.h for the rules and the log lines).
#include "cleanup/message.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <ctime>

#include "base/strings.h"
#include "config/transport.h"
#include "log/log.h"
#include "mail/address.h"
#include "mail/address_list.h"
#include "mail/date.h"
#include "queue/queue_file.h"

namespace postern::cleanup {

MappingError protocol_error() { return {451, "4.3.0", "internal protocol error", true}; }
MappingError write_error() { return {451, "4.3.0", "queue file write error"}; }
MappingError size_error() { return {552, "5.3.4", "message file too big"}; }
MappingError hops_error() { return {554, "5.4.0", "too many hops"}; }
MappingError no_recipients_error() { return {550, "5.1.0", "no recipients specified"}; }

namespace {

// sendmail -t on a message with thousands of To: addresses must not grow
// without bound when message_size_limit is 0.
constexpr std::size_t kMaxExtractedRecipients = 100000;

MappingError rewrite_error() { return {451, "4.3.0", "address rewriting error"}; }
MappingError lookup_error() { return {451, "4.3.0", "address lookup error"}; }

// Display names in an added From: header: quoted when they hold specials,
// with '"' and '\' escaped (RFC 5322 quoted-string).
std::string quote_phrase(std::string_view name) {
  static constexpr std::string_view kSpecials = "()<>[]:;@\\,.\"";
  if (name.find_first_of(kSpecials) == std::string_view::npos) return std::string(name);
  std::string out = "\"";
  for (char c : name) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

// A full name in a comment: parentheses and backslashes escaped.
std::string comment_text(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c == '(' || c == ')' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// Control characters never reach a header we build.
std::string clean_text(std::string_view s) {
  std::string out;
  for (unsigned char c : s)
    if (c >= 0x20 && c != 0x7f) out += static_cast<char>(c);
  return std::string(str::trim(out));
}

// One bin per queue root (the root is "/" after a chroot), for the life of
// the process.
queue::RecycleBin* recycle_bin(const std::filesystem::path& root) {
  static std::mutex mu;
  static std::map<std::filesystem::path, std::unique_ptr<queue::RecycleBin>> bins;
  std::lock_guard lk(mu);
  auto& b = bins[root];
  if (!b) b = std::make_unique<queue::RecycleBin>(root);
  return b.get();
}

}  // namespace

Result<std::unique_ptr<Message>> Message::create(Deps deps, std::int64_t flags, std::string origin,
                                                 const std::filesystem::path& queue_root) {
  queue::WriterOptions wo;
  wo.queue_root = queue_root.empty() ? deps.settings.queue_directory : queue_root;
  wo.queue = queue::QueueName::Incoming;
  wo.hash = deps.settings.hash;
  wo.id_format = deps.settings.id_format;
  wo.recycle = recycle_bin(wo.queue_root);
  auto w = queue::QueueFileWriter::create(wo);
  if (!w) return w.take_error();
  auto writer = std::make_shared<queue::QueueFileWriter>(std::move(*w));
  auto m = std::unique_ptr<Message>(new Message(deps, flags, std::move(origin), std::move(writer)));
  m->queue_root_ = wo.queue_root;
  return m;
}

Message::Message(Deps deps, std::int64_t flags, std::string origin, std::shared_ptr<queue::QueueFileWriter> w)
    : deps_(deps),
      flags_(flags),
      origin_(std::move(origin)),
      writer_(std::move(w)),
      id_(writer_->id().str()),
      dups_(deps.settings.duplicate_filter_limit, deps.settings.enable_original_recipient),
      parser_(mail::HeaderParserOptions{.header_size_limit = deps.settings.header_size_limit}) {}

void Message::fail(MappingError e) {
  if (error_) return;
  error_ = std::move(e);
  // Nothing more will be written: give the disk space back now.
  writer_->abandon();
}

bool Message::check_write(const Status& st) {
  if (st) return true;
  log::warning("{}: queue file write: {}", id_, st.error().message);
  fail(write_error());
  return false;
}

asio::awaitable<std::optional<std::string>> Message::rewrite_address(std::string_view rule,
                                                                     std::string_view address) {
  std::string a(address), r(rule);
  auto rw = co_await deps_.rewriter.rewrite(r, a);
  if (!rw) {
    log::warning("{}: address rewriting of {}: {}", id_, str::printable(a, 256), rw.error().message);
    fail(rewrite_error());
    co_return std::nullopt;
  }
  co_return std::move(*rw);
}

// ---------------------------------------------------------------------------
// Envelope

asio::awaitable<void> Message::envelope(submit::CleanupEnvelope env) {
  if (failed()) co_return;
  if (have_envelope_) {
    fail(protocol_error());
    co_return;
  }
  have_envelope_ = true;
  const auto& s = deps_.settings;

  std::string sender = env.sender;
  if (!sender.empty()) {
    auto rw = co_await rewrite_address("local", sender);
    if (!rw) co_return;
    sender = std::move(*rw);
    // Postfix's cleanup_addr_sender(): MAILER-DAEMON@$myorigin (what a
    // bare MAILER-DAEMON becomes) is the null sender, so that mail from the
    // mail system itself never bounces back to it.
    if (str::istarts_with(sender, "MAILER-DAEMON@")) {
      auto daemon = co_await rewrite_address("local", "MAILER-DAEMON");
      if (!daemon) co_return;
      if (str::iequals(sender, *daemon)) sender.clear();
    }
  }
  if (!sender.empty()) {
    if (!(flags_ & submit::cleanup_flag::kNoAddressMappings)) {
      auto mapped = deps_.mapper.map_sender(sender, addr_class::kEnvelopeSender, id_);
      if (!mapped) {
        fail(lookup_error());
        co_return;
      }
      sender = std::move(*mapped);
      if (auto_bcc()) {
        auto bcc = deps_.mapper.sender_bcc(sender, id_);
        if (!bcc) {
          fail(lookup_error());
          co_return;
        }
        if (*bcc) add_auto_bcc(std::move(**bcc));
      }
    }
  }
  sender_ = sender;
  full_name_ = env.full_name ? clean_text(*env.full_name) : std::string();
  extract_notify_ = env.extract_notify ? static_cast<unsigned>(*env.extract_notify) : 0;
  // For the inspection log lines (Postfix's "from host[addr]" or "from local").
  if (!(flags_ & (submit::cleanup_flag::kBounce | submit::cleanup_flag::kNoHeaderBodyChecks))) {
    checks_ = deps_.checks;
    filter_chars_ = true;
  }
  strict_mime_ = deps_.settings.strict_mime() && deps_.settings.mime_input_processing &&
                 !(flags_ & submit::cleanup_flag::kBounce);
  smtputf8_ = env.smtputf8 && *env.smtputf8;
  if ((flags_ & submit::cleanup_flag::kAutoUtf8) && mail::has_8bit(sender_) && mail::valid_utf8(sender_))
    auto_utf8_ = true;
  if (env.client_addr && !env.client_addr->empty())
    client_ = str::printable(env.client_name.value_or("unknown"), 256) + "[" + str::printable(*env.client_addr, 64) + "]";
  helo_ = str::printable(env.helo.value_or(""), 256);
  protocol_ = str::printable(env.protocol.value_or(""), 32);
  arrival_ = env.arrival_time ? static_cast<std::time_t>(*env.arrival_time) : std::time(nullptr);
  header_context_ = (flags_ & submit::cleanup_flag::kBounce)
                        ? std::string()
                        : s.header_rewrite_context(env.client_addr.value_or(""), env.sasl_username.has_value() &&
                                                                                    !env.sasl_username->empty());

  queue::EnvelopeStart start;
  start.sender = sender_;
  start.arrival_sec = env.arrival_time ? *env.arrival_time : -1;
  if (s.delay_warning_time.count() > 0) start.warning_time = arrival_ + s.delay_warning_time.count();
  if (!check_write(writer_->begin(start))) co_return;

  auto attr = [&](std::string_view name, const std::optional<std::string>& v) -> bool {
    if (!v || v->empty()) return true;
    auto st = writer_->add_attribute(name, *v);
    if (!st) {
      // A value the queue file format refuses is a client bug, not a disk problem.
      log::warning("{}: bad envelope attribute {}: {}", id_, name, st.error().message);
      fail(protocol_error());
      return false;
    }
    return true;
  };
  namespace qa = queue::attr;
  std::optional<std::string> encoding;
  if (env.body) encoding = *env.body == "8BITMIME" ? "8bit" : "7bit";
  declared_8bit_ = encoding == "8bit";
  std::optional<std::string> utf8;
  if (env.smtputf8 && *env.smtputf8) utf8 = "yes";
  std::optional<std::string> context = header_context_.empty() ? std::nullopt : std::optional(header_context_);
  std::optional<std::string> origin = origin_.empty() ? std::nullopt : std::optional(origin_);
  if (!attr(qa::kClientName, env.client_name) || !attr(qa::kClientAddress, env.client_addr) ||
      !attr(qa::kClientPort, env.client_port) || !attr(qa::kHeloName, env.helo) ||
      !attr(qa::kProtocol, env.protocol) || !attr(qa::kSaslMethod, env.sasl_method) ||
      !attr(qa::kSaslUsername, env.sasl_username) || !attr(qa::kEncoding, encoding) ||
      !attr(qa::kSmtputf8, utf8) || !attr(qa::kDsnEnvid, env.envid) || !attr(qa::kDsnRet, env.ret) ||
      !attr(qa::kLogIdent, env.log_ident) || !attr(qa::kRewriteContext, context) || !attr(qa::kOrigin, origin) ||
      !attr(qa::kContentFilter, env.content_filter))
    co_return;
  (void)size_ok(0);
}

asio::awaitable<void> Message::recipient(submit::CleanupRecipient rcpt) {
  if (failed()) co_return;
  if (!have_envelope_ || content_started_) {
    fail(protocol_error());
    co_return;
  }
  // Named arguments only: see the GCC 12 note in session.cpp.
  std::string orcpt = rcpt.orcpt.value_or("");
  std::string original = rcpt.orig_rcpt.value_or(rcpt.address);
  last_rcpt_ = str::printable(rcpt.address, 300);
  co_await add_recipient(std::move(rcpt.address), std::move(orcpt), static_cast<unsigned>(rcpt.notify), false,
                         std::move(original));
}

asio::awaitable<void> Message::add_recipient(std::string address, std::string orcpt, unsigned notify,
                                             bool extracted, std::string original) {
  if (original.empty()) original = address;
  auto rw = co_await rewrite_address("local", address);
  if (!rw) co_return;
  std::vector<std::string> targets;
  if (flags_ & submit::cleanup_flag::kNoAddressMappings) {
    targets.push_back(std::move(*rw));
  } else {
    auto mapped = deps_.mapper.map_recipient(*rw, addr_class::kEnvelopeRecipient, id_);
    if (!mapped) {
      fail(lookup_error());
      co_return;
    }
    // Postfix: the copy's address is found for the canonical address,
    // before virtual alias expansion (which the copy gets in its turn).
    if (auto_bcc() && !adding_bcc_) {
      auto bcc = deps_.mapper.recipient_bcc(*mapped, id_);
      if (!bcc) {
        fail(lookup_error());
        co_return;
      }
      if (*bcc) add_auto_bcc(std::move(**bcc));
    }
    if (auto err = deps_.mapper.expand_virtual(*mapped, id_, targets)) {
      fail(*err);
      co_return;
    }
    // RFC 3461's option (b), Postfix's cleanup_out_recipient(): an alias
    // passes ENVID, RET and ORCPT on, NOTIFY without SUCCESS, and the
    // sender who asked for SUCCESS hears "expanded" once, for the alias.
    if ((notify & queue::kNotifySuccess) && (targets.size() > 1 || targets.front() != *mapped)) {
      queue::RecipientFields f;
      f.address = *mapped;
      f.orcpt = orcpt;
      f.notify = notify;
      if (deps_.settings.enable_original_recipient) f.orig_rcpt = original;
      expanded_.push_back(std::move(f));
      notify = notify == queue::kNotifySuccess ? static_cast<unsigned>(queue::kNotifyNever)
                                               : notify & ~static_cast<unsigned>(queue::kNotifySuccess);
    }
  }
  for (auto& t : targets) {
    if (t.empty() || !dups_.first(t, original, notify, orcpt)) continue;
    queue::RecipientFields f;
    f.address = t;
    if (deps_.settings.enable_original_recipient && t != original) f.orig_rcpt = original;
    f.orcpt = orcpt;
    f.notify = notify;
    auto off = extracted ? writer_->add_extracted_recipient(f) : writer_->add_recipient(f);
    if (!off) {
      // Over-long results and the like: the file format refuses them.
      log::warning("{}: cannot store recipient {}: {}", id_, str::printable(t, 256), off.error().message);
      fail(off.error().sys_errno ? write_error() : MappingError{550, "5.1.3", "bad recipient address syntax"});
      co_return;
    }
    ++nrcpt_;
    if ((flags_ & submit::cleanup_flag::kAutoUtf8) && mail::has_8bit(t) && mail::valid_utf8(t)) auto_utf8_ = true;
    if (!size_ok(0)) co_return;
  }
}

void Message::add_auto_bcc(std::string address) {
  if (auto_bcc_seen_.insert(address).second) auto_bcc_.push_back(std::move(address));
}

// ---------------------------------------------------------------------------
// Content

bool Message::size_ok(std::size_t more) {
  if (failed()) return false;
  auto limit = deps_.settings.message_size_limit;
  if (limit <= 0) return true;
  std::uint64_t size = (content_started_ ? envelope_bytes_ + content_bytes_ : writer_->bytes_written()) + more;
  if (size <= static_cast<std::uint64_t>(limit)) return true;
  log::warning("{}: message rejected: message size exceeds message_size_limit {}", id_, limit);
  fail(size_error());
  return false;
}

void Message::write_partial(std::string_view piece) {
  if (!size_ok(piece.size())) return;
  content_bytes_ += piece.size();
  if (check_write(writer_->add_partial(piece))) partial_open_ = true;
}

void Message::write_line(std::string_view line) {
  const std::size_t max = deps_.settings.line_length_limit;
  while (!failed() && line.size() > max) {
    write_partial(line.substr(0, max));
    line.remove_prefix(max);
  }
  if (failed() || !size_ok(line.size() + 1)) return;
  content_bytes_ += line.size() + 1;
  if (check_write(writer_->add_line(line))) partial_open_ = false;
}

// Body text: `piece` continues the current line; `complete` ends it. At
// most line_length_limit bytes plus one frame are held.
void Message::body_text(std::string_view piece, bool complete) {
  const std::size_t max = deps_.settings.line_length_limit;
  line_.append(piece);
  std::size_t off = 0;
  while (!failed() && line_.size() - off > max) {
    write_partial(std::string_view(line_).substr(off, max));
    off += max;
  }
  if (complete) {
    if (!failed()) write_line(std::string_view(line_).substr(off));
    line_.clear();
  } else {
    line_.erase(0, off);
  }
}

asio::awaitable<void> Message::content(std::string_view data) {
  if (failed()) co_return;
  if (!have_envelope_) {
    fail(protocol_error());
    co_return;
  }
  if (!content_started_) {
    content_started_ = true;
    envelope_bytes_ = writer_->bytes_written();
  }
  if (filter_chars_ && !filter_characters(data)) co_return;
  while (!data.empty() && !failed()) {
    auto nl = data.find('\n');
    bool complete = nl != std::string_view::npos;
    std::string_view piece = complete ? data.substr(0, nl) : data;
    data.remove_prefix(complete ? nl + 1 : data.size());
    co_await take(piece, complete);
  }
}

// Postfix's message_reject_characters and message_strip_characters, on the
// raw content (headers and body, before MIME decoding, as header_checks
// see it). False: the message is refused ("550 5.7.1 disallowed
// character"); otherwise `data` may now view stripped_.
bool Message::filter_characters(std::string_view& data) {
  const auto& s = deps_.settings;
  if (!s.reject_chars.empty()) {
    if (std::size_t at = data.find_first_of(s.reject_chars); at != std::string_view::npos) {
      // The line that holds it (as much of it as this frame has), for the log.
      std::size_t begin = data.rfind('\n', at);
      begin = begin == std::string_view::npos ? 0 : begin + 1;
      std::string_view line = data.substr(begin, data.find('\n', at) - begin);
      MappingError e{550, "5.7.1", "disallowed character"};
      log_action("reject", "content", line, e.dsn + " " + e.reason);
      fail(std::move(e));
      return false;
    }
  }
  if (!s.strip_chars.empty() && data.find_first_of(s.strip_chars) != std::string_view::npos) {
    stripped_.clear();
    for (char c : data)
      if (s.strip_chars.find(c) == std::string::npos) stripped_ += c;
    data = stripped_;
  }
  return true;
}

asio::awaitable<void> Message::take(std::string_view piece, bool complete) {
  if (!in_headers_) {
    if (inspecting_body_) inspect_body_text(piece, complete);
    else body_text(piece, complete);
    co_return;
  }
  if (discard_rest_) {
    // The rest of an over-long header line: the parser already has as
    // much of it as header_size_limit allows.
    if (complete) discard_rest_ = false;
    co_return;
  }
  // One byte more than the limit makes the parser mark the header truncated.
  const std::size_t cap = deps_.settings.header_size_limit + 1;
  std::size_t room = cap > line_.size() ? cap - line_.size() : 0;
  if (piece.size() <= room) {
    line_.append(piece);
    if (!complete) co_return;
    std::string line = std::move(line_);
    line_.clear();
    co_await header_line(line, false);
    co_return;
  }
  // The line is longer than any header may be.
  line_.append(piece.substr(0, room));
  std::string_view rest = piece.substr(room);
  bool header_like =
      line_.empty() || mail::header_name_length(line_) > 0 || line_.front() == ' ' || line_.front() == '\t';
  if (header_like) {
    std::string line = std::move(line_);
    line_.clear();
    discard_rest_ = !complete;
    co_await header_line(line, false);
    co_return;
  }
  // A body line that ends the header section without an empty line: let
  // the parser see its beginning, then stream it as body text.
  co_await header_line(line_, true);
  if (failed()) co_return;
  if (in_headers_) {
    // The parser took it for a header after all: treat it as one.
    line_.clear();
    discard_rest_ = !complete;
    co_return;
  }
  // line_ still holds the beginning: the body path takes it from there.
  if (inspecting_body_) inspect_body_text(rest, complete);
  else body_text(rest, complete);
}

// probe_only: `line` is the beginning of a body line that the caller keeps
// in line_ and writes itself.
asio::awaitable<void> Message::header_line(std::string_view line, bool probe_only) {
  std::string copy(line);
  auto step = parser_.feed(copy);
  if (step.header) co_await handle_header(std::move(*step.header));
  if (failed()) co_return;
  // The empty line that ends the headers is not a body line: write it (or
  // insert it when a body line ended the headers), after any added headers.
  if (step.end_of_headers) co_await end_of_headers(true);
  if (failed()) co_return;
  if (step.body_line && !probe_only) {
    if (inspecting_body_) (void)body_line(copy, true);
    else write_line(copy);
  }
}

void Message::log_message_id(std::string_view label, std::string_view value) {
  log::info("{}: {}={}", id_, label, str::printable(str::trim(value), 512));
}

asio::awaitable<void> Message::handle_header(mail::Header h) {
  using mail::HeaderKind;
  const auto& s = deps_.settings;
  if (checks_) {
    // MIME headers of the primary section go to mime_header_checks, as in
    // Postfix, unless MIME processing is off.
    bool mime = s.mime_input_processing && (mail::header_flags(h.kind) & mail::header_flag::kMime);
    if (!inspect_header(h, mime ? CheckClass::kMimeHeader : CheckClass::kHeader) || failed()) co_return;
  }
  auto kind = h.kind;
  unsigned flags = mail::header_flags(kind);
  note_transfer_encoding(h);
  if (kind == HeaderKind::kContentType && start_mime_scan()) {
    // Every Content-Type of the primary section counts, as in Postfix: a
    // second one must not hide the parts the first one announces.
    mime_->primary_content_type(h.value);
  }
  if (strict_mime_) {
    if (deps_.settings.strict_7bit_headers && !smtputf8_ && h.has_8bit) {
      mime_reject(mail::MimeProblem{mail::MimeError::k8bitInHeader, h.text().substr(0, 100)});
      co_return;
    }
    if (kind == HeaderKind::kContentTransferEncoding && start_mime_scan()) mime_->primary_transfer_encoding(h.value);
  }
  seen_.set(static_cast<std::size_t>(kind));
  if (flags & mail::header_flag::kResent) resent_ = true;

  if (kind == HeaderKind::kReceived && ++hops_ >= s.hopcount_limit) {
    log::warning("{}: message rejected: hopcount exceeded", id_);
    fail(hops_error());
    co_return;
  }
  if (kind == HeaderKind::kMessageId && !logged_message_id_) {
    logged_message_id_ = true;
    log_message_id("message-id", h.value);
  } else if (kind == HeaderKind::kResentMessageId) {
    log_message_id("resent-message-id", h.value);
  }

  bool extract = (flags_ & submit::cleanup_flag::kExtractRecipients) && !(flags_ & submit::cleanup_flag::kBounce);
  if (extract && (flags & mail::header_flag::kExtract)) {
    mail::AddressListOptions lo{.max_bytes = s.header_size_limit + 1,
                                .max_tokens = s.header_address_token_limit};
    if (auto list = mail::parse_address_list(h.value, lo)) {
      auto& into = (flags & mail::header_flag::kResent) ? extract_resent_ : extract_plain_;
      for (const auto& a : list->addresses) {
        if (a.address.is_null()) continue;
        if (extract_plain_.size() + extract_resent_.size() >= kMaxExtractedRecipients) {
          fail(MappingError{452, "4.5.3", "too many recipients"});
          co_return;
        }
        into.push_back(a.address.to_internal());
      }
    }
  }

  // message_drop_headers; with sendmail -t, Bcc: goes whatever the setting.
  if (s.drop_headers.count(str::lower(h.name))) co_return;
  if (extract && (kind == HeaderKind::kBcc || kind == HeaderKind::kResentBcc)) co_return;

  std::string text;
  if (!header_context_.empty() && mail::is_address_header(kind)) {
    std::string value = co_await rewrite_header_value(h);
    if (failed()) co_return;
    text = h.name + ":" + value;
  } else {
    text = h.text();
  }
  // As the header is written (Postfix's cleanup_out_header()).
  note_utf8_header(text);
  // Folded headers keep their folding: one queue file line per line.
  std::string_view rest = text;
  for (;;) {
    auto nl = rest.find('\n');
    write_line(rest.substr(0, nl));
    if (nl == std::string_view::npos || failed()) break;
    rest.remove_prefix(nl + 1);
  }
}

// Header addresses: the trivial-rewrite rule of the header context, then
// canonical mapping and masquerading for the header class.
asio::awaitable<std::string> Message::rewrite_header_value(const mail::Header& h) {
  const auto& s = deps_.settings;
  mail::AddressListOptions lo{.max_bytes = s.header_size_limit + 1, .max_tokens = s.header_address_token_limit};
  auto list = mail::parse_address_list(h.value, lo);
  if (!list || list->addresses.empty()) co_return h.value;
  bool sender_class = (mail::header_flags(h.kind) & mail::header_flag::kSender) != 0;
  std::vector<std::optional<mail::Address>> repl(list->addresses.size());
  for (std::size_t i = 0; i < list->addresses.size(); ++i) {
    const auto& a = list->addresses[i];
    if (a.address.is_null()) continue;
    std::string internal = a.address.to_internal();
    std::string addr = internal;
    if (header_context_ == "remote") {
      // Remote clients: only qualify, with remote_header_rewrite_domain.
      if (a.address.domain.empty() && a.address.route.empty())
        addr = internal + "@" + s.remote_header_rewrite_domain;
    } else {
      auto rw = co_await rewrite_address("local", internal);
      if (!rw) co_return h.value;
      addr = std::move(*rw);
    }
    if (!(flags_ & submit::cleanup_flag::kNoAddressMappings)) {
      auto mapped = sender_class ? deps_.mapper.map_sender(addr, addr_class::kHeaderSender, id_)
                                 : deps_.mapper.map_recipient(addr, addr_class::kHeaderRecipient, id_);
      if (!mapped) {
        fail(lookup_error());
        co_return h.value;
      }
      addr = std::move(*mapped);
    }
    if (addr != internal) repl[i] = mail::Address::from_internal(addr);
  }
  const mail::HeaderAddress* base = list->addresses.data();
  co_return mail::rewrite_address_list(h.value, *list, [&](const mail::HeaderAddress& a) {
    return repl[static_cast<std::size_t>(&a - base)];
  });
}

std::string Message::from_header_value(std::string_view address) const {
  std::string ext = mail::Address::from_internal(address).to_external();
  if (full_name_.empty()) return " " + ext;
  if (deps_.settings.obsolete_from_format) return " " + ext + " (" + comment_text(full_name_) + ")";
  return " " + quote_phrase(full_name_) + " <" + ext + ">";
}

asio::awaitable<void> Message::end_of_headers(bool write_separator) {
  using mail::HeaderKind;
  in_headers_ = false;
  const auto& s = deps_.settings;
  if ((checks_ && checks_->needs_body()) || strict_mime_) {
    inspecting_body_ = true;
    (void)start_mime_scan();
  } else if (mime_ && s.detect_8bit_encoding_header && mime_->primary_composite()) {
    // Only for the parts' Content-Transfer-Encoding headers: a body that
    // is not multipart/* or message/* has none.
    inspecting_body_ = true;
  }
  // Like Postfix 2.6+: missing headers are added for local submissions, for
  // clients that match local_header_rewrite_clients (header context
  // "local"), or for everyone with always_add_missing_headers.
  bool add = ((flags_ & submit::cleanup_flag::kLocalSubmission) || header_context_ == "local" ||
              s.always_add_missing_headers) &&
             !(flags_ & submit::cleanup_flag::kBounce);
  auto seen = [&](HeaderKind k) { return seen_.test(static_cast<std::size_t>(k)); };
  const char* prefix = resent_ ? "Resent-" : "";
  if (add) {
    if (!seen(resent_ ? HeaderKind::kResentFrom : HeaderKind::kFrom)) {
      std::string from = sender_;
      if (from.empty()) {
        auto rw = co_await rewrite_address("local", "MAILER-DAEMON");
        if (!rw) co_return;
        from = std::move(*rw);
      }
      write_line(std::string(prefix) + "From:" + from_header_value(from));
    }
    if (!seen(resent_ ? HeaderKind::kResentDate : HeaderKind::kDate))
      write_line(std::string(prefix) + "Date: " + mail::mail_date(arrival_));
    if (!seen(resent_ ? HeaderKind::kResentMessageId : HeaderKind::kMessageId)) {
      std::string mid = mail::make_message_id(arrival_, id_, s.myhostname);
      write_line(std::string(prefix) + "Message-ID: " + mid);
      log_message_id(resent_ ? "resent-message-id" : "message-id", mid);
      if (!resent_) logged_message_id_ = true;
    }
    // Any visible recipient header, Resent- or not, as Postfix's
    // VISIBLE_RCPT: a resent message with its original To: needs no
    // second To: (RFC 5322 allows one).
    if (!s.undisclosed_recipients_header.empty() && !seen(HeaderKind::kTo) && !seen(HeaderKind::kCc) &&
        !seen(HeaderKind::kResentTo) && !seen(HeaderKind::kResentCc))
      write_line(s.undisclosed_recipients_header);
  }
  if (!logged_message_id_) {
    logged_message_id_ = true;
    log::info("{}: message-id=<>", id_);
  }
  if (write_separator) write_line("");
}

asio::awaitable<std::optional<MappingError>> Message::finish(std::int64_t end_flags,
                                                              std::optional<std::string> content_filter,
                                                              std::optional<std::string> redirect) {
  if (!failed() && !have_envelope_) fail(protocol_error());
  if (!failed()) {
    if (!content_started_) {
      content_started_ = true;
      envelope_bytes_ = writer_->bytes_written();
    }
    // A last line without "\n" is a line all the same.
    if (in_headers_) {
      if (!line_.empty() && !discard_rest_) {
        std::string line = std::move(line_);
        line_.clear();
        co_await header_line(line, false);
      }
      if (!failed() && in_headers_) {
        if (auto h = parser_.finish()) co_await handle_header(std::move(*h));
        if (!failed()) co_await end_of_headers(false);
      }
    } else if (inspecting_body_) {
      if (long_rest_ || !line_.empty()) inspect_body_text("", true);
      if (!failed() && mime_) {
        if (auto last = mime_->finish(); last && last->header) part_header(std::move(*last->header), last->section);
        if (!failed() && mime_->problem()) mime_reject(*mime_->problem());
      }
    } else if (!line_.empty() || partial_open_) {
      body_text("", true);
    }
  }
  if (!failed() && (flags_ & submit::cleanup_flag::kExtractRecipients) &&
      !(flags_ & submit::cleanup_flag::kBounce)) {
    // Postfix: Resent-To/-Cc/-Bcc when the message has Resent- headers.
    auto list = std::move(resent_ ? extract_resent_ : extract_plain_);
    extract_plain_.clear();
    extract_resent_.clear();
    const std::string no_orcpt;
    for (auto& a : list) {
      std::string orcpt = no_orcpt;
      std::string original = a;
      co_await add_recipient(std::move(a), std::move(orcpt), extract_notify_, true, std::move(original));
      if (failed()) break;
    }
  }
  if (!failed() && nrcpt_ == 0) {
    log::warning("{}: message rejected: no recipients specified", id_);
    fail(no_recipients_error());
  }
  // Automatic BCC recipients go last, with NOTIFY=NEVER (Postfix 2.3 and
  // later: the sender never hears about a copy that cannot be delivered).
  if (!failed() && (auto_bcc() || !auto_bcc_.empty())) {
    // (auto_bcc_ may hold a BCC action's address without the flag.)
    if (auto_bcc() && !deps_.settings.always_bcc.empty()) add_auto_bcc(deps_.settings.always_bcc);
    adding_bcc_ = true;
    auto list = std::move(auto_bcc_);
    auto_bcc_.clear();
    auto_bcc_seen_.clear();
    for (auto& a : list) {
      std::string orcpt;
      std::string original = a;
      co_await add_recipient(std::move(a), std::move(orcpt), submit::notify::kNever, true, std::move(original));
      if (failed()) break;
    }
  }
  // The last word on the content filter: a FILTER action of the checks,
  // else one smtpd's access tables chose; either overrides the envelope's
  // (queue readers take the extracted segment's value).
  if (filter_) content_filter = std::move(filter_);
  if (!failed() && content_filter && !content_filter->empty())
    check_write(writer_->add_extracted_attribute(queue::attr::kContentFilter, *content_filter));
  if (!failed() && found_8bit_ && !declared_8bit_)
    check_write(writer_->add_extracted_attribute(queue::attr::kEncoding, "8bit"));
  if (!failed() && auto_utf8_ && !smtputf8_) {
    check_write(writer_->add_extracted_attribute(queue::attr::kSmtputf8, "yes"));
    smtputf8_ = true;
  }
  // Only SMTPUTF8 mail needs to know (the smtp client's requirement).
  if (!failed() && utf8_header_ && smtputf8_)
    check_write(writer_->add_extracted_attribute(queue::attr::kUtf8Headers, "yes"));
  if (redirect_) redirect = std::move(redirect_);
  if (!failed() && redirect && !redirect->empty())
    check_write(writer_->add_extracted_attribute(queue::attr::kRedirect, *redirect));
  if (!failed()) check_write(writer_->finish_write());
  // HOLD and DISCARD actions of header/body checks count like smtpd's.
  if (hold_) end_flags |= submit::end_flag::kHold;
  if (discard_) end_flags |= submit::end_flag::kDiscard;
  // Postfix's CLEANUP_FLAG_HOLD: the file is renamed before its ready mark,
  // so qmgr never sees it in incoming. A discard needs no move.
  if (!failed() && (end_flags & submit::end_flag::kHold) && !(end_flags & submit::end_flag::kDiscard))
    check_write(writer_->move_to_queue(queue_root_, queue::QueueName::Hold, deps_.settings.hash));
  co_return error_;
}

// ---- content inspection (checks.h) ---------------------------------------

bool Message::start_mime_scan() {
  const auto& s = deps_.settings;
  if (!((checks_ && checks_->needs_body()) || strict_mime_ || s.detect_8bit_encoding_header) ||
      !s.mime_input_processing)
    return false;
  if (!mime_)
    mime_.emplace(mail::MimeOptions{.header_size_limit = s.header_size_limit,
                                    .nesting_limit = s.mime_nesting_limit,
                                    .boundary_length_limit = s.mime_boundary_length_limit,
                                    .report_8bit_in_header = strict_mime_ && s.strict_7bit_headers && !smtputf8_,
                                    .report_8bit_in_7bit_body = strict_mime_ && s.strict_8bitmime_body,
                                    .report_encoding_domain = strict_mime_ && s.strict_encoding_domain,
                                    // Postfix refuses mail nested deeper than
                                    // mime_nesting_limit when it looks for the
                                    // checks; not when it only looks for
                                    // Content-Transfer-Encoding headers.
                                    .report_nesting = (checks_ && checks_->needs_body()) || strict_mime_});
  return true;
}

void Message::mime_reject(const mail::MimeProblem& p) {
  // Postfix's line: "ID: reject: mime-error TEXT: the header or line from
  // host[addr]; from=<s> to=<r>".
  log_action("reject", fmt::format("mime-error {}:", mail::mime_error_text(p.error)), p.text, "");
  checks_done_ = true;
  fail(MappingError{550, "5.6.0", std::string(mail::mime_error_text(p.error))});
}

namespace {

const char* class_name(CheckClass c) {
  switch (c) {
    case CheckClass::kHeader: return "header_checks";
    case CheckClass::kMimeHeader: return "mime_header_checks";
    case CheckClass::kNestedHeader: return "nested_header_checks";
    case CheckClass::kBody: return "body_checks";
  }
  return "checks";
}

// REJECT's reply: "550 5.7.1 text", a leading x.y.z code in the text taking
// its place (4.x.x answers 451), as Postfix's cleanup does.
MappingError reject_error(std::string_view text) {
  MappingError e{550, "5.7.1", "message content rejected"};
  text = str::trim(text);
  if (text.empty()) return e;
  auto sp = text.find(' ');
  std::string_view code = text.substr(0, sp);
  bool dsn = code.size() >= 5 && (code[0] == '4' || code[0] == '5') && code[1] == '.' &&
             code.find_first_not_of("0123456789.") == std::string_view::npos;
  if (dsn) {
    e.dsn = std::string(code);
    e.status = code[0] == '4' ? 451 : 550;
    text = sp == std::string_view::npos ? std::string_view() : str::trim(text.substr(sp));
  }
  if (!text.empty()) e.reason = str::printable(text, 500);
  return e;
}

}  // namespace

// Postfix's shape: "ID: reject: header Subject: x from host[addr];
// from=<s> to=<r> proto=ESMTP helo=<h>: 5.7.1 text".
void Message::log_action(std::string_view action, std::string_view context, std::string_view text,
                         std::string_view extra) {
  std::string line = fmt::format("{}: {}: {} {} from {}; from=<{}>", id_, action, context, str::printable(text, 200),
                                 client_, str::printable(sender_, 300));
  if (!last_rcpt_.empty()) line += fmt::format(" to=<{}>", last_rcpt_);
  if (!protocol_.empty()) line += fmt::format(" proto={}", protocol_);
  if (!helo_.empty()) line += fmt::format(" helo=<{}>", helo_);
  if (!extra.empty()) line += fmt::format(": {}", str::printable(extra, 500));
  log::info("{}", line);
}

void Message::write_text_lines(std::string_view text) {
  for (;;) {
    auto nl = text.find('\n');
    write_line(text.substr(0, nl));
    if (nl == std::string_view::npos || failed()) break;
    text.remove_prefix(nl + 1);
  }
}

bool Message::inspect(CheckClass c, std::string_view context, const std::string& text,
                      std::optional<std::string>& replacement) {
  if (checks_done_ || !checks_ || !checks_->has(c)) return true;
  auto v = checks_->lookup(c, text);
  if (!v) {
    log::warning("{}: {} lookup error: {}", id_, class_name(c), v.error().message);
    fail(MappingError{451, "4.3.0", "header/body checks lookup error"});
    return false;
  }
  if (!*v) return true;
  CheckAction a = parse_check_action(**v);
  const bool header = c != CheckClass::kBody;
  using K = CheckAction::Kind;
  switch (a.kind) {
    case K::kNone: return true;
    case K::kReject: {
      MappingError e = reject_error(a.text);
      log_action("reject", context, text, e.dsn + " " + e.reason);
      checks_done_ = true;
      fail(std::move(e));
      return false;
    }
    case K::kDiscard:
      log_action("discard", context, text, a.text);
      discard_ = true;
      checks_done_ = true;  // Postfix: nothing is inspected after DISCARD
      return true;
    case K::kHold:
      // Logged once, and not after DISCARD (Postfix).
      if (!hold_ && !discard_) {
        log_action("hold", context, text, a.text);
        hold_ = true;
      }
      return true;
    case K::kFilter:
      // Postfix: the argument must name transport:destination, else the
      // action is a table mistake and nothing happens. The last FILTER wins.
      if (a.text.find(':') == std::string::npos || !config::check_content_filter(a.text)) {
        log::warning("{}: bad FILTER action in {}: \"{}\": need transport:destination", id_, class_name(c),
                     str::printable(a.text, 200));
        return true;
      }
      log_action("filter", context, text, a.text);
      filter_ = a.text;
      return true;
    case K::kRedirect:
    case K::kBcc:
      // Postfix: the address needs a local part and a domain, else the
      // action is a table mistake. REDIRECT sends the message there instead
      // of to its recipients (the last one wins); BCC adds a recipient.
      if (a.text.find('@') == std::string::npos || a.text.front() == '@' || a.text.back() == '@' ||
          a.text.find_first_of(" \t") != std::string::npos) {
        log::warning("{}: bad {} action in {}: \"{}\": need user@domain", id_, a.word, class_name(c),
                     str::printable(a.text, 200));
        return true;
      }
      log_action(a.kind == K::kRedirect ? "redirect" : "bcc", context, text, a.text);
      if (a.kind == K::kRedirect) {
        redirect_ = a.text;
        checks_done_ = true;  // Postfix: nothing is inspected after REDIRECT
      } else {
        add_auto_bcc(a.text);
      }
      return true;
    case K::kIgnore: return false;
    // Postfix 3.2+: STRIP is IGNORE with a log line; PASS ends inspection
    // and keeps the line.
    case K::kStrip: log_action("strip", context, text, a.text); return false;
    case K::kPass:
      log_action("pass", context, text, a.text);
      checks_done_ = true;
      return true;
    case K::kWarn: log_action("warning", context, text, a.text); return true;
    case K::kInfo: log_action("info", context, text, a.text); return true;
    case K::kReplace:
    case K::kPrepend:
      // A header may only become (or be preceded by) a header: anything
      // else would end the header section early.
      if (header && (mail::header_name_length(a.text) == 0 || a.text.find('\n') != std::string::npos)) {
        log::warning("{}: {} action without a valid header in {}: {}", id_, a.word, class_name(c),
                     str::printable(a.text, 200));
        return true;
      }
      log_action(a.kind == K::kReplace ? "replace" : "prepend", context, text, a.text);
      if (a.kind == K::kReplace) replacement = a.text;
      else write_line(a.text);
      return true;
    case K::kUnknown:
      log::warning("{}: unknown command in {}: {}", id_, class_name(c), str::printable(**v, 200));
      return true;
  }
  return true;
}

bool Message::inspect_header(mail::Header& h, CheckClass c) {
  if (checks_done_ || !checks_ || !checks_->has(c)) return true;
  std::optional<std::string> replacement;
  if (!inspect(c, "header", h.text(), replacement)) return false;
  if (replacement) {
    std::size_t n = mail::header_name_length(*replacement);
    std::string_view rest = std::string_view(*replacement).substr(n);
    rest.remove_prefix(std::min(rest.find(':') + 1, rest.size()));
    mail::Header r;
    r.name = std::string(str::trim(std::string_view(*replacement).substr(0, n)));
    r.value = std::string(rest);
    r.kind = mail::classify_header(r.name);
    h = std::move(r);
  }
  return true;
}

void Message::note_transfer_encoding(const mail::Header& h) {
  // Postfix's cleanup does this for every header section, on the header the
  // checks let through (as its comment says, "allow 8-bit type info to
  // override 7-bit type info"), comparing the whole value.
  if (!found_8bit_ && deps_.settings.detect_8bit_encoding_header &&
      h.kind == mail::HeaderKind::kContentTransferEncoding) {
    const std::string_view v = str::trim(h.value);
    if (str::iequals(v, "8bit") || str::iequals(v, "binary")) found_8bit_ = true;
  }
}

void Message::note_utf8_header(std::string_view text) {
  if (utf8_header_ || !mail::has_8bit(text) || !mail::valid_utf8(text)) return;
  utf8_header_ = true;
  if (flags_ & submit::cleanup_flag::kAutoUtf8) auto_utf8_ = true;
}

void Message::part_header(mail::Header h, mail::MimeSection section) {
  if (checks_) {
    // Postfix: MIME headers anywhere go to mime_header_checks, the other
    // headers of an attached message to nested_header_checks.
    bool mime = section == mail::MimeSection::kMultipart ||
                (mail::header_flags(h.kind) & mail::header_flag::kMime);
    if (!inspect_header(h, mime ? CheckClass::kMimeHeader : CheckClass::kNestedHeader) || failed()) return;
    part_body_bytes_ = 0;  // a new part (or attached message) begins
  }
  note_transfer_encoding(h);
  const std::string text = h.text();
  note_utf8_header(text);
  write_text_lines(text);
}

bool Message::body_line(std::string_view line, bool whole) {
  mail::MimeStep step;
  if (mime_) step = mime_->feed(line);
  else step.body_line = true;
  if (step.header) part_header(std::move(*step.header), step.section);
  if (failed()) return false;
  if (mime_ && mime_->problem()) {
    mime_reject(*mime_->problem());
    return false;
  }
  if (!step.body_line) {
    // The empty line that ends a part's header section is written; any
    // other line belongs to a header still being assembled.
    if (line.empty()) write_line("");
    return false;
  }
  std::optional<std::string> replacement;
  bool keep = true;
  const auto limit = deps_.settings.body_checks_size_limit;
  if (checks_ && checks_->has(CheckClass::kBody) && !checks_done_ && part_body_bytes_ < limit) {
    part_body_bytes_ += line.size() + 1;
    keep = inspect(CheckClass::kBody, "body", std::string(line), replacement);
  }
  if (failed()) return false;
  if (replacement) {
    write_line(*replacement);
    return false;  // the rest of a long line goes with what it replaced
  }
  if (!keep) return false;
  if (whole) {
    write_line(line);
  } else {
    // The beginning of a longer line: the rest follows as its continuation.
    std::size_t max = deps_.settings.line_length_limit;
    while (!failed() && !line.empty()) {
      write_partial(line.substr(0, max));
      line.remove_prefix(std::min(max, line.size()));
    }
  }
  return true;
}

// Like body_text(), but a line is held whole (up to header_size_limit,
// where a MIME part header may reach) so that the scanner and the checks
// see it at once. A longer line is judged by its beginning: written as
// body, or dropped with it.
void Message::inspect_body_text(std::string_view piece, bool complete) {
  const auto& s = deps_.settings;
  if (long_rest_) {
    if (long_rest_written_) body_text(piece, complete);
    if (complete) long_rest_ = false;
    return;
  }
  const std::size_t cap = std::max(s.line_length_limit, s.header_size_limit);
  if (line_.size() + piece.size() <= cap) {
    line_.append(piece);
    if (!complete) return;
    std::string line = std::move(line_);
    line_.clear();
    (void)body_line(line, true);
    return;
  }
  std::size_t room = cap - std::min(cap, line_.size());
  line_.append(piece.substr(0, room));
  std::string first = std::move(line_);
  line_.clear();
  long_rest_written_ = body_line(first, false);
  long_rest_ = true;
  inspect_body_text(piece.substr(room), complete);
}

}  // namespace postern::cleanup
