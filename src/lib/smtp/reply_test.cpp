// reply_test.cpp - Reply wire formatting and EHLO keyword lists.
#include "smtp/reply.h"

#include <gtest/gtest.h>

#include <string>

#include "smtp/reply_parser.h"

namespace postern::smtp {
namespace {

std::vector<std::string> wire_lines(const std::string& wire) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < wire.size()) {
    std::size_t e = wire.find("\r\n", start);
    EXPECT_NE(e, std::string::npos) << "unterminated line";
    if (e == std::string::npos) break;
    out.push_back(wire.substr(start, e - start));
    start = e + 2;
  }
  return out;
}

TEST(Reply, SoftenTurnsPermanentIntoTemporary) {
  EXPECT_EQ(soften(Reply(554, "5.7.1", "Relay access denied")), Reply(454, "4.7.1", "Relay access denied"));
  EXPECT_EQ(soften(Reply(500, "5.5.2", "Error: command not recognized")).code, 400);
  EXPECT_EQ(soften(Reply(550, "", "no")), Reply(450, "", "no"));
  for (const auto& r : {Reply(250, "2.0.0", "Ok"), Reply(451, "4.3.0", "later"), Reply(354, "", "go")})
    EXPECT_EQ(soften(r), r);
}

TEST(Reply, SingleLine) {
  EXPECT_EQ(format_reply(Reply(250, "2.0.0", "Ok")), "250 2.0.0 Ok\r\n");
  EXPECT_EQ(format_reply(Reply(220, "", "mail.example.com ESMTP Postern")),
            "220 mail.example.com ESMTP Postern\r\n");
  EXPECT_EQ(format_reply(Reply(354, "", "End data with <CR><LF>.<CR><LF>")),
            "354 End data with <CR><LF>.<CR><LF>\r\n");
}

TEST(Reply, EmptyText) {
  EXPECT_EQ(format_reply(Reply(250, "", std::vector<std::string>{})), "250\r\n");
  EXPECT_EQ(format_reply(Reply(250, "2.0.0", "")), "250 2.0.0\r\n");
  EXPECT_EQ(format_reply(Reply(250, "", std::vector<std::string>{"", ""})), "250-\r\n250\r\n");
}

TEST(Reply, MultiLineCarriesCodeAndEnhancedOnEveryLine) {
  Reply r(550, "5.7.1", std::vector<std::string>{"first", "second", "third"});
  EXPECT_EQ(format_reply(r), "550-5.7.1 first\r\n550-5.7.1 second\r\n550 5.7.1 third\r\n");
}

TEST(Reply, EmbeddedLineBreaksStartNewLinesNeverRawCrLf) {
  Reply r(550, "5.1.1", "user unknown\r\n250 2.0.0 Ok: forged\nthird\rfourth");
  std::string wire = format_reply(r);
  EXPECT_EQ(wire,
            "550-5.1.1 user unknown\r\n550-5.1.1 250 2.0.0 Ok: forged\r\n550-5.1.1 third\r\n"
            "550 5.1.1 fourth\r\n");
  // A trailing break does not add an empty line.
  EXPECT_EQ(format_reply(Reply(250, "2.0.0", "Ok\r\n")), "250 2.0.0 Ok\r\n");
}

TEST(Reply, ControlCharactersAndBadUtf8AreReplaced) {
  using namespace std::string_literals;
  EXPECT_EQ(format_reply(Reply(550, "5.0.0", "a\0b\x01" "c\x7f" "d\te"s)), "550 5.0.0 a?b?c?d\te\r\n");
  EXPECT_EQ(format_reply(Reply(550, "5.0.0", "caf\xc3\xa9 \xff\xfe")), "550 5.0.0 caf\xc3\xa9 ??\r\n");
}

TEST(Reply, LongTextIsWrappedWithinTheLineLimit) {
  std::string words;
  for (int i = 0; i < 200; ++i) words += "word" + std::to_string(i) + " ";
  std::string wire = format_reply(Reply(550, "5.7.1", words));
  auto lines = wire_lines(wire);
  ASSERT_GT(lines.size(), 1u);
  std::string rejoined;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    EXPECT_LE(lines[i].size() + 2, kMaxReplyLine);
    EXPECT_EQ(lines[i].substr(0, 10), i + 1 == lines.size() ? "550 5.7.1 " : "550-5.7.1 ");
    if (i) rejoined += ' ';
    rejoined += lines[i].substr(10);
  }
  EXPECT_EQ(rejoined, words);  // wrapping only replaced spaces with line breaks
}

TEST(Reply, LongWordIsCutWithoutSplittingUtf8) {
  std::string word;
  for (int i = 0; i < 300; ++i) word += "\xc3\xa9";  // 600 bytes, no space
  // 101 leaves room for 89 text bytes: an odd cut that must back off by one.
  auto lines = wire_lines(format_reply(Reply(550, "5.7.1", word), 101));
  ASSERT_GT(lines.size(), 1u);
  std::string rejoined;
  for (auto& l : lines) {
    EXPECT_LE(l.size() + 2, 101u);
    std::string text = l.substr(10);
    EXPECT_EQ(text.size() % 2, 0u) << "UTF-8 sequence split";
    rejoined += text;
  }
  EXPECT_EQ(rejoined, word);
}

TEST(Reply, TinyLineLimitIsRaised) {
  auto lines = wire_lines(format_reply(Reply(250, "2.0.0", std::string(100, 'x')), 10));
  for (auto& l : lines) EXPECT_LE(l.size() + 2, 64u);
}

TEST(Reply, InvalidCodesAndEnhancedCodes) {
  EXPECT_EQ(format_reply(Reply(99, "", "x")), "451 4.3.0 Error: internal error\r\n");
  EXPECT_EQ(format_reply(Reply(600, "", "x")), "451 4.3.0 Error: internal error\r\n");
  EXPECT_EQ(format_reply(Reply(260, "", "x")), "451 4.3.0 Error: internal error\r\n");
  // Class digit must agree with the reply.
  EXPECT_EQ(format_reply(Reply(450, "5.7.1", "x")), "450 4.7.1 x\r\n");
  // Malformed enhanced codes are dropped, as are enhanced codes on 3xx.
  EXPECT_EQ(format_reply(Reply(550, "5.7", "x")), "550 x\r\n");
  EXPECT_EQ(format_reply(Reply(550, "5.1234.1", "x")), "550 x\r\n");
  EXPECT_EQ(format_reply(Reply(354, "2.0.0", "go ahead")), "354 go ahead\r\n");
}

TEST(Reply, Validators) {
  EXPECT_TRUE(valid_reply_code(250));
  EXPECT_TRUE(valid_reply_code(554));
  EXPECT_FALSE(valid_reply_code(199));
  EXPECT_FALSE(valid_reply_code(560));
  EXPECT_TRUE(valid_enhanced_code("2.0.0"));
  EXPECT_TRUE(valid_enhanced_code("5.123.456"));
  EXPECT_FALSE(valid_enhanced_code("3.0.0"));
  EXPECT_FALSE(valid_enhanced_code("5.0"));
  EXPECT_FALSE(valid_enhanced_code("5..0"));
  EXPECT_FALSE(valid_enhanced_code("5.0.0 "));
  EXPECT_FALSE(valid_enhanced_code("5.0.1000"));
}

TEST(Reply, Accessors) {
  Reply r(451, "4.3.0", std::vector<std::string>{"a", "b"});
  EXPECT_TRUE(r.transient());
  EXPECT_FALSE(r.permanent());
  EXPECT_FALSE(r.positive());
  EXPECT_EQ(r.klass(), 4);
  EXPECT_EQ(r.text(), "a b");
  EXPECT_EQ(r.to_string(), "451 4.3.0 a b");
  EXPECT_TRUE(Reply(354, "", "x").positive());
}

TEST(Reply, FormattedRepliesParseBack) {
  for (const Reply& r : {Reply(250, "2.0.0", "Ok"),
                         Reply(550, "5.7.1", std::vector<std::string>{"one", "two", "three"}),
                         Reply(221, "", "Bye")}) {
    ReplyParser p;
    ASSERT_TRUE(p.feed(format_reply(r)).ok());
    auto back = p.next();
    ASSERT_TRUE(back);
    EXPECT_EQ(back->reply, r);
  }
}

TEST(Ehlo, PostfixOrderAndOptions) {
  EhloFeatures f;
  f.size = 10240000;
  f.starttls = true;
  f.auth_mechanisms = {"PLAIN", "LOGIN"};
  f.auth_broken_clients = true;
  f.xclient_attributes = {"NAME", "ADDR"};
  auto k = ehlo_keywords(f);
  std::vector<std::string> want = {"PIPELINING", "SIZE 10240000", "VRFY", "ETRN", "STARTTLS",
                                   "AUTH PLAIN LOGIN", "AUTH=PLAIN LOGIN", "XCLIENT NAME ADDR",
                                   "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING"};
  EXPECT_EQ(k, want);

  EhloFeatures unlimited;
  unlimited.size = 0;
  EXPECT_EQ(ehlo_keywords(unlimited)[1], "SIZE");
  EhloFeatures nosize;
  EXPECT_EQ(ehlo_keywords(nosize)[1], "VRFY");
}

TEST(Ehlo, DiscardKeywords) {
  EhloFeatures f;
  f.size = 1000;
  f.auth_mechanisms = {"PLAIN"};
  f.auth_broken_clients = true;
  f.discard = {"silent-discard", "PIPELINING", " dsn", "auth", "Size", "chunking"};
  std::vector<std::string> want = {"VRFY", "ETRN", "ENHANCEDSTATUSCODES", "8BITMIME", "SMTPUTF8"};
  EXPECT_EQ(ehlo_keywords(f), want);
  EXPECT_TRUE(ehlo_keyword_discarded("AUTH=PLAIN", {"auth"}));
  EXPECT_FALSE(ehlo_keyword_discarded("AUTH PLAIN", {"authx"}));
}

TEST(Ehlo, ReplyHasNoEnhancedCodes) {
  std::string wire = format_reply(ehlo_reply("mx.example.com", {"PIPELINING", "SIZE 1000", "CHUNKING"}));
  EXPECT_EQ(wire, "250-mx.example.com\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 CHUNKING\r\n");
  EXPECT_EQ(format_reply(ehlo_reply("mx.example.com", {})), "250 mx.example.com\r\n");
}

}  // namespace
}  // namespace postern::smtp
