// netstring.cpp - netstrings; see netstring.h.
#include "base/netstring.h"

#include <cctype>
#include <charconv>

#include "base/strings.h"

namespace postern {

std::string netstring(std::string_view payload) {
  std::string out = std::to_string(payload.size());
  out += ':';
  out += payload;
  out += ',';
  return out;
}

Result<NetstringLength> parse_netstring_length(std::string_view buf, std::size_t max) {
  std::size_t digits = 0;
  while (digits < buf.size() && std::isdigit(static_cast<unsigned char>(buf[digits]))) ++digits;
  // A length over `max` is an error as soon as its digits show it, not
  // after the peer has sent the payload.
  if (digits > std::to_string(max).size()) return make_error("netstring length over {} bytes", max);
  std::size_t len = 0;
  std::from_chars(buf.data(), buf.data() + digits, len);
  if (len > max) return make_error("netstring length {} over {} bytes", len, max);
  if (digits == buf.size()) return NetstringLength{};  // the length is still arriving
  if (digits == 0 || buf[digits] != ':')
    return make_error("malformed netstring \"{}\"", str::printable(buf.substr(0, 40), 200));
  return NetstringLength{len, digits + 1};
}

Result<Netstring> parse_netstring(std::string_view buf, std::size_t max) {
  auto len = parse_netstring_length(buf, max);
  if (!len) return len.take_error();
  if (len->used == 0) return Netstring{};
  const std::size_t start = len->used;
  if (buf.size() < start + len->length + 1) return Netstring{};
  if (buf[start + len->length] != ',') return make_error("malformed netstring: no ',' after {} bytes", len->length);
  return Netstring{buf.substr(start, len->length), start + len->length + 1};
}

}  // namespace postern
