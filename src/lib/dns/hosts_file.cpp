// hosts_file.cpp - see hosts_file.h.
#include "dns/hosts_file.h"

#include <arpa/inet.h>

#include "base/read_file.h"

namespace postern::dns {
namespace {

// Canonical text of an IPv4/IPv6 address, or "" when it is none.
std::string canonical(std::string_view text) {
  std::string s(text);
  char out[INET6_ADDRSTRLEN] = {};
  unsigned char buf[16];
  if (::inet_pton(AF_INET, s.c_str(), buf) == 1 && ::inet_ntop(AF_INET, buf, out, sizeof out)) return out;
  if (::inet_pton(AF_INET6, s.c_str(), buf) == 1 && ::inet_ntop(AF_INET6, buf, out, sizeof out)) return out;
  return {};
}

bool plain_host_name(std::string_view n) {
  if (n.empty() || n.size() > 253 || n.front() == '.' || n.front() == '-') return false;
  for (char c : n) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
              c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

HostsFile HostsFile::parse(std::string_view text) {
  HostsFile h;
  if (text.size() > kMaxHostsFile) text = text.substr(0, kMaxHostsFile);
  std::size_t pos = 0;
  while (pos < text.size() && h.names_.size() < kMaxHostsEntries) {
    std::size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    auto next_word = [&line]() -> std::string_view {
      std::size_t b = line.find_first_not_of(" \t\r");
      if (b == std::string_view::npos) {
        line = {};
        return {};
      }
      std::size_t e = line.find_first_of(" \t\r", b);
      std::string_view w = line.substr(b, e == std::string_view::npos ? std::string_view::npos : e - b);
      line = e == std::string_view::npos ? std::string_view{} : line.substr(e);
      return w;
    };
    std::string addr = canonical(next_word());
    std::string_view name = next_word();
    if (addr.empty() || !plain_host_name(name)) continue;
    h.names_.emplace(std::move(addr), std::string(name));  // the first line for an address wins
  }
  return h;
}

HostsFile HostsFile::load(const std::filesystem::path& path) {
  auto text = read_file(path, kMaxHostsFile, TooLarge::KeepHead);
  if (!text) return {};
  return parse(*text);
}

std::optional<std::string> HostsFile::name_of(std::string_view address) const {
  auto it = names_.find(canonical(address));
  if (it == names_.end()) return std::nullopt;
  return it->second;
}

}  // namespace postern::dns
