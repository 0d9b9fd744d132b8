// haproxy.cpp - see haproxy.h.
#include "smtpd/haproxy.h"

#include <arpa/inet.h>

#include <cstring>

#include "base/strings.h"

namespace postern::smtpd {

namespace {

constexpr std::string_view kV2Signature("\r\n\r\n\0\r\nQUIT\n", 12);

// A v1 address of the family: inet_pton() is the strict judge.
bool valid_address(std::string_view text, int family) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return false;
  char buf[INET6_ADDRSTRLEN];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  unsigned char out[16];
  return ::inet_pton(family, buf, out) == 1;
}

std::optional<std::uint16_t> port_number(std::string_view text) {
  if (text.empty() || text.size() > 5 || (text.size() > 1 && text[0] == '0')) return std::nullopt;
  auto n = str::parse_uint(text);
  if (!n || *n > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(*n);
}

Result<std::optional<ProxyHeader>> parse_v1(std::string_view data) {
  const std::size_t end = data.find("\r\n");
  if (end == std::string_view::npos) {
    if (data.size() >= kMaxProxyV1Length) return make_error("haproxy v1 header longer than {} bytes", kMaxProxyV1Length);
    return std::optional<ProxyHeader>();
  }
  if (end + 2 > kMaxProxyV1Length) return make_error("haproxy v1 header longer than {} bytes", kMaxProxyV1Length);
  ProxyHeader h;
  h.consumed = end + 2;
  std::string_view line = data.substr(0, end);
  // Single spaces between the fields, as the specification writes them.
  std::string_view fields[6];
  std::size_t n = 0;
  while (n < 6) {
    std::size_t sp = line.find(' ');
    fields[n++] = line.substr(0, sp);
    if (sp == std::string_view::npos) {
      line = {};
      break;
    }
    line.remove_prefix(sp + 1);
  }
  if (n < 2 || fields[0] != "PROXY") return make_error("haproxy v1 header without \"PROXY\"");
  if (fields[1] == "UNKNOWN") {
    h.local = true;  // whatever follows does not matter
    return std::optional<ProxyHeader>(std::move(h));
  }
  int family = fields[1] == "TCP4" ? AF_INET : fields[1] == "TCP6" ? AF_INET6 : 0;
  if (!family) return make_error("haproxy v1 protocol \"{}\" is not TCP4, TCP6 or UNKNOWN", str::printable(fields[1], 16));
  if (n != 6 || !line.empty()) return make_error("haproxy v1 header has not 6 fields");
  if (!valid_address(fields[2], family) || !valid_address(fields[3], family))
    return make_error("haproxy v1 header has a bad address");
  auto sport = port_number(fields[4]), dport = port_number(fields[5]);
  if (!sport || !dport) return make_error("haproxy v1 header has a bad port");
  h.client_addr = std::string(fields[2]);
  h.server_addr = std::string(fields[3]);
  h.client_port = *sport;
  h.server_port = *dport;
  return std::optional<ProxyHeader>(std::move(h));
}

std::string address_text(int family, const unsigned char* bytes) {
  char buf[INET6_ADDRSTRLEN] = {0};
  ::inet_ntop(family, bytes, buf, sizeof buf);
  return buf;
}

Result<std::optional<ProxyHeader>> parse_v2(std::string_view data) {
  if (data.size() < 16) return std::optional<ProxyHeader>();
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  const unsigned version = p[12] >> 4, command = p[12] & 0x0f;
  const unsigned family = p[13] >> 4, transport = p[13] & 0x0f;
  const std::size_t length = (static_cast<std::size_t>(p[14]) << 8) | p[15];
  if (version != 2) return make_error("haproxy v2 header of version {}", version);
  if (command > 1) return make_error("haproxy v2 command {} is not LOCAL or PROXY", command);
  if (16 + length > kMaxProxyV2Length) return make_error("haproxy v2 header longer than {} bytes", kMaxProxyV2Length);
  if (data.size() < 16 + length) return std::optional<ProxyHeader>();
  ProxyHeader h;
  h.consumed = 16 + length;
  if (command == 0) {  // LOCAL: the proxy's own connection
    h.local = true;
    return std::optional<ProxyHeader>(std::move(h));
  }
  const unsigned char* a = p + 16;
  if (transport != 1) return make_error("haproxy v2 transport {} is not a stream", transport);
  if (family == 1) {  // AF_INET
    if (length < 12) return make_error("haproxy v2 IPv4 addresses too short");
    h.client_addr = address_text(AF_INET, a);
    h.server_addr = address_text(AF_INET, a + 4);
    h.client_port = static_cast<std::uint16_t>((a[8] << 8) | a[9]);
    h.server_port = static_cast<std::uint16_t>((a[10] << 8) | a[11]);
  } else if (family == 2) {  // AF_INET6
    if (length < 36) return make_error("haproxy v2 IPv6 addresses too short");
    h.client_addr = address_text(AF_INET6, a);
    h.server_addr = address_text(AF_INET6, a + 16);
    h.client_port = static_cast<std::uint16_t>((a[32] << 8) | a[33]);
    h.server_port = static_cast<std::uint16_t>((a[34] << 8) | a[35]);
  } else {
    return make_error("haproxy v2 address family {} is not IPv4 or IPv6", family);
  }
  return std::optional<ProxyHeader>(std::move(h));
}

}  // namespace

Result<std::optional<ProxyHeader>> parse_proxy_header(std::string_view data) {
  if (data.empty()) return std::optional<ProxyHeader>();
  // Which version: decided by the first bytes, as far as they have come.
  const std::size_t n = std::min(data.size(), kV2Signature.size());
  if (data.substr(0, n) == kV2Signature.substr(0, n)) {
    if (data.size() < kV2Signature.size()) return std::optional<ProxyHeader>();
    return parse_v2(data);
  }
  const std::string_view v1 = "PROXY ";
  const std::size_t m = std::min(data.size(), v1.size());
  if (data.substr(0, m) != v1.substr(0, m)) return make_error("no haproxy header (the client spoke first?)");
  return parse_v1(data);
}

}  // namespace postern::smtpd
