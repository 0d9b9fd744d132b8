// status.cpp - see status.h.
#include "server/status.h"

namespace postern::server {

std::array<std::uint8_t, kStatusMessageSize> encode_status(const StatusMessage& m) {
  auto pid = static_cast<std::uint32_t>(m.pid);
  return {'S', static_cast<std::uint8_t>(m.state), 0, 0, std::uint8_t(pid >> 24), std::uint8_t(pid >> 16),
          std::uint8_t(pid >> 8), std::uint8_t(pid)};
}

std::optional<StatusMessage> decode_status(const std::uint8_t* p, std::size_t n) {
  if (n != kStatusMessageSize || p[0] != 'S' || p[2] != 0 || p[3] != 0) return std::nullopt;
  if (p[1] != 'A' && p[1] != 'B' && p[1] != 'R') return std::nullopt;
  std::uint32_t pid = (std::uint32_t(p[4]) << 24) | (std::uint32_t(p[5]) << 16) | (std::uint32_t(p[6]) << 8) | p[7];
  if (pid == 0 || pid > 0x7fffffff) return std::nullopt;
  return StatusMessage{static_cast<pid_t>(pid), static_cast<ChildState>(p[1])};
}

}  // namespace postern::server
