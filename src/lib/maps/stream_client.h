// stream_client.h - the blocking connection behind the client/server tables
// (tcp:, socketmap:): connect to "inet:host:port" or "unix:path", send a
// request and read its reply, every step within one deadline.
//
// Tables answer lookup() synchronously (table.h), so this is plain blocking
// I/O on a non-blocking socket with poll(): a server that stops answering
// costs the caller at most the deadline, never more. The connection is kept
// between requests, as Postfix's dict_tcp and dict_sockmap keep theirs; a
// server that closed an idle connection shows as end of file on the next
// request, which the table retries once on a new connection.
//
// Reads no parameters, logs nothing: errors are returned as text.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "base/result.h"
#include "base/unique_fd.h"

namespace postern::maps {

using Deadline = std::chrono::steady_clock::time_point;

// "inet:host:port" (host a name, an address or a [bracketed] address) or
// "unix:path": checked when a table is opened.
struct StreamEndpoint {
  std::string host, port;  // inet
  std::string path;        // unix
  static Result<StreamEndpoint> parse_inet(std::string_view host_port);
  std::string text() const;
};

class StreamClient {
 public:
  explicit StreamClient(StreamEndpoint ep) : ep_(std::move(ep)) {}

  bool connected() const { return fd_.valid(); }
  // Connects to the first address that accepts (inet: every address the
  // host has, in getaddrinfo() order).
  Status connect(Deadline deadline);
  Status send(std::string_view data, Deadline deadline);
  // Appends what the server sent to `buf`, at least one byte and at most
  // `room`. End of file is an error; peer_closed() then says so.
  Status receive(std::string& buf, std::size_t room, Deadline deadline);
  // The last error was the server's end of file or reset: the connection
  // was closed on the other side (idle timeout, restart).
  bool peer_closed() const { return peer_closed_; }
  void close() { fd_.reset(); }
  const StreamEndpoint& endpoint() const { return ep_; }

 private:
  // Waits until fd_ is ready for `events` (POLLIN/POLLOUT) or the deadline.
  Status wait(short events, Deadline deadline);

  StreamEndpoint ep_;
  UniqueFd fd_;
  bool peer_closed_ = false;
};

}  // namespace postern::maps
