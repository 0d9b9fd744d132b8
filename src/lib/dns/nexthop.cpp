// nexthop.cpp - see nexthop.h.
#include "dns/nexthop.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>
#include <array>

#include "base/strings.h"
#include "dns/name.h"

namespace postern::dns {

namespace {

// Known without /etc/services, which a chrooted smtp client may not have.
struct KnownService {
  std::string_view name;
  std::uint16_t port;
};
constexpr std::array<KnownService, 5> kKnownServices{{
    {"smtp", 25}, {"lmtp", 24}, {"submission", 587}, {"submissions", 465}, {"smtps", 465}}};

Result<Nexthop> parse_host(std::string_view host, bool bracketed, std::string_view original) {
  Nexthop nh;
  nh.mx_lookup = !bracketed;
  if (host.empty()) return make_error("empty host in next-hop \"{}\"", str::printable(original, 300));
  if (bracketed) {
    bool v6_tag = str::istarts_with(host, "ipv6:");
    std::string_view addr = v6_tag ? host.substr(5) : host;
    if (v6_tag || addr.find(':') != std::string_view::npos) {
      auto ip = parse_ip(addr);
      if (!ip || !ip->is_v6())
        return make_error("malformed IPv6 address literal in next-hop \"{}\"", str::printable(original, 300));
      nh.literal = *ip;
      nh.host = ip->to_string();
      return nh;
    }
    if (is_numeric_hostname(addr)) {
      auto ip = parse_ip(addr);
      if (!ip) return make_error("malformed IPv4 address literal in next-hop \"{}\"", str::printable(original, 300));
      nh.literal = *ip;
      nh.host = ip->to_string();
      return nh;
    }
  } else if (is_numeric_hostname(host)) {
    auto ip = parse_ip(host);
    if (!ip) return make_error("malformed IPv4 address in next-hop \"{}\"", str::printable(original, 300));
    nh.literal = *ip;
    nh.host = ip->to_string();
    nh.mx_lookup = false;
    return nh;
  }
  auto name = normalize_hostname(host);
  if (!name)
    return make_error("bad host name in next-hop \"{}\": {}", str::printable(original, 300), name.error().message);
  nh.host = std::move(*name);
  return nh;
}

}  // namespace

Result<std::uint16_t> parse_port(std::string_view text) {
  if (text.empty()) return make_error("empty port");
  if (auto n = str::parse_uint(text)) {
    if (*n == 0 || *n > 65535) return make_error("port {} out of range", *n);
    return static_cast<std::uint16_t>(*n);
  }
  if (text.size() > 64) return make_error("service name too long");
  for (char c : text)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
      return make_error("malformed service name \"{}\"", str::printable(text, 64));
  std::string name(text);
  servent se{};
  servent* found = nullptr;
  std::array<char, 1024> buf{};
  if (getservbyname_r(name.c_str(), "tcp", &se, buf.data(), buf.size(), &found) == 0 && found)
    return static_cast<std::uint16_t>(ntohs(static_cast<std::uint16_t>(found->s_port)));
  for (const auto& k : kKnownServices)
    if (str::iequals(k.name, text)) return k.port;
  return make_error("unknown service \"{}\"", str::printable(text, 64));
}

Result<Nexthop> parse_nexthop(std::string_view text) {
  // A next-hop is at most a name plus brackets and a port; anything much
  // longer is not one.
  if (text.size() > kMaxNameLength + 80) return make_error("next-hop too long");
  if (text.empty()) return make_error("empty next-hop");
  std::string_view host, port;
  bool bracketed = false;
  if (text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos)
      return make_error("missing ']' in next-hop \"{}\"", str::printable(text, 300));
    bracketed = true;
    host = text.substr(1, close - 1);
    auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':' || rest.size() < 2)
        return make_error("garbage after ']' in next-hop \"{}\"", str::printable(text, 300));
      port = rest.substr(1);
    }
  } else {
    auto colon = text.find(':');
    if (colon != std::string_view::npos) {
      if (text.find(':', colon + 1) != std::string_view::npos)
        return make_error("IPv6 address in next-hop \"{}\" must be written as [address]",
                          str::printable(text, 300));
      host = text.substr(0, colon);
      port = text.substr(colon + 1);
      if (port.empty()) return make_error("empty port in next-hop \"{}\"", str::printable(text, 300));
    } else {
      host = text;
    }
  }
  auto nh = parse_host(host, bracketed, text);
  if (!nh) return nh;
  if (!port.empty()) {
    auto p = parse_port(port);
    if (!p) return make_error("bad port in next-hop \"{}\": {}", str::printable(text, 300), p.error().message);
    nh->port = *p;
  }
  return nh;
}

Result<AddressPreference> parse_address_preference(std::string_view text) {
  auto t = str::trim(text);
  if (str::iequals(t, "any")) return AddressPreference::Any;
  if (str::iequals(t, "ipv4")) return AddressPreference::Ipv4;
  if (str::iequals(t, "ipv6")) return AddressPreference::Ipv6;
  return make_error("bad address preference \"{}\" (want any, ipv4 or ipv6)", str::printable(t, 40));
}

Result<HostLookup> parse_host_lookup(std::string_view text) {
  bool dns = false, native = false;
  for (const auto& w : str::split(text, ", \t")) {
    if (str::iequals(w, "dns")) dns = true;
    else if (str::iequals(w, "native")) native = true;
    else return make_error("bad host lookup method \"{}\" (want dns, native or both)", str::printable(w, 40));
  }
  if (dns && native) return HostLookup::kDnsThenNative;
  if (native) return HostLookup::kNative;
  if (dns) return HostLookup::kDns;
  return make_error("no host lookup method (want dns, native or both)");
}

void order_group(std::vector<Destination>& group, const NexthopOptions& opts, std::mt19937_64& rng) {
  if (opts.randomize_addresses) std::shuffle(group.begin(), group.end(), rng);
  if (opts.preference == AddressPreference::Any) return;
  bool want_v6 = opts.preference == AddressPreference::Ipv6;
  std::stable_partition(group.begin(), group.end(),
                        [&](const Destination& d) { return d.address.is_v6() == want_v6; });
}

std::size_t address_limit(const NexthopOptions& opts) {
  if (opts.mx_address_limit == 0) return kMaxDestinations;
  return std::min(opts.mx_address_limit, kMaxDestinations);
}

void limit_destinations(std::vector<Destination>& all, const NexthopOptions& opts) {
  std::size_t limit = address_limit(opts);
  if (all.size() <= limit) return;
  if (opts.balance_families && limit >= 2) {
    auto is_v6 = [](const Destination& d) { return d.address.is_v6(); };
    bool head_v6 = is_v6(all.front());
    auto cut = all.begin() + static_cast<std::ptrdiff_t>(limit);
    bool mixed_head = std::any_of(all.begin(), cut, [&](const Destination& d) { return is_v6(d) != head_v6; });
    if (!mixed_head) {
      auto other = std::find_if(cut, all.end(), [&](const Destination& d) { return is_v6(d) != head_v6; });
      if (other != all.end()) std::rotate(cut - 1, other, other + 1);
    }
  }
  all.resize(limit);
}

}  // namespace postern::dns
