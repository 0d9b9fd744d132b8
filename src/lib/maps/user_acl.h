// user_acl.h - who may use a command: authorized_submit_users,
// authorized_mailq_users, authorized_flush_users.
//
// As in Postfix: root and the mail_owner may always; anyone else is looked
// up by real uid in the password file ("unknown" when absent) and the
// login name is matched against the list (a maps::MatchList of names:
// "!www-data, static:anyone" lets everybody but www-data). An empty list
// lets nobody else. A table that cannot answer refuses, with its reason.
//
// Reads no parameters itself (callers pass the list); logs nothing.
#pragma once

#include <sys/types.h>

#include <string_view>

#include "base/result.h"

namespace postern::maps {

// OK when `uid` may `what` ("submit mail", "view the mail queue", "flush
// the mail queue"); otherwise an Error whose message is Postfix's: "User
// www-data(33) is not allowed to submit mail" (sys_errno EPERM), or the
// list's problem (a table that cannot be opened or answer).
Status check_user_acl(std::string_view param, std::string_view list, uid_t uid, std::string_view mail_owner,
                      std::string_view what);

}  // namespace postern::maps
