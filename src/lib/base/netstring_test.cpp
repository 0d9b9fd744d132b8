#include "base/netstring.h"

#include <gtest/gtest.h>

namespace postern {
namespace {

TEST(Netstring, EncodeAndParse) {
  EXPECT_EQ(netstring("abc"), "3:abc,");
  EXPECT_EQ(netstring(""), "0:,");
  EXPECT_EQ(parse_netstring("3:abc,", 10)->payload, "abc");
  EXPECT_EQ(parse_netstring("3:abc,", 10)->used, 6u);
  EXPECT_EQ(parse_netstring("0:,", 10)->payload, "");
  EXPECT_EQ(parse_netstring("3:abc,4:more,", 10)->used, 6u);  // only the first
}

TEST(Netstring, IncompleteIsNoError) {
  EXPECT_EQ(parse_netstring("", 10)->used, 0u);
  EXPECT_EQ(parse_netstring("3:ab", 10)->used, 0u);
  EXPECT_EQ(parse_netstring("3:abc", 10)->used, 0u);
  EXPECT_EQ(parse_netstring("12", 100)->used, 0u);
  EXPECT_EQ(parse_netstring_length("12", 100)->used, 0u);
}

TEST(Netstring, Malformed) {
  EXPECT_FALSE(parse_netstring("123", 100));  // more digits than 100 needs
  EXPECT_FALSE(parse_netstring("11:", 10));   // over the bound, before the payload
  EXPECT_FALSE(parse_netstring(":abc", 10));
  EXPECT_FALSE(parse_netstring("3;abc,", 10));
  EXPECT_FALSE(parse_netstring("3:abcd", 10));
  EXPECT_FALSE(parse_netstring("-3:abc,", 10));
  EXPECT_FALSE(parse_netstring("00000000000000000000003:abc,", 10));  // digits beyond any bound
}

TEST(Netstring, LengthPrefixAlone) {
  auto l = parse_netstring_length("42:rest", 100);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->length, 42u);
  EXPECT_EQ(l->used, 3u);
  EXPECT_FALSE(parse_netstring_length("101:", 100));
  EXPECT_FALSE(parse_netstring_length("x:", 100));
}

}  // namespace
}  // namespace postern
