// queue_id_test.cpp - QueueId parsing, building and canonical form.
#include "queue/queue_id.h"

#include <gtest/gtest.h>

#include <cctype>
#include <set>

namespace postern::queue {
namespace {

TEST(QueueId, ShortFormatMatchesPostfix) {
  auto id = QueueId::make(IdFormat::Short, 1700000000, 0x3F2A1, 0xC0D2);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->str(), "3F2A1C0D2");
  EXPECT_FALSE(id->is_long());
  EXPECT_EQ(id->hash_part(), "3F2A1");
  EXPECT_EQ(id->inode(), 0xC0D2u);
  EXPECT_EQ(id->microseconds(), 0x3F2A1u);
  EXPECT_FALSE(id->seconds().has_value());
  // Microseconds are zero padded to five digits.
  auto small = QueueId::make(IdFormat::Short, 0, 7, 1);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->str(), "000071");
}

TEST(QueueId, LongFormatMatchesPostfixEncoding) {
  // seconds 0 -> "000000", usec 51 -> "000z" (51 is the last safe char),
  // inode 1 -> "1".
  auto a = QueueId::make(IdFormat::Long, 0, 51, 1);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->str(), "000000000zz1");
  // 52 = "10" in base 52; inode 51 = "10" in base 51; 50 = 'y'.
  auto b = QueueId::make(IdFormat::Long, 52, 52, 51);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->str(), "0000100010z10");
  auto c = QueueId::make(IdFormat::Long, 1700000000, 999999, 50);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->is_long());
  EXPECT_EQ(c->seconds(), 1700000000);
  EXPECT_EQ(c->microseconds(), 999999u);
  EXPECT_EQ(c->str().back(), 'y');
  // Hash part is the microseconds in hex, like short IDs.
  EXPECT_EQ(c->hash_part(), "F423F");
}

TEST(QueueId, ParseRoundTrip) {
  for (auto fmt : {IdFormat::Short, IdFormat::Long}) {
    for (std::uint64_t inode : {1ull, 15ull, 16ull, 51ull, 52ull, 123456789ull, 0xFFFFFFFFFFFFFFFFull}) {
      for (std::uint32_t usec : {0u, 1u, 51u, 52u, 500000u, 999999u}) {
        auto id = QueueId::make(fmt, 1712345678, usec, inode);
        ASSERT_TRUE(id.ok());
        auto p = QueueId::parse(id->str());
        ASSERT_TRUE(p.ok()) << id->str() << ": " << p.error().message;
        EXPECT_EQ(*p, *id);
        EXPECT_EQ(p->inode(), inode);
        EXPECT_EQ(p->microseconds(), usec);
        EXPECT_EQ(p->format(), fmt);
        if (fmt == IdFormat::Long) {
          EXPECT_EQ(p->seconds(), 1712345678);
        }
      }
    }
  }
}

TEST(QueueId, RejectsUnsafeAndMalformed) {
  for (std::string_view bad : {
           "",
           "../x",
           "..",
           ".",
           "3F2A1/C0D2",
           "3f2a1c0d2",  // lower case is not a short ID
           "3F2A1",
           "3F2A",      // no inode part
           "3F2A10",    // inode 0 / leading zero
           "3F2A10D2",  // leading zero in inode
           "FFFFF1",    // usec > 999999
           "3F2A1C0D2 ",
           " 3F2A1C0D2",
           "3F2A1\nC0D2",
           "3F2A1-C0D2",
           "tmp.123.4.5",
           "3F2A1FFFFFFFFFFFFFFFFF",  // inode over 64 bits
           "000000000zz",
           "000000000z",     // no inode after z
           "00000000zz1",    // time part too short
           "000000000zz0",   // inode 0
           "000000000zz01",  // leading zero
           "000000000zz1a",
           "000000000zzE1",     // vowels are not in the alphabet
           "0000000000000zz1",  // time part too wide
           "100000000000zz1",   // 9 second digits
           "000000zzzzz1",      // usec > 999999
           "1000000000zz1\xff",
       }) {
    EXPECT_FALSE(QueueId::parse(bad).ok()) << "accepted: " << bad;
  }
  // A long ID with a 7-character seconds part must not start with '0'.
  EXPECT_FALSE(QueueId::parse("00000000000zz1").ok());
  EXPECT_TRUE(QueueId::parse("10000000000zz1").ok());
}

TEST(QueueId, DocumentedExamplesParse) {
  // queue_id.h and docs/queue-file.md use these.
  for (std::string_view ok : {"3F2A1C0D2", "4Ztk5Y1Bsbz3Hj", "4ZtkQ90Bsbz3Hj"}) {
    auto id = QueueId::parse(ok);
    EXPECT_TRUE(id.ok()) << ok << ": " << id.error().message;
  }
  EXPECT_EQ(QueueId::parse("3F2A1C0D2")->hash_part(), "3F2A1");
}

TEST(QueueId, ErrorsArePrintable) {
  auto r = QueueId::parse("bad\n\x01name");
  ASSERT_FALSE(r.ok());
  for (char c : r.error().message) EXPECT_TRUE(c >= 0x20 && c < 0x7f);
}

TEST(QueueId, MakeRejectsOutOfRange) {
  EXPECT_FALSE(QueueId::make(IdFormat::Short, 0, 1000000, 1).ok());
  EXPECT_FALSE(QueueId::make(IdFormat::Short, 0, 1, 0).ok());
  EXPECT_FALSE(QueueId::make(IdFormat::Long, -1, 1, 1).ok());
  EXPECT_FALSE(QueueId::make(IdFormat::Long, 60000000000000, 1, 1).ok());
}

TEST(QueueId, ValidIdsAreSafeFileNames) {
  std::set<std::string> seen;
  for (std::uint64_t i = 1; i < 2000; ++i) {
    for (auto fmt : {IdFormat::Short, IdFormat::Long}) {
      auto id = QueueId::make(fmt, 1700000000 + static_cast<std::int64_t>(i),
                              static_cast<std::uint32_t>(i * 499), i * 7919);
      ASSERT_TRUE(id.ok());
      for (char c : id->str()) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c))) << id->str();
      EXPECT_LE(id->str().size(), QueueId::kMaxLength);
      EXPECT_TRUE(seen.insert(id->str()).second);
    }
  }
}

}  // namespace
}  // namespace postern::queue
