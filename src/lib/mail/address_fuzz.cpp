// address_fuzz.cpp - libFuzzer target for parse_smtp_path() and local-part quoting.
//
// The first input byte selects PathOptions; the rest is the text between
// '<' and '>'. Invariants checked on every accepted address:
//  - no control characters in the local part or the domain;
//  - the external form parses back to the same address;
//  - unquote_local(quote_local(local)) == local;
//  - routing tricks match the characters present;
//  - split_extension() pieces put back together give the local part.
// quote/unquote round trip is also checked on the raw input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "mail/address.h"

using namespace postern::mail;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

bool has_ctl(std::string_view s) {
  for (unsigned char c : s)
    if (is_ctl(c)) return true;
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  unsigned flags = data[0];
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  PathOptions o;
  o.allow_null = flags & 1;
  o.smtputf8 = flags & 2;
  o.allow_raw_8bit = flags & 4;
  o.allow_bare_local = flags & 8;
  o.lenient_local = flags & 16;
  o.allow_source_route = flags & 32;
  o.allow_trailing_dot = flags & 64;
  if (flags & 128) {
    o.max_local = 64;
    o.max_domain = 255;
    o.max_path = 256;
  }

  check(unquote_local(quote_local(text)) == text);

  auto r = parse_smtp_path(text, o);
  if (!r.ok()) return 0;
  const Address& a = *r;

  check(!has_ctl(a.local) && !has_ctl(a.domain) && !has_ctl(a.route));
  check(unquote_local(quote_local(a.local)) == a.local);
  if (a.is_null()) check(text.empty() && o.allow_null);

  // Re-parse the external form without length limits (quoting may lengthen it).
  PathOptions again = o;
  again.allow_null = true;
  again.max_local = again.max_domain = again.max_path = 0;
  auto b = parse_smtp_path(a.to_external(), again);
  check(b.ok());
  check(*b == a);

  if (a.has_domain() && (a.local.empty() || a.local.front() != '@'))
    check(Address::from_internal(a.to_internal()) == a);

  RoutingTricks t = a.has_routing_tricks();
  check(t.has(RoutingTrick::kPercentHack) == (a.local.find('%') != std::string::npos));
  check(t.has(RoutingTrick::kBangPath) == (a.local.find('!') != std::string::npos));
  check(t.has(RoutingTrick::kQuotedAt) == (a.local.find('@') != std::string::npos));
  check(t.has(RoutingTrick::kSourceRoute) == !a.route.empty());

  if (auto s = split_extension(a.local, "+-=")) {
    std::string joined(s->base);
    joined += s->delimiter;
    joined += s->extension;
    check(joined == a.local);
    check(!s->base.empty());
  }
  return 0;
}
