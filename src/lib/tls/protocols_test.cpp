#include "tls/protocols.h"

#include <gtest/gtest.h>

using namespace postern::tls;

namespace {
unsigned ok(std::string_view list) {
  auto r = parse_protocols(list);
  EXPECT_TRUE(r.ok()) << list << ": " << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : 0;
}
}  // namespace

TEST(Protocols, PostfixDefaultsAndClassicExclusions) {
  EXPECT_EQ(ok(">=TLSv1"), kAllVersions);
  EXPECT_EQ(ok("!SSLv2, !SSLv3"), kAllVersions);
  EXPECT_EQ(ok("!SSLv2, !SSLv3, !TLSv1, !TLSv1.1"), kTls12 | kTls13);
  EXPECT_EQ(ok(""), kAllVersions);
}

TEST(Protocols, RangesListsAndSeparators) {
  EXPECT_EQ(ok(">=TLSv1.2"), kTls12 | kTls13);
  EXPECT_EQ(ok("<=TLSv1.2"), kTls1 | kTls11 | kTls12);
  EXPECT_EQ(ok(">=TLSv1.1 <=TLSv1.2"), kTls11 | kTls12);
  EXPECT_EQ(ok("TLSv1.2:TLSv1.3"), kTls12 | kTls13);
  EXPECT_EQ(ok("tlsv1.3"), kTls13);
  EXPECT_EQ(ok(">=TLSv1, !TLSv1.1"), kTls1 | kTls12 | kTls13);
  // Plain names list the only ones allowed; exclusions still apply.
  EXPECT_EQ(ok("TLSv1.2 TLSv1.3 !TLSv1.3"), kTls12);
}

TEST(Protocols, UnknownNamesAndEmptySetsAreErrors) {
  EXPECT_FALSE(parse_protocols("TLSv1.4").ok());
  EXPECT_FALSE(parse_protocols(">=SSLv9").ok());
  EXPECT_FALSE(parse_protocols("!").ok());
  EXPECT_FALSE(parse_protocols("SSLv3").ok());  // only SSL: no TLS version left
  EXPECT_FALSE(parse_protocols(">=TLSv1.3 <=TLSv1.2").ok());
  auto e = parse_protocols("!SSLv2, TLSv2");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("TLSv2"), std::string::npos);
}

TEST(Protocols, VersionNames) {
  EXPECT_EQ(version_name(kTls12), "TLSv1.2");
  EXPECT_EQ(version_name(kTls1), "TLSv1");
  EXPECT_EQ(version_name(kTls12 | kTls13), "");
}
