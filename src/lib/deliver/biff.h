// biff.h - tell the comsat(8) service that a mailbox got new mail (biff = yes).
//
//   deliver::notify_biff("bob", 123456);   // "bob@123456" to 127.0.0.1, port biff/udp
//
// As Postfix's local(8) does after each mbox delivery to a user's mailbox:
// one UDP datagram, "LOGNAME@OFFSET" with its terminating NUL, where OFFSET
// is where the new message begins, sent to the loopback address on the
// "biff" UDP service of /etc/services (port 512). Fire and forget: comsat
// may not run, and a lost notice loses nothing. The name is the user's
// login name (never from the message) and is cut at kMaxBiffName bytes.
//
// Reads no parameters (local's `biff` decides whether to call); logs one
// warning per process when /etc/services has no biff/udp entry.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace postern::deliver {

inline constexpr std::size_t kMaxBiffName = 256;

// `port` in host order; 0: the biff/udp service's. False when nothing was
// sent (no service entry, no socket, sendto() failed).
bool notify_biff(std::string_view logname, std::uint64_t offset, std::uint16_t port = 0);

}  // namespace postern::deliver
