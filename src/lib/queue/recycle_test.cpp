// recycle_test.cpp - finished queue files reused by the writer: the bin's
// cap, reuse of the same inode with nothing of the old message left, and
// the files that must not be reused.
#include "queue/recycle.h"

#include <fcntl.h>

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs_durability.h"
#include "base/unique_fd.h"
#include "queue/queue_test_util.h"
#include "queue/reader.h"
#include "queue/writer.h"

namespace postern::queue {
namespace {

namespace fs = std::filesystem;
using testing::TempQueue;

// Writes and commits one message; returns its path.
fs::path write_message(const fs::path& root, RecycleBin* bin, const std::string& subject) {
  WriterOptions o;
  o.queue_root = root;
  o.recycle = bin;
  auto w = QueueFileWriter::create(o);
  EXPECT_TRUE(w) << (w ? "" : w.error().message);
  EnvelopeStart e;
  e.sender = "a@example.com";
  EXPECT_TRUE(w->begin(e));
  RecipientFields r;
  r.address = "b@example.com";
  EXPECT_TRUE(w->add_recipient(r));
  EXPECT_TRUE(w->add_line("Subject: " + subject));
  EXPECT_TRUE(w->add_line(""));
  EXPECT_TRUE(w->add_line(std::string(subject.size() * 50, 'x')));
  EXPECT_TRUE(w->commit());
  return queue_path(root, QueueName::Incoming, w->id(), HashConfig::defaults());
}

ino_t inode_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_ino;
}

std::size_t files_in(const fs::path& d) {
  std::size_t n = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(d)) ++n;
  return n;
}

class Recycle : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(create_queue_tree(tq.root(), HashConfig::defaults())); }
  fs::path bin() const { return tq.root() / "recycle"; }
  // Writer options that take files from `b`.
  WriterOptions reusing(RecycleBin& b) const {
    WriterOptions o;
    o.queue_root = tq.root();
    o.recycle = &b;
    return o;
  }
  TempQueue tq;
};

TEST_F(Recycle, FinishedFileIsReusedWithNothingOldLeft) {
  fs::path first = write_message(tq.root(), nullptr, "a long first subject that will not survive");
  ino_t ino = inode_of(first);
  auto id = QueueId::parse(first.filename().string());
  ASSERT_TRUE(id);
  Recycler r(tq.root(), 10);
  ASSERT_TRUE(r.take(first, *id));
  EXPECT_FALSE(fs::exists(first));
  EXPECT_EQ(files_in(bin()), 1u);
  const auto old_size = fs::file_size(bin() / id->str());  // kept whole: cleanup overwrites it

  RecycleBin b(tq.root());
  fs::path second = write_message(tq.root(), &b, "short");
  EXPECT_EQ(inode_of(second), ino);  // the same file, under a new queue ID
  EXPECT_NE(second.filename(), first.filename());
  EXPECT_EQ(files_in(bin()), 0u);
  auto rd = QueueFileReader::open(second);
  ASSERT_TRUE(rd) << rd.error().message;
  // Cut at the new end: nothing of the longer first message is left.
  EXPECT_LT(fs::file_size(second), old_size);
  EXPECT_EQ(testing::slurp(second).find("first subject"), std::string::npos);
  // The old body was 2,100 x's, the new one is 250: no longer run survives.
  EXPECT_EQ(testing::slurp(second).find(std::string(251, 'x')), std::string::npos);
  // With the bin empty, the next file is a new one.
  fs::path third = write_message(tq.root(), &b, "third");
  EXPECT_NE(inode_of(third), ino);
}

// A file taken from the bin and then abandoned (the client went away) is
// removed, and one that is too large is not kept at all.
TEST_F(Recycle, LargeFilesAreRemovedAndReuseKeepsTheReadyMarkOff) {
  Recycler r(tq.root(), 10);
  fs::path big = write_message(tq.root(), nullptr, std::string(kRecycleMaxSize / 40, 'b'));
  ASSERT_GT(fs::file_size(big), kRecycleMaxSize);
  EXPECT_FALSE(r.take(big, *QueueId::parse(big.filename().string())));
  EXPECT_TRUE(fs::exists(big));  // the caller unlinks it as before
  fs::remove(big);
  EXPECT_EQ(files_in(bin()), 0u);

  fs::path small = write_message(tq.root(), nullptr, "small");
  ASSERT_TRUE(r.take(small, *QueueId::parse(small.filename().string())));
  RecycleBin b(tq.root());
  WriterOptions o = reusing(b);
  {
    auto w = QueueFileWriter::create(o);
    ASSERT_TRUE(w) << w.error().message;
    struct stat st {};
    ASSERT_EQ(::stat(queue_path(tq.root(), QueueName::Incoming, w->id(), HashConfig::defaults()).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);  // named, old bytes inside, but not ready
  }  // abandoned
  EXPECT_EQ(files_in(bin()), 0u);
  EXPECT_EQ(files_in(tq.root() / "incoming"), 0u);
}

TEST_F(Recycle, BinIsCappedAndMissingBinIsNotUsed) {
  Recycler r(tq.root(), 2);
  for (int i = 0; i < 3; ++i) {
    fs::path p = write_message(tq.root(), nullptr, "m" + std::to_string(i));
    auto id = QueueId::parse(p.filename().string());
    ASSERT_TRUE(id);
    EXPECT_EQ(r.take(p, *id), i < 2) << i;
  }
  EXPECT_EQ(files_in(bin()), 2u);
  fs::remove_all(bin());
  Recycler none(tq.root(), 10);
  fs::path p = write_message(tq.root(), nullptr, "x");
  EXPECT_FALSE(none.take(p, *QueueId::parse(p.filename().string())));
  EXPECT_TRUE(fs::exists(p));
  RecycleBin b(tq.root());
  EXPECT_FALSE(b.next());
}

TEST_F(Recycle, FilesWithAnotherNameOrOfAnotherKindAreNotReused) {
  fs::path kept = write_message(tq.root(), nullptr, "still named elsewhere");
  auto id = QueueId::parse(kept.filename().string());
  ASSERT_TRUE(id);
  // As after a crash: the same inode under active/ and recycle/.
  ASSERT_EQ(::link(kept.c_str(), (bin() / id->str()).c_str()), 0);
  // And something that is not a regular file.
  auto id2 = QueueId::make(IdFormat::Short, 1700000000, 5, 12345);
  ASSERT_TRUE(id2);
  ASSERT_EQ(::mkfifo((bin() / id2->str()).c_str(), 0600), 0);
  std::string before = testing::slurp(kept);
  RecycleBin b(tq.root());
  fs::path fresh = write_message(tq.root(), &b, "new");
  EXPECT_NE(inode_of(fresh), inode_of(kept));
  EXPECT_EQ(testing::slurp(kept), before);  // never truncated
  EXPECT_EQ(files_in(bin()), 0u);           // both candidates were taken out of the bin and dropped
}

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

// qmgr takes the ready mark away before the file enters the bin, and never
// puts a file with a second name there.
TEST_F(Recycle, RecyclerTakesTheReadyMarkAwayAndRefusesASecondName) {
  Recycler r(tq.root(), 10);
  fs::path p = write_message(tq.root(), nullptr, "done");
  ASSERT_EQ(mode_of(p), 0700u);  // committed: ready
  auto id = QueueId::parse(p.filename().string());
  ASSERT_TRUE(r.take(p, *id));
  EXPECT_EQ(mode_of(bin() / id->str()), 0600u);

  fs::path q = write_message(tq.root(), nullptr, "linked");
  fs::path other = tq.root() / "hold" / q.filename();
  ASSERT_EQ(::link(q.c_str(), other.c_str()), 0);
  EXPECT_FALSE(r.take(q, *QueueId::parse(q.filename().string())));
  EXPECT_TRUE(fs::exists(q));  // the caller unlinks this name; the other keeps the inode
  EXPECT_EQ(mode_of(other), 0700u);
}

// As after a crash on ext4 without a journal: a queued message's inode
// still named in recycle/. It carries the ready mark, so the writer puts
// it back untouched and makes a new file.
TEST_F(Recycle, AFileWithTheReadyMarkIsPutBackUntouched) {
  fs::path queued = write_message(tq.root(), nullptr, "queued and acknowledged");
  auto id = QueueId::parse(queued.filename().string());
  ASSERT_TRUE(id);
  // The real leftover would be a second name on an inode counting one
  // link; a rename gives the same view of the file without the link count.
  fs::path left = bin() / id->str();
  ASSERT_EQ(::rename(queued.c_str(), left.c_str()), 0);
  const std::string before = testing::slurp(left);
  const ino_t ino = inode_of(left);

  RecycleBin b(tq.root());
  fs::path fresh = write_message(tq.root(), &b, "new");
  EXPECT_NE(inode_of(fresh), ino);
  EXPECT_EQ(inode_of(left), ino);  // back under its own name
  EXPECT_EQ(testing::slurp(left), before);
  EXPECT_EQ(mode_of(left), 0700u);
  EXPECT_EQ(files_in(tq.root() / "incoming"), 1u);  // the new message only: no temporary left
  // Not offered again by this bin: the next file is a new one too, and the
  // bin is not even re-read for it (the name is passed over).
  fs::path third = write_message(tq.root(), &b, "third");
  EXPECT_NE(inode_of(third), ino);
  EXPECT_EQ(testing::slurp(left), before);
}

// qmgr's start: marked files whose inode no queue file has become
// reusable; one that a queued message shares is left alone.
TEST_F(Recycle, SweepClearsTheMarkUnlessAQueuedMessageHasTheInode) {
  fs::path a = write_message(tq.root(), nullptr, "finished, mark not cleared");
  fs::path b = write_message(tq.root(), nullptr, "still queued");
  fs::path c = write_message(tq.root(), nullptr, "finished the new way");
  auto ida = QueueId::parse(a.filename().string());
  auto idb = QueueId::parse(b.filename().string());
  auto idc = QueueId::parse(c.filename().string());
  ASSERT_TRUE(ida && idb && idc);
  ASSERT_EQ(::rename(a.c_str(), (bin() / ida->str()).c_str()), 0);
  // b's message sits in deferred/ (hashed there) and is named in the bin too.
  fs::path deferred = queue_path(tq.root(), QueueName::Deferred, *idb, HashConfig::defaults());
  fs::create_directories(deferred.parent_path());
  ASSERT_EQ(::rename(b.c_str(), deferred.c_str()), 0);
  ASSERT_EQ(::link(deferred.c_str(), (bin() / idb->str()).c_str()), 0);
  Recycler r(tq.root(), 10);
  ASSERT_TRUE(r.take(c, *idc));

  auto sw = sweep_recycle_bin(tq.root(), HashConfig::defaults());
  ASSERT_TRUE(sw) << sw.error().message;
  EXPECT_EQ(sw->cleared, 1u);
  EXPECT_EQ(sw->queued, 1u);
  EXPECT_EQ(mode_of(bin() / ida->str()), 0600u);
  EXPECT_EQ(mode_of(bin() / idb->str()), 0700u);
  EXPECT_EQ(mode_of(bin() / idc->str()), 0600u);
  EXPECT_EQ(mode_of(deferred), 0700u);

  // Nothing marked: nothing to do. No bin: nothing either.
  auto again = sweep_recycle_bin(tq.root(), HashConfig::defaults());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->cleared, 0u);
  EXPECT_EQ(again->queued, 1u);
  fs::remove_all(bin());
  auto none = sweep_recycle_bin(tq.root(), HashConfig::defaults());
  ASSERT_TRUE(none);
  EXPECT_EQ(none->cleared + none->queued, 0u);
}

// Where the file's fsync commits its new name (ext4, XFS), no queue file
// needs a directory fsync before it is acknowledged, a reused one included:
// its old name in the bin may come back after a crash, with the mark that
// makes it passed over (recycle.h). The new name's directory may be
// flushed early, but nothing waits for it.
TEST_F(Recycle, NoDirectoryFsyncIsRequiredWhereTheFileCommitsItsName) {
  {
    UniqueFd d(::open(tq.root().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(d);
    if (!fsync_commits_earlier_names(d.get())) GTEST_SKIP() << "not ext4 or XFS here";
  }
  fs::path first = write_message(tq.root(), nullptr, "first");
  auto id = QueueId::parse(first.filename().string());
  ASSERT_TRUE(id);
  Recycler r(tq.root(), 10);
  ASSERT_TRUE(r.take(first, *id));
  const ino_t ino = inode_of(bin() / id->str());

  RecycleBin b(tq.root());
  WriterOptions o = reusing(b);
  auto reused = QueueFileWriter::create(o);
  ASSERT_TRUE(reused) << reused.error().message;
  EXPECT_EQ(inode_of(reused->path()), ino);
  EXPECT_TRUE(reused->directories_synced());
  EXPECT_EQ(reused->warm_sync().dirs, std::vector<fs::path>{reused->path().parent_path()});

  auto fresh = QueueFileWriter::create(o);  // the bin is empty now
  ASSERT_TRUE(fresh) << fresh.error().message;
  EXPECT_TRUE(fresh->directories_synced());
  EXPECT_EQ(fresh->warm_sync().dirs, std::vector<fs::path>{fresh->path().parent_path()});
}

}  // namespace
}  // namespace postern::queue
