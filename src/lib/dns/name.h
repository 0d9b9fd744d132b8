// name.h - domain names and IP addresses as the DNS library accepts them.
//
// normalize_hostname() is the one check every name passes before it is sent
// to a name server or accepted from one (MX and PTR data): at most 253
// characters without the optional trailing dot, labels of 1..63 characters
// from letters, digits, '-' and '_' (underscore appears in real host names
// and in SRV-style labels), no label that starts or ends with '-'. The result
// is lower case without the trailing dot, so names compare with ==.
// Non-ASCII names must be converted to A-labels (IDNA) by the caller.
//
// A "numeric" host name (only digits and dots, such as "192.0.2.1" or
// "1.2.3") is syntactically valid but not acceptable as MX or PTR data: it
// would make an address look like a name (Postfix: "numeric domain name in
// resource data").
//
// parse_ip() accepts dotted-quad IPv4 and RFC 4291 IPv6 text, nothing else
// (no scope ids, no shorthand such as "127.1"). reverse_name() builds the
// in-addr.arpa / ip6.arpa name for a PTR query.
//
// Parameters: none. Logs nothing.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "aio/asio.h"
#include "base/result.h"

namespace postern::dns {

inline constexpr std::size_t kMaxNameLength = 253;
inline constexpr std::size_t kMaxLabelLength = 63;

// The validated, lower-cased name without a trailing dot, or an error that
// says what is wrong ("label too long", "invalid character 0x20", ...).
Result<std::string> normalize_hostname(std::string_view name);

// Only digits and dots.
bool is_numeric_hostname(std::string_view name);

// Strict IPv4 or IPv6 address text.
std::optional<asio::ip::address> parse_ip(std::string_view text);

// An IPv4-mapped IPv6 address (::ffff:192.0.2.1) as the IPv4 address it
// maps; any other address unchanged. Clients reaching a dual-stack socket over
// IPv4 show up this way.
asio::ip::address unmap(const asio::ip::address& a);

// "1.2.0.192.in-addr.arpa" / "...ip6.arpa" for the (unmapped) address.
std::string reverse_name(const asio::ip::address& a);

// The same reversed octets (IPv4) or nibbles (IPv6) under `domain`:
// "1.2.0.192.zen.example", the name a DNS block list publishes.
std::string reversed_under(const asio::ip::address& a, std::string_view domain);

}  // namespace postern::dns
