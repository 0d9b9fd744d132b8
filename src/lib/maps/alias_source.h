// alias_source.h - parsing aliases(5) entries the way Postfix's postalias does.
//
//   name: value, value, ...
//   "quoted name": value
//   name: :include:/file, |"/path/cmd arg", /path/file, user@domain
//
// The line is split into RFC 822 tokens (atoms, "quoted strings", (comments),
// [domain literals] and the operators | % ! ) < > @ , ; : . ]). The name is
// everything before the first ":" token, in internal (unquoted) form; the
// value is everything after it, written back in external (quoted) form with
// Postfix's spacing rules, because local(8) parses it again on lookup. So
// "a,  b" is stored as "a, b", "|/bin/cat" stays "|/bin/cat" and "\bob"
// becomes "bob", exactly as Postfix stores them.
//
// Rejected entries (the caller warns "file, line N: <why>"):
//   "need name:value pair"  no ":", nothing before or after it, or "," in the name
//   "name must be local"    "@" or "%" in the name
#pragma once

#include <istream>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace postern::maps {

struct AliasEntry {
  std::string name;   // internal form, not yet case-folded
  std::string value;  // external form
};

struct AliasReject {
  std::string why;
};

// One logical line of an aliases file. Returns AliasReject with an empty
// `why` for a line without any token (nothing to warn about).
std::variant<AliasEntry, AliasReject> parse_alias_entry(std::string_view line);

// A whole aliases text: entries in file order plus "name, line N: why"
// warnings.
struct AliasSourceEntry {
  AliasEntry entry;
  int line = 0;
};
std::vector<AliasSourceEntry> parse_alias_source(std::istream& in, std::string_view name,
                                                 std::vector<std::string>& warnings);

}  // namespace postern::maps
