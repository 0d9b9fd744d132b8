// xtext_test.cpp - RFC 3461 xtext encoding.
#include "mail/xtext.h"

#include <gtest/gtest.h>

#include <string>

using namespace postern::mail;

namespace {

// Reference decoder for the round-trip check (the production decoder lives
// in the SMTP library).
std::string decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+' && i + 2 < s.size()) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

TEST(Xtext, EncodesOnlyWhatMustBeEncoded) {
  EXPECT_EQ(xtext_encode("user@example.com"), "user@example.com");
  EXPECT_EQ(xtext_encode("a+b=c d"), "a+2Bb+3Dc+20d");
  EXPECT_EQ(xtext_encode(""), "");
  EXPECT_EQ(xtext_encode(std::string("\0\r\n\x7f\xff", 5)), "+00+0D+0A+7F+FF");
  EXPECT_EQ(xtext_encode("rfc822;\"john doe\"@example.com"), "rfc822;\"john+20doe\"@example.com");
  EXPECT_EQ(xtext_encode("!~"), "!~");
}

TEST(Xtext, OutputIsPrintableAndRoundTrips) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  std::string enc = xtext_encode(all);
  for (unsigned char c : enc) {
    EXPECT_GT(c, 0x20);
    EXPECT_LT(c, 0x7f);
    EXPECT_NE(c, '=');
  }
  EXPECT_EQ(decode(enc), all);
}
