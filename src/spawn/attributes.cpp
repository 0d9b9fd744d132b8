// attributes.cpp - see attributes.h.
#include "attributes.h"

#include <unistd.h>

#include "base/strings.h"
#include "security/privileges.h"

namespace postern::spawn {

Result<Attributes> parse_attributes(const std::vector<std::string>& args,
                                    std::span<const std::string_view> extra_names) {
  Attributes a;
  bool have_user = false, have_argv = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& w = args[i];
    if (str::istarts_with(w, "user=")) {
      std::string v = w.substr(5);
      auto colon = v.find(':');
      a.user = v.substr(0, colon);
      a.group = colon == std::string::npos ? std::string() : v.substr(colon + 1);
      if (a.user.empty()) return make_error("user= attribute without a user name");
      have_user = true;
    } else if (str::istarts_with(w, "argv=")) {
      // "argv=/usr/bin/x a b": the first word is glued to "argv="; a bare
      // "argv=" is followed by the command as its own word.
      if (w.size() > 5) a.argv.push_back(w.substr(5));
      a.argv.insert(a.argv.end(), args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
      have_argv = true;
      break;
    } else {
      auto eq = w.find('=');
      std::string name = str::lower(w.substr(0, eq));
      bool known = eq != std::string::npos;
      if (known) {
        known = false;
        for (auto n : extra_names)
          if (n == name) known = true;
      }
      if (!known) return make_error("unknown attribute name: {}", str::printable(w, 100));
      a.extra[name] = w.substr(eq + 1);
    }
  }
  if (!have_user) return make_error("missing user= attribute");
  if (!have_argv) return make_error("missing argv= attribute");
  if (a.argv.empty() || a.argv[0].empty()) return make_error("argv= attribute without a command");
  return a;
}

Status check_identity(const Ids& cmd, const Ids& owner, std::optional<gid_t> setgid) {
  if (cmd.uid == 0) return make_error("request to run a command as root");
  if (cmd.uid == owner.uid) return make_error("request to run a command as the mail system owner");
  if (cmd.gid == 0) return make_error("request to use privileged group id {}", static_cast<long>(cmd.gid));
  if (cmd.gid == owner.gid)
    return make_error("request to use mail system owner group id {}", static_cast<long>(cmd.gid));
  if (setgid && cmd.gid == *setgid)
    return make_error("request to use mail system setgid_group id {}", static_cast<long>(cmd.gid));
  if (cmd.uid == static_cast<uid_t>(-1)) return make_error("user must not have user ID -1");
  if (cmd.gid == static_cast<gid_t>(-1)) return make_error("user must not have group ID -1");
  return {};
}

Result<deliver::Credentials> command_credentials(const Attributes& a, std::string_view mail_owner,
                                                 std::string_view setgid_group, std::string_view service) {
  auto user = security::lookup_user(a.user);
  if (!user) return make_error("service {}: unknown user name: {}", service, a.user);
  Ids ids{user->uid, user->gid};
  if (!a.group.empty()) {
    auto g = security::lookup_group(a.group);
    if (!g) return make_error("service {}: unknown group name: {}", service, a.group);
    ids.gid = *g;
  }
  if (security::running_as_root()) {
    auto owner = security::lookup_user(mail_owner);
    if (!owner) return make_error("mail_owner: {}", owner.error().message);
    std::optional<gid_t> setgid;
    if (auto g = security::lookup_group(setgid_group)) setgid = *g;
    if (auto st = check_identity(ids, {owner->uid, owner->gid}, setgid); !st)
      return make_error("service {}: {}", service, st.error().message);
  } else if (ids.uid != ::geteuid() || ids.gid != ::getegid()) {
    return make_error("service {}: cannot run commands as {} without root privileges", service, a.user);
  }
  return deliver::Credentials{ids.uid, ids.gid, {ids.gid}};
}

}  // namespace postern::spawn
