// received_test.cpp - the Received: header builder, including injection attempts.
#include "mail/received.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

using namespace postern::mail;

namespace {

constexpr std::time_t kExample = 1795455144;  // 2026-11-23 17:32:24 UTC

class ReceivedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* old = std::getenv("TZ")) {
      had_ = true;
      old_ = old;
    }
    setenv("TZ", "UTC0", 1);
    tzset();
  }
  void TearDown() override {
    if (had_) {
      setenv("TZ", old_.c_str(), 1);
    } else {
      unsetenv("TZ");
    }
    tzset();
  }
  bool had_ = false;
  std::string old_;
};

ReceivedInfo base_info() {
  ReceivedInfo in;
  in.helo_name = "client.example";
  in.client_name = "mail.client.example";
  in.client_addr = "192.0.2.1";
  in.protocol = ReceivedProtocol::kEsmtp;
  in.myhostname = "mx.example.org";
  in.queue_id = "3F2A1C0D2";
  in.when = kExample;
  return in;
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  for (;;) {
    auto nl = s.find('\n', pos);
    out.push_back(s.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return out;
}

// The structural guarantees: one header, continuation lines start with a tab,
// no control characters other than those, no CR anywhere.
void expect_well_formed(const std::string& h, std::size_t expected_lines) {
  auto ls = lines(h);
  ASSERT_EQ(ls.size(), expected_lines) << h;
  EXPECT_EQ(ls[0].rfind("Received: from ", 0), 0u) << h;
  for (std::size_t i = 0; i < ls.size(); ++i) {
    if (i > 0) {
      ASSERT_FALSE(ls[i].empty()) << h;
      EXPECT_EQ(ls[i][0], '\t') << h;
    }
    for (std::size_t k = (i > 0 ? 1 : 0); k < ls[i].size(); ++k) {
      unsigned char c = static_cast<unsigned char>(ls[i][k]);
      EXPECT_FALSE(c < 0x20 || c == 0x7f) << "control character in: " << h;
    }
  }
}

}  // namespace

TEST_F(ReceivedTest, OneRecipient) {
  Address rcpt{"bob", "example.org", ""};
  ReceivedInfo in = base_info();
  in.recipient = &rcpt;
  EXPECT_EQ(build_received(in),
            "Received: from client.example (mail.client.example [192.0.2.1])\n"
            "\tby mx.example.org (Postern) with ESMTP id 3F2A1C0D2\n"
            "\tfor <bob@example.org>; Mon, 23 Nov 2026 17:32:24 +0000 (UTC)");
}

TEST_F(ReceivedTest, NoOrSeveralRecipients) {
  ReceivedInfo in = base_info();
  EXPECT_EQ(build_received(in),
            "Received: from client.example (mail.client.example [192.0.2.1])\n"
            "\tby mx.example.org (Postern) with ESMTP id 3F2A1C0D2;\n"
            "\tMon, 23 Nov 2026 17:32:24 +0000 (UTC)");
  in.queue_id = "";
  EXPECT_EQ(lines(build_received(in))[1], "\tby mx.example.org (Postern) with ESMTP;");
}

TEST_F(ReceivedTest, HeloMissingUsesClientNameAndQuotedRecipient) {
  Address rcpt{"john doe", "example.org", ""};
  ReceivedInfo in = base_info();
  in.helo_name = "";
  in.client_name = "";
  in.client_addr = "IPv6:2001:db8::1";
  in.recipient = &rcpt;
  in.protocol = ReceivedProtocol::kSmtp;
  std::string h = build_received(in);
  EXPECT_EQ(lines(h)[0], "Received: from unknown (unknown [IPv6:2001:db8::1])");
  // Without the tag (smtpd and qmqpd pass the bare address) it is added.
  in.client_addr = "2001:db8::1";
  EXPECT_EQ(lines(build_received(in))[0], "Received: from unknown (unknown [IPv6:2001:db8::1])");
  EXPECT_EQ(lines(h)[1], "\tby mx.example.org (Postern) with SMTP id 3F2A1C0D2");
  EXPECT_EQ(lines(h)[2], "\tfor <\"john doe\"@example.org>; Mon, 23 Nov 2026 17:32:24 +0000 (UTC)");
}

TEST_F(ReceivedTest, TlsAndSaslLines) {
  ReceivedTls tls;
  tls.protocol = "TLSv1.3";
  tls.cipher = "TLS_AES_256_GCM_SHA384";
  tls.cipher_usebits = 256;
  tls.cipher_algbits = 256;
  ReceivedInfo in = base_info();
  in.tls = &tls;
  in.sasl_username = "alice";
  in.protocol = received_protocol(true, true, true, false);
  std::string h = build_received(in);
  expect_well_formed(h, 6);
  auto ls = lines(h);
  EXPECT_EQ(ls[1], "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))");
  EXPECT_EQ(ls[2], "\t(No client certificate requested)");
  EXPECT_EQ(ls[3], "\t(Authenticated sender: alice)");
  EXPECT_EQ(ls[4], "\tby mx.example.org (Postern) with ESMTPSA id 3F2A1C0D2;");

  tls.asked_client_cert = true;
  EXPECT_EQ(lines(build_received(in))[2], "\t(Client did not present a certificate)");
  tls.have_peer_cn = true;
  tls.peer_cn = "client.example";
  tls.issuer_cn = "Example CA";
  tls.peer_verified = true;
  EXPECT_EQ(lines(build_received(in))[2],
            "\t(Client CN \"client.example\", Issuer \"Example CA\" (verified OK))");
  tls.peer_verified = false;
  EXPECT_EQ(lines(build_received(in))[2],
            "\t(Client CN \"client.example\", Issuer \"Example CA\" (not verified))");
}

TEST_F(ReceivedTest, InjectionAttemptsAreNeutralised) {
  Address rcpt{"a\r\nBcc: victim@example.com\r\n", "example.org>\r\nX-Evil: 1", ""};
  ReceivedTls tls;
  tls.protocol = "TLSv1.3\r\nX-Evil: 2";
  tls.cipher = "C)\n(";
  tls.have_peer_cn = true;
  tls.peer_cn = "cn\"), Issuer \"x\" (verified OK))\r\nX-Evil: 3";
  tls.issuer_cn = "\\\n";
  ReceivedInfo in = base_info();
  in.helo_name = "evil\r\nX-Injected: yes";
  in.client_name = "name (with) <stuff>;@\"\\\x7f\xff";
  in.client_addr = "1.2.3.4]\r\nX: y";
  in.myhostname = "mx\n.example";
  in.mail_name = "Postern)\n(";
  in.queue_id = "ID\r\nX: z";
  in.sasl_username = "alice)\r\n\tby fake";
  in.tls = &tls;
  in.recipient = &rcpt;
  std::string h = build_received(in);
  expect_well_formed(h, 6);
  auto ls = lines(h);
  EXPECT_EQ(ls[0], "Received: from evil??X-Injected:?yes (name??with???stuff??????? [1.2.3.4???X:?y])");
  EXPECT_EQ(ls[1], "\t(using TLSv1.3??X-Evil: 2 with cipher C??? (0/0 bits))");
  EXPECT_EQ(ls[2],
            "\t(Client CN \"cn??, Issuer ?x? ?verified OK????X-Evil: 3\", Issuer \"??\" (not verified))");
  EXPECT_EQ(ls[3], "\t(Authenticated sender: alice????by fake)");
  EXPECT_EQ(ls[4], "\tby mx?.example (Postern?" "?" "?) with ESMTP id ID??X??z");
  EXPECT_EQ(ls[5],
            "\tfor <\"a\\??Bcc: victim@example.com\\??\"@example.org???X-Evil:?1>; "
            "Mon, 23 Nov 2026 17:32:24 +0000 (UTC)");
  // No text ever ends the angle brackets or parentheses early.
  EXPECT_EQ(ls[5].find('>'), ls[5].find(">; "));
}

TEST_F(ReceivedTest, Utf8RecipientKeptInvalidBytesMasked) {
  Address rcpt{"j\xc3\xb6rg\xff", "b\xc3\xbc" "cher.example", ""};
  ReceivedInfo in = base_info();
  in.protocol = ReceivedProtocol::kUtf8smtps;
  in.recipient = &rcpt;
  auto ls = lines(build_received(in));
  EXPECT_EQ(ls[1], "\tby mx.example.org (Postern) with UTF8SMTPS id 3F2A1C0D2");
  EXPECT_EQ(ls[2].substr(0, 29), "\tfor <j\xc3\xb6rg?@b\xc3\xbc" "cher.example>");
}

TEST_F(ReceivedTest, LocalSubmissionNamesTheUid) {
  EXPECT_EQ(build_local_received("mx.example.org", "Postern", 1000, "3F2A1C0D2", kExample),
            "Received: by mx.example.org (Postern, from userid 1000)\n"
            "\tid 3F2A1C0D2; Mon, 23 Nov 2026 17:32:24 +0000 (UTC)");
  // A mail_name cannot close the comment or add a line.
  auto h = build_local_received("mx.example.org", "X)\nBcc: y", 0, "3F2A1C0D2", kExample);
  EXPECT_EQ(lines(h).size(), 2u) << h;
  EXPECT_EQ(h.find(")\n"), h.find(", from userid 0)") + std::string(", from userid 0").size()) << h;
}

TEST(ReceivedProtocol, Mapping) {
  EXPECT_EQ(protocol_name(received_protocol(false, false, false, false)), "SMTP");
  EXPECT_EQ(protocol_name(received_protocol(false, true, true, true)), "SMTP");
  EXPECT_EQ(protocol_name(received_protocol(true, false, false, false)), "ESMTP");
  EXPECT_EQ(protocol_name(received_protocol(true, true, false, false)), "ESMTPS");
  EXPECT_EQ(protocol_name(received_protocol(true, false, true, false)), "ESMTPA");
  EXPECT_EQ(protocol_name(received_protocol(true, true, true, false)), "ESMTPSA");
  EXPECT_EQ(protocol_name(received_protocol(true, false, false, true)), "UTF8SMTP");
  EXPECT_EQ(protocol_name(received_protocol(true, true, false, true)), "UTF8SMTPS");
  EXPECT_EQ(protocol_name(received_protocol(true, false, true, true)), "UTF8SMTPA");
  EXPECT_EQ(protocol_name(received_protocol(true, true, true, true)), "UTF8SMTPSA");
  EXPECT_EQ(protocol_name(ReceivedProtocol::kQmqp), "QMQP");
}
