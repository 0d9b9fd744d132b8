// user_acl.cpp - see user_acl.h.
#include "maps/user_acl.h"

#include <pwd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "maps/match_list.h"

namespace postern::maps {

namespace {

// The login name of `uid`, or "unknown" (Postfix's word).
std::string login_name(uid_t uid) {
  std::vector<char> buf(16384);
  struct passwd pw {};
  struct passwd* out = nullptr;
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &out) == 0 && out && out->pw_name && *out->pw_name)
    return out->pw_name;
  return "unknown";
}

}  // namespace

Status check_user_acl(std::string_view param, std::string_view list, uid_t uid, std::string_view mail_owner,
                      std::string_view what) {
  if (uid == 0) return {};
  const std::string name = login_name(uid);
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
