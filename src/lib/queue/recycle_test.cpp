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

// Where the file's fsync commits its new name (ext4, XFS), a fresh file
// needs no directory fsync; a reused one still needs recycle/'s, which
// loses the name (fs_durability.h).
TEST_F(Recycle, OnlyTheBinNeedsADirectoryFsyncWhereTheFileCommitsItsName) {
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

  RecycleBin b(tq.root());
  WriterOptions o = reusing(b);
  auto reused = QueueFileWriter::create(o);
  ASSERT_TRUE(reused) << reused.error().message;
  EXPECT_FALSE(reused->directories_synced());
  ASSERT_EQ(reused->directory_sync().dirs.size(), 1u);
  EXPECT_EQ(reused->directory_sync().dirs[0], bin());
  // The new name's directory may be flushed early, but nothing waits for it.
  EXPECT_EQ(reused->warm_sync().dirs, std::vector<fs::path>{reused->path().parent_path()});

  auto fresh = QueueFileWriter::create(o);  // the bin is empty now
  ASSERT_TRUE(fresh) << fresh.error().message;
  EXPECT_TRUE(fresh->directories_synced());
  EXPECT_EQ(fresh->warm_sync().dirs, std::vector<fs::path>{fresh->path().parent_path()});
}

}  // namespace
}  // namespace postern::queue
