// regexp_table_fuzz.cpp - fuzzes regexp: (POSIX) and pcre: (PCRE2) table
// parsing and lookups. The first byte selects the dialect; the input's last
// line doubles as a lookup key.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "maps/text_tables.h"

using namespace postern::maps;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Pattern compilation cost grows fast with pattern size; admins' patterns
  // are short, so long inputs only slow the fuzzer down.
  if (size < 1 || size > 1024) return 0;
  std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  std::istringstream in(text);
  OpenOptions o;
  o.log_warnings = false;
  auto t = (data[0] & 1) ? parse_pcre_table("fuzz", in, o) : parse_regexp_table("fuzz", in, o);
  std::string last = text.substr(text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1);
  for (const std::string& key : {std::string("user+ext@Example.COM"), std::string("a"), last, text})
    (void)t->lookup(key);
  return 0;
}
