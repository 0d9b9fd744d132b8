// text.h - the smtp/lmtp client's pure parts: Postfix's wording, the mapping
// from server replies to per-recipient outcomes, and the envelope commands.
//
// Everything here is a function of its arguments (no I/O), so the exact
// text shapes that log analyzers and DSNs depend on are unit-tested:
//
//   connect to mx.example.com[192.0.2.1]:25: Connection refused
//   host mx.example.com[192.0.2.1] refused to talk to me: 421 4.3.2 Busy
//   host mx.example.com[192.0.2.1] said: 550 5.1.1 <u@example.com>: User
//     unknown (in reply to RCPT TO command)
//   conversation with mx.example.com[192.0.2.1] timed out while sending MAIL FROM
//   lost connection with mx.example.com[192.0.2.1] while sending end of data
//     -- message may be sent more than once
//   Host or domain name not found. Name service error for name=x type=MX: ...
//
// The class digit of the server's reply decides the outcome (2 sent, 4
// deferred, 5 bounced); the enhanced status code comes from the reply, or is
// "<class>.0.0" when the server sent none (Postfix does the same).
//
// Reads no parameters, logs nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "deliver/outcome.h"
#include "queue/queue_file.h"
#include "smtp/reply.h"

namespace postern::smtp_client {

// Where in the conversation something happened.
enum class Stage { Greeting, Ehlo, Helo, Lhlo, Starttls, Xforward, Mail, Rcpt, Data, Content, EndOfData, Rset, Quit };

// "RCPT TO command", "end of DATA command" (for "(in reply to ...)").
std::string_view request_name(Stage s);
// "sending RCPT TO", "receiving the initial server greeting" (for timeouts
// and lost connections).
std::string_view stage_activity(Stage s);

// The enhanced status code of a reply, or "<class>.0.0".
std::string reply_dsn(const smtp::Reply& r);

// "host H said: 550 5.1.1 text (in reply to RCPT TO command)".
std::string said_text(std::string_view host, const smtp::Reply& r, Stage s);
// "host H refused to talk to me: 554 5.7.1 text".
std::string refused_text(std::string_view host, const smtp::Reply& r);
// "conversation with H timed out while sending MAIL FROM".
std::string timeout_text(std::string_view host, Stage s);
// "lost connection with H while sending RCPT TO" (plus the duplicate
// warning after the end of data).
std::string lost_text(std::string_view host, Stage s);
// "malformed or oversized reply from H while sending MAIL FROM: why".
std::string malformed_text(std::string_view host, Stage s, std::string_view why);
// "local data error while talking to H" (smtp_reply_filter could not be
// asked).
std::string local_data_text(std::string_view host);
// "connect to H:port: reason".
std::string connect_text(std::string_view host_port, std::string_view reason);

// A server reply to a recipient-level command as an outcome: 2xx sent (text
// is the reply itself: "250 2.0.0 Ok: queued as X"), 4xx deferred, 5xx
// bounced (text: said_text()). An unexpected 3xx is a deferral.
deliver::Outcome reply_outcome(std::string_view host, const smtp::Reply& r, Stage s);

// What MAIL FROM may carry; filled from the queue file and the server's
// EHLO features by the caller.
struct MailParams {
  std::optional<std::uint64_t> size;  // SIZE=
  bool eight_bit = false;             // BODY=8BITMIME
  bool seven_bit = false;             // BODY=7BIT (as Postfix, when the client declared it)
  bool smtputf8 = false;              // SMTPUTF8
  std::optional<queue::DsnRet> ret;   // RET=
  std::string envid;                  // ENVID= in xtext form (as the queue file keeps it)
};

// "MAIL FROM:<sender> SIZE=n BODY=8BITMIME ...\r\n".
std::string mail_command(std::string_view sender, const MailParams& p);
// "RCPT TO:<addr> NOTIFY=... ORCPT=...\r\n"; dsn=false leaves out the DSN
// parameters (server did not offer DSN).
std::string rcpt_command(const queue::RecipientFields& r, bool dsn);

// True when the text has a byte outside ASCII (needs SMTPUTF8).
bool needs_utf8(std::string_view s);

}  // namespace postern::smtp_client
