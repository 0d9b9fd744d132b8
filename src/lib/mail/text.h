// text.h - byte-level character classes shared by the mail parsers.
//
// Addresses and headers are byte strings that may carry UTF-8 (RFC 6531,
// RFC 6532) or arbitrary 8-bit junk from the network. These helpers answer
// "is this valid UTF-8", "is there 8-bit data" and "is this a control
// character" without depending on the C locale (isalpha() and friends change
// meaning with LC_CTYPE; daemons must not). Reads no parameters, logs nothing.
#pragma once

#include <string_view>

namespace postern::mail {

inline bool is_ascii_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
inline bool is_ascii_digit(unsigned char c) { return c >= '0' && c <= '9'; }
inline bool is_ascii_alnum(unsigned char c) { return is_ascii_alpha(c) || is_ascii_digit(c); }
inline bool is_ascii_hex(unsigned char c) {
  return is_ascii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
// C0 controls and DEL, like iscntrl() in the C locale.
inline bool is_ctl(unsigned char c) { return c < 0x20 || c == 0x7f; }

// True when any byte has the high bit set.
bool has_8bit(std::string_view s);

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above
// U+10FFFF, no truncated sequences. Pure ASCII is valid UTF-8.
bool valid_utf8(std::string_view s);

// Length of the valid UTF-8 sequence that starts at s[pos], or 0 when the
// bytes there are not a valid sequence (or pos is past the end).
std::size_t utf8_sequence_length(std::string_view s, std::size_t pos);

}  // namespace postern::mail
