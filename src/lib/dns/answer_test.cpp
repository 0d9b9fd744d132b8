#include "dns/answer.h"

#include <ares.h>

#include <set>

#include <gtest/gtest.h>

#include "dns/name.h"
#include "dns/test_dns.h"

using namespace postern;
using namespace postern::dns;
namespace t = postern::dns::testing;

namespace {

std::mt19937_64 rng(42);

MxResult mx_of(const std::vector<t::Rr>& rrs, int rcode = 0) {
  auto m = t::response(1, "example.com", 15, rcode, rrs);
  return parse_mx_answer("example.com", ARES_SUCCESS, m, rng);
}

std::vector<std::string> hosts(const MxResult& r) {
  std::vector<std::string> out;
  for (auto& m : r.records) out.push_back(m.host);
  return out;
}

}  // namespace

TEST(MxAnswer, SortedByPreference) {
  auto r = mx_of({t::mx("example.com", 20, "b.example.com"), t::mx("example.com", 5, "A.Example.com."),
                  t::mx("example.com", 10, "c.example.net")});
  ASSERT_EQ(r.outcome, Outcome::Ok) << r.detail;
  EXPECT_EQ(hosts(r), (std::vector<std::string>{"a.example.com", "c.example.net", "b.example.com"}));
  EXPECT_EQ(r.records[0].preference, 5);
  EXPECT_EQ(r.records[2].preference, 20);
  EXPECT_FALSE(r.capped);
  EXPECT_TRUE(r.warning.empty());
}

TEST(MxAnswer, EqualPreferencesInRandomOrder) {
  auto msg = t::response(1, "example.com", 15, 0,
                         {t::mx("example.com", 10, "one.example"), t::mx("example.com", 10, "two.example"),
                          t::mx("example.com", 5, "first.example"), t::mx("example.com", 30, "last.example")});
  std::set<std::vector<std::string>> orders;
  for (int i = 0; i < 64; ++i) {
    auto r = parse_mx_answer("example.com", ARES_SUCCESS, msg, rng);
    ASSERT_EQ(r.records.size(), 4u);
    EXPECT_EQ(r.records.front().host, "first.example");
    EXPECT_EQ(r.records.back().host, "last.example");
    orders.insert(hosts(r));
  }
  // 64 draws of a fair coin all landing the same way: chance 2^-63.
  EXPECT_EQ(orders.size(), 2u);
}

TEST(MxAnswer, DuplicatesKeepLowestPreference) {
  auto r = mx_of({t::mx("example.com", 20, "mx.example.com"), t::mx("example.com", 10, "MX.example.com"),
                  t::mx("example.com", 15, "other.example.com")});
  ASSERT_EQ(r.outcome, Outcome::Ok);
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_EQ(r.records[0], (MxRecord{10, "mx.example.com"}));
}

TEST(MxAnswer, NullMx) {
  auto r = mx_of({t::mx("example.com", 0, ".")});
  EXPECT_EQ(r.outcome, Outcome::NullMx);
  EXPECT_TRUE(r.records.empty());
  EXPECT_EQ(r.detail, "Domain example.com does not accept mail (nullMX)");
  EXPECT_TRUE(permanent(r.outcome));
}

TEST(MxAnswer, NullMxAmongOthersIsIgnored) {
  auto r = mx_of({t::mx("example.com", 0, "."), t::mx("example.com", 10, "mx.example.com")});
  ASSERT_EQ(r.outcome, Outcome::Ok);
  EXPECT_EQ(hosts(r), std::vector<std::string>{"mx.example.com"});
  EXPECT_NE(r.warning.find("null MX"), std::string::npos) << r.warning;
}

TEST(MxAnswer, MalformedHostsAreSkipped) {
  auto r = mx_of({t::mx("example.com", 10, "bad host.example"), t::mx("example.com", 20, "192.0.2.1"),
                  t::mx("example.com", 30, "good.example")});
  ASSERT_EQ(r.outcome, Outcome::Ok);
  EXPECT_EQ(hosts(r), std::vector<std::string>{"good.example"});
  EXPECT_NE(r.warning.find("malformed domain name in resource data of MX record"), std::string::npos)
      << r.warning;
}

TEST(MxAnswer, OnlyMalformedHostsIsTemporary) {
  auto r = mx_of({t::mx("example.com", 10, "192.0.2.1"), t::mx("example.com", 20, "-x.example")});
  EXPECT_EQ(r.outcome, Outcome::TempFail);
  EXPECT_NE(r.detail.find("Malformed or unexpected name server reply"), std::string::npos) << r.detail;
  EXPECT_FALSE(r.warning.empty());
}

TEST(MxAnswer, HugeAnswerIsCapped) {
  std::vector<t::Rr> rrs;
  for (int i = 0; i < 300; ++i) rrs.push_back(t::mx("example.com", std::uint16_t(300 - i), "mx" + std::to_string(i) + ".example"));
  auto r = mx_of(rrs);
  ASSERT_EQ(r.outcome, Outcome::Ok);
  EXPECT_EQ(r.records.size(), kMaxMxRecords);
  EXPECT_TRUE(r.capped);
  // The best ones are kept.
  EXPECT_EQ(r.records.front().preference, 1);
  EXPECT_EQ(r.records.back().preference, kMaxMxRecords);
}

TEST(MxAnswer, StatusMapping) {
  std::span<const unsigned char> none;
  EXPECT_EQ(parse_mx_answer("example.com", ARES_ENODATA, none, rng).outcome, Outcome::NoData);
  EXPECT_EQ(parse_mx_answer("example.com", ARES_ENOTFOUND, none, rng).outcome, Outcome::NotFound);
  for (int st : {ARES_ESERVFAIL, ARES_ETIMEOUT, ARES_EREFUSED, ARES_ECONNREFUSED, ARES_EFORMERR, ARES_ENOTIMP,
                 ARES_EDESTRUCTION, ARES_ECANCELLED, ARES_ENOMEM, ARES_EBADRESP}) {
    auto r = parse_mx_answer("example.com", st, none, rng);
    EXPECT_EQ(r.outcome, Outcome::TempFail) << st;
    EXPECT_EQ(r.detail, "Name service error for name=example.com type=MX: Host not found, try again");
  }
  EXPECT_EQ(parse_mx_answer("example.com", ARES_ENOTFOUND, none, rng).detail,
            "Name service error for name=example.com type=MX: Host not found");
  EXPECT_EQ(parse_mx_answer("example.com", ARES_EBADNAME, none, rng).outcome, Outcome::Invalid);
}

TEST(MxAnswer, GarbageIsTemporary) {
  // Success claimed, but no message, a truncated one, or random bytes.
  EXPECT_EQ(parse_mx_answer("example.com", ARES_SUCCESS, {}, rng).outcome, Outcome::TempFail);
  auto m = t::response(1, "example.com", 15, 0, {t::mx("example.com", 10, "mx.example.com")});
  for (std::size_t cut = 0; cut < m.size(); ++cut) {
    std::span<const unsigned char> part(m.data(), cut);
    auto r = parse_mx_answer("example.com", ARES_SUCCESS, part, rng);
    EXPECT_NE(r.outcome, Outcome::Ok) << cut;
  }
  std::vector<unsigned char> junk(100, 0xc0);
  EXPECT_EQ(parse_mx_answer("example.com", ARES_SUCCESS, junk, rng).outcome, Outcome::TempFail);
}

TEST(MxAnswer, OnlyOtherTypesIsNoData) {
  auto m = t::response(1, "example.com", 15, 0, {t::a("example.com", "192.0.2.1")});
  EXPECT_EQ(parse_mx_answer("example.com", ARES_SUCCESS, m, rng).outcome, Outcome::NoData);
}

TEST(AddressAnswer, ARecordsThroughCname) {
  auto m = t::response(1, "www.example.com", 1, 0,
                       {t::cname("www.example.com", "host.example.net"), t::a("host.example.net", "192.0.2.7"),
                        t::a("host.example.net", "192.0.2.8"), t::a("host.example.net", "192.0.2.7")});
  auto r = parse_address_answer("www.example.com", RrType::A, ARES_SUCCESS, m);
  ASSERT_EQ(r.outcome, Outcome::Ok) << r.detail;
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_EQ(r.records[0].to_string(), "192.0.2.7");
  EXPECT_EQ(r.records[1].to_string(), "192.0.2.8");
}

TEST(AddressAnswer, Aaaa) {
  auto m = t::response(1, "v6.example", 28, 0, {t::aaaa("v6.example", "2001:db8::25")});
  auto r = parse_address_answer("v6.example", RrType::AAAA, ARES_SUCCESS, m);
  ASSERT_EQ(r.outcome, Outcome::Ok) << r.detail;
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.records[0].to_string(), "2001:db8::25");
}

TEST(AddressAnswer, CnameWithoutAddressesIsNoData) {
  auto m = t::response(1, "www.example.com", 1, 0, {t::cname("www.example.com", "elsewhere.example")});
  auto r = parse_address_answer("www.example.com", RrType::A, ARES_SUCCESS, m);
  EXPECT_EQ(r.outcome, Outcome::NoData);
  EXPECT_EQ(r.detail,
            "Name service error for name=www.example.com type=A: Host found but no data record of requested type");
}

TEST(AddressAnswer, HugeAnswerIsCapped) {
  std::vector<t::Rr> rrs;
  for (int i = 0; i < 200; ++i) {
    std::string ip = "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250);
    rrs.push_back(t::a("big.example", ip.c_str()));
  }
  auto m = t::response(1, "big.example", 1, 0, rrs);
  auto r = parse_address_answer("big.example", RrType::A, ARES_SUCCESS, m);
  ASSERT_EQ(r.outcome, Outcome::Ok);
  EXPECT_EQ(r.records.size(), kMaxAddressesPerFamily);
  EXPECT_TRUE(r.capped);
}

TEST(AddressAnswer, Garbage) {
  auto m = t::response(1, "x.example", 1, 0, {t::a("x.example", "192.0.2.1")});
  for (std::size_t cut = 0; cut < m.size(); ++cut) {
    std::span<const unsigned char> part(m.data(), cut);
    EXPECT_NE(parse_address_answer("x.example", RrType::A, ARES_SUCCESS, part).outcome, Outcome::Ok) << cut;
  }
  EXPECT_EQ(parse_address_answer("x.example", RrType::MX, ARES_SUCCESS, m).outcome, Outcome::Invalid);
}

TEST(PtrAnswer, NamesValidatedAndDeduplicated) {
  auto addr = *parse_ip("192.0.2.1");
  auto q = reverse_name(addr);
  auto m = t::response(1, q, 12, 0,
                       {t::ptr(q, "Mail.Example.com"), t::ptr(q, "a/b.example"), t::ptr(q, "1.2.3.4"),
                        t::ptr(q, "-x.example"),
                        t::ptr(q, "mail.example.com."), t::ptr(q, "other.example.net")});
  auto r = parse_ptr_answer(addr, ARES_SUCCESS, m);
  ASSERT_EQ(r.outcome, Outcome::Ok) << r.detail;
  EXPECT_EQ(r.records, (std::vector<std::string>{"mail.example.com", "other.example.net"}));
  EXPECT_NE(r.warning.find("PTR record"), std::string::npos);
}

TEST(PtrAnswer, UnprintableNameMakesTheAnswerMalformed) {
  // c-ares itself refuses host names with spaces or control characters in
  // PTR data, so the whole answer is unusable: temporary, like any garbage.
  auto addr = *parse_ip("192.0.2.1");
  auto q = reverse_name(addr);
  auto m = t::response(1, q, 12, 0, {t::ptr(q, "good.example"), t::ptr(q, "bad name.example")});
  EXPECT_EQ(parse_ptr_answer(addr, ARES_SUCCESS, m).outcome, Outcome::TempFail);
}

TEST(PtrAnswer, OnlyBadNamesIsNoData) {
  auto addr = *parse_ip("2001:db8::1");
  auto q = reverse_name(addr);
  auto m = t::response(1, q, 12, 0, {t::ptr(q, "10.0.0.1")});
  auto r = parse_ptr_answer(addr, ARES_SUCCESS, m);
  EXPECT_EQ(r.outcome, Outcome::NoData);
  EXPECT_FALSE(r.warning.empty());
}

TEST(PtrAnswer, WrongOwnerIsIgnored) {
  auto addr = *parse_ip("192.0.2.1");
  auto q = reverse_name(addr);
  auto m = t::response(1, q, 12, 0, {t::ptr("9.9.9.9.in-addr.arpa", "spoof.example")});
  EXPECT_EQ(parse_ptr_answer(addr, ARES_SUCCESS, m).outcome, Outcome::NoData);
  EXPECT_EQ(parse_ptr_answer(addr, ARES_ENOTFOUND, {}).outcome, Outcome::NotFound);
  EXPECT_EQ(parse_ptr_answer(addr, ARES_ETIMEOUT, {}).outcome, Outcome::TempFail);
}

TEST(PtrAnswer, ManyNamesCapped) {
  auto addr = *parse_ip("192.0.2.1");
  auto q = reverse_name(addr);
  std::vector<t::Rr> rrs;
  for (int i = 0; i < 40; ++i) rrs.push_back(t::ptr(q, "h" + std::to_string(i) + ".example"));
  auto r = parse_ptr_answer(addr, ARES_SUCCESS, t::response(1, q, 12, 0, rrs));
  ASSERT_EQ(r.outcome, Outcome::Ok);
  EXPECT_EQ(r.records.size(), kMaxPtrNames);
  EXPECT_TRUE(r.capped);
  EXPECT_EQ(r.records.front(), "h0.example");
}

TEST(NsAnswer, NamesValidatedDeduplicatedAndFailuresKept) {
  auto m = t::response(1, "example.com", 2, 0,
                       {t::ns("example.com", "NS1.Example.com"), t::ns("example.com", "192.0.2.53"),
                        t::ns("example.com", "ns1.example.com."), t::ns("example.com", "ns2.example.net")});
  auto r = parse_ns_answer("example.com", ARES_SUCCESS, m);
  ASSERT_EQ(r.outcome, Outcome::Ok) << r.detail;
  EXPECT_EQ(r.records, (std::vector<std::string>{"ns1.example.com", "ns2.example.net"}));
  EXPECT_NE(r.warning.find("NS record"), std::string::npos);
  EXPECT_EQ(parse_ns_answer("example.com", ARES_SUCCESS, t::response(1, "example.com", 2, 0, {})).outcome,
            Outcome::NoData);
  EXPECT_EQ(parse_ns_answer("nx.example", ARES_ENOTFOUND, {}).outcome, Outcome::NotFound);
  EXPECT_EQ(parse_ns_answer("example.com", ARES_ETIMEOUT, {}).outcome, Outcome::TempFail);
  for (std::size_t cut = 0; cut < m.size(); ++cut) {
    std::span<const unsigned char> part(m.data(), cut);
    EXPECT_NE(parse_ns_answer("example.com", ARES_SUCCESS, part).outcome, Outcome::Ok) << cut;
  }
}

TEST(TxtAnswer, OneStringPerRecordPrintableAndBounded) {
  auto q = "2.0.0.127.bl.example";
  auto m = t::response(1, q, 16, 0,
                       {t::txt(q, {"Listed: ", "see https://bl.example/q?2"}), t::txt(q, {"bad\r\n550 x\x01"}),
                        t::txt(q, {std::string(255, 'a'), std::string(255, 'b'), std::string(255, 'c')})});
  auto r = parse_txt_answer(q, ARES_SUCCESS, m);
  ASSERT_EQ(r.outcome, Outcome::Ok) << r.detail;
  ASSERT_EQ(r.records.size(), 3u);
  EXPECT_EQ(r.records[0], "Listed: see https://bl.example/q?2");
  EXPECT_EQ(r.records[1], "bad??550 x?");  // no CR/LF can reach an SMTP reply
  EXPECT_EQ(r.records[2].size(), kMaxTxtLength);
}

TEST(TxtAnswer, Failures) {
  auto q = "2.0.0.127.bl.example";
  EXPECT_EQ(parse_txt_answer(q, ARES_ENOTFOUND, {}).outcome, Outcome::NotFound);
  EXPECT_EQ(parse_txt_answer(q, ARES_ESERVFAIL, {}).outcome, Outcome::TempFail);
  auto nodata = t::response(1, q, 16, 0, {});
  EXPECT_EQ(parse_txt_answer(q, ARES_SUCCESS, nodata).outcome, Outcome::NoData);
  auto m = t::response(1, q, 16, 0, {t::txt(q, {"x"})});
  m.resize(m.size() - 1);  // truncated record data
  EXPECT_EQ(parse_txt_answer(q, ARES_SUCCESS, m).outcome, Outcome::TempFail);
}

TEST(TxtAnswer, RecordCountCapped) {
  auto q = "bl.example";
  std::vector<t::Rr> rrs;
  for (std::size_t i = 0; i < kMaxTxtRecords + 3; ++i) rrs.push_back(t::txt(q, {std::to_string(i)}));
  auto r = parse_txt_answer(q, ARES_SUCCESS, t::response(1, q, 16, 0, rrs));
  ASSERT_EQ(r.outcome, Outcome::Ok);
  EXPECT_EQ(r.records.size(), kMaxTxtRecords);
  EXPECT_TRUE(r.capped);
}

TEST(TlsaAnswer, RecordsOfTheNameOrItsCnameTarget) {
  const std::string q = "_25._tcp.mx.example";
  const t::Bytes h1(32, 0x11), h2(64, 0x22);
  auto m = t::response(1, q, 52, 0,
                       {t::tlsa(q, 3, 1, 1, h1), t::tlsa(q, 2, 0, 2, h2), t::tlsa(q, 3, 1, 1, h1),
                        t::tlsa("_25._tcp.other.example", 3, 1, 1, h2), t::txt(q, {"not TLSA"})});
  auto r = parse_tlsa_answer(q, ARES_SUCCESS, m);
  ASSERT_EQ(r.outcome, Outcome::Ok) << r.detail;
  ASSERT_EQ(r.records.size(), 2u);  // the duplicate once, the other owner not at all
  EXPECT_EQ(r.records[0], (TlsaRecord{3, 1, 1, std::string(32, '\x11')}));
  EXPECT_EQ(r.records[1], (TlsaRecord{2, 0, 2, std::string(64, '\x22')}));
  EXPECT_FALSE(authentic_data(m));

  // Through a CNAME: the target's records, not stray ones of the alias.
  auto c = t::response(1, q, 52, 0,
                       {t::cname(q, "tlsa.example"), t::tlsa("tlsa.example", 3, 0, 0, {1, 2, 3})});
  auto rc = parse_tlsa_answer("_25._TCP.mx.example.", ARES_SUCCESS, c);
  ASSERT_EQ(rc.outcome, Outcome::Ok) << rc.detail;
  ASSERT_EQ(rc.records.size(), 1u);
  EXPECT_EQ(rc.records[0].data, std::string("\x01\x02\x03"));
  // A CNAME loop ends without records.
  auto loop = t::response(1, q, 52, 0, {t::cname(q, "a.example"), t::cname("a.example", q)});
  EXPECT_EQ(parse_tlsa_answer(q, ARES_SUCCESS, loop).outcome, Outcome::NoData);
}

TEST(TlsaAnswer, FailuresShortRecordsAndTheAdBit) {
  const std::string q = "_25._tcp.mx.example";
  EXPECT_EQ(parse_tlsa_answer(q, ARES_ENOTFOUND, {}).outcome, Outcome::NotFound);
  EXPECT_EQ(parse_tlsa_answer(q, ARES_ESERVFAIL, {}).outcome, Outcome::TempFail);
  EXPECT_EQ(parse_tlsa_answer(q, ARES_SUCCESS, t::response(1, q, 52, 0, {})).outcome, Outcome::NoData);
  t::Rr shortrr{q, 52, {3, 1}};
  auto s = parse_tlsa_answer(q, ARES_SUCCESS, t::response(1, q, 52, 0, {shortrr}));
  EXPECT_EQ(s.outcome, Outcome::NoData);
  EXPECT_NE(s.warning.find("malformed TLSA record"), std::string::npos) << s.warning;
  auto m = t::response(1, q, 52, 0, {t::tlsa(q, 3, 1, 1, t::Bytes(32, 1))}, false, true);
  EXPECT_TRUE(authentic_data(m));
  m.resize(m.size() - 5);  // record data past the end
  EXPECT_EQ(parse_tlsa_answer(q, ARES_SUCCESS, m).outcome, Outcome::TempFail);
  EXPECT_EQ(parse_tlsa_answer(q, ARES_SUCCESS, t::Bytes{1, 2, 3}).outcome, Outcome::TempFail);
  EXPECT_FALSE(authentic_data({}));
  std::vector<t::Rr> many;
  for (std::size_t i = 0; i < kMaxTlsaRecords + 2; ++i) many.push_back(t::tlsa(q, 3, 1, 1, t::Bytes(32, std::uint8_t(i))));
  auto capped = parse_tlsa_answer(q, ARES_SUCCESS, t::response(1, q, 52, 0, many));
  EXPECT_EQ(capped.records.size(), kMaxTlsaRecords);
  EXPECT_TRUE(capped.capped);
}
