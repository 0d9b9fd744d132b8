// reply.h - SMTP replies: the typed value, its wire form, EHLO keyword lists.
//
// A Reply is a three-digit code, an optional RFC 3463 enhanced status code
// ("5.1.1") and one or more lines of text. format_reply() turns it into wire
// text the way RFC 5321 section 4.2 and RFC 2034 want it:
//
//   550-5.1.1 first line\r\n
//   550 5.1.1 last line\r\n
//
// - every line carries the code, '-' on all lines but the last, and the
//   enhanced code (when there is one) on every line (RFC 2034 section 4);
// - no line is longer than max_line bytes including CRLF (RFC 5321 section
//   4.5.3.1.5: 512); longer text is wrapped at a space where possible;
// - text never puts CR or LF on the wire: an embedded line break starts a new
//   reply line (with the code in front, so it cannot forge a reply), and any
//   other control character or invalid UTF-8 byte becomes '?'.
//
// The same Reply type is what the client-side ReplyParser (reply_parser.h)
// produces, so smtpd, the smtp/lmtp client and the tests speak one type.
//
// ehlo_keywords() builds the EHLO keyword list in Postfix's order from a
// feature set, minus smtpd_discard_ehlo_keywords; ehlo_reply() wraps it with
// the host name. EHLO replies carry no enhanced status codes (RFC 2034).
//
// Parameters: none read here (callers pass message_size_limit,
// smtpd_discard_ehlo_keywords, myhostname, ... in). Logs nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::smtp {

// RFC 5321 section 4.5.3.1.5: reply lines are at most 512 octets with CRLF.
inline constexpr std::size_t kMaxReplyLine = 512;

struct Reply {
  int code = 0;                    // 200..599 (second digit 0..5)
  std::string enhanced;            // "2.1.0"; empty: none
  std::vector<std::string> lines;  // text, one entry per line (may be empty: code only)

  Reply() = default;
  Reply(int code, std::string enhanced, std::string text);
  Reply(int code, std::string enhanced, std::vector<std::string> lines);

  int klass() const { return code / 100; }         // 2, 3, 4 or 5
  bool positive() const { return code >= 200 && code < 400; }
  bool transient() const { return klass() == 4; }
  bool permanent() const { return klass() == 5; }

  // The text lines joined with `sep` (for logs: "host said: 550 5.1.1 ...").
  std::string text(std::string_view sep = " ") const;
  // One-line form for logs: "550 5.1.1 text text".
  std::string to_string() const;

  friend bool operator==(const Reply&, const Reply&) = default;
};

// soft_bounce: a 5xx reply becomes the 4xx one (and a 5.x.x enhanced code
// 4.x.x), so that a client keeps the mail and tries again; others are
// returned unchanged. Postfix's smtpd does this to every reply it sends.
Reply soften(Reply r);

// Reply-code = %x32-35 %x30-35 %x30-39 (RFC 5321 section 4.2).
bool valid_reply_code(int code);

// class "." subject "." detail; class 2, 4 or 5; subject and detail 1..3
// digits (RFC 3463 section 2).
bool valid_enhanced_code(std::string_view s);

// Wire text for `r`, every line ending in CRLF. Never fails:
// - an invalid code is replaced by "451 4.3.0 Error: internal error" (the
//   reply came from a bug; a 4xx makes the client retry instead of bounce);
// - an enhanced code whose class digit differs from the reply class gets the
//   class digit of the reply (RFC 3463: they must agree), a syntactically
//   invalid one is dropped;
// - max_line is raised to at least 64.
std::string format_reply(const Reply& r, std::size_t max_line = kMaxReplyLine);

// What the server offers after EHLO. Keyword order follows Postfix so that
// clients and scripts that look at the EHLO response see the familiar list.
struct EhloFeatures {
  bool pipelining = true;
  std::optional<std::uint64_t> size;  // "SIZE n"; 0: "SIZE" without limit; nullopt: not offered
  bool vrfy = true;                   // !disable_vrfy_command
  bool etrn = true;
  bool starttls = false;
  std::vector<std::string> auth_mechanisms;  // empty: no AUTH
  bool auth_broken_clients = false;           // broken_sasl_auth_clients: also "AUTH=mech ..."
  std::vector<std::string> xclient_attributes;   // empty: no XCLIENT
  std::vector<std::string> xforward_attributes;  // empty: no XFORWARD
  bool enhanced_status_codes = true;
  bool eight_bit_mime = true;
  bool dsn = true;
  bool smtputf8 = true;
  bool chunking = true;
  // smtpd_discard_ehlo_keywords: keyword names, case-insensitive
  // ("pipelining", "size", "auth", "8bitmime", ...). "silent-discard" is
  // accepted and ignored here (it only affects logging).
  std::vector<std::string> discard;
};

std::vector<std::string> ehlo_keywords(const EhloFeatures& f);

// 250-hostname / 250-KEYWORD ... / 250 LAST-KEYWORD, no enhanced codes.
Reply ehlo_reply(std::string_view hostname, const std::vector<std::string>& keywords);

// True when `keyword` (as offered, e.g. "SIZE 10240000") is named by one of
// the discard names ("size"). "AUTH=..." counts as "auth".
bool ehlo_keyword_discarded(std::string_view keyword, const std::vector<std::string>& discard);

}  // namespace postern::smtp
