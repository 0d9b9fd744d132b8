// queue_file_fuzz.cpp - libFuzzer target: arbitrary bytes as a queue file.
//
// Parses the input in memory with both validation modes, streams the content
// and all records, and, for an accepted file, checks that marking each
// recipient done in a memfd copy succeeds and is seen by a re-read (the
// in-place update must be sound for every file the reader accepts), and
// that reading its recipients in slices (ReadOptions, then
// read_recipient_slice() on from each stopping point) yields exactly the
// recipients of the whole read.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "queue/reader.h"
#include "queue/update.h"

using namespace postern::queue;

namespace {

void drain(const QueueFileReader& rd) {
  auto c = rd.content();
  ContentPiece p;
  for (;;) {
    auto more = c.next(p);
    if (!more.ok() || !*more) break;
  }
  auto rc = rd.records();
  RawRecord r;
  for (;;) {
    auto more = rc.next(r);
    if (!more.ok() || !*more) break;
  }
}

void check_done_marks(const std::string& bytes, const QueueMessage& m) {
  int fd = ::memfd_create("queue-fuzz", MFD_CLOEXEC);
  if (fd < 0) return;
  if (::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) {
    ::close(fd);
    return;
  }
  std::size_t n = 0;
  for (const auto& r : m.recipients) {
    if (++n > 4) break;
    if (!mark_recipient_done(fd, r.offset).ok()) __builtin_trap();
  }
  if (!set_warning_time(fd, 1234567890).ok()) __builtin_trap();
  std::string after(bytes.size(), '\0');
  if (::pread(fd, after.data(), after.size(), 0) != static_cast<ssize_t>(after.size())) __builtin_trap();
  ::close(fd);
  auto again = QueueFileReader::from_memory(after);
  if (!again.ok()) __builtin_trap();
  if (again->message().warning_time != 1234567890) __builtin_trap();
  n = 0;
  for (const auto& r : again->message().recipients) {
    if (++n > 4) break;
    if (!r.done) __builtin_trap();
  }
}

void check_slices(const std::string& bytes, const QueueMessage& whole) {
  ReadOptions first;
  first.verify_content = false;
  first.max_recipients = 1;
  auto head = QueueFileReader::from_memory(bytes, "(memory)", first);
  if (!head.ok()) __builtin_trap();  // the same checks as the whole read
  std::vector<std::uint64_t> seen;
  for (const auto& r : head->message().recipients) seen.push_back(r.offset);
  std::uint64_t at = head->message().more_recipients_at;
  if (at != 0) {
    int fd = ::memfd_create("queue-fuzz-slices", MFD_CLOEXEC);
    if (fd < 0) return;
    if (::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) {
      ::close(fd);
      return;
    }
    while (at != 0 && seen.size() <= whole.recipients.size()) {
      auto part = read_recipient_slice(fd, "(memory)", whole.size, at, 2, false);
      if (!part.ok()) __builtin_trap();  // every stopping point of an accepted file reads on
      for (const auto& r : part->recipients) seen.push_back(r.offset);
      if (part->more_at != 0 && part->more_at <= at) __builtin_trap();
      at = part->more_at;
    }
    ::close(fd);
  }
  if (seen.size() != whole.recipients.size()) __builtin_trap();
  for (std::size_t i = 0; i < seen.size(); ++i)
    if (seen[i] != whole.recipients[i].offset) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  auto full = QueueFileReader::from_memory(bytes);
  ReadOptions fast;
  fast.verify_content = false;
  auto quick = QueueFileReader::from_memory(bytes, "(memory)", fast);
  // Full validation accepts a subset of what the envelope-only mode accepts.
  if (full.ok() && !quick.ok()) __builtin_trap();
  if (quick.ok()) {
    drain(*quick);
    check_slices(bytes, quick->message());
  }
  if (full.ok()) {
    drain(*full);
    check_done_marks(bytes, full->message());
  }
  return 0;
}
