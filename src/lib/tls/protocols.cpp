// protocols.cpp - see protocols.h.
#include "tls/protocols.h"

#include <array>
#include <string>

#include "base/strings.h"

namespace postern::tls {
namespace {

struct Named {
  std::string_view name;
  unsigned bit;  // 0: an SSL version, never enabled
  int rank;      // order, for >= and <=
};
constexpr std::array<Named, 6> kNames = {{
    {"SSLv2", 0, 0},
    {"SSLv3", 0, 1},
    {"TLSv1", kTls1, 2},
    {"TLSv1.1", kTls11, 3},
    {"TLSv1.2", kTls12, 4},
    {"TLSv1.3", kTls13, 5},
}};

const Named* find(std::string_view name) {
  for (const auto& n : kNames)
    if (str::iequals(n.name, name)) return &n;
  return nullptr;
}

unsigned bits_from(int rank, bool at_least) {
  unsigned out = 0;
  for (const auto& n : kNames)
    if (at_least ? n.rank >= rank : n.rank <= rank) out |= n.bit;
  return out;
}

}  // namespace

Result<unsigned> parse_protocols(std::string_view list) {
  unsigned included = 0, excluded = 0, range = kAllVersions;
  bool any_included = false;
  std::size_t i = 0;
  while (i < list.size()) {
    std::size_t start = list.find_first_not_of(", \t\r\n:", i);
    if (start == std::string_view::npos) break;
    std::size_t end = list.find_first_of(", \t\r\n:", start);
    if (end == std::string_view::npos) end = list.size();
    std::string_view item = list.substr(start, end - start);
    i = end;
    std::string_view name = item;
    enum { kPlain, kNot, kAtLeast, kAtMost } how = kPlain;
    if (name.substr(0, 1) == "!") {
      how = kNot;
      name.remove_prefix(1);
    } else if (name.substr(0, 2) == ">=") {
      how = kAtLeast;
      name.remove_prefix(2);
    } else if (name.substr(0, 2) == "<=") {
      how = kAtMost;
      name.remove_prefix(2);
    }
    const Named* n = find(name);
    if (!n) return make_error("unknown TLS protocol \"{}\" in \"{}\"", str::printable(item, 40), str::printable(list, 100));
    switch (how) {
      case kPlain: included |= n->bit; any_included = true; break;
      case kNot: excluded |= n->bit; break;
      case kAtLeast: range &= bits_from(n->rank, true); break;
      case kAtMost: range &= bits_from(n->rank, false); break;
    }
  }
  unsigned out = (any_included ? included : kAllVersions) & range & ~excluded;
  if (out == 0) return make_error("TLS protocol list \"{}\" leaves no TLS version enabled", str::printable(list, 100));
  return out;
}

std::string_view version_name(unsigned bit) {
  for (const auto& n : kNames)
    if (n.bit != 0 && n.bit == bit) return n.name;
  return {};
}

}  // namespace postern::tls
