// unix_socket.h - deadline-bounded blocking I/O on Unix-domain sockets.
//
// The building blocks of the blocking client (client.h) and of trigger
// delivery (trigger.h). Every call takes an absolute deadline and uses
// non-blocking descriptors plus poll(), so no caller can hang on a busy or
// silent peer. Writes use MSG_NOSIGNAL: a vanished peer is an error, not
// SIGPIPE. Reads no parameters, logs nothing.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "base/result.h"
#include "base/unique_fd.h"

namespace postern::ipc {

using Clock = std::chrono::steady_clock;

// Connects a non-blocking, close-on-exec socket of `type` (SOCK_STREAM or
// SOCK_DGRAM) to `path`. A listener whose backlog is full (EAGAIN) is
// retried until the deadline.
Result<UniqueFd> connect_unix(const std::string& path, int type, Clock::time_point deadline);

// Sets O_NONBLOCK (and FD_CLOEXEC) on an adopted descriptor.
Status make_nonblocking(int fd);

// Writes all of `data` before the deadline.
Status write_all(int fd, std::string_view data, Clock::time_point deadline);

// Fills `buf` with exactly `len` bytes before the deadline. `got` reports
// how many arrived, so callers can tell "peer closed" (0) from "truncated".
Status read_exact(int fd, char* buf, std::size_t len, Clock::time_point deadline, std::size_t& got);

}  // namespace postern::ipc
