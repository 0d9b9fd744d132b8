// alias_source_fuzz.cpp - fuzzes the aliases(5) parser (RFC 822 tokens,
// name/value split, quoting on output).
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "maps/alias_source.h"

using namespace postern::maps;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::istringstream in(text);
  std::vector<std::string> warnings;
  for (const auto& e : parse_alias_source(in, "fuzz", warnings)) {
    // A stored value is parsed again at delivery time; exercise that too.
    (void)parse_alias_entry("x: " + e.entry.value);
  }
  (void)parse_alias_entry(text);
  return 0;
}
