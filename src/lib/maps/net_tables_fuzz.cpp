// net_tables_fuzz.cpp - fuzzes what tcp: and socketmap: tables read from a
// server: tcp reply lines with their %XX decoding, netstring framing with
// small and large bounds, socketmap reply payloads. Checks the invariants
// the tables rely on: a complete netstring lies inside the input, and
// encoding then decoding gives back the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "base/netstring.h"
#include "maps/net_tables.h"

using namespace postern::maps;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)net::parse_tcp_reply(in);
  (void)net::parse_socketmap_reply(in);
  for (std::size_t max : {std::size_t{0}, std::size_t{9}, std::size_t{100000}}) {
    auto ns = postern::parse_netstring(in, max);
    if (ns && ns->used != 0) {
      if (ns->used > in.size() || ns->payload.size() > max) std::abort();
      if (ns->payload.data() < in.data() || ns->payload.data() + ns->payload.size() > in.data() + in.size())
        std::abort();
    }
  }
  auto back = net::tcp_decode(net::tcp_encode(in));
  if (!back || *back != in) std::abort();
  return 0;
}
