// cidr_table_fuzz.cpp - fuzzes cidr: table parsing and lookups with IPv4,
// IPv6 and garbage keys (the input's last line is one of them).
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "maps/text_tables.h"

using namespace postern::maps;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::istringstream in(text);
  OpenOptions o;
  o.log_warnings = false;
  auto t = parse_cidr_table("fuzz", in, o);
  std::string last = text.substr(text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1);
  for (const std::string& key : {std::string("10.1.2.3"), std::string("2001:db8::1"),
                                 std::string("::ffff:1.2.3.4"), std::string("0.0.0.0"), last})
    (void)t->lookup(key);
  return 0;
}
