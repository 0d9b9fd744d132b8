// nexthop.h - the smtp client's next-hop syntax and destination ordering.
//
// A next-hop is what the transport table, relayhost or the recipient domain
// gives the smtp/lmtp client. Postfix's rules (smtp(8), transport(5)):
//
//   example.com          MX lookup; no MX record: the name's own A/AAAA
//   example.com:2525     the same, connecting to port 2525
//   [mail.example.com]   no MX lookup: A/AAAA of mail.example.com
//   [mail.example.com]:587
//   [192.0.2.1]  [192.0.2.1]:2525  [2001:db8::1]  [ipv6:2001:db8::1]:25
//                        IP literals: no DNS at all
//   192.0.2.1[:port]     an unbracketed IPv4 address is taken as a literal
//                        too (an MX lookup of a number is never useful)
//
// The port is a decimal number or a service name from /etc/services (tcp),
// with smtp, submission, submissions/smtps and lmtp known even when that
// file is missing (chroot).
//
// After the lookups (resolver.h, Resolver::resolve_nexthop) the addresses are
// ordered the way Postfix orders them:
// - MX hosts by preference, random order among equal preferences;
// - the addresses of all hosts of one preference shuffled together when
//   smtp_randomize_addresses is on; then, within that preference, the
//   preferred family first (smtp_address_preference = ipv4 | ipv6 | any);
// - the whole list cut at smtp_mx_address_limit (0: kMaxDestinations);
// - smtp_balance_inet_protocols: when the cut list has only one family but the
//   full list had both, the last slot goes to the best address of the other
//   family, so that both address types are tried before giving up.
//
// Without DNS (disable_dns_lookups = yes, smtp_dns_support_level = disabled)
// a domain is taken as a host, like [host], and looked up with the system's
// resolver; smtp_host_lookup = native keeps MX lookups in the DNS but looks
// up host addresses that way (Postfix's rules).
//
// Parameters (passed in by the caller through NexthopOptions):
// smtp_mx_address_limit, inet_protocols, smtp_address_preference,
// smtp_randomize_addresses, smtp_balance_inet_protocols, smtp_host_lookup,
// disable_dns_lookups, smtp_dns_support_level. Logs nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "aio/asio.h"
#include "base/result.h"
#include "dns/types.h"

namespace postern::dns {

struct Nexthop {
  std::string host;                          // normalized name, or the literal as text
  std::optional<asio::ip::address> literal;  // set for IP literals: no DNS
  std::optional<std::uint16_t> port;         // explicit port, if any
  bool mx_lookup = true;                     // false for [host] and literals
};

Result<Nexthop> parse_nexthop(std::string_view text);

// "25", "smtp", "submission", ... -> port number (1..65535).
Result<std::uint16_t> parse_port(std::string_view text);

enum class AddressPreference { Any, Ipv4, Ipv6 };

// How host names become addresses (smtp_host_lookup): DNS (c-ares), the
// system's resolver (getaddrinfo: nsswitch.conf, /etc/hosts, DNS), or DNS
// and, when it finds nothing, the system's.
enum class HostLookup { kDns, kNative, kDnsThenNative };

// "dns" | "native" | "dns, native" (smtp_host_lookup / lmtp_host_lookup).
Result<HostLookup> parse_host_lookup(std::string_view text);

// "any" | "ipv4" | "ipv6" (smtp_address_preference).
Result<AddressPreference> parse_address_preference(std::string_view text);

struct NexthopOptions {
  std::uint16_t default_port = 25;    // from the transport's service (smtp: 25, lmtp: 24)
  std::size_t mx_address_limit = 5;   // smtp_mx_address_limit; 0: no limit (kMaxDestinations)
  Families families = Families::All;  // inet_protocols
  AddressPreference preference = AddressPreference::Any;  // smtp_address_preference
  bool randomize_addresses = true;    // smtp_randomize_addresses
  bool balance_families = true;       // smtp_balance_inet_protocols
  // disable_dns_lookups / smtp_dns_support_level = disabled: no MX lookups,
  // every name through the system's resolver (host_lookup is then kNative).
  bool mx_lookups = true;
  HostLookup host_lookup = HostLookup::kDns;  // smtp_host_lookup
};

struct Destination {
  asio::ip::address address;
  std::uint16_t port = 25;
  std::string host;                        // MX host, [host] name, or the literal's text
  std::optional<std::uint16_t> preference;  // MX preference when it came from an MX record
  // The host's addresses were DNSSEC-validated (ResolverOptions::dnssec).
  // Never for literals or the system's resolver. DANE (RFC 7672 2.2) uses
  // TLSA records only for such a destination.
  bool dnssec = false;

  friend bool operator==(const Destination&, const Destination&) = default;
};

struct NexthopResult {
  // Ok: `destinations` is non-empty and in the order to try them.
  // NotFound / NoData (no usable address) / NullMx / Invalid: permanent.
  // TempFail: defer.
  Outcome outcome = Outcome::TempFail;
  std::vector<Destination> destinations;
  std::string detail;    // Postfix-shaped reason when outcome != Ok
  std::string warning;   // first skipped-record problem (see answer.h), for a warning log line
  bool used_mx = false;  // the destinations come from MX records
  // The MX answer (records, or their absence) was DNSSEC-validated: the
  // next-hop domain may then serve as a DANE reference name.
  bool mx_dnssec = false;
  // Some lookups for lower-preference MX hosts failed temporarily although
  // others produced addresses; the result is still Ok.
  bool partial = false;
  // The lowest preference among the MX records (those without an address
  // too): the smtp client's loop check tells "we are the best MX" from "a
  // better MX had no address" with it.
  std::optional<std::uint16_t> best_preference;
};

// Order one group of equal-preference destinations (shuffle + family
// preference), in place.
void order_group(std::vector<Destination>& group, const NexthopOptions& opts, std::mt19937_64& rng);

// Cut an ordered list at the limit and balance the families, in place.
void limit_destinations(std::vector<Destination>& all, const NexthopOptions& opts);

// The effective address limit (kMaxDestinations when the option is 0).
std::size_t address_limit(const NexthopOptions& opts);

}  // namespace postern::dns
