// Resolver tests against a scripted DNS server in the test's own event loop
// (test_dns.h): real c-ares, real sockets on 127.0.0.1, canned answers.
// The dnsmasq-based tests are in tests/dnsmasq_test.cpp.
#include "dns/resolver.h"

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "dns/name.h"
#include "dns/test_dns.h"
#include "log/log.h"

using namespace postern;
using namespace postern::dns;
namespace t = postern::dns::testing;
using namespace std::chrono_literals;

namespace {

enum Rcode { NOERROR = 0, SERVFAIL = 2, NXDOMAIN = 3, REFUSED = 5 };

// A small zone: name -> records, plus names that fail in a given way.
struct Zone {
  std::multimap<std::pair<std::string, std::uint16_t>, t::Rr> records;
  std::set<std::string> names;  // every name that exists
  std::map<std::string, int> rcode;  // forced rcode for a name
  std::set<std::string> silent;      // never answered
  std::set<std::string> secure;      // answered with AD when the query asks for it
  mutable std::vector<std::string> asked;  // every name asked, in order ("" is the root)

  void add(t::Rr rr) {
    names.insert(rr.name);
    auto key = std::make_pair(rr.name, rr.type);
    records.emplace(key, std::move(rr));
  }

  std::optional<t::Bytes> answer(const t::Query& q) const {
    if (silent.count(q.name)) return std::nullopt;
    asked.push_back(q.name);
    const bool ad = q.ad && secure.count(q.name);
    if (auto it = rcode.find(q.name); it != rcode.end())
      return t::response(q.id, q.name, q.type, it->second, {}, false, ad);
    if (!names.count(q.name)) return t::response(q.id, q.name, q.type, NXDOMAIN, {}, false, ad);
    std::vector<t::Rr> rrs;
    auto [b, e] = records.equal_range({q.name, q.type});
    for (auto it = b; it != e; ++it) rrs.push_back(it->second);
    auto m = t::response(q.id, q.name, q.type, NOERROR, rrs, false, ad);
    // Classic 512-byte UDP limit: the client must come back over TCP.
    if (!q.tcp && m.size() > 512) return t::response(q.id, q.name, q.type, NOERROR, {}, true);
    return m;
  }
};

struct Fixture : ::testing::Test {
  asio::io_context io;
  Zone zone;
  t::FakeDns server{io, [this](const t::Query& q) { return zone.answer(q); }};

  Resolver make(std::chrono::milliseconds timeout = 500ms, int tries = 2, bool dnssec = false,
               std::string probe = "ns:.") {
    ResolverOptions o;
    o.dnssec = dnssec;
    o.dnssec_probe = std::move(probe);
    o.servers = server.address();
    o.timeout = timeout;
    o.tries = tries;
    auto r = Resolver::create(io, o);
    if (!r) throw std::runtime_error(r.error().message);
    return std::move(*r);
  }
};

// Sends the log to a scratch maillog file while it lives; text() stops
// that and returns what was logged.
class LogCapture {
 public:
  explicit LogCapture(const char* program) {
    int fd = mkstemp(path_);
    if (fd < 0) throw std::runtime_error("mkstemp");
    close(fd);
    log::Settings ls;
    ls.maillog_file = path_;
    ls.mirror_stderr = false;
    log::init(program, ls);
  }
  ~LogCapture() { unlink(path_); }
  std::string text() {
    log::flush();
    std::ifstream in(path_);
    std::stringstream ss;
    ss << in.rdbuf();
    log::init("dns_test", log::Settings{});
    return ss.str();
  }

 private:
  char path_[32] = "/tmp/dns_test_log_XXXXXX";
};

std::vector<std::string> addrs(const std::vector<Destination>& ds) {
  std::vector<std::string> out;
  for (auto& d : ds) out.push_back(d.address.to_string());
  return out;
}

}  // namespace

TEST_F(Fixture, MxLookup) {
  zone.add(t::mx("example.com", 20, "mx2.example.com"));
  zone.add(t::mx("example.com", 10, "mx1.example.com"));
  auto res = make();
  auto r = t::run(io, res.lookup_mx("Example.com."));
  ASSERT_EQ(r.outcome, Outcome::Ok) << r.detail;
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_EQ(r.records[0], (MxRecord{10, "mx1.example.com"}));
  EXPECT_EQ(r.records[1], (MxRecord{20, "mx2.example.com"}));
}

TEST_F(Fixture, StatusesFromServer) {
  zone.add(t::a("nomx.example", "192.0.2.1"));
  zone.rcode["servfail.example"] = SERVFAIL;
  zone.rcode["refused.example"] = REFUSED;
  zone.add(t::mx("null.example", 0, "."));
  auto res = make(300ms, 1);
  EXPECT_EQ(t::run(io, res.lookup_mx("nomx.example")).outcome, Outcome::NoData);
  auto nx = t::run(io, res.lookup_mx("nx.example"));
  EXPECT_EQ(nx.outcome, Outcome::NotFound);
  EXPECT_EQ(nx.detail, "Name service error for name=nx.example type=MX: Host not found");
  auto sf = t::run(io, res.lookup_mx("servfail.example"));
  EXPECT_EQ(sf.outcome, Outcome::TempFail);
  EXPECT_EQ(sf.detail, "Name service error for name=servfail.example type=MX: Host not found, try again");
  EXPECT_EQ(t::run(io, res.lookup_mx("refused.example")).outcome, Outcome::TempFail);
  EXPECT_EQ(t::run(io, res.lookup_mx("null.example")).outcome, Outcome::NullMx);
}

TEST_F(Fixture, DnssecAsksForAndReportsTheAdBit) {
  const t::Bytes hash(32, 0xab);
  zone.add(t::mx("signed.example", 10, "mx.signed.example"));
  zone.add(t::a("mx.signed.example", "192.0.2.1"));
  zone.add(t::tlsa("_25._tcp.mx.signed.example", 3, 1, 1, hash));
  zone.add(t::mx("half.example", 10, "mx.unsigned.example"));
  zone.add(t::a("mx.unsigned.example", "192.0.2.2"));
  zone.add(t::a("nomx.signed.example", "192.0.2.3"));
  for (const char* n : {"signed.example", "mx.signed.example", "_25._tcp.mx.signed.example", "half.example",
                        "nomx.signed.example", "gone.signed.example"})
    zone.secure.insert(n);
  zone.rcode["servfail.signed.example"] = SERVFAIL;

  // Without dnssec nothing asks, so nothing is authentic.
  auto plain = make();
  auto p = t::run(io, plain.lookup_tlsa("_25._tcp.mx.signed.example"));
  ASSERT_EQ(p.outcome, Outcome::Ok);
  EXPECT_FALSE(p.authentic);
  auto pn = t::run(io, plain.resolve_nexthop("signed.example"));
  ASSERT_EQ(pn.outcome, Outcome::Ok);
  EXPECT_FALSE(pn.destinations[0].dnssec);

  auto res = make(500ms, 2, true);
  auto tl = t::run(io, res.lookup_tlsa("_25._tcp.MX.signed.example."));
  ASSERT_EQ(tl.outcome, Outcome::Ok) << tl.detail;
  EXPECT_TRUE(tl.authentic);
  ASSERT_EQ(tl.records.size(), 1u);
  EXPECT_EQ(tl.records[0], (TlsaRecord{3, 1, 1, std::string(32, '\xab')}));
  // Authenticated denial: NXDOMAIN with AD.
  auto gone = t::run(io, res.lookup_tlsa("gone.signed.example"));
  EXPECT_EQ(gone.outcome, Outcome::NotFound);
  EXPECT_TRUE(gone.authentic);
  // The rcodes still map as ares_query() maps them.
  auto sf = t::run(io, res.lookup_tlsa("servfail.signed.example"));
  EXPECT_EQ(sf.outcome, Outcome::TempFail);
  EXPECT_EQ(t::run(io, res.lookup_mx("nx.example")).outcome, Outcome::NotFound);
  EXPECT_EQ(t::run(io, res.lookup_mx("mx.unsigned.example")).outcome, Outcome::NoData);

  // A destination is validated when its addresses were; the MX answer's
  // status is the result's.
  auto good = t::run(io, res.resolve_nexthop("signed.example"));
  ASSERT_EQ(good.outcome, Outcome::Ok);
  EXPECT_TRUE(good.mx_dnssec);
  EXPECT_TRUE(good.destinations[0].dnssec);
  auto half = t::run(io, res.resolve_nexthop("half.example"));  // signed MX, unsigned host
  ASSERT_EQ(half.outcome, Outcome::Ok);
  EXPECT_TRUE(half.mx_dnssec);
  EXPECT_FALSE(half.destinations[0].dnssec);
  zone.add(t::mx("unsigned-mx.example", 10, "mx.signed.example"));
  auto umx = t::run(io, res.resolve_nexthop("unsigned-mx.example"));  // unsigned MX, signed host
  ASSERT_EQ(umx.outcome, Outcome::Ok);
  EXPECT_FALSE(umx.mx_dnssec);
  EXPECT_TRUE(umx.destinations[0].dnssec);
  // No MX: the authenticated denial and the name's own addresses.
  auto nomx = t::run(io, res.resolve_nexthop("nomx.signed.example"));
  ASSERT_EQ(nomx.outcome, Outcome::Ok);
  EXPECT_TRUE(nomx.mx_dnssec);
  EXPECT_TRUE(nomx.destinations[0].dnssec);
  auto bracket = t::run(io, res.resolve_nexthop("[mx.signed.example]:2525"));
  ASSERT_EQ(bracket.outcome, Outcome::Ok);
  EXPECT_TRUE(bracket.destinations[0].dnssec);
  EXPECT_FALSE(t::run(io, res.resolve_nexthop("[192.0.2.1]")).destinations[0].dnssec);
}

TEST_F(Fixture, DnssecProbeOnceWhenNoAnswerIsValidated) {
  zone.add(t::mx("plain.example", 10, "mx.plain.example"));
  zone.add(t::mx("signed.example", 10, "mx.signed.example"));
  zone.secure.insert("signed.example");
  LogCapture log_capture("smtp");
  auto root_queries = [&] { return std::count(zone.asked.begin(), zone.asked.end(), std::string()); };
  auto settle = [&] {
    io.restart();
    io.run_for(300ms);
  };
  {
    // A validated answer first: nothing to probe, ever.
    auto res = make(300ms, 1, true);
    t::run(io, res.lookup_mx("signed.example"));
    t::run(io, res.lookup_mx("plain.example"));
    settle();
    EXPECT_EQ(root_queries(), 0);
  }
  {
    // The first answer without AD sends the probe (the root zone is not
    // signed here), once; the warnings say why.
    auto res = make(300ms, 1, true);
    t::run(io, res.lookup_mx("plain.example"));
    settle();
    t::run(io, res.lookup_mx("plain.example"));
    settle();
    EXPECT_EQ(root_queries(), 1);
  }
  {
    // Validation asked of nobody, or the probe turned off: no probe.
    auto off = make(300ms, 1, false);
    t::run(io, off.lookup_mx("plain.example"));
    auto none = make(300ms, 1, true, "");
    t::run(io, none.lookup_mx("plain.example"));
    settle();
    EXPECT_EQ(root_queries(), 1);
  }
  std::string text = log_capture.text();
  EXPECT_NE(text.find("warning: DNSSEC validation may be unavailable\n"), std::string::npos) << text;
  EXPECT_NE(text.find("warning: reason: dnssec_probe 'ns:.' received a response that is not DNSSEC validated\n"),
            std::string::npos)
      << text;
  // A malformed probe is refused when the resolver is made.
  for (const char* bad : {"ns", "ns:", "soa:.", ":example.com", "mx:bad name"}) {
    ResolverOptions o;
    o.dnssec = true;
    o.dnssec_probe = bad;
    auto r = Resolver::create(io, o);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("malformed dnssec_probe value"), std::string::npos);
  }
}

TEST_F(Fixture, InvalidNamesAreNotSent) {
  auto res = make();
  EXPECT_EQ(t::run(io, res.lookup_mx("bad name.example")).outcome, Outcome::Invalid);
  EXPECT_EQ(t::run(io, res.lookup_mx(std::string(300, 'a'))).outcome, Outcome::Invalid);
  EXPECT_EQ(t::run(io, res.lookup_addresses("a..b")).outcome, Outcome::Invalid);
  auto nh = t::run(io, res.resolve_nexthop("[unterminated"));
  EXPECT_EQ(nh.outcome, Outcome::Invalid);
  EXPECT_FALSE(nh.detail.empty());
  EXPECT_EQ(server.queries(), 0);
}

TEST_F(Fixture, SilentServerTimesOutAsTempFail) {
  zone.silent.insert("slow.example");
  auto res = make(200ms, 2);
  auto start = std::chrono::steady_clock::now();
  auto r = t::run(io, res.lookup_mx("slow.example"));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.outcome, Outcome::TempFail);
  // Two tries: 200 ms, then c-ares doubles it. Generous bounds, no tuning.
  EXPECT_GE(took, 190ms);
  EXPECT_LT(took, 3s);
  EXPECT_EQ(server.queries(), 2);
}

TEST(Resolver, NothingListeningIsTempFail) {
  asio::io_context io;
  // A port that was free a moment ago: queries get ICMP port unreachable.
  std::uint16_t port;
  {
    asio::ip::udp::socket s(io, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = s.local_endpoint().port();
  }
  ResolverOptions o;
  o.servers = "127.0.0.1:" + std::to_string(port);
  o.timeout = 200ms;
  o.tries = 2;
  auto res = Resolver::create(io, o);
  ASSERT_TRUE(res.ok()) << res.error().message;
  auto start = std::chrono::steady_clock::now();
  auto r = t::run(io, res->lookup_mx("example.com"));
  EXPECT_EQ(r.outcome, Outcome::TempFail);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  auto a = t::run(io, res->lookup_addresses("example.com"));
  EXPECT_EQ(a.outcome, Outcome::TempFail);
}

TEST_F(Fixture, TruncatedAnswerRetriedOverTcpAndCapped) {
  for (int i = 0; i < 300; ++i)
    zone.add(t::mx("big.example", std::uint16_t(1000 - i), "mx" + std::to_string(i) + ".big.example"));
  auto res = make();
  auto r = t::run(io, res.lookup_mx("big.example"));
  ASSERT_EQ(r.outcome, Outcome::Ok) << r.detail;
  EXPECT_EQ(r.records.size(), kMaxMxRecords);
  EXPECT_TRUE(r.capped);
  EXPECT_EQ(r.records.front().preference, 701);
  EXPECT_GE(server.tcp_queries(), 1);
}

TEST_F(Fixture, ManyConcurrentLookups) {
  constexpr int N = 60;
  for (int i = 0; i < N; ++i) {
    std::string ip = "192.0.2." + std::to_string(i + 1);
    zone.add(t::a("h" + std::to_string(i) + ".example", ip.c_str()));
  }
  auto res = make();
  int done = 0, right = 0;
  for (int i = 0; i < N; ++i) {
    asio::co_spawn(
        io,
        [&, i]() -> asio::awaitable<void> {
          auto r = co_await res.lookup_addresses("h" + std::to_string(i) + ".example", Families::Ipv4);
          if (r.ok() && r.records.size() == 1 && r.records[0].to_string() == "192.0.2." + std::to_string(i + 1))
            ++right;
          if (++done == N) io.stop();
        },
        asio::detached);
  }
  io.run();
  EXPECT_EQ(done, N);
  EXPECT_EQ(right, N);
}

TEST_F(Fixture, DestroyingResolverCompletesLookups) {
  zone.silent.insert("slow.example");
  auto res = std::make_unique<Resolver>(make(5000ms, 3));
  std::optional<MxResult> got;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        got = co_await res->lookup_mx("slow.example");
        io.stop();
      },
      asio::detached);
  asio::steady_timer kill(io, 50ms);
  kill.async_wait([&](error_code) { res.reset(); });
  auto start = std::chrono::steady_clock::now();
  io.run();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->outcome, Outcome::TempFail);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST_F(Fixture, AddressesBothFamilies) {
  zone.add(t::a("dual.example", "192.0.2.10"));
  zone.add(t::aaaa("dual.example", "2001:db8::10"));
  zone.add(t::aaaa("v6only.example", "2001:db8::11"));
  zone.rcode["broken.example"] = SERVFAIL;
  auto res = make(300ms, 1);
  auto r = t::run(io, res.lookup_addresses("dual.example"));
  ASSERT_EQ(r.outcome, Outcome::Ok);
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_EQ(r.records[0].to_string(), "192.0.2.10");
  EXPECT_EQ(r.records[1].to_string(), "2001:db8::10");
  r = t::run(io, res.lookup_addresses("dual.example", Families::Ipv6));
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_TRUE(r.records[0].is_v6());
  r = t::run(io, res.lookup_addresses("v6only.example", Families::Ipv4));
  EXPECT_EQ(r.outcome, Outcome::NoData);
  r = t::run(io, res.lookup_addresses("v6only.example"));
  ASSERT_EQ(r.outcome, Outcome::Ok);
  EXPECT_EQ(r.records.size(), 1u);
  EXPECT_EQ(t::run(io, res.lookup_addresses("broken.example")).outcome, Outcome::TempFail);
  EXPECT_EQ(t::run(io, res.lookup_addresses("missing.example")).outcome, Outcome::NotFound);
  // IP addresses need no DNS.
  int before = server.queries();
  r = t::run(io, res.lookup_addresses("192.0.2.99"));
  ASSERT_EQ(r.outcome, Outcome::Ok);
  EXPECT_EQ(r.records[0].to_string(), "192.0.2.99");
  EXPECT_EQ(server.queries(), before);
}

TEST_F(Fixture, NexthopMxPreferenceGroupsAndLimit) {
  zone.add(t::mx("example.com", 10, "a.example.com"));
  zone.add(t::mx("example.com", 10, "b.example.com"));
  zone.add(t::mx("example.com", 20, "c.example.com"));
  zone.add(t::mx("example.com", 30, "d.example.com"));
  zone.add(t::a("a.example.com", "192.0.2.1"));
  zone.add(t::a("a.example.com", "192.0.2.2"));
  zone.add(t::a("b.example.com", "192.0.2.3"));
  zone.add(t::a("c.example.com", "192.0.2.4"));
  zone.add(t::a("d.example.com", "192.0.2.5"));
  auto res = make();
  NexthopOptions o;
  o.mx_address_limit = 4;
  o.families = Families::Ipv4;
  std::set<std::string> firsts;
  for (int i = 0; i < 30; ++i) {
    auto r = t::run(io, res.resolve_nexthop("example.com:2525", o));
    ASSERT_EQ(r.outcome, Outcome::Ok) << r.detail;
    EXPECT_TRUE(r.used_mx);
    ASSERT_EQ(r.destinations.size(), 4u);
    auto got = addrs(r.destinations);
    std::set<std::string> best(got.begin(), got.begin() + 3);
    EXPECT_EQ(best, (std::set<std::string>{"192.0.2.1", "192.0.2.2", "192.0.2.3"}));
    EXPECT_EQ(r.destinations[3].address.to_string(), "192.0.2.4");
    EXPECT_EQ(r.destinations[3].host, "c.example.com");
    EXPECT_EQ(r.destinations[3].preference, 20);
    for (auto& d : r.destinations) EXPECT_EQ(d.port, 2525);
    firsts.insert(r.destinations[0].address.to_string());
  }
  EXPECT_EQ(firsts.size(), 3u);  // addresses of equal preference are shuffled together
}

TEST_F(Fixture, NexthopFallsBackToAddressWithoutMx) {
  zone.add(t::a("plain.example", "192.0.2.20"));
  auto res = make();
  auto r = t::run(io, res.resolve_nexthop("plain.example"));
  ASSERT_EQ(r.outcome, Outcome::Ok) << r.detail;
  EXPECT_FALSE(r.used_mx);
  ASSERT_EQ(r.destinations.size(), 1u);
  EXPECT_EQ(r.destinations[0].address.to_string(), "192.0.2.20");
  EXPECT_EQ(r.destinations[0].port, 25);
  EXPECT_EQ(r.destinations[0].host, "plain.example");
  EXPECT_FALSE(r.destinations[0].preference);
}

TEST_F(Fixture, NexthopBracketsSkipMx) {
  zone.add(t::mx("relay.example", 10, "elsewhere.example"));
  zone.add(t::a("relay.example", "192.0.2.30"));
  auto res = make();
  auto r = t::run(io, res.resolve_nexthop("[relay.example]:587"));
  ASSERT_EQ(r.outcome, Outcome::Ok) << r.detail;
  ASSERT_EQ(r.destinations.size(), 1u);
  EXPECT_EQ(r.destinations[0].address.to_string(), "192.0.2.30");
  EXPECT_EQ(r.destinations[0].port, 587);
  EXPECT_FALSE(r.used_mx);
  int before = server.queries();
  r = t::run(io, res.resolve_nexthop("[192.0.2.40]:2525"));
  ASSERT_EQ(r.outcome, Outcome::Ok);
  EXPECT_EQ(r.destinations[0].address.to_string(), "192.0.2.40");
  EXPECT_EQ(r.destinations[0].port, 2525);
  r = t::run(io, res.resolve_nexthop("[ipv6:2001:db8::40]"));
  ASSERT_EQ(r.outcome, Outcome::Ok);
  EXPECT_EQ(r.destinations[0].address.to_string(), "2001:db8::40");
  NexthopOptions v4only;
  v4only.families = Families::Ipv4;
  EXPECT_EQ(t::run(io, res.resolve_nexthop("[2001:db8::40]", v4only)).outcome, Outcome::NoData);
  EXPECT_EQ(server.queries(), before);
}

TEST_F(Fixture, NexthopFailures) {
  zone.rcode["sf.example"] = SERVFAIL;
  zone.add(t::mx("null.example", 0, "."));
  // MX hosts without addresses: one missing, one failing temporarily.
  zone.add(t::mx("dead.example", 10, "gone.dead.example"));
  zone.add(t::mx("flaky.example", 10, "gone.flaky.example"));
  zone.add(t::mx("flaky.example", 20, "sf.example"));
  // The best MX fails temporarily, a worse one works: deliver there.
  zone.add(t::mx("partial.example", 10, "sf.example"));
  zone.add(t::mx("partial.example", 20, "ok.partial.example"));
  zone.add(t::a("ok.partial.example", "192.0.2.50"));
  auto res = make(300ms, 1);
  EXPECT_EQ(t::run(io, res.resolve_nexthop("nx.example")).outcome, Outcome::NotFound);
  EXPECT_EQ(t::run(io, res.resolve_nexthop("sf.example")).outcome, Outcome::TempFail);
  EXPECT_EQ(t::run(io, res.resolve_nexthop("null.example")).outcome, Outcome::NullMx);
  auto dead = t::run(io, res.resolve_nexthop("dead.example"));
  EXPECT_EQ(dead.outcome, Outcome::NotFound);
  EXPECT_NE(dead.detail.find("gone.dead.example"), std::string::npos) << dead.detail;
  EXPECT_EQ(t::run(io, res.resolve_nexthop("flaky.example")).outcome, Outcome::TempFail);
  auto p = t::run(io, res.resolve_nexthop("partial.example"));
  ASSERT_EQ(p.outcome, Outcome::Ok) << p.detail;
  EXPECT_TRUE(p.partial);
  EXPECT_EQ(addrs(p.destinations), std::vector<std::string>{"192.0.2.50"});
}

TEST_F(Fixture, ClientNameForwardConfirmed) {
  auto addr = *parse_ip("192.0.2.60");
  auto rev = reverse_name(addr);
  zone.add(t::ptr(rev, "Client.Example"));
  zone.add(t::a("client.example", "192.0.2.60"));
  // An IPv6 client whose PTR name does not point back.
  auto addr6 = *parse_ip("2001:db8::60");
  zone.add(t::ptr(reverse_name(addr6), "forged.example"));
  zone.add(t::aaaa("forged.example", "2001:db8::61"));
  // PTR name whose forward lookup fails temporarily.
  auto addr3 = *parse_ip("192.0.2.62");
  zone.add(t::ptr(reverse_name(addr3), "sf.example"));
  zone.rcode["sf.example"] = SERVFAIL;

  LogCapture log_capture("smtpd");

  auto res = make(300ms, 1);
  auto c = t::run(io, res.lookup_client_name(addr));
  EXPECT_EQ(c.name, "client.example");
  EXPECT_EQ(c.reverse_name, "client.example");
  EXPECT_EQ(c.name_status, Outcome::Ok);
  EXPECT_EQ(c.reverse_status, Outcome::Ok);

  // Same client seen through a dual-stack socket.
  c = t::run(io, res.lookup_client_name(*parse_ip("::ffff:192.0.2.60")));
  EXPECT_EQ(c.name, "client.example");

  c = t::run(io, res.lookup_client_name(addr6));
  EXPECT_EQ(c.name, "unknown");
  EXPECT_EQ(c.reverse_name, "forged.example");
  EXPECT_EQ(c.name_status, Outcome::NotFound);
  EXPECT_EQ(c.reverse_status, Outcome::Ok);

  c = t::run(io, res.lookup_client_name(addr3));
  EXPECT_EQ(c.name, "unknown");
  EXPECT_EQ(c.name_status, Outcome::TempFail);

  c = t::run(io, res.lookup_client_name(*parse_ip("192.0.2.63")));  // no PTR at all
  EXPECT_EQ(c.name, "unknown");
  EXPECT_EQ(c.reverse_name, "unknown");
  EXPECT_EQ(c.reverse_status, Outcome::NotFound);
  EXPECT_EQ(c.name_status, Outcome::NotFound);

  std::string text = log_capture.text();
  EXPECT_NE(text.find("warning: hostname forged.example does not resolve to address 2001:db8::60\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("warning: hostname sf.example does not resolve to address 192.0.2.62: "
                      "Temporary failure in name resolution"),
            std::string::npos)
      << text;
}

TEST(ResolverOptions, ServerList) {
  EXPECT_EQ(*normalize_server_list("127.0.0.1:5353"), "127.0.0.1:5353");
  EXPECT_EQ(*normalize_server_list("192.0.2.53"), "192.0.2.53:53");
  EXPECT_EQ(*normalize_server_list("[::1]:5300, 127.0.0.1"), "[::1]:5300,127.0.0.1:53");
  EXPECT_EQ(*normalize_server_list("::1"), "[::1]:53");
  for (const char* bad : {"", "dns.example:53", "127.0.0.1:0", "127.0.0.1:99999", "127.0.0.1:", "[::1", "[::1]x",
                          "1.2.3.4:53:53", "1.1.1.1 1.1.1.2 1.1.1.3 1.1.1.4 1.1.1.5 1.1.1.6 1.1.1.7 1.1.1.8 1.1.1.9"}) {
    EXPECT_FALSE(normalize_server_list(bad).ok()) << bad;
  }
}

TEST(ResolverOptions, CreateValidates) {
  asio::io_context io;
  ResolverOptions o;
  o.servers = "not-an-ip";
  EXPECT_FALSE(Resolver::create(io, o).ok());
  o.servers = "127.0.0.1";
  o.tries = 0;
  EXPECT_FALSE(Resolver::create(io, o).ok());
  o.tries = 2;
  o.timeout = 0ms;
  EXPECT_FALSE(Resolver::create(io, o).ok());
  o.timeout = 1s;
  EXPECT_TRUE(Resolver::create(io, o).ok());
  o.servers = "[::1]:5300, 127.0.0.1:5300";
  EXPECT_TRUE(Resolver::create(io, o).ok());
}

TEST_F(Fixture, MovedResolverKeepsWorking) {
  zone.add(t::a("m.example", "192.0.2.77"));
  auto first = make();
  Resolver second = std::move(first);
  auto r = t::run(io, second.lookup_addresses("m.example", Families::Ipv4));
  ASSERT_EQ(r.outcome, Outcome::Ok) << r.detail;
  EXPECT_EQ(r.records[0].to_string(), "192.0.2.77");
  // Assigning over a resolver shuts the old one down cleanly.
  second = make();
  r = t::run(io, second.lookup_addresses("m.example", Families::Ipv4));
  EXPECT_EQ(r.outcome, Outcome::Ok);
}

TEST_F(Fixture, MailhostMxThenAddresses) {
  zone.add(t::mx("mx.example", 10, "mail.mx.example"));
  zone.add(t::a("aonly.example", "192.0.2.20"));
  zone.add(t::mx("null.example", 0, "."));
  zone.rcode["servfail.example"] = SERVFAIL;
  zone.names.insert("empty.example");  // exists, no records at all
  auto res = make(300ms, 1);
  EXPECT_EQ(t::run(io, res.lookup_mailhost("mx.example")).outcome, Outcome::Ok);
  EXPECT_EQ(t::run(io, res.lookup_mailhost("aonly.example")).outcome, Outcome::Ok);
  EXPECT_EQ(t::run(io, res.lookup_mailhost("null.example")).outcome, Outcome::NullMx);
  EXPECT_EQ(t::run(io, res.lookup_mailhost("missing.example")).outcome, Outcome::NotFound);
  EXPECT_EQ(t::run(io, res.lookup_mailhost("empty.example")).outcome, Outcome::NoData);
  auto sf = t::run(io, res.lookup_mailhost("servfail.example"));
  EXPECT_EQ(sf.outcome, Outcome::TempFail);
  EXPECT_NE(sf.detail.find("type=MX"), std::string::npos) << sf.detail;
  EXPECT_EQ(t::run(io, res.lookup_mailhost("bad name.example")).outcome, Outcome::Invalid);
}

// disable_dns_lookups / smtp_host_lookup = native: getaddrinfo() (the hosts
// file names localhost), no DNS question at all; "dns, native" asks the DNS
// first. The scripted server knows mx.native.example only by MX.
TEST_F(Fixture, NativeHostLookups) {
  zone.add(t::mx("native.example", 10, "localhost"));
  auto res = make();
  NexthopOptions no_dns;
  no_dns.mx_lookups = false;
  no_dns.randomize_addresses = false;
  int before = server.queries();
  auto r = t::run(io, res.resolve_nexthop("localhost:2525", no_dns));
  ASSERT_EQ(r.outcome, Outcome::Ok) << r.detail;
  EXPECT_EQ(r.destinations[0].address.to_string(), "127.0.0.1");
  EXPECT_EQ(r.destinations[0].port, 2525);
  EXPECT_FALSE(r.used_mx);
  EXPECT_EQ(server.queries(), before);
  // A name the system does not know (NotFound, or TempFail on a machine
  // without name servers).
  r = t::run(io, res.resolve_nexthop("[no-such-host.invalid]", no_dns));
  EXPECT_NE(r.outcome, Outcome::Ok) << r.detail;
  EXPECT_NE(r.detail.find("name=no-such-host.invalid"), std::string::npos) << r.detail;
  // native: the MX list from the DNS, its hosts through the system.
  NexthopOptions native;
  native.host_lookup = HostLookup::kNative;
  r = t::run(io, res.resolve_nexthop("native.example", native));
  ASSERT_EQ(r.outcome, Outcome::Ok) << r.detail;
  EXPECT_TRUE(r.used_mx);
  EXPECT_EQ(r.destinations[0].address.to_string(), "127.0.0.1");
  EXPECT_EQ(r.destinations[0].host, "localhost");
  // dns only: the DNS does not know localhost.
  r = t::run(io, res.resolve_nexthop("[localhost]"));
  EXPECT_NE(r.outcome, Outcome::Ok);
  NexthopOptions both;
  both.host_lookup = HostLookup::kDnsThenNative;
  r = t::run(io, res.resolve_nexthop("[localhost]", both));
  ASSERT_EQ(r.outcome, Outcome::Ok) << r.detail;
  EXPECT_EQ(r.destinations[0].address.to_string(), "127.0.0.1");
}

TEST(Nexthop, HostLookupSyntax) {
  EXPECT_EQ(*parse_host_lookup("dns"), HostLookup::kDns);
  EXPECT_EQ(*parse_host_lookup("native"), HostLookup::kNative);
  EXPECT_EQ(*parse_host_lookup("dns, native"), HostLookup::kDnsThenNative);
  EXPECT_EQ(*parse_host_lookup("Native DNS"), HostLookup::kDnsThenNative);
  EXPECT_FALSE(parse_host_lookup("nis"));
  EXPECT_FALSE(parse_host_lookup(""));
}
