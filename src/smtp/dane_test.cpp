// dane_test.cpp - what the DANE levels make of one server's DNS answers.
#include "dane.h"

#include <gtest/gtest.h>

namespace postern::smtp_client {
namespace {

TlsPolicy policy(tls::Level level, const std::string& extra = "") {
  auto c = config::Config::from_text("smtp_dns_support_level = dnssec\nsmtp_tls_protocols = >=TLSv1\n"
                                     "smtp_tls_mandatory_protocols = >=TLSv1.2\n" + extra);
  if (!c) ADD_FAILURE() << c.error().message;
  auto d = TlsDefaults::from_config(*c);
  if (!d) ADD_FAILURE() << d.error().message;
  auto p = default_tls_policy(level, *d);
  if (!p) ADD_FAILURE() << p.error().message;
  return p ? *p : TlsPolicy{};
}

dns::Destination dest(bool dnssec, bool mx = true) {
  dns::Destination d;
  d.address = asio::ip::make_address("192.0.2.1");
  d.port = 25;
  d.host = "mx.example.com";
  if (mx) d.preference = 10;
  d.dnssec = dnssec;
  return d;
}

dns::TlsaResult tlsa(dns::Outcome o, bool authentic, std::vector<dns::TlsaRecord> records = {}) {
  dns::TlsaResult r;
  r.outcome = o;
  r.authentic = authentic;
  r.records = std::move(records);
  return r;
}

const dns::TlsaRecord kEe{3, 1, 1, std::string(32, 'x')};
const dns::TlsaRecord kPkix{1, 1, 1, std::string(32, 'y')};

}  // namespace

TEST(Dane, UsableRecordsAreDaneTaAndDaneEeWithKnownFields) {
  EXPECT_TRUE(usable_tlsa(kEe));
  EXPECT_TRUE(usable_tlsa({2, 0, 2, std::string(64, 'z')}));
  EXPECT_TRUE(usable_tlsa({3, 0, 0, "DER"}));
  EXPECT_FALSE(usable_tlsa(kPkix));
  EXPECT_FALSE(usable_tlsa({0, 0, 1, std::string(32, 'x')}));
  EXPECT_FALSE(usable_tlsa({3, 2, 1, std::string(32, 'x')}));  // unknown selector
  EXPECT_FALSE(usable_tlsa({3, 1, 3, std::string(32, 'x')}));  // unknown matching type
  EXPECT_FALSE(usable_tlsa({3, 1, 1, std::string(31, 'x')}));  // SHA2-256 of the wrong size
  EXPECT_FALSE(usable_tlsa({3, 1, 2, std::string(32, 'x')}));
  EXPECT_FALSE(usable_tlsa({3, 1, 0, ""}));
}

TEST(Dane, DaneFallsBackToMayOrEncryptAndDaneOnlyDefers) {
  const auto dane = policy(tls::Level::kDane), only = policy(tls::Level::kDaneOnly);
  auto ok = tlsa(dns::Outcome::Ok, true, {kEe, kPkix});

  // Usable records: mandatory, authenticated TLS with those records only.
  for (const auto* p : {&dane, &only}) {
    auto plan = plan_dane(*p, dest(true), &ok, "example.com");
    ASSERT_TRUE(plan.policy);
    EXPECT_EQ(plan.policy->level, tls::Level::kDane);
    EXPECT_TRUE(plan.policy->mandatory());
    EXPECT_EQ(plan.policy->tlsa, (std::vector<dns::TlsaRecord>{kEe}));
    EXPECT_EQ(plan.policy->dane_names, (std::vector<std::string>{"mx.example.com", "example.com"}));
    EXPECT_EQ(plan.policy->protocols, p->protocols);
  }
  // A [host]: its own name only.
  EXPECT_EQ(plan_dane(dane, dest(true, false), &ok, "").policy->dane_names,
            (std::vector<std::string>{"mx.example.com"}));

  // Not validated (destination or TLSA answer), or no records: "may" with its settings.
  auto insecure = tlsa(dns::Outcome::Ok, false, {kEe});
  auto none = tlsa(dns::Outcome::NoData, true);
  auto nx = tlsa(dns::Outcome::NotFound, true);
  for (const auto& [d, t] : std::vector<std::pair<dns::Destination, const dns::TlsaResult*>>{
           {dest(false), nullptr}, {dest(true), &insecure}, {dest(true), &none}, {dest(true), &nx}}) {
    auto plan = plan_dane(dane, d, t, "example.com");
    ASSERT_TRUE(plan.policy);
    EXPECT_EQ(plan.policy->level, tls::Level::kMay);
    EXPECT_FALSE(plan.policy->mandatory());
    EXPECT_TRUE(plan.policy->tlsa.empty());
    EXPECT_EQ(plan.policy->protocols, dane.may_protocols);
    auto strict = plan_dane(only, d, t, "example.com");
    ASSERT_TRUE(strict.defer);
    EXPECT_TRUE(strict.defer->is_deferred());
    EXPECT_EQ(strict.defer->dsn, "4.7.5");
  }
  EXPECT_EQ(plan_dane(only, dest(true), &insecure, "").defer->text,
            "no DNSSEC-validated TLSA records for mx.example.com:25 (dane-only)");

  // Validated records, none usable: encryption without authentication.
  auto pkix = tlsa(dns::Outcome::Ok, true, {kPkix});
  auto enc = plan_dane(dane, dest(true), &pkix, "example.com");
  ASSERT_TRUE(enc.policy);
  EXPECT_EQ(enc.policy->level, tls::Level::kEncrypt);
  EXPECT_TRUE(enc.policy->mandatory());
  EXPECT_EQ(plan_dane(only, dest(true), &pkix, "").defer->text,
            "no usable TLSA records for mx.example.com:25 (dane-only)");

  // A failed lookup defers this server at either level.
  auto fail = tlsa(dns::Outcome::TempFail, false);
  for (const auto* p : {&dane, &only}) {
    auto plan = plan_dane(*p, dest(true), &fail, "example.com");
    ASSERT_TRUE(plan.defer);
    EXPECT_EQ(plan.defer->text, "TLSA lookup error for mx.example.com:25");
  }
}

TEST(Dane, InsecureMxRecordsFollowSmtpTlsDaneInsecureMxPolicy) {
  auto ok = tlsa(dns::Outcome::Ok, true, {kEe});
  // Default with main.cf's level dane: DANE, logged "Trusted", no next-hop name.
  const auto dane = policy(tls::Level::kDane, "smtp_tls_security_level = dane\n");
  EXPECT_TRUE(wants_tlsa(dane, dest(true), true));
  auto a = plan_dane(dane, dest(true), &ok, "", true);
  ASSERT_TRUE(a.policy);
  EXPECT_EQ(a.policy->level, tls::Level::kDane);
  EXPECT_TRUE(a.policy->insecure_mx);
  EXPECT_EQ(a.policy->dane_names, (std::vector<std::string>{"mx.example.com"}));
  // Default otherwise (dane from a policy table only): "may", no lookup.
  const auto table = policy(tls::Level::kDane);
  EXPECT_FALSE(wants_tlsa(table, dest(true), true));
  EXPECT_TRUE(wants_tlsa(table, dest(true), false));
  EXPECT_EQ(plan_dane(table, dest(true), nullptr, "", true).policy->level, tls::Level::kMay);
  // encrypt: validated records mean TLS, without authentication.
  const auto enc = policy(tls::Level::kDane, "smtp_tls_dane_insecure_mx_policy = encrypt\n");
  auto e = plan_dane(enc, dest(true), &ok, "", true);
  ASSERT_TRUE(e.policy);
  EXPECT_EQ(e.policy->level, tls::Level::kEncrypt);
  auto none = tlsa(dns::Outcome::NoData, true);
  EXPECT_EQ(plan_dane(enc, dest(true), &none, "", true).policy->level, tls::Level::kMay);
  // dane-only always as "dane".
  const auto only = policy(tls::Level::kDaneOnly, "smtp_tls_dane_insecure_mx_policy = may\n");
  EXPECT_TRUE(wants_tlsa(only, dest(true), true));
  EXPECT_EQ(plan_dane(only, dest(true), &ok, "", true).policy->level, tls::Level::kDane);
  // A bad value stops the agent.
  auto c = config::Config::from_text("smtp_tls_dane_insecure_mx_policy = sometimes\n");
  ASSERT_TRUE(c);
  auto bad = TlsDefaults::from_config(*c);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("want may, encrypt or dane"), std::string::npos);
}

}  // namespace postern::smtp_client
