// types.h - the typed outcome of every DNS lookup in Postern.
//
// A lookup never throws and never returns a bare error code: it returns an
// Answer<T>, which says what happened (Outcome) and carries the records. The
// outcomes are the ones a mail system must tell apart, because they decide
// between delivering, deferring and bouncing (docs/dns.md has the mapping):
//
//   Ok        records found (possibly capped, see `capped`)
//   NoData    the name exists but has no record of the asked type (for MX:
//             fall back to the name's own A/AAAA records, RFC 5321 5.1)
//   NotFound  the name does not exist (NXDOMAIN): permanent
//   NullMx    the domain publishes the RFC 7505 null MX: it accepts no mail
//   TempFail  SERVFAIL, REFUSED, timeout, network error, malformed reply:
//             try again later, never bounce on it
//   Invalid   the name or address asked about is malformed: permanent
//
// Parameters: none. Logs nothing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace postern::dns {

enum class Outcome { Ok, NoData, NotFound, NullMx, TempFail, Invalid };

std::string_view to_string(Outcome o);

// True for the outcomes after which trying again later cannot help.
inline bool permanent(Outcome o) {
  return o == Outcome::NoData || o == Outcome::NotFound || o == Outcome::NullMx || o == Outcome::Invalid;
}

// Record types Postern asks for.
enum class RrType : std::uint16_t { A = 1, NS = 2, PTR = 12, MX = 15, TXT = 16, AAAA = 28, TLSA = 52 };

std::string_view to_string(RrType t);

template <class T>
struct Answer {
  Outcome outcome = Outcome::TempFail;
  std::vector<T> records;
  // Postfix-shaped text for logs and DSNs when outcome != Ok, e.g.
  // "Name service error for name=example.com type=MX: Host not found, try again".
  std::string detail;
  // The first problem with an individual record that was skipped (malformed
  // host name in MX or PTR data, ...), for a warning log line; empty if none.
  std::string warning;
  // More records than the library keeps were present; the rest were dropped.
  bool capped = false;
  // The name server vouched for the answer (records or denial) with the AD
  // bit: DNSSEC-validated. Only ever set by a resolver created with
  // ResolverOptions::dnssec, which asks for it; an answer combined from
  // several queries (A + AAAA) is authentic only when every part is.
  bool authentic = false;

  bool ok() const { return outcome == Outcome::Ok; }
};

// Which address families to look up (Postfix's inet_protocols).
enum class Families { Ipv4, Ipv6, All };

// "ipv4", "ipv6", "all" or a list such as "ipv4, ipv6" (inet_protocols syntax).
Result<Families> parse_families(std::string_view text);

// Upper bounds on what one answer may contribute. DNS messages are at most
// 64 KiB, so parsing is bounded anyway; these keep the results (and the
// follow-up lookups they cause) small.
inline constexpr std::size_t kMaxMxRecords = 100;        // MX records kept per domain
inline constexpr std::size_t kMaxAddressesPerFamily = 64;  // A or AAAA records kept per name
inline constexpr std::size_t kMaxPtrNames = 16;           // PTR names kept per address
inline constexpr std::size_t kMaxNsNames = 16;            // NS names kept per domain
inline constexpr std::size_t kMaxTxtRecords = 16;         // TXT records kept per name
inline constexpr std::size_t kMaxTxtLength = 512;         // bytes kept of one TXT record's text
inline constexpr std::size_t kMaxTlsaRecords = 32;        // TLSA records kept per name
inline constexpr std::size_t kMaxMxHostsResolved = 32;    // MX hosts whose addresses one next-hop resolves
inline constexpr std::size_t kMaxDestinations = 256;      // next-hop result size when no limit is set

}  // namespace postern::dns
