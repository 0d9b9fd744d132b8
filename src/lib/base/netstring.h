// netstring.h - D. J. Bernstein's netstrings ("5:hello,"), the framing of
// socketmap tables (socketmap_table(5)) and of QMQP (qmqpd).
//
// Parsing works on a buffer that may hold only the start of a netstring (as
// bytes arrive from a socket): an incomplete netstring is no error, it says
// "read more". A length over the caller's bound is an error as soon as its
// digits show it, before any payload is read, so a peer cannot make the
// reader buffer more than the bound.
//
// Reads no parameters, logs nothing.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/result.h"

namespace postern {

// "<len>:<payload>,"
std::string netstring(std::string_view payload);

// The length prefix "<digits>:" at the start of `buf`: the payload length
// and the bytes the prefix took (`used` 0: not complete yet). Errors for a
// prefix that is not digits and ':' (also an empty one) and for lengths over
// `max`.
struct NetstringLength {
  std::size_t length = 0;
  std::size_t used = 0;
};
Result<NetstringLength> parse_netstring_length(std::string_view buf, std::size_t max);

// The first netstring in `buf`: its payload and the bytes it took (`used`
// 0: not complete yet). Errors as parse_netstring_length(), and for a
// payload not followed by ','.
struct Netstring {
  std::string_view payload;
  std::size_t used = 0;
};
Result<Netstring> parse_netstring(std::string_view buf, std::size_t max);

}  // namespace postern
