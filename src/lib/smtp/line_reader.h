// line_reader.h - server side: split the client's byte stream into command lines.
//
// smtpd feeds what the socket returned and takes command lines with next().
// Each line comes without its terminator and says how it ended: CRLF, or a
// bare LF (which smtpd accepts under smtpd_forbid_bare_newline = normalize
// or no, and answers with bare_newline_reply() under reject). A CR that is
// not followed by LF stays in the text; parse_command() rejects it.
//
// Memory is bounded by max_line plus what was fed since the last complete
// line: a line longer than max_line (line_length_limit) is cut at max_line
// bytes, the rest up to the LF is dropped as it arrives, and the line is
// returned with truncated = true (smtpd answers "500 5.5.2 Error: line too
// long" rather than act on half a command).
//
// buffered() is the number of received bytes not yet returned as a line:
// the "is the client talking ahead of our reply" test behind improper
// command pipelining (pipelining.h). take_buffered() hands those bytes to the
// DATA/BDAT decoder after DATA/BDAT, and is how smtpd discards plaintext
// that arrived behind STARTTLS (RFC 3207 section 4.2, CVE-2011-0411).
//
// Parameters: none read here (callers pass line_length_limit). Logs nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "smtp/data.h"

namespace postern::smtp {

enum class LineEnding : std::uint8_t { CrLf, BareLf };

struct InputLine {
  std::string text;  // without the terminator
  LineEnding ending = LineEnding::CrLf;
  bool truncated = false;  // the line was longer than max_line; text holds its first max_line bytes
};

class LineReader {
 public:
  explicit LineReader(std::size_t max_line = kDefaultLineLimit);

  void feed(std::string_view bytes);
  std::optional<InputLine> next();

  // Received bytes not yet returned by next() (a partial line counts).
  std::size_t buffered() const;
  // Remove and return the bytes not yet returned by next(). A partial line
  // that was being truncated cannot be returned whole; its kept prefix is.
  std::string take_buffered();
  void clear();

 private:
  std::size_t max_line_;
  std::string buf_;        // unconsumed input starting at pos_
  std::size_t pos_ = 0;
  bool skipping_ = false;  // dropping the rest of an over-long line
  std::string long_;       // the kept prefix of the over-long line
  bool skipped_cr_ = false;  // the last dropped byte was a CR
};

}  // namespace postern::smtp
