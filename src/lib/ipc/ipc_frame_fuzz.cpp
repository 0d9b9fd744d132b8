// ipc_frame_fuzz.cpp - libFuzzer target: arbitrary bytes as frames and messages.
//
// Splits the input into frames the way a receiver would, and feeds every
// payload (and the whole input) to the generic parser and to the decoders of
// the real message schemas. Beyond "no crash, no sanitizer report" it checks
// that whatever is accepted survives encode -> decode unchanged, so the
// encoder and the strict decoder cannot drift apart.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ipc/frame.h"
#include "ipc/proto/status.h"
#include "ipc/proto/trivial_rewrite.h"
#include "ipc/schema.h"
#include "ipc/wire.h"

using namespace postern::ipc;

namespace {

template <class T>
void round_trip(std::string_view payload) {
  auto v = decode<T>(payload);
  if (!v) return;
  if (!parse_message(payload)) std::abort();  // schema accepted what the wire layer rejects
  auto bytes = encode(*v);
  if (!bytes) std::abort();  // decoded values must satisfy the encoder's rules
  auto back = decode<T>(*bytes);
  if (!back || !(*back == *v)) std::abort();
}

void check_payload(std::string_view payload) {
  if (auto m = parse_message(payload)) {
    auto again = encode_message(*m);
    if (!again) std::abort();
    auto back = parse_message(*again);
    if (!back || !(*back == *m)) std::abort();
  }
  round_trip<proto::RewriteRequest>(payload);
  round_trip<proto::RewriteReply>(payload);
  round_trip<proto::ResolveReply>(payload);
  round_trip<proto::StatusReply>(payload);
  (void)proto::refusal(payload);
  (void)peek_type(payload);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  FrameLimits limits{.max_payload = 64 * 1024};
  std::string_view rest = in;
  while (rest.size() >= kFrameHeaderSize) {
    auto len = parse_frame_header(rest.substr(0, kFrameHeaderSize), limits);
    if (!len) break;
    rest.remove_prefix(kFrameHeaderSize);
    if (rest.size() < *len) break;
    check_payload(rest.substr(0, *len));
    rest.remove_prefix(*len);
  }
  check_payload(in);
  return 0;
}
