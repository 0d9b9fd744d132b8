// malformed_test.cpp - the reader refuses every kind of damaged or forged file.
#include <gtest/gtest.h>

#include <functional>

#include "queue/queue_test_util.h"
#include "queue/reader.h"
#include "queue/update.h"
#include "queue/writer.h"

namespace postern::queue {
namespace {
namespace fs = std::filesystem;
using testing::rec;
using testing::TempQueue;

using Rec = std::pair<char, std::string>;

struct Parts {
  std::string sender = "s@example.org";
  std::string time = "1700000000 5";
  std::vector<Rec> env{{'R', "a5:r@x.y"}};
  std::vector<Rec> content{{'N', "Subject: x"}, {'N', ""}, {'N', "body"}};
  std::vector<Rec> extracted;
};

// Assembles a file with a correct size record (unless `tweak` changes it).
std::string assemble(const Parts& p, const std::function<void(SizeRecord&)>& tweak = {}) {
  SizeRecord s;
  std::string env = rec('W', encode_warning(0).value()) + rec('T', p.time) + rec('S', p.sender);
  for (const auto& [t, v] : p.env) {
    env += rec(t, v);
    if (t == 'R' || t == 'D') ++s.recipient_count;
  }
  std::string body;
  for (const auto& [t, v] : p.content) {
    body += rec(t, v);
    s.content_size += v.size() + (t == 'N' ? 1 : 0);
  }
  std::string ext;
  for (const auto& [t, v] : p.extracted) {
    ext += rec(t, v);
    if (t == 'R' || t == 'D') ++s.recipient_count;
  }
  s.content_offset = kRecordHeaderSize + kSizePayloadLength + env.size();
  s.extracted_offset = s.content_offset + kRecordHeaderSize + body.size();
  if (tweak) tweak(s);
  return rec('C', s.encode().value()) + env + rec('M', "") + body + rec('X', "") + ext + rec('E', "");
}

Result<QueueFileReader> parse(std::string bytes) { return QueueFileReader::from_memory(std::move(bytes)); }

// Expects a corrupt-file error whose message mentions `why`.
void expect_corrupt(const std::string& bytes, std::string_view why) {
  auto r = parse(bytes);
  ASSERT_FALSE(r.ok()) << "accepted a file that should fail with: " << why;
  EXPECT_TRUE(is_corrupt(r.error())) << r.error().message;
  EXPECT_NE(r.error().message.find("corrupt queue file"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find(why), std::string::npos) << r.error().message;
}

TEST(Malformed, AssembledBaselineIsValid) {
  auto r = parse(assemble(Parts{}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->message().recipients.size(), 1u);
  EXPECT_EQ(r->message().recipients[0].fields.address, "r@x.y");
}

TEST(Malformed, EveryTruncationIsRejected) {
  Parts p;
  p.extracted = {{'A', "smtputf8=yes"}, {'R', "a3:t@x"}};
  std::string good = assemble(p);
  ASSERT_TRUE(parse(good).ok());
  for (std::size_t n = 0; n < good.size(); ++n) {
    auto r = parse(good.substr(0, n));
    ASSERT_FALSE(r.ok()) << "prefix of " << n << " bytes accepted";
    EXPECT_TRUE(is_corrupt(r.error())) << r.error().message;
  }
}

TEST(Malformed, EveryTruncationOfAWrittenFileIsRejected) {
  // The same through real files and the fd reader.
  TempQueue tq;
  ASSERT_TRUE(create_queue_tree(tq.root(), HashConfig::defaults()).ok());
  WriterOptions o;
  o.queue_root = tq.root();
  o.hash = HashConfig::defaults();
  auto w = QueueFileWriter::create(o);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(w->begin({"s@x", 1, 0, 0}).ok());
  ASSERT_TRUE(w->add_recipient({"r@x", "", "rfc822;r@x", kNotifyDelay}).ok());
  ASSERT_TRUE(w->add_line("hello").ok());
  ASSERT_TRUE(w->commit().ok());
  std::string good = testing::slurp(w->path());
  fs::path t = tq.root() / "active" / "truncated";
  ReadOptions ro;
  ro.require_ready = false;
  for (std::size_t n = 0; n < good.size(); ++n) {
    testing::spit(t, good.substr(0, n));
    auto r = QueueFileReader::open(t, ro);
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_TRUE(is_corrupt(r.error())) << r.error().message;
  }
  testing::spit(t, good);
  EXPECT_TRUE(QueueFileReader::open(t, ro).ok());
}

TEST(Malformed, MissingEndAndJunkAfterEnd) {
  std::string good = assemble(Parts{});
  expect_corrupt(good.substr(0, good.size() - kRecordHeaderSize), "missing end record");
  expect_corrupt(good + rec('E', ""), "data after the end record");
  expect_corrupt(good + "x", "data after the end record");
  expect_corrupt(good + std::string(1, '\0'), "data after the end record");
  // A record that is not an end record at the very end.
  std::string no_end = good.substr(0, good.size() - kRecordHeaderSize) + rec('A', "x=y");
  expect_corrupt(no_end, "missing end record");
}

TEST(Malformed, WrongSegment) {
  {
    Parts p;
    p.content.push_back({'R', "a3:r@x"});
    expect_corrupt(assemble(p), "not allowed in the content segment");
  }
  {
    Parts p;
    p.content.push_back({'A', "a=b"});
    expect_corrupt(assemble(p), "not allowed in the content segment");
  }
  {
    Parts p;
    p.env.push_back({'N', "line in envelope"});
    expect_corrupt(assemble(p), "not allowed in the envelope segment");
  }
  {
    Parts p;
    p.extracted.push_back({'N', "line in extracted"});
    expect_corrupt(assemble(p), "not allowed in the extracted segment");
  }
  {
    Parts p;
    p.extracted.push_back({'S', "s@x"});
    expect_corrupt(assemble(p), "not allowed in the extracted segment");
  }
  {
    Parts p;
    p.env.push_back({'X', ""});
    expect_corrupt(assemble(p), "not allowed in the envelope segment");
  }
  {
    Parts p;
    p.content.push_back({'M', ""});
    expect_corrupt(assemble(p), "not allowed in the content segment");
  }
  {
    Parts p;
    p.extracted.push_back({'X', ""});
    expect_corrupt(assemble(p), "not allowed in the extracted segment");
  }
}

TEST(Malformed, FixedEnvelopeOrder) {
  SizeRecord s;
  std::string c = rec('C', s.encode().value());
  expect_corrupt(rec('W', encode_warning(0).value()) + c, "expected size record");
  expect_corrupt(c + rec('T', "1 0") + rec('W', encode_warning(0).value()), "expected warning time record");
  expect_corrupt(c + rec('W', encode_warning(0).value()) + rec('S', "s@x"), "expected arrival time record");
  expect_corrupt(c + rec('W', encode_warning(0).value()) + rec('T', "1 0") + rec('R', "a3:r@x"),
                 "expected sender record");
  expect_corrupt(c + rec('W', encode_warning(0).value()) + rec('T', "1 0") + rec('M', ""),
                 "expected sender record");
  Parts p;
  p.env.push_back({'S', "second@sender"});
  expect_corrupt(assemble(p), "duplicate sender record");
  Parts q;
  q.env.push_back({'C', s.encode().value()});
  expect_corrupt(assemble(q), "duplicate size record");
  Parts w;
  w.env.push_back({'W', encode_warning(5).value()});
  expect_corrupt(assemble(w), "duplicate warning time record");
  // Files that end right after the envelope's fixed records.
  expect_corrupt(c + rec('W', encode_warning(0).value()) + rec('T', "1 0"), "file ends inside the envelope");
}

TEST(Malformed, OversizedLengths) {
  // A content record claiming 2 GiB: refused before any allocation.
  Parts p;
  std::string bytes = assemble(p);
  auto m_at = parse(bytes)->message().size.content_offset + kRecordHeaderSize;
  std::string huge = bytes;
  huge[m_at + 1] = 0x7f;  // first N record's length high byte
  expect_corrupt(huge, "exceeds limit");
  huge[m_at + 1] = 0x00;
  huge[m_at + 2] = 0x0f;  // 0x0f.... > remaining bytes but < 1 MiB? 0x0f0000 = 983040
  expect_corrupt(huge, "runs past the end of the file");
  Parts big_sender;
  big_sender.sender = std::string(kMaxAddressLength + 1, 's');
  expect_corrupt(assemble(big_sender), "exceeds limit");
  Parts big_attr;
  big_attr.env.push_back({'A', "x=" + std::string(kMaxEnvelopeRecord, 'v')});
  expect_corrupt(assemble(big_attr), "exceeds limit");
  Parts big_line;
  big_line.content.push_back({'N', std::string(kMaxContentRecord + 1, 'l')});
  expect_corrupt(assemble(big_line), "exceeds limit");
  std::string mp = assemble(Parts{});
  // Give the M record a payload byte.
  auto mo = parse(mp)->message().size.content_offset;
  mp[mo + 4] = 1;
  expect_corrupt(mp, "exceeds limit");
}

TEST(Malformed, BadSizeRecord) {
  expect_corrupt(assemble(Parts{}, [](SizeRecord& s) { s.content_offset += 1; }), "content starts at");
  expect_corrupt(assemble(Parts{}, [](SizeRecord& s) { s.content_size += 1; }), "content size");
  expect_corrupt(assemble(Parts{}, [](SizeRecord& s) { s.extracted_offset -= 5; }),
                 "extracted segment starts at");
  expect_corrupt(assemble(Parts{}, [](SizeRecord& s) { s.recipient_count = 2; }), "recipients");
  expect_corrupt(assemble(Parts{}, [](SizeRecord& s) { s.version = 2; }), "unsupported format version");
  std::string bad = assemble(Parts{});
  bad[kRecordHeaderSize + 3] = 'x';  // non-digit in the first field
  expect_corrupt(bad, "not a number");
  bad = assemble(Parts{});
  bad[kRecordHeaderSize + kSizeFieldWidth] = '0';  // separator replaced
  expect_corrupt(bad, "not separated");
  // Wrong payload length for the size record.
  std::string shortc = rec('C', "1 2 3") + assemble(Parts{}).substr(kRecordHeaderSize + kSizePayloadLength);
  expect_corrupt(shortc, "size record has length");
  // Warning record not fixed width.
  Parts p;
  std::string w = assemble(p);
  w[kWarningRecordOffset + kRecordHeaderSize + 3] = 'q';
  expect_corrupt(w, "warning time is not a number");
}

TEST(Malformed, EnvelopeOnlyModeChecksOffsets) {
  ReadOptions fast;
  fast.verify_content = false;
  auto bad = assemble(Parts{}, [](SizeRecord& s) { s.extracted_offset -= 5; });
  auto r = QueueFileReader::from_memory(bad, "m", fast);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(is_corrupt(r.error()));
  auto worse = assemble(Parts{}, [](SizeRecord& s) { s.extracted_offset = 1u << 30; });
  EXPECT_FALSE(QueueFileReader::from_memory(worse, "m", fast).ok());
  auto good = assemble(Parts{});
  EXPECT_TRUE(QueueFileReader::from_memory(good, "m", fast).ok());
}

TEST(Malformed, BadRecordContents) {
  auto with_env = [](Rec r) {
    Parts p;
    p.env.push_back(std::move(r));
    return assemble(p);
  };
  expect_corrupt(with_env({'A', "noequals"}), "lacks '='");
  expect_corrupt(with_env({'A', "Upper=x"}), "bad attribute name");
  expect_corrupt(with_env({'A', "=x"}), "bad attribute name");
  expect_corrupt(with_env({'A', "encoding=base64"}), "bad value");
  expect_corrupt(with_env({'A', "x=a\nb"}), "NUL, CR or LF");
  expect_corrupt(with_env({'A', std::string("x=a\0b", 5)}), "NUL, CR or LF");
  Parts dup;
  dup.env = {{'A', "dsn_ret=FULL"}, {'A', "dsn_ret=HDRS"}, {'R', "a3:r@x"}};
  expect_corrupt(assemble(dup), "duplicate attribute");
  // The same attribute once per segment is fine (extracted overrides).
  Parts ok;
  ok.env.push_back({'A', "encoding=7bit"});
  ok.extracted.push_back({'A', "encoding=8bit"});
  auto r = parse(assemble(ok));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->message().encoding, BodyEncoding::EightBit);
  EXPECT_EQ(r->message().attribute("encoding"), "8bit");

  expect_corrupt(with_env({'R', ""}), "lacks address");
  expect_corrupt(with_env({'R', "a0:"}), "empty recipient address");
  expect_corrupt(with_env({'R', "a9:r@x"}), "overruns");
  expect_corrupt(with_env({'R', "a3:r@xjunk"}), "unknown");
  expect_corrupt(with_env({'R', "a3:r@xo3:rfc"}), "ORCPT lacks");
  expect_corrupt(with_env({'R', "a3:r@xn1:0"}), "bad NOTIFY");
  expect_corrupt(with_env({'R', "a3:r@xn2:16"}), "bad NOTIFY");
  expect_corrupt(with_env({'R', "a3:r@xn1:9"}), "bad NOTIFY bits");  // NEVER|DELAY
  expect_corrupt(with_env({'R', "a3:r@xa3:r@x"}), "out of order or repeated");
  expect_corrupt(with_env({'R', "p3:o@xa3:r@x"}), "out of order or repeated");
  expect_corrupt(with_env({'R', "a03:r@x"}), "bad length");
  expect_corrupt(with_env({'R', "a3r@x"}), "lacks length");
  expect_corrupt(with_env({'R', "a-1:r@x"}), "bad length");
  expect_corrupt(with_env({'R', std::string("a3:r\0x", 6)}), "NUL, CR or LF");
  expect_corrupt(with_env({'R', "a3:r@xp0:"}), "empty original recipient");
  Parts t;
  t.time = "1700000000";
  expect_corrupt(assemble(t), "lacks microseconds");
  t.time = "17x 5";
  expect_corrupt(assemble(t), "bad arrival time");
  t.time = "1 1000000";
  expect_corrupt(assemble(t), "bad arrival time");
  Parts s;
  s.sender = "a\rb";
  expect_corrupt(assemble(s), "sender has NUL, CR or LF");
}

TEST(Malformed, UnknownRecordType) {
  Parts p;
  p.env.push_back({'Q', "?"});
  expect_corrupt(assemble(p), "unknown record type 'Q'");
  Parts q;
  q.content.push_back({'\x01', ""});
  expect_corrupt(assemble(q), "unknown record type 0x01");
}

TEST(Malformed, PartialLineAtEndOfContent) {
  Parts p;
  p.content.push_back({'L', "dangling"});
  expect_corrupt(assemble(p), "partial line at end of content");
}

TEST(Malformed, ForgedDoneMarks) {
  // D is a recipient state; it cannot appear outside recipient positions.
  Parts in_content;
  in_content.content.push_back({'D', "a3:r@x"});
  expect_corrupt(assemble(in_content), "not allowed in the content segment");
  // Turning the sender record into a done mark breaks the fixed order.
  std::string bytes = assemble(Parts{});
  auto msg = parse(bytes)->message();
  std::uint64_t sender_off = kWarningRecordOffset + kRecordHeaderSize + kWarningPayloadLength +
                             kRecordHeaderSize + std::string("1700000000 5").size();
  ASSERT_EQ(bytes[sender_off], 'S');
  std::string forged = bytes;
  forged[sender_off] = 'D';
  expect_corrupt(forged, "expected sender record");
  // Turning an attribute into a done recipient: its payload is no recipient.
  Parts attr;
  attr.env = {{'A', "client_name=x"}, {'R', "a3:r@x"}};
  std::string b2 = assemble(attr);
  auto a_off = b2.find("client_name=") - kRecordHeaderSize;
  ASSERT_EQ(b2[a_off], 'A');
  b2[a_off] = 'D';
  expect_corrupt(b2, "recipient");
  // ... and it also changes the recipient count.
  // A real R -> D patch is accepted and reported as done.
  std::string b3 = bytes;
  b3[msg.recipients[0].offset] = 'D';
  auto r = parse(b3);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->message().recipients[0].done);
  EXPECT_EQ(r->message().pending_recipients(), 0u);
}

TEST(Malformed, SingleByteFlipsNeverCrash) {
  // A miniature fuzz pass: every byte replaced by a few values.
  Parts p;
  p.extracted = {{'A', "x=y"}, {'R', "a3:t@xn1:2"}};
  std::string good = assemble(p);
  for (std::size_t i = 0; i < good.size(); ++i) {
    for (unsigned char v : {0x00, 0x01, 0x41, 0x7f, 0xff}) {
      std::string b = good;
      b[i] = static_cast<char>(v);
      auto r = parse(b);
      if (!r.ok()) {
        EXPECT_TRUE(is_corrupt(r.error())) << i << ": " << r.error().message;
        continue;
      }
      // Anything accepted must still stream its content without error.
      auto c = r->content();
      ContentPiece piece;
      for (;;) {
        auto more = c.next(piece);
        ASSERT_TRUE(more.ok()) << more.error().message;
        if (!*more) break;
      }
    }
  }
}

// ---------------------------------------------------------------- in-place updates

struct Updates : ::testing::Test {
  TempQueue tq;
  fs::path path;
  QueueMessage msg;
  void SetUp() override {
    ASSERT_TRUE(create_queue_tree(tq.root(), HashConfig::defaults()).ok());
    WriterOptions o;
    o.queue_root = tq.root();
    auto w = QueueFileWriter::create(o);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE(w->begin({"s@x", 1, 0, 0}).ok());
    ASSERT_TRUE(w->add_attribute("client_name", "R\x01\x01").ok());
    ASSERT_TRUE(w->add_recipient({"one@x", "", "", 0}).ok());
    ASSERT_TRUE(w->add_recipient({"two@x", "", "", 0}).ok());
    ASSERT_TRUE(w->add_line("R").ok());
    ASSERT_TRUE(w->add_line(std::string("R\0\0\0\x05"
                                        "a1:x",
                                        9))
                    .ok());  // fake record in content
    ASSERT_TRUE(w->add_extracted_recipient({"three@x", "", "", 0}).ok());
    ASSERT_TRUE(w->commit().ok());
    path = w->path();
    auto m = read_queue_file(path);
    ASSERT_TRUE(m.ok()) << m.error().message;
    msg = *m;
  }
};

TEST_F(Updates, MarkRecipientDone) {
  ASSERT_EQ(msg.recipients.size(), 3u);
  ASSERT_TRUE(mark_recipient_done(path, msg.recipients[1].offset).ok());
  std::string after = testing::slurp(path);
  EXPECT_EQ(after[msg.recipients[1].offset], 'D');
  auto m = read_queue_file(path);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_FALSE(m->recipients[0].done);
  EXPECT_TRUE(m->recipients[1].done);
  EXPECT_FALSE(m->recipients[2].done);
  // Again: idempotent, no change.
  ASSERT_TRUE(mark_recipient_done(path, msg.recipients[1].offset).ok());
  EXPECT_EQ(testing::slurp(path), after);
  // Extracted-segment recipients too.
  ASSERT_TRUE(mark_recipient_done(path, msg.recipients[2].offset).ok());
  EXPECT_EQ(read_queue_file(path)->pending_recipients(), 1u);
  // The file mode (ready mark) is unchanged.
  EXPECT_TRUE(is_ready(path).value());
}

TEST_F(Updates, MarkRecipientDoneRefusesBadOffsets) {
  std::string before = testing::slurp(path);
  std::vector<std::uint64_t> bad{0,
                                 kWarningRecordOffset,
                                 msg.recipients[0].offset + 1,
                                 msg.recipients[0].offset - 1,
                                 msg.size.content_offset,
                                 msg.size.content_offset + kRecordHeaderSize,
                                 msg.size.extracted_offset,
                                 msg.file_size - kRecordHeaderSize,
                                 msg.file_size,
                                 msg.file_size + 100,
                                 ~0ull};
  // The attribute payload starts with 'R' and the content has a fake header.
  bad.push_back(before.find("client_name=") + 12);
  auto fake = before.find(std::string("R\0\0\0\x05", 5), msg.size.content_offset);
  ASSERT_NE(fake, std::string::npos);
  bad.push_back(fake);
  for (auto off : bad) EXPECT_FALSE(mark_recipient_done(path, off).ok()) << off;
  EXPECT_EQ(testing::slurp(path), before);
}

TEST_F(Updates, SetWarningTime) {
  ASSERT_TRUE(set_warning_time(path, 1800000000).ok());
  EXPECT_EQ(read_queue_file(path)->warning_time, 1800000000);
  ASSERT_TRUE(set_warning_time(path, 0).ok());
  EXPECT_EQ(read_queue_file(path)->warning_time, 0);
  // A value wider than the field would overwrite the next record: refused.
  std::string before = testing::slurp(path);
  EXPECT_FALSE(set_warning_time(path, kMaxFixedValue + 1).ok());
  EXPECT_FALSE(set_warning_time(path, -1).ok());
  EXPECT_EQ(testing::slurp(path), before);
  ASSERT_TRUE(set_warning_time(path, kMaxFixedValue).ok());
  EXPECT_EQ(read_queue_file(path)->warning_time, kMaxFixedValue);
  // A file without the fixed records is refused and left alone.
  fs::path junk = tq.root() / "active" / "junk";
  testing::spit(junk,
                "not a queue file at all, long enough to read a header from it......................"
                "...........................................");
  EXPECT_FALSE(set_warning_time(junk, 5).ok());
  EXPECT_FALSE(mark_recipient_done(junk, 200).ok());
}

}  // namespace
}  // namespace postern::queue
