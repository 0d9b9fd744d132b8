// transport.h - the syntax of transport names and content filters.
//
// A transport is a master.cf service name that qmgr turns into a socket
// path under private/, so a name from a table or a queue file must not be
// able to leave that directory. A content filter (content_filter, the
// FILTER action of access tables and header/body checks) is
// "transport:nexthop" or "transport", as in Postfix; an empty nexthop means
// $myhostname (qmgr's business).
//
// Reads no parameters, logs nothing.
#pragma once

#include <string_view>

#include "base/result.h"

namespace postern::config {

// Not empty, at most 100 bytes, no "/", ":", space or control character,
// no leading ".".
bool valid_transport_name(std::string_view name);

// A content filter whose transport part is a valid transport name and which
// has no space or control character anywhere.
Status check_content_filter(std::string_view filter);

}  // namespace postern::config
