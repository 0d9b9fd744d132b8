// dane.h - what smtp_tls_security_level = dane / dane-only means for one
// server (RFC 7672, Postfix's "dane" and "dane-only" levels).
//
// The next hop's destinations come with their DNSSEC status (dns::
// Destination::dnssec: the host's addresses carried the AD bit). For a
// validated destination the client looks up the TLSA records of
// "_PORT._tcp.HOST" and asks plan_dane() what to do:
//
//   destination not validated           dane: "may"       dane-only: defer
//   TLSA lookup failed (SERVFAIL, ...)  defer 4.7.5 "TLSA lookup error for HOST:PORT"
//   TLSA records or their absence not validated, or no TLSA records
//                                       dane: "may"       dane-only: defer
//   validated TLSA records, none usable dane: "encrypt"   dane-only: defer
//   usable records                      mandatory TLS, the server's certificate
//                                       authenticated by them (OpenSSL's DANE)
//
// An MX host named by MX records that were not validated (RFC 7672 2.2.1)
// gets, with "dane", what smtp_tls_dane_insecure_mx_policy says: "dane"
// (the default when main.cf's level is dane) as above, but a match is
// logged "Trusted", not "Verified", and the next-hop domain is no
// reference name; "encrypt": mandatory TLS without authentication when it
// has validated TLSA records, else "may"; "may" (the default otherwise):
// "may", without a TLSA lookup. "dane-only" treats such a host as "dane"
// does by default.
//
// Usable for SMTP (RFC 7672 3.1): DANE-TA(2) and DANE-EE(3) with a known
// selector (0 certificate, 1 public key) and matching type (0 exact, 1
// SHA2-256 with 32 bytes, 2 SHA2-512 with 64 bytes); PKIX-TA(0) and
// PKIX-EE(1) records are not used. A DANE-EE match needs no name check; a
// DANE-TA chain must name the TLSA base domain (the MX host, or the
// [host]) or, for an MX host, the next-hop domain (RFC 7672 3.2.2).
//
// "may" uses the opportunistic protocols and ciphers (TlsPolicy::
// may_protocols, may_ciphers); the others the mandatory ones. A deferred
// server is skipped and the next one tried, as after a failed connection.
//
// Parameters: none (the policy carries them). Logs nothing: the client
// logs the deferral and the TLS result.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "deliver/outcome.h"
#include "dns/answer.h"
#include "dns/nexthop.h"
#include "tls_policy.h"

namespace postern::smtp_client {

// Whether a TLSA record can authenticate an SMTP server (see above).
bool usable_tlsa(const dns::TlsaRecord& r);

struct DanePlan {
  std::optional<TlsPolicy> policy;         // what to use for this server
  std::optional<deliver::Outcome> defer;   // or: skip it with this outcome
};

// Whether plan_dane() will want the TLSA records of `d`.
bool wants_tlsa(const TlsPolicy& p, const dns::Destination& d, bool insecure_mx);

// `p` is a dane or dane-only policy; `tlsa` is the TLSA answer for the
// destination, or nullptr when it was not looked up (!wants_tlsa()).
// `nexthop_domain`: the domain whose validated MX records named the host
// (empty for [host] and for MX records not validated); `insecure_mx`: MX
// records that were not validated named it.
DanePlan plan_dane(const TlsPolicy& p, const dns::Destination& d, const dns::TlsaResult* tlsa,
                   std::string_view nexthop_domain, bool insecure_mx = false);

}  // namespace postern::smtp_client
