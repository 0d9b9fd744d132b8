// biff.cpp - see biff.h.
#include "deliver/biff.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <string>

#include "base/unique_fd.h"
#include "log/log.h"

namespace postern::deliver {

bool notify_biff(std::string_view logname, std::uint64_t offset, std::uint16_t port) {
  std::uint16_t net_port = htons(port);
  if (port == 0) {
    // Looked up once per process (/etc/services is read on every call);
    // getservbyname() is not thread-safe, local's workers are processes.
    static std::atomic<int> service{-1};  // network order; 0: none
    if (service.load() < 0) {
      const servent* sp = ::getservbyname("biff", "udp");
      if (sp == nullptr) log::warning("service not found: biff/udp");
      service.store(sp ? static_cast<std::uint16_t>(sp->s_port) : 0);
    }
    if (service.load() == 0) return false;
    net_port = static_cast<std::uint16_t>(service.load());
  }
  std::string text(logname.substr(0, kMaxBiffName));
  text += '@';
  text += std::to_string(offset);
  UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock) return false;
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sin.sin_port = net_port;
  // With the NUL, as comsat expects.
  return ::sendto(sock.get(), text.c_str(), text.size() + 1, MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&sin),
                  sizeof sin) == static_cast<ssize_t>(text.size() + 1);
}

}  // namespace postern::deliver
