// queue_id_fuzz.cpp - libFuzzer target: arbitrary bytes as a queue ID.
//
// Whatever parses must be canonical (rebuilding it from its parts gives the
// same text), a safe file name (letters and digits only) and hash on five
// upper-case hex digits.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "queue/queue_id.h"

using namespace postern::queue;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto id = QueueId::parse(text);
  if (!id.ok()) return 0;
  if (id->str() != text) __builtin_trap();
  for (char c : text) {
    bool alnum = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    if (!alnum) __builtin_trap();
  }
  auto again = QueueId::make(id->format(), id->seconds().value_or(0), id->microseconds(), id->inode());
  if (!again.ok() || again->str() != text) __builtin_trap();
  auto h = id->hash_part();
  if (h.size() != QueueId::kHashPartLength) __builtin_trap();
  for (char c : h)
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) __builtin_trap();
  return 0;
}
