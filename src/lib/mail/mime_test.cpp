// mime_test.cpp - MIME structure scanning for the content filters, Content-Type parsing.
#include "mail/mime.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace postern::mail;

namespace {

// Feed the body lines and record, in order, as readable strings:
//   "M Name:value"  a header completed, from a part's header section (kMultipart)
//   "N Name:value"  a header completed, from an attached message (kNested)
//   "B line"        the line is a body line
//   "- line"        the line is neither (header text or a section's empty line)
struct Trace {
  std::vector<std::string> events;
  bool limit_exceeded = false;
};

void record(Trace& t, const MimeStep& s) {
  if (s.header) t.events.push_back((s.section == MimeSection::kNested ? "N " : "M ") + s.header->text());
}

Trace run(std::string_view content_type, const std::vector<std::string>& lines, MimeOptions o = {}) {
  Trace t;
  MimeScanner m(o);
  if (!content_type.empty()) m.primary_content_type(content_type);
  for (const auto& l : lines) {
    MimeStep s = m.feed(l);
    record(t, s);
    t.events.push_back((s.body_line ? "B " : "- ") + l);
  }
  if (auto s = m.finish()) record(t, *s);
  t.limit_exceeded = m.limit_exceeded();
  return t;
}

using Events = std::vector<std::string>;

}  // namespace

TEST(MimeScanner, PlainBodyWithoutContentType) {
  Trace t = run("", {"hello", "", "--b", "Subject: not a header"});
  EXPECT_EQ(t.events, (Events{"B hello", "B ", "B --b", "B Subject: not a header"}));
  EXPECT_FALSE(t.limit_exceeded);
}

TEST(MimeScanner, PlainBodyForTextAndMultipartWithoutBoundary) {
  for (const char* ct : {" text/plain; charset=utf-8", " multipart/mixed", " application/octet-stream"}) {
    Trace t = run(ct, {"--b", "Content-Type: text/plain", "", "x"});
    EXPECT_EQ(t.events, (Events{"B --b", "B Content-Type: text/plain", "B ", "B x"})) << ct;
  }
}

TEST(MimeScanner, MultipartWithTwoParts) {
  const std::vector<std::string> lines = {
      "This is a MIME message.",
      "--b1",
      "Content-Type: text/plain",
      "Content-Transfer-Encoding: 7bit",
      "",
      "part one",
      "--b1",
      "Content-Type: application/pdf; name=x.pdf",
      "",
      "JVBERi0=",
      "--b1--",
      "epilogue",
  };
  Trace t = run(" multipart/mixed; boundary=\"b1\"", lines);
  EXPECT_EQ(t.events, (Events{
                          "B This is a MIME message.",
                          "B --b1",
                          "- Content-Type: text/plain",
                          "M Content-Type: text/plain",
                          "- Content-Transfer-Encoding: 7bit",
                          "M Content-Transfer-Encoding: 7bit",
                          "- ",
                          "B part one",
                          "B --b1",
                          "- Content-Type: application/pdf; name=x.pdf",
                          "M Content-Type: application/pdf; name=x.pdf",
                          "- ",
                          "B JVBERi0=",
                          "B --b1--",
                          "B epilogue",
                      }));
  EXPECT_FALSE(t.limit_exceeded);
}

TEST(MimeScanner, PreambleAndEpilogueAreBodyAndNotParsed) {
  const std::vector<std::string> lines = {
      "Content-Type: preamble/text",     "", "--zz", "", "text", "--zz--", "Subject: epilogue", "--zz",
      "Subject: after a stray boundary",
  };
  Trace t = run(" multipart/alternative; boundary=zz", lines);
  // After the closing delimiter the multipart is gone: a later "--zz" line
  // is epilogue text, not a new part.
  EXPECT_EQ(t.events, (Events{"B Content-Type: preamble/text", "B ", "B --zz", "- ", "B text", "B --zz--",
                              "B Subject: epilogue", "B --zz", "B Subject: after a stray boundary"}));
}

TEST(MimeScanner, NestedMultipart) {
  const std::vector<std::string> lines = {
      "--outer",
      "Content-Type: multipart/alternative;",
      " boundary=inner",
      "",
      "inner preamble",
      "--inner",
      "Content-Type: text/plain",
      "",
      "plain",
      "--inner",
      "Content-Type: text/html",
      "",
      "<p>html</p>",
      "--inner--",
      "inner epilogue",
      "--outer",
      "X-Part: two",
      "",
      "two",
      "--outer--",
  };
  Trace t = run(" multipart/mixed; boundary=outer", lines);
  EXPECT_EQ(t.events, (Events{
                          "B --outer",
                          "- Content-Type: multipart/alternative;",
                          "-  boundary=inner",
                          "M Content-Type: multipart/alternative;\n boundary=inner",
                          "- ",
                          "B inner preamble",
                          "B --inner",
                          "- Content-Type: text/plain",
                          "M Content-Type: text/plain",
                          "- ",
                          "B plain",
                          "B --inner",
                          "- Content-Type: text/html",
                          "M Content-Type: text/html",
                          "- ",
                          "B <p>html</p>",
                          "B --inner--",
                          "B inner epilogue",
                          "B --outer",
                          "- X-Part: two",
                          "M X-Part: two",
                          "- ",
                          "B two",
                          "B --outer--",
                      }));
}

TEST(MimeScanner, OuterBoundaryClosesInnerMultipart) {
  const std::vector<std::string> lines = {
      "--outer",   "Content-Type: multipart/related; boundary=inner",
      "",          "--inner",
      "",          "never closed",
      "--outer",   "Content-Type: text/plain",
      "",          "--inner",
      "--outer--",
  };
  Trace t = run(" multipart/mixed; boundary=outer", lines);
  // "--inner" after the outer boundary is plain text: the inner multipart
  // was closed by "--outer".
  EXPECT_EQ(t.events, (Events{
                          "B --outer",
                          "- Content-Type: multipart/related; boundary=inner",
                          "M Content-Type: multipart/related; boundary=inner",
                          "- ",
                          "B --inner",
                          "- ",
                          "B never closed",
                          "B --outer",
                          "- Content-Type: text/plain",
                          "M Content-Type: text/plain",
                          "- ",
                          "B --inner",
                          "B --outer--",
                      }));
}

TEST(MimeScanner, AttachedMessageHeadersAreNested) {
  const std::vector<std::string> lines = {
      "--b",
      "Content-Type: message/rfc822",
      "",
      "From: alice@example.com",
      "Subject: forwarded",
      "",
      "Subject: not a header",
      "--b",
      "Content-Type: message/global",
      "",
      "Subject: =?utf-8?q?global?=",
      "",
      "--b--",
  };
  Trace t = run(" multipart/mixed; boundary=b", lines);
  EXPECT_EQ(t.events, (Events{
                          "B --b",
                          "- Content-Type: message/rfc822",
                          "M Content-Type: message/rfc822",
                          "- ",
                          "- From: alice@example.com",
                          "N From: alice@example.com",
                          "- Subject: forwarded",
                          "N Subject: forwarded",
                          "- ",
                          "B Subject: not a header",
                          "B --b",
                          "- Content-Type: message/global",
                          "M Content-Type: message/global",
                          "- ",
                          "- Subject: =?utf-8?q?global?=",
                          "N Subject: =?utf-8?q?global?=",
                          "- ",
                          "B --b--",
                      }));
}

TEST(MimeScanner, MultipartInsideAttachedMessage) {
  const std::vector<std::string> lines = {
      "--b",
      "Content-Type: message/rfc822",
      "",
      "Subject: inner",
      "Content-Type: multipart/mixed; boundary=c",
      "",
      "--c",
      "Content-Disposition: attachment; filename=a.exe",
      "",
      "TVqQ",
      "--c--",
      "--b--",
  };
  Trace t = run(" multipart/mixed; boundary=b", lines);
  EXPECT_EQ(t.events, (Events{
                          "B --b",
                          "- Content-Type: message/rfc822",
                          "M Content-Type: message/rfc822",
                          "- ",
                          "- Subject: inner",
                          "N Subject: inner",
                          "- Content-Type: multipart/mixed; boundary=c",
                          "N Content-Type: multipart/mixed; boundary=c",
                          "- ",
                          "B --c",
                          "- Content-Disposition: attachment; filename=a.exe",
                          "M Content-Disposition: attachment; filename=a.exe",
                          "- ",
                          "B TVqQ",
                          "B --c--",
                          "B --b--",
                      }));
}

TEST(MimeScanner, PrimaryMessageRfc822StartsWithNestedHeaders) {
  Trace t = run(" message/rfc822", {"From: bob@example.com", "", "body"});
  EXPECT_EQ(t.events, (Events{"- From: bob@example.com", "N From: bob@example.com", "- ", "B body"}));
}

TEST(MimeScanner, AttachedMessageHeadersAtEndOfInputComeFromFinish) {
  Trace t = run(" message/rfc822", {"Subject: one", " two"});
  EXPECT_EQ(t.events, (Events{"- Subject: one", "-  two", "N Subject: one\n two"}));
}

TEST(MimeScanner, DigestPartsDefaultToAttachedMessages) {
  const std::vector<std::string> lines = {
      "--d",
      "",
      "From: one@example.com",
      "",
      "first",
      "--d",
      "Content-Type: text/plain",
      "",
      "From: not a header",
      "--d--",
  };
  Trace t = run(" multipart/digest; boundary=d", lines);
  EXPECT_EQ(t.events, (Events{
                          "B --d",
                          "- ",
                          "- From: one@example.com",
                          "N From: one@example.com",
                          "- ",
                          "B first",
                          "B --d",
                          "- Content-Type: text/plain",
                          "M Content-Type: text/plain",
                          "- ",
                          "B From: not a header",
                          "B --d--",
                      }));
}

TEST(MimeScanner, DigestDefaultDoesNotLeakIntoNestedMultipart) {
  // A multipart/mixed inside a digest part: its parts default to text/plain.
  const std::vector<std::string> lines = {
      "--d",   "Content-Type: multipart/mixed; boundary=m",
      "",      "--m",
      "",      "From: text, not a header",
      "--m--", "--d--",
  };
  Trace t = run(" multipart/digest; boundary=d", lines);
  EXPECT_EQ(t.events, (Events{"B --d", "- Content-Type: multipart/mixed; boundary=m",
                              "M Content-Type: multipart/mixed; boundary=m", "- ", "B --m", "- ",
                              "B From: text, not a header", "B --m--", "B --d--"}));
}

TEST(MimeScanner, FoldedPartHeaders) {
  const std::vector<std::string> lines = {
      "--b",
      "Content-Type: text/plain;",
      "\tcharset=us-ascii",
      "Content-Disposition: attachment;",
      " filename=\"evil.exe\"",
      "",
      "x",
  };
  Trace t = run(" multipart/mixed; boundary=b", lines);
  EXPECT_EQ(t.events, (Events{
                          "B --b",
                          "- Content-Type: text/plain;",
                          "- \tcharset=us-ascii",
                          "M Content-Type: text/plain;\n\tcharset=us-ascii",
                          "- Content-Disposition: attachment;",
                          "-  filename=\"evil.exe\"",
                          "M Content-Disposition: attachment;\n filename=\"evil.exe\"",
                          "- ",
                          "B x",
                      }));
}

TEST(MimeScanner, PartHeaderSectionWithoutEmptyLine) {
  const std::vector<std::string> lines = {
      "--b",
      "Content-Type: text/plain",
      "body right after the headers",
      "Subject: body text now",
      "--b",
      "no headers at all",
      "--b",
      "--b",
      "Content-Type: message/rfc822",
      "From: part header, not nested",
      "oops",
      "From: body text",
      "--b--",
  };
  Trace t = run(" multipart/mixed; boundary=b", lines);
  EXPECT_EQ(t.events, (Events{
                          "B --b",
                          "- Content-Type: text/plain",
                          "M Content-Type: text/plain",
                          "B body right after the headers",
                          "B Subject: body text now",
                          "B --b",
                          "B no headers at all",
                          "B --b",
                          // A boundary right after a boundary: an empty part,
                          // and the line is still recognised as a boundary.
                          "B --b",
                          "- Content-Type: message/rfc822",
                          "M Content-Type: message/rfc822",
                          "- From: part header, not nested",
                          // Without an empty line Postfix does not look for
                          // the attached message's headers.
                          "M From: part header, not nested",
                          "B oops",
                          "B From: body text",
                          "B --b--",
                      }));
}

TEST(MimeScanner, BoundaryMatchesByPrefix) {
  const std::vector<std::string> lines = {
      "--abc  \t",
      "X-One: 1",
      "",
      "--ab",
      "-abc",
      "--abcdef",
      "X-Two: 2",
      "",
      "--abc-- trailing cruft",
      "X-Three: epilogue",
  };
  Trace t = run(" multipart/mixed; boundary=abc", lines);
  EXPECT_EQ(t.events, (Events{
                          "B --abc  \t",
                          "- X-One: 1",
                          "M X-One: 1",
                          "- ",
                          "B --ab",
                          "B -abc",
                          "B --abcdef",
                          "- X-Two: 2",
                          "M X-Two: 2",
                          "- ",
                          "B --abc-- trailing cruft",
                          "B X-Three: epilogue",
                      }));
}

TEST(MimeScanner, CarriageReturnAfterBoundaryIsTrailingData) {
  Trace t = run(" multipart/mixed; boundary=b", {"--b\r", "X-A: 1", "", "--b--\r", "X-B: 2"});
  EXPECT_EQ(t.events, (Events{"B --b\r", "- X-A: 1", "M X-A: 1", "- ", "B --b--\r", "B X-B: 2"}));
}

TEST(MimeScanner, SeveralBoundaryParametersAllCount) {
  // Illegal, but a MUA may honour either one: like Postfix, watch both.
  const std::vector<std::string> lines = {
      "--two", "X-A: 1", "", "--one", "X-B: 2", "",
  };
  Trace t = run(" multipart/mixed; boundary=one; boundary=two", lines);
  EXPECT_EQ(t.events,
            (Events{"B --two", "- X-A: 1", "M X-A: 1", "- ", "B --one", "- X-B: 2", "M X-B: 2", "- "}));
}

TEST(MimeScanner, SeveralPrimaryContentTypes) {
  MimeScanner m;
  m.primary_content_type(" multipart/mixed; boundary=b");
  m.primary_content_type(" text/plain");
  // The last type is text/plain, but the boundary still counts.
  EXPECT_TRUE(m.feed("--b").body_line);
  EXPECT_FALSE(m.feed("X-A: 1").body_line);
  MimeStep s = m.feed("");
  ASSERT_TRUE(s.header);
  EXPECT_EQ(s.header->name, "X-A");
  EXPECT_EQ(s.section, MimeSection::kMultipart);
  // Too late: the body has started.
  m.primary_content_type(" message/rfc822");
  EXPECT_TRUE(m.feed("From: x").body_line);
  EXPECT_FALSE(m.finish());
}

TEST(MimeScanner, NestingLimit) {
  MimeOptions o;
  o.nesting_limit = 2;
  // Level 1: the outer multipart; level 2: the inner one; level 3 (an
  // attached message inside) is refused and read as body text.
  Trace t = run(" multipart/mixed; boundary=a",
                {
                    "--a",
                    "Content-Type: multipart/mixed; boundary=b",
                    "",
                    "--b",
                    "Content-Type: message/rfc822",
                    "",
                    "Subject: too deep",
                    "",
                    "--b--",
                    "--a--",
                },
                o);
  EXPECT_TRUE(t.limit_exceeded);
  EXPECT_EQ(t.events, (Events{
                          "B --a",
                          "- Content-Type: multipart/mixed; boundary=b",
                          "M Content-Type: multipart/mixed; boundary=b",
                          "- ",
                          "B --b",
                          "- Content-Type: message/rfc822",
                          "M Content-Type: message/rfc822",
                          "- ",
                          "B Subject: too deep",
                          "B ",
                          "B --b--",
                          "B --a--",
                      }));

  Trace ok = run(" multipart/mixed; boundary=a",
                 {"--a", "Content-Type: message/rfc822", "", "Subject: fine", ""}, o);
  EXPECT_FALSE(ok.limit_exceeded);
  EXPECT_EQ(ok.events[4], "- Subject: fine");
}

TEST(MimeScanner, NestingLimitRefusesDeeperMultipart) {
  MimeOptions o;
  o.nesting_limit = 1;
  Trace t =
      run(" multipart/mixed; boundary=a",
          {"--a", "Content-Type: multipart/mixed; boundary=b", "", "--b", "X-Hidden: 1", "", "--a--"}, o);
  EXPECT_TRUE(t.limit_exceeded);
  EXPECT_EQ(t.events, (Events{"B --a", "- Content-Type: multipart/mixed; boundary=b",
                              "M Content-Type: multipart/mixed; boundary=b", "- ", "B --b", "B X-Hidden: 1",
                              "B ", "B --a--"}));

  MimeOptions zero;
  zero.nesting_limit = 0;
  Trace z = run(" multipart/mixed; boundary=a", {"--a", "X: 1", ""}, zero);
  EXPECT_TRUE(z.limit_exceeded);
  EXPECT_EQ(z.events, (Events{"B --a", "B X: 1", "B "}));
}

TEST(MimeScanner, DeepNestingStaysBounded) {
  // 10000 levels of message/rfc822 in message/rfc822 with the default limit:
  // no recursion, no growth, and the limit is reported.
  MimeScanner m;
  m.primary_content_type(" message/rfc822");
  for (int i = 0; i < 10000; ++i) {
    m.feed("Content-Type: message/rfc822");
    m.feed("");
  }
  EXPECT_TRUE(m.limit_exceeded());
  EXPECT_TRUE(m.feed("Content-Type: message/rfc822").body_line);
}

TEST(MimeScanner, BoundaryLengthLimit) {
  MimeOptions o;
  o.boundary_length_limit = 8;
  // Cut to the limit and matched by prefix, as in Postfix: the part's
  // headers are still found.
  Trace t = run(" multipart/mixed; boundary=123456789", {"--123456789", "X-A: 1", "", "--123456789--"}, o);
  EXPECT_TRUE(t.limit_exceeded);
  EXPECT_EQ(t.events, (Events{"B --123456789", "- X-A: 1", "M X-A: 1", "- ", "B --123456789--"}));

  Trace fits = run(" multipart/mixed; boundary=12345678", {"--12345678", "X-A: 1", ""}, o);
  EXPECT_FALSE(fits.limit_exceeded);
  EXPECT_EQ(fits.events, (Events{"B --12345678", "- X-A: 1", "M X-A: 1", "- "}));
}

TEST(MimeScanner, PartHeadersAreTruncatedAtHeaderSizeLimit) {
  MimeOptions o;
  o.header_size_limit = 20;
  MimeScanner m(o);
  m.primary_content_type(" multipart/mixed; boundary=b");
  m.feed("--b");
  m.feed("X-Long: " + std::string(100, 'x'));
  m.feed(" more");
  MimeStep s = m.feed("");
  ASSERT_TRUE(s.header);
  EXPECT_TRUE(s.header->truncated);
  EXPECT_EQ(s.header->text().size(), 20u);
}

TEST(MimeScanner, EmptyBoundaryIsIgnored) {
  Trace t = run(" multipart/mixed; boundary=\"\"", {"--x", "X-A: 1", ""});
  EXPECT_EQ(t.events, (Events{"B --x", "B X-A: 1", "B "}));
}

TEST(MimeContentType, Basic) {
  ContentType ct = parse_content_type(" multipart/mixed; boundary=\"b1\"");
  EXPECT_EQ(ct.type, "multipart");
  EXPECT_EQ(ct.subtype, "mixed");
  EXPECT_EQ(ct.boundary, "b1");
}

TEST(MimeContentType, CaseAndTokenValue) {
  ContentType ct = parse_content_type("MultiPart/Alternative;BOUNDARY=Abc.123;charset=x");
  EXPECT_EQ(ct.type, "multipart");
  EXPECT_EQ(ct.subtype, "alternative");
  EXPECT_EQ(ct.boundary, "Abc.123");  // the value keeps its case
}

TEST(MimeContentType, QuotedStringEscapesAndFolding) {
  ContentType ct = parse_content_type(" multipart/mixed;\n\tboundary=\"a\\\"b;c (d)\"; x=y");
  EXPECT_EQ(ct.boundary, "a\"b;c (d)");
  // Folding inside a quoted string: the line break goes, the blank stays.
  EXPECT_EQ(parse_content_type(" multipart/mixed; boundary=\"ab\n cd\"").boundary, "ab cd");
}

TEST(MimeContentType, CommentsAreSkipped) {
  ContentType ct = parse_content_type(
      " (lead) multipart (x) / (y) related (a (nested) \\) c) ; (p) boundary (q) = (r) \"zz\" (s)");
  EXPECT_EQ(ct.type, "multipart");
  EXPECT_EQ(ct.subtype, "related");
  EXPECT_EQ(ct.boundary, "zz");
  // A ';' or quote inside a comment does not start a parameter.
  EXPECT_EQ(parse_content_type("text/plain (; boundary=no) ; boundary=yes").boundary, "yes");
}

TEST(MimeContentType, UnquotedValueWithSpecials) {
  EXPECT_EQ(parse_content_type(" multipart/alternative; boundary=----=_NextPart_000_0001").boundary,
            "----=_NextPart_000_0001");
  EXPECT_EQ(parse_content_type(" multipart/mixed; boundary=abc\r").boundary, "abc");
  EXPECT_EQ(parse_content_type(" multipart/mixed; boundary=abc(comment)").boundary, "abc");
}

TEST(MimeContentType, MissingBoundaryAndSubtype) {
  ContentType ct = parse_content_type(" text/plain; charset=utf-8");
  EXPECT_EQ(ct.type, "text");
  EXPECT_EQ(ct.subtype, "plain");
  EXPECT_EQ(ct.boundary, "");
  ct = parse_content_type(" multipart; boundary=b");
  EXPECT_EQ(ct.type, "multipart");
  EXPECT_EQ(ct.subtype, "");
  EXPECT_EQ(ct.boundary, "b");
  EXPECT_EQ(parse_content_type(" multipart/mixed; boundary").boundary, "");
  EXPECT_EQ(parse_content_type(" multipart/mixed; boundary=").boundary, "");
  EXPECT_EQ(parse_content_type(" multipart/mixed; xboundary=a; boundary=b; boundary=c").boundary, "b");
}

TEST(MimeContentType, Garbage) {
  for (const char* v : {"", "   ", "(only a comment)", "/mixed", "@@@", "\"multipart/mixed\"", ";boundary=x",
                        "(unterminated", "\"unterminated"}) {
    ContentType ct = parse_content_type(v);
    EXPECT_EQ(ct.type, "") << v;
    EXPECT_EQ(ct.subtype, "") << v;
  }
  // Garbage after the type is skipped up to the next parameter.
  ContentType ct = parse_content_type("multipart/mixed garbage \"x;y\" ; boundary=\"unterminated");
  EXPECT_EQ(ct.type, "multipart");
  EXPECT_EQ(ct.boundary, "unterminated");
}

namespace {

// The strict checks: the problem a body (after the primary headers) shows.
std::optional<MimeProblem> strict(std::string_view content_type, std::string_view encoding,
                                  const std::vector<std::string>& lines) {
  MimeOptions o;
  o.report_8bit_in_header = o.report_8bit_in_7bit_body = o.report_encoding_domain = o.report_nesting = true;
  MimeScanner m(o);
  if (!content_type.empty()) m.primary_content_type(content_type);
  if (!encoding.empty()) m.primary_transfer_encoding(encoding);
  for (const auto& l : lines) (void)m.feed(l);
  (void)m.finish();
  return m.problem();
}

}  // namespace

TEST(MimeStrict, EightBitBodyNeedsAnEightBitEncoding) {
  EXPECT_FALSE(strict("", "", {"plain ascii", "text"}));
  auto p = strict("", "", {"ascii", "caf\xc3\xa9"});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->error, MimeError::k8bitIn7bitBody);
  EXPECT_EQ(p->text, "caf\xc3\xa9");
  EXPECT_EQ(mime_error_text(p->error), "improper use of 8-bit data in message body");
  EXPECT_FALSE(strict("text/plain", "8bit", {"caf\xc3\xa9"}));
  EXPECT_FALSE(strict("text/plain", " binary (comment)", {"caf\xc3\xa9"}));
  // Only 7bit (declared or by default) is looked at, as in Postfix: raw
  // 8-bit bytes in a quoted-printable part are not reported.
  EXPECT_FALSE(strict("text/plain", "quoted-printable", {"caf\xc3\xa9"}));
  EXPECT_TRUE(strict("text/plain", "x-unknown", {"caf\xc3\xa9"}));          // unknown: stays 7bit
}

TEST(MimeStrict, EachPartHasItsOwnEncoding) {
  const std::vector<std::string> ok = {
      "preamble", "--b", "Content-Type: text/plain", "Content-Transfer-Encoding: 8bit", "",
      "caf\xc3\xa9", "--b", "Content-Type: text/plain", "", "plain", "--b--", "epilogue"};
  EXPECT_FALSE(strict("multipart/mixed; boundary=b", "", ok));
  const std::vector<std::string> bad = {"--b", "Content-Transfer-Encoding: 8bit", "", "caf\xc3\xa9",
                                        "--b", "", "na\xc3\xafve", "--b--"};
  auto p = strict("multipart/mixed; boundary=b", "", bad);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->error, MimeError::k8bitIn7bitBody);
  EXPECT_EQ(p->text, "na\xc3\xafve");
  // The preamble and the epilogue are 7bit, whatever the multipart says.
  EXPECT_TRUE(strict("multipart/mixed; boundary=b", "8bit", {"pre\xc3\xa9", "--b", "", "x", "--b--"}));
  EXPECT_TRUE(strict("multipart/mixed; boundary=b", "8bit", {"--b", "", "x", "--b--", "post\xc3\xa9"}));
}

TEST(MimeStrict, EightBitInPartAndAttachedMessageHeaders) {
  auto p = strict("multipart/mixed; boundary=b", "", {"--b", "Content-Type: text/plain; name=\"caf\xc3\xa9\"", "", "x"});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->error, MimeError::k8bitInHeader);
  EXPECT_EQ(p->text, "Content-Type: text/plain; name=\"caf\xc3\xa9\"");
  p = strict("message/rfc822", "", {"Subject: caf\xc3\xa9", "", "body"});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->error, MimeError::k8bitInHeader);
  // The last header of a section, completed only by the end of input.
  p = strict("message/rfc822", "", {"Subject: caf\xc3\xa9"});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->error, MimeError::k8bitInHeader);
}

TEST(MimeStrict, CompositeEntitiesHaveADomainNotAnEncoding) {
  auto p = strict("multipart/mixed; boundary=b", "base64", {"--b", "", "x", "--b--"});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->error, MimeError::kEncodingDomain);
  EXPECT_EQ(p->text, "base64");
  EXPECT_EQ(mime_error_text(p->error), "invalid message/* or multipart/* encoding domain");
  EXPECT_FALSE(strict("multipart/mixed; boundary=b", "8bit", {"--b", "", "x", "--b--"}));
  EXPECT_TRUE(strict("multipart/mixed; boundary=b", "",
                     {"--b", "Content-Type: message/rfc822", "Content-Transfer-Encoding: quoted-printable", "",
                      "Subject: x", "", "y", "--b--"}));
  // message/partial and external-body: 7bit only (an encoding of the 7bit
  // domain passes, as in Postfix).
  EXPECT_TRUE(strict("message/partial; id=1", "8bit", {"x"}));
  EXPECT_FALSE(strict("message/partial; id=1", "7bit", {"x"}));
  EXPECT_FALSE(strict("text/plain", "base64", {"eA=="}));  // a leaf may be encoded
}

TEST(MimeStrict, NestingOverTheLimit) {
  MimeOptions o;
  o.nesting_limit = 2;
  o.report_nesting = true;
  MimeScanner m(o);
  m.primary_content_type("multipart/mixed; boundary=a");
  for (std::string l : {"--a", "Content-Type: multipart/mixed; boundary=b", "", "--b",
                        "Content-Type: multipart/mixed; boundary=c", "", "--c", "", "x"})
    (void)m.feed(l);
  ASSERT_TRUE(m.problem());
  EXPECT_EQ(m.problem()->error, MimeError::kNesting);
  EXPECT_EQ(mime_error_text(m.problem()->error), "MIME nesting exceeds safety limit");
  // Not asked for: not a problem (the limit still holds).
  o.report_nesting = false;
  MimeScanner quiet(o);
  quiet.primary_content_type("multipart/mixed; boundary=a");
  for (std::string l : {"--a", "Content-Type: multipart/mixed; boundary=b", "", "--b",
                        "Content-Type: multipart/mixed; boundary=c", "", "--c", "", "x"})
    (void)quiet.feed(l);
  EXPECT_FALSE(quiet.problem());
  EXPECT_TRUE(quiet.limit_exceeded());
}

TEST(MimeStrict, NothingReportedUnlessAsked) {
  MimeScanner m;
  m.primary_content_type("multipart/mixed; boundary=b");
  m.primary_transfer_encoding("base64");
  for (std::string l : {"--b", "Subject: caf\xc3\xa9", "", "na\xc3\xafve", "--b--"}) (void)m.feed(l);
  EXPECT_FALSE(m.problem());
}
