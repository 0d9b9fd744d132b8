// copy.h - format one message for a mailbox, a Maildir file or a command (Postfix's mail_copy()).
//
// The message content arrives as a stream of line pieces (ContentReader), the
// way the queue file stores it: a piece is a whole line without its
// terminator, or part of a long line that the next piece continues. The
// MessageFormatter turns that stream into output chunks of bounded size:
//
//   From sender  Wed Nov 23 17:32:24 2026      (from_line; MAILER-DAEMON for <>)
//   Return-Path: <sender>                       (return_path)
//   X-Original-To: original@recipient           (original_recipient, when known)
//   Delivered-To: final@recipient               (delivered_to)
//   ...message lines, "From " quoted as ">From " (quote_from), "." doubled (dot_stuff)...
//   <empty line>                                (blank_line)
//
// A line break inside a piece (only a forged queue file has one) ends the
// line there, with the same quoting as any other line start, so no message
// can smuggle an unquoted From_ line into a mailbox.
//
// Addresses are written in external (quoted) form, like Postfix's
// quote_822_local(). CR, LF and NUL in envelope addresses (which a forged
// queue file could carry) are replaced with '?' so they cannot start a new
// header line. The From_ date is asctime() format in local time, as Postfix
// writes it, always in English.
//
// Memory: one chunk holds at most ~64 KiB plus one content piece, whatever
// the message size.
//
// Reads no parameters (callers map prepend_delivered_header etc. to
// CopyOptions) and logs nothing.
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "deliver/outcome.h"

namespace postern::deliver {

// One piece of a content line: `complete` is false when the next piece
// continues the same line (a queue file L record), true for the last piece.
struct LinePiece {
  std::string_view data;  // without line terminator; valid until the next call
  bool complete = true;
};

// Produces the next piece; false at the end of the content. An Error should
// carry sys_errno: EBADMSG for a corrupt queue file, EAGAIN/ESTALE for a
// transient read problem.
using ContentReader = std::function<Result<bool>(LinePiece&)>;

// A ContentReader over text held in memory (tests, generated messages):
// splits at '\n' and drops one '\r' before it. A final line without '\n'
// counts as a line.
ContentReader string_content(std::string text);

struct Envelope {
  std::string sender;              // internal form; empty = null sender <>
  std::string original_recipient;  // X-Original-To; empty = not known (no header)
  std::string delivered_to;        // Delivered-To: the final recipient
};

struct CopyOptions {
  bool from_line = false;           // MAIL_COPY_FROM
  bool return_path = false;         // MAIL_COPY_RETURN_PATH
  bool original_recipient = false;  // MAIL_COPY_ORIG_RCPT (only when the envelope has one)
  bool delivered_to = false;        // MAIL_COPY_DELIVERED
  bool quote_from = false;          // MAIL_COPY_QUOTE: "From " at line start -> ">From "
  bool dot_stuff = false;           // MAIL_COPY_DOT: "." at line start -> ".."
  bool blank_line = false;          // MAIL_COPY_BLANK: empty line after the message
  std::string eol = "\n";           // line terminator
  std::optional<std::time_t> now;   // From_ line time; default: time(nullptr)

  // What local(8) uses for a UNIX mailbox (MAIL_COPY_MBOX).
  static CopyOptions mbox();
  // Maildir files: Return-Path, X-Original-To, Delivered-To; no From_, no quoting.
  static CopyOptions maildir();
  // Commands run by local(8): From_, Return-Path, X-Original-To, Delivered-To.
  static CopyOptions command();
};

class MessageFormatter {
 public:
  // `content` must outlive the formatter.
  MessageFormatter(Envelope envelope, CopyOptions options, ContentReader& content);

  // Replaces `out` with the next chunk of output (never empty when true);
  // false when everything was produced. Errors come from the ContentReader.
  Result<bool> next(std::string& out);

  // Bytes produced so far.
  std::uint64_t bytes() const { return bytes_; }

 private:
  void emit_headers(std::string& out);
  void emit_line_start(std::string& out, std::string_view head);
  void take_segment(std::string& out, std::string_view data, bool complete, std::size_t need);

  Envelope envelope_;
  CopyOptions options_;
  ContentReader& content_;
  bool started_ = false;
  bool finished_ = false;
  bool at_line_start_ = true;  // the next piece begins a new line
  bool in_line_ = false;       // the last piece emitted did not complete its line
  std::string head_;           // start of a line held back until quoting can be decided
  std::uint64_t bytes_ = 0;
};

// "Wed Nov 23 17:32:24 2026" (asctime() layout, local time, English names).
std::string from_line_date(std::time_t t);

// Envelope address (internal form) -> external form with the local part
// quoted when needed; CR/LF/NUL replaced with '?'.
std::string external_address(std::string_view internal);

// Write all of `data` to `fd`, retrying on EINTR and short writes.
// Returns false with errno set on failure.
bool write_all(int fd, std::string_view data);

// Writes everything `formatter` produces to `fd`. `start_size` is the file
// size before the message; with size_limit != 0 the file may not grow past
// size_limit (the failing write is reported as EFBIG, like Postfix's file
// size resource limit). Returns nothing on success, or the failure as an
// Outcome (Postfix mail_copy() texts and codes, see read_error_outcome() and
// mailbox_dsn(errno, "5.3.0") for write errors). Does not truncate or sync.
std::optional<Outcome> copy_to_fd(MessageFormatter& formatter, int fd, std::uint64_t start_size,
                                  std::uint64_t size_limit);

// A ContentReader failure as an Outcome: "error reading message: ...";
// 4.3.0 deferral for EAGAIN/ESTALE and for a corrupt queue file (EBADMSG or
// no errno), 5.3.0 bounce otherwise (Postfix mail_copy()).
Outcome read_error_outcome(const Error& error);

}  // namespace postern::deliver
