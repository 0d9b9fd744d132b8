// xtext.h - RFC 3461 xtext encoding for DSN parameters sent to the next hop.
//
// ENVID and ORCPT values are passed on in MAIL FROM / RCPT TO as xtext: every
// byte outside '!'..'~', and '+' and '=' themselves, becomes "+HH" with two
// upper-case hex digits. The result is plain printable ASCII without spaces,
// safe to put on an SMTP command line. Decoding of client input lives in the
// SMTP protocol library (src/lib/smtp). Reads no parameters; logs nothing.
#pragma once

#include <string>
#include <string_view>

namespace postern::mail {

std::string xtext_encode(std::string_view raw);

}  // namespace postern::mail
