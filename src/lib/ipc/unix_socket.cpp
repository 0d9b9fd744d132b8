// unix_socket.cpp - deadline-bounded Unix-domain socket I/O (see unix_socket.h).
//
// Reads no parameters, logs nothing.
#include "ipc/unix_socket.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

namespace postern::ipc {

namespace {

// Milliseconds left until the deadline, rounded up so that poll() does not
// spin on a sub-millisecond remainder; -1 when the deadline has passed.
int ms_left(Clock::time_point deadline) {
  auto now = Clock::now();
  if (now >= deadline) return -1;
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(deadline - now).count();
  auto ms = (us + 999) / 1000;
  return ms > 1000000 ? 1000000 : static_cast<int>(ms);
}

// Waits for `events` on fd. Returns an error on timeout or poll failure.
Status wait_for(int fd, short events, Clock::time_point deadline, const char* what) {
  for (;;) {
    int ms = ms_left(deadline);
    if (ms < 0) return make_error("timeout while {}", what);
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("poll while {}", what);
    }
    if (n == 0) continue;  // loop re-checks the deadline
    if (p.revents & POLLNVAL) return make_error("bad descriptor while {}", what);
    // POLLERR/POLLHUP: let the following read/write report the precise error.
    return {};
  }
}

}  // namespace

Status make_nonblocking(int fd) {
  int fl = ::fcntl(fd, F_GETFL);
  if (fl < 0 || ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return sys_error("fcntl O_NONBLOCK");
  int fdfl = ::fcntl(fd, F_GETFD);
  if (fdfl < 0 || ::fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0) return sys_error("fcntl FD_CLOEXEC");
  return {};
}

Result<UniqueFd> connect_unix(const std::string& path, int type, Clock::time_point deadline) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(sa.sun_path) || path.find('\0') != std::string::npos)
    return make_error("bad socket path \"{}\"", path);
  std::memcpy(sa.sun_path, path.data(), path.size());

  UniqueFd fd(::socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return sys_error("socket");
  for (;;) {
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0) return fd;
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      // Linux: the listener's backlog is full. Back off briefly and retry.
      int ms = ms_left(deadline);
      if (ms < 0) return make_error("connect to {}: timeout (service busy)", path);
      ::poll(nullptr, 0, ms < 10 ? ms : 10);
      continue;
    }
    if (errno == EINPROGRESS) {
      if (auto st = wait_for(fd.get(), POLLOUT, deadline, "connecting"); !st)
        return make_error("connect to {}: {}", path, st.error().message);
      int err = 0;
      socklen_t len = sizeof(err);
      if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) < 0) return sys_error("connect to {}", path);
      if (err == 0) return fd;
      errno = err;
    }
    return sys_error("connect to {}", path);
  }
}

Status write_all(int fd, std::string_view data, Clock::time_point deadline) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (auto st = wait_for(fd, POLLOUT, deadline, "writing"); !st) return st;
      continue;
    }
    return sys_error("write");
  }
  return {};
}

Status read_exact(int fd, char* buf, std::size_t len, Clock::time_point deadline, std::size_t& got) {
  got = 0;
  while (got < len) {
    ssize_t n = ::recv(fd, buf + got, len - got, 0);
    if (n > 0) {
      got += static_cast<std::size_t>(n);
      continue;
    }
    if (n == 0) return make_error("connection closed by peer");
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (auto st = wait_for(fd, POLLIN, deadline, "reading"); !st) return st;
      continue;
    }
    return sys_error("read");
  }
  return {};
}

}  // namespace postern::ipc
