// name.cpp - see name.h.
#include "dns/name.h"

#include <fmt/format.h>

namespace postern::dns {

Result<std::string> normalize_hostname(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty()) return make_error("empty domain name");
  if (name.size() > kMaxNameLength)
    return make_error("domain name longer than {} characters", kMaxNameLength);
  std::string out;
  out.reserve(name.size());
  std::size_t label_start = 0;
  for (std::size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      std::size_t len = i - label_start;
      if (len == 0) return make_error("empty label in domain name");
      if (len > kMaxLabelLength) return make_error("label longer than {} characters", kMaxLabelLength);
      if (name[label_start] == '-' || name[i - 1] == '-') return make_error("misplaced hyphen in label");
      if (i < name.size()) out.push_back('.');
      label_start = i + 1;
      continue;
    }
    unsigned char c = static_cast<unsigned char>(name[i]);
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_';
    if (!ok) return make_error("invalid character 0x{:02x} in domain name", c);
    out.push_back(c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : char(c));
  }
  return out;
}

bool is_numeric_hostname(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name)
    if (!(c == '.' || (c >= '0' && c <= '9'))) return false;
  return true;
}

std::optional<asio::ip::address> parse_ip(std::string_view text) {
  // Scope ids ("fe80::1%eth0") name an interface of this host: meaningless
  // in mail routing and in DNS answers.
  if (text.empty() || text.size() > 64 || text.find('%') != std::string_view::npos) return std::nullopt;
  error_code ec;
  std::string s(text);
  if (s.find(':') != std::string::npos) {
    auto v6 = asio::ip::make_address_v6(s, ec);
    if (ec) return std::nullopt;
    return asio::ip::address(v6);
  }
  auto v4 = asio::ip::make_address_v4(s, ec);
  if (ec) return std::nullopt;
  return asio::ip::address(v4);
}

asio::ip::address unmap(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  return a;
}

std::string reversed_under(const asio::ip::address& addr, std::string_view domain) {
  auto a = unmap(addr);
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    return fmt::format("{}.{}.{}.{}.{}", b[3], b[2], b[1], b[0], domain);
  }
  auto b = a.to_v6().to_bytes();
  static const char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(64 + domain.size());
  for (std::size_t i = b.size(); i-- > 0;) {
    out.push_back(hex[b[i] & 0xf]);
    out.push_back('.');
    out.push_back(hex[b[i] >> 4]);
    out.push_back('.');
  }
  out += domain;
  return out;
}

std::string reverse_name(const asio::ip::address& addr) {
  return reversed_under(addr, unmap(addr).is_v4() ? "in-addr.arpa" : "ip6.arpa");
}

}  // namespace postern::dns
