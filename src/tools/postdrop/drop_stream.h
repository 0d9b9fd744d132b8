// drop_stream.h - the record stream that sendmail(1) writes to postdrop(1).
//
// sendmail hands a message to postdrop on a pipe as a sequence of records
// framed like queue file records (docs/queue-file.md): one type letter, a
// 4-byte big-endian payload length, the payload. The order is fixed:
//
//   S  sender (exactly once, first; empty = null sender <>)
//   A  attribute "name=value", only the names in kDropAttributes
//   R  recipient (queue file recipient payload: a/o/n fields)
//   M  content start
//   N  a message line without its terminator / L a piece of a long line
//   E  end; nothing may follow
//
// postdrop runs set-gid with a caller-controlled stdin, so decode_drop_stream()
// treats the stream as hostile: every length is checked against the queue
// file limits before the payload is read, every payload is validated, and
// anything out of order, unknown, truncated or trailing is refused. Records
// go straight into a QueueFileWriter (memory stays bounded); on any error the
// caller drops the writer, which removes the file.
//
// Reads no parameters, logs nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "queue/queue_file.h"
#include "queue/writer.h"

namespace postern::postdrop {

// Attributes a submitter may set (everything else is refused).
inline constexpr std::string_view kAttrFullName = "full_name";                    // -F, NAME, GECOS
inline constexpr std::string_view kAttrExtractRecipients = "extract_recipients";  // -t: "yes"
inline constexpr std::string_view kAttrSubmitProtocol = "submit_protocol";        // "sendmail" or "esmtp" (-bs)
// sendmail -t -N: the NOTIFY bits (queue::DsnNotify, decimal) for the
// recipients cleanup extracts from the header; command-line recipients
// carry their own.
inline constexpr std::string_view kAttrExtractNotify = "extract_notify";
bool is_drop_attribute(std::string_view name);
// The value of kAttrExtractNotify: NOTIFY bits, nullopt when malformed.
std::optional<unsigned> parse_extract_notify(std::string_view text);

// Largest number of recipients one submission may carry.
inline constexpr std::uint64_t kMaxDropRecipients = 100000;

// Writes stream records through `sink` (a pipe writer in sendmail, a string
// in tests). Long lines are split into L pieces of at most kMaxContentRecord.
class StreamEncoder {
 public:
  using Sink = std::function<Status(std::string_view)>;
  explicit StreamEncoder(Sink sink) : sink_(std::move(sink)) {}

  Status sender(std::string_view sender);
  Status attribute(std::string_view name, std::string_view value);
  Status recipient(const queue::RecipientFields& r);
  Status begin_content();
  Status line(std::string_view line);      // a complete line
  Status partial(std::string_view piece);  // a piece the next line()/partial() continues
  Status end();

 private:
  Status record(char type, std::string_view payload);
  Sink sink_;
};

// Reads up to `len` bytes; 0 at end of input.
using ByteReader = std::function<Result<std::size_t>(char* buf, std::size_t len)>;

struct DropSummary {
  std::string sender;
  std::uint64_t recipients = 0;
  std::uint64_t lines = 0;
  bool extract = false;
};

// Decodes a whole stream into `writer` (which must be fresh: this calls
// begin()). Stops at E and insists on end of input after it. The writer is
// not committed here.
Result<DropSummary> decode_drop_stream(const ByteReader& in, queue::QueueFileWriter& writer);

}  // namespace postern::postdrop
