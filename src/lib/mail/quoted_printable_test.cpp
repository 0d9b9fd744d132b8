// quoted_printable_test.cpp - the downgrade encoder's lines.
#include "mail/quoted_printable.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace postern::mail {
namespace {

std::vector<std::string> encode(const std::vector<std::pair<std::string, bool>>& pieces) {
  QuotedPrintableEncoder e;
  std::vector<std::string> out;
  for (const auto& [data, end] : pieces) e.put(data, end, [&](std::string_view l) { out.emplace_back(l); });
  EXPECT_FALSE(e.pending());
  return out;
}

// RFC 2045 6.7 decoding of the lines of one input line.
std::string decode(const std::vector<std::string>& lines) {
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    std::size_t n = l.size();
    const bool soft = n > 0 && l[n - 1] == '=' && (n < 3 || l[n - 3] != '=');
    if (soft) --n;
    for (std::size_t k = 0; k < n; ++k) {
      if (l[k] == '=' && k + 2 < n + 1 && k + 2 <= n) {
        out += static_cast<char>(std::stoi(l.substr(k + 1, 2), nullptr, 16));
        k += 2;
      } else {
        out += l[k];
      }
    }
    if (!soft && i + 1 != lines.size()) ADD_FAILURE() << "hard break inside one input line: " << l;
  }
  return out;
}

TEST(QuotedPrintable, EncodesWhatIsNotPlainAscii) {
  auto out = encode({{"Gr\xc3\xbc\xc3\x9f" "e = ok\tfine\r", true}});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], "Gr=C3=BC=C3=9Fe =3D ok\tfine=0D");
}

TEST(QuotedPrintable, TrailingBlankIsEncodedEmptyLineStays) {
  EXPECT_EQ(encode({{"end ", true}}), std::vector<std::string>{"end=20"});
  EXPECT_EQ(encode({{"end\t", true}}), std::vector<std::string>{"end=09"});
  EXPECT_EQ(encode({{"", true}}), std::vector<std::string>{""});
  // Only the last one: the others are followed by text.
  EXPECT_EQ(encode({{" a  ", true}}), std::vector<std::string>{" a =20"});
}

TEST(QuotedPrintable, SoftBreaksPastSeventyTwo) {
  auto out = encode({{std::string(80, 'a'), true}});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], std::string(73, 'a') + "=");
  EXPECT_EQ(out[1], std::string(7, 'a'));
  // An encoded byte at the edge: the line may reach 75 before the "=".
  out = encode({{std::string(72, 'a') + "\xff" + "b", true}});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], std::string(72, 'a') + "=FF=");
  EXPECT_EQ(out[1], "b");
}

TEST(QuotedPrintable, PiecesGiveTheSameLinesAsTheWholeLine) {
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::string line(rng() % 400, '\0');
    for (auto& c : line) c = static_cast<char>(rng() % 256);
    std::vector<std::pair<std::string, bool>> pieces;
    for (std::size_t at = 0; at < line.size();) {
      std::size_t n = std::min<std::size_t>(line.size() - at, 1 + rng() % 50);
      pieces.emplace_back(line.substr(at, n), false);
      at += n;
    }
    pieces.emplace_back("", true);
    auto whole = encode({{line, true}});
    EXPECT_EQ(encode(pieces), whole);
    for (const auto& l : whole) {
      EXPECT_LE(l.size(), 76u);
      for (char c : l) EXPECT_TRUE(c == '\t' || (c >= 32 && c <= 126)) << static_cast<int>(c);
      if (!l.empty()) EXPECT_NE(l.back(), ' ');
    }
    EXPECT_EQ(decode(whole), line);
  }
}

}  // namespace
}  // namespace postern::mail
