// host_info.h - facts about this host that computed parameter defaults need.
//
// myhostname comes from gethostname(); mynetworks from the addresses of the
// interfaces selected by inet_interfaces/inet_protocols, turned into networks
// per mynetworks_style (as Postfix's mynetworks() does). Nothing here logs;
// failures yield empty results, because a default must always exist.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace postern::config::host {

// gethostname(), or "" when it fails.
std::string local_hostname();

// inet_protocols: "all", "ipv4", "ipv6" or a list of the last two.
struct Protocols {
  bool v4 = false;
  bool v6 = false;
};
Protocols parse_protocols(std::string_view inet_protocols);

struct InterfaceAddress {
  int family = 0;                       // AF_INET or AF_INET6
  std::array<std::uint8_t, 16> addr{};  // network byte order; IPv4 uses the first 4 bytes
  std::array<std::uint8_t, 16> mask{};
};

// The addresses named by inet_interfaces ("all", "loopback-only", or a list
// of addresses/host names), restricted to inet_protocols ("all", "ipv4",
// "ipv6"). Duplicates removed, order kept.
std::vector<InterfaceAddress> own_addresses(std::string_view inet_interfaces, std::string_view inet_protocols);
// The same as text ("192.0.2.1", "2001:db8::1").
std::vector<std::string> own_address_texts(std::string_view inet_interfaces, std::string_view inet_protocols);

enum class MaskStyle { Host, Subnet, Class };

// "127.0.0.0/8 [::1]/128 ..." in Postfix's notation, duplicates removed.
std::string mynetworks(const std::vector<InterfaceAddress>& addrs, MaskStyle style);

}  // namespace postern::config::host
