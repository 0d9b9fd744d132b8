// reason.h - what the error, retry and discard agents answer for every
// recipient: the next hop is the reason (Postfix's error(8), discard(8)).
//
// A transport_maps entry "example.com error:5.1.2 no such domain" (or
// relay_transport = error:..., or "retry:4.4.4 down for maintenance", or
// "discard:spam trap") reaches the agent as the next hop. An RFC 3463 code
// at its start is used, with its class digit made to agree with the agent
// (5 for error, 4 for retry, 2 for discard: qmgr goes by the class digit, so
// "error:4.1.1" must not turn a bounce into a retry); without one, 5.0.0,
// 4.0.0 or 2.0.0. The rest is the text; an empty one gets a generic text.
//
// Reads no parameters and logs nothing.
#pragma once

#include <string_view>

#include "deliver/outcome.h"

namespace postern::error_agent {

enum class Mode {
  Bounce,   // error(8), service "error" (or any name but "retry")
  Defer,    // error(8), service "retry"
  Discard,  // discard(8)
};

// The program and its master.cf service name decide the mode, as in
// Postfix: the error program runs as "error" and as "retry".
Mode mode_for(bool discard_program, std::string_view service);

deliver::Outcome outcome_for(Mode mode, std::string_view nexthop);

}  // namespace postern::error_agent
