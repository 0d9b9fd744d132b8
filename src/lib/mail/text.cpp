// text.cpp - see text.h.
#include "mail/text.h"

namespace postern::mail {

bool has_8bit(std::string_view s) {
  for (unsigned char c : s)
    if (c & 0x80) return true;
  return false;
}

std::size_t utf8_sequence_length(std::string_view s, std::size_t pos) {
  if (pos >= s.size()) return 0;
  auto at = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  unsigned char c = at(pos);
  if (c < 0x80) return 1;
  std::size_t need;
  unsigned char lo = 0x80, hi = 0xbf;  // allowed range of the first continuation byte
  if (c >= 0xc2 && c <= 0xdf) {
    need = 1;
  } else if (c >= 0xe0 && c <= 0xef) {
    need = 2;
    if (c == 0xe0) lo = 0xa0;        // overlong
    else if (c == 0xed) hi = 0x9f;   // UTF-16 surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    need = 3;
    if (c == 0xf0) lo = 0x90;        // overlong
    else if (c == 0xf4) hi = 0x8f;   // above U+10FFFF
  } else {
    return 0;  // continuation byte, 0xc0/0xc1 (overlong) or 0xf5..0xff
  }
  if (s.size() - pos - 1 < need) return 0;
  unsigned char c1 = at(pos + 1);
  if (c1 < lo || c1 > hi) return 0;
  for (std::size_t i = 2; i <= need; ++i)
    if ((at(pos + i) & 0xc0) != 0x80) return 0;
  return need + 1;
}

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    std::size_t n = utf8_sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

}  // namespace postern::mail
