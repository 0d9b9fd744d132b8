// listener.cpp - see listener.h.
#include "master/listener.h"

#include <fcntl.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "base/strings.h"
#include "config/host_info.h"
#include "config/master_cf.h"

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

std::vector<std::string> interface_hosts(const config::Config& cfg, bool v4, bool v6) {
  std::vector<std::string> hosts;
  for (auto& i : cfg.list("inet_interfaces")) {
    std::string l = str::lower(i);
    if (l == "all") {
      if (v4) hosts.push_back("0.0.0.0");
      if (v6) hosts.push_back("::");
    } else if (l == "loopback-only") {
      if (v4) hosts.push_back("127.0.0.1");
      if (v6) hosts.push_back("::1");
    } else if (i.size() > 2 && i.front() == '[' && i.back() == ']') {
      // "[::1]": postconf(5) allows the brackets (and the other daemons
      // strip them too, config/host_info.h).
      hosts.push_back(i.substr(1, i.size() - 2));
    } else {
      hosts.push_back(i);
    }
  }
  return hosts;
}

// known_tcp_ports (Postfix 3.6): "smtp=25, submission=587, smtps=submissions=465, ...",
// so that a service name works without /etc/services (slim containers).
std::string known_port(const config::Config& cfg, const std::string& port) {
  if (port.empty() || std::isdigit(static_cast<unsigned char>(port[0]))) return port;
  for (const auto& entry : cfg.list("known_tcp_ports")) {
    auto names = str::split(entry, "=");
    if (names.size() < 2) continue;
    for (std::size_t k = 0; k + 1 < names.size(); ++k)
      if (str::iequals(str::trim(names[k]), port)) return std::string(str::trim(names.back()));
  }
  return port;
}

Result<std::vector<Listener>> open_inet(const config::MasterService& svc, const config::Config& cfg) {
  auto ep = config::parse_inet_service(svc.name);
  if (!ep) return make_error("{}: {}", svc.name, ep.error().message);
  const auto [v4, v6] = config::host::parse_protocols(cfg.str("inet_protocols"));
  std::vector<std::string> hosts = ep->host.empty() ? interface_hosts(cfg, v4, v6) : std::vector<std::string>{ep->host};
  if (hosts.empty()) return make_error("{}: inet_interfaces names no address", svc.name);
  const std::string port = known_port(cfg, ep->port);
  std::vector<Listener> out;
  std::vector<std::string> bound;
  for (auto& h : hosts) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    hints.ai_family = v4 && v6 ? AF_UNSPEC : v6 ? AF_INET6 : AF_INET;
    addrinfo* res = nullptr;
    int rc = ::getaddrinfo(h.c_str(), port.c_str(), &hints, &res);
    if (rc != 0) return make_error("{}: cannot resolve {}:{}: {}", svc.name, h, port, gai_strerror(rc));
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(res, freeaddrinfo);
    // Every address a name resolves to, within inet_protocols, as Postfix
    // binds them ("localhost:10025" listens on 127.0.0.1 and ::1).
    for (addrinfo* ai = res; ai; ai = ai->ai_next) {
      if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
      char text[INET6_ADDRSTRLEN] = "";
      const void* a = ai->ai_family == AF_INET ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr)
                                               : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr);
      ::inet_ntop(ai->ai_family, a, text, sizeof text);
      std::string what = (ai->ai_family == AF_INET6 ? "[" + std::string(text) + "]" : std::string(text)) + ":" + port;
      if (std::find(bound.begin(), bound.end(), what) != bound.end()) continue;
      auto fd = bind_inet(ai->ai_addr, ai->ai_addrlen, what);
      if (!fd) return fd.take_error();
      bound.push_back(what);
      out.push_back(Listener{std::move(*fd), what, {}});
    }
  }
  if (out.empty()) return make_error("{}: no address to listen on within inet_protocols", svc.name);
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
