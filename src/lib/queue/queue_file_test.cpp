// queue_file_test.cpp - writer/reader round trips, commit protocol, ID uniqueness.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <set>

#include "base/unique_fd.h"
#include "queue/queue_test_util.h"
#include "queue/reader.h"
#include "queue/update.h"
#include "queue/writer.h"

namespace postern::queue {
namespace {
namespace fs = std::filesystem;
using testing::TempQueue;

struct Fixture : ::testing::Test {
  TempQueue tq;
  HashConfig hash = HashConfig::from_params("deferred incoming", 1).value();
  void SetUp() override { ASSERT_TRUE(create_queue_tree(tq.root(), hash).ok()); }
  WriterOptions opts(QueueName q = QueueName::Incoming, IdFormat f = IdFormat::Short) {
    WriterOptions o;
    o.queue_root = tq.root();
    o.queue = q;
    o.hash = hash;
    o.id_format = f;
    return o;
  }
};

using QueueFile = Fixture;

// Reads every content piece back, joining pieces into lines.
std::vector<std::string> content_lines(const QueueFileReader& rd) {
  std::vector<std::string> out;
  auto c = rd.content();
  ContentPiece p;
  std::string cur;
  for (;;) {
    auto more = c.next(p);
    EXPECT_TRUE(more.ok()) << more.error().message;
    if (!more.ok() || !*more) break;
    cur += p.data;
    if (p.complete) {
      out.push_back(cur);
      cur.clear();
    }
  }
  return out;
}

TEST_F(QueueFile, RoundTrip) {
  std::uint64_t r1_off = 0, r3_off = 0;
  fs::path path;
  QueueId id = QueueId::parse("100001").value();
  {
    auto w = QueueFileWriter::create(opts());
    ASSERT_TRUE(w.ok()) << w.error().message;
    id = w->id();
    path = w->path();
    EXPECT_EQ(path, queue_path(tq.root(), QueueName::Incoming, id, hash));
    ASSERT_TRUE(w->begin({"sender@example.org", 1700000000, 123456, 1700003600}).ok());
    ASSERT_TRUE(w->add_attribute(attr::kClientName, "mail.example.net").ok());
    ASSERT_TRUE(w->add_attribute(attr::kClientAddress, "192.0.2.1").ok());
    ASSERT_TRUE(w->add_attribute(attr::kEncoding, "8bit").ok());
    ASSERT_TRUE(w->add_attribute(attr::kDsnRet, "HDRS").ok());
    ASSERT_TRUE(w->add_attribute(attr::kDsnEnvid, "QQ314159").ok());
    auto r1 = w->add_recipient(
        {"a@example.com", "A@Example.COM", "rfc822;A@Example.COM", kNotifySuccess | kNotifyFailure});
    ASSERT_TRUE(r1.ok());
    r1_off = *r1;
    ASSERT_TRUE(w->add_recipient({"b@example.com", "", "", kNotifyNone}).ok());
    ASSERT_TRUE(w->add_line("Subject: test").ok());
    ASSERT_TRUE(w->add_line("").ok());
    ASSERT_TRUE(w->add_line("body line\twith tab and bare \r CR").ok());
    ASSERT_TRUE(w->add_partial("split ").ok());
    ASSERT_TRUE(w->add_line("line").ok());
    ASSERT_TRUE(w->add_extracted_attribute(attr::kSmtputf8, "yes").ok());
    auto r3 = w->add_extracted_recipient({"c@example.com", "", "", kNotifyNever});
    ASSERT_TRUE(r3.ok());
    r3_off = *r3;
    auto st = w->commit();
    ASSERT_TRUE(st.ok()) << st.error().message;
    EXPECT_TRUE(w->committed());
  }
  // Committed: survives the writer, has the ready mark.
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  auto rd = QueueFileReader::open(path);
  ASSERT_TRUE(rd.ok()) << rd.error().message;
  const auto& m = rd->message();
  EXPECT_EQ(m.sender, "sender@example.org");
  EXPECT_EQ(m.arrival_sec, 1700000000);
  EXPECT_EQ(m.arrival_usec, 123456u);
  EXPECT_EQ(m.warning_time, 1700003600);
  ASSERT_EQ(m.attributes.size(), 5u);
  EXPECT_EQ(m.attribute(attr::kClientName), "mail.example.net");
  EXPECT_EQ(m.encoding, BodyEncoding::EightBit);
  EXPECT_EQ(m.dsn_ret, DsnRet::Headers);
  EXPECT_EQ(m.dsn_envid, "QQ314159");
  EXPECT_TRUE(m.smtputf8);
  ASSERT_EQ(m.recipients.size(), 3u);
  EXPECT_EQ(m.size.recipient_count, 3u);
  EXPECT_EQ(m.recipients[0].fields.address, "a@example.com");
  EXPECT_EQ(m.recipients[0].fields.orig_rcpt, "A@Example.COM");
  EXPECT_EQ(m.recipients[0].fields.orcpt, "rfc822;A@Example.COM");
  EXPECT_EQ(m.recipients[0].fields.notify, kNotifySuccess | kNotifyFailure);
  EXPECT_EQ(m.recipients[0].offset, r1_off);
  EXPECT_EQ(m.recipients[0].segment, Segment::Envelope);
  EXPECT_FALSE(m.recipients[0].done);
  EXPECT_EQ(m.recipients[1].fields.orig_rcpt, "");
  EXPECT_EQ(m.recipients[2].fields.address, "c@example.com");
  EXPECT_EQ(m.recipients[2].segment, Segment::Extracted);
  EXPECT_EQ(m.recipients[2].offset, r3_off);
  EXPECT_EQ(m.recipients[2].fields.notify, kNotifyNever);
  auto lines = content_lines(*rd);
  std::vector<std::string> want{"Subject: test", "", "body line\twith tab and bare \r CR", "split line"};
  EXPECT_EQ(lines, want);
  std::uint64_t size = 0;
  for (auto& l : want) size += l.size() + 1;
  EXPECT_EQ(m.size.content_size, size);
  EXPECT_EQ(m.pending_recipients(), 3u);
}

TEST_F(QueueFile, NullSenderAndEmptyContent) {
  auto w = QueueFileWriter::create(opts());
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(w->begin({"", -1, 0, 0}).ok());
  ASSERT_TRUE(w->add_recipient({"postmaster", "", "", 0}).ok());
  ASSERT_TRUE(w->commit().ok());
  auto rd = QueueFileReader::open(w->path());
  ASSERT_TRUE(rd.ok()) << rd.error().message;
  EXPECT_EQ(rd->message().sender, "");
  EXPECT_EQ(rd->message().size.content_size, 0u);
  EXPECT_TRUE(content_lines(*rd).empty());
  EXPECT_GT(rd->message().arrival_sec, 1600000000);
}

TEST_F(QueueFile, LongLinesAreSplitAndStreamed) {
  auto w = QueueFileWriter::create(opts());
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(w->begin({"s@x", 1, 0, 0}).ok());
  ASSERT_TRUE(w->add_recipient({"r@x", "", "", 0}).ok());
  std::string big(kMaxContentRecord * 2 + 17, 'x');
  big[kMaxContentRecord] = 'Y';
  ASSERT_TRUE(w->add_line("Subject: big").ok());
  ASSERT_TRUE(w->add_line("").ok());
  ASSERT_TRUE(w->add_line(big).ok());
  ASSERT_TRUE(w->add_line("after").ok());
  ASSERT_TRUE(w->commit().ok());
  auto rd = QueueFileReader::open(w->path());
  ASSERT_TRUE(rd.ok()) << rd.error().message;
  // No piece is larger than the limit.
  auto c = rd->content();
  ContentPiece p;
  std::size_t pieces = 0, partial = 0;
  while (c.next(p).value()) {
    ++pieces;
    EXPECT_LE(p.data.size(), kMaxContentRecord);
    if (!p.complete) ++partial;
  }
  EXPECT_EQ(pieces, 6u);
  EXPECT_EQ(partial, 2u);
  auto lines = content_lines(*rd);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[2], big);
  EXPECT_EQ(lines[3], "after");
}

TEST_F(QueueFile, DanglingPartialLineIsTerminated) {
  auto w = QueueFileWriter::create(opts());
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(w->begin({"s@x", 1, 0, 0}).ok());
  ASSERT_TRUE(w->add_recipient({"r@x", "", "", 0}).ok());
  ASSERT_TRUE(w->add_line("a").ok());
  ASSERT_TRUE(w->add_partial("no newline at end").ok());
  ASSERT_TRUE(w->commit().ok());
  auto rd = QueueFileReader::open(w->path());
  ASSERT_TRUE(rd.ok()) << rd.error().message;
  EXPECT_EQ(content_lines(*rd), (std::vector<std::string>{"a", "no newline at end"}));
  EXPECT_EQ(rd->message().size.content_size, 2u + 18u);
}

TEST_F(QueueFile, LongIdsWork) {
  auto w = QueueFileWriter::create(opts(QueueName::Deferred, IdFormat::Long));
  ASSERT_TRUE(w.ok());
  EXPECT_TRUE(w->id().is_long());
  EXPECT_EQ(w->path().parent_path().filename(), w->id().hash_part().substr(0, 1));
  ASSERT_TRUE(w->begin({"s@x", -1, 0, 0}).ok());
  ASSERT_TRUE(w->add_recipient({"r@x", "", "", 0}).ok());
  ASSERT_TRUE(w->commit().ok());
  // The ID's time part is the creation time (within a minute of now).
  EXPECT_LT(std::llabs(*w->id().seconds() - static_cast<long long>(::time(nullptr))), 60);
  EXPECT_TRUE(QueueFileReader::open(w->path()).ok());
}

TEST_F(QueueFile, WriterRejectsBadInputAndOrder) {
  auto w = QueueFileWriter::create(opts());
  ASSERT_TRUE(w.ok());
  EXPECT_FALSE(w->add_line("x").ok());                    // before begin
  EXPECT_FALSE(w->begin({"bad\nsender", 1, 0, 0}).ok());  // CR/LF in envelope
  EXPECT_FALSE(w->begin({std::string(5000, 'a'), 1, 0, 0}).ok());
  EXPECT_FALSE(w->begin({"s@x", 1, 0, kMaxFixedValue + 1}).ok());  // warning time too wide
  EXPECT_FALSE(w->begin({"s@x", kMaxFixedValue + 1, 0, 0}).ok());  // arrival time too wide
  EXPECT_FALSE(w->begin({"s@x", 1, 1000000, 0}).ok());
  ASSERT_TRUE(w->begin({"s@x", 1, 0, 0}).ok());
  EXPECT_FALSE(w->begin({"s@x", 1, 0, 0}).ok());
  EXPECT_FALSE(w->add_recipient({"", "", "", 0}).ok());
  EXPECT_FALSE(w->add_recipient({std::string("a\0b", 3), "", "", 0}).ok());
  EXPECT_FALSE(w->add_recipient({"a@x", "", "noaddrtype", 0}).ok());
  EXPECT_FALSE(w->add_recipient({"a@x", "", "", kNotifyNever | kNotifyDelay}).ok());
  EXPECT_FALSE(w->add_attribute("Bad-Name", "x").ok());
  EXPECT_FALSE(w->add_attribute(attr::kDsnRet, "ALL").ok());
  EXPECT_FALSE(w->add_attribute(attr::kEncoding, "quoted-printable").ok());
  EXPECT_FALSE(w->add_attribute(attr::kClientPort, "70000").ok());
  EXPECT_FALSE(w->add_attribute("x", std::string(kMaxAttrValueLength + 1, 'v')).ok());
  // Typed attributes once per segment (the reader would call a second one corrupt).
  EXPECT_TRUE(w->add_attribute(attr::kEncoding, "8bit").ok());
  EXPECT_FALSE(w->add_attribute(attr::kEncoding, "7bit").ok());
  EXPECT_TRUE(w->add_attribute("client_name", "a").ok());  // untyped: repeats allowed
  EXPECT_TRUE(w->add_attribute("client_name", "b").ok());
  ASSERT_TRUE(w->add_line("content").ok());
  EXPECT_FALSE(w->add_attribute("late", "x").ok());  // envelope is closed
  EXPECT_FALSE(w->add_recipient({"a@x", "", "", 0}).ok());
  // The writer is still usable after rejected input.
  EXPECT_TRUE(w->add_extracted_attribute(attr::kEncoding, "binary").ok());  // new segment
  EXPECT_FALSE(w->add_extracted_attribute(attr::kEncoding, "binary").ok());
  ASSERT_TRUE(w->commit().ok());
  auto rd = QueueFileReader::open(w->path());
  ASSERT_TRUE(rd.ok()) << rd.error().message;
  EXPECT_TRUE(rd->message().recipients.empty());
  EXPECT_EQ(rd->message().encoding, BodyEncoding::Binary);
}

TEST_F(QueueFile, DestructorRemovesUncommittedFile) {
  fs::path p;
  {
    auto w = QueueFileWriter::create(opts());
    ASSERT_TRUE(w.ok());
    p = w->path();
    ASSERT_TRUE(w->begin({"s@x", 1, 0, 0}).ok());
    ASSERT_TRUE(w->add_line("x").ok());
    ASSERT_TRUE(w->finish_write().ok());
    ASSERT_TRUE(w->sync().ok());
    ASSERT_TRUE(w->mark_ready().ok());  // ready but directory not synced: not committed
    EXPECT_TRUE(fs::exists(p));
  }
  EXPECT_FALSE(fs::exists(p));
  // No temporary files are left behind either.
  EXPECT_TRUE(fs::is_empty(tq.root() / "incoming" / p.parent_path().filename()));
  for (auto& e : fs::directory_iterator(tq.root() / "incoming")) EXPECT_TRUE(e.is_directory()) << e.path();
}

TEST_F(QueueFile, MovedWriterKeepsOwnership) {
  fs::path p;
  {
    auto w = QueueFileWriter::create(opts());
    ASSERT_TRUE(w.ok());
    p = w->path();
    QueueFileWriter moved = std::move(w).value();
    ASSERT_TRUE(moved.begin({"s@x", 1, 0, 0}).ok());
    ASSERT_TRUE(moved.commit().ok());
  }
  EXPECT_TRUE(fs::exists(p));
}

TEST_F(QueueFile, IncompleteFileIsNotReady) {
  auto w = QueueFileWriter::create(opts());
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(w->begin({"s@x", 1, 0, 0}).ok());
  ASSERT_TRUE(w->add_recipient({"r@x", "", "", 0}).ok());
  ASSERT_TRUE(w->finish_write().ok());
  ASSERT_TRUE(w->sync().ok());
  // Complete bytes, but no ready mark yet: qmgr's reader refuses it.
  auto rd = QueueFileReader::open(w->path());
  ASSERT_FALSE(rd.ok());
  EXPECT_TRUE(is_not_ready(rd.error()));
  EXPECT_FALSE(is_corrupt(rd.error()));
  EXPECT_FALSE(is_ready(w->path()).value());
  // postcat-style inspection still works.
  ReadOptions inspect;
  inspect.require_ready = false;
  EXPECT_TRUE(QueueFileReader::open(w->path(), inspect).ok());
  ASSERT_TRUE(w->mark_ready().ok());
  EXPECT_TRUE(is_ready(w->path()).value());
  EXPECT_TRUE(QueueFileReader::open(w->path()).ok());
  ASSERT_TRUE(w->sync_directory().ok());
  EXPECT_TRUE(w->committed());
}

TEST_F(QueueFile, CommitStepsMustBeInOrder) {
  auto w = QueueFileWriter::create(opts());
  ASSERT_TRUE(w.ok());
  EXPECT_FALSE(w->finish_write().ok());
  ASSERT_TRUE(w->begin({"s@x", 1, 0, 0}).ok());
  EXPECT_FALSE(w->sync().ok());
  EXPECT_FALSE(w->mark_ready().ok());
  EXPECT_FALSE(w->sync_directory().ok());
  ASSERT_TRUE(w->finish_write().ok());
  EXPECT_FALSE(w->finish_write().ok());
  EXPECT_FALSE(w->add_line("late").ok());
  EXPECT_FALSE(w->sync_directory().ok());  // not before the ready mark
  ASSERT_TRUE(w->mark_ready().ok());       // straight after finish_write(): one fsync
  EXPECT_FALSE(w->mark_ready().ok());
  ASSERT_TRUE(w->commit().ok());
}

TEST_F(QueueFile, PresyncedDirectoriesAreNotSyncedAgain) {
  auto w = QueueFileWriter::create(opts());
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(w->presync_directories().ok());
  ASSERT_TRUE(w->begin({"s@x", 1, 0, 0}).ok());
  ASSERT_TRUE(w->add_recipient({"r@x", "", "", 0}).ok());
  ASSERT_TRUE(w->commit().ok());
  EXPECT_TRUE(w->committed());
}

TEST_F(QueueFile, GroupCommit) {
  std::vector<QueueFileWriter> ws;
  for (int i = 0; i < 20; ++i) {
    auto w = QueueFileWriter::create(opts());
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE(w->begin({"s@x", 1, 0, 0}).ok());
    ASSERT_TRUE(w->add_recipient({fmt::format("r{}@x", i), "", "", 0}).ok());
    ASSERT_TRUE(w->add_line(fmt::format("line {}", i)).ok());
    ws.push_back(std::move(w).value());
  }
  std::vector<QueueFileWriter*> ptrs;
  for (auto& w : ws) {
    ASSERT_TRUE(w.finish_write().ok());
    ptrs.push_back(&w);
  }
  for (auto& w : ws) ASSERT_TRUE(w.sync().ok());
  // Not all ready yet: refused.
  EXPECT_FALSE(QueueFileWriter::sync_directories(ptrs).ok());
  for (auto& w : ws) ASSERT_TRUE(w.mark_ready().ok());
  ASSERT_TRUE(QueueFileWriter::sync_directories(ptrs).ok());
  std::vector<fs::path> paths;
  for (auto& w : ws) {
    EXPECT_TRUE(w.committed());
    paths.push_back(w.path());
  }
  ws.clear();
  for (auto& p : paths) EXPECT_TRUE(QueueFileReader::open(p).ok()) << p;
}

TEST_F(QueueFile, ThousandsOfUniqueIds) {
  // Files are kept until the end, so every inode is in use at once: the IDs
  // must all differ and match their files' inodes.
  std::set<std::string> ids;
  std::vector<QueueFileWriter> ws;
  constexpr int kCount = 2000;
  ws.reserve(kCount);
  for (int i = 0; i < kCount; ++i) {
    auto w = QueueFileWriter::create(opts(QueueName::Incoming, i % 2 ? IdFormat::Long : IdFormat::Short));
    ASSERT_TRUE(w.ok()) << w.error().message;
    EXPECT_TRUE(ids.insert(w->id().str()).second) << w->id().str();
    struct stat st {};
    ASSERT_EQ(::stat(w->path().c_str(), &st), 0);
    EXPECT_EQ(w->id().inode(), static_cast<std::uint64_t>(st.st_ino));
    auto parsed = QueueId::parse(w->id().str());
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, w->id());
    ws.push_back(std::move(w).value());
  }
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(kCount));
  ws.clear();  // uncommitted: all removed
  QueueScanner sc(tq.root(), QueueName::Incoming, hash);
  auto e = sc.next();
  ASSERT_TRUE(e.ok());
  EXPECT_FALSE(e->has_value());
  EXPECT_EQ(sc.issue_count(), 0u);
}

TEST_F(QueueFile, NamingNeverReplacesAnExistingFile) {
  // The primitive the writer names files with must fail on an existing
  // target (so a collision means "retry with a new time"), not replace it.
  fs::path a = tq.root() / "incoming" / "tmp.a", b = tq.root() / "incoming" / "3F2A1C0D2";
  testing::spit(a, "new");
  testing::spit(b, "precious");
  errno = 0;
  EXPECT_NE(detail::rename_noreplace(a, b), 0);
  EXPECT_EQ(errno, EEXIST);
  EXPECT_EQ(testing::slurp(b), "precious");
  EXPECT_TRUE(fs::exists(a));
  fs::path c = tq.root() / "incoming" / "3F2A1C0D3";
  EXPECT_EQ(detail::rename_noreplace(a, c), 0);
  EXPECT_FALSE(fs::exists(a));
  EXPECT_EQ(testing::slurp(c), "new");
}

TEST_F(QueueFile, CreatesMissingHashDirectory) {
  fs::remove_all(tq.root() / "deferred");
  fs::create_directory(tq.root() / "deferred");
  auto w = QueueFileWriter::create(opts(QueueName::Deferred));
  ASSERT_TRUE(w.ok()) << w.error().message;
  ASSERT_TRUE(w->begin({"s@x", 1, 0, 0}).ok());
  ASSERT_TRUE(w->commit().ok());
  struct stat st {};
  ASSERT_EQ(::stat(w->path().parent_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
}

TEST_F(QueueFile, MoveToHoldBeforeTheReadyMark) {
  // cleanup's HOLD: the finished file moves to hold/ under the same ID and
  // only then becomes ready, so qmgr never finds it in incoming/.
  fs::remove_all(tq.root() / "hold");
  fs::create_directory(tq.root() / "hold");  // hash subdirectories made on the way
  auto w = QueueFileWriter::create(opts());
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(w->presync_directories().ok());  // the old flag must not count for the new place
  fs::path before = w->path();
  ASSERT_TRUE(w->begin({"s@x", 1, 0, 0}).ok());
  ASSERT_TRUE(w->add_recipient({"r@x", "", "", 0}).ok());
  ASSERT_TRUE(w->add_line("held").ok());
  ASSERT_TRUE(w->finish_write().ok());
  ASSERT_TRUE(w->move_to_queue(tq.root(), QueueName::Hold, hash).ok());
  EXPECT_FALSE(w->directories_synced());
  EXPECT_FALSE(fs::exists(before));
  EXPECT_EQ(w->path(), queue_dir_for(tq.root(), QueueName::Hold, w->id(), hash) / w->id().str());
  ASSERT_TRUE(w->commit().ok());
  auto rd = QueueFileReader::open(w->path());
  ASSERT_TRUE(rd.ok()) << rd.error().message;
  EXPECT_EQ(content_lines(*rd), std::vector<std::string>{"held"});
  // Not once it is ready.
  EXPECT_FALSE(w->move_to_queue(tq.root(), QueueName::Deferred, hash).ok());
  EXPECT_TRUE(fs::exists(w->path()));
}

TEST_F(QueueFile, AbandonedAfterAMoveLeavesNothing) {
  fs::path moved;
  {
    auto w = QueueFileWriter::create(opts());
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE(w->begin({"s@x", 1, 0, 0}).ok());
    ASSERT_TRUE(w->move_to_queue(tq.root(), QueueName::Hold, hash).ok());
    moved = w->path();
    EXPECT_TRUE(fs::exists(moved));
  }
  EXPECT_FALSE(fs::exists(moved));
}

TEST_F(QueueFile, ReaderRefusesSymlinkAndNonRegular) {
  auto w = QueueFileWriter::create(opts());
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(w->begin({"s@x", 1, 0, 0}).ok());
  ASSERT_TRUE(w->commit().ok());
  fs::path link = tq.root() / "active" / "link";
  fs::create_symlink(w->path(), link);
  EXPECT_FALSE(QueueFileReader::open(link).ok());
  EXPECT_FALSE(QueueFileReader::open(tq.root() / "active").ok());
  EXPECT_FALSE(QueueFileReader::open(tq.root() / "active" / "missing").ok());
}

TEST_F(QueueFile, EnvelopeOnlyModeSkipsContent) {
  auto w = QueueFileWriter::create(opts());
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(w->begin({"s@x", 1, 0, 0}).ok());
  ASSERT_TRUE(w->add_recipient({"r@x", "", "", 0}).ok());
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(w->add_line(fmt::format("line {}", i)).ok());
  ASSERT_TRUE(w->add_extracted_recipient({"t@x", "", "", 0}).ok());
  ASSERT_TRUE(w->commit().ok());
  ReadOptions fast;
  fast.verify_content = false;
  auto rd = QueueFileReader::open(w->path(), fast);
  ASSERT_TRUE(rd.ok()) << rd.error().message;
  EXPECT_EQ(rd->message().recipients.size(), 2u);
  EXPECT_EQ(content_lines(*rd).size(), 1000u);
}

TEST_F(QueueFile, RecipientSlices) {
  // Seven recipients, two in the extracted segment; the second and the
  // sixth marked done.
  auto w = QueueFileWriter::create(opts());
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(w->begin({"s@x", 1, 0, 0}).ok());
  std::vector<std::uint64_t> offs;
  for (int i = 0; i < 5; ++i) offs.push_back(w->add_recipient({fmt::format("r{}@x", i), "", "", 0}).value());
  ASSERT_TRUE(w->add_line("body").ok());
  for (int i = 5; i < 7; ++i)
    offs.push_back(w->add_extracted_recipient({fmt::format("r{}@x", i), "", "", 0}).value());
  ASSERT_TRUE(w->commit().ok());
  ASSERT_TRUE(mark_recipient_done(w->path(), offs[1]).ok());
  ASSERT_TRUE(mark_recipient_done(w->path(), offs[5]).ok());

  auto names = [](const QueueMessage& m) {
    std::vector<std::string> out;
    for (const auto& r : m.recipients) out.push_back(r.fields.address);
    return out;
  };
  // None kept: still every record checked and counted.
  ReadOptions none;
  none.max_recipients = 0;
  auto rd = QueueFileReader::open(w->path(), none);
  ASSERT_TRUE(rd.ok()) << rd.error().message;
  EXPECT_TRUE(rd->message().recipients.empty());
  EXPECT_EQ(rd->message().recipients_not_kept, 7u);
  EXPECT_EQ(rd->message().more_recipients_at, offs[0]);
  EXPECT_EQ(rd->message().size.recipient_count, 7u);

  // The pending ones in slices of two, each slice starting where the last
  // one's limit stopped, across the content into the extracted segment.
  ReadOptions slice;
  slice.pending_only = true;
  slice.max_recipients = 2;
  std::vector<std::vector<std::string>> got;
  std::vector<std::size_t> left;
  for (int guard = 0; guard < 10; ++guard) {
    auto part = QueueFileReader::open(w->path(), slice);
    ASSERT_TRUE(part.ok()) << part.error().message;
    const auto& m = part->message();
    got.push_back(names(m));
    left.push_back(m.recipients_not_kept);
    for (const auto& r : m.recipients) EXPECT_FALSE(r.done);
    if (m.more_recipients_at == 0) break;
    EXPECT_GT(m.more_recipients_at, slice.recipients_from);
    slice.recipients_from = m.more_recipients_at;
  }
  std::vector<std::vector<std::string>> want{{"r0@x", "r2@x"}, {"r3@x", "r4@x"}, {"r6@x"}};
  EXPECT_EQ(got, want);
  EXPECT_EQ(left, (std::vector<std::size_t>{3, 1, 0}));

  // The same slices read on from each stopping point, as qmgr reads its
  // later ones: nothing before the offset is read again.
  {
    ReadOptions first;
    first.pending_only = true;
    first.max_recipients = 2;
    auto head = QueueFileReader::open(w->path(), first);
    ASSERT_TRUE(head.ok());
    const SizeRecord size = head->message().size;
    std::vector<std::vector<std::string>> again{names(head->message())};
    std::uint64_t at = head->message().more_recipients_at;
    UniqueFd fd(::open(w->path().c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(fd.valid());
    for (int guard = 0; at != 0 && guard < 10; ++guard) {
      auto part = read_recipient_slice(fd.get(), "test", size, at, 2, true);
      ASSERT_TRUE(part.ok()) << part.error().message;
      std::vector<std::string> n;
      for (const auto& r : part->recipients) n.push_back(r.fields.address);
      again.push_back(n);
      EXPECT_TRUE(part->more_at == 0 || part->more_at > at);
      at = part->more_at;
    }
    EXPECT_EQ(again, want);
    // for_each_recipient_slice() walks the same slices; false stops it.
    std::vector<std::vector<std::string>> walked;
    auto st = for_each_recipient_slice(*head, 2, true, [&](const std::vector<Recipient>& list) -> Result<bool> {
      std::vector<std::string> n;
      for (const auto& r : list) n.push_back(r.fields.address);
      walked.push_back(n);
      return true;
    });
    ASSERT_TRUE(st.ok()) << st.error().message;
    EXPECT_EQ(walked, want);
    int calls = 0;
    st = for_each_recipient_slice(*head, 2, true, [&](const std::vector<Recipient>&) -> Result<bool> {
      return ++calls < 2;
    });
    EXPECT_TRUE(st.ok());
    EXPECT_EQ(calls, 2);
    st = for_each_recipient_slice(*head, 2, true, [&](const std::vector<Recipient>&) -> Result<bool> {
      return make_error("stop here");
    });
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().message, "stop here");
    // With the done ones, from the fifth on: r4, r5 (done), r6.
    auto all = read_recipient_slice(fd.get(), "test", size, offs[4], 10, false);
    ASSERT_TRUE(all.ok());
    ASSERT_EQ(all->recipients.size(), 3u);
    EXPECT_TRUE(all->recipients[1].done);
    EXPECT_EQ(all->recipients[2].segment, Segment::Extracted);
    // Offsets that are no recipient's: inside the content, inside a record,
    // past the end.
    for (std::uint64_t bad : {size.content_offset + 1, offs[2] + 1, static_cast<std::uint64_t>(1) << 40}) {
      auto r = read_recipient_slice(fd.get(), "test", size, bad, 10, true);
      ASSERT_FALSE(r.ok()) << bad;
      EXPECT_TRUE(is_corrupt(r.error())) << r.error().message;
    }
  }

  // Done ones too when asked, from an offset.
  ReadOptions from;
  from.recipients_from = offs[4];
  auto tail = QueueFileReader::open(w->path(), from);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(names(tail->message()), (std::vector<std::string>{"r4@x", "r5@x", "r6@x"}));
  EXPECT_TRUE(tail->message().recipients[1].done);
  EXPECT_EQ(tail->message().more_recipients_at, 0u);

  // A record cut short after the last kept recipient is still found.
  struct stat st {};
  ASSERT_EQ(::stat(w->path().c_str(), &st), 0);
  ASSERT_EQ(::truncate(w->path().c_str(), st.st_size - 3), 0);
  auto cut = QueueFileReader::open(w->path(), slice);
  ASSERT_FALSE(cut.ok());
  EXPECT_TRUE(is_corrupt(cut.error()));
}

}  // namespace
}  // namespace postern::queue
