// privileges.cpp - see privileges.h.
#include "security/privileges.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>

namespace postern::security {

namespace {
// Scratch space for the getXXnam_r() calls. Left uninitialized: the calls
// write what they return, and zero-filling 16 KiB per lookup was a visible
// share of a local delivery (the lookups run once per recipient).
constexpr std::size_t kPwBufSize = 16384;
constexpr std::size_t kGrBufSize = 65536;
}  // namespace

bool running_as_root() { return ::geteuid() == 0; }

static Result<UserInfo> from_passwd(struct passwd* pw) {
  UserInfo u;
  u.name = pw->pw_name ? pw->pw_name : "";
  u.uid = pw->pw_uid;
  u.gid = pw->pw_gid;
  u.home = pw->pw_dir ? pw->pw_dir : "";
  u.shell = pw->pw_shell ? pw->pw_shell : "";
  return u;
}

Result<UserInfo> lookup_user(std::string_view name) {
  std::string n(name);
  auto buf = std::make_unique_for_overwrite<char[]>(kPwBufSize);
  struct passwd pwd {};
  struct passwd* out = nullptr;
  int rc = getpwnam_r(n.c_str(), &pwd, buf.get(), kPwBufSize, &out);
  if (rc != 0) return Error{"getpwnam " + n + ": " + std::strerror(rc), rc};
  if (!out) return make_error("unknown user: {}", n);
  return from_passwd(out);
}

Result<UserInfo> lookup_uid(uid_t uid) {
  auto buf = std::make_unique_for_overwrite<char[]>(kPwBufSize);
  struct passwd pwd {};
  struct passwd* out = nullptr;
  int rc = getpwuid_r(uid, &pwd, buf.get(), kPwBufSize, &out);
  if (rc != 0) return Error{"getpwuid: " + std::string(std::strerror(rc)), rc};
  if (!out) return make_error("unknown uid: {}", uid);
  return from_passwd(out);
}

Result<gid_t> lookup_group(std::string_view name) {
  std::string n(name);
  auto buf = std::make_unique_for_overwrite<char[]>(kGrBufSize);
  struct group grp {};
  struct group* out = nullptr;
  int rc = getgrnam_r(n.c_str(), &grp, buf.get(), kGrBufSize, &out);
  if (rc != 0) return Error{"getgrnam " + n + ": " + std::strerror(rc), rc};
  if (!out) return make_error("unknown group: {}", n);
  return out->gr_gid;
}

Result<UserInfo> current_user() { return lookup_uid(::getuid()); }

Status drop_privileges(const UserInfo& user, bool supplementary_groups) {
  if (!supplementary_groups) {
    if (::setgroups(1, &user.gid) != 0) return sys_error("setgroups for {}", user.name);
  } else if (::initgroups(user.name.c_str(), user.gid) != 0) {
    // A user without supplementary groups: clear the list explicitly.
    if (::setgroups(1, &user.gid) != 0) return sys_error("setgroups for {}", user.name);
  }
  if (::setgid(user.gid) != 0) return sys_error("setgid({})", user.gid);
  if (::setuid(user.uid) != 0) return sys_error("setuid({})", user.uid);
  if (user.uid != 0 && (::setuid(0) == 0 || ::seteuid(0) == 0))
    return make_error("privilege drop to {} is reversible; refusing to run", user.name);
  return {};
}

Status work_as_mail_owner(std::string_view mail_owner) {
  if (!running_as_root()) return {};
  auto owner = lookup_user(mail_owner);
  if (!owner) return make_error("mail_owner: {}", owner.error().message);
  if (owner->uid == 0) return make_error("mail_owner must not be root");
  if (::setgroups(1, &owner->gid) != 0) return sys_error("setgroups for {}", owner->name);
  if (::setegid(owner->gid) != 0) return sys_error("setegid({})", owner->gid);
  if (::seteuid(owner->uid) != 0) return sys_error("seteuid({})", owner->uid);
  return {};
}

bool can_regain_root() { return ::geteuid() == 0 || ::getuid() == 0; }

bool regain_root() { return ::geteuid() == 0 || ::seteuid(0) == 0; }

EffectiveRoot::EffectiveRoot() {
  if (::geteuid() == 0 || ::getuid() != 0) return;
  euid_ = ::geteuid();
  egid_ = ::getegid();
  switched_ = ::seteuid(0) == 0;
}

EffectiveRoot::~EffectiveRoot() {
  if (!switched_) return;
  // Group first, while still root. Failing to go back is not survivable:
  // the process would go on as root.
  if (::setegid(egid_) != 0 || ::seteuid(euid_) != 0) ::abort();
}

Status enter_chroot(const std::filesystem::path& dir) {
  if (::chroot(dir.c_str()) != 0) return sys_error("chroot({})", dir.string());
  if (::chdir("/") != 0) return sys_error("chdir(/) after chroot");
  return {};
}

}  // namespace postern::security
