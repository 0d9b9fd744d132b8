// attributes.h - spawn(8)'s command attributes from master.cf.
//
// A spawn service line ends in `user=NAME[:GROUP] argv=COMMAND ARGS...`
// (Postfix's syntax): the command runs as NAME (with GROUP's gid instead of
// NAME's when given) and argv= comes last, so that every word after it is
// the command's. parse_attributes() only splits the words; check_identity()
// is the rule on whose rights a command may get: never root (uid or gid 0),
// never the mail system owner's (its uid or gid), never -1.
//
// Reads no parameters. Logs nothing.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "base/result.h"

namespace postern::spawn {

struct Attributes {
  std::string user;   // user=NAME
  std::string group;  // user=NAME:GROUP (empty: NAME's primary group)
  std::vector<std::string> argv;
};

// The daemon's master.cf arguments (server::Context::args()). Errors name
// the problem as Postfix does: "unknown attribute name: x=y", "missing
// user= attribute", "missing argv= attribute".
Result<Attributes> parse_attributes(const std::vector<std::string>& args);

struct Ids {
  uid_t uid = 0;
  gid_t gid = 0;
};

// Whether a command may run as `cmd`; `owner` is mail_owner's.
Status check_identity(const Ids& cmd, const Ids& owner);

}  // namespace postern::spawn
