// rewrite.h - trivial-rewrite's address rewriting (Postfix rewrite_tree()).
//
// Turns an address into the standard user@fully.qualified.domain form, in
// this order (Postfix's):
//   1. ""  and a lone "@" become the null address "" (left alone);
//   2. a source route is removed: "@a,@b:user@host" -> "user@host";
//   3. only for addresses without "@":
//        swap_bangpath:      "host!user" -> "user@host" (at the first "!")
//        allow_percent_hack: "user%host" -> "user@host" (at the last "%")
//        append_at_myorigin: "user" -> "user@$origin" (when origin is set)
//      (only the first that applies);
//   4. append_dot_mydomain: "user@host" -> "user@host.$domain" when the
//      domain has no dot and is not an address literal;
//   5. one trailing dot is removed ("user@example.com." -> "user@example.com"),
//      but not from "..", or "@.".
// user%host@$mydestination is not rewritten here: resolving does that, after
// it strips the local domain (resolve.h), as Postfix does.
//
// Rewriting contexts: "local" uses $myorigin and $mydomain; "remote" uses
// $remote_header_rewrite_domain for both, so an empty
// remote_header_rewrite_domain appends nothing in the remote context.
//
// Addresses are in internal (unquoted) form, as in queue files; quotes are
// not interpreted, so "a!b"@host is treated like a!b@host (Postfix's
// resolve_dequoted_address = yes behaviour). Pure functions: no I/O, no logs.
#pragma once

#include <string>
#include <string_view>

#include "config/config.h"

namespace postern::rewrite_service {

struct RewriteParams {
  std::string origin;   // appended as "@origin"
  std::string domain;   // appended as ".domain"
  bool append_at_origin = true;
  bool append_dot_domain = false;
  bool swap_bangpath = true;
  bool percent_hack = true;
};

struct RewriteContexts {
  RewriteParams local;   // myorigin, mydomain
  RewriteParams remote;  // remote_header_rewrite_domain
  // Reads myorigin, mydomain, remote_header_rewrite_domain, append_at_myorigin,
  // append_dot_mydomain, swap_bangpath, allow_percent_hack.
  static RewriteContexts from_config(const config::Config& cfg);
};

std::string rewrite_address(const RewriteParams& p, std::string_view address);

}  // namespace postern::rewrite_service
