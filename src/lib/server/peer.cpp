// peer.cpp - see peer.h.
#include "server/peer.h"

#include <arpa/inet.h>
#include <netinet/in.h>

namespace postern::server {

PeerAddress decode_peer(const sockaddr* sa) {
  PeerAddress p;
  if (!sa) return p;
  char buf[INET6_ADDRSTRLEN] = {0};
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    if (!::inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf)) return p;
    p.port = std::to_string(ntohs(in->sin_port));
  } else if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    if (!::inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf)) return p;
    p.port = std::to_string(ntohs(in6->sin6_port));
  } else if (sa->sa_family == AF_UNIX) {
    p.unix_domain = true;
    return p;
  } else {
    return p;
  }
  p.addr = buf;
  if (p.addr.starts_with("::ffff:") && p.addr.find('.') != std::string::npos) p.addr.erase(0, 7);
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(p.addr, ec);
  if (!ec) p.ip = ip;
  return p;
}

}  // namespace postern::server
