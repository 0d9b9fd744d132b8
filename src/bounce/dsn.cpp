// dsn.cpp - see dsn.h.
#include "dsn.h"

#include <fmt/format.h>

#include <map>

#include "base/strings.h"
#include "mail/address.h"
#include "mail/date.h"
#include "mail/xtext.h"
#include "queue/queue_file.h"

namespace postern::bounce {
namespace {

// A report listing more recipients than this would be too large for cleanup
// (message_size_limit) and useless to a reader; the rest are counted.
constexpr std::size_t kMaxReported = 1000;
constexpr std::size_t kFoldWidth = 78;
constexpr std::size_t kMaxLine = 990;

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f'); }
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

// RFC 3461 xtext; bytes >= 0x80 pass (SMTPUTF8). nullopt when malformed.
std::optional<std::string> xtext_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '+') {
      if (i + 2 >= s.size() || !is_hex(s[i + 1]) || !is_hex(s[i + 2])) return std::nullopt;
      out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
      i += 2;
    } else if ((c >= '!' && c <= '~' && c != '=') || c >= 0x80) {
      out.push_back(static_cast<char>(c));
    } else {
      return std::nullopt;
    }
  }
  return out;
}

// Only what a host name or a boundary may hold.
std::string host_chars(std::string_view s, std::string_view extra = "") {
  std::string out;
  for (char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
        extra.find(c) != std::string_view::npos)
      out.push_back(c);
    if (out.size() >= 253) break;
  }
  return out;
}

std::string hostname(const NoticeInfo& info) {
  std::string h = host_chars(info.myhostname);
  return h.empty() ? "localhost" : h;
}

// Internal address -> external form for headers and text, then sanitised.
std::string external(std::string_view addr) {
  if (addr.empty()) return "<>";
  auto at = addr.rfind('@');
  std::string ext = at == std::string_view::npos
                        ? mail::quote_local(addr)
                        : mail::quote_local(addr.substr(0, at)) + std::string(addr.substr(at));
  return sanitize_text(ext, 1024);
}

bool valid_status(std::string_view s) {
  // class "." subject "." detail; class 2, 4 or 5; 1-3 digits each.
  if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') return false;
  std::size_t i = 2, digits = 0;
  int dots = 0;
  for (; i < s.size(); ++i) {
    if (s[i] >= '0' && s[i] <= '9') {
      if (++digits > 3) return false;
    } else if (s[i] == '.' && digits > 0 && dots == 0) {
      ++dots;
      digits = 0;
    } else {
      return false;
    }
  }
  return dots == 1 && digits > 0;
}

std::string_view default_status(NoticeKind k) {
  switch (k) {
    case NoticeKind::Failure: return "5.0.0";
    case NoticeKind::Delay: return "4.0.0";
    case NoticeKind::Success: return "2.0.0";
  }
  return "5.0.0";
}

std::string_view action_for(NoticeKind k, std::string_view logged) {
  for (std::string_view a : {"failed", "delayed", "delivered", "relayed", "expanded"})
    if (logged == a) return a;
  switch (k) {
    case NoticeKind::Failure: return "failed";
    case NoticeKind::Delay: return "delayed";
    case NoticeKind::Success: return "delivered";
  }
  return "failed";
}

std::string utc_date(std::int64_t t) { return mail::format_mail_date(static_cast<std::time_t>(t), 0, "UTC"); }

// Word-wraps sanitised text into lines of about `width` bytes; continuation
// lines start with `indent` (never empty, so no line of a part can begin
// with "--" and look like a boundary, nor be a field of its own).
std::string wrap(std::string_view first_prefix, std::string_view text, std::string_view indent, std::size_t width) {
  std::string out(first_prefix);
  std::size_t line_len = out.size();
  bool line_has_word = !out.empty() && out.back() != ' ';
  std::size_t pos = 0;
  while (pos < text.size()) {
    while (pos < text.size() && text[pos] == ' ') ++pos;
    if (pos >= text.size()) break;
    std::size_t end = text.find(' ', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view word = text.substr(pos, end - pos);
    pos = end;
    while (!word.empty()) {
      std::size_t sep = line_has_word ? 1 : 0;
      if (line_has_word && line_len + sep + word.size() > width) {
        out += "\n";
        out += indent;
        line_len = indent.size();
        line_has_word = false;
        sep = 0;
      }
      if (line_len + sep >= kMaxLine) {  // a prefix already fills the line
        out += "\n";
        out += indent;
        line_len = indent.size();
        line_has_word = false;
        sep = 0;
      }
      std::string_view piece = word;
      if (line_len + sep + piece.size() > kMaxLine) piece = word.substr(0, kMaxLine - line_len - sep);
      if (sep) out += ' ';
      out += piece;
      line_len += sep + piece.size();
      line_has_word = true;
      word.remove_prefix(piece.size());
      if (!word.empty()) {  // a word longer than a line: hard break
        out += "\n";
        out += indent;
        line_len = indent.size();
        line_has_word = false;
      }
    }
  }
  out += "\n";
  return out;
}

// "host X said: 550 5.1.1 ... (in reply to RCPT TO command)" -> "550 5.1.1 ...";
// nullopt for any other reason ("connect to X: Connection refused", "lost
// connection with X while ...", a local agent's text): those are not a
// server's reply, and their Diagnostic-Code is ours (X-Postern), as
// Postfix's is X-Postfix.
std::optional<std::string> smtp_diagnostic(std::string_view reason) {
  if (!reason.starts_with("host ")) return std::nullopt;
  auto said = reason.find(" said: ");
  if (said == std::string_view::npos) return std::nullopt;
  reason.remove_prefix(said + 7);
  if (auto irt = reason.rfind(" (in reply to "); irt != std::string_view::npos && reason.back() == ')')
    reason = reason.substr(0, irt);
  return std::string(reason);
}

std::string human_part(const NoticeInfo& info, const std::vector<queue::StatusEntry>& entries,
                       const OriginalCollector& original) {
  // The administrator's text (bounce_template_file) in place of the
  // built-in explanation, for the sender's notice only.
  const bool own = info.templ && !info.postmaster && !info.templ->text.empty();
  std::string t = own ? info.templ->text : fmt::format("This is the mail system at host {}.\n\n", hostname(info));
  // A postmaster notice has only the reasons (Postfix leaves out the text
  // meant for the sender too).
  if (own) {
    // (the template says it all)
  } else if (info.postmaster) {
    t += "Enclosed is the mail delivery report, for the postmaster.\n";
  } else {
    switch (info.kind) {
      case NoticeKind::Failure:
        t += "Your message could not be delivered to one or more of its recipients.\n"
             "This is a permanent error: the mail system has given up. The reasons\n"
             "are listed below, and your message (or its header) is attached.\n\n"
             "If you need help, contact your postmaster and include this report\n"
             "with the attached part. This notice was sent automatically; please\n"
             "do not reply to it.\n";
        break;
      case NoticeKind::Delay:
        t += "This is a warning only: you do NOT need to send your message again.\n\n"
             "Your message could not be delivered yet to the recipients listed\n"
             "below. The mail system keeps trying";
        if (info.retry_until > 0)
          t += fmt::format(" until\n{}, and tells you if it gives up", sanitize_text(utc_date(info.retry_until), 64));
        t += ".\nThe reasons for the delay are listed below.\n";
        break;
      case NoticeKind::Success:
        t += "Your message was delivered to the destinations listed below, as you\n"
             "asked. A destination that is a mailing list or a forwarding address may\n"
             "pass the message on; this report does not cover what happens there.\n";
        break;
    }
  }
  if (original.truncated()) t += "\nThe attached copy of your message has been shortened.\n";
  t += own ? "\n" : "\n                   The mail system\n\n";
  std::size_t n = 0;
  for (const auto& e : entries) {
    if (n++ == kMaxReported) break;
    std::string who = "<" + external(e.recipient) + ">";
    if (!e.original_recipient.empty() && e.original_recipient != e.recipient)
      who += " (expanded from <" + external(e.original_recipient) + ">)";
    std::string reason = sanitize_text(e.reason, 2048);
    if (reason.empty()) reason = info.kind == NoticeKind::Success ? "delivered" : "no reason given";
    t += wrap("", who + ": " + reason, "    ", kFoldWidth);
    t += "\n";
  }
  if (entries.size() > kMaxReported)
    t += fmt::format("({} more recipients are not listed.)\n", entries.size() - kMaxReported);
  return t;
}

std::string status_part(const NoticeInfo& info, const std::vector<queue::StatusEntry>& entries) {
  std::string s;
  s += fold_field("Reporting-MTA", "dns; " + hostname(info));
  // X-$mail_name-*, as Postfix's X-Postfix-Queue-ID; the null sender as
  // Postfix prints it.
  const std::string x = "X-" + host_chars(info.mail_name.empty() ? std::string("Postern") : info.mail_name);
  s += fold_field(x + "-Queue-ID", sanitize_text(info.queue_id, 64));
  s += fold_field(x + "-Sender",
                  "rfc822; " + (info.sender.empty() ? std::string("MAILER-DAEMON") : sanitize_text(info.sender, 1024)));
  if (auto envid = envelope_id_field(info.envid)) s += fold_field("Original-Envelope-Id", *envid);
  if (!info.arrival_date.empty()) s += fold_field("Arrival-Date", sanitize_text(info.arrival_date, 128));
  std::size_t n = 0;
  for (const auto& e : entries) {
    if (n++ == kMaxReported) break;
    s += "\n";
    s += fold_field("Final-Recipient", "rfc822; " + sanitize_text(e.recipient, 1024));
    // ORCPT as the client gave it; else the address before rewriting, when
    // there was one (Postfix's bounce_recipient_dsn()).
    if (auto orcpt = original_recipient_field(e.orcpt))
      s += fold_field("Original-Recipient", *orcpt);
    else if (!e.original_recipient.empty() && e.original_recipient != e.recipient)
      s += fold_field("Original-Recipient", "rfc822; " + sanitize_text(e.original_recipient, 1024));
    s += fold_field("Action", action_for(info.kind, e.action));
    s += fold_field("Status", valid_status(e.status) ? std::string_view(e.status) : default_status(info.kind));
    auto mta = remote_mta(e.relay);
    std::string reason = sanitize_text(e.reason, 2048);
    if (mta) s += fold_field("Remote-MTA", "dns; " + *mta);
    if (auto reply = mta ? smtp_diagnostic(reason) : std::nullopt)
      s += fold_field("Diagnostic-Code", "smtp; " + *reply);
    else if (!reason.empty())
      s += fold_field("Diagnostic-Code", x + "; " + reason);
    if (e.time > 0) {
      std::string when = info.format_time ? info.format_time(e.time) : utc_date(e.time);
      s += fold_field("Last-Attempt-Date", sanitize_text(when, 128));
    }
    if (info.kind == NoticeKind::Delay && info.retry_until > 0) {
      std::string until = info.format_time ? info.format_time(info.retry_until) : utc_date(info.retry_until);
      s += fold_field("Will-Retry-Until", sanitize_text(until, 128));
    }
  }
  return s;
}

}  // namespace

bool notice_wanted(NoticeKind kind, unsigned notify) {
  switch (kind) {
    case NoticeKind::Failure: return notify == queue::kNotifyNone || (notify & queue::kNotifyFailure);
    case NoticeKind::Delay: return notify == queue::kNotifyNone || (notify & queue::kNotifyDelay);
    case NoticeKind::Success: return (notify & queue::kNotifySuccess) != 0;
  }
  return false;
}

std::vector<queue::StatusEntry> select_entries(NoticeKind kind, const std::vector<queue::StatusEntry>& entries,
                                               bool all) {
  std::vector<queue::StatusEntry> out;
  std::map<std::pair<std::string_view, std::string_view>, std::size_t> seen;
  for (const auto& e : entries) {
    auto key = std::pair<std::string_view, std::string_view>(e.recipient, e.original_recipient);
    if (auto it = seen.find(key); it != seen.end()) {
      out[it->second] = e;  // the later entry is the newer word on this recipient
      continue;
    }
    seen.emplace(key, out.size());
    out.push_back(e);
  }
  if (!all) std::erase_if(out, [kind](const queue::StatusEntry& e) { return !notice_wanted(kind, e.notify); });
  return out;
}

std::string sanitize_text(std::string_view s, std::size_t max) {
  std::string out;
  out.reserve(std::min(s.size(), max));
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    char o = c < 0x20 ? ' ' : (c >= 0x7f ? '?' : static_cast<char>(c));
    if (o == ' ' && (out.empty() || out.back() == ' ')) continue;
    out.push_back(o);
    if (out.size() >= max) break;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::optional<std::string> original_recipient_field(std::string_view orcpt) {
  auto semi = orcpt.find(';');
  if (semi == std::string_view::npos || semi == 0 || semi > 32) return std::nullopt;
  std::string_view type = orcpt.substr(0, semi);
  for (char c : type)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
      return std::nullopt;
  auto value = xtext_decode(orcpt.substr(semi + 1));
  if (!value) return std::nullopt;
  std::string clean = sanitize_text(*value, 1024);
  if (clean.empty()) return std::nullopt;
  return fmt::format("{}; {}", type, clean);
}

std::optional<std::string> envelope_id_field(std::string_view envid) {
  if (envid.empty()) return std::nullopt;
  auto raw = xtext_decode(envid);
  std::string value = raw ? *raw : std::string(envid);
  if (value.size() > 100) value.resize(100);  // RFC 3461 4.4: at most 100 characters
  std::string enc = mail::xtext_encode(value);
  if (enc.empty()) return std::nullopt;
  return enc;
}

std::string fold_field(std::string_view name, std::string_view value) {
  return wrap(std::string(name) + ": ", sanitize_text(value, 4096), "\t", kFoldWidth);
}

std::optional<std::string> remote_mta(std::string_view relay) {
  // Only the smtp and lmtp clients name a host with its address
  // ("mx.example.com[192.0.2.1]:25"); other agents' relays are a word
  // ("local", "virtual", a pipe service's name), not an MTA.
  auto bracket = relay.find('[');
  if (bracket == std::string_view::npos) return std::nullopt;
  std::string_view host = relay.substr(0, bracket);
  if (host.empty() || host == "none" || host == "local") return std::nullopt;
  std::string clean = host_chars(host);
  if (clean.size() != host.size()) return std::nullopt;  // not a host name: do not guess
  return clean;
}

bool OriginalCollector::add(std::string_view piece, bool complete) {
  if (done_) return false;
  if (!line_too_long_) {
    std::size_t room = limit_ + 1 > line_.size() ? limit_ + 1 - line_.size() : 0;
    if (piece.size() > room) {
      piece = piece.substr(0, room);
      line_too_long_ = true;
    }
    line_.append(piece);
  }
  if (!complete) return true;
  if (in_header_ && line_.empty()) {
    in_header_ = false;
    if (!full_) {
      done_ = true;
      return false;
    }
  }
  if (text_.size() + line_.size() + 1 > limit_) {
    truncated_ = true;
    done_ = true;
    return false;
  }
  for (char c : line_)
    if (static_cast<unsigned char>(c) >= 0x80) has_8bit_ = true;
  text_ += line_;
  text_ += '\n';
  line_.clear();
  line_too_long_ = false;
  return true;
}

// A template's From: with the host added to a bare name, as cleanup would
// qualify it: "MAILER-DAEMON (Mail Delivery System)" ->
// "MAILER-DAEMON@host (Mail Delivery System)".
std::string template_from(std::string_view from, std::string_view host) {
  if (from.find('@') != std::string_view::npos) return std::string(from);
  auto lt = from.find('<');
  if (lt != std::string_view::npos) {
    auto gt = from.find('>', lt);
    if (gt == std::string_view::npos) return std::string(from);
    return fmt::format("{}@{}{}", from.substr(0, gt), host, from.substr(gt));
  }
  auto end = from.find_first_of(" \t(");
  if (end == std::string_view::npos) return fmt::format("{}@{}", from, host);
  return fmt::format("{}@{}{}", from.substr(0, end), host, from.substr(end));
}

std::string_view notice_subject(NoticeKind kind, bool postmaster) {
  if (postmaster && kind == NoticeKind::Failure) return "Postmaster Copy: Undelivered Mail";
  if (postmaster && kind == NoticeKind::Delay) return "Postmaster Warning: Delayed Mail";
  switch (kind) {
    case NoticeKind::Failure: return "Undelivered Mail Returned to Sender";
    case NoticeKind::Delay: return "Delayed Mail (still being retried)";
    case NoticeKind::Success: return "Successful Mail Delivery Report";
  }
  return "Mail Delivery Report";
}

namespace {
// The notice's text is the template's, in a character set other than
// us-ascii, and so 8-bit (template.h).
bool own_charset(const NoticeInfo& info) {
  return info.templ && !info.postmaster && !str::iequals(info.templ->charset, "us-ascii");
}
}  // namespace

bool notice_is_8bit(const NoticeInfo& info, const OriginalCollector& original) {
  return original.has_8bit() || own_charset(info);
}

std::string compose_notice(const NoticeInfo& info, const std::vector<queue::StatusEntry>& entries,
                           const OriginalCollector& original) {
  const std::string host = hostname(info);
  const std::string human = human_part(info, entries, original);
  const std::string status = status_part(info, entries);
  const std::string& orig = original.text();

  // A boundary that occurs nowhere in what it separates.
  std::string base = host_chars(fmt::format("{}.{}/{}", info.new_queue_id, info.now, host), "/");
  if (base.size() > 60) base.resize(60);
  std::string boundary = base;
  for (int n = 1;; ++n) {
    std::string delim = "--" + boundary;
    if (human.find(delim) == std::string::npos && status.find(delim) == std::string::npos &&
        orig.find(delim) == std::string::npos)
      break;
    boundary = fmt::format("{}/{}", base, n);
  }

  const Template* tp = info.templ;
  const bool charset = own_charset(info);
  const bool eight = notice_is_8bit(info, original);
  std::string m;
  m.reserve(human.size() + status.size() + orig.size() + 1024);
  if (tp && !tp->from.empty())
    m += fold_field("From", template_from(tp->from, host));
  else
    m += fmt::format("From: MAILER-DAEMON@{} (Mail Delivery System)\n", host);
  m += fold_field("To", external(info.to));
  const std::string& own_subject = !tp ? std::string() : info.postmaster ? tp->postmaster_subject : tp->subject;
  m += own_subject.empty() ? fmt::format("Subject: {}\n", notice_subject(info.kind, info.postmaster))
                           : fold_field("Subject", own_subject);
  if (!info.date.empty()) m += fold_field("Date", info.date);
  m += fmt::format("Message-ID: {}\n",
                   mail::make_message_id(static_cast<std::time_t>(info.now), info.new_queue_id, host));
  // RFC 3834: a reply to the sender's message, or (postmaster copies)
  // generated on the system's own account, as Postfix labels them.
  m += info.postmaster ? "Auto-Submitted: auto-generated\n" : "Auto-Submitted: auto-replied\n";
  m += "MIME-Version: 1.0\n";
  m += fmt::format("Content-Type: multipart/report; report-type=delivery-status;\n\tboundary=\"{}\"\n", boundary);
  m += fmt::format("Content-Transfer-Encoding: {}\n", eight ? "8bit" : "7bit");
  m += "\nThis is a MIME-encapsulated message.\n\n";

  m += fmt::format("--{}\n", boundary);
  m += fmt::format("Content-Description: Notification\nContent-Type: text/plain; charset={}\n",
                   charset ? tp->charset : std::string("us-ascii"));
  if (charset) m += "Content-Transfer-Encoding: 8bit\n";
  m += "\n";
  m += human;
  m += fmt::format("\n--{}\n", boundary);
  m += "Content-Description: Delivery report\nContent-Type: message/delivery-status\n\n";
  m += status;
  m += fmt::format("\n--{}\n", boundary);
  const char* what = info.kind == NoticeKind::Failure ? "Undelivered Message"
                     : info.kind == NoticeKind::Delay  ? "Delayed Message"
                                                       : "Delivered Message";
  if (original.full()) {
    m += fmt::format("Content-Description: {}\nContent-Type: message/rfc822\n", what);
  } else {
    m += fmt::format("Content-Description: {} Headers\nContent-Type: text/rfc822-headers\n", what);
  }
  if (eight) m += "Content-Transfer-Encoding: 8bit\n";
  m += "\n";
  m += orig;
  m += fmt::format("\n--{}--\n", boundary);
  return m;
}

}  // namespace postern::bounce
