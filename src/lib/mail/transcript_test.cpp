// transcript_test.cpp - the session history mailed to the postmaster.
#include "mail/transcript.h"

#include <gtest/gtest.h>

using namespace postern;
using namespace postern::mail;

namespace {

constexpr TranscriptRole kServer = TranscriptRole::kSmtpServer;

Problems classes(std::vector<std::string> names) {
  auto p = Problems::parse(names);
  EXPECT_TRUE(p);
  return *p;
}

}  // namespace

TEST(Transcript, RecordsNothingWithoutAnSmtpdClass) {
  Transcript t(classes({"bounce", "delay", "2bounce"}), kServer);
  // bounce is also smtpd's (a message refused for its size)
  EXPECT_TRUE(t.enabled());
  Transcript off(classes({"delay", "2bounce"}), kServer);
  EXPECT_FALSE(off.enabled());
  off.in("EHLO x");
  off.out_wire("250 ok\r\n");
  off.problem(Problem::kProtocol);
  EXPECT_EQ(off.lines(), 0u);
  EXPECT_FALSE(off.worth_sending());
}

TEST(Transcript, WorthSendingOnlyForANotifiedClass) {
  Transcript t(classes({"resource", "software"}), kServer);
  t.in("FOO");
  t.out_wire("502 5.5.2 Error: command not recognized\r\n");
  t.problem(Problem::kProtocol);
  EXPECT_FALSE(t.worth_sending());
  t.problem(Problem::kResource);
  EXPECT_TRUE(t.worth_sending());
  EXPECT_FALSE(t.bounce_class());
  t.reset();
  EXPECT_FALSE(t.worth_sending());
  EXPECT_EQ(t.lines(), 0u);
}

TEST(Transcript, SplitsMultiLineReplies) {
  Transcript t(classes({"protocol"}), kServer);
  t.in("EHLO client.example");
  t.out_wire("250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
  EXPECT_EQ(t.lines(), 4u);
  EXPECT_EQ(t.text(), "In:  EHLO client.example\nOut: 250-mx.example\nOut: 250-PIPELINING\nOut: 250 8BITMIME\n");
}

TEST(Transcript, BoundedAndCountsWhatItDropped) {
  Transcript t(classes({"protocol"}), kServer, 100);
  for (int i = 0; i < 50; ++i) t.in("NOOP");
  EXPECT_LE(t.text().size(), 100u);
  EXPECT_GT(t.dropped(), 0u);
  EXPECT_EQ(t.lines() + t.dropped(), 50u);
}

TEST(Transcript, WrapLineBreaksAtSpacesAndIndents) {
  auto w = wrap_line("aaaa bbbb cccc dddd", 10, 2);
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[0], "aaaa bbbb");
  EXPECT_EQ(w[1], "  cccc");
  EXPECT_EQ(w[2], "  dddd");
  // A word longer than the width is cut.
  auto cut = wrap_line(std::string(25, 'x'), 10, 2);
  ASSERT_EQ(cut.size(), 3u);
  EXPECT_EQ(cut[0], std::string(10, 'x'));
  EXPECT_EQ(cut[1], "  " + std::string(8, 'x'));
  EXPECT_EQ(cut[2], "  " + std::string(7, 'x'));
  EXPECT_EQ(wrap_line("", 10, 2), std::vector<std::string>{""});
  for (const auto& piece : wrap_line(std::string(300, 'y') + " z", kNoticeWidth, kNoticeIndent))
    EXPECT_LE(piece.size(), kNoticeWidth);
}

TEST(Transcript, NoticeHasPostfixShapeAndNoRawClientBytes) {
  Transcript t(classes({"protocol"}), kServer);
  t.out_wire("220 mx.example ESMTP\r\n");
  t.in("From evil\x01\x80 line");
  t.out_wire("502 5.5.2 Error: command not recognized\r\n");
  t.problem(Problem::kProtocol);
  NoticeFields f;
  f.mail_name = "Postern";
  f.peer = "unknown[192.0.2.1]";
  f.myhostname = "mx.example";
  f.to = "postmaster";
  f.queue_id = "ABC123";
  f.now = 1700000000;
  f.reason = "lost connection";
  std::string m = compose_notice(t, f);
  EXPECT_NE(m.find("From: Mail Delivery System <MAILER-DAEMON@mx.example>\n"), std::string::npos) << m;
  EXPECT_NE(m.find("To: Postmaster <postmaster>\n"), std::string::npos);
  EXPECT_NE(m.find("Subject: Postern SMTP server: errors from unknown[192.0.2.1]\n"), std::string::npos);
  EXPECT_NE(m.find("Message-ID: <"), std::string::npos);
  EXPECT_NE(m.find("ABC123@mx.example>"), std::string::npos);
  EXPECT_NE(m.find("\n\nTranscript of session follows.\n\n Out: 220 mx.example ESMTP\n"), std::string::npos) << m;
  // Non-printable bytes are '?', and the line starts with a space.
  EXPECT_NE(m.find("\n In:  From evil?? line\n"), std::string::npos) << m;
  EXPECT_NE(m.find("Session aborted, reason: lost connection\n"), std::string::npos);
  EXPECT_NE(m.find("For other details, see the local mail logfile\n"), std::string::npos);
  for (char c : m) EXPECT_TRUE(c == '\n' || (c >= 0x20 && c < 0x7f)) << static_cast<int>(c);
}

TEST(Transcript, ClientReportsProtocolOnly) {
  Transcript t(classes({"resource", "software", "policy"}), TranscriptRole::kSmtpClient);
  EXPECT_FALSE(t.enabled());  // the default notify_classes cost the client nothing
  t.out("MAIL FROM:<a@example>");
  EXPECT_EQ(t.lines(), 0u);
  Transcript on(classes({"protocol"}), TranscriptRole::kLmtpClient);
  EXPECT_TRUE(on.enabled());
}

TEST(Transcript, ClientNoticeNamesTheServer) {
  Transcript t(classes({"protocol"}), TranscriptRole::kSmtpClient);
  t.in("220 mx.example ESMTP");
  t.out_wire("EHLO client.example\r\n");
  t.in("250 mx.example");
  t.out_wire("MAIL FROM:<a@example>\r\nRCPT TO:<b@example>\r\nDATA\r\n");
  t.in("601 what");
  t.problem(Problem::kProtocol);
  ASSERT_TRUE(t.worth_sending());
  EXPECT_FALSE(t.bounce_class());
  NoticeFields f;
  f.mail_name = "Postern";
  f.peer = "mx.example[192.0.2.2]:25";
  f.myhostname = "client.example";
  f.to = "postmaster";
  f.queue_id = "Q1";
  f.now = 1700000000;
  std::string m = compose_notice(t, f);
  EXPECT_NE(m.find("Subject: Postern SMTP client: errors from mx.example[192.0.2.2]:25\n"), std::string::npos) << m;
  EXPECT_NE(m.find("\n\nUnexpected response from mx.example[192.0.2.2]:25.\n\nTranscript of session follows.\n\n"
                   " In:  220 mx.example ESMTP\n Out: EHLO client.example\n"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find(" Out: MAIL FROM:<a@example>\n Out: RCPT TO:<b@example>\n Out: DATA\n In:  601 what\n"),
            std::string::npos)
      << m;
  EXPECT_EQ(m.find("Session aborted"), std::string::npos);
  Transcript l(classes({"protocol"}), TranscriptRole::kLmtpClient);
  l.in("garbage");
  EXPECT_NE(compose_notice(l, f).find("Subject: Postern LMTP client: errors from "), std::string::npos);
}
