// stream_client.cpp - see stream_client.h.
#include "maps/stream_client.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "base/strings.h"

namespace postern::maps {

Result<StreamEndpoint> StreamEndpoint::parse_inet(std::string_view hp) {
  StreamEndpoint ep;
  std::string_view host, port;
  if (!hp.empty() && hp.front() == '[') {
    auto close = hp.find(']');
    if (close == std::string_view::npos || close + 1 >= hp.size() || hp[close + 1] != ':')
      return make_error("\"{}\" is not host:port", str::printable(hp, 200));
    host = hp.substr(1, close - 1);
    port = hp.substr(close + 2);
  } else {
    auto colon = hp.rfind(':');
    if (colon == std::string_view::npos) return make_error("\"{}\" is not host:port", str::printable(hp, 200));
    host = hp.substr(0, colon);
    port = hp.substr(colon + 1);
  }
  if (host.empty() || port.empty() || host.find_first_of(" \t\r\n") != std::string_view::npos ||
      port.find_first_of(" \t\r\n:") != std::string_view::npos)
    return make_error("\"{}\" is not host:port", str::printable(hp, 200));
  ep.host = std::string(host);
  ep.port = std::string(port);
  return ep;
}

std::string StreamEndpoint::text() const {
  if (!path.empty()) return "unix:" + path;
  return host.find(':') != std::string::npos ? "[" + host + "]:" + port : host + ":" + port;
}

namespace {

int remaining_ms(Deadline deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) return 0;
  // Rounded up, so that a wait never returns early only to find time left.
  return static_cast<int>(std::min<long long>(left.count() + 1, 1 << 30));
}

// A non-blocking socket connected (or connecting) to `addr`; errno on failure.
UniqueFd start_connect(int family, const sockaddr* addr, socklen_t len, bool& in_progress) {
  UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return fd;
  in_progress = false;
  if (::connect(fd.get(), addr, len) == 0) return fd;
  if (errno == EINPROGRESS || errno == EAGAIN) {
    in_progress = true;
    return fd;
  }
  int saved = errno;
  fd.reset();
  errno = saved;
  return fd;
}

}  // namespace

Status StreamClient::wait(short events, Deadline deadline) {
  for (;;) {
    pollfd p{fd_.get(), events, 0};
    int ms = remaining_ms(deadline);
    if (ms == 0) return make_error("timeout");
    int n = ::poll(&p, 1, ms);
    if (n > 0) return {};
    if (n == 0) return make_error("timeout");
    if (errno != EINTR) return make_error("poll: {}", std::strerror(errno));
  }
}

Status StreamClient::connect(Deadline deadline) {
  close();
  peer_closed_ = false;
  auto finish = [&](const std::string& what) -> Status {
    if (auto w = wait(POLLOUT, deadline); !w) {
      close();
      return make_error("connect to {}: {}", what, w.error().message);
    }
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) {
      close();
      return make_error("connect to {}: {}", what, std::strerror(err));
    }
    return {};
  };
  if (!ep_.path.empty()) {
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    if (ep_.path.size() >= sizeof sun.sun_path) return make_error("unix:{}: socket path too long", ep_.path);
    std::memcpy(sun.sun_path, ep_.path.data(), ep_.path.size());
    bool pending = false;
    fd_ = start_connect(AF_UNIX, reinterpret_cast<sockaddr*>(&sun), sizeof sun, pending);
    if (!fd_) return make_error("connect to {}: {}", ep_.text(), std::strerror(errno));
    return pending ? finish(ep_.text()) : Status{};
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(ep_.host.c_str(), ep_.port.c_str(), &hints, &found); rc != 0)
    return make_error("cannot find {}: {}", ep_.text(), rc == EAI_SYSTEM ? std::strerror(errno) : ::gai_strerror(rc));
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> guard(found, ::freeaddrinfo);
  Status last = make_error("cannot find {}: no address", ep_.text());
  for (addrinfo* a = found; a; a = a->ai_next) {
    bool pending = false;
    fd_ = start_connect(a->ai_family, a->ai_addr, a->ai_addrlen, pending);
    if (!fd_) {
      last = make_error("connect to {}: {}", ep_.text(), std::strerror(errno));
      continue;
    }
    if (!pending) return {};
    last = finish(ep_.text());
    if (last) return last;
    if (remaining_ms(deadline) == 0) break;
  }
  return last;
}

Status StreamClient::send(std::string_view data, Deadline deadline) {
  peer_closed_ = false;
  while (!data.empty()) {
    ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (auto w = wait(POLLOUT, deadline); !w) return make_error("write: {}", w.error().message);
      continue;
    }
    peer_closed_ = errno == EPIPE || errno == ECONNRESET;
    return make_error("write: {}", std::strerror(errno));
  }
  return {};
}

Status StreamClient::receive(std::string& buf, std::size_t room, Deadline deadline) {
  peer_closed_ = false;
  if (room == 0) return make_error("reply too long");
  char chunk[4096];
  for (;;) {
    ssize_t n = ::recv(fd_.get(), chunk, std::min(room, sizeof chunk), 0);
    if (n > 0) {
      buf.append(chunk, static_cast<std::size_t>(n));
      return {};
    }
    if (n == 0) {
      peer_closed_ = true;
      return make_error("connection closed by server");
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (auto w = wait(POLLIN, deadline); !w) return make_error("read: {}", w.error().message);
      continue;
    }
    peer_closed_ = errno == ECONNRESET;
    return make_error("read: {}", std::strerror(errno));
  }
}

}  // namespace postern::maps
