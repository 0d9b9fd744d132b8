// received.h - build the Received: header that smtpd (and qmqpd) prepend.
//
// The text has the shape of Postfix's smtpd header, so that log and header
// analyzers written for Postfix keep working:
//
//   Received: from helo.example (client.example [192.0.2.1])
//   	(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))
//   	(No client certificate requested)
//   	(Authenticated sender: alice)
//   	by mx.example.org (Postern) with ESMTPSA id 3F2A1C0D2
//   	for <bob@example.org>; Mon, 23 Nov 2026 17:32:24 +0000 (UTC)
//
// The TLS and SASL lines appear only when that information is given. With
// one recipient it is listed ("for <...>"); with none or several the date
// moves to its own line after "id ...;" (listing one of several recipients
// would reveal Bcc recipients). Lines are joined with "\n" (a tab starts
// every continuation line), without a final newline: the queue-file writer
// turns them into records.
//
// Every input is sanitized before it is used: control characters (CR, LF,
// NUL, TAB...), and in names the characters " <>()\\\";@" (Postfix's
// NEUTER_CHARACTERS), become '?'; comment texts cannot open or close
// comments or quotes; each field has a length cap. Nothing a client says in
// HELO, or a certificate or user name contains, can add a header line or
// change the structure of this one.
//
// Reads no parameters (the caller passes myhostname, mail_name and the
// smtpd_tls_received_header / smtpd_sasl_authenticated_header decisions by
// setting or not setting the tls and sasl_username fields). Logs nothing.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

#include "mail/address.h"

namespace postern::mail {

// "with ..." values (RFC 3848, RFC 6531).
enum class ReceivedProtocol : std::uint8_t {
  kSmtp,
  kEsmtp,
  kEsmtpa,
  kEsmtps,
  kEsmtpsa,
  kUtf8smtp,
  kUtf8smtpa,
  kUtf8smtps,
  kUtf8smtpsa,
  kQmqp,
};

std::string_view protocol_name(ReceivedProtocol p);  // "ESMTPSA"
// The protocol for a session: EHLO (esmtp), TLS active, AUTH done, and the
// transaction used SMTPUTF8. Without EHLO the answer is always SMTP.
ReceivedProtocol received_protocol(bool esmtp, bool tls, bool authenticated, bool smtputf8);

struct ReceivedTls {
  std::string_view protocol;  // "TLSv1.3"
  std::string_view cipher;    // "TLS_AES_256_GCM_SHA384"
  int cipher_usebits = 0;
  int cipher_algbits = 0;
  bool asked_client_cert = false;  // smtpd_tls_ask_ccert
  bool have_peer_cn = false;       // the client presented a certificate
  std::string_view peer_cn;
  std::string_view issuer_cn;
  bool peer_verified = false;
};

struct ReceivedInfo {
  std::string_view helo_name;    // empty: the client name is used (like Postfix)
  std::string_view client_name;  // "unknown" when empty
  std::string_view client_addr;  // "192.0.2.1", "2001:db8::1" (shown "[IPv6:2001:db8::1]") or "IPv6:2001:db8::1"
  ReceivedProtocol protocol = ReceivedProtocol::kEsmtp;
  std::string_view myhostname;
  std::string_view mail_name = "Postern";
  std::string_view queue_id;          // empty: no "id" clause
  const Address* recipient = nullptr;  // the only recipient, or nullptr
  std::time_t when = 0;
  const ReceivedTls* tls = nullptr;    // nullptr: no TLS lines
  std::string_view sasl_username;      // empty: no "Authenticated sender" line
};

// The whole header, "Received: from ..." included, lines joined with "\n".
// The date is mail_date(info.when) in the local time zone.
std::string build_received(const ReceivedInfo& info);

// The header pickup prepends to mail a local user submitted (sendmail,
// postdrop), naming the submitter by the uid that owns the maildrop file,
// in Postfix's shape:
//
//   Received: by mx.example.org (Postern, from userid 1000)
//   	id 3F2A1C0D2; Mon, 23 Nov 2026 17:32:24 +0000 (UTC)
std::string build_local_received(std::string_view myhostname, std::string_view mail_name, std::uint64_t uid,
                                 std::string_view queue_id, std::time_t when);

// What may follow the Received: header a receiving daemon puts first
// (Postfix's smtpd, qmqpd and pickup rules):
// - is_mailbox_line(): a leading line ">*From ..." (an mbox separator a
//   client left in) is kept as an "X-Mailbox-Line: " header, one per line;
// - continues_header(): a first other line that starts with a space or a
//   tab would be read as a continuation of our Received: header, text
//   under our name; an empty line goes before it, so it starts the body.
// Both look at the beginning of a line only (a prefix of it is enough).
bool is_mailbox_line(std::string_view line);
bool continues_header(std::string_view first_line);

}  // namespace postern::mail
