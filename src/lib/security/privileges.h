// privileges.h - user lookups and the one-way privilege drop.
//
// Daemons start as root (when the master runs as root) only long enough to
// open what needs root; then drop_privileges() sets the group list, gid and
// uid of `mail_owner` and verifies that root cannot be regained. Delivery
// agents that must become the recipient (local, virtual, pipe, spawn) keep
// root and switch per delivery with run_as() in a child process instead.
//
// When the master was started by an ordinary user, everything runs as that
// user and privilege separation is not in effect (logged once by the
// server skeleton).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace postern::security {

struct UserInfo {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;
  std::string shell;
};

bool running_as_root();

Result<UserInfo> lookup_user(std::string_view name);
Result<UserInfo> lookup_uid(uid_t uid);
Result<gid_t> lookup_group(std::string_view name);
// The invoking user (getuid()).
Result<UserInfo> current_user();

// setgroups/initgroups, setgid, setuid to `user`; then checks that
// setuid(0) fails. Only meaningful when running as root. With
// `supplementary_groups` false the group list is just the user's primary
// group, as Postfix's set_ugid() does for mail_owner: no initgroups(),
// which reads the whole group database through every NSS module (with
// nss-systemd: two more shared libraries and dozens of system calls at
// every daemon start).
Status drop_privileges(const UserInfo& user, bool supplementary_groups = true);

// Postfix's set_eugid() for pipe and spawn: the effective uid and gid of
// `mail_owner` (group list: just its gid) while the real and saved uid
// stay root. The agent then reads requests and queue files as mail_owner,
// so that a bug there is not a bug of root, and takes root back only for a
// moment: in a child about to become a command's user (regain_root()), and
// to signal such a child (EffectiveRoot). A no-op when not running as root.
Status work_as_mail_owner(std::string_view mail_owner);
// True when root can be had: effective root, or real root after
// work_as_mail_owner().
bool can_regain_root();
// In a child process that will give up root for good: effective root
// again. True when the effective uid is root afterwards.
bool regain_root();
// Effective root while alive, when the real uid is root and the effective
// one is not; the effective ids it found come back when it goes.
class EffectiveRoot {
 public:
  EffectiveRoot();
  ~EffectiveRoot();
  EffectiveRoot(const EffectiveRoot&) = delete;
  EffectiveRoot& operator=(const EffectiveRoot&) = delete;

 private:
  bool switched_ = false;
  uid_t euid_ = 0;
  gid_t egid_ = 0;
};
// chroot(dir) + chdir("/"). Root only.
Status enter_chroot(const std::filesystem::path& dir);

}  // namespace postern::security
