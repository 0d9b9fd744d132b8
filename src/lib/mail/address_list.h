// address_list.h - RFC 5322 address lists in header values (To, Cc, From, Resent-*...).
//
// Used by "sendmail -t" to extract recipients and by cleanup to rewrite
// header addresses (canonical_maps, masquerading, append @$myorigin) while
// leaving the rest of the header - display names, comments, folding - alone.
//
// The parser is permissive like Postfix's tok822 parser: it never throws
// text away it does not understand, and it understands
//   addr@domain, Display Name <addr@domain>, "Quoted, Name" <addr>,
//   groups "name: a, b;", "undisclosed-recipients:;", comments (nested),
//   quoted local parts, domain literals, obsolete routes <@a,@b:user@host>,
//   obsolete dotted phrases (John Q. Public <jqp@x>) and missing commas:
//   two adjacent words outside angle brackets start a new address, exactly
//   as Postfix does ("a b@c" is two addresses). A ':' is a group start only
//   when a ';' follows later (otherwise it is part of an address, as in
//   Postfix).
// Each address comes back in internal (unquoted) form with the byte span of
// its text in the input, so a caller can splice in a rewritten address.
// Folding (CRLF/LF followed by blanks) is unfolded inside quoted strings.
//
// Bounds: the value may be at most max_bytes (header_size_limit) long and
// comments may nest at most max_comment_depth levels (errors otherwise);
// tokens beyond max_tokens (header_address_token_limit) are ignored and the
// result is marked truncated, like Postfix.
//
// Parameters (passed in): header_size_limit, header_address_token_limit.
// Logs nothing.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "mail/address.h"

namespace postern::mail {

struct AddressListOptions {
  std::size_t max_bytes = 102400;      // header_size_limit
  std::size_t max_tokens = 10240;      // header_address_token_limit
  std::size_t max_comment_depth = 32;  // nesting of (comments (in comments))
};

struct HeaderAddress {
  Address address;           // internal form; domain empty when the header had none
  std::size_t begin = 0;     // byte span [begin, end) of the address text in the value
  std::size_t end = 0;       //   (inside the angle brackets for Name <addr>)
  bool angle = false;        // written as <addr>
  std::string display_name;  // raw text before '<', trimmed; empty if none
  std::string group;         // raw name of the enclosing group, trimmed; empty if none
};

struct AddressList {
  std::vector<HeaderAddress> addresses;
  bool malformed = false;  // unterminated quote/comment/literal, unclosed '<', stray '>'
  bool truncated = false;  // more than max_tokens tokens; the rest was ignored
};

// Parse a header value (the text after "Name:"). Empty <> addresses and
// groups without members produce no entries.
Result<AddressList> parse_address_list(std::string_view value, const AddressListOptions& options = {});

// Splice rewritten addresses into `value`. `rewrite` returns the replacement
// for an address or nullopt to keep it; replacements are written in external
// form (quote_local()). `list` must come from parse_address_list(value).
std::string rewrite_address_list(std::string_view value, const AddressList& list,
                                 const std::function<std::optional<Address>(const HeaderAddress&)>& rewrite);

}  // namespace postern::mail
