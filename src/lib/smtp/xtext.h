// xtext.h - RFC 3461 section 4 "xtext" encoding of ESMTP parameter values.
//
//   xtext   = *( xchar / hexchar )
//   xchar   = any ASCII CHAR between "!" (33) and "~" (126) inclusive,
//             except for "+" and "="
//   hexchar = "+" 2HEXDIG
//
// Used by MAIL FROM ENVID= and AUTH=, RCPT TO ORCPT=, and Postfix's
// XCLIENT/XFORWARD attribute values. Decoding accepts lower-case hex digits
// as well (harmless leniency) and passes bytes >= 0x80 through unchanged,
// because RFC 6531/6533 allow UTF-8 in these values once SMTPUTF8 is in use;
// the command parser checks UTF-8 validity of the whole line beforehand.
// Decoding does NOT judge the decoded bytes: callers reject CR, LF, NUL or
// other controls where the protocol forbids them. Reads no parameters, logs
// nothing.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace postern::smtp {

// nullopt when `s` is not xtext: '+' without two hex digits, or a byte that
// is neither xchar nor >= 0x80 (SP, controls, '=').
std::optional<std::string> xtext_decode(std::string_view s);

// Encode arbitrary bytes: '+', '=', bytes < 33 and bytes > 126 become "+HH"
// (upper-case hex), everything else is copied.
std::string xtext_encode(std::string_view s);

}  // namespace postern::smtp
