// command.h - parse one SMTP command line into a typed Command.
//
// Input is one command line as received, WITHOUT its line terminator (the
// caller splits lines and enforces line_length_limit; see line_reader.h).
// Output is a Command with a Verb and, for the commands that take structured
// arguments, a typed payload (MailFrom, RcptTo, Bdat, Auth, ...), or a
// ProtocolError carrying the exact reply smtpd sends (code, enhanced code,
// text, and whether the session can continue).
//
// What is checked here is the *syntax* of the command; what is checked later
// is its meaning. In particular the MAIL FROM / RCPT TO path is returned RAW:
// Path::text is the text between '<' and '>' (brackets removed, nothing else
// touched). Validating the address inside (quoting, domain syntax, source
// routes, UTF-8 rules) is mail::parse_smtp_path()'s job; smtpd calls it with
// Path::text and answers "501 5.1.7 Bad sender address syntax" / "501 5.1.3
// Bad recipient address syntax" itself when that fails.
//
// Tolerance follows Postfix: verbs are case-insensitive; blanks (SP or HTAB)
// may be repeated; "MAIL FROM: <a@b>" (space after the colon) is accepted;
// unless strict_rfc821_envelopes, "MAIL FROM:a@b" without brackets is
// accepted too (Path::bracketed = false). QUIT ignores arguments, NOOP and
// HELP accept any.
//
// Rejected, with the reply smtpd should send (details in docs/smtp-protocol.md):
//   NUL in the line, or an LF                 500 5.5.2 Error: bad syntax
//   bare CR in the line                       501 5.5.2 Error: bare <CR> received
//   invalid UTF-8 (when check_utf8)           500 5.5.2 Error: bad UTF-8 syntax
//   empty line                                500 5.5.2 Error: bad syntax
//   wrong argument count / shape              501 [5.5.4] Syntax: ...
//   malformed or duplicate known parameter    501 5.5.4 Bad ... parameter syntax
//   parameter not recognised / not enabled    555 5.5.4 Unsupported option: ...
//   SIZE= beyond 2^63-1                       552 5.3.4 Message size exceeds file system imposed limit
//   malformed BDAT                            521 5.5.4 Syntax: BDAT count [LAST]  (disconnect: the
//                                             chunk length is unknown, the stream cannot be resynced)
//
// Also: format_mail_from()/format_rcpt_to() build the client side of the
// same commands (xtext-encoding ENVID/ORCPT/AUTH values).
//
// Parameters: none read here; CommandOptions carries strict_rfc821_envelopes,
// smtputf8_enable and what smtpd advertised. Logs nothing (ProtocolError::reason
// is meant for smtpd's log line).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "base/result.h"
#include "smtp/reply.h"

namespace postern::smtp {

// A protocol-level rejection: what to answer and why.
struct ProtocolError {
  Reply reply;
  std::string reason;       // short text for the log ("duplicate SIZE parameter")
  bool disconnect = false;  // reply, then close: the input stream cannot be trusted any more
};

// A parsed value or the ProtocolError to answer with. The same small API as
// postern::Result, which cannot carry a reply code.
template <class T>
class [[nodiscard]] Parsed {
 public:
  Parsed(T value) : v_(std::move(value)) {}              // NOLINT: implicit by design
  Parsed(ProtocolError error) : v_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const ProtocolError& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, ProtocolError> v_;
};

enum class Verb : std::uint8_t {
  Helo, Ehlo, Mail, Rcpt, Data, Bdat, Rset, Noop, Quit, Vrfy, Expn, Help, Starttls, Auth,
  Xclient, Xforward, Etrn, Unknown,
};

// "HELO", "MAIL", ...; "UNKNOWN" for Verb::Unknown.
std::string_view verb_name(Verb v);

// The text between '<' and '>', raw. See the file comment.
struct Path {
  std::string text;
  bool bracketed = true;  // false: "MAIL FROM:a@b" without <> (strict_rfc821_envelopes = no)

  bool is_null() const { return bracketed && text.empty(); }
  friend bool operator==(const Path&, const Path&) = default;
};

enum class Body : std::uint8_t { Unspecified, SevenBit, EightBitMime, BinaryMime };  // RFC 1652, 3030
enum class Ret : std::uint8_t { Unspecified, Full, Hdrs };                          // RFC 3461

// RFC 3461 NOTIFY bits; the values are Postfix's DSN_NOTIFY_* so they can
// be stored in queue files unchanged.
enum DsnNotify : std::uint8_t {
  kNotifyNever = 1,
  kNotifySuccess = 2,
  kNotifyFailure = 4,
  kNotifyDelay = 8,
};

struct MailFrom {
  Path path;
  std::optional<std::uint64_t> size;  // SIZE= (RFC 1870); compare with message_size_limit
  Body body = Body::Unspecified;
  Ret ret = Ret::Unspecified;
  std::optional<std::string> envid;  // ENVID=, xtext-decoded, printable ASCII, <= 100 bytes
  bool smtputf8 = false;             // SMTPUTF8 (RFC 6531)
  std::optional<std::string> auth;   // AUTH= (RFC 4954), xtext-decoded; "<>" stays "<>"

  friend bool operator==(const MailFrom&, const MailFrom&) = default;
};

struct RcptTo {
  Path path;
  std::uint8_t notify = 0;  // DsnNotify bits; 0: NOTIFY not given
  std::string orcpt_type;   // ORCPT address type, lower-cased ("rfc822", "utf-8"); empty: no ORCPT
  std::string orcpt;        // ORCPT address, xtext-decoded

  friend bool operator==(const RcptTo&, const RcptTo&) = default;
};

struct Helo {
  std::string domain;  // argument as given (Postfix joins extra words with one space)
};

struct Bdat {
  std::uint64_t size = 0;  // <= 2^63-1
  bool last = false;
};

struct Auth {
  std::string mechanism;                        // upper-cased SASL mechanism name
  std::optional<std::string> initial_response;  // raw (base64 or "="), not decoded
};

// VRFY, EXPN, ETRN: one free-form argument.
struct Argument {
  std::string text;
  bool smtputf8 = false;  // VRFY/EXPN ... SMTPUTF8 (RFC 6531 section 3.7.4.2)
};

// XCLIENT / XFORWARD name=value pairs: names upper-cased, values xtext-decoded.
struct Attributes {
  std::vector<std::pair<std::string, std::string>> items;
};

struct Command {
  Verb verb = Verb::Unknown;
  std::string verb_text;  // the verb as sent (case preserved), for logs and unknown commands
  std::string args;       // everything after the verb, blanks trimmed
  std::variant<std::monostate, Helo, MailFrom, RcptTo, Bdat, Auth, Argument, Attributes> detail;

  const Helo& helo() const { return std::get<Helo>(detail); }
  const MailFrom& mail() const { return std::get<MailFrom>(detail); }
  const RcptTo& rcpt() const { return std::get<RcptTo>(detail); }
  const Bdat& bdat() const { return std::get<Bdat>(detail); }
  const Auth& auth() const { return std::get<Auth>(detail); }
  const Argument& argument() const { return std::get<Argument>(detail); }
  const Attributes& attributes() const { return std::get<Attributes>(detail); }

  // Postfix's is_header() test on an unknown verb ("Subject:", "From:"):
  // someone is feeding a message to the command channel. Postfix answers
  // "221 2.7.0 Error: I can break rules, too. Goodbye." and hangs up.
  bool looks_like_header() const;
};

// What the parser accepts. Defaults: Postfix defaults with DSN and SMTPUTF8
// advertised and SASL off.
struct CommandOptions {
  bool strict_rfc821_envelopes = false;  // require <> around MAIL FROM / RCPT TO paths
  bool check_utf8 = true;                // smtputf8_enable: reject invalid UTF-8 lines
  bool dsn = true;                       // DSN offered: RET ENVID NOTIFY ORCPT accepted
  bool smtputf8 = true;                  // SMTPUTF8 offered: MAIL ... SMTPUTF8 accepted
  bool auth = false;                     // SASL active: MAIL ... AUTH= accepted
  bool binarymime = false;               // BINARYMIME offered: BODY=BINARYMIME accepted
};

Parsed<Command> parse_command(std::string_view line, const CommandOptions& options = {});

// Client side: "MAIL FROM:<path> SIZE=n BODY=... RET=... ENVID=... SMTPUTF8 AUTH=..."
// and "RCPT TO:<path> NOTIFY=... ORCPT=type;xtext", without CRLF. The path
// text is put between <> as given (the caller passes the external, quoted
// form); values are xtext-encoded (bytes above 126 as +HH, like Postfix, so
// an ORCPT may come out longer than RFC 3461's 500 characters; it is sent
// anyway, as Postfix does). Fails when the path contains CR, LF or NUL, or
// when a field cannot be sent (ORCPT address without a valid type).
Result<std::string> format_mail_from(const MailFrom& m);
Result<std::string> format_rcpt_to(const RcptTo& r);

// "SUCCESS,FAILURE,DELAY" / "NEVER" for NOTIFY bits; empty for 0.
std::string notify_to_string(std::uint8_t bits);

}  // namespace postern::smtp
