// reply_parser_test.cpp - client-side reply parsing: framing, limits, malformed input.
#include "smtp/reply_parser.h"

#include <gtest/gtest.h>

#include <string>

namespace postern::smtp {
namespace {

ParsedReply one(std::string_view wire, ReplyLimits limits = {}) {
  ReplyParser p(limits);
  auto st = p.feed(wire);
  EXPECT_TRUE(st.ok()) << (st.ok() ? "" : st.error().message);
  auto r = p.next();
  EXPECT_TRUE(r.has_value()) << "no complete reply in: " << wire;
  EXPECT_FALSE(p.next().has_value());
  return r.value_or(ParsedReply{});
}

std::string failure(std::string_view wire, ReplyLimits limits = {}) {
  ReplyParser p(limits);
  auto st = p.feed(wire);
  EXPECT_FALSE(st.ok()) << "accepted: " << wire;
  EXPECT_TRUE(p.failed());
  return st.ok() ? "" : st.error().message;
}

TEST(ReplyParser, SingleLine) {
  ParsedReply r = one("250 2.1.0 Ok\r\n");
  EXPECT_EQ(r.reply.code, 250);
  EXPECT_EQ(r.reply.enhanced, "2.1.0");
  EXPECT_EQ(r.reply.lines, (std::vector<std::string>{"Ok"}));
  EXPECT_FALSE(r.truncated);
}

TEST(ReplyParser, NoEnhancedCode) {
  ParsedReply r = one("220 mx.example.com ESMTP ready\r\n");
  EXPECT_EQ(r.reply.enhanced, "");
  EXPECT_EQ(r.reply.lines, (std::vector<std::string>{"mx.example.com ESMTP ready"}));
  // A number that only looks like an enhanced code of another class stays text.
  EXPECT_EQ(one("250 5.0.0 x\r\n").reply.enhanced, "");
  EXPECT_EQ(one("250 2.0.0x\r\n").reply.lines[0], "2.0.0x");
  EXPECT_EQ(one("250 2.0.0\r\n").reply.enhanced, "2.0.0");
  EXPECT_EQ(one("250 2.0.0\r\n").reply.lines[0], "");
}

TEST(ReplyParser, CodeOnlyAndEmptyText) {
  ParsedReply r = one("250\r\n");
  EXPECT_EQ(r.reply.code, 250);
  EXPECT_EQ(r.reply.lines, (std::vector<std::string>{""}));
  EXPECT_EQ(one("250 \r\n").reply.lines[0], "");
  EXPECT_EQ(one("250-\r\n250 x\r\n").reply.lines, (std::vector<std::string>{"", "x"}));
}

TEST(ReplyParser, MultiLine) {
  ParsedReply r = one("250-mx.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 CHUNKING\r\n");
  EXPECT_EQ(r.reply.code, 250);
  EXPECT_EQ(r.reply.lines,
            (std::vector<std::string>{"mx.example.com", "PIPELINING", "SIZE 10240000", "CHUNKING"}));
  ParsedReply e = one("550-5.1.1 first\r\n550-5.1.1 second\r\n550 5.1.1 third\r\n");
  EXPECT_EQ(e.reply.enhanced, "5.1.1");
  EXPECT_EQ(e.reply.lines, (std::vector<std::string>{"first", "second", "third"}));
}

TEST(ReplyParser, BareLfAndSplitsAnywhere) {
  const std::string wire = "250-a\r\n250-b\n250 2.0.0 c\r\n354 go\r\n";
  for (std::size_t i = 0; i <= wire.size(); ++i) {
    ReplyParser p;
    ASSERT_TRUE(p.feed(wire.substr(0, i)).ok());
    ASSERT_TRUE(p.feed(wire.substr(i)).ok());
    auto a = p.next();
    auto b = p.next();
    ASSERT_TRUE(a && b) << i;
    EXPECT_EQ(a->reply.lines, (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_EQ(a->reply.enhanced, "2.0.0");
    EXPECT_EQ(b->reply.code, 354);
    EXPECT_FALSE(p.has_buffered_input());
  }
}

TEST(ReplyParser, PartialInputIsBuffered) {
  ReplyParser p;
  ASSERT_TRUE(p.feed("250-first\r\n250 sec").ok());
  EXPECT_FALSE(p.has_reply());
  EXPECT_TRUE(p.has_buffered_input());
  ASSERT_TRUE(p.feed("ond\r\n").ok());
  EXPECT_TRUE(p.has_reply());
  EXPECT_EQ(p.next()->reply.lines[1], "second");
}

TEST(ReplyParser, QueuedRepliesAfterStarttlsAreVisible) {
  ReplyParser p;
  ASSERT_TRUE(p.feed("220 2.0.0 Ready to start TLS\r\n250 injected\r\n").ok());
  ASSERT_TRUE(p.next());
  EXPECT_TRUE(p.has_buffered_input());  // the client must treat this as an attack
  p.reset();
  EXPECT_FALSE(p.has_buffered_input());
}

TEST(ReplyParser, MalformedLines) {
  for (std::string bad : {"25\r\n", "2500 x\r\n", "250x\r\n", "abc x\r\n", "150 x\r\n", "650 x\r\n",
                          "260 x\r\n", "\r\n", " 250 x\r\n", "250_x\r\n", "25a x\r\n"}) {
    EXPECT_NE(failure(bad), "") << bad;
  }
}

TEST(ReplyParser, MixedCodes) {
  EXPECT_NE(failure("250-a\r\n251 b\r\n").find("reply code changes"), std::string::npos);
  EXPECT_NE(failure("250-a\r\n550-b\r\n250 c\r\n"), "");
}

TEST(ReplyParser, LineFilterReplacesLinesBeforeTheyAreRead) {
  ReplyParser p;
  std::vector<std::string> seen;
  p.set_line_filter([&](std::string_view line) -> Result<std::optional<std::string>> {
    seen.emplace_back(line);
    if (line == "250OK") return std::optional<std::string>("250 2.1.5 fixed");
    if (line == "250-bad") return make_error("table unavailable");
    return std::optional<std::string>();
  });
  ASSERT_TRUE(p.feed("250OK\r\n250-a\r\n250 b\r\n").ok());
  auto r1 = p.next();
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->reply.enhanced, "2.1.5");
  EXPECT_EQ(r1->reply.lines, (std::vector<std::string>{"fixed"}));
  auto r2 = p.next();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->reply.lines, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(seen, (std::vector<std::string>{"250OK", "250-a", "250 b"}));
  // A lookup error is a sticky error of its own kind.
  EXPECT_FALSE(p.feed("250-bad\r\n").ok());
  EXPECT_TRUE(p.failed());
  EXPECT_TRUE(p.filter_failed());
  p.reset();
  EXPECT_FALSE(p.filter_failed());
  EXPECT_TRUE(p.feed("250 again\r\n").ok());  // the filter stays after reset()
  EXPECT_EQ(seen.back(), "250 again");
  // A malformed line is not a filter failure.
  ReplyParser q;
  EXPECT_FALSE(q.feed("25x\r\n").ok());
  EXPECT_FALSE(q.filter_failed());
}

TEST(ReplyParser, ErrorsAreSticky) {
  ReplyParser p;
  ASSERT_TRUE(p.feed("250 ok\r\n").ok());
  EXPECT_FALSE(p.feed("bad\r\n").ok());
  EXPECT_FALSE(p.feed("250 ok\r\n").ok());
  EXPECT_TRUE(p.next());   // the reply before the damage is still there
  EXPECT_FALSE(p.next());
}

TEST(ReplyParser, TooManyLines) {
  ReplyLimits l;
  l.max_lines = 3;
  EXPECT_TRUE(one("250-a\r\n250-b\r\n250 c\r\n", l).reply.lines.size() == 3);
  EXPECT_NE(failure("250-a\r\n250-b\r\n250-c\r\n250 d\r\n", l).find("too many lines"), std::string::npos);
}

TEST(ReplyParser, EndlessReplyHitsTheByteLimit) {
  ReplyLimits l;
  l.max_reply_bytes = 1000;
  l.max_lines = 1000000;
  ReplyParser p(l);
  Status st;
  int fed = 0;
  while (st.ok() && fed < 100000) {
    st = p.feed("250-more and more\r\n");
    ++fed;
  }
  EXPECT_FALSE(st.ok());
  EXPECT_LT(fed, 100);
  // A line without end is bounded the same way.
  ReplyParser q(l);
  Status s2;
  for (int i = 0; i < 1000 && s2.ok(); ++i) s2 = q.feed(std::string(100, 'x'));
  EXPECT_FALSE(s2.ok());
}

TEST(ReplyParser, LongLinesAreTruncated) {
  ReplyLimits l;
  l.max_line = 10;
  ParsedReply r = one("250-" + std::string(50, 'a') + "\r\n250 short\r\n", l);
  EXPECT_TRUE(r.truncated);
  EXPECT_EQ(r.reply.lines[0], std::string(6, 'a'));  // "250-" + 6 = 10 bytes
  EXPECT_EQ(r.reply.lines[1], "short");
  // Exactly at the limit, with CRLF split across feeds: not truncated.
  ReplyParser p(l);
  ASSERT_TRUE(p.feed("250 123456\r").ok());
  ASSERT_TRUE(p.feed("\n").ok());
  auto x = p.next();
  ASSERT_TRUE(x);
  EXPECT_FALSE(x->truncated);
  EXPECT_EQ(x->reply.lines[0], "123456");
}

TEST(ReplyParser, TooManyQueuedReplies) {
  ReplyLimits l;
  l.max_queued = 2;
  EXPECT_NE(failure("250 a\r\n250 b\r\n250 c\r\n", l), "");
}

TEST(ReplyParser, NonAsciiAndControlsInTextAreKept) {
  using namespace std::string_literals;
  ParsedReply r = one("550 5.7.1 caf\xc3\xa9 \x01 x\r\r\n"s);
  EXPECT_EQ(r.reply.lines[0], "caf\xc3\xa9 \x01 x\r");
}

TEST(ReplyParser, ObserverSeesEveryLineAsReadEvenAMalformedOne) {
  ReplyParser p;
  std::vector<std::string> seen;
  p.set_line_observer([&](std::string_view line) { seen.emplace_back(line); });
  p.set_line_filter([](std::string_view line) -> Result<std::optional<std::string>> {
    if (line == "250 old") return std::optional<std::string>("250 new");
    return std::optional<std::string>();
  });
  ASSERT_TRUE(p.feed("250-a\r\n250 old\r\n").ok());
  EXPECT_FALSE(p.feed("hello there\r\n").ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"250-a", "250 new", "hello there"}));
  p.reset();
  ASSERT_TRUE(p.feed("220 x\r\n").ok());
  EXPECT_EQ(seen.back(), "220 x");  // kept over reset()
}

}  // namespace
}  // namespace postern::smtp
