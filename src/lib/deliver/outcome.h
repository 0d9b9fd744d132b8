// outcome.h - what became of one delivery attempt: sent, deferred or bounced, with a DSN.
//
// Every writer in this library (mailbox, Maildir, command) reports an
// Outcome: a disposition, an RFC 3463 enhanced status code ("2.0.0",
// "4.2.0", "5.2.2") and a human-readable text. Like Postfix's local(8), the
// class digit of the status decides what happens: 2 = sent, 4 = deferred
// (try again later), 5 = bounced (tell the sender). Outcome::from_dsn()
// applies that rule so a code computed in one place cannot disagree with the
// disposition recorded in another.
//
// mailbox_dsn() is Postfix's mbox_dsn(): it turns the errno of a failed file
// operation into a status code. EAGAIN/ESTALE -> 4.2.0 (mailbox busy or NFS
// hiccup), ENOSPC -> 4.3.0 (mail system full), EDQUOT/EFBIG -> 5.2.2 (mailbox
// full: quota or mailbox_size_limit), anything else -> the caller's default
// (5.2.0 for mailboxes, 4.2.0 where a retry may help).
//
// Attempt<T> is "a T, or the Outcome that explains why there is no T"; the
// open and lock primitives return it, so a failure can be handed straight to
// the bounce/defer logic.
//
// Reads no parameters and logs nothing.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace postern::deliver {

enum class Disposition { Sent, Deferred, Bounced };

std::string_view to_string(Disposition d);  // "sent", "deferred", "bounced"

struct Outcome {
  Disposition result = Disposition::Deferred;
  std::string dsn = "4.0.0";  // RFC 3463 status, class digit agrees with `result`
  std::string text;           // diagnostic for logs and DSNs, no trailing period
  int sys_errno = 0;          // errno of the system call that caused it, for diagnostics

  static Outcome sent(std::string text, std::string dsn = "2.0.0");
  static Outcome deferred(std::string dsn, std::string text, int err = 0);
  static Outcome bounced(std::string dsn, std::string text, int err = 0);
  // The class digit decides (2 sent, 4 deferred, 5 bounced). A malformed code
  // becomes a deferral with "4.0.0": never lose mail because of a bad code.
  static Outcome from_dsn(std::string_view dsn, std::string text, int err = 0);
  // Postfix's mbox_dsn() rule applied to errno, with `text` as the reason.
  static Outcome from_errno(int err, std::string_view default_dsn, std::string text);

  bool is_sent() const { return result == Disposition::Sent; }
  bool is_deferred() const { return result == Disposition::Deferred; }
  bool is_bounced() const { return result == Disposition::Bounced; }

  // Postfix prepends context, e.g. "cannot update mailbox /var/mail/u for
  // user u. " in front of the low-level reason.
  Outcome& prepend(std::string_view prefix);

  // "deferred 4.2.0 text" (for logs and tests).
  std::string to_string() const;
};

// soft_bounce (Postfix's safety net while a configuration is tested): a
// bounce is logged with status "SOFTBOUNCE" and handed on as a deferral,
// its status code's class digit made 4, so the message stays queued and
// the sender is told nothing. Everything else is reported as it is.
struct Reported {
  std::string dsn;          // what qmgr gets and the log shows
  std::string_view status;  // "sent", "deferred", "bounced" or "SOFTBOUNCE"
};
Reported report_outcome(const Outcome& o, bool soft_bounce);
// "5.1.1" -> "4.1.1" (soft_bounce); other codes are returned unchanged.
std::string soften_dsn(std::string_view dsn);

// Alias used by the command runner's documentation.
using DeliveryStatus = Outcome;

// Postfix's mbox_dsn(): errno -> enhanced status code (see the file comment).
std::string mailbox_dsn(int err, std::string_view default_dsn);

// Length of a valid RFC 3463 code at the start of `text` ("4.2.2 mailbox
// full" -> 5), or 0. Valid: class 2/4/5, subject and detail of 1-3 digits
// without leading zeros, followed by the end of text or white space. Same
// rules as Postfix's dsn_valid(); used on untrusted command output.
std::size_t dsn_prefix_length(std::string_view text);
bool valid_dsn(std::string_view dsn);

// A value, or the Outcome explaining the failure.
template <class T>
class [[nodiscard]] Attempt {
 public:
  Attempt(T value) : v_(std::move(value)) {}            // NOLINT: implicit by design
  Attempt(Outcome failure) : v_(std::move(failure)) {}  // NOLINT: implicit by design

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Outcome& failure() const { return std::get<1>(v_); }
  Outcome take_failure() { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Outcome> v_;
};

}  // namespace postern::deliver
