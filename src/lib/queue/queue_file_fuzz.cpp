// queue_file_fuzz.cpp - libFuzzer target: arbitrary bytes as a queue file.
//
// Parses the input in memory with both validation modes, streams the content
// and all records, and, for an accepted file, checks that marking each
// recipient done in a memfd copy succeeds and is seen by a re-read (the
// in-place update must be sound for every file the reader accepts).
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  auto full = QueueFileReader::from_memory(bytes);
  ReadOptions fast;
  fast.verify_content = false;
  auto quick = QueueFileReader::from_memory(bytes, "(memory)", fast);
  // Full validation accepts a subset of what the envelope-only mode accepts.
  if (full.ok() && !quick.ok()) __builtin_trap();
  if (quick.ok()) drain(*quick);
  if (full.ok()) {
    drain(*full);
    check_done_marks(bytes, full->message());
  }
  return 0;
}
