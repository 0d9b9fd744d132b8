// post.h - submit one message that a daemon wrote itself (Postfix's
// post_mail): the bounce service's notices, smtpd's postmaster notices.
//
//   submit::Post p;
//   p.sender = "double-bounce@example.com";
//   p.recipients = {"postmaster"};
//   p.flags = submit::cleanup_flag::kBounce;
//   p.origin = "smtpd";
//   auto id = co_await submit::post_message(io, socket, timeout, p,
//       [&](const std::string& queue_id) { return compose(queue_id); });
//
// `compose` gets the new queue ID (for a Message-ID) and returns the whole
// message, header and body, lines ending in "\n". The result is the queue
// ID once the queue file is durable, or an Error: cleanup unreachable, no
// verdict, or a rejection (the error's message says which).
//
// Reads no parameters, logs nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "aio/asio.h"
#include "base/result.h"

namespace postern::submit {

struct Post {
  std::string sender;                   // the envelope sender, as cleanup should record it
  std::vector<std::string> recipients;  // at least one
  std::int64_t flags = 0;               // cleanup_flag:: bits
  std::string origin;                   // for cleanup's log line
  bool eight_bit = false;               // BODY=8BITMIME rather than 7BIT
};

#if defined(BOOST_ASIO_HAS_CO_AWAIT)
// Every argument is a reference to the caller's named objects: GCC 12
// mishandles temporaries in co_await expressions (docs/coding.md).
asio::awaitable<Result<std::string>> post_message(asio::io_context& io, const std::filesystem::path& socket,
                                                  const std::chrono::seconds& timeout, const Post& post,
                                                  const std::function<std::string(const std::string&)>& compose);
#endif

}  // namespace postern::submit
