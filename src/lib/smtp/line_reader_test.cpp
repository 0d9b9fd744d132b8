// line_reader_test.cpp - command line splitting, bare LF, over-long lines, handing off buffers.
#include "smtp/line_reader.h"

#include <gtest/gtest.h>

namespace postern::smtp {
namespace {

TEST(LineReader, CrLfAndBareLf) {
  LineReader r;
  r.feed("EHLO a\r\nNOOP\nMAIL FROM:<a@b>\r");
  auto a = r.next();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->text, "EHLO a");
  EXPECT_EQ(a->ending, LineEnding::CrLf);
  auto b = r.next();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->text, "NOOP");
  EXPECT_EQ(b->ending, LineEnding::BareLf);
  EXPECT_FALSE(r.next());
  EXPECT_EQ(r.buffered(), 16u);
  r.feed("\n");
  auto c = r.next();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->text, "MAIL FROM:<a@b>");
  EXPECT_EQ(c->ending, LineEnding::CrLf);
  EXPECT_EQ(r.buffered(), 0u);
}

TEST(LineReader, InnerCrStaysInTheText) {
  LineReader r;
  r.feed("NOOP\rQUIT\r\r\n");
  auto a = r.next();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->text, "NOOP\rQUIT\r");  // parse_command() rejects the bare CR
}

TEST(LineReader, BufferedCountsPipelinedInput) {
  LineReader r;
  r.feed("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n");
  ASSERT_TRUE(r.next());
  EXPECT_EQ(r.buffered(), 21u);
  ASSERT_TRUE(r.next());
  ASSERT_TRUE(r.next());
  EXPECT_EQ(r.buffered(), 0u);
}

TEST(LineReader, TakeBufferedHandsOffData) {
  LineReader r;
  r.feed("DATA\r\nSubject: x\r\n");
  ASSERT_EQ(r.next()->text, "DATA");
  EXPECT_EQ(r.take_buffered(), "Subject: x\r\n");
  EXPECT_EQ(r.buffered(), 0u);
  EXPECT_FALSE(r.next());
  r.feed("QUIT\r\n");
  EXPECT_EQ(r.next()->text, "QUIT");
}

TEST(LineReader, OverlongLineIsTruncatedAndTheRestDropped) {
  LineReader r(10);
  r.feed("NOOP " + std::string(20, 'x'));
  EXPECT_FALSE(r.next());
  EXPECT_LE(r.buffered(), 10u);  // memory stays bounded
  for (int i = 0; i < 1000; ++i) {
    r.feed(std::string(1000, 'y'));
    EXPECT_FALSE(r.next());
    EXPECT_LE(r.buffered(), 10u);
  }
  r.feed("zz\r\nQUIT\r\n");
  auto a = r.next();
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->truncated);
  EXPECT_EQ(a->text, "NOOP xxxxx");
  EXPECT_EQ(a->ending, LineEnding::CrLf);
  auto b = r.next();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->text, "QUIT");
  EXPECT_FALSE(b->truncated);
}

TEST(LineReader, OverlongLineInOneFeed) {
  LineReader r(4);
  r.feed("abcdefgh\nok\r\n");
  auto a = r.next();
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->truncated);
  EXPECT_EQ(a->text, "abcd");
  EXPECT_EQ(a->ending, LineEnding::BareLf);
  EXPECT_EQ(r.next()->text, "ok");
}

TEST(LineReader, LineAtTheLimitIsNotTruncated) {
  LineReader r(4);
  r.feed("abcd\r");
  EXPECT_FALSE(r.next());
  r.feed("\n");
  auto a = r.next();
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->truncated);
  EXPECT_EQ(a->text, "abcd");
  EXPECT_EQ(a->ending, LineEnding::CrLf);
}

TEST(LineReader, TruncatedLineEndingWithCrSplitAcrossFeeds) {
  LineReader r(4);
  r.feed("abcdefg\r");
  EXPECT_FALSE(r.next());
  r.feed("\n");
  auto a = r.next();
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->truncated);
  EXPECT_EQ(a->ending, LineEnding::CrLf);
}

TEST(LineReader, Clear) {
  LineReader r;
  r.feed("STARTTLS\r\nMAIL FROM:<injected@x>\r\n");
  ASSERT_EQ(r.next()->text, "STARTTLS");
  EXPECT_GT(r.buffered(), 0u);
  r.clear();  // plaintext behind STARTTLS is discarded
  EXPECT_EQ(r.buffered(), 0u);
  EXPECT_FALSE(r.next());
}

}  // namespace
}  // namespace postern::smtp
