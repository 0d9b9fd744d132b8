// haproxy.h - the PROXY protocol header (HAProxy's, versions 1 and 2) that
// an upstream proxy or load balancer sends before the SMTP session
// (smtpd_upstream_proxy_protocol = haproxy), as Postfix reads it.
//
//   v1: "PROXY TCP4 198.51.100.7 192.0.2.1 40000 25\r\n" (TCP6 likewise),
//       at most 107 bytes; "PROXY UNKNOWN ...\r\n" is the proxy's own
//       connection (a health check): the real endpoints stay.
//   v2: the 12-byte signature "\r\n\r\n\0\r\nQUIT\n", version 2 with
//       command PROXY (or LOCAL: the real endpoints stay), family TCP over
//       IPv4 or IPv6 (or UNSPEC with LOCAL), a 16-bit length, the
//       addresses and ports, then TLVs, which are skipped (at most
//       kMaxProxyV2Length bytes in all).
//
// parse_proxy_header() is given what has arrived so far: nullopt asks for
// more; an Error for anything else than a well-formed header; otherwise
// the header and how many bytes it took (the SMTP session starts after
// them). Input is hostile: every length is checked before it is used.
//
// Reads no parameters, logs nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace postern::smtpd {

inline constexpr std::size_t kMaxProxyV1Length = 107;
inline constexpr std::size_t kMaxProxyV2Length = 16 + 536;  // header + addresses + TLVs we accept

struct ProxyHeader {
  bool local = false;          // v1 UNKNOWN or v2 LOCAL: keep the real endpoints
  std::string client_addr;     // "198.51.100.7", "2001:db8::7"
  std::uint16_t client_port = 0;
  std::string server_addr;
  std::uint16_t server_port = 0;
  std::size_t consumed = 0;    // bytes of the header
};

Result<std::optional<ProxyHeader>> parse_proxy_header(std::string_view data);

}  // namespace postern::smtpd
