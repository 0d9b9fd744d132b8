// match_list.h - Postfix's domain and name lists (mydestination, relay_domains,
// authorized_submit_users, ...).
//
// A list of patterns, tried in order; the first one that matches decides:
//   example.com      a name: the string itself (ASCII case ignored). In a
//                    domain list with parent-style matching (the parameter
//                    is listed in parent_domain_matches_subdomains) also
//                    every subdomain
//   .example.com     (domain lists without parent-style matching) every
//                    subdomain of example.com, not the domain itself; with
//                    parent style, as in Postfix, nothing but that name
//   !pattern         a match means "not in the list" and stops the search
//   /file/name       patterns read from the file (one or more per line, "#"
//                    comments)
//   type:table       the string is looked up as a key; in a domain list
//                    then its parents, as "example.com" (parent style) or
//                    ".example.com", in fixed-string tables only (a regexp
//                    would see a partial key, as in Postfix); any value
//                    counts as a match (static:anyone matches everything)
// A table error ends the search with an error, so that callers defer or
// refuse instead of deciding wrongly.
//
// Host lists (open_hosts(), Postfix's namadr lists: qmqpd_authorized_clients)
// name clients by host name or address. Besides the patterns above, a
// pattern there may be an address or a network: "192.0.2.1", "192.0.2.0/24",
// "[2001:db8::1]", "[2001:db8::]/32" (bare IPv6 too), matched against the
// client's address; names and ".domain" patterns are matched against its
// (forward-confirmed) name, and a table is asked for the name and its
// parents, then for the address.
//
// Reads no parameters itself (callers pass the list value and the style);
// logs nothing (errors are returned).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "maps/table.h"

namespace postern::maps {

enum class MatchStyle {
  Name,          // user names and other plain strings
  Domain,        // domains; ".example.com" for subdomains
  ParentDomain,  // domains; "example.com" also matches its subdomains
};

class MatchList {
 public:
  MatchList() = default;
  MatchList(MatchList&&) = default;
  MatchList& operator=(MatchList&&) = default;

  // `title` names the parameter in error messages; `value` is the
  // parameter's value (elements separated by commas or white space;
  // "type:{ ... }" stays one element).
  static Result<MatchList> open(std::string_view title, std::string_view value, MatchStyle style,
                                const OpenOptions& opts = {});

  // A host list: see above. `style` is Domain or ParentDomain.
  static Result<MatchList> open_hosts(std::string_view title, std::string_view value, MatchStyle style,
                                      const OpenOptions& opts = {});

  Result<bool> match(std::string_view subject);
  // Host lists: the client's name ("unknown" when it has none) and address
  // ("192.0.2.1", "2001:db8::1").
  Result<bool> match_host(std::string_view name, std::string_view addr);
  bool empty() const { return entries_.empty(); }
  // True when a table behind the list changed since it was opened.
  bool changed() const;

 private:
  struct Entry {
    bool negate = false;
    std::string name;  // lowercased string pattern, when table is null
    std::unique_ptr<Table> table;
    int family = 0;  // host lists: AF_INET or AF_INET6 for an address or network
    unsigned char net[16] = {};
    int prefix = 0;
  };
  Status add(std::string_view title, std::string_view pattern, const OpenOptions& opts, int depth);
  // Whether the name or table pattern `e` matches `subject` (no negation).
  Result<bool> matches_name(Entry& e, std::string_view subject) const;

  std::vector<Entry> entries_;
  MatchStyle style_ = MatchStyle::Domain;
  bool hosts_ = false;
};

}  // namespace postern::maps
