// reader.h - open and validate a queue file; stream its content.
//
// QueueFileReader::open() checks the whole file before returning anything:
// every record's type is allowed in its segment, every length is within its
// limit, the size record agrees with the actual content offset, content size,
// extracted offset and recipient count, the end record is present and
// nothing follows it. A bad file yields an Error "corrupt queue file NAME:
// reason (offset N)" with sys_errno EBADMSG (is_corrupt()); it never crashes
// and never allocates more than one record's limit at a time.
//
// The content is not kept in memory: content() returns a cursor that reads
// one line piece (at most 1 MiB) at a time, so a 100 MB message costs no
// more memory than a small one.
//
// Files without the ready mark (owner execute bit, set by the writer's
// mark_ready()) are refused with sys_errno EAGAIN (is_not_ready()) unless
// ReadOptions::require_ready is false: this is what keeps qmgr away from a
// file that is still being written or whose writer died.
//
// Reads no parameters and logs nothing; errors go to the caller.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"
#include "base/unique_fd.h"
#include "queue/queue_file.h"

namespace postern::queue {

struct ReadOptions {
  // Refuse files without the ready mark (qmgr, delivery agents). Tools that
  // inspect files (postcat) turn this off.
  bool require_ready = true;
  // Walk the content segment as well. When false, the content is trusted to
  // lie between the M and X records named by the size record (both are still
  // checked), which saves reading large messages when only the envelope is
  // needed; content() still validates each record it returns.
  bool verify_content = true;
  // Open read-write, so the caller can patch done marks through fd().
  bool writable = false;
  // Which recipients message().recipients keeps. Every recipient record is
  // still read, checked and counted against the size record; these only
  // bound what stays in memory, so that a message with a million recipients
  // costs a delivery agent (which takes its recipients from the request)
  // nothing and the queue manager one slice at a time.
  //   max_recipients: keep at most this many (0: none);
  //   recipients_from: keep none whose record starts before this offset;
  //   pending_only: keep none that is marked done.
  // QueueMessage::more_recipients_at and recipients_not_kept say what the
  // limit left out.
  std::size_t max_recipients = SIZE_MAX;
  std::uint64_t recipients_from = 0;
  bool pending_only = false;
};

// Where bytes come from: a file descriptor (pread) or a memory buffer (tests,
// fuzzing, postcat reading a pipe).
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Up to `len` bytes at `offset`; 0 at end of file.
  virtual Result<std::size_t> read_at(std::uint64_t offset, char* buf, std::size_t len) = 0;
  virtual std::uint64_t size() const = 0;
};

struct RawRecord {
  char type = 0;
  std::uint64_t offset = 0;  // of the type byte
  Segment segment = Segment::Envelope;
  std::string_view payload;  // valid until the next call on the cursor
};

// Sequential, buffered, length-checked record reader over [begin, end).
// Frames records only; the segment is tracked from M/X/E records.
class RecordCursor {
 public:
  RecordCursor(std::shared_ptr<ByteSource> src, std::string name, std::uint64_t begin, std::uint64_t end,
               Segment start_segment);
  // false at `end` exactly on a record boundary; Error (EBADMSG) on a
  // truncated record, unknown type or over-long payload.
  Result<bool> next(RawRecord& out);
  std::uint64_t position() const { return pos_; }
  const std::string& name() const { return name_; }

 private:
  Status fill(std::size_t need);
  std::shared_ptr<ByteSource> src_;
  std::string name_;
  std::uint64_t pos_, end_;
  Segment segment_;
  std::string buf_;  // read-ahead window
  std::uint64_t buf_off_ = 0;
  std::string big_;  // payloads larger than the window
};

// One piece of a content line: `complete` is false for a piece that the next
// piece continues (an L record), true for the last piece of a line (N).
struct ContentPiece {
  std::string_view data;  // without line terminator; valid until next()
  bool complete = true;
  std::uint64_t offset = 0;
};

class ContentCursor {
 public:
  // false after the last piece.
  Result<bool> next(ContentPiece& out);

 private:
  friend class QueueFileReader;
  explicit ContentCursor(RecordCursor c) : cursor_(std::move(c)) {}
  RecordCursor cursor_;
  bool pending_partial_ = false;
};

class QueueFileReader {
 public:
  // Opens with O_NOFOLLOW and checks that it is a regular file.
  static Result<QueueFileReader> open(const std::filesystem::path& path, const ReadOptions& options = {});
  // Takes an already open descriptor (e.g. postcat reading stdin).
  static Result<QueueFileReader> open_fd(UniqueFd fd, std::string name, const ReadOptions& options = {});
  // Parses bytes held in memory (the ready mark does not apply).
  static Result<QueueFileReader> from_memory(std::string bytes, std::string name = "(memory)",
                                             const ReadOptions& options = {});

  const QueueMessage& message() const { return message_; }
  QueueMessage take_message() { return std::move(message_); }
  const std::string& name() const { return name_; }
  // The open descriptor (owned by the reader), or -1 for memory input.
  int fd() const { return fd_; }

  // The content lines, from just after M to just before X.
  ContentCursor content() const;
  // Every record in file order (postcat).
  RecordCursor records() const;

 private:
  QueueFileReader() = default;
  static Result<QueueFileReader> load(std::shared_ptr<ByteSource> src, std::string name, int fd,
                                      const ReadOptions& options);
  std::shared_ptr<ByteSource> src_;  // owns the descriptor; cursors share it
  int fd_ = -1;
  std::string name_;
  QueueMessage message_;
};

// The next slice of the recipients of a file that QueueFileReader has
// validated (qmgr's later slices). `from` is a record boundary an earlier
// read reported (QueueMessage::more_recipients_at, RecipientSlice::more_at);
// reading stops as soon as `max` recipients are kept, so a list read in n
// slices costs one pass over the file, not n. Every record read is framed
// and checked for its segment, every recipient decoded, the content skipped
// by the size record (`size`, from the validating read); anything that does
// not fit is an Error with EBADMSG. `fd` stays the caller's.
struct RecipientSlice {
  std::vector<Recipient> recipients;
  std::uint64_t more_at = 0;  // where the next slice starts; 0: none left
};
Result<RecipientSlice> read_recipient_slice(int fd, const std::string& name, const SizeRecord& size,
                                            std::uint64_t from, std::size_t max, bool pending_only);

// Every recipient a reader opened with ReadOptions::max_recipients left to
// read, a slice at a time: first the ones it kept, then read_recipient_slice()
// on from where it stopped, `slice` at most in memory. `each` sees every
// slice and returns whether to go on; an error from it or from reading ends
// the walk and is returned. (`pending_only` as the reader's options said.)
Status for_each_recipient_slice(const QueueFileReader& reader, std::size_t slice, bool pending_only,
                                const std::function<Result<bool>(const std::vector<Recipient>&)>& each);

// Convenience: open + validate, envelope only.
Result<QueueMessage> read_queue_file(const std::filesystem::path& path, const ReadOptions& options = {});

}  // namespace postern::queue
