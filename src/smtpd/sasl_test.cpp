// sasl_test.cpp - Dovecot auth protocol parsing, security options and the
// SASL endpoint; the conversation itself is tested end to end in
// tests/integration/test_sasl.py (a protocol peer and the real Dovecot).
#include "smtpd/sasl.h"

#include <gtest/gtest.h>

using namespace postern::smtpd;

TEST(Sasl, LinesSplitAtTabsAndUndoDovecotEscapes) {
  auto l = parse_sasl_line("OK\t1\tuser=bob\tx");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->command, "OK");
  ASSERT_EQ(l->args.size(), 3u);
  EXPECT_EQ(l->param("user"), "bob");
  EXPECT_FALSE(l->param("use"));
  EXPECT_FALSE(l->param("x"));  // a boolean, no value
  auto e = parse_sasl_line("FAIL\t2\treason=a\001tb\0011c\001nd");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->param("reason"), std::string("a\tb\001c\nd"));
  EXPECT_FALSE(parse_sasl_line("").ok());
  EXPECT_FALSE(parse_sasl_line("X\t\001").ok());  // an escape cut off
  EXPECT_FALSE(parse_sasl_line(std::string(kMaxSaslLine + 1, 'a')).ok());
}

TEST(Sasl, MechanismFlagsAndSecurityOptions) {
  auto m = parse_mechanism(*parse_sasl_line("MECH\tplain\tplaintext"));
  EXPECT_EQ(m.name, "PLAIN");
  EXPECT_TRUE(m.plaintext);
  auto anon = parse_mechanism(*parse_sasl_line("MECH\tANONYMOUS\tanonymous"));
  auto cram = parse_mechanism(*parse_sasl_line("MECH\tCRAM-MD5\tdictionary\tactive"));
  auto sec = SaslSecurity::parse({"noanonymous"}, "p");
  ASSERT_TRUE(sec.ok());
  EXPECT_TRUE(sec->allows(m));
  EXPECT_FALSE(sec->allows(anon));
  auto strict = SaslSecurity::parse({"noanonymous", "noplaintext", "NODICTIONARY"}, "p");
  ASSERT_TRUE(strict.ok());
  EXPECT_FALSE(strict->allows(m));
  EXPECT_FALSE(strict->allows(cram));
  EXPECT_FALSE(SaslSecurity::parse({"nosuchoption"}, "p").ok());
}

TEST(Sasl, Base64IsAllThatPassesBetweenClientAndDovecot) {
  EXPECT_TRUE(is_base64(""));
  EXPECT_TRUE(is_base64("AGJvYgBzZWNyZXQ="));
  EXPECT_TRUE(is_base64("YQ=="));
  EXPECT_FALSE(is_base64("YQ==="));
  EXPECT_FALSE(is_base64("Y=Q"));
  EXPECT_FALSE(is_base64("a\tb"));
  EXPECT_FALSE(is_base64("ab\n"));
  EXPECT_FALSE(is_base64("not*base64"));
}

TEST(Sasl, EndpointsFollowPostfixPathRules) {
  auto rel = SaslEndpoint::parse("private/auth", "/var/spool/postern");
  ASSERT_TRUE(rel.ok());
  EXPECT_EQ(rel->unix_path, "/var/spool/postern/private/auth");
  EXPECT_EQ(SaslEndpoint::parse("private/auth", "/")->unix_path, "/private/auth");
  EXPECT_EQ(SaslEndpoint::parse("/run/dovecot/auth-client", "/q")->unix_path, "/run/dovecot/auth-client");
  auto inet = SaslEndpoint::parse("inet:127.0.0.1:12345", "/q");
  ASSERT_TRUE(inet.ok());
  EXPECT_EQ(inet->host, "127.0.0.1");
  EXPECT_EQ(inet->port, "12345");
  EXPECT_EQ(SaslEndpoint::parse("inet:[::1]:12345", "/q")->host, "::1");
  EXPECT_FALSE(SaslEndpoint::parse("inet:nohostport", "/q").ok());
  EXPECT_FALSE(SaslEndpoint::parse("", "/q").ok());
  EXPECT_FALSE(SaslEndpoint::parse("unix:", "/q").ok());
}
