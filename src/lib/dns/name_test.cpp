#include "dns/name.h"

#include <gtest/gtest.h>

#include "dns/types.h"

using namespace postern;
using namespace postern::dns;

TEST(Hostname, NormalizesCaseAndTrailingDot) {
  auto n = normalize_hostname("Mail.Example.COM.");
  ASSERT_TRUE(n.ok()) << n.error().message;
  EXPECT_EQ(*n, "mail.example.com");
  EXPECT_EQ(*normalize_hostname("a"), "a");
  EXPECT_EQ(*normalize_hostname("_dmarc.example.com"), "_dmarc.example.com");
  EXPECT_EQ(*normalize_hostname("xn--bcher-kva.example"), "xn--bcher-kva.example");
}

TEST(Hostname, LengthLimits) {
  std::string label63(63, 'a');
  EXPECT_TRUE(normalize_hostname(label63 + ".com").ok());
  EXPECT_FALSE(normalize_hostname(std::string(64, 'a') + ".com").ok());
  // 253 characters is the longest name; 254 is too long.
  std::string name = label63 + "." + label63 + "." + label63 + "." + std::string(61, 'b');
  ASSERT_EQ(name.size(), 253u);
  EXPECT_TRUE(normalize_hostname(name).ok());
  EXPECT_TRUE(normalize_hostname(name + ".").ok());
  EXPECT_FALSE(normalize_hostname(name + "b").ok());
  EXPECT_FALSE(normalize_hostname(std::string(100000, 'a')).ok());
}

TEST(Hostname, RejectsMalformed) {
  for (const char* bad : {"", ".", "..", "a..b", ".a", "a.b..", "-a.com", "a-.com", "a.-b", "exa mple.com",
                          "a\\.b", "a/b", "a@b", "bücher.example", "a\tb", "a,b"}) {
    EXPECT_FALSE(normalize_hostname(bad).ok()) << bad;
  }
  EXPECT_FALSE(normalize_hostname(std::string_view("a\0b", 3)).ok());
  auto e = normalize_hostname("a b");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("0x20"), std::string::npos) << e.error().message;
}

TEST(Hostname, Numeric) {
  EXPECT_TRUE(is_numeric_hostname("192.0.2.1"));
  EXPECT_TRUE(is_numeric_hostname("1.2.3"));
  EXPECT_FALSE(is_numeric_hostname("1.2.3.a"));
  EXPECT_FALSE(is_numeric_hostname(""));
  EXPECT_FALSE(is_numeric_hostname("3com.com"));
}

TEST(Ip, ParsesStrictly) {
  ASSERT_TRUE(parse_ip("192.0.2.1"));
  EXPECT_TRUE(parse_ip("192.0.2.1")->is_v4());
  ASSERT_TRUE(parse_ip("2001:db8::1"));
  EXPECT_TRUE(parse_ip("2001:db8::1")->is_v6());
  EXPECT_TRUE(parse_ip("::ffff:192.0.2.1"));
  for (const char* bad : {"", "127.1", "1.2.3.4.5", "256.1.1.1", " 1.2.3.4", "1.2.3.4 ", "fe80::1%eth0",
                          "2001:db8::1::2", "example.com", "1.2.3.4:25", "[::1]"}) {
    EXPECT_FALSE(parse_ip(bad)) << bad;
  }
}

TEST(Ip, ReverseNames) {
  EXPECT_EQ(reverse_name(*parse_ip("192.0.2.10")), "10.2.0.192.in-addr.arpa");
  EXPECT_EQ(reverse_name(*parse_ip("::ffff:192.0.2.10")), "10.2.0.192.in-addr.arpa");
  EXPECT_EQ(reverse_name(*parse_ip("2001:db8::567:89ab")),
            "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
  EXPECT_EQ(reversed_under(*parse_ip("::ffff:192.0.2.10"), "zen.example"), "10.2.0.192.zen.example");
  EXPECT_EQ(reversed_under(*parse_ip("2001:db8::567:89ab"), "bl.example"),
            "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.example");
  EXPECT_TRUE(unmap(*parse_ip("::ffff:192.0.2.10")).is_v4());
  EXPECT_TRUE(unmap(*parse_ip("2001:db8::1")).is_v6());
}

TEST(Families, Parse) {
  EXPECT_EQ(*parse_families("all"), Families::All);
  EXPECT_EQ(*parse_families("ipv4"), Families::Ipv4);
  EXPECT_EQ(*parse_families("IPv6"), Families::Ipv6);
  EXPECT_EQ(*parse_families("ipv4, ipv6"), Families::All);
  EXPECT_FALSE(parse_families("").ok());
  EXPECT_FALSE(parse_families("ipv5").ok());
}

TEST(Outcome, PermanentOrNot) {
  EXPECT_FALSE(permanent(Outcome::Ok));
  EXPECT_FALSE(permanent(Outcome::TempFail));
  EXPECT_TRUE(permanent(Outcome::NotFound));
  EXPECT_TRUE(permanent(Outcome::NoData));
  EXPECT_TRUE(permanent(Outcome::NullMx));
  EXPECT_TRUE(permanent(Outcome::Invalid));
  EXPECT_EQ(to_string(Outcome::NullMx), "null MX");
}
