#include "base/strings.h"

#include <gtest/gtest.h>

using namespace postern;

TEST(Strings, SplitDropsEmptyFields) {
  auto v = str::split(" a, b,,c\n d ");
  ASSERT_EQ(v.size(), 4u);
  EXPECT_EQ(v[0], "a");
  EXPECT_EQ(v[3], "d");
}

TEST(Strings, ParseIntIsStrict) {
  EXPECT_EQ(str::parse_int("42"), 42);
  EXPECT_EQ(str::parse_int("-7"), -7);
  EXPECT_FALSE(str::parse_int(""));
  EXPECT_FALSE(str::parse_int("+1"));
  EXPECT_FALSE(str::parse_int("12x"));
  EXPECT_FALSE(str::parse_int("99999999999999999999999"));
  EXPECT_FALSE(str::parse_uint("-1"));
}

TEST(Strings, PrintableMasksControls) {
  EXPECT_EQ(str::printable(std::string("a\r\nb\0c", 6)), "a??b?c");
  EXPECT_EQ(str::printable("abcdef", 3), "abc");
}

TEST(Strings, UnescapeAsPostfixDoes) {
  EXPECT_EQ(str::unescape("\\t\\40!\\\"#"), "\t !\"#");
  EXPECT_EQ(str::unescape("a\\nb\\rc\\\\d"), "a\nb\rc\\d");
  EXPECT_EQ(str::unescape("\\101\\1012"), "AA2");  // at most three octal digits
  EXPECT_EQ(str::unescape("\\q"), "q");
  EXPECT_EQ(str::unescape("end\\"), "end\\");
  EXPECT_EQ(str::unescape("\\0x"), std::string("\0x", 2));
}
