// xtext.cpp - see xtext.h.
#include "smtp/xtext.h"

#include "smtp/chars.h"

namespace postern::smtp {

std::optional<std::string> xtext_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '+') {
      if (s.size() - i < 3) return std::nullopt;
      unsigned char h = static_cast<unsigned char>(s[i + 1]);
      unsigned char l = static_cast<unsigned char>(s[i + 2]);
      if (!chars::is_hex(h) || !chars::is_hex(l)) return std::nullopt;
      out.push_back(char(chars::hex_value(h) * 16 + chars::hex_value(l)));
      i += 2;
    } else if ((c >= 33 && c <= 126 && c != '=') || c >= 0x80) {
      out.push_back(char(c));
    } else {
      return std::nullopt;
    }
  }
  return out;
}

std::string xtext_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c < 33 || c > 126 || c == '+' || c == '=') {
      out.push_back('+');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

}  // namespace postern::smtp
