// test_bytes.h - hand-built wire bytes for the ipc unit tests and fuzzer.
//
// Tests must be able to produce malformed payloads that the Writer refuses
// to build, so this spells the format out byte by byte (docs/ipc.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace postern::ipc::wire_bytes {

inline std::string u8(std::uint8_t v) { return std::string(1, static_cast<char>(v)); }
inline std::string u16(std::uint16_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)}; }
inline std::string u32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>((v >> 16) & 0xff), static_cast<char>((v >> 8) & 0xff),
          static_cast<char>(v & 0xff)};
}

// version, type, attribute count
inline std::string head(std::string_view type, std::uint16_t count, std::uint8_t version = 1) {
  return u8(version) + u8(static_cast<std::uint8_t>(type.size())) + std::string(type) + u16(count);
}

inline std::string attr(std::string_view name, char tag, std::string_view value) {
  return u8(static_cast<std::uint8_t>(name.size())) + std::string(name) + std::string(1, tag) +
         u32(static_cast<std::uint32_t>(value.size())) + std::string(value);
}

inline std::string item(std::string_view v) { return u32(static_cast<std::uint32_t>(v.size())) + std::string(v); }

// `n` payload bytes in a pattern that does not repeat at power-of-two
// offsets, so that a piece copied to the wrong place shows.
inline std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 23);
  return s;
}

}  // namespace postern::ipc::wire_bytes
