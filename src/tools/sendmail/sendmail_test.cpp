// sendmail_test.cpp - command line and message reading of sendmail(1).
#include "sendmail.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>

using namespace postern;
using namespace postern::sendmail;

namespace {

Result<Options> parse(std::vector<std::string> a, std::string_view prog = "sendmail") { return parse_args(a, prog); }

TEST(SendmailArgs, FlagsAndRecipients) {
  auto o = parse({"-t", "-oi", "-f", "<alice@example.com>", "-FAlice Example", "-N", "success,delay", "-R", "hdrs",
                  "-V", "env1", "-B", "8BITMIME", "-odi", "-oem", "bob@example.com, carol@example.com", "dave"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_TRUE(o->extract);
  EXPECT_TRUE(o->ignore_dots);
  EXPECT_EQ(o->sender.value_or("?"), "alice@example.com");
  EXPECT_EQ(o->full_name.value_or("?"), "Alice Example");
  EXPECT_EQ(o->notify, unsigned(queue::kNotifySuccess | queue::kNotifyDelay));
  EXPECT_EQ(o->ret.value_or("?"), "HDRS");
  EXPECT_EQ(o->envid.value_or("?"), "env1");
  EXPECT_EQ(o->body.value_or("?"), "8bit");
  EXPECT_EQ(o->recipients, (std::vector<std::string>{"bob@example.com", "carol@example.com", "dave"}));
  EXPECT_EQ(o->mode, Mode::Deliver);
}

TEST(SendmailArgs, ModesAndNames) {
  EXPECT_EQ(parse({}, "mailq")->mode, Mode::ListQueue);
  EXPECT_EQ(parse({}, "newaliases")->mode, Mode::Newaliases);
  EXPECT_EQ(parse({"-bp"})->mode, Mode::ListQueue);
  EXPECT_EQ(parse({"-bs"})->mode, Mode::Smtp);
  EXPECT_EQ(parse({"-bi"})->mode, Mode::Newaliases);
  EXPECT_EQ(parse({"-I"})->mode, Mode::Newaliases);
  EXPECT_EQ(parse({"-q"})->mode, Mode::FlushQueue);
  EXPECT_EQ(parse({"-q30m"})->mode, Mode::Ignore);
  auto s = parse({"-qR", "example.com"});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->mode, Mode::FlushSite);
  EXPECT_EQ(s->flush_site, "example.com");
  EXPECT_EQ(parse({"-r", "<>", "x"})->sender.value_or("?"), "");
  EXPECT_EQ(parse({"-Cdir", "x"})->config.value_or("?"), "dir");
  EXPECT_EQ(parse({"--", "-notanoption"})->recipients.size(), 1u);
}

TEST(SendmailArgs, UsageErrors) {
  EXPECT_FALSE(parse({}));                 // no recipients, no -t
  EXPECT_FALSE(parse({"-bd"}));            // daemon mode refused
  EXPECT_FALSE(parse({"-bD"}));
  EXPECT_FALSE(parse({"-bt"}));            // unsupported mode
  EXPECT_FALSE(parse({"-f"}));             // missing argument
  EXPECT_FALSE(parse({"-Z", "x"}));        // unknown option
  EXPECT_FALSE(parse({"-B", "binary", "x"}));
  EXPECT_FALSE(parse({"-n", "x"}));
  EXPECT_FALSE(parse({"-qX"}));                  // -q<letter> other than R and I
  EXPECT_FALSE(parse({"-XV", "x"}));             // VERP: refused, not ignored
  EXPECT_FALSE(parse({"-V", "+=", "x"}));        // the old VERP spelling
  EXPECT_FALSE(parse({"-V+=", "x"}));
  EXPECT_FALSE(parse({"-X", "/tmp/traffic", "x"}));
  EXPECT_FALSE(parse({"-bs", "x"}));             // modes that take no recipients
  EXPECT_FALSE(parse({"-bp", "x"}));
  EXPECT_FALSE(parse({"-t", "-bp"}));
  EXPECT_FALSE(parse({"-oA"}));
  EXPECT_FALSE(parse({"-f", "a@b, c@d", "x"}));  // one sender only
  EXPECT_FALSE(parse({"<unclosed"}));
  EXPECT_NE(parse({"-bd"}).error().message.find("postern start"), std::string::npos);
}

TEST(SendmailArgs, PostfixIgnoresSomeValuesWithAWarning) {
  auto o = parse({"-N", "sometimes", "-V", std::string(101, 'e'), "-R", "5000", "x"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->notify, 0u);
  EXPECT_FALSE(o->envid);
  EXPECT_FALSE(o->ret);
  EXPECT_EQ(o->warnings,
            (std::vector<std::string>{"bad -N option value -- ignored", "too long -V option value -- ignored"}));
  EXPECT_EQ(parse({"-bh"})->mode, Mode::Ignore);
  EXPECT_EQ(parse({"-bH"})->mode, Mode::Ignore);
  auto q = parse({"-qI3F2A1C0D2"});
  ASSERT_TRUE(q);
  EXPECT_EQ(q->mode, Mode::FlushId);
  EXPECT_EQ(q->flush_id, "3F2A1C0D2");
  auto a = parse({"-bi", "-oAhash:/etc/other-aliases"});
  ASSERT_TRUE(a);
  EXPECT_EQ(a->alias_database.value_or("?"), "hash:/etc/other-aliases");
}

TEST(HeaderRecipients, ToCcBccOrTheResentOnes) {
  auto scan = [](std::vector<std::string> lines) {
    HeaderRecipientScan s;
    for (const auto& l : lines)
      if (!s.line(l)) break;
    return s.found();
  };
  EXPECT_TRUE(scan({"Subject: x", "To: a@example.com", ""}));
  EXPECT_TRUE(scan({"cc:", "  b@example.com", ""}));  // folded
  EXPECT_TRUE(scan({"BCC: Hidden <h@example.com>"}));
  EXPECT_FALSE(scan({"To: undisclosed-recipients:;", "Subject: x", ""}));
  EXPECT_FALSE(scan({"From: a@example.com", "Subject: x", "", "To: b@example.com"}));  // body
  EXPECT_FALSE(scan({"Subject: x", "not a header", "To: b@example.com"}));
  // Resent- headers, when present, are the ones that count (Postfix).
  EXPECT_FALSE(scan({"To: a@example.com", "Resent-To: group:;", ""}));
  EXPECT_TRUE(scan({"To: group:;", "Resent-Cc: r@example.com", ""}));
  // Any Resent- header, as cleanup decides it: Resent-From alone too.
  EXPECT_FALSE(scan({"To: a@example.com", "Resent-From: joe@example.com", ""}));
  // A recipient header too long to look into counts as naming someone
  // (cleanup's header_size_limit may be larger).
  std::vector<std::string> big{"To: first:;,"};
  for (int i = 0; i < 5000; ++i) big.push_back(" a-group-with-a-long-name-" + std::to_string(i) + ":;,");  // 160 KB
  big.push_back("");
  EXPECT_TRUE(scan(big));
}

TEST(SendmailArgs, FullNameDefaults) {
  EXPECT_EQ(default_full_name("Env Name", "Gecos", "joe").value_or("?"), "Env Name");
  EXPECT_EQ(default_full_name(nullptr, "& Smith,Room 1,555", "joe").value_or("?"), "Joe Smith");
  EXPECT_FALSE(default_full_name("", ",,,", "joe"));
}

// Runs read_message over `input` and returns the content as "line\n" text,
// with "|" marking a piece boundary inside a line.
std::string read(const std::string& input, ReadOptions o = {}) {
  std::string stream;
  postdrop::StreamEncoder enc([&](std::string_view s) -> Status {
    stream.append(s);
    return {};
  });
  auto pos = std::make_shared<std::size_t>(0);
  ByteReader in = [&input, pos](char* buf, std::size_t len) -> Result<std::size_t> {
    std::size_t n = std::min({len, std::size_t(5), input.size() - *pos});
    std::memcpy(buf, input.data() + *pos, n);
    *pos += n;
    return n;
  };
  auto st = read_message(in, o, enc);
  EXPECT_TRUE(st);
  std::string out;
  std::size_t p = 0;
  while (p + 5 <= stream.size()) {
    char t = stream[p];
    std::uint32_t n = (std::uint8_t(stream[p + 1]) << 24) | (std::uint8_t(stream[p + 2]) << 16) |
                      (std::uint8_t(stream[p + 3]) << 8) | std::uint8_t(stream[p + 4]);
    std::string payload = stream.substr(p + 5, n);
    p += 5 + n;
    if (t == 'N') out += payload + "\n";
    if (t == 'L') out += payload + "|";
    if (t == 'E') out += "<E>";
  }
  EXPECT_EQ(p, stream.size());
  return out;
}

TEST(SendmailRead, DotTerminatorAndIgnoreDots) {
  EXPECT_EQ(read("a\n.\nafter\n"), "a\n<E>");
  EXPECT_EQ(read("a\n.\nafter\n", {.ignore_dots = true}), "a\n.\nafter\n<E>");
  EXPECT_EQ(read("a\n..\n"), "a\n..\n<E>");  // no unstuffing outside SMTP
  EXPECT_EQ(read("a\r\n.\r\n"), "a\n<E>");
}

TEST(SendmailRead, LineEndings) {
  EXPECT_EQ(read("a\r\nb\n"), "a\nb\n<E>");
  EXPECT_EQ(read("a\r\nb\r\n", {.endings = LineEndings::Never}), "a\r\nb\r\n<E>");
  EXPECT_EQ(read("a\nb\r\n", {.endings = LineEndings::Strict}), "a\nb\r\n<E>");
  EXPECT_EQ(read("a\r\nb\r\n", {.endings = LineEndings::Strict}), "a\nb\n<E>");
  EXPECT_EQ(read("no newline"), "no newline\n<E>");
  EXPECT_EQ(read(""), "<E>");
  EXPECT_EQ(read("mid\rcr\n"), "mid\rcr\n<E>");
}

TEST(SendmailRead, SkipsMboxFromLine) {
  EXPECT_EQ(read("From joe Mon Jan 1\nSubject: x\n"), "Subject: x\n<E>");
  EXPECT_EQ(read("Subject: x\nFrom joe\n"), "Subject: x\nFrom joe\n<E>");
  // Every leading one, ">From " stacks too, as Postfix's sendmail.
  EXPECT_EQ(read("From joe Mon Jan 1\n>From jim\n>>From x\nSubject: x\nFrom body\n"),
            "Subject: x\nFrom body\n<E>");
}

TEST(SendmailRead, AllTrailingCarriageReturnsGo) {
  EXPECT_EQ(read("a\r\r\nb\r\n"), "a\nb\n<E>");
  EXPECT_EQ(read("a\r\r\nb\r\n", {.endings = LineEndings::Never}), "a\r\r\nb\r\n<E>");
}

TEST(SendmailRead, LongLinesArePieces) {
  std::string big(queue::kMaxContentRecord + 100, 'x');
  std::string out = read(big + "\r\nend\n");
  EXPECT_NE(out.find('|'), std::string::npos);  // stored in pieces of at most 1 MiB
  std::string joined;
  for (char c : out)
    if (c != '|') joined.push_back(c);
  EXPECT_EQ(joined, big + "\nend\n<E>");  // CR of the CRLF removed, nothing lost
}

}  // namespace
