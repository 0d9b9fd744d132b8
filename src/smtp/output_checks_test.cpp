// output_checks_test.cpp - smtp_*_checks on the way out.
#include "output_checks.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <vector>

#include "content_test_support.h"

namespace postern::smtp_client {
namespace {

using testing::Piece;

class OutputChecksTest : public ::testing::Test {
 protected:
  ~OutputChecksTest() override {
    for (const auto& f : files_) std::remove(f.c_str());
  }
  // A regexp: table with these lines, as "regexp:/tmp/...".
  std::string table(const std::string& text) {
    char name[] = "/tmp/postern-output-checks-XXXXXX";
    int fd = ::mkstemp(name);
    EXPECT_GE(fd, 0);
    ::close(fd);
    std::ofstream(name) << text;
    files_.push_back(name);
    return std::string("regexp:") + name;
  }
  // The message through checks made of these four lists, as DATA text.
  std::string run(const std::array<std::string, 4>& lists, std::vector<Piece> pieces, bool* failed = nullptr,
                  std::size_t header_limit = 102400) {
    auto c = maps::ContentChecks::open({{{"smtp_header_checks", lists[0]},
                                         {"smtp_mime_header_checks", lists[1]},
                                         {"smtp_nested_header_checks", lists[2]},
                                         {"smtp_body_checks", lists[3]}}});
    EXPECT_TRUE(c) << (c ? "" : c.error().message);
    if (!c || !*c) return "";
    mail::MimeOptions mo;
    mo.header_size_limit = header_limit;
    OutputChecks oc(c->get(), nullptr, "TESTID", mo);
    return testing::encode(oc, pieces, failed);
  }
  std::vector<std::string> files_;
};

using testing::lines;

}  // namespace

TEST_F(OutputChecksTest, NothingMatchesNothingChanges) {
  auto msg = lines({"Received: from a", "\tby b", "Subject: hi", "", "body", ".dot"});
  std::string out = run({table("/^X-Never:/ IGNORE\n"), "", "", table("/^never$/ IGNORE\n")}, msg);
  EXPECT_EQ(out, "Received: from a\r\n\tby b\r\nSubject: hi\r\n\r\nbody\r\n..dot\r\n.\r\n");
}

TEST_F(OutputChecksTest, HeaderActions) {
  auto msg = lines({"Received: from inside.example", "\tby relay", "Subject: secret plans", "X-Mailer: old",
                    "X-Keep: 1", "", "body"});
  std::string hc = table(
      "/^Received: from inside/ IGNORE\n"
      "/^Subject: secret/ REPLACE Subject: plans\n"
      "/^X-Mailer:/ STRIP old mailer\n"
      "/^X-Keep:/ PREPEND X-Added: yes\n");
  std::string out = run({hc, "", "", ""}, msg);
  EXPECT_EQ(out, "Subject: plans\r\nX-Added: yes\r\nX-Keep: 1\r\n\r\nbody\r\n.\r\n");
}

TEST_F(OutputChecksTest, UnsupportedAndMalformedActionsLeaveTheLine) {
  auto msg = lines({"Subject: a", "X-B: b", "X-C: c", "", "body"});
  std::string hc = table("/^Subject:/ REJECT no\n/^X-B:/ REPLACE not a header\n/^X-C:/ REDIRECT x@y.example\n");
  EXPECT_EQ(run({hc, "", "", ""}, msg), "Subject: a\r\nX-B: b\r\nX-C: c\r\n\r\nbody\r\n.\r\n");
}

TEST_F(OutputChecksTest, BodyActions) {
  auto msg = lines({"Subject: x", "", "keep", "drop me", "change me", "warn me"});
  std::string bc = table("/^drop/ IGNORE\n/^change/ REPLACE changed\n/^warn/ WARN watch this\n");
  EXPECT_EQ(run({"", "", "", bc}, msg), "Subject: x\r\n\r\nkeep\r\nchanged\r\nwarn me\r\n.\r\n");
}

TEST_F(OutputChecksTest, MimeClasses) {
  // Primary MIME headers and part headers go to smtp_mime_header_checks,
  // an attached message's headers to smtp_nested_header_checks, the rest
  // of the body (boundaries too) to smtp_body_checks.
  auto msg = lines({"Subject: x", "MIME-Version: 1.0", "Content-Type: multipart/mixed; boundary=\"b1\"", "",
                    "preamble", "--b1", "Content-Type: text/plain", "X-Part: p", "", "part text", "--b1",
                    "Content-Type: message/rfc822", "", "Subject: inner", "X-Inner: i", "", "inner body", "--b1--"});
  std::string mh = table("/^X-Part:/ IGNORE\n/^MIME-Version:/ REPLACE MIME-Version: 1.0 (checked)\n");
  std::string nh = table("/^X-Inner:/ IGNORE\n/^Subject: inner/ REPLACE Subject: outer?\n");
  std::string hc = table("/^Subject: inner/ IGNORE\n");  // not for nested headers
  std::string bc = table("/^part text$/ REPLACE part TEXT\n/^preamble$/ IGNORE\n");
  std::string out = run({hc, mh, nh, bc}, msg);
  EXPECT_EQ(out,
            "Subject: x\r\nMIME-Version: 1.0 (checked)\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
            "--b1\r\nContent-Type: text/plain\r\n\r\npart TEXT\r\n--b1\r\nContent-Type: message/rfc822\r\n\r\n"
            "Subject: outer?\r\n\r\ninner body\r\n--b1--\r\n.\r\n");
}

TEST_F(OutputChecksTest, LongLinesAreJudgedByTheirHeadAndStreamed) {
  std::vector<Piece> msg = {{"Subject: x"}, {""}, {std::string(30, 'a'), false}, {std::string(30, 'b'), false},
                            {"end"}, {std::string(30, 'd'), false}, {"tail"}};
  std::string bc = table("/^a+$/ WARN long\n/^d+$/ IGNORE\n");
  std::string out = run({"", "", "", bc}, msg, nullptr, 20);
  // The first line passes whole; the second is dropped whole.
  EXPECT_EQ(out, "Subject: x\r\n\r\n" + std::string(30, 'a') + std::string(30, 'b') + "end\r\n.\r\n");
}

TEST_F(OutputChecksTest, HeaderOnlyMessage) {
  std::string hc = table("/^X-Drop:/ IGNORE\n");
  EXPECT_EQ(run({hc, "", "", ""}, lines({"Subject: x", "X-Drop: y"})), "Subject: x\r\n.\r\n");
}
}  // namespace postern::smtp_client
