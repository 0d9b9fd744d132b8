// ipc_frame_fuzz.cpp - libFuzzer target: arbitrary bytes as frames and messages.
//
// Splits the input into frames the way a receiver would, and feeds every
// payload (and the whole input) to the generic parser and to the decoders of
// the real message schemas. The same bytes, cut into reads of varying
// sizes, must come out of a FrameBuffer as exactly the same frames, with a
// header error exactly where the one-pass split found one. Beyond "no crash, no sanitizer report" it checks
// that whatever is accepted survives encode -> decode unchanged, so the
// encoder and the strict decoder cannot drift apart.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include "ipc/frame.h"
#include "ipc/frame_buffer.h"
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

void check_buffered(std::string_view in, const std::vector<std::string_view>& frames, bool header_error,
                    FrameLimits limits) {
  FrameBuffer b(limits);
  std::size_t got = 0, off = 0;
  std::size_t step = in.empty() ? 1 : static_cast<unsigned char>(in[0]) % 61 + 1;
  bool err = false;
  while (off < in.size() && !err) {
    std::size_t n = std::min(step, in.size() - off);
    std::memcpy(b.prepare(n), in.data() + off, n);
    b.commit(n);
    off += n;
    for (;;) {
      auto f = b.next();
      if (!f) {
        err = true;
        break;
      }
      if (!*f) break;
      if (got >= frames.size() || (*f)->payload != frames[got]) std::abort();
      ++got;
    }
    step = step * 7 % 61 + 1;
  }
  if (got != frames.size() || err != header_error) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  FrameLimits limits{.max_payload = 64 * 1024};
  std::string_view rest = in;
  std::vector<std::string_view> frames;
  bool header_error = false;
  while (rest.size() >= kFrameHeaderSize) {
    auto len = parse_frame_header(rest.substr(0, kFrameHeaderSize), limits);
    if (!len) {
      header_error = true;
      break;
    }
    rest.remove_prefix(kFrameHeaderSize);
    if (rest.size() < *len) break;
    frames.push_back(rest.substr(0, *len));
    check_payload(frames.back());
    rest.remove_prefix(*len);
  }
  check_buffered(in, frames, header_error, limits);
  check_payload(in);
  return 0;
}
