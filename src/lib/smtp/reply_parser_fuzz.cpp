// reply_parser_fuzz.cpp - libFuzzer target for ReplyParser.
//
// The first byte chooses small limits and the chunk size. Invariants: every
// reply has a valid code and stays within the limits; the queue is bounded;
// errors are sticky; a reply with short printable lines formats back into
// wire text that parses to the same reply.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "smtp/reply.h"
#include "smtp/reply_parser.h"

using namespace postern::smtp;

namespace {

bool printable_short(const Reply& r) {
  for (const auto& l : r.lines) {
    if (l.size() > 400) return false;
    for (char c : l)
      if (static_cast<unsigned char>(c) < 32 || static_cast<unsigned char>(c) > 126) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  ReplyLimits limits;
  limits.max_line = 8 + (data[0] & 0x3f) * 8;
  limits.max_lines = 1 + (data[0] >> 4);
  limits.max_reply_bytes = 64 + data[0] * 16;
  limits.max_queued = 4;
  const std::size_t chunk = 1 + data[0] % 13;
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);

  ReplyParser p(limits);
  bool failed = false;
  for (std::size_t pos = 0; pos < in.size(); pos += chunk) {
    auto st = p.feed(in.substr(pos, chunk));
    if (failed && st.ok()) std::abort();  // sticky
    if (!st.ok()) failed = true;
    while (auto r = p.next()) {
      const Reply& reply = r->reply;
      if (!valid_reply_code(reply.code)) std::abort();
      if (reply.lines.empty() || reply.lines.size() > limits.max_lines) std::abort();
      for (const auto& l : reply.lines)
        if (l.size() > limits.max_line) std::abort();
      if (!reply.enhanced.empty() && !valid_enhanced_code(reply.enhanced)) std::abort();
      if (!r->truncated && printable_short(reply)) {
        ReplyParser again;
        if (!again.feed(format_reply(reply)).ok()) std::abort();
        auto back = again.next();
        if (!back || !(back->reply == reply) || again.next()) std::abort();
      }
    }
  }
  if (failed != p.failed()) std::abort();
  return 0;
}
