// tls_policy.h - smtp_tls_policy_maps: Postfix's per-destination TLS
// policy for the smtp client.
//
// The table is searched with the next hop the client is about to try, as
// qmgr or the fallback list wrote it: the recipient domain, or the
// transport's nexthop verbatim ("[mail.example.com]:587", brackets and
// port included). A next hop that is a domain name is then searched as its
// parent domains with a leading dot (".example.com", ".com"), so that
// ".example.com" covers every subdomain; an explicit "[host]" or
// "host:port" is searched once. No entry: main.cf's level applies.
//
// A value is a level, then attributes (separated by commas or white space;
// "{ name = value }" when the value has spaces):
//
//   example.com          encrypt
//   [relay.example]:587  secure match=relay.example protocols=>=TLSv1.2
//   .partner.example     verify match=hostname:nexthop ciphers=high exclude=3DES
//
// Levels: none, may, encrypt, dane, dane-only, verify, secure, fingerprint
// (as smtp_tls_security_level). "dane" and "dane-only" need DNSSEC lookups
// (smtp_dns_support_level = dnssec, TlsDefaults::dnssec); without them
// "dane" is "may" with a warning, as in Postfix, and "dane-only" is
// invalid. What a DANE level means for one server depends on its DNS
// answers and is decided per server (dane.h); a DANE policy carries both
// settings it may need: the mandatory ones (protocols, ciphers) and the
// opportunistic ones (may_protocols, may_ciphers). Attributes, as in Postfix:
//   ciphers   the cipher grade (high, medium, low, export, null) instead of
//             smtp_tls_ciphers / smtp_tls_mandatory_ciphers;
//   protocols instead of smtp_tls_protocols / smtp_tls_mandatory_protocols;
//   exclude   instead of main.cf's exclusions (eNULL, aNULL still go);
//   match     verify and secure: the names the certificate must carry,
//             separated by ":" (hostname, nexthop, dot-nexthop or a name),
//             instead of smtp_tls_verify_cert_match / _secure_cert_match;
//             fingerprint: the certificate or public key fingerprints,
//             separated by "|", instead of smtp_tls_fingerprint_cert_match
//             (smtp_tls_fingerprint_digest, as Postfix has them);
//   servername the name sent in the TLS Server Name Indication (SNI)
//             instead of smtp_tls_servername: "hostname" (the server's name
//             as the MX record or the next hop gave it), "nexthop" (the
//             next-hop domain) or a host name in A-label form.
// With "none" the attributes are ignored (each with a warning).
//
// SNI, as in Postfix: none unless smtp_tls_servername or servername= asks
// for it; a DANE-authenticated server always gets the TLSA base domain
// (RFC 7672) whatever these say. Unlike Postfix, a name that resolves to an
// IP address ("hostname" for "[192.0.2.1]") or to a name with non-ASCII
// labels (a U-label next hop) is not sent: RFC 6066 allows only host names
// there, and Postern has no IDNA conversion (sni_name()).
//
// Anything else - an unknown level or attribute, "dane-only",
// "tafile", an attribute given twice, a bad fingerprint, a bad grade or
// protocol list, a servername that is not a host name - makes the policy invalid, and a table that
// cannot be read makes it unknown: either way the next hop is not tried
// and its mail is deferred with 4.7.5 "client TLS configuration problem"
// (a warning says why), never sent with less protection than asked.
//
// Reads (TlsDefaults::from_config): smtp_tls_security_level (through
// tls::Settings), smtp_tls_protocols, smtp_tls_mandatory_protocols,
// smtp_tls_ciphers, smtp_tls_mandatory_ciphers, smtp_tls_exclude_ciphers,
// smtp_tls_mandatory_exclude_ciphers, smtp_tls_verify_cert_match,
// smtp_tls_secure_cert_match, smtp_tls_fingerprint_cert_match,
// smtp_tls_fingerprint_digest, smtp_tls_servername, tls_*_cipherlist,
// smtp_dns_support_level, smtp_tls_dane_insecure_mx_policy (the lmtp_*
// ones for LMTP). Logs the warnings above.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "config/config.h"
#include "maps/map_list.h"
#include "dns/answer.h"
#include "tls/context.h"

namespace postern::smtp_client {

// What one connection is to do about TLS.
struct TlsPolicy {
  tls::Level level = tls::Level::kNone;
  unsigned protocols = 0;               // tls/protocols.h bits
  std::string ciphers;                  // OpenSSL cipher list
  std::vector<std::string> cert_match;  // verify and secure
  // fingerprint: the acceptable fingerprints (tls::normal_fingerprint()
  // form) and the digest that makes them.
  std::vector<std::string> fingerprints;
  std::string digest;
  // dane, dane-only: the settings of "may", for a server without usable
  // DNSSEC-validated TLSA records (dane.h).
  unsigned may_protocols = 0;
  std::string may_ciphers;
  // Set for one server by dane.h: its usable TLSA records, and the names
  // its certificate may carry for DANE-TA(2) (the TLSA base domain first).
  std::vector<dns::TlsaRecord> tlsa;
  std::vector<std::string> dane_names;
  // The MX records that named this server were not validated: a DANE
  // match is logged "Trusted", not "Verified" (dane.h).
  bool insecure_mx = false;
  // dane: what MX records that were not validated allow
  // (smtp_tls_dane_insecure_mx_policy: kMay, kEncrypt or kDane).
  tls::Level insecure_mx_policy = tls::Level::kMay;
  // What to send as SNI: "", "hostname", "nexthop" or a host name
  // (checked); sni_name() resolves it for one server.
  std::string servername;

  bool enabled() const { return level != tls::Level::kNone; }
  bool dane() const { return level == tls::Level::kDane || level == tls::Level::kDaneOnly; }
  bool mandatory() const {
    return level == tls::Level::kEncrypt || level == tls::Level::kFingerprint || verifies() ||
           level == tls::Level::kDaneOnly || (level == tls::Level::kDane && !tlsa.empty());
  }
  bool verifies() const { return level == tls::Level::kVerify || level == tls::Level::kSecure; }
};

// main.cf's settings for each level, read once. from_config() fails on a
// bad smtp_tls_dane_insecure_mx_policy.
struct TlsDefaults {
  std::string protocols_may, protocols_mandatory;  // the lists as written
  std::string grade_may, grade_mandatory;
  std::vector<std::string> exclude, exclude_mandatory;
  std::vector<std::string> verify_match, secure_match;
  std::vector<std::string> fingerprint_match;  // as written
  std::string digest;
  tls::CipherGrades grades;
  bool dnssec = false;  // smtp_dns_support_level = dnssec: the DANE levels work
  // smtp_tls_dane_insecure_mx_policy, for "dane" (dane.h); may, encrypt or
  // dane. Empty in main.cf: dane when smtp_tls_security_level = dane, else may.
  tls::Level insecure_mx_policy = tls::Level::kMay;
  std::string servername;        // smtp_tls_servername, as written (checked per level)
  std::string servername_param;  // its name: smtp_tls_servername or lmtp_tls_servername

  // `prefix`: "smtp" or "lmtp" (the lmtp_tls_* family).
  static Result<TlsDefaults> from_config(const config::Config& cfg, std::string_view prefix = "smtp");
};

// The policy of `level` with main.cf's settings (what a destination
// without a table entry gets). Errors name the parameter at fault.
Result<TlsPolicy> default_tls_policy(tls::Level level, const TlsDefaults& d);

// Parses a table's value. `warnings` collects what is ignored; an error
// says why the policy is invalid.
Result<TlsPolicy> parse_tls_policy(std::string_view value, const TlsDefaults& d, std::vector<std::string>& warnings);

// The table's value for next hop `hop` (itself, then its parent domains
// as ".parent" when it is a domain name); nullopt when none matches.
Result<std::optional<std::string>> find_tls_policy(maps::MapList& table, std::string_view hop);

// The domain part of a next hop as qmgr or a transport wrote it:
// "[mail.example.com]:587" -> "mail.example.com", "example.com:25" ->
// "example.com", LMTP's "inet:host:port" -> "host"; empty for an LMTP
// "unix:/path" (no domain to name or match).
std::string_view nexthop_domain(std::string_view hop);

// The SNI name for one connection under policy `p`, to the server named
// `host` (an MX host name, a next hop's host, or an address) for next hop
// domain `domain`: empty for none. Never an IP address and never a name
// with non-ASCII bytes (see above).
std::string sni_name(const TlsPolicy& p, std::string_view host, std::string_view domain);

}  // namespace postern::smtp_client
