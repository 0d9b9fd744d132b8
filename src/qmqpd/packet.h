// packet.h - the QMQP request (http://cr.yp.to/proto/qmqp.html), parsed as
// its bytes arrive, and what qmqpd makes of its parts.
//
// A QMQP client sends one netstring holding netstrings: the message, the
// envelope sender, then one per recipient:
//
//   <total>:<len>:<message>,<len>:<sender>,<len>:<rcpt>,...,
//
// and the server answers with one netstring: "K" (queued), "Z" (try again
// later) or "D" (permanent failure) followed by a text.
//
// PacketReader takes bytes with feed() and hands out the parts one at a
// time with next(). Every part is bounded before its bytes are read (the
// length digits show a part too long, netstring.h): the message by
// PacketLimits::message (message_size_limit), each address by
// PacketLimits::address (line_length_limit), the whole request by
// PacketLimits::packet. The outer length must be exactly what the parts
// take. The reader holds the part being read plus what was fed after it,
// and the caller feeds only when next() asks for more, so memory stays
// within the bounds plus one read.
//
// Errors carry Postfix's words for the two kinds of broken request, so that
// the reply and the log can say "netstring format error while receiving
// sender address" as Postfix's qmqpd does.
//
// Reads no parameters, logs nothing; no Asio (the fuzzer links it alone).
#pragma once

#include <cstddef>
#include <string>
#include <optional>
#include <string_view>

#include "base/result.h"

namespace postern::qmqpd {

struct PacketLimits {
  std::size_t packet = 0;
  std::size_t message = 0;
  std::size_t address = 0;
};

class PacketReader {
 public:
  enum class Part { kNeedMore, kMessage, kSender, kRecipient, kEnd };

  explicit PacketReader(PacketLimits limits) : limits_(limits) {}

  void feed(std::string_view bytes);
  // The next part, kNeedMore when the bytes fed so far do not complete it,
  // kEnd (again and again) after the request's final ','. An error is final:
  // "netstring format error" or "netstring length exceeds storage limit".
  Result<Part> next();

  // After kMessage: the message, moved out.
  std::string take_message() { return std::move(message_); }
  // After kSender or kRecipient: the address.
  const std::string& address() const { return address_; }
  // What was being read, for errors: "receiving QMQP packet header",
  // "receiving message content", "receiving sender address",
  // "receiving recipient address".
  std::string_view where() const;
  // Bytes held (for tests of the memory bound).
  std::size_t buffered() const { return buf_.size() - pos_; }

 private:
  enum class State { kHeader, kMessage, kSender, kRecipients, kEnd, kFailed };
  Result<Part> fail(std::string_view reason);
  // Parses the netstring at pos_ bounded by `max`: false with `done` unset
  // when incomplete; an error when broken.
  Result<bool> take_netstring(std::size_t max, std::string& out);
  Status consume(std::size_t n);

  PacketLimits limits_;
  State state_ = State::kHeader;
  std::string buf_;
  std::size_t pos_ = 0;
  std::size_t packet_length_ = 0;  // the outer netstring's length
  std::size_t consumed_ = 0;       // bytes of it taken so far
  std::string message_;
  std::string address_;
  std::string_view failed_where_;
};

// The reply netstring: status 'K', 'Z' or 'D' and its text.
std::string reply(char status, std::string_view text);

// A sender of the form "prefix@origin-@[]" asks for VERP (qmail's
// convention, which Postfix's qmqpd honours). Postern has no VERP.
bool asks_for_verp(std::string_view sender);

// The message content as qmqpd passes it to cleanup, after its own
// Received: header, in Postfix's way: the message's leading "From " lines
// (also ">From ") become "X-Mailbox-Line:" headers, and a message whose
// first other line starts with white space gets an empty line before it,
// so that the line cannot continue the Received: header (it starts the
// body instead). The rest is passed unchanged.
//
// mailbox_line_at(): the "From " line that starts at `pos`, if that is one
// (without its newline), and where the next line starts; qmqpd walks the
// leading ones one at a time, so a message of nothing but such lines costs
// no memory beyond itself. needs_blank_line(): whether the rest of the
// message needs the empty line first.
struct MailboxLine {
  std::string_view line;
  std::size_t next = 0;
};
std::optional<MailboxLine> mailbox_line_at(std::string_view message, std::size_t pos);
bool needs_blank_line(std::string_view rest);

}  // namespace postern::qmqpd
