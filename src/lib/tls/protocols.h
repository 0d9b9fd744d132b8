// protocols.h - Postfix's TLS protocol lists (smtpd_tls_protocols,
// smtpd_tls_mandatory_protocols, smtp_tls_protocols, ...).
//
// Syntax, as in Postfix: names separated by commas, white space or colons;
// "!NAME" excludes a protocol, ">=NAME" and "<=NAME" bound the range, and
// plain names, when any are given, list the only ones allowed:
//   ">=TLSv1.2", "!SSLv2, !SSLv3, !TLSv1", "TLSv1.2 TLSv1.3", "<=TLSv1.2".
// Names: SSLv2, SSLv3, TLSv1, TLSv1.1, TLSv1.2, TLSv1.3 (any case). SSLv2
// and SSLv3 are never enabled (OpenSSL 3 has neither); naming them is
// accepted, as the classic "!SSLv2, !SSLv3" is everywhere.
//
// An unknown name, or a list that leaves no TLS version at all, is an
// error: the caller refuses to run TLS with a protocol set the
// administrator did not ask for.
#pragma once

#include <string_view>

#include "base/result.h"

namespace postern::tls {

// TLS versions as bits: kTls1 = TLSv1, ... kTls13 = TLSv1.3.
enum Version : unsigned { kTls1 = 1, kTls11 = 2, kTls12 = 4, kTls13 = 8 };
inline constexpr unsigned kAllVersions = kTls1 | kTls11 | kTls12 | kTls13;

// The set of TLS versions `list` allows (a non-zero mask of Version bits).
Result<unsigned> parse_protocols(std::string_view list);

// "TLSv1.2" for kTls12; empty for anything that is not one bit.
std::string_view version_name(unsigned bit);

}  // namespace postern::tls
