// transcript.h - the session history that smtpd mails to the postmaster
// (notify_classes), as Postfix's smtpd does.
//
// The session records each command line it reads ("In:  EHLO x") and each
// reply line it sends ("Out: 250 ..."), and marks the kinds of error it met
// (mail::Problem). When a marked kind is in notify_classes, compose_notice()
// gives the message for error_notice_recipient (bounce_notice_recipient for
// the bounce class): "Subject: Postern SMTP server: errors from
// host[addr]", the transcript, the reason the session was cut short, if it
// was.
//
// When: at the end of the session, and when the client sends HELO, EHLO,
// RSET or ends a message while the history is longer than
// smtpd_history_flush_threshold lines (then the history starts afresh, as
// in Postfix). Message content is never recorded, and of AUTH only the
// command and mechanism: a client's credentials are not mailed around.
//
// Bounded: at most kMaxTranscriptBytes of history; after that the lines
// are only counted ("... N more lines not kept").
//
// Reads no parameters (the session passes notify_classes), logs nothing.
#pragma once

#include <cstddef>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "mail/notify.h"

namespace postern::smtpd {

inline constexpr std::size_t kMaxTranscriptBytes = 64 * 1024;
// Postfix's line_wrap() for the notice: 78 columns, 4 spaces before the
// continuation of a longer line.
inline constexpr std::size_t kNoticeWidth = 78;
inline constexpr std::size_t kNoticeIndent = 4;

class Transcript {
 public:
  // `notify`: notify_classes. With none of smtpd's classes in it nothing is
  // recorded (nothing would ever be sent).
  explicit Transcript(mail::Problems notify, std::size_t max_bytes = kMaxTranscriptBytes);

  bool enabled() const { return enabled_; }
  void client(std::string_view line) { add("In:  ", line); }
  // A reply as sent on the wire: one or more lines, each ending in CRLF.
  void server(std::string_view wire);
  void problem(mail::Problem p) { problems_.add(p); }

  // Whether the history has an error the postmaster wants to hear of.
  bool worth_sending() const { return enabled_ && problems_.intersects(notify_) && lines_ > 0; }
  // Bounce-class errors go to bounce_notice_recipient, the rest to
  // error_notice_recipient (Postfix's choice).
  bool bounce_class() const { return problems_.has(mail::Problem::kBounce); }
  std::size_t lines() const { return lines_; }
  // The history lines, each ending in "\n" (for tests and the notice).
  const std::string& text() const { return text_; }
  std::size_t dropped() const { return dropped_; }
  // Forgets the lines and the errors.
  void reset();

 private:
  void add(std::string_view direction, std::string_view line);

  mail::Problems notify_;
  bool enabled_;
  std::size_t max_bytes_;
  std::string text_;
  std::size_t lines_ = 0;
  std::size_t dropped_ = 0;
  mail::Problems problems_;
};

struct NoticeFields {
  std::string mail_name;   // "Postern"
  std::string peer;        // host[addr]
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

}  // namespace postern::smtpd
