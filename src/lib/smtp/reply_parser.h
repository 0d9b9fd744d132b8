// reply_parser.h - client side: turn the server's byte stream into Replies.
//
// Incremental and bounded: feed() takes whatever the socket returned (split
// anywhere) and queues every complete reply; next() hands them out in order.
// A reply is one or more lines "ddd-text" ... "ddd text" (RFC 5321 4.2.1);
// "ddd" alone is a valid last line. Lines end in CRLF; a bare LF is accepted
// as well (Postfix's smtp client is equally liberal with servers).
//
// The enhanced status code (RFC 2034/3463) is taken off every line that
// starts with one whose class matches the reply ("550 5.1.1 text");
// Reply::enhanced is the first one found, empty when the server sent none.
//
// Errors are sticky (the stream is out of step; the caller closes the
// connection) and are reported for:
//   - a line that does not start with a valid reply code (%x32-35 %x30-35
//     %x30-39) or has something other than SP, '-' or the line end after it;
//   - a continuation line with a different code than the first line;
//   - more than max_lines lines or more than max_reply_bytes bytes in one
//     reply (an endless multi-line reply cannot exhaust memory);
//   - more than max_queued complete replies not yet taken with next().
// Lines longer than max_line are truncated (the rest is read and dropped)
// and the reply is marked truncated(); this matches Postfix, which keeps
// talking to servers that send over-long lines.
//
// After STARTTLS the client must not use bytes that arrived before the TLS
// handshake: check has_buffered_input() after taking the 220 and treat
// anything there as a protocol violation (RFC 3207 section 4.2 / CVE-2011-0411
// seen from the client side).
//
// Parameters: none read here (smtp_reply_filter comes as a ReplyLineFilter) (callers may map line_length_limit onto
// ReplyLimits::max_line). Logs nothing.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "smtp/reply.h"

namespace postern::smtp {

struct ReplyLimits {
  std::size_t max_line = 2048;                // bytes per line kept; longer lines are truncated
  std::size_t max_lines = 500;                // lines per reply
  std::size_t max_reply_bytes = 256 * 1024;   // bytes per reply, terminators included
  std::size_t max_queued = 1000;              // complete replies waiting for next()
};

// smtp_reply_filter: given one reply line as received (without its end),
// a replacement line, nothing (keep it), or an Error (the table could not
// be asked).
using ReplyLineFilter = std::function<Result<std::optional<std::string>>(std::string_view line)>;

struct ParsedReply {
  Reply reply;
  bool truncated = false;  // at least one line was longer than max_line
};

class ReplyParser {
 public:
  explicit ReplyParser(ReplyLimits limits = {});

  // Consume all of `bytes`. Returns the (sticky) error once the input is
  // malformed or over a limit; replies completed before the error can still
  // be taken with next().
  Status feed(std::string_view bytes);

  std::optional<ParsedReply> next();
  bool has_reply() const { return !queue_.empty(); }
  bool failed() const { return failed_; }

  // Bytes of an incomplete reply, or complete replies not yet taken.
  bool has_buffered_input() const { return !queue_.empty() || reply_bytes_ > 0; }

  // Forget everything (new connection, or after the TLS handshake). The
  // line filter stays.
  void reset();

  // Every line goes through `f` before it is read (Postfix's
  // smtp_reply_filter); a replacement longer than max_line is cut. A
  // filter error is a sticky error like a malformed line, and
  // filter_failed() tells it apart.
  void set_line_filter(ReplyLineFilter f) { filter_ = std::move(f); }
  bool filter_failed() const { return filter_failed_; }
  // Every complete line, as read (after the filter, before it is checked:
  // a malformed one too), goes to `o` (the client's session transcript,
  // mail/transcript.h). Stays over reset(), like the filter.
  void set_line_observer(std::function<void(std::string_view line)> o) { observer_ = std::move(o); }

 private:
  Status fail(std::string why);
  Status take_line();

  ReplyLimits limits_;
  std::deque<ParsedReply> queue_;
  std::string line_;
  bool line_truncated_ = false;
  std::size_t line_raw_ = 0;  // bytes of the current line seen so far (LF excluded)
  bool last_cr_ = false;      // the last byte seen of the current line was a CR
  std::size_t reply_bytes_ = 0;
  bool in_reply_ = false;
  ParsedReply current_;
  bool failed_ = false;
  Error error_;
  ReplyLineFilter filter_;
  bool filter_failed_ = false;
  std::function<void(std::string_view)> observer_;
};

}  // namespace postern::smtp
