// listener.cpp - see listener.h.
#include "master/listener.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "base/strings.h"

namespace postern::master {
namespace {

constexpr int kBacklog = 1024;

Result<UniqueFd> bind_inet(const sockaddr* sa, socklen_t len, const std::string& what) {
  UniqueFd fd(::socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return sys_error("socket for {}", what);
  int on = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (sa->sa_family == AF_INET6) ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
  if (::bind(fd.get(), sa, len) != 0) return sys_error("bind {}", what);
  if (::listen(fd.get(), kBacklog) != 0) return sys_error("listen {}", what);
  return fd;
}

// Splits "host:port", "[v6]:port" or "port" into host (maybe empty) and port.
Result<std::pair<std::string, std::string>> split_inet_name(std::string_view name) {
  if (name.empty()) return make_error("empty inet service name");
  if (name.front() == '[') {
    auto close = name.find(']');
    if (close == std::string_view::npos || close + 1 >= name.size() || name[close + 1] != ':')
      return make_error("bad inet service name: {}", name);
    return std::pair{std::string(name.substr(1, close - 1)), std::string(name.substr(close + 2))};
  }
  auto colon = name.rfind(':');
  if (colon == std::string_view::npos) return std::pair{std::string(), std::string(name)};
  if (name.find(':') != colon) return make_error("bad inet service name (IPv6 needs [brackets]): {}", name);
  return std::pair{std::string(name.substr(0, colon)), std::string(name.substr(colon + 1))};
}

std::vector<std::string> interface_hosts(const config::Config& cfg) {
  auto ifs = cfg.list("inet_interfaces");
  std::string protos = str::lower(cfg.str("inet_protocols"));
  bool v4 = protos.find("ipv4") != std::string::npos || protos.find("all") != std::string::npos;
  bool v6 = protos.find("ipv6") != std::string::npos || protos.find("all") != std::string::npos;
  std::vector<std::string> hosts;
  for (auto& i : ifs) {
    std::string l = str::lower(i);
    if (l == "all") {
      if (v4) hosts.push_back("0.0.0.0");
      if (v6) hosts.push_back("::");
    } else if (l == "loopback-only") {
      if (v4) hosts.push_back("127.0.0.1");
      if (v6) hosts.push_back("::1");
    } else {
      hosts.push_back(i);
    }
  }
  return hosts;
}

Result<std::vector<Listener>> open_inet(const config::MasterService& svc, const config::Config& cfg) {
  auto parts = split_inet_name(svc.name);
  if (!parts) return parts.take_error();
  auto [host, port] = *parts;
  if (port.empty()) return make_error("{}: missing port", svc.name);
  std::vector<std::string> hosts = host.empty() ? interface_hosts(cfg) : std::vector<std::string>{host};
  if (hosts.empty()) return make_error("{}: inet_interfaces names no address", svc.name);
  std::vector<Listener> out;
  for (auto& h : hosts) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    addrinfo* res = nullptr;
    int rc = ::getaddrinfo(h.c_str(), port.c_str(), &hints, &res);
    if (rc != 0) return make_error("{}: cannot resolve {}:{}: {}", svc.name, h, port, gai_strerror(rc));
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(res, freeaddrinfo);
    // One listener per host entry: the first address it resolves to.
    std::string what = (res->ai_family == AF_INET6 ? "[" + h + "]" : h) + ":" + port;
    auto fd = bind_inet(res->ai_addr, res->ai_addrlen, what);
    if (!fd) return fd.take_error();
    out.push_back(Listener{std::move(*fd), what, {}});
  }
  return out;
}

Result<Listener> open_unix(const std::filesystem::path& path) {
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  if (path.native().size() >= sizeof sun.sun_path) return make_error("socket path too long: {}", path.string());
  std::memcpy(sun.sun_path, path.c_str(), path.native().size());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return sys_error("socket for {}", path.string());
  ::unlink(path.c_str());  // a stale socket from an earlier run
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0) return sys_error("bind {}", path.string());
  // Access control is the directory's job (private 0700, public 0710).
  if (::chmod(path.c_str(), 0666) != 0) return sys_error("chmod {}", path.string());
  if (::listen(fd.get(), kBacklog) != 0) return sys_error("listen {}", path.string());
  return Listener{std::move(fd), path.string(), path};
}

Result<Listener> open_fifo(const std::filesystem::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && !S_ISFIFO(st.st_mode)) ::unlink(path.c_str());
  if (::mkfifo(path.c_str(), 0622) != 0 && errno != EEXIST) return sys_error("mkfifo {}", path.string());
  if (::chmod(path.c_str(), 0622) != 0) return sys_error("chmod {}", path.string());
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return sys_error("open fifo {}", path.string());
  return Listener{std::move(fd), path.string(), path};
}

}  // namespace

std::filesystem::path endpoint_path(const config::MasterService& svc, const config::Config& cfg) {
  std::filesystem::path q = cfg.str("queue_directory");
  return q / (svc.private_service ? "private" : "public") / svc.name;
}

Result<std::vector<Listener>> open_listeners(const config::MasterService& svc, const config::Config& cfg) {
  using config::ServiceType;
  switch (svc.type) {
    case ServiceType::Inet:
      return open_inet(svc, cfg);
    case ServiceType::Unix: {
      auto l = open_unix(endpoint_path(svc, cfg));
      if (!l) return l.take_error();
      std::vector<Listener> v;
      v.push_back(std::move(*l));
      return v;
    }
    case ServiceType::Fifo: {
      auto l = open_fifo(endpoint_path(svc, cfg));
      if (!l) return l.take_error();
      std::vector<Listener> v;
      v.push_back(std::move(*l));
      return v;
    }
    case ServiceType::UnixDgram:
    case ServiceType::Pass:
      break;
  }
  return make_error("{}, line {}: service type {} is not supported by Postern", svc.file, svc.line,
                    config::to_string(svc.type));
}

}  // namespace postern::master
