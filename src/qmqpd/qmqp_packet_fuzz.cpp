// Fuzzes the QMQP request reader with hostile bytes fed in pieces: it must
// never crash, read out of bounds, or hold more than its bounds allow.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "qmqpd/packet.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t step = 1 + data[0] % 64;
  std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  postern::qmqpd::PacketLimits limits{4096, 1024, 256};
  postern::qmqpd::PacketReader r(limits);
  std::size_t fed = 0;
  for (int i = 0; i < 100000; ++i) {
    auto part = r.next();
    if (!part) break;
    if (*part == postern::qmqpd::PacketReader::Part::kEnd) break;
    if (*part == postern::qmqpd::PacketReader::Part::kNeedMore) {
      if (fed >= bytes.size()) break;
      r.feed(bytes.substr(fed, step));
      fed += step;
    } else if (*part == postern::qmqpd::PacketReader::Part::kMessage) {
      if (r.take_message().size() > limits.message) std::abort();
    } else if (r.address().size() > limits.address) {
      std::abort();
    }
    // What is held: at most the part being read, its digits and ',', and one piece.
    if (r.buffered() > limits.message + 16 + step) std::abort();
  }
  for (std::size_t pos = 0, n = 0; n < 100000; ++n) {
    auto ml = postern::qmqpd::mailbox_line_at(bytes, pos);
    if (!ml) break;
    if (ml->next <= pos || ml->next > bytes.size()) std::abort();
    pos = ml->next;
  }
  return 0;
}
