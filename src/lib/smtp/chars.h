// chars.h - locale-independent byte classes used by the SMTP parsers.
//
// The <cctype> functions change meaning with LC_CTYPE and are undefined for
// negative chars; protocol parsing must not depend on either. This header
// answers the few questions the SMTP code asks about single bytes, plus
// strict UTF-8 validation (RFC 3629) for SMTPUTF8 command lines and reply
// text. Reads no parameters, logs nothing.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace postern::smtp::chars {

inline bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
inline bool is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
inline bool is_alnum(unsigned char c) { return is_digit(c) || is_alpha(c); }
inline bool is_hex(unsigned char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
// SP or HTAB: the blanks that separate command tokens.
inline bool is_blank(unsigned char c) { return c == ' ' || c == '\t'; }
// C0 controls and DEL.
inline bool is_ctl(unsigned char c) { return c < 0x20 || c == 0x7f; }
inline char to_upper(char c) { return (c >= 'a' && c <= 'z') ? char(c - 'a' + 'A') : c; }
inline char to_lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }

std::string upper(std::string_view s);
std::string lower(std::string_view s);
bool iequals(std::string_view a, std::string_view b);

// Value of a hex digit (0..15); the caller has checked is_hex().
int hex_value(unsigned char c);

// Length of the valid UTF-8 sequence starting at s[pos] (1 for ASCII), or 0
// when the bytes there are not a valid sequence (overlong, surrogate, above
// U+10FFFF, truncated) or pos is past the end.
std::size_t utf8_sequence_length(std::string_view s, std::size_t pos);
bool valid_utf8(std::string_view s);

// s without leading and trailing SP/HTAB.
std::string_view trim_blanks(std::string_view s);

}  // namespace postern::smtp::chars
