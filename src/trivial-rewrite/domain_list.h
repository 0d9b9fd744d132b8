// domain_list.h - Postfix's "domain list" matching (mydestination, relay_domains, ...).
//
// A list of patterns, tried in order; the first one that matches decides:
//   example.com      the domain itself; with parent-style matching (the
//                    parameter is listed in parent_domain_matches_subdomains)
//                    also every subdomain
//   .example.com     every subdomain of example.com (not the domain itself)
//   !pattern         a match means "not in the list" and stops the search
//   /file/name       patterns read from the file (one or more per line, "#"
//                    comments)
//   type:table       the domain is looked up as a key; then its parents, as
//                    "example.com" (parent style) or ".example.com"; any value
//                    counts as a match
// Names compare without regard to ASCII case. A table error ends the search
// with an error, so that callers defer instead of misrouting mail.
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

namespace postern::rewrite_service {
// Splits a list value like Postfix: commas and white space separate
// elements, and a "{" inside an element extends it to the matching "}".
std::vector<std::string> split_patterns(std::string_view value);
}  // namespace postern::rewrite_service

namespace postern::rewrite_service {

class DomainList {
 public:
  DomainList() = default;
  DomainList(DomainList&&) = default;
  DomainList& operator=(DomainList&&) = default;

  // `title` names the parameter in error messages; `value` is the
  // parameter's value (elements separated by commas or white space;
  // "type:{ ... }" stays one element).
  static Result<DomainList> open(std::string_view title, std::string_view value, bool parent_style,
                                 const maps::OpenOptions& opts = {});

  Result<bool> match(std::string_view domain);
  bool empty() const { return entries_.empty(); }
  // True when a table behind the list changed since it was opened.
  bool changed() const;

 private:
  struct Entry {
    bool negate = false;
    std::string name;                     // lowercased string pattern, when table is null
    std::unique_ptr<maps::Table> table;
  };
  Status add(std::string_view title, std::string_view pattern, const maps::OpenOptions& opts, int depth);

  std::vector<Entry> entries_;
  bool parent_style_ = false;
};

}  // namespace postern::rewrite_service
