// quoted_printable.h - 8-bit body text to quoted-printable lines, streamed.
//
// What the smtp client needs to send an 8-bit MIME body part to a server
// that does not offer 8BITMIME (RFC 6152 section 3: the client must convert
// or not send). The rules are Postfix's mime_state_downgrade(), so that the
// output is what a Postfix relay would send:
//  - a byte below 32 other than TAB, "=", and any byte above 126 become
//    "=XX" (upper-case hex);
//  - an output line that has grown past 72 characters ends with a soft
//    break "=" before the next character is added (so no line exceeds 76);
//  - at the end of an input line a last SPACE or TAB is encoded, so that
//    no transport can strip it.
// A line may arrive in pieces (queue records of a long line); the state
// between pieces is the one output line being built, at most 76 bytes.
//
// Reads no parameters, logs nothing.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace postern::mail {

class QuotedPrintableEncoder {
 public:
  // Receives each finished output line, without its line break.
  using LineOut = std::function<void(std::string_view line)>;

  // Encodes `data`, a piece of one input line; `line_end`: the input line
  // ends after it (its last output line is then handed out too).
  void put(std::string_view data, bool line_end, const LineOut& out);

  // True while a piece of a line has been taken but its end has not.
  bool pending() const { return pending_; }

 private:
  std::string line_;  // the output line being built (at most 75 bytes between calls)
  bool pending_ = false;
};

}  // namespace postern::mail
