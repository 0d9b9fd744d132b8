// resolver.h - asynchronous DNS lookups inside the caller's Asio event loop.
//
// A Resolver owns one c-ares channel. c-ares never blocks and never runs a
// thread: the sockets it opens are watched by the caller's io_context
// (posix::stream_descriptor waits for read/write readiness), and a
// steady_timer set from ares_timeout() drives retransmissions and timeouts.
// Many lookups may be outstanding at once; each is a coroutine:
//
//   auto r = co_await resolver.lookup_mx("example.com");
//   switch (r.outcome) { case dns::Outcome::Ok: ... r.records ... }
//
// Lookups query exactly the name given: no search domains, no /etc/hosts,
// no HOSTALIASES (Postfix's smtp client clears RES_DEFNAMES and RES_DNSRCH
// for the same reason: mail routing must not depend on the local host's
// search path). Every name is validated (name.h) before it is sent, every
// answer is parsed and bounded (answer.h).
//
// Threading and lifetime: use a Resolver from the thread that runs its
// io_context. Lookups keep the resolver's internals alive; destroying the
// Resolver (which must happen before the io_context is destroyed) completes
// every outstanding lookup with TempFail, and the Resolver may be moved.
//
// Parameters (passed in by the caller through ResolverOptions):
//   dns_resolver_address  name servers to use instead of /etc/resolv.conf:
//                         "127.0.0.1:5353", "[::1]:53", "192.0.2.53", or a
//                         comma/space separated list of those
//   timeout, tries        per-try timeout and the number of tries (c-ares
//                         doubles the timeout on each later try)
//   dnssec                smtp_dns_support_level = dnssec (see below)
//   dnssec_probe          dnssec_probe
// Needs Asio's coroutine support (BOOST_ASIO_HAS_CO_AWAIT): always there with
// g++; Boost 1.74 does not detect it for clang with libstdc++, so the clang
// fuzz configuration gets only normalize_server_list() from this header.
//
// Logs: with dnssec, when validation seems to be missing (dnssec_probe):
//   warning: DNSSEC validation may be unavailable
//   warning: reason: dnssec_probe 'ns:.' received a response that is not DNSSEC validated
//   (or: ... received no response: REASON);
// warnings for skipped malformed MX/PTR records; for forward-confirm
// failures the Postfix smtpd lines that log analyzers (fail2ban) match:
//   warning: hostname NAME does not resolve to address ADDR
//   warning: hostname NAME does not resolve to address ADDR: REASON
// and, at verbose level, each failed query with the c-ares reason.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "aio/asio.h"
#include "base/result.h"
#include "dns/answer.h"
#include "dns/nexthop.h"
#include "dns/types.h"

namespace postern::dns {

struct ResolverOptions {
  std::string servers;  // dns_resolver_address; empty: /etc/resolv.conf
  std::chrono::milliseconds timeout{5000};  // first try; 1 ms .. 5 min
  int tries = 2;                            // 1 .. 10
  // Ask the name server to validate (the AD bit in every query, RFC 6840
  // 5.7) and set Answer::authentic from the AD bit of each reply: the
  // smtp client's smtp_dns_support_level = dnssec. As in Postfix, the
  // validation is the name server's: it must be a validating resolver that
  // the path to it cannot spoof (127.0.0.1).
  bool dnssec = false;
  // With dnssec: the "qtype:qname" query (Postfix's dnssec_probe) sent once
  // per resolver, the first time an answer comes without the AD bit while
  // none has come with it yet; when the probe's answer lacks it too, the
  // resolver logs Postfix's warnings (docs/dns.md). Empty: no probe.
  std::string dnssec_probe = "ns:.";
};

// "127.0.0.1:5353, [::1]" -> "127.0.0.1:5353,[::1]:53" after validation
// (IP addresses only: the resolver cannot look up its own name server).
Result<std::string> normalize_server_list(std::string_view text);

#if defined(BOOST_ASIO_HAS_CO_AWAIT)

// What smtpd knows about a client's name (Postfix's client_name and
// reverse_client_name, with their status for reject_unknown_client_hostname
// and reject_unknown_reverse_client_hostname: TempFail -> 450, any other
// non-Ok -> 550).
struct ClientName {
  std::string name = "unknown";          // forward-confirmed name
  std::string reverse_name = "unknown";  // first valid PTR name
  Outcome name_status = Outcome::NotFound;     // Ok, TempFail or NotFound
  Outcome reverse_status = Outcome::NotFound;  // Ok, TempFail or NotFound
};

// At most this many PTR names are forward-checked for one client.
inline constexpr std::size_t kMaxPtrNamesChecked = 4;

class Resolver {
 public:
  // Fails on bad options (malformed server list, out-of-range timeout or
  // tries) or when c-ares cannot be initialised.
  static Result<Resolver> create(asio::io_context& io, const ResolverOptions& opts = {});

  Resolver(Resolver&&) noexcept;
  Resolver& operator=(Resolver&&) noexcept;
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;
  ~Resolver();

  // MX records of `domain`, sorted by preference, random among equal
  // preferences. NoData: no MX (use the domain's A/AAAA). NullMx: RFC 7505.
  asio::awaitable<MxResult> lookup_mx(std::string domain);

  // A and/or AAAA records of `host` (both queried in parallel): IPv4 first,
  // then IPv6, each in answer order. Ok when either family has addresses;
  // otherwise TempFail if either lookup failed temporarily, else the
  // permanent outcome. An IP address given as `host` is returned as is.
  asio::awaitable<AddrResult> lookup_addresses(std::string host, Families families = Families::All);

  // Whether `domain` can receive mail, for smtpd's reject_unknown_*_domain
  // (Postfix's reject_unknown_mailhost): Ok when it has MX records, or else
  // A/AAAA records; NullMx for the RFC 7505 null MX; TempFail when neither
  // lookup gave an answer; otherwise the permanent outcome (NotFound,
  // NoData, Invalid). `detail` is the last lookup's text.
  asio::awaitable<MxResult> lookup_mailhost(std::string domain);

  // TLSA records of `name` ("_25._tcp.mx.example.com"), for DANE.
  asio::awaitable<TlsaResult> lookup_tlsa(std::string name);

  // NS names of `domain` (answer.h), for smtpd's check_*_ns_access.
  asio::awaitable<Answer<std::string>> lookup_ns(std::string domain);

  // TXT records of `name` (answer.h: one printable string per record), for
  // the reason text of a DNS block list entry.
  asio::awaitable<TxtResult> lookup_txt(std::string name);

  // PTR names of `address` (IPv4-mapped IPv6 addresses are looked up as IPv4).
  asio::awaitable<PtrResult> lookup_ptr(asio::ip::address address);

  // smtpd's client name: PTR lookup, then forward-confirm (a PTR name whose
  // A/AAAA records include the address). Logs the Postfix warnings above.
  asio::awaitable<ClientName> lookup_client_name(asio::ip::address address);

  // The smtp client's destinations for a next-hop (nexthop.h): ordered
  // (address, port, host) list, or why there is none.
  asio::awaitable<NexthopResult> resolve_nexthop(std::string nexthop, NexthopOptions opts = {});

  struct Impl;

 private:
  explicit Resolver(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

#endif  // BOOST_ASIO_HAS_CO_AWAIT

}  // namespace postern::dns
