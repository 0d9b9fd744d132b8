// cidr_table_test.cpp - cidr: tables; warnings are the ones Postfix 3.7 prints.
#include <gtest/gtest.h>

#include <sstream>

#include "maps/test_support.h"
#include "maps/text_tables.h"

namespace postern::maps {
namespace {

using testing::get;

std::unique_ptr<Table> cidr(const std::string& text) {
  std::istringstream in(text);
  return parse_cidr_table("c", in, testing::quiet());
}

TEST(CidrTable, PrefixesAddressesAndFamilies) {
  auto t = cidr(
      "192.168.1.1        exact\n"
      "192.168.0.0/16     net16\n"
      "[2001:db8::]/32    v6\n"
      "[192.0.2.0/24]     bracketed\n"
      "10.0.0.0/8         ten\n"
      "::/0               anyv6\n"
      "0.0.0.0/0          any\n");
  EXPECT_EQ(get(*t, "192.168.1.1"), "exact");
  EXPECT_EQ(get(*t, "192.168.1.2"), "net16");
  EXPECT_EQ(get(*t, "2001:DB8::5"), "v6");
  EXPECT_EQ(get(*t, "192.0.2.77"), "bracketed");
  EXPECT_EQ(get(*t, "10.255.255.255"), "ten");
  EXPECT_EQ(get(*t, "::1"), "anyv6");
  EXPECT_EQ(get(*t, "::ffff:10.1.1.1"), "anyv6");  // IPv6 key, IPv4 rules do not apply
  EXPECT_EQ(get(*t, "8.8.8.8"), "any");
  EXPECT_FALSE(t->fixed());
  EXPECT_TRUE(t->warnings().empty());
}

TEST(CidrTable, NonAddressKeysAreNotFound) {
  auto t = cidr("0.0.0.0/0 any\n::/0 anyv6\n");
  for (const char* k :
       {"bogus", "", "1.2.3", "01.2.3.4", "[1.2.3.4]", "1.2.3.4 ", "fe80::1%eth0", "300.1.1.1"})
    EXPECT_EQ(get(*t, k), "<none>") << k;
}

TEST(CidrTable, NegationAndIfEndif) {
  auto t = cidr(
      "if 10.0.0.0/8\n"
      "10.1.0.0/16    in-10-1\n"
      "!10.2.0.0/16   not-10-2\n"
      "endif\n"
      "if !192.168.0.0/16\n"
      "if ::/0\n"
      "::1            never-for-v4-block\n"
      "endif\n"
      "172.16.0.1     outside-192-168\n"
      "endif\n"
      "!  ! 7.7.7.7   double-negation\n"
      "IF 8.0.0.0/8\n"
      "EndIf\n"
      "0.0.0.0/0      any\n");
  EXPECT_EQ(get(*t, "10.1.2.3"), "in-10-1");
  EXPECT_EQ(get(*t, "10.3.0.1"), "not-10-2");
  EXPECT_EQ(get(*t, "10.2.0.1"), "any");
  EXPECT_EQ(get(*t, "172.16.0.1"), "outside-192-168");
  EXPECT_EQ(get(*t, "7.7.7.7"), "double-negation");
  EXPECT_EQ(get(*t, "8.1.1.1"), "any");
  // An "if" of the other family skips its block.
  EXPECT_EQ(get(*t, "::1"), "<none>");
  EXPECT_TRUE(t->warnings().empty());
}

TEST(CidrTable, BadRulesAreSkippedWithPostfixWarnings) {
  auto t = cidr(
      "1.2.3.5/24 host-bits\n"
      "1.2.3.0/33 a\n"
      "1.2.3.0/ b\n"
      "1.2.3/24 c\n"
      "[1.2.3.4 d\n"
      "[1.2.3.4]x e\n"
      "! f\n"
      "::1/129 g\n"
      "1.2.3.4/24/1 h\n"
      "300.1.1.1 i\n"
      "1.2.3.4\n"
      "endif\n"
      "if\n"
      "if 1.2.3.0/24 extra\n"
      "endif junk\n"
      "ifx 1.1.1.1\n"
      "2001:db8::1/64 j\n"
      "1.2.3.0/024 ok\n");
  std::vector<std::string> want = {
      "cidr map c, line 1: non-null host address bits in \"1.2.3.5/24\", perhaps you should use "
      "\"1.2.3.0/24\" "
      "instead: skipping this rule",
      "cidr map c, line 2: bad mask length in \"1.2.3.0/33\": skipping this rule",
      "cidr map c, line 3: bad mask value in \"1.2.3.0/\": skipping this rule",
      "cidr map c, line 4: bad network value in \"1.2.3/24\": skipping this rule",
      "cidr map c, line 5: missing ']' character after \"[1.2.3.4\": skipping this rule",
      "cidr map c, line 6: garbage after \"[1.2.3.4]\": skipping this rule",
      "cidr map c, line 7: bad address pattern: \"f\": skipping this rule",
      "cidr map c, line 8: bad mask length in \"::1/129\": skipping this rule",
      "cidr map c, line 9: bad mask value in \"1.2.3.4/24/1\": skipping this rule",
      "cidr map c, line 10: bad address pattern: \"300.1.1.1\": skipping this rule",
      "cidr map c, line 11: no lookup result: skipping this rule",
      "cidr map c, line 12: ENDIF without IF: skipping this rule",
      "cidr map c, line 13: no address pattern: skipping this rule",
      "cidr map c, line 14: bad mask value in \"1.2.3.0/24 extra\": skipping this rule",
      "cidr map c, line 15: garbage after ENDIF: skipping this rule",
      "cidr map c, line 16: bad address pattern: \"ifx\": skipping this rule",
      "cidr map c, line 17: non-null host address bits in \"2001:db8::1/64\", perhaps you should use "
      "\"2001:db8::/64\" instead: skipping this rule",
  };
  EXPECT_EQ(t->warnings(), want);
  EXPECT_EQ(get(*t, "1.2.3.9"), "ok");
}

TEST(CidrTable, UnclosedIf) {
  auto t = cidr("if 1.0.0.0/8\n1.1.1.1 a\n");
  EXPECT_EQ(get(*t, "1.1.1.1"), "a");
  EXPECT_EQ(get(*t, "2.2.2.2"), "<none>");
  ASSERT_EQ(t->warnings().size(), 1u);
  EXPECT_EQ(t->warnings()[0], "cidr map c, line 1: IF has no matching ENDIF");
}

}  // namespace
}  // namespace postern::maps
