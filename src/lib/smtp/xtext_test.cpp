// xtext_test.cpp - RFC 3461 xtext decoding and encoding.
#include "smtp/xtext.h"

#include <gtest/gtest.h>

namespace postern::smtp {
namespace {

using namespace std::string_literals;

TEST(Xtext, Decode) {
  EXPECT_EQ(xtext_decode(""), "");
  EXPECT_EQ(xtext_decode("abc"), "abc");
  EXPECT_EQ(xtext_decode("a+2Bb+3Dc"), "a+b=c");
  EXPECT_EQ(xtext_decode("+2b+3d"), "+=");  // lower-case hex accepted
  EXPECT_EQ(xtext_decode("+00+0D+0A"), "\0\r\n"s);  // decoding does not judge; callers do
  EXPECT_EQ(xtext_decode("!~<>"), "!~<>");
  EXPECT_EQ(xtext_decode("j\xc3\xb6rg"), "j\xc3\xb6rg");  // UTF-8 passes (RFC 6533)
}

TEST(Xtext, DecodeRejects) {
  for (std::string bad : {"+"s, "+4"s, "a+"s, "+G0"s, "+0G"s, "a b"s, "a=b"s, "a\tb"s, "a\rb"s,
                          "\x7f"s, "\0"s}) {
    EXPECT_FALSE(xtext_decode(bad)) << bad;
  }
}

TEST(Xtext, Encode) {
  EXPECT_EQ(xtext_encode("abc"), "abc");
  EXPECT_EQ(xtext_encode("a+b=c d"), "a+2Bb+3Dc+20d");
  EXPECT_EQ(xtext_encode("\r\n\0"s), "+0D+0A+00");
  EXPECT_EQ(xtext_encode("\xc3\xa9"), "+C3+A9");
}

TEST(Xtext, RoundTripsEveryByte) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(char(c));
  auto back = xtext_decode(xtext_encode(all));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, all);
}

}  // namespace
}  // namespace postern::smtp
