// header_test.cpp - header section streaming, classification, size limits.
#include "mail/header.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace postern::mail;

namespace {

// Feed lines and record what happened, in order, as readable strings.
struct Trace {
  std::vector<std::string> events;
  std::vector<Header> headers;
};

Trace run(const std::vector<std::string>& lines, HeaderParserOptions o = {}) {
  Trace t;
  HeaderParser p(o);
  for (const auto& l : lines) {
    HeaderStep s = p.feed(l);
    if (s.header) {
      t.events.push_back("H " + s.header->text());
      t.headers.push_back(*s.header);
    }
    if (s.end_of_headers) t.events.push_back(s.missing_separator ? "END-nosep" : "END");
    if (s.body_line) t.events.push_back("B " + l);
  }
  if (auto h = p.finish()) {
    t.events.push_back("H " + h->text());
    t.headers.push_back(*h);
  }
  return t;
}

}  // namespace

TEST(HeaderParser, HeadersFoldingAndBody) {
  Trace t = run({"From: alice@example.com", "To: bob@example.com,", "\tcarol@example.com", "Subject: hi",
                 "", "body 1", "", "Not-A-Header: in the body"});
  std::vector<std::string> want = {"H From: alice@example.com",
                                   "H To: bob@example.com,\n\tcarol@example.com",
                                   "H Subject: hi",
                                   "END",
                                   "B body 1",
                                   "B ",
                                   "B Not-A-Header: in the body"};
  EXPECT_EQ(t.events, want);
  ASSERT_EQ(t.headers.size(), 3u);
  EXPECT_EQ(t.headers[1].name, "To");
  EXPECT_EQ(t.headers[1].value, " bob@example.com,\n\tcarol@example.com");
  EXPECT_EQ(t.headers[1].kind, HeaderKind::kTo);
  EXPECT_EQ(t.headers[0].kind, HeaderKind::kFrom);
  EXPECT_EQ(t.headers[2].kind, HeaderKind::kSubject);
}

TEST(HeaderParser, ObsoleteSpaceBeforeColonIsNormalised) {
  Trace t = run({"Subject \t: hello", ""});
  ASSERT_EQ(t.headers.size(), 1u);
  EXPECT_EQ(t.headers[0].name, "Subject");
  EXPECT_EQ(t.headers[0].value, " hello");
  EXPECT_EQ(t.headers[0].text(), "Subject: hello");
  EXPECT_EQ(t.headers[0].kind, HeaderKind::kSubject);
}

TEST(HeaderParser, NonHeaderLineStartsTheBody) {
  // A mailbox "From " line is not a header: the body starts there, and the
  // caller must insert the missing empty line (as Postfix does).
  Trace t = run({"From alice@example.com Mon Nov 23 17:32:24 2026", "Subject: x"});
  std::vector<std::string> want = {"END-nosep", "B From alice@example.com Mon Nov 23 17:32:24 2026",
                                   "B Subject: x"};
  EXPECT_EQ(t.events, want);

  Trace mid = run({"X-A: 1", "this is not a header", "Y: 2"});
  std::vector<std::string> want_mid = {"H X-A: 1", "END-nosep", "B this is not a header", "B Y: 2"};
  EXPECT_EQ(mid.events, want_mid);
}

TEST(HeaderParser, LeadingContinuationLineIsBody) {
  Trace t = run({" folded without header", "Subject: x"});
  std::vector<std::string> want = {"END-nosep", "B  folded without header", "B Subject: x"};
  EXPECT_EQ(t.events, want);
}

TEST(HeaderParser, EmptyMessageAndHeadersOnly) {
  Trace empty = run({});
  EXPECT_TRUE(empty.events.empty());
  Trace only = run({"Subject: x", " y"});
  std::vector<std::string> want = {"H Subject: x\n y"};
  EXPECT_EQ(only.events, want);
  Trace sep_first = run({"", "body"});
  std::vector<std::string> want2 = {"END", "B body"};
  EXPECT_EQ(sep_first.events, want2);
}

TEST(HeaderParser, HeaderSizeLimitTruncates) {
  HeaderParserOptions o;
  o.header_size_limit = 40;
  std::vector<std::string> lines = {"Subject: 0123456789"};
  for (int i = 0; i < 100; ++i) lines.push_back(" continuation line number " + std::to_string(i));
  lines.push_back("X-Next: kept");
  lines.push_back("");
  Trace t = run(lines, o);
  ASSERT_EQ(t.headers.size(), 2u);
  EXPECT_TRUE(t.headers[0].truncated);
  EXPECT_EQ(t.headers[0].text().size(), 40u);
  EXPECT_EQ(t.headers[0].text().substr(0, 19), "Subject: 0123456789");
  EXPECT_FALSE(t.headers[1].truncated);
  EXPECT_EQ(t.headers[1].text(), "X-Next: kept");

  // A single long line is cut as well.
  Trace one = run({"X-Long: " + std::string(1000, 'x')}, o);
  ASSERT_EQ(one.headers.size(), 1u);
  EXPECT_TRUE(one.headers[0].truncated);
  EXPECT_EQ(one.headers[0].text().size(), 40u);

  // Exactly at the limit is not truncated.
  Trace exact = run({"X-Ok: " + std::string(34, 'y')}, o);
  ASSERT_EQ(exact.headers.size(), 1u);
  EXPECT_FALSE(exact.headers[0].truncated);
}

TEST(HeaderParser, EightBitAndOddValues) {
  Trace t = run({"Subject: gr\xc3\xbc\xc3\x9f", "X-Empty:", "X-Colons: a:b:c", ""});
  ASSERT_EQ(t.headers.size(), 3u);
  EXPECT_TRUE(t.headers[0].has_8bit);
  EXPECT_FALSE(t.headers[1].has_8bit);
  EXPECT_EQ(t.headers[1].value, "");
  EXPECT_EQ(t.headers[2].value, " a:b:c");
  Trace folded8 = run({"Subject: x", " \xff"});
  ASSERT_EQ(folded8.headers.size(), 1u);
  EXPECT_TRUE(folded8.headers[0].has_8bit);
}

TEST(HeaderParser, CountsAndState) {
  HeaderParser p;
  EXPECT_TRUE(p.in_headers());
  (void)p.feed("A: 1");
  (void)p.feed("B: 2");
  EXPECT_EQ(p.header_count(), 1u);
  HeaderStep s = p.feed("");
  EXPECT_TRUE(s.header);
  EXPECT_TRUE(s.end_of_headers);
  EXPECT_FALSE(s.body_line);
  EXPECT_FALSE(p.in_headers());
  EXPECT_EQ(p.header_count(), 2u);
  HeaderStep b = p.feed(" B: looks like a continuation but we are in the body");
  EXPECT_TRUE(b.body_line);
  EXPECT_FALSE(b.header);
  EXPECT_FALSE(p.finish());
}

TEST(HeaderName, IsHeaderRules) {
  EXPECT_EQ(header_name_length("Subject: x"), 7u);
  EXPECT_EQ(header_name_length("a:"), 1u);
  EXPECT_EQ(header_name_length("a \t: x"), 1u);
  EXPECT_EQ(header_name_length("X-Weird!#$%: x"), 11u);
  EXPECT_EQ(header_name_length(":x"), 0u);
  EXPECT_EQ(header_name_length("a b: x"), 0u);
  EXPECT_EQ(header_name_length(" a: x"), 0u);
  EXPECT_EQ(header_name_length("a"), 0u);
  EXPECT_EQ(header_name_length("a "), 0u);
  EXPECT_EQ(header_name_length(""), 0u);
  EXPECT_EQ(header_name_length("\xc3\xa4: x"), 0u);
  EXPECT_EQ(header_name_length(std::string("a\0: x", 5)), 0u);
  EXPECT_EQ(header_name_length("a\x7f: x"), 0u);
}

TEST(HeaderName, KnownHeadersCaseInsensitive) {
  EXPECT_EQ(classify_header("message-id"), HeaderKind::kMessageId);
  EXPECT_EQ(classify_header("MESSAGE-ID"), HeaderKind::kMessageId);
  EXPECT_EQ(header_name(HeaderKind::kMessageId), "Message-ID");
  EXPECT_EQ(classify_header("Content-Type"), HeaderKind::kContentType);
  EXPECT_EQ(classify_header("content-transfer-encoding"), HeaderKind::kContentTransferEncoding);
  EXPECT_EQ(classify_header("Mime-Version"), HeaderKind::kMimeVersion);
  EXPECT_EQ(classify_header("Received"), HeaderKind::kReceived);
  EXPECT_EQ(classify_header("return-path"), HeaderKind::kReturnPath);
  EXPECT_EQ(classify_header("Delivered-To"), HeaderKind::kDeliveredTo);
  EXPECT_EQ(classify_header("errors-to"), HeaderKind::kErrorsTo);
  EXPECT_EQ(classify_header("Date"), HeaderKind::kDate);
  EXPECT_EQ(classify_header("Reply-To"), HeaderKind::kReplyTo);
  EXPECT_EQ(classify_header("Sender"), HeaderKind::kSender);
  EXPECT_EQ(classify_header("resent-message-id"), HeaderKind::kResentMessageId);
  EXPECT_EQ(classify_header("To "), HeaderKind::kTo);  // trailing blanks ignored
  EXPECT_EQ(classify_header("X-Mailer"), HeaderKind::kOther);
  EXPECT_EQ(classify_header("Tox"), HeaderKind::kOther);
  EXPECT_EQ(header_name(HeaderKind::kOther), "");
  EXPECT_EQ(find_header("X-Mailer"), nullptr);
}

TEST(HeaderName, Flags) {
  using namespace header_flag;
  EXPECT_EQ(header_flags(HeaderKind::kTo), kRecipient | kExtract);
  EXPECT_EQ(header_flags(HeaderKind::kCc), kRecipient | kExtract);
  EXPECT_EQ(header_flags(HeaderKind::kBcc), kRecipient | kExtract);
  EXPECT_EQ(header_flags(HeaderKind::kResentTo), kRecipient | kExtract | kResent);
  EXPECT_EQ(header_flags(HeaderKind::kResentFrom), kSender | kResent);
  EXPECT_EQ(header_flags(HeaderKind::kApparentlyTo), kRecipient);
  EXPECT_EQ(header_flags(HeaderKind::kFrom), kSender);
  EXPECT_EQ(header_flags(HeaderKind::kContentType), kMime);
  EXPECT_EQ(header_flags(HeaderKind::kSubject), 0u);
  EXPECT_TRUE(is_address_header(HeaderKind::kReplyTo));
  EXPECT_TRUE(is_address_header(HeaderKind::kErrorsTo));
  EXPECT_FALSE(is_address_header(HeaderKind::kDate));
  EXPECT_FALSE(is_address_header(HeaderKind::kOther));
}
