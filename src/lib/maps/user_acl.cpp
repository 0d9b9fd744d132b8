// user_acl.cpp - see user_acl.h.
#include "maps/user_acl.h"

#include <cerrno>
#include <string>

#include "maps/match_list.h"
#include "security/privileges.h"

namespace postern::maps {

Status check_user_acl(std::string_view param, std::string_view list, uid_t uid, std::string_view mail_owner,
                      std::string_view what) {
  if (uid == 0) return {};
  // Without a password entry the name is "unknown" (Postfix's word).
  auto user = security::lookup_uid(uid);
  const std::string name = user && !user->name.empty() ? user->name : "unknown";
  if (name == mail_owner) return {};
  auto acl = MatchList::open(param, list, MatchStyle::Name);
  if (!acl) return acl.take_error();
  auto ok = acl->match(name);
  if (!ok) return make_error("{}: table lookup problem: {}", param, ok.error().message);
  if (*ok) return {};
  Error e = make_error("User {}({}) is not allowed to {}", name, static_cast<long>(uid), what);
  e.sys_errno = EPERM;
  return e;
}

}  // namespace postern::maps
