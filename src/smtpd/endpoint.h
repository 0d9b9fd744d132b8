// endpoint.h - the servers smtpd talks to as a client (policy services,
// the before-queue content filter): Postfix's "inet:host:port" and
// "unix:path" notation, and a connect with a deadline.
//
// parse_endpoint() checks the text once, when main.cf is read, and gives
// its one spelling: "inet:host:port" (host a name, an address or a
// [bracketed] address) or "unix:/absolute/path" (a relative path is taken
// relative to queue_directory, as Postfix does). connect_endpoint() looks
// the host up (Asio's resolver: the system's) and connects to its first
// address within the deadline.
//
// Reads no parameters (the caller passes queue_directory), logs nothing.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "aio/asio.h"
#include "base/result.h"

namespace postern::smtpd {

// `inet_default`: text without "inet:" or "unix:" is "inet:" (Postfix's
// smtpd_proxy_filter); otherwise such text is an error.
Result<std::string> parse_endpoint(std::string_view text, std::string_view queue_directory, bool inet_default);

#if defined(BOOST_ASIO_HAS_CO_AWAIT)
// `endpoint`: parse_endpoint()'s result. Every argument a named object
// (GCC 12 and temporaries in co_await expressions, docs/coding.md).
asio::awaitable<Result<asio::generic::stream_protocol::socket>> connect_endpoint(
    asio::io_context& io, const std::string& endpoint, const std::chrono::milliseconds& timeout);
#endif

}  // namespace postern::smtpd
