// answer.h - turn a name server's reply into typed, bounded records.
//
// The resolver hands every finished query to one of these functions: the
// c-ares status of the query plus the raw DNS message (which may be empty,
// truncated, hostile). They are pure functions of their input (apart from the
// random generator used to order equal-preference MX records), so tests feed
// them canned messages and the fuzzer feeds them garbage.
//
// Status mapping (c-ares -> Outcome): success -> parse the records; ENODATA
// (NOERROR without records of the type) -> NoData; ENOTFOUND (NXDOMAIN) ->
// NotFound; EBADNAME -> Invalid; everything else (SERVFAIL, REFUSED,
// FORMERR, NOTIMP, timeout, connection refused, out of memory, resolver shut
// down, cancelled) -> TempFail. A reply that cannot be parsed is TempFail
// too: a broken name server is a reason to wait, not to bounce.
//
// Record checks:
// - MX: every exchange name must pass normalize_hostname() and must not be
//   numeric; bad records are skipped (first one reported in `warning`), and if
//   none remain the answer is TempFail ("malformed name server reply").
//   Duplicate hosts keep their lowest preference. A single MX record whose
//   exchange is the root "." is the RFC 7505 null MX -> NullMx; a "." among
//   other MX records is dropped. The records are sorted by preference, in
//   random order among equal preferences (RFC 5321 5.1), then capped at
//   kMaxMxRecords.
// - A/AAAA: deduplicated, capped at kMaxAddressesPerFamily.
// - PTR: names validated like MX hosts (numeric ones skipped), deduplicated,
//   capped at kMaxPtrNames.
// - NS: the same checks, capped at kMaxNsNames.
// - TXT: one string per record (its character-strings joined), in answer
//   order, capped at kMaxTxtRecords records of kMaxTxtLength bytes; every
//   byte outside printable ASCII becomes '?' (the text ends up in SMTP
//   replies and log lines).
// - TLSA (RFC 6698): usage, selector, matching type and the association
//   data, for the records at the queried name or at the end of a CNAME
//   chain that starts there; records too short to hold the three fields are
//   skipped (first one in `warning`); at most kMaxTlsaRecords. Whether a
//   record is usable for SMTP (RFC 7672) is the caller's question.
//
// authentic_data() reads the AD bit of a reply's header; the resolver sets
// Answer::authentic from it when it asked for DNSSEC validation.
//
// Parameters: none. Logs nothing (callers log `warning`).
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <string_view>

#include "aio/asio.h"
#include "dns/types.h"

namespace postern::dns {

struct MxRecord {
  std::uint16_t preference = 0;
  std::string host;  // normalized: lower case, no trailing dot

  friend bool operator==(const MxRecord&, const MxRecord&) = default;
};

// A TLSA record (RFC 6698 2.1): the certificate association.
struct TlsaRecord {
  std::uint8_t usage = 0;     // 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE
  std::uint8_t selector = 0;  // 0 full certificate, 1 SubjectPublicKeyInfo
  std::uint8_t mtype = 0;     // 0 exact, 1 SHA2-256, 2 SHA2-512
  std::string data;           // the association data (binary)

  friend bool operator==(const TlsaRecord&, const TlsaRecord&) = default;
};

using MxResult = Answer<MxRecord>;
using TlsaResult = Answer<TlsaRecord>;
using AddrResult = Answer<asio::ip::address>;
using PtrResult = Answer<std::string>;
using TxtResult = Answer<std::string>;

// c-ares status code (ARES_*) to Outcome, for a query that produced no
// parseable records.
Outcome outcome_from_ares(int ares_status);

// Postfix's wording for an outcome, used in `detail`:
//   "Name service error for name=example.com type=MX: Host not found, try again"
std::string describe(std::string_view name, RrType type, Outcome o);

MxResult parse_mx_answer(std::string_view qname, int ares_status, std::span<const unsigned char> msg,
                         std::mt19937_64& rng);

// `type` is RrType::A or RrType::AAAA.
AddrResult parse_address_answer(std::string_view qname, RrType type, int ares_status,
                                std::span<const unsigned char> msg);

// `addr` is the address the PTR query was for (c-ares checks the owner names
// of the answer against it).
PtrResult parse_ptr_answer(const asio::ip::address& addr, int ares_status,
                           std::span<const unsigned char> msg);

// The NS names of `qname` (same record checks as PTR names).
Answer<std::string> parse_ns_answer(std::string_view qname, int ares_status, std::span<const unsigned char> msg);

TxtResult parse_txt_answer(std::string_view qname, int ares_status, std::span<const unsigned char> msg);

TlsaResult parse_tlsa_answer(std::string_view qname, int ares_status, std::span<const unsigned char> msg);

// The AD ("authentic data") bit of a DNS message header; false for
// anything too short to have one.
bool authentic_data(std::span<const unsigned char> msg);

}  // namespace postern::dns
