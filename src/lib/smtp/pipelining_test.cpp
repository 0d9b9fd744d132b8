// pipelining_test.cpp - RFC 2920 group ends and the improper-pipelining rule.
#include "smtp/pipelining.h"

#include <gtest/gtest.h>

namespace postern::smtp {
namespace {

Command cmd(std::string_view line) {
  auto r = parse_command(line);
  EXPECT_TRUE(r.ok()) << line;
  return r.ok() ? *r : Command{};
}

TEST(Pipelining, GroupEndingCommands) {
  for (const char* line : {"EHLO x", "HELO x", "DATA", "VRFY a", "EXPN a", "NOOP", "QUIT", "STARTTLS",
                           "AUTH LOGIN", "XCLIENT NAME=x", "ETRN x"})
    EXPECT_TRUE(ends_pipeline_group(cmd(line))) << line;
  for (const char* line : {"MAIL FROM:<a@b>", "RCPT TO:<a@b>", "RSET", "BDAT 10", "BDAT 0 LAST", "HELP",
                           "XFORWARD NAME=x", "FOO bar", "AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q="})
    EXPECT_FALSE(ends_pipeline_group(cmd(line))) << line;
}

TEST(Pipelining, ImproperWithoutPipelining) {
  // Before EHLO (or after HELO) any command followed by pending input is improper.
  EXPECT_TRUE(improper_pipelining(cmd("MAIL FROM:<a@b>"), false, 10));
  EXPECT_TRUE(improper_pipelining(cmd("EHLO x"), false, 1));
  EXPECT_TRUE(improper_pipelining(cmd("RSET"), false, 1));
  EXPECT_FALSE(improper_pipelining(cmd("MAIL FROM:<a@b>"), false, 0));
}

TEST(Pipelining, ImproperWithPipelining) {
  EXPECT_FALSE(improper_pipelining(cmd("MAIL FROM:<a@b>"), true, 100));
  EXPECT_FALSE(improper_pipelining(cmd("RCPT TO:<a@b>"), true, 100));
  EXPECT_TRUE(improper_pipelining(cmd("DATA"), true, 1));
  EXPECT_TRUE(improper_pipelining(cmd("EHLO x"), true, 1));
  EXPECT_TRUE(improper_pipelining(cmd("STARTTLS"), true, 1));
  EXPECT_TRUE(improper_pipelining(cmd("AUTH LOGIN"), true, 1));
  EXPECT_FALSE(improper_pipelining(cmd("AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q="), true, 1));
  EXPECT_FALSE(improper_pipelining(cmd("DATA"), true, 0));
  // Nothing is read after QUIT.
  EXPECT_FALSE(improper_pipelining(cmd("QUIT"), true, 5));
  EXPECT_FALSE(improper_pipelining(cmd("QUIT"), false, 5));
}

TEST(Pipelining, SyncErrorReply) {
  EXPECT_EQ(format_reply(sync_error_reply()), "554 5.5.0 Error: SMTP protocol synchronization\r\n");
}

TEST(Pipelining, EscapeForLog) {
  using namespace std::string_literals;
  EXPECT_EQ(escape_for_log("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"),
            "MAIL FROM:<a@b>\\r\\nRCPT TO:<c@d>\\r\\n");
  EXPECT_EQ(escape_for_log("a\\b\t\0\x7f\xc3\xa9"s), "a\\\\b\\t\\000\\177\\303\\251");
  EXPECT_EQ(escape_for_log("\a\b\f\v"), "\\a\\b\\f\\v");
  EXPECT_EQ(escape_for_log(std::string(500, 'x')).size(), 100u);
  EXPECT_EQ(escape_for_log("abcdef", 3), "abc");
}

}  // namespace
}  // namespace postern::smtp
