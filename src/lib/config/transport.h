// transport.h - the syntax of transport names and content filters.
//
// A transport is a master.cf service name that qmgr turns into a socket
// path under private/, so a name from a table or a queue file must not be
// able to leave that directory. A content filter (content_filter, the
// FILTER action of access tables and header/body checks) is
// "transport:nexthop" or "transport", as in Postfix; an empty nexthop means
// $myhostname (qmgr's business). local's mailbox_transport and
// fallback_transport take the same form.
//
// Reads no parameters, logs nothing.
#pragma once

#include <string_view>

#include "base/result.h"

namespace postern::config {

// Not empty, at most 100 bytes, no "/", ":", space or control character,
// no leading ".".
bool valid_transport_name(std::string_view name);

// A "transport:nexthop" or "transport" value (local's mailbox_transport and
// fallback_transport) whose transport part is a valid transport name and
// which has no control character anywhere. `what` names the value in the
// error ("mailbox_transport").
Status check_transport_nexthop(std::string_view value, std::string_view what);
// The same for a content filter, which has no space either (it travels as
// one word in access table and header check actions).
Status check_content_filter(std::string_view filter);

}  // namespace postern::config
