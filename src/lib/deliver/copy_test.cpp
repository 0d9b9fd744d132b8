// copy_test.cpp - message formatting: From_ line, prepended headers, >From quoting, chunking.
#include "deliver/copy.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <memory>
#include <utility>
#include <vector>

#include "deliver/test_util.h"

namespace postern::deliver {
namespace {

using test::kTestTime;

// Pieces given explicitly: {"text", complete}.
ContentReader pieces(std::vector<std::pair<std::string, bool>> list) {
  auto data = std::make_shared<std::vector<std::pair<std::string, bool>>>(std::move(list));
  auto pos = std::make_shared<std::size_t>(0);
  return [data, pos](LinePiece& p) -> Result<bool> {
    if (*pos >= data->size()) return false;
    p.data = (*data)[*pos].first;
    p.complete = (*data)[*pos].second;
    ++*pos;
    return true;
  };
}

std::string format_all(const Envelope& env, const CopyOptions& o, ContentReader reader) {
  MessageFormatter f(env, o, reader);
  std::string all, chunk;
  for (;;) {
    auto more = f.next(chunk);
    EXPECT_TRUE(more.ok());
    if (!more.ok() || !*more) break;
    EXPECT_FALSE(chunk.empty());
    all += chunk;
  }
  EXPECT_EQ(f.bytes(), all.size());
  return all;
}

CopyOptions mbox_at_test_time() {
  CopyOptions o = CopyOptions::mbox();
  o.now = kTestTime;
  return o;
}

class CopyTest : public ::testing::Test {
 protected:
  void SetUp() override { test::use_utc(); }
};

TEST_F(CopyTest, FromLineDateIsAsctimeLayout) {
  EXPECT_EQ(from_line_date(kTestTime), "Mon Nov 23 17:32:24 2026");
  EXPECT_EQ(from_line_date(1793689324), "Tue Nov  3 07:02:04 2026");  // day padded with a space
}

TEST_F(CopyTest, MboxLayout) {
  Envelope env{"alice@example.org", "bob@example.com", "bob@example.com"};
  std::string out =
      format_all(env, mbox_at_test_time(),
                 string_content("Subject: hi\n\nFrom here on\n From not quoted\n>From kept\nFrom\nend\n"));
  EXPECT_EQ(out,
            "From alice@example.org  Mon Nov 23 17:32:24 2026\n"
            "Return-Path: <alice@example.org>\n"
            "X-Original-To: bob@example.com\n"
            "Delivered-To: bob@example.com\n"
            "Subject: hi\n"
            "\n"
            ">From here on\n"
            " From not quoted\n"
            ">From kept\n"
            "From\n"
            "end\n"
            "\n");
}

TEST_F(CopyTest, NullSenderIsMailerDaemon) {
  Envelope env{"", "", "bob@example.com"};
  std::string out = format_all(env, mbox_at_test_time(), string_content("x\n"));
  EXPECT_EQ(out,
            "From MAILER-DAEMON  Mon Nov 23 17:32:24 2026\n"
            "Return-Path: <>\n"
            "Delivered-To: bob@example.com\n"  // no X-Original-To: when unknown
            "x\n"
            "\n");
}

TEST_F(CopyTest, AddressesAreQuotedAndSanitized) {
  Envelope env{"john doe@example.org", "a\r\nBcc: evil@x@example.com", "c@example.com"};
  std::string out = format_all(env, mbox_at_test_time(), string_content(""));
  EXPECT_NE(out.find("From \"john doe\"@example.org  Mon"), std::string::npos) << out;
  EXPECT_NE(out.find("Return-Path: <\"john doe\"@example.org>\n"), std::string::npos) << out;
  // The CR LF cannot start a header of its own.
  EXPECT_EQ(out.find("\nBcc:"), std::string::npos) << out;
  EXPECT_NE(out.find("X-Original-To: "), std::string::npos);
}

TEST_F(CopyTest, QuotingLooksOnlyAtLineStarts) {
  // "Fr" + "om x" is one line that starts with "From ": quoted. A
  // continuation piece that happens to start with "From " is mid-line: not quoted.
  CopyOptions o = CopyOptions::mbox();
  o.now = kTestTime;
  o.from_line = o.return_path = o.delivered_to = o.blank_line = false;
  std::string out = format_all({}, o,
                               pieces({{"Fr", false},
                                       {"om x", true},
                                       {"abc", false},
                                       {"From y", true},
                                       {"From ", false},
                                       {"z", true},
                                       {"", false},
                                       {"F", false},
                                       {"rom w", true}}));
  EXPECT_EQ(out, ">From x\nabcFrom y\n>From z\n>From w\n");
}

TEST_F(CopyTest, EmbeddedLineBreaksCannotSmuggleFromLines) {
  CopyOptions o;
  o.quote_from = true;
  EXPECT_EQ(
      format_all(
          {}, o,
          pieces({{"ok\nFrom evil@x  Mon Nov 23 17:32:24 2026", true}, {"x\nFrom ", false}, {"y", true}})),
      "ok\n>From evil@x  Mon Nov 23 17:32:24 2026\nx\n>From y\n");
}

TEST_F(CopyTest, ShortPartialLineAtEndIsFlushedAndTerminated) {
  CopyOptions o;
  o.quote_from = true;
  o.blank_line = true;
  EXPECT_EQ(format_all({}, o, pieces({{"Fr", false}})), "Fr\n\n");
  EXPECT_EQ(format_all({}, o, pieces({{"no newline", false}})), "no newline\n\n");
  EXPECT_EQ(format_all({}, o, string_content("last line without LF")), "last line without LF\n\n");
}

TEST_F(CopyTest, MaildirAndCommandPresets) {
  Envelope env{"a@x", "b@y", "b@y"};
  std::string maildir = format_all(env, CopyOptions::maildir(), string_content("From me\r\nbody\r\n"));
  EXPECT_EQ(maildir, "Return-Path: <a@x>\nX-Original-To: b@y\nDelivered-To: b@y\nFrom me\nbody\n");
  CopyOptions cmd = CopyOptions::command();
  cmd.now = kTestTime;
  EXPECT_EQ(format_all(env, cmd, string_content("body\n")),
            "From a@x  Mon Nov 23 17:32:24 2026\nReturn-Path: <a@x>\nX-Original-To: b@y\nDelivered-To: "
            "b@y\nbody\n");
}

TEST_F(CopyTest, DotStuffingAndCrlf) {
  CopyOptions o;
  o.dot_stuff = true;
  o.eol = "\r\n";
  EXPECT_EQ(format_all({}, o, string_content(".\n..x\nnormal\n")), "..\r\n...x\r\nnormal\r\n");
}

TEST_F(CopyTest, EmptyMessageWithoutHeadersProducesNothing) {
  CopyOptions o;
  std::string chunk;
  ContentReader r = string_content("");
  MessageFormatter f({}, o, r);
  auto more = f.next(chunk);
  ASSERT_TRUE(more.ok());
  EXPECT_FALSE(*more);
  more = f.next(chunk);  // still finished
  ASSERT_TRUE(more.ok());
  EXPECT_FALSE(*more);
}

TEST_F(CopyTest, LargeMessageComesInBoundedChunks) {
  std::string body;
  for (int i = 0; i < 20000; ++i) body += "line " + std::to_string(i) + " of a long message body\n";
  ContentReader r = string_content(body);
  CopyOptions o;  // no decoration: output == input
  MessageFormatter f({}, o, r);
  std::string all, chunk;
  std::size_t chunks = 0;
  for (;;) {
    auto more = f.next(chunk);
    ASSERT_TRUE(more.ok());
    if (!*more) break;
    EXPECT_LE(chunk.size(), 64u * 1024 + 64);
    all += chunk;
    ++chunks;
  }
  EXPECT_EQ(all, body);
  EXPECT_GT(chunks, 5u);
}

TEST_F(CopyTest, ReaderErrorsPropagate) {
  int calls = 0;
  ContentReader r = [&calls](LinePiece& p) -> Result<bool> {
    if (++calls > 2) return Error{"queue file read error", EIO};
    p.data = "ok";
    p.complete = true;
    return true;
  };
  MessageFormatter f({}, CopyOptions{}, r);
  std::string chunk;
  auto more = f.next(chunk);
  ASSERT_FALSE(more.ok());
  EXPECT_EQ(more.error().sys_errno, EIO);

  Outcome o = read_error_outcome(Error{"x", EIO});
  EXPECT_TRUE(o.is_bounced());
  EXPECT_EQ(o.dsn, "5.3.0");
  EXPECT_EQ(o.text, "error reading message: x");
  EXPECT_TRUE(read_error_outcome(Error{"x", EAGAIN}).is_deferred());
  EXPECT_TRUE(read_error_outcome(Error{"corrupt", EBADMSG}).is_deferred());
}

}  // namespace
}  // namespace postern::deliver
