// pipelining.h - RFC 2920 command groups and "improper command pipelining".
//
// With PIPELINING a client may send several commands before it reads the
// replies, but a group must end at a command whose outcome changes what the
// client does next (RFC 2920 section 3.1): EHLO, DATA, VRFY, EXPN, TURN,
// QUIT and NOOP. Postern adds the commands that have the same property:
// HELO, STARTTLS (RFC 3207: the client must wait for 220 before the TLS
// handshake), AUTH without an initial response (RFC 4954 section 4: the
// server answers 334 first), XCLIENT (Postfix answers with a new greeting),
// ETRN (like VRFY, a query). BDAT is not group-ending (RFC 3030 pipelines
// chunks), RSET/MAIL/RCPT never are.
//
// The rule smtpd applies, after reading a command line and before running
// the command (Postfix smtpd_proto(), 2.6 and later):
//
//   the client is pipelining improperly when input is already waiting
//   (LineReader::buffered() > 0 or the socket is readable) AND
//     - PIPELINING is not in effect for the session: before EHLO, after HELO,
//       or PIPELINING removed with smtpd_discard_ehlo_keywords; OR
//     - the command ends a pipelining group.
//   For BDAT, look at the input left after the chunk payload, since the
//   payload itself legitimately follows the command. After QUIT nothing is
//   read, so QUIT is never reported.
//
// What smtpd then does (Postfix behaviour):
//   - log once per session, as Postfix does (log analyzers and fail2ban's
//     postfix filter match it):
//       improper command pipelining after EHLO from host[addr]: <escaped bytes>
//     with escape_for_log() of the first 100 pending bytes;
//   - smtpd_forbid_unauth_pipelining = yes (default in Postfix >= 3.9):
//     reply sync_error_reply() "554 5.5.0 Error: SMTP protocol
//     synchronization" and disconnect;
//   - otherwise remember it for the session: reject_unauth_pipelining in
//     smtpd_*_restrictions tests that flag.
//   After STARTTLS, any pending plaintext is discarded unread whatever the
//   setting (LineReader::take_buffered()).
//
// Reads no parameters, logs nothing.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "smtp/command.h"
#include "smtp/reply.h"

namespace postern::smtp {

// Whether `v` ends a pipelined command group (AUTH counts as ending; see the
// Command overload for the initial-response exception).
bool ends_pipeline_group(Verb v);
bool ends_pipeline_group(const Command& cmd);

// The rule above. pipelining_in_effect: EHLO was used and PIPELINING was
// offered. pending_bytes: input received beyond this command (for BDAT:
// beyond its chunk).
bool improper_pipelining(const Command& cmd, bool pipelining_in_effect, std::size_t pending_bytes);

// "554 5.5.0 Error: SMTP protocol synchronization".
Reply sync_error_reply();

// Postfix's escape(): printable ASCII as is, backslash doubled, \a \b \f \n
// \r \t \v for those controls, \ooo (three octal digits) for other bytes.
// At most max_input bytes of `bytes` are shown.
std::string escape_for_log(std::string_view bytes, std::size_t max_input = 100);

}  // namespace postern::smtp
