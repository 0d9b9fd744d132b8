// table_source_fuzz.cpp - fuzzes the postmap(1) source parser, texthash
// tables and the inline:/static: name parsers. The first byte selects the
// parser; the rest is the input.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "maps/source.h"
#include "maps/table.h"
#include "maps/text_tables.h"

using namespace postern::maps;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  OpenOptions o;
  o.log_warnings = false;
  switch (data[0] % 4) {
    case 0: {
      std::istringstream in(text);
      std::vector<std::string> warnings;
      auto entries = parse_table_source(in, "fuzz", warnings);
      for (const auto& e : entries)
        if (e.key.empty() || e.value.empty()) __builtin_trap();
      break;
    }
    case 1: {
      std::istringstream in(text);
      auto t = parse_texthash_table("fuzz", in, o);
      (void)t->lookup("key");
      (void)t->lookup(text.substr(0, text.find(' ')));
      (void)t->for_each([](std::string_view, std::string_view) { return true; });
      break;
    }
    case 2: {
      auto t = open_table("inline", text, o);
      if (t) {
        (void)(*t)->lookup("a");
        (void)(*t)->lookup(text);
      }
      break;
    }
    case 3: {
      auto t = open_table("static", text, o);
      if (t) (void)(*t)->lookup("x");
      (void)split_braced(text);
      break;
    }
  }
  return 0;
}
