// message_test.cpp - header handling, sendmail -t extraction, limits,
// missing headers, address rewriting and mapping on the way into a queue
// file, checked by reading the file back with the queue reader.
#include "cleanup/message.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "cleanup/cleanup_test_util.h"

namespace postern::cleanup {
namespace {

using namespace testing;
namespace flag = submit::cleanup_flag;

struct Outcome {
  std::optional<MappingError> verdict;
  std::string queue_id;
  std::optional<queue::QueueFileReader> file;
  std::vector<fs::path> incoming_after;  // files left in incoming/
  bool discarded = false;

  std::string text() const { return file ? content_text(*file) : ""; }
  std::vector<std::string> recipients(queue::Segment seg) const {
    std::vector<std::string> out;
    if (!file) return out;
    for (const auto& r : file->message().recipients)
      if (r.segment == seg) out.push_back(r.fields.address);
    return out;
  }
};

struct Submission {
  std::int64_t flags = 0;
  submit::CleanupEnvelope env;
  std::vector<submit::CleanupRecipient> rcpts;
  std::vector<std::string> chunks;
  bool recipient_before_envelope = false;
};

submit::CleanupRecipient rcpt(std::string a, std::string orcpt = "", std::int64_t notify = 0) {
  submit::CleanupRecipient r;
  r.address = std::move(a);
  if (!orcpt.empty()) r.orcpt = orcpt;
  r.notify = notify;
  return r;
}

class MessageTest : public ::testing::Test {
 protected:
  Outcome run(const Submission& sub, const std::string& extra_config = "") {
    settings_ = settings_for(scratch_, extra_config);
    auto mapper = open_mapper(settings_);
    EXPECT_TRUE(mapper) << (mapper ? "" : mapper.error().message);
    auto checks = open_checks(settings_);
    EXPECT_TRUE(checks) << (checks ? "" : checks.error().message);
    std::unique_ptr<ContentChecks> content_checks = checks ? std::move(*checks) : nullptr;
    Outcome out;
    asio::io_context io;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          Message::Deps deps{settings_, *mapper, rewriter_, content_checks.get()};
          auto m = Message::create(deps, sub.flags, "test", {});
          EXPECT_TRUE(m) << (m ? "" : m.error().message);
          if (!m) co_return;
          auto& msg = **m;
          out.queue_id = msg.queue_id();
          if (sub.recipient_before_envelope && !sub.rcpts.empty()) co_await msg.recipient(sub.rcpts.front());
          co_await msg.envelope(sub.env);
          for (const auto& r : sub.rcpts) co_await msg.recipient(r);
          for (const auto& c : sub.chunks) co_await msg.content(c);
          out.verdict = co_await msg.finish();
          out.discarded = msg.discarded();
          if (!out.verdict) {
            auto st = msg.writer()->commit();
            EXPECT_TRUE(st) << (st ? "" : st.error().message);
            auto r = queue::QueueFileReader::open(msg.writer()->path());
            EXPECT_TRUE(r) << (r ? "" : r.error().message);
            if (r) out.file.emplace(std::move(*r));
          }
        },
        asio::detached);
    io.run();
    out.incoming_after = scratch_.incoming();
    return out;
  }

  Submission simple(std::string content) {
    Submission s;
    s.env.sender = "alice@example.org";
    s.env.client_addr = "192.0.2.1";
    s.env.client_name = "client.example.org";
    s.rcpts.push_back(rcpt("bob@example.com"));
    s.chunks.push_back(std::move(content));
    return s;
  }

  Scratch scratch_;
  CleanupSettings settings_;
  FakeRewriter rewriter_;
};

TEST_F(MessageTest, RemoteMessageIsStoredAsReceived) {
  std::string msg = "Received: from x by y; Mon, 1 Jan 2024 00:00:00 +0000\nSubject: hi\nFrom: Al <alice@example.org>\n"
                    "To: bob\n\nbody line 1\n.dot line\n\nlast\n";
  auto o = run(simple(msg));
  ASSERT_FALSE(o.verdict) << o.verdict->reason;
  ASSERT_TRUE(o.file);
  EXPECT_EQ(o.text(), msg);  // remote client: headers untouched, nothing added
  EXPECT_EQ(o.file->message().sender, "alice@example.org");
  EXPECT_EQ(o.recipients(queue::Segment::Envelope), std::vector<std::string>{"bob@example.com"});
  EXPECT_EQ(o.file->message().attribute("client_address").value_or(""), "192.0.2.1");
  EXPECT_EQ(o.file->message().attribute("log_message_origin").value_or(""), "test");
  EXPECT_FALSE(o.file->message().attribute("rewrite_context"));
  EXPECT_EQ(o.file->message().size.content_size, msg.size());
}

TEST_F(MessageTest, EnvelopeAddressesAreRewrittenAndAttributesStored) {
  Submission s = simple("Subject: x\n\nb\n");
  s.env.sender = "joe";
  s.env.body = "8BITMIME";
  s.env.smtputf8 = true;
  s.env.envid = "abc+2Bdef";
  s.env.ret = "HDRS";
  s.env.arrival_time = 1700000000;
  s.rcpts = {rcpt("carol", "rfc822;carol@example.com", submit::notify::kFailure | submit::notify::kDelay)};
  auto o = run(s);
  ASSERT_FALSE(o.verdict) << o.verdict->reason;
  const auto& m = o.file->message();
  EXPECT_EQ(m.sender, "joe@example.com");
  ASSERT_EQ(m.recipients.size(), 1u);
  EXPECT_EQ(m.recipients[0].fields.address, "carol@example.com");
  EXPECT_EQ(m.recipients[0].fields.orig_rcpt, "carol");
  EXPECT_EQ(m.recipients[0].fields.orcpt, "rfc822;carol@example.com");
  EXPECT_EQ(m.recipients[0].fields.notify, queue::kNotifyFailure | queue::kNotifyDelay);
  EXPECT_EQ(m.arrival_sec, 1700000000);
  EXPECT_EQ(m.encoding, queue::BodyEncoding::EightBit);
  EXPECT_TRUE(m.smtputf8);
  EXPECT_EQ(m.dsn_envid, "abc+2Bdef");
  EXPECT_EQ(m.dsn_ret, queue::DsnRet::Headers);
  for (const auto& r : rewriter_.rules) EXPECT_EQ(r, "local");
}

TEST_F(MessageTest, LocalSubmissionGetsMissingHeaders) {
  Submission s;
  s.flags = flag::kLocalSubmission;
  s.env.sender = "joe";
  s.env.full_name = "Joe Q. Public";
  s.env.arrival_time = 1700000000;
  s.rcpts = {rcpt("bob@example.com")};
  s.chunks = {"Subject: local\n\nhello\n"};
  auto o = run(s);
  ASSERT_FALSE(o.verdict) << o.verdict->reason;
  std::string t = o.text();
  EXPECT_NE(t.find("Subject: local\nFrom: \"Joe Q. Public\" <joe@example.com>\nDate: "), std::string::npos) << t;
  EXPECT_NE(t.find("\nMessage-ID: <20231114221320." + o.queue_id + "@mx.example.com>\n\nhello\n"),
            std::string::npos)
      << t;
}

TEST_F(MessageTest, ExistingHeadersAreNotDuplicatedAndObsoleteFromFormat) {
  Submission s;
  s.flags = flag::kLocalSubmission;
  s.env.sender = "joe@example.com";
  s.env.full_name = "Joe (the) User";
  s.rcpts = {rcpt("bob@example.com")};
  s.chunks = {"Date: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-Id: <x@y>\n\nhello\n"};
  auto o = run(s, "header_from_format = obsolete\n");
  ASSERT_FALSE(o.verdict);
  EXPECT_EQ(o.text(),
            "Date: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-Id: <x@y>\nFrom: joe@example.com (Joe \\(the\\) User)\n"
            "\nhello\n");
}

TEST_F(MessageTest, RemoteMailGetsNoHeadersUnlessAlwaysAdd) {
  auto o = run(simple("Subject: s\n\nb\n"));
  ASSERT_FALSE(o.verdict);
  EXPECT_EQ(o.text(), "Subject: s\n\nb\n");
  auto o2 = run(simple("Subject: s\n\nb\n"), "always_add_missing_headers = yes\n");
  ASSERT_FALSE(o2.verdict);
  EXPECT_NE(o2.text().find("From: alice@example.org\nDate: "), std::string::npos) << o2.text();
}

TEST_F(MessageTest, ResentHeadersGetResentCounterparts) {
  Submission s;
  s.flags = flag::kLocalSubmission;
  s.env.sender = "joe@example.com";
  s.rcpts = {rcpt("bob@example.com")};
  s.chunks = {"From: a@b.example\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <1@b>\n"
              "Resent-From: joe@example.com\n\nbody\n"};
  auto o = run(s);
  ASSERT_FALSE(o.verdict);
  std::string t = o.text();
  EXPECT_NE(t.find("Resent-Date: "), std::string::npos) << t;
  EXPECT_NE(t.find("Resent-Message-ID: <"), std::string::npos) << t;
  EXPECT_EQ(t.find("\nFrom: joe"), std::string::npos) << t;
}

TEST_F(MessageTest, UndisclosedRecipientsHeader) {
  Submission s;
  s.flags = flag::kLocalSubmission;
  s.env.sender = "joe@example.com";
  s.rcpts = {rcpt("bob@example.com")};
  s.chunks = {"Subject: s\n\nb\n"};
  auto o = run(s, "undisclosed_recipients_header = To: undisclosed-recipients:;\n");
  ASSERT_FALSE(o.verdict);
  EXPECT_NE(o.text().find("\nTo: undisclosed-recipients:;\n"), std::string::npos) << o.text();
}

TEST_F(MessageTest, UndisclosedRecipientsHeaderNotAddedBesideAResentMessagesTo) {
  // A resent message with its original To: (and no Resent-To:) has visible
  // recipients: a second To: would break RFC 5322 (Postfix: VISIBLE_RCPT).
  Submission s;
  s.flags = flag::kLocalSubmission;
  s.env.sender = "joe@example.com";
  s.rcpts = {rcpt("bob@example.com")};
  s.chunks = {"To: alice@example.com\nResent-From: joe@example.com\nSubject: s\n\nb\n"};
  auto o = run(s, "undisclosed_recipients_header = To: undisclosed-recipients:;\n");
  ASSERT_FALSE(o.verdict);
  EXPECT_EQ(o.text().find("undisclosed-recipients"), std::string::npos) << o.text();
}

TEST_F(MessageTest, ExtractRecipientsAndRemoveBcc) {
  Submission s;
  s.flags = flag::kExtractRecipients | flag::kLocalSubmission;
  s.env.sender = "joe@example.com";
  s.rcpts = {rcpt("a@x.example")};
  s.chunks = {"To: a@x.example, B <b@y.example>\nCc: c@z.example,\n d@z.example\nBcc: secret@w.example\n"
              "Subject: s\n\nbody\n"};
  auto o = run(s);
  ASSERT_FALSE(o.verdict) << o.verdict->reason;
  EXPECT_EQ(o.recipients(queue::Segment::Envelope), std::vector<std::string>{"a@x.example"});
  EXPECT_EQ(o.recipients(queue::Segment::Extracted),
            (std::vector<std::string>{"b@y.example", "c@z.example", "d@z.example", "secret@w.example"}));
  EXPECT_EQ(o.text().find("Bcc"), std::string::npos) << o.text();
  EXPECT_NE(o.text().find("Cc: c@z.example,\n d@z.example\n"), std::string::npos) << o.text();
  EXPECT_EQ(o.file->message().size.recipient_count, 5u);
}

TEST_F(MessageTest, ExtractUsesResentHeadersWhenPresent) {
  Submission s;
  s.flags = flag::kExtractRecipients;
  s.env.sender = "joe@example.com";
  s.chunks = {"To: old@x.example\nResent-To: new@y.example\nResent-Bcc: hidden@y.example\n\nbody\n"};
  auto o = run(s);
  ASSERT_FALSE(o.verdict) << o.verdict->reason;
  EXPECT_EQ(o.recipients(queue::Segment::Extracted),
            (std::vector<std::string>{"new@y.example", "hidden@y.example"}));
  EXPECT_EQ(o.text().find("hidden"), std::string::npos);
}

TEST_F(MessageTest, BccIsDroppedByDefaultEvenWithoutExtraction) {
  auto o = run(simple("To: b@x.example\nBcc: c@x.example\nReturn-Path: <x@y>\nSubject: s\n\nb\n"));
  ASSERT_FALSE(o.verdict);
  EXPECT_EQ(o.text(), "To: b@x.example\nSubject: s\n\nb\n");
  auto o2 = run(simple("Bcc: c@x.example\n\nb\n"), "message_drop_headers =\n");
  ASSERT_FALSE(o2.verdict);
  EXPECT_EQ(o2.text(), "Bcc: c@x.example\n\nb\n");
}

TEST_F(MessageTest, AutomaticBccRecipients) {
  const std::string cfg =
      "always_bcc = archive@example.net\n"
      "sender_bcc_maps = inline:{alice@example.org=out-copy@example.net}\n"
      "recipient_bcc_maps = inline:{{@example.com=in-copy@example.net}}\n"
      "virtual_alias_maps = inline:{in-copy@example.net=keeper@example.net}\n";
  Submission s = simple("Subject: x\n\nb\n");
  s.flags = submit::cleanup_flag::kAutoBcc;
  s.rcpts.push_back(rcpt("carol@example.com"));
  auto o = run(s, cfg);
  ASSERT_FALSE(o.verdict) << o.verdict->reason;
  EXPECT_EQ(o.recipients(queue::Segment::Envelope), (std::vector<std::string>{"bob@example.com", "carol@example.com"}));
  // Each copy once, after the recipients, virtual aliases applied, and with
  // NOTIFY=NEVER.
  EXPECT_EQ(o.recipients(queue::Segment::Extracted),
            (std::vector<std::string>{"out-copy@example.net", "keeper@example.net", "archive@example.net"}));
  for (const auto& r : o.file->message().recipients) {
    if (r.segment == queue::Segment::Extracted) {
      EXPECT_EQ(r.fields.notify, submit::notify::kNever) << r.fields.address;
    }
  }
  // Not for mail that did not ask (local forwarding, bounces), nor with
  // no_address_mappings.
  s.flags = 0;
  EXPECT_TRUE(run(s, cfg).recipients(queue::Segment::Extracted).empty());
  s.flags = submit::cleanup_flag::kAutoBcc | submit::cleanup_flag::kNoAddressMappings;
  EXPECT_TRUE(run(s, cfg).recipients(queue::Segment::Extracted).empty());
  s.flags = submit::cleanup_flag::kAutoBcc | submit::cleanup_flag::kBounce;
  s.env.sender = "";
  EXPECT_TRUE(run(s, cfg).recipients(queue::Segment::Extracted).empty());
}

TEST_F(MessageTest, NoRecipientsIsRejected) {
  Submission s;
  s.flags = flag::kExtractRecipients;
  s.env.sender = "joe@example.com";
  s.chunks = {"Subject: nobody\n\nbody\n"};
  auto o = run(s);
  ASSERT_TRUE(o.verdict);
  EXPECT_EQ(o.verdict->status, 550);
  EXPECT_TRUE(o.incoming_after.empty());
}

TEST_F(MessageTest, HopCountLimit) {
  std::string hdrs;
  for (int i = 0; i < 5; ++i) hdrs += "Received: from hop" + std::to_string(i) + "\n";
  auto o = run(simple(hdrs + "\nbody\n"), "hopcount_limit = 5\n");
  ASSERT_TRUE(o.verdict);
  EXPECT_EQ(o.verdict->status, 554);
  EXPECT_EQ(o.verdict->dsn, "5.4.0");
  EXPECT_EQ(o.verdict->reason, "too many hops");
  EXPECT_TRUE(o.incoming_after.empty());
  auto ok = run(simple(hdrs + "\nbody\n"), "hopcount_limit = 6\n");
  EXPECT_FALSE(ok.verdict);
}

TEST_F(MessageTest, MessageSizeLimit) {
  std::string body(5000, 'x');
  auto o = run(simple("Subject: big\n\n" + body + "\n"), "message_size_limit = 2000\n");
  ASSERT_TRUE(o.verdict);
  EXPECT_EQ(o.verdict->status, 552);
  EXPECT_EQ(o.verdict->dsn, "5.3.4");
  EXPECT_TRUE(o.incoming_after.empty());
  auto ok = run(simple("Subject: big\n\n" + body + "\n"), "message_size_limit = 20000\n");
  EXPECT_FALSE(ok.verdict);
}

TEST_F(MessageTest, RejectCharacters) {
  // A NUL in the body, or a tab in a header: refused (\0 and \t written as
  // in main.cf).
  std::string nul = std::string("Subject: x\n\nbad ") + '\0' + " byte\n";
  auto o = run(simple(nul), "message_reject_characters = \\0\n");
  ASSERT_TRUE(o.verdict);
  EXPECT_EQ(o.verdict->status, 550);
  EXPECT_EQ(o.verdict->dsn, "5.7.1");
  EXPECT_EQ(o.verdict->reason, "disallowed character");
  EXPECT_TRUE(o.incoming_after.empty());
  auto tab = run(simple("Subject:\tx\n\nbody\n"), "message_reject_characters = \\t\n");
  ASSERT_TRUE(tab.verdict);
  // Not in the message: taken. A newline in the set matches nothing.
  auto ok = run(simple("Subject: x\n\nbody\n"), "message_reject_characters = \\0\\n\n");
  EXPECT_FALSE(ok.verdict);
  // Bounces are not filtered (as in Postfix).
  Submission b = simple(nul);
  b.flags = flag::kBounce;
  EXPECT_FALSE(run(b, "message_reject_characters = \\0\n").verdict);
}

TEST_F(MessageTest, StrictMimeChecks) {
  auto refused = [](const Outcome& o, std::string_view reason) {
    EXPECT_TRUE(o.verdict);
    if (!o.verdict) return;
    EXPECT_EQ(o.verdict->status, 550);
    EXPECT_EQ(o.verdict->dsn, "5.6.0");
    EXPECT_EQ(o.verdict->reason, reason);
  };
  const std::string header8 = "Subject: caf\xc3\xa9\n\nbody\n";
  const std::string body8 = "Subject: x\n\ncaf\xc3\xa9\n";
  const std::string declared = "Subject: x\nMIME-Version: 1.0\nContent-Transfer-Encoding: 8bit\n\ncaf\xc3\xa9\n";
  const std::string multipart64 =
      "Subject: x\nContent-Type: multipart/mixed; boundary=b\nContent-Transfer-Encoding: base64\n\n--b\n\nx\n--b--\n";
  // A refused message leaves no file behind.
  auto first = run(simple(header8), "strict_7bit_headers = yes\n");
  refused(first, "improper use of 8-bit data in message header");
  EXPECT_TRUE(first.incoming_after.empty());
  // Off by default: all of it is taken.
  for (const auto& c : {header8, body8, declared, multipart64}) EXPECT_FALSE(run(simple(c)).verdict);
  refused(run(simple(header8), "strict_8bitmime = yes\n"), "improper use of 8-bit data in message header");
  refused(run(simple(body8), "strict_8bitmime_body = yes\n"), "improper use of 8-bit data in message body");
  refused(run(simple(body8), "strict_8bitmime = yes\n"), "improper use of 8-bit data in message body");
  EXPECT_FALSE(run(simple(body8), "strict_7bit_headers = yes\n").verdict);
  EXPECT_FALSE(run(simple(declared), "strict_8bitmime = yes\n").verdict);
  refused(run(simple(multipart64), "strict_mime_encoding_domain = yes\n"),
          "invalid message/* or multipart/* encoding domain");
  // SMTPUTF8 mail may have UTF-8 headers (RFC 6532); bounces are not checked.
  Submission utf8 = simple(header8);
  utf8.env.smtputf8 = true;
  EXPECT_FALSE(run(utf8, "strict_8bitmime = yes\n").verdict);
  Submission bounce = simple(body8);
  bounce.flags = flag::kBounce;
  EXPECT_FALSE(run(bounce, "strict_8bitmime = yes\n").verdict);
  // Without MIME processing there is nothing to check.
  EXPECT_FALSE(run(simple(body8), "strict_8bitmime = yes\ndisable_mime_input_processing = yes\n").verdict);
  // A passing message is stored unchanged.
  auto ok = run(simple(declared), "strict_8bitmime = yes\nstrict_mime_encoding_domain = yes\n");
  ASSERT_FALSE(ok.verdict);
  EXPECT_NE(ok.text().find("caf\xc3\xa9"), std::string::npos);
}

TEST_F(MessageTest, EightBitEncodingHeaderMarksTheBody) {
  // detect_8bit_encoding_header (default yes): a Content-Transfer-Encoding of
  // 8bit or binary in the message's or a part's headers makes the body
  // 8bit for the smtp client, over an absent or 7BIT declaration.
  auto encoding = [](const Outcome& o) { return o.file ? o.file->message().encoding : std::nullopt; };
  const std::string primary = "Subject: x\nContent-Transfer-Encoding: 8bit\n\ncaf\xc3\xa9\n";
  const std::string part =
      "Subject: x\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n"
      "Content-Transfer-Encoding: binary\n\ncaf\xc3\xa9\n--b--\n";
  const std::string seven = "Subject: x\nContent-Type: multipart/mixed; boundary=b\n\n--b\n"
                            "Content-Transfer-Encoding: 7bit\n\nx\n--b--\n";
  for (const auto& c : {primary, part}) {
    auto o = run(simple(c));
    ASSERT_FALSE(o.verdict);
    EXPECT_EQ(encoding(o), queue::BodyEncoding::EightBit) << c;
    EXPECT_EQ(o.text(), c);  // the content is stored as it came
    Submission declared7 = simple(c);
    declared7.env.body = "7BIT";
    EXPECT_EQ(encoding(run(declared7)), queue::BodyEncoding::EightBit) << c;
    Submission declared8 = simple(c);
    declared8.env.body = "8BITMIME";
    auto d8 = run(declared8);
    EXPECT_EQ(encoding(d8), queue::BodyEncoding::EightBit) << c;
    ASSERT_TRUE(d8.file);
    EXPECT_TRUE(d8.file->message().extracted_attributes.empty());  // said once, in the envelope
    EXPECT_FALSE(encoding(run(simple(c), "detect_8bit_encoding_header = no\n"))) << c;
  }
  EXPECT_FALSE(encoding(run(simple(seven))));
  // Looking for the parts' headers refuses nothing: a structure deeper than
  // mime_nesting_limit is refused only where checks or strict checks look.
  const std::string deep =
      "Subject: x\nContent-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: multipart/mixed; boundary=b\n\n"
      "--b\nContent-Type: multipart/mixed; boundary=c\n\n--c\n\nx\n--c--\n--b--\n--a--\n";
  EXPECT_FALSE(run(simple(deep), "mime_nesting_limit = 2\n").verdict);
  auto strict = run(simple(deep), "mime_nesting_limit = 2\nstrict_mime_encoding_domain = yes\n");
  ASSERT_TRUE(strict.verdict);
  EXPECT_EQ(strict.verdict->reason, "MIME nesting exceeds safety limit");
  // Without MIME processing only the message's own header counts.
  EXPECT_FALSE(encoding(run(simple(part), "disable_mime_input_processing = yes\n")));
}

TEST_F(MessageTest, Smtputf8MailRecordsUtf8Headers) {
  // For the smtp client: SMTPUTF8 mail with a UTF-8 header needs a server
  // that offers SMTPUTF8 (Postfix's SMTPUTF8_FLAG_HEADER).
  const std::string primary = "Subject: caf\xc3\xa9\n\nbody\n";
  const std::string part = "Subject: x\nContent-Type: multipart/mixed; boundary=b\n\n--b\n"
                           "Content-Disposition: attachment; filename=caf\xc3\xa9.txt\n\nx\n--b--\n";
  for (const auto& c : {primary, part}) {
    Submission utf8 = simple(c);
    utf8.env.smtputf8 = true;
    auto o = run(utf8);
    ASSERT_TRUE(o.file) << c;
    EXPECT_TRUE(o.file->message().smtputf8);
    EXPECT_TRUE(o.file->message().utf8_headers) << c;
    auto plain = run(simple(c));  // did not ask: nothing to require
    ASSERT_TRUE(plain.file);
    EXPECT_FALSE(plain.file->message().utf8_headers);
  }
  Submission latin1 = simple("Subject: caf\xe9\n\nbody\n");  // 8-bit, not UTF-8
  latin1.env.smtputf8 = true;
  auto l1 = run(latin1);
  ASSERT_TRUE(l1.file);
  EXPECT_FALSE(l1.file->message().utf8_headers);
  Submission ascii = simple("Subject: x\n\ncaf\xc3\xa9\n");
  ascii.env.smtputf8 = true;
  auto o = run(ascii);
  ASSERT_TRUE(o.file);
  EXPECT_FALSE(o.file->message().utf8_headers);
}

TEST_F(MessageTest, AutodetectedSmtputf8) {
  // cleanup_flag::kAutoUtf8 (smtputf8_autodetect_classes named the sender's
  // class): UTF-8 in a header, the sender or a recipient makes the message
  // SMTPUTF8 mail.
  auto utf8 = [](const Outcome& o) { return o.file && o.file->message().smtputf8; };
  Submission header = simple("Subject: caf\xc3\xa9\n\nbody\n");
  header.flags = flag::kAutoUtf8;
  auto o = run(header);
  EXPECT_TRUE(utf8(o));
  ASSERT_TRUE(o.file);
  EXPECT_TRUE(o.file->message().utf8_headers);
  Submission rcpt8 = simple("Subject: x\n\nbody\n");
  rcpt8.flags = flag::kAutoUtf8;
  rcpt8.rcpts = {rcpt("j\xc3\xb6rg@example.com")};
  EXPECT_TRUE(utf8(run(rcpt8)));
  Submission sender8 = simple("Subject: x\n\nbody\n");
  sender8.flags = flag::kAutoUtf8;
  sender8.env.sender = "j\xc3\xb6rg@example.org";
  EXPECT_TRUE(utf8(run(sender8)));
  // A header that is not written does not count (a Bcc: with extraction).
  Submission bcc = simple("Subject: x\nBcc: J\xc3\xb6rg <j@example.com>\n\nbody\n");
  bcc.flags = flag::kAutoUtf8 | flag::kExtractRecipients;
  auto b = run(bcc);
  ASSERT_TRUE(b.file);
  EXPECT_EQ(b.text().find("Bcc:"), std::string::npos);
  EXPECT_FALSE(utf8(b));
  // The body does not count; nor does anything without the flag.
  Submission body8 = simple("Subject: x\n\ncaf\xc3\xa9\n");
  body8.flags = flag::kAutoUtf8;
  EXPECT_FALSE(utf8(run(body8)));
  header.flags = 0;
  auto plain = run(header);
  EXPECT_FALSE(utf8(plain));
  ASSERT_TRUE(plain.file);
  EXPECT_FALSE(plain.file->message().utf8_headers);
}

TEST_F(MessageTest, StripCharacters) {
  std::string msg = std::string("Subject: a\rb\n\nbo") + '\0' + "dy\r\n" + '\0' + "\n";
  auto o = run(simple(msg), "message_strip_characters = \\0\\r\n");
  ASSERT_FALSE(o.verdict) << o.verdict->reason;
  EXPECT_EQ(o.text(), "Subject: ab\n\nbody\n\n");
  // With no_header_body_checks nothing is stripped.
  Submission raw = simple(msg);
  raw.flags = flag::kNoHeaderBodyChecks;
  auto kept = run(raw, "message_strip_characters = \\0\n");
  ASSERT_FALSE(kept.verdict);
  EXPECT_NE(kept.text().find('\0'), std::string::npos);
}

TEST_F(MessageTest, ChunkBoundariesDoNotMatter) {
  std::string msg = "Subject: chunks\nTo: x@y.example,\n\tz@y.example\n\nline one\n\nline three\nno newline at end";
  auto whole = run(simple(msg));
  ASSERT_FALSE(whole.verdict);
  Submission s = simple("");
  s.chunks.clear();
  for (char c : msg) s.chunks.emplace_back(1, c);
  auto bytes = run(s);
  ASSERT_FALSE(bytes.verdict);
  EXPECT_EQ(whole.text(), msg + "\n");
  EXPECT_EQ(bytes.text(), whole.text());
}

TEST_F(MessageTest, LongBodyLinesAreSplitIntoPieces) {
  std::string longline(10000, 'a');
  Submission s = simple("");
  s.chunks = {"Subject: long\n\n" + longline.substr(0, 3000), longline.substr(3000) + "\nshort\n"};
  auto o = run(s, "line_length_limit = 2048\n");
  ASSERT_FALSE(o.verdict);
  EXPECT_EQ(o.text(), "Subject: long\n\n" + longline + "\nshort\n");
  // Subject, empty line, 4 pieces of 2048 + the rest, short.
  EXPECT_EQ(content_records(*o.file), 2u + 5u + 1u);
}

TEST_F(MessageTest, OverlongHeaderIsTruncatedNotRejected) {
  std::string huge(5000, 'h');
  auto o = run(simple("X-Long: " + huge + "\nSubject: after\n\nbody\n"), "header_size_limit = 100\n");
  ASSERT_FALSE(o.verdict);
  std::string t = o.text();
  auto first = t.substr(0, t.find('\n'));
  EXPECT_LE(first.size(), 100u);
  EXPECT_EQ(first.rfind("X-Long: hhh", 0), 0u);
  EXPECT_NE(t.find("\nSubject: after\n\nbody\n"), std::string::npos) << t.substr(0, 300);
}

TEST_F(MessageTest, LongFirstBodyLineWithoutSeparator) {
  std::string body(3000, 'b');
  auto o = run(simple("Subject: s\n" + body + "\nmore\n"), "header_size_limit = 100\n");
  ASSERT_FALSE(o.verdict);
  EXPECT_EQ(o.text(), "Subject: s\n\n" + body + "\nmore\n");
}

TEST_F(MessageTest, MissingSeparatorIsInserted) {
  auto o = run(simple("Subject: s\nthis is the body\n"));
  ASSERT_FALSE(o.verdict);
  EXPECT_EQ(o.text(), "Subject: s\n\nthis is the body\n");
}

TEST_F(MessageTest, HeaderOnlyMessage) {
  auto o = run(simple("Subject: only headers\n"));
  ASSERT_FALSE(o.verdict);
  EXPECT_EQ(o.text(), "Subject: only headers\n");
  auto empty = run(simple(""));
  ASSERT_FALSE(empty.verdict);
  EXPECT_EQ(empty.text(), "");
}

TEST_F(MessageTest, LocalHeaderAddressesAreRewrittenRemoteOnesAreNot) {
  Submission s;
  s.flags = flag::kLocalSubmission;
  s.env.sender = "joe";
  s.rcpts = {rcpt("bob@example.com")};
  s.chunks = {"From: Joe <joe>\nTo: bob, \"Carol C\" <carol@x.example>\nSubject: bob\n\nbody bob\n"};
  auto o = run(s);
  ASSERT_FALSE(o.verdict);
  EXPECT_NE(o.text().find("From: Joe <joe@example.com>\nTo: bob@example.com, \"Carol C\" <carol@x.example>\n"
                          "Subject: bob\n"),
            std::string::npos)
      << o.text();

  auto remote = run(simple("From: Joe <joe>\nTo: bob\n\nb\n"));
  ASSERT_FALSE(remote.verdict);
  EXPECT_EQ(remote.text(), "From: Joe <joe>\nTo: bob\n\nb\n");

  auto qualified = run(simple("From: Joe <joe>\nTo: bob\n\nb\n"), "remote_header_rewrite_domain = domain.invalid\n");
  ASSERT_FALSE(qualified.verdict);
  EXPECT_EQ(qualified.text(), "From: Joe <joe@domain.invalid>\nTo: bob@domain.invalid\n\nb\n");
}

TEST_F(MessageTest, CanonicalMapsApplyToEnvelopeAndHeaders) {
  std::string canon = scratch_.table("canonical", "joe@example.com Joe.Public@example.com\n");
  Submission s;
  s.flags = flag::kLocalSubmission;
  s.env.sender = "joe";
  s.rcpts = {rcpt("joe@example.com")};
  s.chunks = {"From: joe\nTo: joe@example.com\n\nbody\n"};
  auto o = run(s, "canonical_maps = " + canon + "\n");
  ASSERT_FALSE(o.verdict);
  EXPECT_EQ(o.file->message().sender, "Joe.Public@example.com");
  EXPECT_EQ(o.recipients(queue::Segment::Envelope), std::vector<std::string>{"Joe.Public@example.com"});
  EXPECT_NE(o.text().find("From: Joe.Public@example.com\nTo: Joe.Public@example.com\n"), std::string::npos)
      << o.text();

  // postsuper -r style: no mappings at all.
  s.flags = flag::kNoAddressMappings;
  auto raw = run(s, "canonical_maps = " + canon + "\n");
  ASSERT_FALSE(raw.verdict);
  EXPECT_EQ(raw.file->message().sender, "joe@example.com");
}

TEST_F(MessageTest, VirtualExpansionAndDuplicateRemoval) {
  std::string virt = scratch_.table("virtual", "list@example.com a@x.example, b@x.example\n");
  Submission s = simple("Subject: s\n\nb\n");
  s.rcpts = {rcpt("list@example.com"), rcpt("a@x.example"), rcpt("b@x.example", "", submit::notify::kNever)};
  auto o = run(s, "virtual_alias_maps = " + virt + "\n");
  ASSERT_FALSE(o.verdict) << o.verdict->reason;
  const auto& rs = o.file->message().recipients;
  // enable_original_recipient = yes, as in Postfix: a recipient is its
  // address with its original recipient and DSN details, so the list's a
  // and the a named directly stay two (each with its own X-Original-To).
  ASSERT_EQ(rs.size(), 4u);
  EXPECT_EQ(rs[0].fields.address, "a@x.example");
  EXPECT_EQ(rs[0].fields.orig_rcpt, "list@example.com");
  EXPECT_EQ(rs[1].fields.address, "b@x.example");
  EXPECT_EQ(rs[2].fields.address, "a@x.example");
  EXPECT_EQ(rs[2].fields.orig_rcpt, "");
  EXPECT_EQ(rs[3].fields.address, "b@x.example");
  EXPECT_EQ(rs[3].fields.notify, queue::kNotifyNever);
  // Same request twice: written once.
  s.rcpts = {rcpt("list@example.com"), rcpt("list@example.com")};
  o = run(s, "virtual_alias_maps = " + virt + "\n");
  ASSERT_FALSE(o.verdict) << o.verdict->reason;
  EXPECT_EQ(o.file->message().recipients.size(), 2u);
  // = no: the address alone decides.
  s.rcpts = {rcpt("list@example.com"), rcpt("a@x.example"), rcpt("b@x.example", "", submit::notify::kNever)};
  o = run(s, "virtual_alias_maps = " + virt + "\nenable_original_recipient = no\n");
  ASSERT_FALSE(o.verdict) << o.verdict->reason;
  const auto& only = o.file->message().recipients;
  ASSERT_EQ(only.size(), 2u);
  EXPECT_EQ(only[0].fields.address, "a@x.example");
  EXPECT_EQ(only[1].fields.address, "b@x.example");
}

TEST_F(MessageTest, VirtualLimitsDefer) {
  std::string virt = scratch_.table("virtual", "a@example.com b@example.com\nb@example.com c@example.com\n"
                                               "c@example.com d@example.com\n");
  Submission s = simple("b\n");
  s.rcpts = {rcpt("a@example.com")};
  auto o = run(s, "virtual_alias_maps = " + virt + "\nvirtual_alias_recursion_limit = 2\n");
  ASSERT_TRUE(o.verdict);
  EXPECT_EQ(o.verdict->status, 451);
  EXPECT_EQ(o.verdict->dsn, "4.6.0");
  EXPECT_TRUE(o.incoming_after.empty());
}

TEST_F(MessageTest, RewriteFailureDefers) {
  Submission s = simple("b\n");
  s.rcpts = {rcpt("fail@example.com")};
  auto o = run(s);
  ASSERT_TRUE(o.verdict);
  EXPECT_EQ(o.verdict->status, 451);
  EXPECT_TRUE(o.incoming_after.empty());
}

TEST_F(MessageTest, ProtocolOrderViolations) {
  Submission s = simple("b\n");
  s.recipient_before_envelope = true;
  auto o = run(s);
  ASSERT_TRUE(o.verdict);
  EXPECT_EQ(o.verdict->reason, "internal protocol error");
  EXPECT_TRUE(o.incoming_after.empty());
}

TEST_F(MessageTest, BadEnvelopeAttributeIsAProtocolError) {
  Submission s = simple("b\n");
  s.env.client_port = "99999";
  auto o = run(s);
  ASSERT_TRUE(o.verdict);
  EXPECT_EQ(o.verdict->status, 451);
  EXPECT_TRUE(o.incoming_after.empty());
}

TEST_F(MessageTest, CommittedFileCarriesTheReadyMark) {
  auto o = run(simple("Subject: s\n\nb\n"));
  ASSERT_FALSE(o.verdict);
  ASSERT_EQ(o.incoming_after.size(), 1u);
  struct stat st {};
  ASSERT_EQ(::stat(o.incoming_after[0].c_str(), &st), 0);
  EXPECT_TRUE(st.st_mode & S_IXUSR);
  EXPECT_EQ(o.incoming_after[0].filename().string(), o.queue_id);
}

// --- header and body checks (checks.h) ------------------------------------

// Postfix's cleanup_addr_sender(): MAILER-DAEMON@$myorigin is the null
// sender; the same name at another domain is not.
TEST_F(MessageTest, MailerDaemonSenderIsTheNullSender) {
  for (const char* sender : {"MAILER-DAEMON", "mailer-daemon@Example.COM"}) {
    Submission s = simple("Subject: x\n\nb\n");
    s.env.sender = sender;
    auto o = run(s);
    ASSERT_FALSE(o.verdict) << o.verdict->reason;
    EXPECT_EQ(o.file->message().sender, "") << sender;
  }
  Submission s = simple("Subject: x\n\nb\n");
  s.env.sender = "MAILER-DAEMON@elsewhere.example";
  auto o = run(s);
  ASSERT_FALSE(o.verdict) << o.verdict->reason;
  EXPECT_EQ(o.file->message().sender, "MAILER-DAEMON@elsewhere.example");
}

TEST(CheckAction, ParsesPostfixActions) {
  using K = CheckAction::Kind;
  EXPECT_EQ(parse_check_action("REJECT").kind, K::kReject);
  auto r = parse_check_action("reject  5.7.0 go away ");
  EXPECT_EQ(r.kind, K::kReject);
  EXPECT_EQ(r.word, "REJECT");
  EXPECT_EQ(r.text, "5.7.0 go away");
  EXPECT_EQ(parse_check_action("REPLACE X-A: b").text, "X-A: b");
  EXPECT_EQ(parse_check_action("REPLACE").kind, K::kUnknown);  // nothing to replace with
  EXPECT_EQ(parse_check_action("PREPEND").kind, K::kUnknown);
  EXPECT_EQ(parse_check_action("DUNNO").kind, K::kNone);
  EXPECT_EQ(parse_check_action("OK").kind, K::kNone);
  EXPECT_EQ(parse_check_action("IGNORE").kind, K::kIgnore);
  EXPECT_EQ(parse_check_action("HOLD why").kind, K::kHold);
  EXPECT_EQ(parse_check_action("DISCARD").kind, K::kDiscard);
  EXPECT_EQ(parse_check_action("WARN x").kind, K::kWarn);
  EXPECT_EQ(parse_check_action("INFO x").kind, K::kInfo);
  EXPECT_EQ(parse_check_action("REDIRECT a@b").kind, K::kRedirect);
  EXPECT_EQ(parse_check_action("strip why").kind, K::kStrip);
  EXPECT_EQ(parse_check_action("PASS").kind, K::kPass);
  EXPECT_EQ(parse_check_action("BCC a@b").text, "a@b");
  EXPECT_EQ(parse_check_action("BCC").kind, K::kUnknown);
  auto f = parse_check_action("FILTER smtp:[127.0.0.1]:10025");
  EXPECT_EQ(f.kind, K::kFilter);
  EXPECT_EQ(f.text, "smtp:[127.0.0.1]:10025");
  EXPECT_EQ(parse_check_action("FILTER").kind, K::kUnknown);
  EXPECT_EQ(parse_check_action("550 no").kind, K::kUnknown);
  EXPECT_EQ(parse_check_action("").kind, K::kUnknown);
}

class CheckedMessageTest : public MessageTest {
 protected:
  std::string config(const std::string& header_rules, const std::string& body_rules = "") {
    std::string out;
    if (!header_rules.empty()) out += "header_checks = regexp:" + file("hc", header_rules) + "\n";
    if (!body_rules.empty()) out += "body_checks = regexp:" + file("bc", body_rules) + "\n";
    return out;
  }
  std::string file(const std::string& name, const std::string& text) {
    fs::path p = scratch_.queue().parent_path() / name;
    std::ofstream(p) << text;
    return p.string();
  }
};

// With checks that match nothing, the inspection path must store exactly
// what the plain path stores, whatever the structure and the framing.
TEST_F(CheckedMessageTest, ContentIsUnchangedWhenNothingMatches) {
  const std::string messages[] = {
      "Subject: plain\n\nline 1\n\nline 3\n",
      "Subject: mime\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\npreamble\n--b1\n"
      "Content-Type: text/plain;\n\tcharset=us-ascii\n\nhello\n--b1\nContent-Type: message/rfc822\n\n"
      "Subject: inner\nFrom: x@y\n\ninner body\n--b1--\nepilogue\n",
      "Subject: long\n\n" + std::string(5000, 'a') + "\n" + std::string(200000, 'b') + "\nend\n",
      "Subject: no final newline\n\nlast line",
      "Subject: header ends without separator\nbody right away\nmore\n",
      "Subject: mime\nContent-Type: multipart/mixed; boundary=b2\n\n--b2\nContent-Type: text/plain\n" +
          std::string(150000, 'h') + "\n\nbody\n--b2--\n",
  };
  for (const auto& msg : messages) {
    for (std::size_t frame : {std::size_t{1 << 20}, std::size_t{7}, std::size_t{4096}}) {
      Submission sub = simple("");
      sub.chunks.clear();
      for (std::size_t i = 0; i < msg.size(); i += frame) sub.chunks.push_back(msg.substr(i, frame));
      auto plain = run(sub);
      auto checked = run(sub, config("/^X-Never-Present:/ REJECT\n", "/^never matches this$/ REJECT\n"));
      ASSERT_FALSE(plain.verdict);
      ASSERT_FALSE(checked.verdict) << checked.verdict->reason;
      EXPECT_EQ(checked.text(), plain.text()) << msg.substr(0, 60) << " frame " << frame;
    }
  }
}

TEST_F(CheckedMessageTest, ActionsOnHeadersPartsAndBody) {
  std::string cfg = config("/^Subject: bad/ REJECT 5.7.9 bad subject\n/^X-Drop:/ IGNORE\n"
                           "/^Content-Type:.*\\.exe/ REJECT no exe\n/^X-Old:/ REPLACE X-New: replaced\n"
                           "/^Subject: toss/ DISCARD\n",
                           "/^evil$/ REJECT evil body\n/^--b1--$/ WARN closing boundary\n");
  auto o = run(simple("Subject: bad one\n\nbody\n"), cfg);
  ASSERT_TRUE(o.verdict);
  EXPECT_EQ(o.verdict->status, 550);
  EXPECT_EQ(o.verdict->dsn, "5.7.9");
  EXPECT_EQ(o.verdict->reason, "bad subject");

  o = run(simple("Subject: ok\nX-Drop: 1\nX-Old: 2\n\nfine\n"), cfg);
  ASSERT_FALSE(o.verdict);
  EXPECT_EQ(o.text(), "Subject: ok\nX-New: replaced\n\nfine\n");

  o = run(simple("Subject: m\nContent-Type: multipart/mixed; boundary=b1\n\n--b1\n"
                 "Content-Type: application/x;\n name=\"a.exe\"\n\nxx\n--b1--\n"),
          cfg);
  ASSERT_TRUE(o.verdict);
  EXPECT_EQ(o.verdict->reason, "no exe");

  // A second Content-Type cannot hide the parts the first one announces.
  o = run(simple("Subject: m\nContent-Type: multipart/mixed; boundary=b1\nContent-Type: text/plain\n\n--b1\n"
                 "Content-Type: application/x; name=\"a.exe\"\n\nxx\n--b1--\n"),
          cfg);
  ASSERT_TRUE(o.verdict);
  EXPECT_EQ(o.verdict->reason, "no exe");

  // A body line the same as a part header: only the header matches.
  o = run(simple("Subject: m\n\nContent-Type: x.exe\n"), cfg);
  EXPECT_FALSE(o.verdict);

  o = run(simple("Subject: m\n\nok\nevil\n"), cfg);
  ASSERT_TRUE(o.verdict);
  EXPECT_EQ(o.verdict->reason, "evil body");

  o = run(simple("Subject: toss it\n\nbody\n"), cfg);
  EXPECT_FALSE(o.verdict);
  EXPECT_TRUE(o.discarded);
}

// Postfix 3.2+: STRIP drops the line with a log record; PASS, like
// REDIRECT, REJECT and DISCARD, ends the inspection of the message.
TEST_F(CheckedMessageTest, StripPassAndRedirect) {
  std::string cfg = config("/^X-Strip:/ STRIP internal\n/^X-Pass:/ PASS trusted\n"
                           "/^Subject: go/ REDIRECT r@example.net\n/^Subject: bad/ REJECT bad subject\n"
                           "/^X-Hold:/ HOLD\n",
                           "/^evil$/ REJECT evil body\n");
  auto o = run(simple("Subject: ok\nX-Strip: 1\n\nfine\n"), cfg);
  ASSERT_FALSE(o.verdict) << o.verdict->reason;
  EXPECT_EQ(o.text(), "Subject: ok\n\nfine\n");

  o = run(simple("X-Pass: 1\nSubject: bad\nX-Strip: kept\n\nevil\n"), cfg);
  ASSERT_FALSE(o.verdict) << o.verdict->reason;
  EXPECT_EQ(o.text(), "X-Pass: 1\nSubject: bad\nX-Strip: kept\n\nevil\n");

  o = run(simple("Subject: go\nX-Hold: 1\n\nevil\n"), cfg);
  ASSERT_FALSE(o.verdict) << o.verdict->reason;
  EXPECT_EQ(o.file->message().attribute(queue::attr::kRedirect).value_or(""), "r@example.net");
  EXPECT_TRUE(scratch_.files_in("hold").empty());  // not held: HOLD came after REDIRECT
}

TEST_F(CheckedMessageTest, BouncesAreNotInspected) {
  Submission sub = simple("Subject: bad\n\nbody\n");
  sub.flags = flag::kBounce;
  auto o = run(sub, config("/^Subject: bad/ REJECT\n"));
  EXPECT_FALSE(o.verdict);
}

}  // namespace
}  // namespace postern::cleanup
