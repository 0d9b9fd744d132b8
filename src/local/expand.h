// expand.h - the text-level pieces of local(8): alias/.forward lists, $name expansion, loop headers.
//
//   split_destinations("bob, |\"/bin/prog -x\", /var/log/x, :include:/etc/list")
//     -> {"bob", "|/bin/prog -x", "/var/log/x", ":include:/etc/list"}
//   classify(...) -> Address / Command / File / Include
//   expand_local("$home/.forward${recipient_delimiter}${extension}", vars)
//   delivered_to_values(content) -> the Delivered-To: header values, lowercased
//
// Alias values, .forward and :include: files are lists separated by commas
// (or, as in Postfix's RFC 822 tokenizer, by white space between two
// words). "Quoted strings" keep commas and spaces, (comments) are dropped,
// <addr> loses its brackets, and backslash escapes are resolved: the result
// is in internal (unquoted) form, the way Postfix's local(8) sees it.
// Commands with spaces must therefore be quoted ("|/bin/prog -x" or
// |"/bin/prog -x"), exactly as aliases(5) requires.
//
// Every input here comes from files that users write (.forward, :include:)
// or from the message (headers): everything is bounded (item count, item
// length, header count) and never crashes on malformed text.
//
// Reads no parameters, logs nothing.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "deliver/copy.h"
#include "deliver/delivered_to.h"

namespace postern::local {

// Where a destination was written; allow_mail_to_commands/files name these.
enum class Origin { Alias, Forward, Include };
std::string_view to_string(Origin o);

// allow_mail_to_commands / allow_mail_to_files: "alias, forward, include".
struct AllowList {
  bool alias = false, forward = false, include = false;
  static Result<AllowList> parse(const std::vector<std::string>& words);
  bool allows(Origin o) const;
};

inline constexpr std::size_t kMaxDestinations = 10000;    // items per list
inline constexpr std::size_t kMaxDestinationLength = 4096;  // bytes per item

// The list's items in internal form (see above). Empty items are dropped;
// items longer than kMaxDestinationLength are dropped too (the caller cannot
// deliver to them anyway); at most kMaxDestinations items.
std::vector<std::string> split_destinations(std::string_view text);

// .forward and :include: files are read like Postfix's readlline(): lines
// whose first non-blank character is '#' are comments and are dropped.
std::string strip_comment_lines(std::string_view text);

enum class DestKind { Address, Command, File, Include };
struct Destination {
  DestKind kind = DestKind::Address;
  std::string value;  // Command: the text after '|'; Include: the path; File: the path; Address: as is
};
Destination classify(std::string_view item);

// Attributes for forward_path and luser_relay expansion (Postfix local(8)
// names). recipient_delimiter is the delimiter this address actually used,
// empty without an extension.
struct LocalVars {
  std::string user, home, shell, recipient, extension, domain, local, recipient_delimiter;
};
struct Expansion {
  std::string text;
  bool undefined = false;  // a referenced attribute was empty (Postfix skips such forward_path entries)
};
// $name, ${name}, ${name?text}, ${name:text}; $$ is '$' (base/attr_expand.h).
// Unknown names are an error (so a typo in forward_path is reported, not
// silently empty). With a `filter` (forward_expansion_filter and friends),
// characters of the substituted values that it does not list become '_';
// the template's own text is kept.
Result<Expansion> expand_local(std::string_view templ, const LocalVars& vars, std::string_view filter = {});

// Loop detection reads the Delivered-To: headers (shared with virtual(8)).
using deliver::delivered_to_values;

// Splits "local@domain" at the last '@' (local parts may hold quoted '@').
struct LocalDomain {
  std::string local;
  std::string domain;
};
LocalDomain split_address(std::string_view address);

}  // namespace postern::local
