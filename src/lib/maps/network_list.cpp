// network_list.cpp - see network_list.h.
#include "maps/network_list.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cctype>
#include <cstring>
#include <sstream>

#include "base/read_file.h"
#include "base/strings.h"
#include "config/registry.h"

namespace postern::maps {

namespace {

// Bound on nested /file/name entries (a file naming itself).
constexpr int kMaxDepth = 4;
constexpr std::size_t kMaxListFile = 1 << 20;

std::vector<std::string> read_list_file(const std::string& path, Status& st) {
  auto content = read_file(path, kMaxListFile, TooLarge::KeepHead);
  if (!content) {
    st = content.take_error();
    return {};
  }
  std::istringstream in(*content);
  std::string text, line;
  while (std::getline(in, line)) {
    auto t = str::trim(line);
    if (t.empty() || t.front() == '#') continue;
    text += std::string(t) + " ";
  }
  return str::split(text);
}

bool is_table_spec(std::string_view e) {
  auto colon = e.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  // "[::1]/128" and bare IPv6 addresses are not tables.
  if (e.front() == '[' || e.front() == '!') return false;
  for (char ch : e.substr(0, colon))
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-')) return false;
  return true;
}

}  // namespace

bool parse_ip(std::string_view text, int& family, unsigned char out[16]) {
  std::string s(text);
  std::memset(out, 0, 16);
  if (::inet_pton(AF_INET, s.c_str(), out) == 1) {
    family = AF_INET;
    return true;
  }
  if (s.size() > 7 && str::istarts_with(s, "::ffff:") && ::inet_pton(AF_INET, s.c_str() + 7, out) == 1) {
    family = AF_INET;  // IPv4-mapped client address: match IPv4 networks
    return true;
  }
  if (::inet_pton(AF_INET6, s.c_str(), out) == 1) {
    family = AF_INET6;
    return true;
  }
  return false;
}

Status NetworkList::add_entry(NetworkList& nl, std::string_view title, std::string entry, int depth) {
  Net n;
  std::string_view e = entry;
  if (!e.empty() && e.front() == '!') {
    n.negate = true;
    e.remove_prefix(1);
  }
  if (e.empty()) return make_error("{}: empty network entry", title);
  if (e.front() == '/') {
    if (depth >= kMaxDepth) return make_error("{}: {}: files nested too deeply", title, e);
    Status st;
    auto items = read_list_file(std::string(e), st);
    if (!st) return make_error("{}: {}", title, st.error().message);
    for (auto& i : items)
      if (auto s2 = add_entry(nl, title, i, depth + 1); !s2) return s2;
    return {};
  }
  if (is_table_spec(e)) {
    auto ml = MapList::open(title, e);
    if (!ml) return make_error("{}", ml.error().message);
    n.table = std::make_unique<MapList>(std::move(*ml));
    nl.nets_.push_back(std::move(n));
    return {};
  }
  std::string_view addr = e, len;
  if (auto slash = e.find('/'); slash != std::string_view::npos) {
    addr = e.substr(0, slash);
    len = e.substr(slash + 1);
  }
  if (addr.size() >= 2 && addr.front() == '[' && addr.back() == ']') addr = addr.substr(1, addr.size() - 2);
  if (!parse_ip(addr, n.family, n.bytes)) return make_error("{}: bad network entry \"{}\"", title, entry);
  int max = n.family == AF_INET ? 32 : 128;
  n.prefix = max;
  if (!len.empty() || e.find('/') != std::string_view::npos) {
    auto p = str::parse_uint(len);
    if (!p || *p > static_cast<unsigned>(max)) return make_error("{}: bad network mask in \"{}\"", title, entry);
    n.prefix = static_cast<int>(*p);
  }
  nl.nets_.push_back(std::move(n));
  return {};
}

Result<NetworkList> NetworkList::parse(std::string_view title, std::string_view list) {
  NetworkList nl;
  for (auto& e : config::split_list(list))
    if (auto st = add_entry(nl, title, e, 0); !st) return st.error();
  return nl;
}

Result<bool> NetworkList::contains(std::string_view addr) {
  int family = 0;
  unsigned char b[16];
  if (!parse_ip(addr, family, b)) return false;
  for (auto& n : nets_) {
    bool hit = false;
    if (n.table) {
      auto r = n.table->lookup(addr);
      if (!r) return r.error();
      hit = r->has_value();
    } else if (n.family == family) {
      int full = n.prefix / 8, rest = n.prefix % 8;
      hit = std::memcmp(n.bytes, b, full) == 0;
      if (hit && rest) {
        unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
        hit = (n.bytes[full] & mask) == (b[full] & mask);
      }
    }
    if (hit) return !n.negate;
  }
  return false;
}

}  // namespace postern::maps
