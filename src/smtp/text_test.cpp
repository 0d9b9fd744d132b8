// text_test.cpp - Postfix's wording and the reply -> outcome mapping.
#include "text.h"

#include <gtest/gtest.h>

namespace postern::smtp_client {
namespace {

TEST(Text, RcptRejectionBouncesWithPostfixWording) {
  smtp::Reply r(550, "5.1.1", "<nobody@example.com>: Recipient address rejected: User unknown");
  auto o = reply_outcome("mx.example.com[192.0.2.1]", r, Stage::Rcpt);
  EXPECT_TRUE(o.is_bounced());
  EXPECT_EQ(o.dsn, "5.1.1");
  EXPECT_EQ(o.text,
            "host mx.example.com[192.0.2.1] said: 550 5.1.1 <nobody@example.com>: Recipient address rejected: "
            "User unknown (in reply to RCPT TO command)");
}

TEST(Text, TransientReplyDefersAndMissingEnhancedCodeGetsClassDefault) {
  smtp::Reply r(451, "", "try later");
  auto o = reply_outcome("h[192.0.2.1]", r, Stage::Mail);
  EXPECT_TRUE(o.is_deferred());
  EXPECT_EQ(o.dsn, "4.0.0");
  EXPECT_EQ(o.text, "host h[192.0.2.1] said: 451 try later (in reply to MAIL FROM command)");
}

TEST(Text, SuccessKeepsTheServersReply) {
  smtp::Reply r(250, "2.0.0", "Ok: queued as 4Xy");
  auto o = reply_outcome("h[192.0.2.1]", r, Stage::EndOfData);
  EXPECT_TRUE(o.is_sent());
  EXPECT_EQ(o.dsn, "2.0.0");
  EXPECT_EQ(o.text, "250 2.0.0 Ok: queued as 4Xy");
}

TEST(Text, EnhancedCodeOfTheWrongClassIsIgnored) {
  smtp::Reply r(550, "4.1.1", "odd");
  EXPECT_EQ(reply_dsn(r), "5.0.0");
}

TEST(Text, EndOfDataAndMultiLine) {
  smtp::Reply r(554, "5.7.1", std::vector<std::string>{"first", "second"});
  auto o = reply_outcome("h[a]", r, Stage::EndOfData);
  EXPECT_EQ(o.text, "host h[a] said: 554 5.7.1 first second (in reply to end of DATA command)");
}

TEST(Text, SessionFailureTexts) {
  EXPECT_EQ(connect_text("mx[192.0.2.1]:25", "Connection refused"), "connect to mx[192.0.2.1]:25: Connection refused");
  smtp::Reply g(421, "4.3.2", "Service not available");
  EXPECT_EQ(refused_text("mx[192.0.2.1]", g), "host mx[192.0.2.1] refused to talk to me: 421 4.3.2 Service not available");
  EXPECT_EQ(timeout_text("mx[192.0.2.1]", Stage::Mail), "conversation with mx[192.0.2.1] timed out while sending MAIL FROM");
  EXPECT_EQ(lost_text("mx[192.0.2.1]", Stage::EndOfData),
            "lost connection with mx[192.0.2.1] while sending end of data -- message may be sent more than once");
  EXPECT_EQ(timeout_text("h[a]", Stage::Greeting), "conversation with h[a] timed out while receiving the initial server greeting");
}

TEST(Text, MailCommandParameters) {
  MailParams p;
  EXPECT_EQ(mail_command("", p), "MAIL FROM:<>\r\n");
  p.size = 1234;
  p.eight_bit = true;
  p.smtputf8 = true;
  p.ret = queue::DsnRet::Headers;
  p.envid = "abc+2B1";
  EXPECT_EQ(mail_command("joe@example.com", p),
            "MAIL FROM:<joe@example.com> SIZE=1234 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=abc+2B1\r\n");
  p = {};
  p.envid = "a b";  // not xtext: encoded
  EXPECT_EQ(mail_command("x@y", p), "MAIL FROM:<x@y> ENVID=a+20b\r\n");
}

TEST(Text, QuotesLocalPartsThatNeedIt) {
  MailParams p;
  EXPECT_EQ(mail_command("john doe@example.com", p), "MAIL FROM:<\"john doe\"@example.com>\r\n");
}

TEST(Text, RcptCommandDsnParameters) {
  queue::RecipientFields r;
  r.address = "u@example.com";
  r.orig_rcpt = "u@alias.example";
  r.notify = queue::kNotifySuccess | queue::kNotifyFailure;
  EXPECT_EQ(rcpt_command(r, false), "RCPT TO:<u@example.com>\r\n");
  EXPECT_EQ(rcpt_command(r, true), "RCPT TO:<u@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;u@alias.example\r\n");
  r.orcpt = "rfc822;x+2By@example.com";
  r.notify = queue::kNotifyNone;
  EXPECT_EQ(rcpt_command(r, true), "RCPT TO:<u@example.com> ORCPT=rfc822;x+2By@example.com\r\n");
}

TEST(Text, Utf8Detection) {
  EXPECT_FALSE(needs_utf8("joe@example.com"));
  EXPECT_TRUE(needs_utf8("j\xc3\xb6@example.com"));
}

}  // namespace
}  // namespace postern::smtp_client
