// tls_policy_test.cpp - smtp_tls_policy_maps: values, defaults, lookups.
#include "tls_policy.h"

#include <gtest/gtest.h>

#include "tls/protocols.h"

namespace postern::smtp_client {
namespace {

TlsDefaults defaults(const std::string& extra = "") {
  auto c = config::Config::from_text(extra);
  if (!c) ADD_FAILURE() << c.error().message;
  auto d = TlsDefaults::from_config(*c);
  if (!d) ADD_FAILURE() << d.error().message;
  return d ? *d : TlsDefaults{};
}

TlsPolicy parse(const std::string& value, const TlsDefaults& d, std::vector<std::string>* warnings = nullptr) {
  std::vector<std::string> w;
  auto p = parse_tls_policy(value, d, w);
  EXPECT_TRUE(p) << value << ": " << (p ? "" : p.error().message);
  if (warnings) *warnings = w;
  else EXPECT_TRUE(w.empty()) << value << ": " << (w.empty() ? "" : w[0]);
  return p ? *p : TlsPolicy{};
}

std::string error_of(const std::string& value, const TlsDefaults& d) {
  std::vector<std::string> w;
  auto p = parse_tls_policy(value, d, w);
  EXPECT_FALSE(p) << value;
  return p ? "" : p.error().message;
}

maps::MapList table(const std::string& spec) {
  auto m = maps::MapList::open("smtp_tls_policy_maps", spec);
  EXPECT_TRUE(m) << (m ? "" : m.error().message);
  return std::move(*m);
}

std::string found(maps::MapList& t, std::string_view hop) {
  auto r = find_tls_policy(t, hop);
  if (!r) return "<error: " + r.error().message + ">";
  return *r ? **r : "<none>";
}

}  // namespace

TEST(TlsPolicy, LevelsTakeMainCfSettingsForTheirKind) {
  auto d = defaults(
      "smtp_tls_protocols = >=TLSv1\nsmtp_tls_mandatory_protocols = >=TLSv1.2\n"
      "smtp_tls_ciphers = medium\nsmtp_tls_mandatory_ciphers = high\n"
      "smtp_tls_exclude_ciphers = RC4\nsmtp_tls_mandatory_exclude_ciphers = 3DES\n"
      "tls_medium_cipherlist = MEDLIST\ntls_high_cipherlist = HIGHLIST\n");
  EXPECT_FALSE(parse("none", d).enabled());
  auto may = parse("may", d);
  EXPECT_EQ(may.level, tls::Level::kMay);
  EXPECT_EQ(may.protocols, tls::kAllVersions);
  EXPECT_EQ(may.ciphers, "MEDLIST:!RC4");
  auto enc = parse("ENCRYPT", d);
  EXPECT_TRUE(enc.mandatory());
  EXPECT_FALSE(enc.verifies());
  EXPECT_EQ(enc.protocols, unsigned{tls::kTls12 | tls::kTls13});
  // Mandatory levels add their own exclusions and never take NULL ciphers.
  EXPECT_EQ(enc.ciphers, "HIGHLIST:!RC4:!3DES:!eNULL");
  auto sec = parse("secure", d);
  EXPECT_EQ(sec.ciphers, "HIGHLIST:!RC4:!3DES:!aNULL");
  EXPECT_EQ(sec.cert_match, (std::vector<std::string>{"nexthop", "dot-nexthop"}));
  EXPECT_EQ(parse("verify", d).cert_match, std::vector<std::string>{"hostname"});
  // main.cf's own level through the same rules.
  auto g = default_tls_policy(tls::Level::kEncrypt, d);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->ciphers, enc.ciphers);
  EXPECT_FALSE(default_tls_policy(tls::Level::kNone, d)->enabled());
}

TEST(TlsPolicy, AttributesReplaceMainCfValues) {
  auto d = defaults("tls_high_cipherlist = HIGHLIST\ntls_low_cipherlist = LOWLIST\n");
  auto p = parse("verify match=mx.example.com:.example.com protocols=TLSv1.3 ciphers=low exclude=CAMELLIA:SEED", d);
  EXPECT_EQ(p.level, tls::Level::kVerify);
  EXPECT_EQ(p.cert_match, (std::vector<std::string>{"mx.example.com", ".example.com"}));
  EXPECT_EQ(p.protocols, unsigned{tls::kTls13});
  EXPECT_EQ(p.ciphers, "LOWLIST:!CAMELLIA:!SEED:!aNULL");
  // Braces for values with spaces; match may repeat and adds up.
  auto q = parse("secure, { protocols = !TLSv1, !TLSv1.1 }, match=nexthop, match=hostname", d);
  EXPECT_EQ(q.protocols, unsigned{tls::kTls12 | tls::kTls13});
  EXPECT_EQ(q.cert_match, (std::vector<std::string>{"nexthop", "hostname"}));
}

TEST(TlsPolicy, DaneIsMayWithAWarningAsPostfixWithoutDnssec) {
  auto d = defaults();
  std::vector<std::string> w;
  auto p = parse("dane", d, &w);
  EXPECT_EQ(p.level, tls::Level::kMay);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("dnssec lookups disabled"), std::string::npos) << w[0];
  // Attributes with TLS off are ignored, each with a warning.
  auto n = parse("none ciphers=high match=x", d, &w);
  EXPECT_FALSE(n.enabled());
  EXPECT_EQ(w.size(), 2u);
}

TEST(TlsPolicy, DaneLevelsWithDnssecCarryMandatoryAndMaySettings) {
  auto d = defaults(
      "smtp_dns_support_level = dnssec\n"
      "smtp_tls_protocols = >=TLSv1\nsmtp_tls_mandatory_protocols = >=TLSv1.2\n"
      "smtp_tls_ciphers = medium\nsmtp_tls_mandatory_ciphers = high\n"
      "tls_medium_cipherlist = MEDLIST\ntls_high_cipherlist = HIGHLIST\n");
  ASSERT_TRUE(d.dnssec);
  auto p = parse("dane", d);
  EXPECT_EQ(p.level, tls::Level::kDane);
  EXPECT_TRUE(p.dane());
  EXPECT_FALSE(p.mandatory());  // until a server has usable TLSA records (dane.h)
  EXPECT_EQ(p.protocols, unsigned{tls::kTls12 | tls::kTls13});
  EXPECT_EQ(p.ciphers, "HIGHLIST:!eNULL:!aNULL");
  EXPECT_EQ(p.may_protocols, tls::kAllVersions);
  EXPECT_EQ(p.may_ciphers, "MEDLIST");
  auto only = parse("dane-only protocols=TLSv1.3", d);
  EXPECT_EQ(only.level, tls::Level::kDaneOnly);
  EXPECT_TRUE(only.mandatory());
  EXPECT_EQ(only.protocols, unsigned{tls::kTls13});
  EXPECT_EQ(only.may_protocols, unsigned{tls::kTls13});
  EXPECT_NE(error_of("dane match=x.example", d).find("\"match\" invalid"), std::string::npos);
  // main.cf's level: default_tls_policy() refuses DANE without DNSSEC
  // (the client turns "dane" into "may" first, with Postfix's warning).
  EXPECT_TRUE(default_tls_policy(tls::Level::kDaneOnly, d));
  auto off = default_tls_policy(tls::Level::kDane, defaults());
  ASSERT_FALSE(off);
  EXPECT_NE(off.error().message.find("dnssec lookups disabled"), std::string::npos);
}

TEST(TlsPolicy, InvalidPoliciesAreErrorsNeverALowerLevel) {
  auto d = defaults();
  EXPECT_NE(error_of("", d).find("empty"), std::string::npos);
  EXPECT_NE(error_of("sometimes", d).find("invalid security level \"sometimes\""), std::string::npos);
  EXPECT_NE(error_of("dane-only", d).find("dnssec lookups disabled"), std::string::npos);
  EXPECT_NE(error_of("fingerprint", d).find("no certificate could match"), std::string::npos);
  EXPECT_NE(error_of("fingerprint match=AB:CD|xyz", d).find("\"xyz\" is not a fingerprint"), std::string::npos);
  EXPECT_NE(error_of("fingerprint match=ABC", d).find("not a fingerprint"), std::string::npos);
  EXPECT_NE(error_of("verify tafile=/etc/ta.pem", d).find("\"tafile\" is not supported"), std::string::npos);
  EXPECT_NE(error_of("encrypt servername=-x.example", d).find("servername: \"-x.example\" is not a valid host name"),
            std::string::npos);
  EXPECT_NE(error_of("encrypt servername=", d).find("empty value"), std::string::npos);
  EXPECT_NE(error_of("encrypt servername=a.example servername=b.example", d).find("multiple times"), std::string::npos);
  EXPECT_NE(error_of("encrypt color=blue", d).find("invalid attribute name: \"color\""), std::string::npos);
  EXPECT_NE(error_of("encrypt novalue", d).find("malformed"), std::string::npos);
  EXPECT_NE(error_of("encrypt ciphers=high ciphers=low", d).find("multiple times"), std::string::npos);
  EXPECT_NE(error_of("encrypt ciphers=", d).find("empty value"), std::string::npos);
  EXPECT_NE(error_of("encrypt ciphers=strong", d).find("unknown TLS cipher grade"), std::string::npos);
  EXPECT_NE(error_of("encrypt protocols=TLSv9", d).find("protocols"), std::string::npos);
  EXPECT_NE(error_of("encrypt exclude=a:!b", d).find("exclusion"), std::string::npos);
  EXPECT_NE(error_of("may match=example.com", d).find("invalid at security level \"may\""), std::string::npos);
  // A verifying level with no name to match cannot succeed: refused.
  auto none = defaults("smtp_tls_verify_cert_match =\n");
  EXPECT_NE(error_of("verify", none).find("smtp_tls_verify_cert_match"), std::string::npos);
}

// SNI (Postfix's smtp_tls_servername and servername=): nothing by default;
// "hostname" is the server's name, "nexthop" the next hop's domain, any
// other value a host name of its own. Never an address, never a U-label.
TEST(TlsPolicy, ServerNameIndication) {
  auto d = defaults();
  EXPECT_EQ(sni_name(parse("encrypt", d), "mx1.example.com", "example.com"), "");
  EXPECT_EQ(sni_name(parse("encrypt servername=hostname", d), "mx1.example.com.", "example.com"), "mx1.example.com");
  EXPECT_EQ(sni_name(parse("may servername=nexthop", d), "mx1.example.com", "example.com"), "example.com");
  EXPECT_EQ(sni_name(parse("verify servername=relay.example.net", d), "mx1.example.com", "example.com"),
            "relay.example.net");
  // Literal addresses are not host names (RFC 6066): nothing is sent.
  EXPECT_EQ(sni_name(parse("encrypt servername=hostname", d), "192.0.2.1", "192.0.2.1"), "");
  EXPECT_EQ(sni_name(parse("encrypt servername=nexthop", d), "mx", "2001:db8::1"), "");
  EXPECT_EQ(sni_name(parse("encrypt servername=nexthop", d), "mx", "b\xc3\xbc" "cher.example"), "");
  // main.cf's setting is the default, an entry's attribute replaces it.
  auto host = defaults("smtp_tls_servername = hostname\n");
  EXPECT_EQ(sni_name(parse("may", host), "mx1.example.com", "example.com"), "mx1.example.com");
  EXPECT_EQ(sni_name(parse("may servername=nexthop", host), "mx1.example.com", "example.com"), "example.com");
  auto def = default_tls_policy(tls::Level::kEncrypt, host);
  ASSERT_TRUE(def);
  EXPECT_EQ(def->servername, "hostname");
  // An invalid main.cf value is an error that names the parameter (the
  // client refuses to start rather than send a name nobody meant).
  auto bad = defaults("smtp_tls_servername = not..valid\n");
  auto p = default_tls_policy(tls::Level::kMay, bad);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("smtp_tls_servername: \"not..valid\" is not a valid host name"), std::string::npos);
  // The LMTP client reads its own parameter.
  auto c = config::Config::from_text("lmtp_tls_servername = lmtp.example\nsmtp_tls_servername = smtp.example\n");
  ASSERT_TRUE(c);
  auto l = TlsDefaults::from_config(*c, "lmtp");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->servername, "lmtp.example");
  EXPECT_EQ(l->servername_param, "lmtp_tls_servername");
}

TEST(TlsPolicy, NexthopDomain) {
  EXPECT_EQ(nexthop_domain("example.com"), "example.com");
  EXPECT_EQ(nexthop_domain("[mail.example.com]:587"), "mail.example.com");
  EXPECT_EQ(nexthop_domain("[192.0.2.1]"), "192.0.2.1");
  EXPECT_EQ(nexthop_domain("example.com:2525"), "example.com");
  EXPECT_EQ(nexthop_domain("inet:lmtp.example:24"), "lmtp.example");
  EXPECT_EQ(nexthop_domain("2001:db8::1"), "2001:db8::1");
  EXPECT_EQ(nexthop_domain("unix:/run/dovecot/lmtp"), "");
}

TEST(TlsPolicy, LookupByNextHopThenParentDomains) {
  auto t = table(
      "inline:{ {example.com = encrypt}, {.example.com = verify}, {[relay.example]:587 = secure}, "
      "{.org = may} }");
  EXPECT_EQ(found(t, "example.com"), "encrypt");
  EXPECT_EQ(found(t, "Example.COM"), "encrypt");
  EXPECT_EQ(found(t, "mx.sub.example.com"), "verify");
  EXPECT_EQ(found(t, "list.example.org"), "may");
  EXPECT_EQ(found(t, "example.net"), "<none>");
  EXPECT_EQ(found(t, "[relay.example]:587"), "secure");
  // An explicit next hop is one destination: no parent search, and the
  // bracketed form is not the bare name.
  EXPECT_EQ(found(t, "[relay.example]"), "<none>");
  EXPECT_EQ(found(t, "[mx.example.com]"), "<none>");
  EXPECT_EQ(found(t, "mx.example.com:2525"), "<none>");
}

TEST(TlsPolicy, LookupErrorsAreErrors) {
  // A table that fails on a parent domain's key: the error, not "none".
  class Broken final : public maps::Table {
   public:
    Broken() : Table("broken", "t", maps::OpenOptions{}) {}
    bool fixed() const override { return true; }
    Result<std::optional<std::string>> lookup(std::string_view key) override {
      if (key == ".example.com") return make_error("disk on fire");
      return std::optional<std::string>();
    }
  };
  std::vector<std::unique_ptr<maps::Table>> v;
  v.push_back(std::make_unique<Broken>());
  maps::MapList t("smtp_tls_policy_maps", std::move(v));
  EXPECT_EQ(found(t, "example.com"), "<none>");
  EXPECT_NE(found(t, "mx.example.com").find("disk on fire"), std::string::npos);
}

// fingerprint: the entry's match= fingerprints ('|' between them, any case,
// ':' optional), else smtp_tls_fingerprint_cert_match; mandatory TLS with a
// certificate (no aNULL), and the digest from smtp_tls_fingerprint_digest.
TEST(TlsPolicy, FingerprintLevel) {
  auto d = defaults("smtp_tls_fingerprint_cert_match = 11:22:33, aa:bb\nsmtp_tls_fingerprint_digest = SHA1\n");
  auto own = parse("fingerprint match=ab:cd:EF|0102", d);
  EXPECT_EQ(own.level, tls::Level::kFingerprint);
  EXPECT_TRUE(own.mandatory());
  EXPECT_FALSE(own.verifies());
  EXPECT_EQ(own.fingerprints, (std::vector<std::string>{"ABCDEF", "0102"}));
  EXPECT_EQ(own.digest, "sha1");
  EXPECT_NE(own.ciphers.find("!aNULL"), std::string::npos) << own.ciphers;
  auto main_cf = parse("fingerprint", d);
  EXPECT_EQ(main_cf.fingerprints, (std::vector<std::string>{"112233", "AABB"}));
  auto g = default_tls_policy(tls::Level::kFingerprint, d);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->fingerprints, main_cf.fingerprints);
  EXPECT_FALSE(default_tls_policy(tls::Level::kFingerprint, defaults()));
}

}  // namespace postern::smtp_client
