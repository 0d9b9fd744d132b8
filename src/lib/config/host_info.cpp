// host_info.cpp - see host_info.h. Reads the interface list with
// getifaddrs(); resolves host names in inet_interfaces with getaddrinfo()
// (only reached when mynetworks is computed and inet_interfaces names hosts).
#include "config/host_info.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <set>

#include "base/strings.h"
#include "config/registry.h"

namespace postern::config::host {

Protocols parse_protocols(std::string_view text) {
  Protocols p;
  for (auto& w : split_list(text)) {
    auto l = str::lower(w);
    if (l == "all") p.v4 = p.v6 = true;
    else if (l == "ipv4") p.v4 = true;
    else if (l == "ipv6") p.v6 = true;
  }
  return p;
}

namespace {

bool from_sockaddr(const sockaddr* sa, InterfaceAddress& out, bool is_mask) {
  if (!sa) return false;
  auto& dst = is_mask ? out.mask : out.addr;
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    std::memcpy(dst.data(), &in->sin_addr, 4);
    if (!is_mask) out.family = AF_INET;
    return true;
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    std::memcpy(dst.data(), &in6->sin6_addr, 16);
    if (!is_mask) out.family = AF_INET6;
    return true;
  }
  return false;
}

struct IfaddrsDeleter {
  void operator()(ifaddrs* p) const { freeifaddrs(p); }
};

std::vector<InterfaceAddress> read_interface_list() {
  std::vector<InterfaceAddress> out;
  ifaddrs* raw = nullptr;
  if (getifaddrs(&raw) != 0) return out;
  std::unique_ptr<ifaddrs, IfaddrsDeleter> list(raw);
  for (ifaddrs* i = raw; i; i = i->ifa_next) {
    InterfaceAddress a;
    if (!from_sockaddr(i->ifa_addr, a, false)) continue;
    if (!from_sockaddr(i->ifa_netmask, a, true)) a.mask.fill(0xff);
    out.push_back(a);
  }
  return out;
}

// getifaddrs() is a netlink dump (two requests, several replies); one
// configuration load asks for it more than once (every computed default
// that needs it, and again per set of overrides), and daemons start often.
// A short-lived copy serves the calls of one start-up, while a long-lived
// process still sees address changes on its next reload.
std::vector<InterfaceAddress> interface_list() {
  using Clock = std::chrono::steady_clock;
  static std::mutex mu;
  static std::optional<std::pair<Clock::time_point, std::vector<InterfaceAddress>>> cache;
  std::lock_guard lock(mu);
  auto now = Clock::now();
  if (!cache || now - cache->first > std::chrono::seconds(1)) cache.emplace(now, read_interface_list());
  return cache->second;
}

int addr_len(int family) { return family == AF_INET ? 4 : 16; }

bool same_addr(const InterfaceAddress& a, const InterfaceAddress& b) {
  return a.family == b.family && std::equal(a.addr.begin(), a.addr.begin() + addr_len(a.family), b.addr.begin());
}

void add_unique(std::vector<InterfaceAddress>& v, const InterfaceAddress& a) {
  for (auto& x : v)
    if (same_addr(x, a)) return;
  v.push_back(a);
}

InterfaceAddress loopback(int family) {
  InterfaceAddress a;
  a.family = family;
  if (family == AF_INET) {
    a.addr[0] = 127;
    a.addr[3] = 1;
    a.mask[0] = 0xff;
  } else {
    a.addr[15] = 1;
    a.mask.fill(0xff);
  }
  return a;
}

int prefix_len(const InterfaceAddress& a) {
  int bits = 0;
  for (int i = 0; i < addr_len(a.family); ++i) {
    std::uint8_t m = a.mask[i];
    if (m == 0xff) {
      bits += 8;
      continue;
    }
    while (m & 0x80) {
      ++bits;
      m = std::uint8_t(m << 1);
    }
    break;
  }
  return bits;
}

}  // namespace

std::string local_hostname() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) return {};
  return std::string(buf);
}

std::vector<std::string> own_address_texts(std::string_view inet_interfaces, std::string_view inet_protocols) {
  std::vector<std::string> out;
  for (const auto& a : own_addresses(inet_interfaces, inet_protocols)) {
    char buf[INET6_ADDRSTRLEN];
    if (::inet_ntop(a.family, a.addr.data(), buf, sizeof buf)) out.emplace_back(buf);
  }
  return out;
}

std::vector<InterfaceAddress> own_addresses(std::string_view inet_interfaces, std::string_view inet_protocols) {
  Protocols proto = parse_protocols(inet_protocols);
  auto wanted = [&](int family) { return (family == AF_INET && proto.v4) || (family == AF_INET6 && proto.v6); };
  std::vector<InterfaceAddress> out;
  std::vector<InterfaceAddress> ifaces = interface_list();
  for (auto& item : split_list(inet_interfaces)) {
    auto word = str::lower(item);
    if (word == "all") {
      for (auto& a : ifaces)
        if (wanted(a.family)) add_unique(out, a);
      continue;
    }
    if (word == "loopback-only") {
      for (int f : {AF_INET, AF_INET6})
        if (wanted(f)) add_unique(out, loopback(f));
      continue;
    }
    std::string host = item;
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    addrinfo hints{};
    hints.ai_family = (proto.v4 && proto.v6) ? AF_UNSPEC : proto.v4 ? AF_INET : AF_INET6;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (!proto.v4 && !proto.v6) continue;
    if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0) continue;
    for (addrinfo* r = res; r; r = r->ai_next) {
      InterfaceAddress a;
      if (!from_sockaddr(r->ai_addr, a, false) || !wanted(a.family)) continue;
      a.mask.fill(0xff);
      // Use the interface's netmask when the address is configured here.
      for (auto& i : ifaces)
        if (same_addr(i, a)) a.mask = i.mask;
      add_unique(out, a);
    }
    freeaddrinfo(res);
  }
  return out;
}

std::string mynetworks(const std::vector<InterfaceAddress>& addrs, MaskStyle style) {
  std::vector<std::string> items;
  std::set<std::string> seen;
  for (const auto& a : addrs) {
    InterfaceAddress net = a;
    int bits = addr_len(a.family) * 8;
    if (style == MaskStyle::Subnet || (style == MaskStyle::Class && a.family == AF_INET6)) {
      bits = prefix_len(a);
    } else if (style == MaskStyle::Class) {
      std::uint8_t first = a.addr[0];
      if (first < 128) bits = 8;         // class A
      else if (first < 192) bits = 16;   // class B
      else if (first < 224) bits = 24;   // class C
      else if (first < 240) bits = 4;    // class D
      else continue;                     // class E: no natural network
    }
    for (int i = 0; i < addr_len(a.family); ++i) {
      int keep = std::clamp(bits - i * 8, 0, 8);
      std::uint8_t m = keep == 0 ? 0 : std::uint8_t(0xff << (8 - keep));
      net.addr[i] &= m;
    }
    char buf[INET6_ADDRSTRLEN] = {0};
    if (!inet_ntop(a.family, net.addr.data(), buf, sizeof buf)) continue;
    std::string text = a.family == AF_INET ? std::string(buf) + "/" + std::to_string(bits)
                                           : "[" + std::string(buf) + "]/" + std::to_string(bits);
    if (seen.insert(text).second) items.push_back(text);
  }
  std::string out;
  for (auto& s : items) {
    if (!out.empty()) out += ' ';
    out += s;
  }
  return out;
}

}  // namespace postern::config::host
