// net_tables.h - the client/server lookup tables and their wire formats:
//
//   tcp:host:port                   tcp_table(5): "get key\n" -> "200 value\n",
//                                   "500 text\n" (not found), "400 text\n" (try later);
//                                   key and value %XX-encoded; replies at most
//                                   4,096 bytes with the newline
//   socketmap:inet:host:port:name   socketmap_table(5): the netstring "name key" ->
//   socketmap:unix:path:name        "OK value", "NOTFOUND ", "TEMP/TIMEOUT/PERM reason";
//                                   replies at most 100,000 bytes
//
// Both are pattern tables to address searches (Postfix's DICT_FLAG_PATTERN:
// the server sees the whole address, never the partial keys user@domain,
// user and @domain), keys are sent as given (lowercased only with fold_mul),
// read-only. A server that answers "try later", cannot be reached, breaks the
// protocol or misses OpenOptions::server_timeout makes lookup() return an
// error, so that the caller defers rather than treats the key as unknown.
// The connection is kept between lookups; after any error it is closed and
// the next lookup connects again.
//
// The parsing functions are public for the unit tests and the fuzzer.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace postern::maps::net {

inline constexpr std::size_t kTcpMaxReply = 4096;          // with the newline (tcp_table(5))
inline constexpr std::size_t kSocketmapMaxReply = 100000;  // payload (socketmap_table(5))

// tcp_table(5) ENCODING: '%', white space and non-printing bytes as %XX.
std::string tcp_encode(std::string_view raw);
// %XX in any case; a '%' without two hex digits is an error.
Result<std::string> tcp_decode(std::string_view text);

// A reply's meaning: a value (found), nullopt (not found), or an error
// whose text quotes the server.
using Answer = Result<std::optional<std::string>>;

// One tcp reply line without its newline.
Answer parse_tcp_reply(std::string_view line);


// One socketmap reply payload.
Answer parse_socketmap_reply(std::string_view payload);

}  // namespace postern::maps::net
