// strings.h - small string helpers shared by every parser.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::str {

std::string_view trim(std::string_view s);
std::string lower(std::string_view s);
bool iequals(std::string_view a, std::string_view b);
bool istarts_with(std::string_view s, std::string_view prefix);

// Split on any of `seps`, dropping empty fields (Postfix's "comma or
// whitespace separated list" convention uses seps = ", \t\r\n").
std::vector<std::string> split(std::string_view s, std::string_view seps = ", \t\r\n");

// Strict decimal parsing: the whole string must be digits (optional leading
// '-' for signed), no overflow.
std::optional<std::int64_t> parse_int(std::string_view s);
std::optional<std::uint64_t> parse_uint(std::string_view s);

// Make arbitrary bytes printable for a log line: control characters and
// non-ASCII bytes become '?' (Postfix's printable()), length capped.
std::string printable(std::string_view s, std::size_t max_len = 512);

// `s` with every character that `allowed` lacks replaced by '_' (Postfix's
// expansion filters: command_expansion_filter, smtpd_expansion_filter).
std::string censor(std::string_view s, std::string_view allowed);

// C-style escapes in a main.cf value, as Postfix's unescape() reads them
// (smtpd_expansion_filter): \a \b \f \n \r \t \v \\, \ooo (1-3 octal
// digits); a backslash before any other character stands for that
// character, and a trailing one for itself.
std::string unescape(std::string_view s);

}  // namespace postern::str
