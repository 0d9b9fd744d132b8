// dsn_test.cpp - unit tests for the DSN composition (dsn.h).
#include "dsn.h"

#include <gtest/gtest.h>

#include <sstream>

#include "queue/queue_file.h"

using namespace postern;
using namespace postern::bounce;
using queue::StatusEntry;

namespace {

StatusEntry entry(std::string rcpt, unsigned notify = 0, std::string status = "5.1.1",
                  std::string reason = "host mx.example.com[192.0.2.1] said: 550 5.1.1 no such user (in reply to "
                                       "RCPT TO command)",
                  std::string relay = "mx.example.com[192.0.2.1]:25") {
  StatusEntry e;
  e.recipient = std::move(rcpt);
  e.notify = notify;
  e.status = std::move(status);
  e.action = "failed";
  e.reason = std::move(reason);
  e.relay = std::move(relay);
  e.time = 1764633600;
  return e;
}

NoticeInfo info(NoticeKind kind = NoticeKind::Failure) {
  NoticeInfo i;
  i.kind = kind;
  i.myhostname = "mail.example.org";
  i.queue_id = "3F2A1C0D2";
  i.new_queue_id = "4B3C2D1E5";
  i.sender = "alice@example.org";
  i.to = "alice@example.org";
  i.arrival = 1764630000;
  i.now = 1764633700;
  i.date = "Tue, 01 Dec 2026 23:01:40 +0000 (UTC)";
  i.arrival_date = "Tue, 01 Dec 2026 22:00:00 +0000 (UTC)";
  return i;
}

OriginalCollector collect(std::string_view msg, bool full, std::size_t limit = 50000) {
  OriginalCollector c(full, limit);
  std::size_t pos = 0;
  while (pos < msg.size()) {
    auto nl = msg.find('\n', pos);
    std::string_view line = msg.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? msg.size() : nl + 1;
    if (!c.add(line, true)) break;
  }
  return c;
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::string boundary_of(const std::string& msg) {
  auto p = msg.find("boundary=\"");
  EXPECT_NE(p, std::string::npos);
  auto e = msg.find('"', p + 10);
  return msg.substr(p + 10, e - p - 10);
}

// The header section of a composed notice, and each MIME part (split on the
// boundary), checked line by line.
struct Parsed {
  std::string header;
  std::vector<std::string> parts;
  bool closed = false;
};

Parsed parse(const std::string& msg) {
  Parsed p;
  auto hdr_end = msg.find("\n\n");
  p.header = msg.substr(0, hdr_end + 1);
  std::string b = boundary_of(msg);
  std::string body = msg.substr(hdr_end + 2);
  std::string delim = "\n--" + b;
  std::size_t pos = body.find("--" + b + "\n");
  EXPECT_NE(pos, std::string::npos);
  pos += b.size() + 3;
  for (;;) {
    auto next = body.find(delim, pos);
    if (next == std::string::npos) break;
    p.parts.push_back(body.substr(pos, next - pos));
    pos = next + delim.size();
    if (body.compare(pos, 2, "--") == 0) {
      p.closed = true;
      break;
    }
    pos += 1;  // the newline after the boundary
  }
  return p;
}

const std::string kOriginal =
    "Received: from a by b\n"
    "From: Alice <alice@example.org>\n"
    "To: bob@example.com\n"
    "Subject: hello\n"
    "\n"
    "body line 1\n"
    "body line 2\n";

}  // namespace

TEST(Notify, FailureDelaySuccessRules) {
  using queue::kNotifyDelay, queue::kNotifyFailure, queue::kNotifyNever, queue::kNotifySuccess;
  EXPECT_TRUE(notice_wanted(NoticeKind::Failure, 0));
  EXPECT_TRUE(notice_wanted(NoticeKind::Failure, kNotifyFailure | kNotifyDelay));
  EXPECT_FALSE(notice_wanted(NoticeKind::Failure, kNotifySuccess));
  EXPECT_FALSE(notice_wanted(NoticeKind::Failure, kNotifyNever));
  EXPECT_TRUE(notice_wanted(NoticeKind::Delay, 0));
  EXPECT_TRUE(notice_wanted(NoticeKind::Delay, kNotifyDelay));
  EXPECT_FALSE(notice_wanted(NoticeKind::Delay, kNotifyFailure));
  EXPECT_FALSE(notice_wanted(NoticeKind::Success, 0));
  EXPECT_TRUE(notice_wanted(NoticeKind::Success, kNotifySuccess | kNotifyFailure));
  EXPECT_FALSE(notice_wanted(NoticeKind::Success, kNotifyNever));
}

TEST(Notify, SelectFiltersAndDeduplicates) {
  std::vector<StatusEntry> log = {entry("a@x", 0), entry("b@x", queue::kNotifyNever),
                                  entry("c@x", queue::kNotifySuccess), entry("d@x", queue::kNotifyFailure),
                                  entry("a@x", 0, "5.2.2", "mailbox full", "none")};
  auto sel = select_entries(NoticeKind::Failure, log);
  ASSERT_EQ(sel.size(), 2u);
  EXPECT_EQ(sel[0].recipient, "a@x");
  EXPECT_EQ(sel[0].status, "5.2.2");  // the later entry wins, in the first one's place
  EXPECT_EQ(sel[1].recipient, "d@x");
  auto ok = select_entries(NoticeKind::Success, log);
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(ok[0].recipient, "c@x");
  EXPECT_TRUE(select_entries(NoticeKind::Success, {entry("n@x", queue::kNotifyNever)}).empty());
}

TEST(Sanitize, ControlsAndEightBit) {
  EXPECT_EQ(sanitize_text("a\r\nB: c"), "a B: c");
  EXPECT_EQ(sanitize_text(std::string("x\0y", 3)), "x y");
  EXPECT_EQ(sanitize_text("caf\xc3\xa9\x7f"), "caf???");
  EXPECT_EQ(sanitize_text("  lots   of \t space  "), "lots of space");
  EXPECT_EQ(sanitize_text("abcdef", 3), "abc");
}

TEST(Sanitize, OriginalRecipient) {
  EXPECT_EQ(original_recipient_field("rfc822;joe@example.com"), "rfc822; joe@example.com");
  EXPECT_EQ(original_recipient_field("rfc822;joe+2Bx@example.com"), "rfc822; joe+x@example.com");
  // Encoded CR LF must not start a new field.
  auto inj = original_recipient_field("rfc822;a@b+0D+0AAction:+20delivered");
  ASSERT_TRUE(inj);
  EXPECT_EQ(inj->find('\n'), std::string::npos);
  EXPECT_EQ(inj->find('\r'), std::string::npos);
  EXPECT_EQ(*inj, "rfc822; a@b Action: delivered");
  EXPECT_FALSE(original_recipient_field("rfc822;a@b\r\nX: y"));  // not xtext
  EXPECT_FALSE(original_recipient_field("no-semicolon"));
  EXPECT_FALSE(original_recipient_field("rfc 822;a@b"));
  EXPECT_FALSE(original_recipient_field("rfc822;+0D+0A"));  // nothing left
  EXPECT_FALSE(original_recipient_field("rfc822;a+4"));     // truncated hexchar
}

TEST(Sanitize, EnvelopeId) {
  EXPECT_EQ(envelope_id_field("QQ314159"), "QQ314159");
  EXPECT_EQ(envelope_id_field("a+2Bb"), "a+2Bb");
  auto inj = envelope_id_field("x+0D+0ASubject:+20pwned");
  ASSERT_TRUE(inj);
  EXPECT_EQ(*inj, "x+0D+0ASubject:+20pwned");  // stays xtext: no raw CR/LF/space
  auto raw = envelope_id_field("x\r\nSubject: y");   // not xtext at all: encoded
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->find_first_of("\r\n "), std::string::npos);
  EXPECT_FALSE(envelope_id_field(""));
  EXPECT_LE(envelope_id_field(std::string(500, 'a'))->size(), 100u);
}

TEST(Fold, LongValuesAreFoldedAndBounded) {
  std::string word(40, 'w');
  std::string value;
  for (int i = 0; i < 30; ++i) value += word + " ";
  std::string f = fold_field("Diagnostic-Code", "smtp; " + value);
  auto ls = lines(f);
  ASSERT_GT(ls.size(), 5u);
  EXPECT_EQ(ls[0].rfind("Diagnostic-Code: smtp; ", 0), 0u);
  for (std::size_t i = 1; i < ls.size(); ++i) {
    EXPECT_EQ(ls[i][0], '\t') << ls[i];
    EXPECT_NE(ls[i][1], ' ') << ls[i];
    EXPECT_LE(ls[i].size(), 78u);
  }
  std::string huge = fold_field("X", std::string(3000, 'z'));  // no space to fold at
  for (const auto& l : lines(huge)) EXPECT_LE(l.size(), 998u);
  EXPECT_EQ(fold_field("Status", "5.1.1"), "Status: 5.1.1\n");
}

TEST(RemoteMta, Relay) {
  EXPECT_EQ(remote_mta("mx.example.com[192.0.2.1]:25"), "mx.example.com");
  EXPECT_FALSE(remote_mta("mx.example.com:25"));
  EXPECT_FALSE(remote_mta("dovecot"));  // a pipe service
  EXPECT_FALSE(remote_mta("virtual"));
  EXPECT_FALSE(remote_mta("none"));
  EXPECT_FALSE(remote_mta("local"));
  EXPECT_FALSE(remote_mta(""));
  EXPECT_FALSE(remote_mta("[192.0.2.1]:25"));
  EXPECT_FALSE(remote_mta("evil host\tX"));
}

TEST(Original, HeadersOnlyStopsAtBody) {
  auto c = collect(kOriginal, false);
  EXPECT_FALSE(c.full());
  EXPECT_EQ(c.text(), kOriginal.substr(0, kOriginal.find("\n\n") + 1));
  EXPECT_FALSE(c.truncated());
}

TEST(Original, FullIsBoundedByLimit) {
  auto all = collect(kOriginal, true);
  EXPECT_EQ(all.text(), kOriginal);
  std::string big = kOriginal;
  for (int i = 0; i < 1000; ++i) big += "more body text that will be cut off at the limit\n";
  auto cut = collect(big, true, 2000);
  EXPECT_TRUE(cut.truncated());
  EXPECT_LE(cut.text().size(), 2000u);
  EXPECT_EQ(cut.text().rfind(kOriginal, 0), 0u);  // headers kept, body cut at a line
  EXPECT_EQ(cut.text().back(), '\n');
  // A single line longer than the limit, in pieces: never more than the limit kept.
  OriginalCollector pieces(true, 100);
  EXPECT_TRUE(pieces.add("Subject: x", true));
  EXPECT_TRUE(pieces.add("", true));
  EXPECT_TRUE(pieces.add(std::string(80, 'a'), false));
  EXPECT_FALSE(pieces.add(std::string(80, 'b'), true));
  EXPECT_TRUE(pieces.truncated());
  EXPECT_LE(pieces.text().size(), 100u);
  EXPECT_FALSE(pieces.add("late", true));
}

TEST(Original, EightBit) {
  auto c = collect("Subject: caf\xc3\xa9\n\nx\n", false);
  EXPECT_TRUE(c.has_8bit());
  EXPECT_FALSE(collect(kOriginal, true).has_8bit());
}

TEST(Compose, FailureStructure) {
  auto orig = collect(kOriginal, false);
  StatusEntry e = entry("bob@example.com");
  e.orcpt = "rfc822;Bob@Example.COM";
  std::string msg = compose_notice(info(), {e}, orig);
  Parsed p = parse(msg);
  EXPECT_NE(p.header.find("From: MAILER-DAEMON@mail.example.org (Mail Delivery System)\n"), std::string::npos);
  EXPECT_NE(p.header.find("To: alice@example.org\n"), std::string::npos);
  EXPECT_NE(p.header.find("Subject: Undelivered Mail Returned to Sender\n"), std::string::npos);
  EXPECT_NE(p.header.find("Auto-Submitted: auto-replied\n"), std::string::npos);
  EXPECT_NE(p.header.find("Message-ID: <20"), std::string::npos) << p.header;
  EXPECT_NE(p.header.find(".4B3C2D1E5@mail.example.org>\n"), std::string::npos) << p.header;
  EXPECT_NE(p.header.find("Content-Type: multipart/report; report-type=delivery-status;\n\tboundary="),
            std::string::npos);
  ASSERT_TRUE(p.closed);
  ASSERT_EQ(p.parts.size(), 3u);
  EXPECT_NE(p.parts[0].find("Content-Type: text/plain"), std::string::npos);
  EXPECT_NE(p.parts[0].find("This is the mail system at host mail.example.org."), std::string::npos);
  EXPECT_NE(p.parts[0].find("<bob@example.com>: host mx.example.com[192.0.2.1] said: 550 5.1.1 no such user"),
            std::string::npos);
  const std::string& ds = p.parts[1];
  EXPECT_NE(ds.find("Content-Type: message/delivery-status\n\n"), std::string::npos);
  for (const char* want : {"Reporting-MTA: dns; mail.example.org\n", "X-Postern-Queue-ID: 3F2A1C0D2\n",
                           "X-Postern-Sender: rfc822; alice@example.org\n", "Arrival-Date: Tue, 01 Dec 2026",
                           "\n\nFinal-Recipient: rfc822; bob@example.com\n",
                           "Original-Recipient: rfc822; Bob@Example.COM\n", "Action: failed\n", "Status: 5.1.1\n",
                           "Remote-MTA: dns; mx.example.com\n", "Diagnostic-Code: smtp; 550 5.1.1 no such user\n",
                           "Last-Attempt-Date: "})
    EXPECT_NE(ds.find(want), std::string::npos) << want << "\n" << ds;
  EXPECT_EQ(ds.find("Original-Envelope-Id"), std::string::npos);
  EXPECT_NE(p.parts[2].find("Content-Type: text/rfc822-headers\n"), std::string::npos);
  EXPECT_NE(p.parts[2].find("Subject: hello\n"), std::string::npos);
  EXPECT_EQ(p.parts[2].find("body line"), std::string::npos);
  // 7-bit clean, no over-long lines.
  for (const auto& l : lines(msg)) EXPECT_LE(l.size(), 998u);
  for (char c : msg) EXPECT_LT(static_cast<unsigned char>(c), 0x80);
}

TEST(Compose, FullReturnsMessage) {
  auto orig = collect(kOriginal, true);
  Parsed p = parse(compose_notice(info(), {entry("bob@example.com")}, orig));
  ASSERT_EQ(p.parts.size(), 3u);
  EXPECT_NE(p.parts[2].find("Content-Type: message/rfc822\n\n"), std::string::npos);
  EXPECT_NE(p.parts[2].find("body line 2"), std::string::npos);
}

// notify_classes copies: Postfix's subjects, the reasons without the text
// meant for the sender.
TEST(Compose, PostmasterCopy) {
  EXPECT_EQ(notice_subject(NoticeKind::Failure, true), "Postmaster Copy: Undelivered Mail");
  EXPECT_EQ(notice_subject(NoticeKind::Delay, true), "Postmaster Warning: Delayed Mail");
  EXPECT_EQ(notice_subject(NoticeKind::Failure), "Undelivered Mail Returned to Sender");
  NoticeInfo i = info();
  i.postmaster = true;
  i.to = "postmaster";
  Parsed p = parse(compose_notice(i, {entry("bob@example.com")}, collect(kOriginal, false)));
  EXPECT_NE(p.header.find("Subject: Postmaster Copy: Undelivered Mail\n"), std::string::npos);
  // Generated on the system's own account, not a reply (RFC 3834; Postfix).
  EXPECT_NE(p.header.find("Auto-Submitted: auto-generated\n"), std::string::npos);
  ASSERT_EQ(p.parts.size(), 3u);
  EXPECT_EQ(p.parts[0].find("Your message could not be delivered"), std::string::npos);
  EXPECT_NE(p.parts[0].find("<bob@example.com>: "), std::string::npos);
  // Every recipient, NOTIFY=NEVER included, when asked for all.
  std::vector<StatusEntry> log{entry("n@x", queue::kNotifyNever), entry("d@x")};
  EXPECT_EQ(select_entries(NoticeKind::Failure, log).size(), 1u);
  EXPECT_EQ(select_entries(NoticeKind::Failure, log, true).size(), 2u);
}

TEST(Compose, MailNameOriginalRecipientAndNullSender) {
  NoticeInfo i = info();
  i.mail_name = "Postfix";  // an administrator who keeps Postfix's name for parsers
  i.sender = "";
  StatusEntry aliased = entry("bob@example.com", 0, "5.1.1", "unknown user: \"bob\"", "local");
  aliased.original_recipient = "info@example.com";
  StatusEntry same = entry("carol@example.com");
  same.original_recipient = "carol@example.com";
  Parsed p = parse(compose_notice(i, {aliased, same}, collect(kOriginal, false)));
  EXPECT_NE(p.parts[1].find("X-Postfix-Queue-ID: 3F2A1C0D2\n"), std::string::npos) << p.parts[1];
  EXPECT_NE(p.parts[1].find("X-Postfix-Sender: rfc822; MAILER-DAEMON\n"), std::string::npos);
  EXPECT_NE(p.parts[1].find("Diagnostic-Code: X-Postfix; unknown user: \"bob\"\n"), std::string::npos);
  // Without ORCPT, the address before rewriting when it differs.
  EXPECT_NE(p.parts[1].find("Final-Recipient: rfc822; bob@example.com\nOriginal-Recipient: rfc822; info@example.com\n"),
            std::string::npos) << p.parts[1];
  EXPECT_EQ(p.parts[1].find("Original-Recipient: rfc822; carol@example.com"), std::string::npos);
}

TEST(Compose, LocalFailureUsesPrivateDiagnosticType) {
  Parsed p = parse(compose_notice(info(), {entry("joe@localhost", 0, "5.1.1", "unknown user: \"joe\"", "local")},
                                  collect(kOriginal, false)));
  EXPECT_NE(p.parts[1].find("Diagnostic-Code: X-Postern; unknown user: \"joe\"\n"), std::string::npos);
  EXPECT_EQ(p.parts[1].find("Remote-MTA"), std::string::npos);
}

TEST(Compose, OnlyAServersReplyIsAnSmtpDiagnostic) {
  auto ds = [](const std::string& reason, const std::string& relay) {
    return parse(compose_notice(info(), {entry("bob@example.com", 0, "4.4.1", reason, relay)},
                                collect(kOriginal, false)))
        .parts[1];
  };
  std::string p = ds("connect to mx.example.com[192.0.2.1]:25: Connection refused", "mx.example.com[192.0.2.1]:25");
  EXPECT_NE(p.find("Remote-MTA: dns; mx.example.com\n"), std::string::npos) << p;
  EXPECT_NE(p.find("Diagnostic-Code: X-Postern; connect to mx.example.com[192.0.2.1]:25:\n\tConnection refused\n"),
            std::string::npos)
      << p;
  p = ds("lost connection with mx.example.com[192.0.2.1] while sending RCPT TO", "mx.example.com[192.0.2.1]:25");
  EXPECT_NE(p.find("Diagnostic-Code: X-Postern; lost connection with"), std::string::npos) << p;
  // A pipe service's relay is not an MTA, whatever its command printed.
  p = ds("host evil said: 250 ok (in reply to end of DATA command)", "dovecot");
  EXPECT_EQ(p.find("Remote-MTA"), std::string::npos) << p;
  EXPECT_NE(p.find("Diagnostic-Code: X-Postern; host evil said: 250 ok"), std::string::npos) << p;
}

TEST(Compose, InjectionAttemptsStayInsideTheirField) {
  NoticeInfo i = info();
  i.envid = "id+0D+0ASubject:+20pwned";
  i.to = "alice\r\nBcc: victim@example.com";
  StatusEntry e = entry("bob@example.com\nAction: delivered", 0, "5.1.1\nX: y",
                        "bad\r\n\r\nFinal-Recipient: rfc822; forged@example.com", "mx[1.2.3.4]:25\nRemote-MTA: x");
  e.orcpt = "rfc822;x+0D+0A+0D+0AFinal-Recipient:+20rfc822;+20forged2";
  e.original_recipient = "orig\nBcc: x";
  std::string msg = compose_notice(i, {e}, collect(kOriginal, false));
  Parsed p = parse(msg);
  ASSERT_EQ(p.parts.size(), 3u);
  // No line anywhere starts a forged header or field.
  for (const auto& l : lines(msg)) {
    EXPECT_NE(l.rfind("Bcc:", 0), 0u) << l;
    EXPECT_NE(l.rfind("Subject: pwned", 0), 0u) << l;
    EXPECT_NE(l.rfind("X: y", 0), 0u) << l;
  }
  // Exactly one recipient block and one Final-Recipient field.
  std::size_t finals = 0;
  for (const auto& l : lines(p.parts[1]))
    if (l.rfind("Final-Recipient:", 0) == 0) ++finals;
  EXPECT_EQ(finals, 1u);
  EXPECT_NE(p.parts[1].find("Status: 5.0.0\n"), std::string::npos);  // bad code replaced
  EXPECT_NE(p.parts[1].find("Original-Envelope-Id: id+0D+0ASubject:+20pwned\n"), std::string::npos);
  EXPECT_NE(p.parts[1].find("Remote-MTA: dns; mx\n"), std::string::npos);  // only the host part
  EXPECT_EQ(p.parts[1].find("Remote-MTA: x"), std::string::npos);
  auto hdr = lines(p.header);
  for (const auto& l : hdr)
    if (l.rfind("To:", 0) == 0) {
      EXPECT_EQ(l.find('\r'), std::string::npos);
    }
}

TEST(Compose, BoundaryNeverInsideTheOriginal) {
  NoticeInfo i = info();
  std::string b = "4B3C2D1E5.1764633700/mail.example.org";
  std::string evil = "Subject: x\n\n--" + b + "\nContent-Type: text/plain\n\n--" + b + "/1--\n";
  auto orig = collect(evil, true);
  std::string msg = compose_notice(i, {entry("bob@example.com")}, orig);
  std::string chosen = boundary_of(msg);
  EXPECT_NE(chosen, b);
  EXPECT_EQ(orig.text().find("--" + chosen), std::string::npos);
  EXPECT_EQ(parse(msg).parts.size(), 3u);
}

TEST(Compose, DelayAndSuccessShapes) {
  NoticeInfo d = info(NoticeKind::Delay);
  d.retry_until = d.arrival + 5 * 86400;
  StatusEntry e = entry("bob@example.com", 0, "4.4.1", "connect to mx[192.0.2.1]:25: Connection refused", "none");
  e.action = "delayed";
  std::string dm = compose_notice(d, {e}, collect(kOriginal, false));
  EXPECT_NE(dm.find("Subject: Delayed Mail (still being retried)\n"), std::string::npos);
  EXPECT_NE(dm.find("Action: delayed\n"), std::string::npos);
  EXPECT_NE(dm.find("Will-Retry-Until: "), std::string::npos);
  EXPECT_NE(dm.find("warning only"), std::string::npos);

  NoticeInfo s = info(NoticeKind::Success);
  StatusEntry ok = entry("bob@example.com", queue::kNotifySuccess, "2.0.0", "delivered to mailbox", "local");
  ok.action = "delivered";
  std::string sm = compose_notice(s, {ok}, collect(kOriginal, false));
  EXPECT_NE(sm.find("Subject: Successful Mail Delivery Report\n"), std::string::npos);
  EXPECT_NE(sm.find("Action: delivered\nStatus: 2.0.0\n"), std::string::npos);
}

TEST(Compose, HugeAddressesStillGiveShortLines) {
  StatusEntry e = entry(std::string(1500, 'u') + "@example.com");
  e.original_recipient = std::string(1500, 'o') + "@example.com";
  e.orcpt = "rfc822;" + std::string(1000, 'x');
  NoticeInfo i = info();
  i.to = std::string(3000, 't');
  std::string msg = compose_notice(i, {e}, collect(kOriginal, false));
  for (const auto& l : lines(msg)) EXPECT_LE(l.size(), 998u);
  EXPECT_EQ(parse(msg).parts.size(), 3u);
}

TEST(Compose, ManyRecipientsAreCapped) {
  std::vector<StatusEntry> many;
  for (int n = 0; n < 1500; ++n) many.push_back(entry("user" + std::to_string(n) + "@example.com"));
  std::string msg = compose_notice(info(), many, collect(kOriginal, false));
  EXPECT_NE(msg.find("500 more recipients are not listed"), std::string::npos);
  EXPECT_EQ(msg.find("user1000@example.com"), std::string::npos);
  EXPECT_NE(msg.find("user999@example.com"), std::string::npos);
}

TEST(Compose, EightBitOriginalMarksEncoding) {
  std::string msg = compose_notice(info(), {entry("b@x")}, collect("Subject: caf\xc3\xa9\n\nx\n", false));
  EXPECT_NE(msg.find("Content-Transfer-Encoding: 8bit\n"), std::string::npos);
}

// bounce_template_file (template.h).
namespace {

Result<Templates> templates(std::string_view file) {
  return parse_templates(file, "bounce.cf", [](std::string_view raw) -> Result<std::string> {
    std::string t(raw);
    for (std::size_t at; (at = t.find("$myhostname")) != std::string::npos;) t.replace(at, 11, "mx.example");
    return t;
  });
}

}  // namespace

TEST(Templates, ParseHeadersTextAndComments) {
  auto t = templates(
      "# local texts\n"
      "\n"
      "failure_template = <<EOF\n"
      "charset: utf-8\n"
      "From: MAILER-DAEMON (Postmeister)\n"
      "Subject: Unzustellbar\n"
      "Postmaster-Subject: Kopie: Unzustellbar\n"
      "\n"
      "Dies ist das Mailsystem auf $myhostname.\n"
      "  \\n bleibt, wie es ist: Gr\xc3\xbc\xc3\x9f""e.\n"
      "EOF\n"
      "delay_template = <<END\n"
      "Still trying at $myhostname.\n"
      "END\n");
  ASSERT_TRUE(t) << t.error().message;
  ASSERT_TRUE(t->failure);
  EXPECT_EQ(t->failure->charset, "utf-8");
  EXPECT_EQ(t->failure->from, "MAILER-DAEMON (Postmeister)");
  EXPECT_EQ(t->failure->subject, "Unzustellbar");
  EXPECT_EQ(t->failure->postmaster_subject, "Kopie: Unzustellbar");
  EXPECT_EQ(t->failure->text, "Dies ist das Mailsystem auf mx.example.\n  \\n bleibt, wie es ist: Gr\xc3\xbc\xc3\x9f""e.\n");
  ASSERT_TRUE(t->delay);  // no headers: the text starts at once
  EXPECT_EQ(t->delay->charset, "us-ascii");
  EXPECT_EQ(t->delay->text, "Still trying at mx.example.\n");
  EXPECT_FALSE(t->success);
  EXPECT_FALSE(t->verify);
}

TEST(Templates, SyntaxErrorsNameTheLine) {
  auto err = [](std::string_view f) {
    auto t = templates(f);
    return t ? std::string("parsed") : t.error().message;
  };
  EXPECT_EQ(err("failure_template = EOF\n"), "bounce.cf, line 1: expected \"name = <<EOF\", found \"failure_template = EOF\"");
  EXPECT_EQ(err("stray text\n"), "bounce.cf, line 1: expected \"name = <<EOF\", found \"stray text\"");
}

TEST(Templates, ABadTemplateIsIgnoredWithAWarning) {
  // Postfix's bounce(8): a problem inside one template costs that template
  // only, so a typo never stops the bounce service.
  auto warned = [](std::string_view f) {
    auto t = templates(f);
    EXPECT_TRUE(t) << t.error().message;
    return t && t->warnings.size() == 1 ? t->warnings[0] : std::string("no single warning");
  };
  EXPECT_EQ(warned("\n\nbogus_template = <<EOF\nx\nEOF\n"),
            "bounce.cf, line 3: unknown template \"bogus_template\" -- ignoring this template");
  EXPECT_EQ(warned("delay_template = <<EOF\ntext\n"),
            "bounce.cf, line 1: delay_template has no \"EOF\" line to end it -- ignoring this template");
  EXPECT_EQ(warned("delay_template = <<EOF\nX-Other: y\n\ntext\nEOF\n"),
            "bounce.cf, line 2: unknown template header \"X-Other\" -- ignoring this template");
  EXPECT_EQ(warned("failure_template = <<EOF\nGr\xc3\xbc\xc3\x9f""e\nEOF\n"),
            "bounce.cf: failure_template: the text is not ASCII; give a Charset: that is a superset of US-ASCII"
            " -- ignoring this template");
  EXPECT_EQ(warned("failure_template = <<EOF\nSubject: Gr\xc3\xbc\xc3\x9f""e\n\nx\nEOF\n"),
            "bounce.cf, line 2: template headers must be ASCII -- ignoring this template");
  // The good templates around a bad one still count.
  auto t = templates("failure_template = <<EOF\nX-Bad: 1\n\nno\nEOF\nbogus = <<END\nx\nEND\n"
                     "delay_template = <<EOF\nfirst\nEOF\ndelay_template = <<EOF\nsecond\nEOF\n");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->warnings.size(), 2u);
  EXPECT_FALSE(t->failure);
  ASSERT_TRUE(t->delay);
  EXPECT_EQ(t->delay->text, "second\n");  // given twice: the later one
}

TEST(Templates, ReplaceTheTextFromAndSubjectOfTheSendersNotice) {
  auto t = templates("failure_template = <<EOF\nCharset: utf-8\nFrom: MAILER-DAEMON (Postmeister)\n"
                     "Subject: Unzustellbar\nPostmaster-Subject: Kopie\n\nLeider: Gr\xc3\xbc\xc3\x9f""e.\nEOF\n");
  ASSERT_TRUE(t) << t.error().message;
  auto orig = collect(kOriginal, false);
  NoticeInfo i = info();
  i.templ = &*t->failure;
  Parsed p = parse(compose_notice(i, {entry("bob@example.com")}, orig));
  EXPECT_NE(p.header.find("From: MAILER-DAEMON@mail.example.org (Postmeister)\n"), std::string::npos) << p.header;
  EXPECT_NE(p.header.find("Subject: Unzustellbar\n"), std::string::npos);
  EXPECT_NE(p.header.find("Content-Transfer-Encoding: 8bit\n"), std::string::npos);
  ASSERT_EQ(p.parts.size(), 3u);
  EXPECT_NE(p.parts[0].find("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n"),
            std::string::npos) << p.parts[0];
  EXPECT_NE(p.parts[0].find("Leider: Gr\xc3\xbc\xc3\x9f""e.\n"), std::string::npos);
  EXPECT_EQ(p.parts[0].find("This is the mail system"), std::string::npos);
  // The report of each recipient still follows the text.
  EXPECT_NE(p.parts[0].find("<bob@example.com>: host mx.example.com[192.0.2.1] said: 550 5.1.1 no such user"),
            std::string::npos);
  // The postmaster copy keeps the built-in text, with Postmaster-Subject.
  i.postmaster = true;
  Parsed pm = parse(compose_notice(i, {entry("bob@example.com")}, orig));
  EXPECT_NE(pm.header.find("Subject: Kopie\n"), std::string::npos);
  EXPECT_NE(pm.parts[0].find("Enclosed is the mail delivery report, for the postmaster."), std::string::npos);
  EXPECT_NE(pm.parts[0].find("charset=us-ascii"), std::string::npos);
}
