// data.h - message content on the wire: DATA decoding, BDAT chunks, DATA encoding.
//
// DataDecoder is the server side of DATA (RFC 5321 section 4.1.1.4 and
// 4.5.2). It is an incremental state machine: feed it whatever the socket
// returned, split anywhere (even between CR and LF, or between the dot and
// its CRLF), and it calls the sink with message lines, without terminators,
// dot-unstuffed. It stops right after the end-of-data sequence and tells
// the caller how many bytes it consumed, so that pipelined commands after
// the final "." go back to the command reader.
//
// End of data is recognised ONLY as CR LF "." CR LF, where the start of the
// DATA content counts as following a CR LF. No other sequence ends the data,
// whatever smtpd_forbid_bare_newline says: "\n.\n", "\n.\r\n", "\r\n.\n",
// "\r.\r", "\r\n\0.\r\n" and friends are message content (this is the SMTP
// smuggling defence, CVE-2023-51764; Postfix >= 3.9 with the default
// "normalize" behaves the same). Such a "." line is content like any other
// line that starts with a dot: the dot is removed.
//
// Line endings inside the content, as Postfix 3.9's "normalize" does:
//   CR LF       ends a line.
//   bare LF     ends a line too (counted in bare_lf_count(); with
//               smtpd_forbid_bare_newline = reject, smtpd rejects the
//               message after end-of-data, see BareNewline below).
//   bare CR     is content (a stray CR stays inside the line; counted in
//               bare_cr_count()). cleanup replaces stray CR/LF with a space
//               (cleanup_replace_stray_cr_lf) before the message is queued.
// Lines longer than max_line (line_length_limit) are cut into pieces of
// exactly max_line bytes; every piece but the last of a line has
// continued = true (Postfix's REC_TYPE_CONT records), so memory stays
// bounded whatever the client sends. message_bytes() counts content plus two
// bytes per line end, the figure smtpd compares with message_size_limit
// while the data is still arriving.
//
// BdatDecoder consumes BDAT chunks (RFC 3030): exactly the announced number
// of bytes per chunk, no dot-unstuffing, no end-of-data marker. The content
// is still split into lines for the queue file (CRLF and bare LF end a line;
// with BODY=BINARYMIME only CRLF does, so binary bytes survive unchanged).
// An unterminated last line is delivered when the LAST chunk completes.
//
// LineSplitter is the line-splitting engine of BdatDecoder, public for other
// byte streams that carry a message (qmqpd's QMQP payload, pickup).
//
// DataEncoder is the client side of DATA: dot-stuffing, CRLF line ends,
// reassembly of continued pieces, and the final ".\r\n".
//
// Parameters: none read here; callers pass line_length_limit and apply
// smtpd_forbid_bare_newline / message_size_limit with the counters. Logs
// nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "smtp/reply.h"

namespace postern::smtp {

// Postfix's line_length_limit default.
inline constexpr std::size_t kDefaultLineLimit = 2048;

// Receives one piece of a content line (no terminator). continued = true:
// more of the same line follows in the next call.
using LineSink = std::function<void(std::string_view piece, bool continued)>;

// smtpd_forbid_bare_newline (Postfix >= 3.9 semantics, see docs/smtp-protocol.md).
enum class BareNewline : std::uint8_t {
  Normalize,  // "normalize" (default) and "yes": bare LF ends a line; end of data must be CRLF.CRLF
  Reject,     // "reject": a bare LF in a command or in the content is rejected
  No,         // "no": like Normalize here; Postern never accepts a non-standard end of data
};

// "normalize", "yes", "reject", "no" (case-insensitive); nullopt otherwise.
std::optional<BareNewline> parse_bare_newline(std::string_view value);

// smtpd_forbid_bare_newline_reject_code (default 550): the reply to a
// command or message with a bare LF under BareNewline::Reject. Postfix's
// text: "<code> 5.5.2 <myhostname> Error: bare <LF> received".
Reply bare_newline_reply(int code = 550, std::string_view myhostname = {});

class DataDecoder {
 public:
  explicit DataDecoder(std::size_t max_line = kDefaultLineLimit);

  // Decode `bytes`. Returns how many were consumed: all of them, or fewer
  // when end-of-data was reached (the rest is not message content). Once
  // done(), returns 0 and does nothing until reset().
  std::size_t feed(std::string_view bytes, const LineSink& sink);

  bool done() const { return done_; }
  std::uint64_t message_bytes() const { return message_bytes_; }  // content + 2 per line
  std::uint64_t wire_bytes() const { return wire_bytes_; }        // consumed, including the final ".\r\n"
  std::uint64_t lines() const { return lines_; }
  std::uint64_t bare_lf_count() const { return bare_lf_; }
  std::uint64_t bare_cr_count() const { return bare_cr_; }

  // True when smtpd must refuse this message under `policy` (Reject and at
  // least one bare LF). Valid at any time; the final answer after done().
  bool rejects(BareNewline policy) const { return policy == BareNewline::Reject && bare_lf_ > 0; }

  // Start over for a new DATA command (same max_line).
  void reset();

 private:
  void append(std::string_view s, const LineSink& sink);
  void end_line(bool crlf, const LineSink& sink);

  std::size_t max_line_;
  std::string buf_;
  bool pending_cr_ = false;
  bool at_line_start_ = true;
  bool leading_dot_ = false;
  bool continued_ = false;  // pieces of the current line were already emitted
  bool prev_crlf_ = true;   // the start of DATA counts as following CRLF
  bool done_ = false;
  std::uint64_t message_bytes_ = 0;
  std::uint64_t wire_bytes_ = 0;
  std::uint64_t lines_ = 0;
  std::uint64_t bare_lf_ = 0;
  std::uint64_t bare_cr_ = 0;
};

class LineSplitter {
 public:
  // bare_lf_ends_line = false: only CRLF ends a line (binary content).
  explicit LineSplitter(std::size_t max_line = kDefaultLineLimit, bool bare_lf_ends_line = true);

  void feed(std::string_view bytes, const LineSink& sink);
  // Deliver an unterminated last line, if any (a pending CR becomes content).
  void finish(const LineSink& sink);

  std::uint64_t lines() const { return lines_; }
  std::uint64_t bare_lf_count() const { return bare_lf_; }
  std::uint64_t bare_cr_count() const { return bare_cr_; }
  bool mid_line() const { return pending_cr_ || continued_ || !buf_.empty(); }
  void reset();

 private:
  void append(std::string_view s, const LineSink& sink);
  void end_line(const LineSink& sink);

  std::size_t max_line_;
  bool bare_lf_ends_line_;
  std::string buf_;
  bool pending_cr_ = false;
  bool continued_ = false;
  std::uint64_t lines_ = 0;
  std::uint64_t bare_lf_ = 0;
  std::uint64_t bare_cr_ = 0;
};

class BdatDecoder {
 public:
  // binary = true for BODY=BINARYMIME: only CRLF ends a line.
  explicit BdatDecoder(std::size_t max_line = kDefaultLineLimit, bool binary = false);

  // Announce the next chunk (from "BDAT size [LAST]"). Fails when the previous
  // chunk is not complete or the LAST chunk was already seen.
  Status begin_chunk(std::uint64_t size, bool last);

  // Consume up to the rest of the current chunk from `bytes`; returns the
  // number of bytes taken (the rest is the next command). When the LAST
  // chunk completes, the unterminated final line (if any) is delivered; call
  // feed() even with no bytes for "BDAT 0 LAST".
  std::size_t feed(std::string_view bytes, const LineSink& sink);

  bool in_chunk() const { return chunk_open_; }
  std::uint64_t chunk_remaining() const { return remaining_; }
  bool done() const { return done_; }                             // LAST chunk fully consumed
  std::uint64_t message_bytes() const { return message_bytes_; }  // all chunk octets so far
  std::uint64_t bare_lf_count() const { return splitter_.bare_lf_count(); }
  std::uint64_t bare_cr_count() const { return splitter_.bare_cr_count(); }
  bool rejects(BareNewline policy) const {
    return !binary_ && policy == BareNewline::Reject && bare_lf_count() > 0;
  }
  // Start over for a new transaction.
  void reset();

 private:
  LineSplitter splitter_;
  bool binary_;
  bool chunk_open_ = false;
  bool last_ = false;
  bool done_ = false;
  std::uint64_t remaining_ = 0;
  std::uint64_t message_bytes_ = 0;
};

class DataEncoder {
 public:
  // `line_limit` (smtp_line_length_limit): a line longer than this many
  // bytes is broken after that many, and the rest goes on in the next line
  // behind one space (Postfix's way: least harm to MIME, and the space
  // keeps a header's continuation a continuation). 0: no limit; 1 counts as
  // 2, which still makes progress with the space.
  explicit DataEncoder(std::size_t line_limit = 0)
      : limit_(line_limit == 1 ? 2 : line_limit), space_(limit_) {}
  // Append the wire form of one piece of a content line to `out`: a leading
  // "." of a line is doubled; continued = false ends the line with CRLF.
  // A CR or LF inside the piece would let the content end the DATA phase or
  // smuggle commands downstream, so each one is sent as a space (what
  // Postfix's cleanup_replace_stray_cr_lf does before the message is queued).
  void put(std::string_view piece, bool continued, std::string& out);
  // Terminate an unfinished line and append the end-of-data ".\r\n".
  void finish(std::string& out);
  void reset() {
    at_line_start_ = true;
    space_ = limit_;
  }

 private:
  void end_line(std::string& out);
  std::size_t limit_ = 0;
  std::size_t space_ = 0;  // bytes the current line may still take (with a limit)
  bool at_line_start_ = true;
};

}  // namespace postern::smtp
