// address.h - typed mail addresses: RFC 5321 path parsing, quoting, routing tricks.
//
// An Address holds the local part and the domain in Postfix's *internal*
// (unquoted) form: the envelope address <"john doe"@example.com> has local
// part `john doe`. Internal form is what lookup tables, the queue file and
// the logs use; external (quoted) form is what goes on the wire and into
// headers. quote_local()/unquote_local() convert between the two for the
// local part the way Postfix's quote_822_local()/unquote_822_local() do:
// quotes are added only when the local part is not a valid dot-string.
//
// parse_smtp_path() takes the text between '<' and '>' of MAIL FROM / RCPT TO
// (the SMTP command parser strips the brackets and the ESMTP parameters) and
// returns an Address or an error saying what is wrong. What it accepts is set
// by PathOptions; the defaults follow Postfix (lenient where Postfix is, e.g.
// local-part length, sloppy dots, addresses without a domain), and
// PathOptions::rfc5321_strict() gives the letter of RFC 5321/6531.
//
// Relay control needs to know about addresses that try to route mail through
// us in ways the domain does not show: user%host@domain, host!user@domain,
// "user@host"@domain and @route:user@host. Address::has_routing_tricks()
// reports which of these are present (Postfix's RESOLVE_FLAG_ROUTED test).
//
// split_extension() splits "user+ext" at the first of several
// recipient_delimiter characters, with Postfix's exceptions (postmaster,
// MAILER-DAEMON, the double-bounce sender, owner-foo and foo-request).
//
// Parameters: none read here; callers pass smtputf8_enable, recipient_delimiter,
// owner_request_special, double_bounce_sender and length limits in. Logs
// nothing: callers log rejected input (use str::printable()).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>
#include <string>
#include <string_view>

#include "base/result.h"
#include "mail/text.h"  // has_8bit(), valid_utf8() for callers of parse_smtp_path()

namespace postern::mail {

// One bit per routing trick, see Address::has_routing_tricks().
enum class RoutingTrick : std::uint8_t {
  kPercentHack = 1,   // user%host@domain
  kBangPath = 2,      // host!user@domain
  kQuotedAt = 4,      // "user@host"@domain (an '@' inside the local part)
  kSourceRoute = 8,   // @relay1,@relay2:user@host
};

class RoutingTricks {
 public:
  constexpr RoutingTricks() = default;
  constexpr explicit RoutingTricks(unsigned bits) : bits_(bits) {}
  constexpr bool has(RoutingTrick t) const { return (bits_ & static_cast<unsigned>(t)) != 0; }
  constexpr bool any() const { return bits_ != 0; }
  constexpr explicit operator bool() const { return any(); }
  constexpr unsigned bits() const { return bits_; }
  void add(RoutingTrick t) { bits_ |= static_cast<unsigned>(t); }
  // "percent-hack,bang-path,quoted-at,source-route" (only those present), or "none".
  std::string to_string() const;
  friend constexpr bool operator==(RoutingTricks, RoutingTricks) = default;

 private:
  unsigned bits_ = 0;
};

struct Address {
  std::string local;   // internal (unquoted) form; may contain any byte except CR/LF when parsed here
  std::string domain;  // as given, without a trailing dot; "[1.2.3.4]" or "[IPv6:...]" for literals;
                       // empty when the address had no @domain
  std::string route;   // obsolete source route "@a,@b" (no trailing ':'); empty when absent

  // The null sender <> (MAIL FROM:<>).
  bool is_null() const { return local.empty() && domain.empty() && route.empty(); }
  bool has_domain() const { return !domain.empty(); }

  // Internal form: "local@domain", "local" without domain, "@a,@b:local@domain"
  // with a route, "" for the null sender. This is the form used as a lookup key.
  std::string to_internal() const;
  // External form: like to_internal() but with the local part quoted where
  // needed (quote_local()), suitable for MAIL FROM:<...> and message headers.
  std::string to_external() const;

  // ASCII-lowercased domain (UTF-8 bytes are left alone). Domains compare
  // case-insensitively; local parts do not (RFC 5321 section 2.4).
  std::string lower_domain() const;
  bool same_domain(std::string_view other_domain) const;

  // Which routing tricks the address uses (empty result: none). Looks for
  // '%', '!' and '@' in the local part regardless of percent_hack and
  // swap_bangpath, because the next hop may honour them even when we do not.
  RoutingTricks has_routing_tricks() const;

  // Split an internal-form string ("@route:local@domain") at the last '@',
  // the same way Postfix does. Never fails; "" yields the null address.
  static Address from_internal(std::string_view internal);

  friend bool operator==(const Address&, const Address&) = default;
};

// What parse_smtp_path() accepts. The defaults are Postfix's behaviour with
// smtputf8_enable = yes and the client not (yet) asking for SMTPUTF8.
struct PathOptions {
  bool allow_null = false;          // "" (the null path); true for MAIL FROM
  bool smtputf8 = false;            // RFC 6531 UTF-8 local parts and domains (MAIL FROM ... SMTPUTF8)
  bool allow_raw_8bit = false;      // pass 8-bit bytes through unchecked (smtputf8_enable = no)
  bool allow_bare_local = true;     // "user" without @domain; false: only <postmaster> (RFC 5321 4.1.1.3)
  bool lenient_local = true;        // "a..b", ".a", "a." and "a"."b" local parts (Postfix accepts them)
  bool allow_source_route = true;   // "@a,@b:user@host"; reported in Address::route for smtpd to strip
  bool allow_trailing_dot = true;   // "user@example.com." (the dot is removed, as trivial-rewrite does)
  std::size_t max_local = 0;        // bytes in the internal local part; 0: no limit (RFC 5321: 64)
  std::size_t max_domain = 255;     // bytes in the domain (RFC 5321: 255); 0: no limit
  std::size_t max_path = 0;         // bytes including '<' and '>'; 0: no limit (RFC 5321: 256)

  static PathOptions rfc5321_strict();
};

// Never accepted, whatever the options: protects every later stage. Nor is
// an address whose external (quoted) form is longer, so that every accepted
// address parses back from it.
inline constexpr std::size_t kMaxPathBytes = 4096;

// Parse the text between '<' and '>' of MAIL FROM/RCPT TO.
//
// Rejected (error): control characters anywhere (CR, LF, NUL, TAB, DEL...),
// 8-bit bytes unless smtputf8 (then they must be valid UTF-8) or
// allow_raw_8bit, unbalanced quotes, characters outside atext in an unquoted
// local part, a missing local part, invalid domains (LDH labels of at most 63
// bytes, no leading/trailing hyphen, not all-numeric, '_' tolerated as Postfix
// does), malformed or general address literals (only [IPv4] and [IPv6:...]),
// anything after the domain, and length limits. smtpd should check
// has_8bit() before calling to give "553 5.6.7 Must declare SMTPUTF8".
Result<Address> parse_smtp_path(std::string_view text, const PathOptions& options = {});

// Local part, internal -> external form (Postfix quote_822_local() for a bare
// local part, 8-bit clean): unchanged when it is a dot-string of atext (8-bit
// bytes count as atext), otherwise put in double quotes with '"', '\\' and CR
// backslash-escaped. The empty local part becomes "".
std::string quote_local(std::string_view internal);

// Local part, external -> internal form: drops double quotes and resolves
// backslash escapes (a trailing lone backslash is dropped). Never fails, like
// Postfix's unquote_822_local(); unquote_local(quote_local(x)) == x for all x.
std::string unquote_local(std::string_view external);

// Domain syntax checks, also useful for HELO names and ETRN arguments.
// Hostname: see parse_smtp_path(); allow_utf8 accepts U-labels (non-ASCII
// bytes in labels; the caller must have checked valid_utf8()).
bool is_valid_hostname(std::string_view name, bool allow_utf8 = false);
bool is_valid_ipv4(std::string_view text);   // dotted quad, 1-3 digits per octet, each <= 255
bool is_valid_ipv6(std::string_view text);   // without the "IPv6:" tag; "::" and embedded IPv4 allowed
// "[1.2.3.4]" / "[IPv6:2001:db8::1]" -> "1.2.3.4" / "2001:db8::1" in
// inet_ntop's one spelling (so that two texts of one address compare
// equal); a bare address too with allow_bare. nullopt when not an address.
std::optional<std::string> canonical_ip_text(std::string_view text, bool allow_bare = false);
// canonical_ip_text(t, true) of each of `texts` that is an address (the
// others are left out): proxy_interfaces as trivial-rewrite, smtpd and the
// smtp client's loop check take it (addresses only; names there are not
// looked up).
std::vector<std::string> canonical_ip_texts(const std::vector<std::string>& texts);
// "[1.2.3.4]" or "[IPv6:...]" (tag case-insensitive), brackets included.
bool is_valid_address_literal(std::string_view text);

// Result of split_extension(): base "user", extension "ext" and the
// delimiter that split them ('+'). The extension may be empty ("user+").
struct ExtensionSplit {
  std::string_view base;
  std::string_view extension;
  char delimiter = 0;
};

struct ExtensionOptions {
  bool owner_request_special = true;                  // owner_request_special
  std::string_view double_bounce_sender = "double-bounce";  // double_bounce_sender
};

// Split a local part at the first character that is in `delimiters` (the
// recipient_delimiter value; Postfix 2.11+ allows several characters).
// Nothing is split (nullopt) when delimiters is empty, no delimiter occurs,
// the base would be empty, or the local part is postmaster, MAILER-DAEMON or
// the double-bounce sender (case-insensitive); with '-' among the delimiters
// and owner_request_special, also owner-* and *-request.
std::optional<ExtensionSplit> split_extension(std::string_view local, std::string_view delimiters,
                                              const ExtensionOptions& options = {});

}  // namespace postern::mail
