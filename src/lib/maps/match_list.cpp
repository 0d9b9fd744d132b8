// match_list.cpp - domain and name list matching; see match_list.h.
//
// Pattern files are bounded (1 MiB, nesting depth 4) so that a wrong
// parameter value cannot make the daemon read a huge file or loop.
#include "maps/match_list.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstring>
#include <sstream>

#include "base/read_file.h"
#include "base/strings.h"
#include "config/registry.h"

namespace postern::maps {

namespace {

constexpr std::size_t kMaxPatternFile = 1 << 20;
constexpr int kMaxFileDepth = 4;

bool ends_with_icase(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && str::iequals(s.substr(s.size() - suffix.size()), suffix);
}

// An IPv4 or IPv6 address in text (no brackets): its family and bytes.
bool parse_address(std::string_view text, int& family, unsigned char out[16]) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return false;
  std::string z(text);
  if (::inet_pton(AF_INET, z.c_str(), out) == 1) {
    family = AF_INET;
    return true;
  }
  if (::inet_pton(AF_INET6, z.c_str(), out) == 1) {
    family = AF_INET6;
    return true;
  }
  return false;
}

// "addr", "addr/len", "[addr]", "[addr]/len": 1 when it is one (family,
// bytes and prefix set), 0 when it does not look like one, -1 when it looks
// like one but is not valid (a bad mask, host bits set after the mask).
int parse_network(std::string_view p, int& family, unsigned char net[16], int& prefix) {
  std::string_view addr = p, len;
  bool has_len = false;
  if (!p.empty() && p.front() == '[') {
    auto close = p.find(']');
    if (close == std::string_view::npos) return -1;
    addr = p.substr(1, close - 1);
    std::string_view rest = p.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != '/') return -1;
      has_len = true;
      len = rest.substr(1);
    }
  } else if (auto slash = p.find('/'); slash != std::string_view::npos) {
    addr = p.substr(0, slash);
    len = p.substr(slash + 1);
    has_len = true;
  }
  if (!parse_address(addr, family, net)) return p.front() == '[' ? -1 : 0;
  const int max = family == AF_INET ? 32 : 128;
  prefix = max;
  if (has_len) {
    auto n = str::parse_uint(len);
    if (!n || *n > static_cast<unsigned>(max)) return -1;
    prefix = static_cast<int>(*n);
  }
  // Bits past the mask must be zero, as Postfix insists ("non-null host
  // address bits"): 192.0.2.1/24 is more likely a mistake than a network.
  for (int bit = prefix; bit < max; ++bit)
    if (net[bit / 8] & (0x80 >> (bit % 8))) return -1;
  return 1;
}

bool in_network(int family, const unsigned char net[16], int prefix, std::string_view addr) {
  int f = 0;
  unsigned char b[16];
  if (!parse_address(addr, f, b) || f != family) return false;
  const int full = prefix / 8, rest = prefix % 8;
  if (std::memcmp(net, b, static_cast<std::size_t>(full)) != 0) return false;
  if (rest == 0) return true;
  const auto mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (net[full] & mask) == (b[full] & mask);
}

}  // namespace

Status MatchList::add(std::string_view title, std::string_view pattern, const OpenOptions& opts,
                       int depth) {
  Entry e;
  if (!pattern.empty() && pattern[0] == '!') {
    e.negate = true;
    pattern.remove_prefix(1);
  }
  if (pattern.empty()) return make_error("{}: empty pattern", title);
  if (pattern[0] == '/') {
    if (e.negate) return make_error("{}: negated file pattern \"!{}\" is not supported", title, pattern);
    if (depth >= kMaxFileDepth) return make_error("{}: pattern files nested too deeply at {}", title, pattern);
    auto text = read_file(std::string(pattern), kMaxPatternFile);
    if (!text) return make_error("{}: {}", title, text.error().message);
    std::istringstream lines(*text);
    std::string line;
    while (std::getline(lines, line)) {
      if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
      for (auto& p : config::split_list(line)) {
        if (auto st = add(title, p, opts, depth + 1); !st) return st;
      }
    }
    return {};
  }
  if (hosts_) {
    int r = parse_network(pattern, e.family, e.net, e.prefix);
    if (r < 0) return make_error("{}: bad address or network pattern \"{}\"", title, pattern);
    if (r > 0) {
      entries_.push_back(std::move(e));
      return {};
    }
  }
  if (pattern.find(':') != std::string_view::npos && pattern[0] != '[') {
    auto t = open_table(pattern, opts);
    if (!t) return make_error("{}: {}", title, t.error().message);
    e.table = std::move(*t);
  } else {
    e.name = str::lower(pattern);
  }
  entries_.push_back(std::move(e));
  return {};
}

Result<MatchList> MatchList::open(std::string_view title, std::string_view value, MatchStyle style,
                                  const OpenOptions& opts) {
  MatchList list;
  list.style_ = style;
  for (auto& p : config::split_list(value)) {
    if (auto st = list.add(title, p, opts, 0); !st) return st.take_error();
  }
  return list;
}

Result<MatchList> MatchList::open_hosts(std::string_view title, std::string_view value, MatchStyle style,
                                        const OpenOptions& opts) {
  MatchList list;
  list.style_ = style;
  list.hosts_ = true;
  for (auto& p : config::split_list(value)) {
    if (auto st = list.add(title, p, opts, 0); !st) return st.take_error();
  }
  return list;
}

Result<bool> MatchList::matches_name(Entry& e, std::string_view subject) const {
  const bool domains = style_ != MatchStyle::Name;
  const bool parent_style = style_ == MatchStyle::ParentDomain;
  if (e.table) {
    auto r = e.table->lookup(subject);
    if (!r) return r.take_error();
    if (r->has_value()) return true;
    // Parents: "a.b.example.com" -> "b.example.com", "example.com", "com"
    // (parent style) or ".b.example.com", ".example.com", ".com".
    for (std::size_t dot = subject.find('.', 1); domains && e.table->fixed() && dot != std::string_view::npos;
         dot = subject.find('.', dot + 1)) {
      auto key = parent_style ? subject.substr(dot + 1) : subject.substr(dot);
      if (key.empty() || key == ".") break;
      auto p = e.table->lookup(key);
      if (!p) return p.take_error();
      if (p->has_value()) return true;
    }
    return false;
  }
  if (str::iequals(subject, e.name)) return true;
  // Postfix's match_hostname(): with parent style "example.com" covers its
  // subdomains and ".example.com" nothing more; without it, only the
  // ".example.com" form reaches subdomains.
  if (parent_style) return subject.size() > e.name.size() + 1 && ends_with_icase(subject, "." + e.name);
  if (domains && !e.name.empty() && e.name[0] == '.')
    return subject.size() > e.name.size() && ends_with_icase(subject, e.name);
  return false;
}

Result<bool> MatchList::match(std::string_view subject) {
  if (subject.empty()) return false;
  for (auto& e : entries_) {
    if (e.family != 0) continue;  // a network matches addresses only (match_host())
    auto hit = matches_name(e, subject);
    if (!hit) return hit.take_error();
    if (*hit) return !e.negate;
  }
  return false;
}

Result<bool> MatchList::match_host(std::string_view name, std::string_view addr) {
  for (auto& e : entries_) {
    bool hit = false;
    if (e.family != 0) {
      hit = in_network(e.family, e.net, e.prefix, addr);
    } else {
      if (!name.empty()) {
        auto r = matches_name(e, name);
        if (!r) return r.take_error();
        hit = *r;
      }
      // A table is asked for the address too (Postfix's namadr lists).
      if (!hit && e.table && !addr.empty()) {
        auto r = e.table->lookup(addr);
        if (!r) return r.take_error();
        hit = r->has_value();
      }
    }
    if (hit) return !e.negate;
  }
  return false;
}

bool MatchList::changed() const {
  for (auto& e : entries_)
    if (e.table && e.table->changed()) return true;
  return false;
}

}  // namespace postern::maps
