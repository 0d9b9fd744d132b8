// peer.h - who is at the other end of an accepted connection, decoded once
// for every daemon that logs and checks its clients (smtpd, qmqpd).
//
// An IPv4 client connected to an IPv6 socket (::ffff:192.0.2.1) is shown
// as 192.0.2.1, as Postfix shows it. A Unix-domain client (a content
// filter reinjecting into "qmqp unix ... qmqpd", a local smtpd service) has
// no address; Postfix names it localhost[127.0.0.1], and the callers do.
//
// Reads no parameters and logs nothing.
#pragma once

#include <sys/socket.h>

#include <optional>
#include <string>

#include "aio/asio.h"

namespace postern::server {

struct PeerAddress {
  std::string addr;  // "192.0.2.1", "2001:db8::1"; empty for a Unix-domain or unknown peer
  std::string port;  // "25"; empty likewise
  std::optional<asio::ip::address> ip;  // nullopt likewise
  bool unix_domain = false;
};

// Decodes a peer's socket address (getpeername(2), an endpoint's data()).
PeerAddress decode_peer(const sockaddr* sa);

// The remote end of `sock`; an empty PeerAddress when it has none (the
// client went away already).
template <class Socket>
PeerAddress peer_of(Socket& sock) {
  boost::system::error_code ec;
  auto ep = sock.remote_endpoint(ec);
  if (ec) return {};
  return decode_peer(ep.data());
}

}  // namespace postern::server
