// frame.h - framing of internal protocol messages on a byte stream.
//
//   frame := length:u32be payload[length]      1 <= length <= max_payload
//
// The receiver checks the length against its limit before it allocates or
// reads the payload, so a peer cannot make it buffer more than the limit.
// The default limit is 1 MiB; a connection may choose another one up to
// kMaxPayloadCeiling (64 MiB). Reads no parameters, logs nothing.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace postern::ipc {

inline constexpr std::size_t kFrameHeaderSize = 4;
inline constexpr std::size_t kDefaultMaxPayload = std::size_t{1} << 20;
inline constexpr std::size_t kMaxPayloadCeiling = std::size_t{64} << 20;
// A reader's first allocation for a frame's payload; it grows (doubling) as
// more of a larger frame arrives.
inline constexpr std::size_t kFrameReadStep = std::size_t{64} << 10;

struct FrameLimits {
  std::size_t max_payload = kDefaultMaxPayload;

  // max_payload, clamped to [1, kMaxPayloadCeiling].
  std::size_t effective_max() const;
};

// One received frame: the payload bytes (a message, see wire.h).
struct Frame {
  std::string payload;
};

// The 4-byte big-endian header for a payload of `size` bytes.
std::array<char, kFrameHeaderSize> frame_header(std::uint32_t size);

// Header plus payload, or an error when the payload is empty or over the limit.
Result<std::string> make_frame(std::string_view payload, const FrameLimits& limits = {});

// The payload length announced by a 4-byte header, checked against the
// limit. `header` must hold exactly kFrameHeaderSize bytes.
Result<std::size_t> parse_frame_header(std::string_view header, const FrameLimits& limits = {});

}  // namespace postern::ipc
