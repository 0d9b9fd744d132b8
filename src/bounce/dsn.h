// dsn.h - compose RFC 3464 delivery status notifications (pure, no I/O).
//
// The bounce daemon reads a status log (queue/status_log.h) and the original
// queue file, and hands both to this module, which returns the complete
// notification text: RFC 5322 headers and a multipart/report body
// (RFC 6522, report-type=delivery-status) with three parts, shaped like
// Postfix's:
//
//   1. text/plain: a human-readable explanation and one line per recipient
//   2. message/delivery-status: per-message fields (Reporting-MTA,
//      X-Postern-Queue-ID, X-Postern-Sender, Original-Envelope-Id,
//      Arrival-Date) then one block per recipient (Final-Recipient,
//      Original-Recipient, Action, Status, Remote-MTA, Diagnostic-Code,
//      Last-Attempt-Date)
//   3. the original: message/rfc822 with the whole message (DSN RET=FULL)
//      or text/rfc822-headers with its header only (RET=HDRS, the default),
//      at most bounce_size_limit bytes of it (the body is cut, never the
//      structure of the report).
//
// Nothing here trusts its input. Status logs can be forged or damaged, ORCPT
// and ENVID come from the SMTP client, reasons from remote servers: every
// value that reaches a header or a DSN field is decoded and re-sanitised
// here (printable ASCII only, no CR/LF, bounded, folded at whitespace), so no
// input can start a new header line or a new DSN field. The MIME boundary is
// chosen so that it occurs nowhere in the composed parts.
//
// Which recipients a notice reports follows their DSN NOTIFY (RFC 3461):
// failure notices for NOTIFY unspecified or including FAILURE, delay notices
// for unspecified or DELAY, success notices only for SUCCESS.
//
// Reads no parameters (the caller passes them in NoticeInfo), logs nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "queue/status_log.h"
#include "template.h"

namespace postern::bounce {

enum class NoticeKind { Failure, Delay, Success };

// RFC 3461 NOTIFY semantics (queue::DsnNotify bits; 0 = not specified).
bool notice_wanted(NoticeKind kind, unsigned notify);

// The entries a notice of `kind` reports, in log order. An entry for the
// same recipient (and original recipient) logged again replaces the earlier
// one (qmgr may append twice after a crash), so every recipient appears once.
// `all`: every recipient whatever its NOTIFY (postmaster notices, as Postfix's
// DSN_NOTIFY_OVERRIDE).
std::vector<queue::StatusEntry> select_entries(NoticeKind kind, const std::vector<queue::StatusEntry>& entries,
                                               bool all = false);

// Printable ASCII only: controls (CR, LF, TAB, NUL...) become a space, bytes
// >= 0x80 and DEL become '?', runs of spaces collapse, cut to `max` bytes.
std::string sanitize_text(std::string_view s, std::size_t max = 1024);

// "rfc822; user@example.com" from a stored ORCPT "addr-type;xtext", or
// nullopt when it is not usable (no ';', bad addr-type, bad xtext, empty).
std::optional<std::string> original_recipient_field(std::string_view orcpt);

// The ENVID value for Original-Envelope-Id (xtext, RFC 3464 2.2.1), or
// nullopt when empty or unusable. Kept as xtext: re-encoded after decoding
// so that the field holds only xchars and "+HH".
std::optional<std::string> envelope_id_field(std::string_view envid);

// "Name: value\n", with the (already sanitised) value folded at spaces so
// that no line exceeds 78 bytes where possible and 998 bytes ever.
std::string fold_field(std::string_view name, std::string_view value);

// The Remote-MTA host of a relay ("mx.example.com[192.0.2.1]:25" ->
// "mx.example.com"), nullopt for other agents' relays ("none", "local",
// "virtual", a pipe service's name: no "[address]") and for a relay without
// a host name. Its Diagnostic-Code is "smtp; REPLY" only when the reason is
// the server's reply ("host X said: REPLY (in reply to ...)"), otherwise
// "X-Postern; REASON", as Postfix's is X-Postfix.
std::optional<std::string> remote_mta(std::string_view relay);

// Collects the returned original (bounded): feed it the content lines in
// order; it keeps the header (RET=HDRS) or the whole message (RET=FULL) up to
// `limit` bytes, whole lines only, and reports when it wants no more.
class OriginalCollector {
 public:
  OriginalCollector(bool full, std::size_t limit) : full_(full), limit_(limit) {}
  // One content piece (queue::ContentPiece: `complete` false when the next
  // piece continues the same line). Returns false once nothing more is
  // wanted (end of header for RET=HDRS, or the limit reached).
  bool add(std::string_view piece, bool complete);

  const std::string& text() const { return text_; }  // lines ending in "\n"
  bool full() const { return full_; }
  bool truncated() const { return truncated_; }
  bool has_8bit() const { return has_8bit_; }

 private:
  bool full_;
  std::size_t limit_;
  std::string text_;
  std::string line_;  // the line being assembled (bounded by limit_)
  bool in_header_ = true;
  bool done_ = false;
  bool truncated_ = false;
  bool has_8bit_ = false;
  bool line_too_long_ = false;
};

// The bound on a returned header (text/rfc822-headers) when
// bounce_size_limit is smaller: cleanup's header_size_limit keeps real
// headers well under it.
inline constexpr std::size_t kMaxReturnedHeader = 1024 * 1024;

struct NoticeInfo {
  NoticeKind kind = NoticeKind::Failure;
  std::string myhostname;     // Reporting-MTA, From:, text
  std::string mail_name = "Postern";  // X-<mail_name>-Queue-ID, -Sender, Diagnostic-Code type
  std::string queue_id;       // the original's
  std::string new_queue_id;   // the notice's (Message-ID, boundary)
  std::string sender;         // the original's envelope sender (internal form)
  std::string to;             // recipient of the notice (internal form)
  std::string envid;          // the original's ENVID, xtext as stored
  std::int64_t arrival = 0;   // the original's arrival time
  std::int64_t now = 0;       // Date:, Message-ID, boundary
  std::int64_t retry_until = 0;  // Delay: when delivery attempts stop (0: unknown)
  // Date strings are computed by the caller's clock/zone (mail::mail_date);
  // tests pass fixed ones.
  std::string date;           // Date: of the notice
  std::string arrival_date;   // Arrival-Date
  // Last-Attempt-Date for an entry's time; default: RFC 5322 date in UTC.
  std::string (*format_time)(std::int64_t) = nullptr;
  // A notice for the postmaster (notify_classes): Postfix's "Postmaster
  // Copy" / "Postmaster Warning" subjects, without the text for the sender.
  bool postmaster = false;
  // bounce_template_file's template for this kind (template.h); null: the
  // built-in text, From: and Subject:.
  const Template* templ = nullptr;
};

// Whether the notification is 8-bit: the returned original is, or the
// template's text is in a character set other than us-ascii (template.h;
// postmaster copies use the built-in text). compose_notice() labels its
// parts by this, and the notice is submitted as 8BITMIME by it.
bool notice_is_8bit(const NoticeInfo& info, const OriginalCollector& original);

// The whole notification (headers and body, lines ending in "\n").
// `entries` are the already selected ones (select_entries()).
std::string compose_notice(const NoticeInfo& info, const std::vector<queue::StatusEntry>& entries,
                           const OriginalCollector& original);

// The Subject: of a notice kind (of its postmaster copy).
std::string_view notice_subject(NoticeKind kind, bool postmaster = false);

}  // namespace postern::bounce
