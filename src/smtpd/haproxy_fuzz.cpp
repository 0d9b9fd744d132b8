// haproxy_fuzz.cpp - fuzzes the PROXY protocol header parser: the bytes
// come from the network before anything else. Besides crashes, checks what
// the session relies on: a header never claims more bytes than it was given
// or than a header may have, and a proxied one names a valid port-bearing
// address.
#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "smtpd/haproxy.h"

using namespace postern::smtpd;

namespace {
void check(bool ok) {
  if (!ok) std::abort();
}
bool valid_ip(const std::string& s) {
  unsigned char buf[16];
  return ::inet_pton(AF_INET, s.c_str(), buf) == 1 || ::inet_pton(AF_INET6, s.c_str(), buf) == 1;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto h = parse_proxy_header(in);
  if (!h || !*h) return 0;
  check((*h)->consumed > 0 && (*h)->consumed <= size);
  check((*h)->consumed <= std::max(kMaxProxyV1Length, kMaxProxyV2Length));
  if (!(*h)->local) check(valid_ip((*h)->client_addr) && valid_ip((*h)->server_addr));
  // Fed again in two pieces, the answer is the same or "more, please".
  for (std::size_t cut : {std::size_t{1}, size / 2}) {
    if (cut >= (*h)->consumed) continue;
    auto part = parse_proxy_header(in.substr(0, cut));
    check(part && !*part);
  }
  return 0;
}
