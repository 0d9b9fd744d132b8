// attributes.h - the command attributes of spawn(8) and pipe(8) services
// in master.cf.
//
// Such a service line ends in `user=NAME[:GROUP] ... argv=COMMAND ARGS...`
// (Postfix's syntax): the command runs as NAME (with GROUP's gid instead of
// NAME's when given) and argv= comes last, so that every word after it is
// the command's. pipe(8) has more NAME=VALUE attributes before argv=
// (flags=, size=, ...). parse_attributes() only splits the words;
// check_identity() is the rule on whose rights a command may get: never
// root (uid or gid 0), never the mail system owner's (its uid or gid), never
// setgid_group's gid (it may write into the maildrop queue), never -1;
// command_credentials() looks the names up and applies it.
//
// Reads no parameters (the caller passes mail_owner and setgid_group). Logs
// nothing.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "deliver/command.h"

namespace postern::spawn {

struct Attributes {
  std::string user;   // user=NAME
  std::string group;  // user=NAME:GROUP (empty: NAME's primary group)
  std::vector<std::string> argv;
  std::map<std::string, std::string> extra;  // the other NAME=VALUE attributes the caller allows
};

// The daemon's master.cf arguments (server::Context::args()). Errors name
// the problem as Postfix does: "unknown attribute name: x=y", "missing
// user= attribute", "missing argv= attribute". `extra_names`: further
// attribute names accepted before argv= (lower case).
Result<Attributes> parse_attributes(const std::vector<std::string>& args,
                                    std::span<const std::string_view> extra_names = {});

struct Ids {
  uid_t uid = 0;
  gid_t gid = 0;
};

// Whether a command may run as `cmd`; `owner` is mail_owner's, `setgid`
// the gid of setgid_group (none: unknown group).
Status check_identity(const Ids& cmd, const Ids& owner, std::optional<gid_t> setgid = std::nullopt);

// The uid and gid user= names, checked with check_identity() when we are
// root; without root only the invoking user's own identity is allowed (a
// personal instance). Errors start with "service SERVICE: ".
Result<deliver::Credentials> command_credentials(const Attributes& a, std::string_view mail_owner,
                                                 std::string_view setgid_group, std::string_view service);

}  // namespace postern::spawn
