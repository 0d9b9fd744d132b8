// transcript.h - the SMTP session history that smtpd and the smtp/lmtp
// client mail to the postmaster (notify_classes), as Postfix's do.
//
// A session records each line it reads and each line it sends ("In:  ..."
// and "Out: ..." from its own point of view: smtpd's "In:" lines are the
// client's commands, the client's are the server's replies), and marks
// the kinds of error it met (mail::Problem). When a marked kind is in
// notify_classes, compose_notice() gives the message for the postmaster:
// "Subject: Postern SMTP server: errors from host[addr]" (or "SMTP
// client", "LMTP client"), the transcript, the reason the session was cut
// short, if it was.
//
// Each program reports its own classes: smtpd bounce (a message refused
// for its size), data, policy, protocol, resource and software; the
// client protocol only (a reply that breaks the protocol or has a code
// no server should send, Postfix's rule). With none of a program's
// classes in notify_classes nothing is recorded at all: the default
// (resource, software) costs the client nothing.
//
// Message content is never recorded, nor credentials (the callers pass
// AUTH's command and mechanism only). Bounded: at most max_bytes of
// history; after that the lines are only counted ("... N more lines not
// kept").
//
// Reads no parameters (the caller passes notify_classes), logs nothing.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "mail/notify.h"

namespace postern::mail {

inline constexpr std::size_t kMaxTranscriptBytes = 64 * 1024;
// Postfix's line_wrap() for the notice: 78 columns, 4 spaces before the
// continuation of a longer line.
inline constexpr std::size_t kNoticeWidth = 78;
inline constexpr std::size_t kNoticeIndent = 4;
// A notice is junk mail for the postmaster: posting one waits for cleanup
// this long at most (with ipc_timeout, an hour by default, a busy cleanup
// would hold up a client or a delivery).
inline constexpr std::chrono::seconds kNoticeTimeout{30};

// Whose transcript: the notice's subject says it.
enum class TranscriptRole : std::uint8_t { kSmtpServer, kSmtpClient, kLmtpClient };

class Transcript {
 public:
  // `notify`: notify_classes. With none of `role`'s classes in it nothing
  // is recorded (nothing would ever be sent).
  Transcript(Problems notify, TranscriptRole role, std::size_t max_bytes = kMaxTranscriptBytes);

  bool enabled() const { return enabled_; }
  TranscriptRole role() const { return role_; }
  // One line read from the peer, or sent to it (no line ending).
  void in(std::string_view line) { add("In:  ", line); }
  void out(std::string_view line) { add("Out: ", line); }
  // Text as it goes over the wire: one or more lines, each ending in CRLF.
  void in_wire(std::string_view wire) { add_wire("In:  ", wire); }
  void out_wire(std::string_view wire) { add_wire("Out: ", wire); }
  void problem(Problem p) { problems_.add(p); }

  // Whether the history has an error the postmaster wants to hear of.
  bool worth_sending() const { return enabled_ && problems_.intersects(notify_) && lines_ > 0; }
  // Bounce-class errors go to bounce_notice_recipient, the rest to
  // error_notice_recipient (Postfix's choice).
  bool bounce_class() const { return problems_.has(Problem::kBounce); }
  std::size_t lines() const { return lines_; }
  // The history lines, each ending in "\n" (for tests and the notice).
  const std::string& text() const { return text_; }
  std::size_t dropped() const { return dropped_; }
  // Forgets the lines and the errors.
  void reset();

 private:
  void add(std::string_view direction, std::string_view line);
  void add_wire(std::string_view direction, std::string_view wire);

  Problems notify_;
  TranscriptRole role_;
  bool enabled_;
  std::size_t max_bytes_;
  std::string text_;
  std::size_t lines_ = 0;
  std::size_t dropped_ = 0;
  Problems problems_;
};

struct NoticeFields {
  std::string mail_name;   // "Postern"
  std::string peer;        // host[addr] (the client's: host[addr]:port)
  std::string myhostname;  // for From: and Message-ID:
  std::string to;          // the recipient, as given in main.cf
  std::string queue_id;    // the notice's own (Message-ID:)
  std::time_t now = 0;
  std::string reason;      // why the session ended early: "lost connection", "timeout"; empty: it did not
};

// The whole notice, header and body, lines ending in "\n".
std::string compose_notice(const Transcript& t, const NoticeFields& f);

// Postfix's line_wrap(): `line` split at spaces into pieces of at most
// `width` columns (a word longer than that is cut), every piece after the
// first indented by `indent` spaces. Each piece is one string.
std::vector<std::string> wrap_line(std::string_view line, std::size_t width, std::size_t indent);

}  // namespace postern::mail
