// access.h - access(5) tables for check_client_access, check_helo_access,
// check_sender_access, check_recipient_access and check_ccert_access.
//
// One restriction names one table; evaluate() asks it a list of keys, most
// specific first, and the first key the table knows decides. The key order is
// Postfix's (smtpd_check.c: check_namadr_access, check_domain_access,
// check_addr_access, check_mail_access with mail_addr_find's strategy):
//
//   Client     hostname ("unknown" included: Postfix looks it up too), its
//              parent domains, then the address: 192.0.2.1, 192.0.2, 192.0, 192
//              (IPv6: 2001:db8::1, 2001:db8:, 2001:db8, 2001 -- the string is cut
//              at its last ':' again and again, so not every network is tried)
//   Helo       the HELO/EHLO argument and its parent domains; no parents for an
//              IP address; "[192.0.2.1]" is not special (Postfix neither strips
//              the brackets nor skips the parents of a bracketed literal)
//   Sender,    user+ext@domain, user@domain, domain and its parents,
//   Recipient  user+ext@, user@ (access(5) "EMAIL ADDRESS EXTENSION"); each
//              address key is asked in quoted (external) form first and then,
//              when different, in internal form, as mail_addr_find() does.
//              The null sender is the single key smtpd_null_access_lookup_key.
//   Ccert      the TLS client certificate's fingerprint, then its public key
//              fingerprint (tls/context.h), each to every table; no keys
//              without a certificate. Replies name the certificate's CN:
//              "<CN>: Client certificate rejected: ...".
//
// Parents: with "smtpd_access_maps" in parent_domain_matches_subdomains (the
// default) a.b.example.com tries b.example.com, example.com, com; without it
// .b.example.com, .example.com, .com.
//
// Only the first key (the whole hostname, address, HELO name or mail
// address) goes to every table; partial keys go to fixed-string tables only,
// so regexp, pcre and cidr tables see whole strings (Key::fixed_only, the
// DICT_FLAG_FIXED test). Exception, as in Postfix: the domain of a mail
// address is a partial key. Case folding is the tables' business.
//
// Results (access(5) "ACCESS ACTIONS", check_table_result()), keyword case
// ignored, the keyword ending at the first space or tab:
//   OK, RELAY, all-numerical (even "550"), empty     Permit
//   REJECT [text], DEFER [text], 4NN text, 5NN text  Reject (text required after 4NN/5NN)
//   DUNNO                                            no decision, and stop searching
//   WARN text, INFO text                             no decision, stop, log `why`
//   DEFER_IF_REJECT [text], DEFER_IF_PERMIT [text]   DeferIfReject / DeferIfPermit: no decision,
//                                                    but the reply (access_map_defer_code 4.7.1,
//                                                    "Service unavailable" when no text) replaces
//                                                    a later 5xx rejection / a later permit
//   HOLD [text]                                      Hold: no decision; the message goes to
//                                                    the hold queue (whole message, as in Postfix)
//   DISCARD [text]                                   Discard: permit, and the message is thrown
//                                                    away after a 250 (whole message)
//   PREPEND header: text                             Prepend: no decision; the header goes
//                                                    before smtpd's Received: header (a text
//                                                    that is not a header: Dunno and a warning)
//   BCC user@domain                                  Bcc: no decision; the address becomes an
//                                                    extra recipient (NOTIFY=NEVER); without
//                                                    an "@": Dunno and a warning
//   FILTER transport:destination                     Filter: no decision; the whole message
//                                                    goes to that content filter (the last
//                                                    FILTER wins); without a ":" (or with a
//                                                    bad transport name): Dunno and a warning
//   REDIRECT user@domain                             Redirect: no decision; the whole message
//                                                    goes to that address instead of its
//                                                    recipients (the last one wins, over
//                                                    FILTER too); without "@": Dunno, warning
//   HANGUP                                           Unsupported (Postern lacks it)
//   any other result containing ':'                  Unsupported (Postfix: "do not specify
//                                                    lookup tables inside SMTPD access maps")
//   anything else                                    Restrictions, split at ", \t\r\n"
//                                                    ({...} kept whole), lower-cased
//
// A Reject reply reads "CODE D.D.D <NAME>: CLASS rejected: TEXT" (CLASS:
// "Client host", "Helo command", "Sender address", "Recipient address"; TEXT
// "Access denied" when the table gives none). A leading RFC 3463 code in the
// text replaces the default 5.7.1 / 4.7.1 and is then mapped the way
// Postfix's smtpd_dsn_fix() does (a recipient status such as 5.1.1 becomes
// the sender status 5.1.7 when a sender is rejected, and 5.0.0 for client or
// HELO rejects), and its class digit always follows the reply code. A reply
// code outside 4xx/5xx (or not a valid RFC 5321 code such as 460) gives
// "450 4.7.1 Service unavailable" instead. Control characters in the reply
// become spaces and the line is cut at 510 bytes, as smtpd_check_reject() does.
// Replies 421 and 521 mean "reply, then disconnect" in Postfix; that is the
// caller's job.
//
// Postern extensions to the API sketch (both fields have Postfix's defaults):
// Options::allow_untrusted_routing and Options::double_bounce_sender.
//
// Parameters (passed in by the caller): parent_domain_matches_subdomains,
// recipient_delimiter, smtpd_null_access_lookup_key, access_map_reject_code,
// access_map_defer_code, allow_untrusted_routing, double_bounce_sender.
// Logs: nothing itself (MapList logs table errors); Action::why is for the
// caller's log line.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aio/asio.h"
#include "base/result.h"
#include "mail/address.h"
#include "maps/map_list.h"
#include "smtp/reply.h"

namespace postern::smtpd::access {

// ReverseClient: check_reverse_client_hostname_access (the client's
// unverified reverse name, in Subject::client_name, then its address);
// Sasl: check_sasl_access (the SASL login name, exactly).
enum class Kind { Client, Helo, Sender, Recipient, Ccert, ReverseClient, Sasl };

struct Options {
  bool parent_matches_subdomains = true;  // "smtpd_access_maps" is in parent_domain_matches_subdomains
  std::string recipient_delimiter;        // may be empty
  std::string null_sender_key = "<>";     // smtpd_null_access_lookup_key
  int reject_code = 554;                  // access_map_reject_code
  int defer_code = 450;                   // access_map_defer_code
  // allow_untrusted_routing: when false (Postfix's default), an OK for a
  // recipient with routing tricks (user%host@domain, host!user@domain,
  // "user@host"@domain) counts as no decision, so that an "example.com OK"
  // entry cannot make us relay for user%elsewhere@example.com.
  bool allow_untrusted_routing = false;
  std::string double_bounce_sender = "double-bounce";  // never split at recipient_delimiter
};

// What smtpd knows when it evaluates the restriction.
struct Subject {
  std::string_view client_name;   // "unknown" when not known
  std::string_view client_addr;   // "192.0.2.1", "2001:db8::1"
  std::string_view helo;          // HELO/EHLO argument as given ("" when none)
  // Sender (Kind::Sender) or recipient (Kind::Recipient). Postfix looks up the
  // address as trivial-rewrite resolved it (so "user" is already
  // user@$myorigin): pass Address::from_internal(resolve reply's recipient)
  // for its exact keys. An address without a domain gets only its user@ keys.
  const mail::Address* address = nullptr;
  std::string_view address_text;  // the address as the client wrote it, for "<...>" in replies
  // Kind::Ccert: the client certificate's fingerprints and subject CN
  // (empty: no certificate).
  std::string_view ccert_fingerprint, ccert_pkey_fingerprint, ccert_cn;
  // Kind::Sasl: the login name of an authenticated client.
  std::string_view sasl_username;
};

// The lookup keys for `kind`, in Postfix's order, each marked whether only
// fixed-string tables may be asked (partial keys) or every table (the full string).
struct Key {
  std::string key;
  bool fixed_only;
  friend bool operator==(const Key&, const Key&) = default;
};
std::vector<Key> lookup_keys(Kind kind, const Subject& s, const Options& o);

struct Action {
  enum class Type {
    Permit,
    Reject,
    Dunno,
    Restrictions,
    Unsupported,
    DeferIfReject,
    DeferIfPermit,
    Hold,
    Discard,
    Prepend,
    Bcc,
    Filter,
    Redirect
  } type = Type::Dunno;
  smtp::Reply reply;                      // Reject (4xx or 5xx); DeferIf*: the deferral
  std::vector<std::string> restrictions;  // Restrictions: lower-case names, in order (e.g. {"permit_mynetworks","reject"})
  // Unsupported: why (e.g. "action HOLD is not supported"); the caller answers
  // 451 4.3.5 Server configuration error and logs it. Dunno from WARN/INFO:
  // "warn: text" / "info: text" to log (Postfix's line: "NOQUEUE: warn: RCPT
  // from host[addr]: text; from=<s> to=<r> proto=ESMTP helo=<h>"). Permit or
  // Reject: a configuration warning to log (empty value, bad reply code),
  // usually empty. Hold, Discard: "<NAME>: CLASS TEXT" to log under "hold:" /
  // "discard:" (TEXT "triggers HOLD action" when the table gives none).
  // Prepend: the header line. Bcc: "<NAME>: CLASS triggers BCC ADDRESS",
  // to log under "bcc:"; Filter likewise ("triggers FILTER T:D", "filter:").
  std::string why;
  std::string address;  // Bcc: the recipient to add; Redirect: the address; Filter: transport:destination
  // A table mistake that decides nothing (PREPEND without a header), for
  // the caller to log as a warning.
  std::string warning;
};

// Interprets one table result (access(5) "ACCESS ACTIONS") for `kind`.
Action parse_action(std::string_view result, Kind kind, const Subject& s, const Options& o);

// Looks up every key in order in `table`; the first key that matches decides,
// and a DUNNO (or WARN/INFO) match ends the search with no decision: access(5)
// "DUNNO: pretend that the lookup key was not found. This prevents Postfix
// from trying substrings of the lookup key". For a client that includes the
// address keys after a DUNNO for the hostname (check_namadr_access stops once
// a name key was found).
// nullopt: nothing matched, or DUNNO, or a suspicious recipient OK (see
// Options::allow_untrusted_routing). An Action of Type::Dunno comes back only
// for WARN/INFO: log its `why`, then continue as for nullopt.
// Error: a table lookup failed; Postfix answers "451 4.3.5 Server
// configuration error".
Result<std::optional<Action>> evaluate(maps::MapList& table, Kind kind, const Subject& s, const Options& o);

// The same with the keys given: the check_*_{mx,ns,a}_access lookups, whose
// keys are a server's name and addresses while the reply names `s`.
// `hit`, when given, says whether a key was found at all (a DUNNO result is
// a hit too, though no action comes back).
Result<std::optional<Action>> evaluate_keys(maps::MapList& table, const std::vector<Key>& keys, Kind kind,
                                            const Subject& s, const Options& o, bool* hit = nullptr);
// A server host's keys: the name and its parent domains (none for a numeric
// name), as check_domain_access.
std::vector<Key> host_name_keys(std::string_view host, const Options& o);
// An address's keys: the whole address, then cut at its last '.' or ':'
// again and again, as check_addr_access.
std::vector<Key> address_keys(const asio::ip::address& a);

// --- Helpers, also for the caller's own replies and logs ---

// "Client host", "Helo command", "Sender address", "Recipient address".
std::string_view reply_class(Kind kind);
// What goes between "<" and ">": client_name[client_addr], the HELO name as
// Postfix stores it, or the address as written ("" for the null sender).
std::string reply_name(Kind kind, const Subject& s);
// Postfix's smtpd_dsn_fix(): an address status (X.1.Y) in a table result is
// made to fit what is rejected. Other codes are returned unchanged.
std::string fix_dsn(std::string_view dsn, Kind kind);
// True when an OK for this recipient must count as no decision (routing
// tricks and !allow_untrusted_routing). The caller applies it to an OK that a
// Restrictions list produced, as Postfix applies it to check_mail_access's
// final status.
bool permit_is_suspicious(Kind kind, const Subject& s, const Options& o);
// The HELO name as Postfix's smtpd stores it: control characters, space and
// <>()\";@ become '?'. Keys and replies use this form.
std::string neuter_helo(std::string_view helo);

// Bounds. Keys longer than any valid input can make are not looked up (they
// can only come from a caller bug); names with more labels than DNS allows
// stop the parent-domain search early. Postfix has neither bound.
inline constexpr std::size_t kMaxKeyBytes = 16 * 1024;
inline constexpr std::size_t kMaxDomainKeys = 128;
// smtpd_check_reject() cuts the reply line ("CODE D.D.D text") here.
inline constexpr std::size_t kMaxReplyBytes = 510;

// smtpd_check_reject()'s printable(text, ' '): control characters become
// spaces (none may reach the wire), and the text is cut at `room` bytes
// without splitting a UTF-8 sequence.
std::string reply_text(std::string_view text, std::size_t room);

}  // namespace postern::smtpd::access
