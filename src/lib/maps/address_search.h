// address_search.h - Postfix's table search order for an email address.
//
// For virtual(5), canonical(5), aliases and friends ("TABLE SEARCH ORDER"),
// with recipient_delimiter = + and address user+ext@domain:
//   1. user+ext@domain   every table (patterns see the whole address)
//   2. user@domain       fixed-string tables only, extension dropped
//   3. user+ext          fixed-string tables only, when the domain is local
//   4. user              fixed-string tables only, when the domain is local
//   5. @domain           fixed-string tables only
// An address without "@" tries user+ext, then user. The first hit wins; a
// table error stops the search. "Local" is the caller's predicate (Postfix:
// $myorigin, $mydestination, $inet_interfaces, $proxy_interfaces).
// Case folding is the tables' business: fixed-string tables lowercase keys,
// regexp and pcre see the address as given.
//
// Extensions: recipient_delimiter is a set of characters; the localpart is
// split at the first of them, but never for postmaster, MAILER-DAEMON, the
// double-bounce sender, or (with "-" in the set) owner-* and *-request
// names, and never when either side would be empty.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "maps/map_list.h"

namespace postern::maps {

struct AddressSearchOptions {
  std::string recipient_delimiter;  // empty: no extensions
  // Is this domain local? Errors (a table behind mydestination failed)
  // abort the search with that error.
  std::function<Result<bool>(std::string_view domain)> is_local;
  std::string double_bounce_sender = "double-bounce";
};

struct AddressMatch {
  std::string value;      // the table's result
  std::string key;        // the key that matched
  std::string extension;  // the dropped extension with its delimiter ("+ext"), or ""
};

// Splits the extension off `address`: {"user@domain", "+ext"}, or nullopt
// when there is none (Postfix's strip_addr()).
struct StrippedAddress {
  std::string address;
  std::string extension;
};
std::optional<StrippedAddress> strip_extension(std::string_view address, std::string_view delimiters,
                                               std::string_view double_bounce_sender = "double-bounce");

Result<std::optional<AddressMatch>> find_address(MapList& maps, std::string_view address,
                                                 const AddressSearchOptions& opts);

// Table results come in external form and may list several addresses
// ("a@x, \"b c\"@y"): their internal forms; a value that does not parse as
// an address list is taken whole (Postfix is as lenient).
std::vector<std::string> result_addresses(std::string_view value);

// canonical(5) and generic(5): one address in, one out. The first address
// of the answer for `address` (in the search order above), an "@domain"
// answer keeping the local part, and with `propagate_extension` an
// unmatched extension put back (propagate_unmatched_extensions). nullopt:
// no table has it. The result may lack a domain (the caller qualifies it).
Result<std::optional<std::string>> map_address(MapList& maps, std::string_view address,
                                               const AddressSearchOptions& opts, bool propagate_extension);

// Re-inserts an unmatched extension into a result address (Postfix's
// propagate_unmatched_extensions): "joe@example.com" + "+ext" ->
// "joe+ext@example.com".
std::string add_extension(std::string_view address, std::string_view extension);

}  // namespace postern::maps
