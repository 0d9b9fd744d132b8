// frame.cpp - frame headers (see frame.h). Reads no parameters, logs nothing.
#include "ipc/frame.h"

#include <algorithm>

namespace postern::ipc {

std::size_t FrameLimits::effective_max() const {
  return std::clamp<std::size_t>(max_payload, 1, kMaxPayloadCeiling);
}

std::array<char, kFrameHeaderSize> frame_header(std::uint32_t size) {
  return {static_cast<char>((size >> 24) & 0xff), static_cast<char>((size >> 16) & 0xff),
          static_cast<char>((size >> 8) & 0xff), static_cast<char>(size & 0xff)};
}

Result<std::string> make_frame(std::string_view payload, const FrameLimits& limits) {
  if (payload.empty()) return make_error("refusing to send an empty frame");
  if (payload.size() > limits.effective_max())
    return make_error("message of {} bytes exceeds the {} byte frame limit", payload.size(),
                      limits.effective_max());
  auto header = frame_header(static_cast<std::uint32_t>(payload.size()));
  std::string out;
  out.reserve(kFrameHeaderSize + payload.size());
  out.append(header.data(), header.size());
  out.append(payload);
  return out;
}

Result<std::size_t> parse_frame_header(std::string_view header, const FrameLimits& limits) {
  if (header.size() != kFrameHeaderSize) return make_error("truncated frame header");
  std::uint32_t size = 0;
  for (char c : header) size = (size << 8) | static_cast<std::uint8_t>(c);
  if (size == 0) return make_error("empty frame");
  if (size > limits.effective_max())
    return make_error("frame of {} bytes exceeds the {} byte limit", size, limits.effective_max());
  return std::size_t{size};
}

}  // namespace postern::ipc
