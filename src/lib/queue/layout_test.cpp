// layout_test.cpp - queue names, hashed paths, tree creation, scanner.
#include "queue/layout.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <set>

#include "queue/queue_test_util.h"

namespace postern::queue {
namespace {
namespace fs = std::filesystem;
using testing::TempQueue;

QueueId id_of(std::string_view s) { return QueueId::parse(s).value(); }

TEST(Layout, NamesRoundTrip) {
  ASSERT_EQ(kQueueLayout.size(), kQueueNameCount);
  for (std::size_t i = 0; i < kQueueNameCount; ++i) {
    auto q = static_cast<QueueName>(i);
    EXPECT_EQ(kQueueLayout[i].name, q);
    auto parsed = parse_queue_name(to_string(q));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, q);
  }
  EXPECT_FALSE(parse_queue_name("Deferred").ok());
  EXPECT_FALSE(parse_queue_name("../deferred").ok());
  EXPECT_FALSE(parse_queue_name("").ok());
}

TEST(Layout, TableModes) {
  EXPECT_EQ(spec(QueueName::Maildrop).mode, 0730u);
  EXPECT_EQ(spec(QueueName::Maildrop).group, GroupClass::SetgidGroup);
  EXPECT_EQ(spec(QueueName::Public).mode, 0710u);
  EXPECT_EQ(spec(QueueName::Public).group, GroupClass::SetgidGroup);
  EXPECT_EQ(spec(QueueName::Private).mode, 0700u);
  EXPECT_EQ(spec(QueueName::Pid).mode, 0755u);
  EXPECT_EQ(spec(QueueName::Pid).owner, OwnerClass::Root);
  for (auto q :
       {QueueName::Incoming, QueueName::Active, QueueName::Deferred, QueueName::Hold, QueueName::Corrupt,
        QueueName::Bounce, QueueName::Defer, QueueName::Trace, QueueName::Flush, QueueName::Saved}) {
    EXPECT_EQ(spec(q).mode, 0700u) << to_string(q);
    EXPECT_EQ(spec(q).owner, OwnerClass::MailOwner);
  }
}

TEST(Layout, HashConfigFromParams) {
  auto h = HashConfig::from_params("deferred, defer", 2);
  ASSERT_TRUE(h.ok());
  EXPECT_TRUE(h->is_hashed(QueueName::Deferred));
  EXPECT_TRUE(h->is_hashed(QueueName::Defer));
  EXPECT_FALSE(h->is_hashed(QueueName::Incoming));
  EXPECT_EQ(h->depth, 2);
  EXPECT_FALSE(HashConfig::from_params("deferred", 0).ok());
  EXPECT_FALSE(HashConfig::from_params("deferred", 6).ok());
  EXPECT_FALSE(HashConfig::from_params("deferred bogus", 1).ok());
  EXPECT_FALSE(HashConfig::from_params("private", 1).ok());
  auto m = HashConfig::from_params("deferred, maildrop", 1);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().message, "hash_queue_names: the maildrop queue must not be hashed");
  auto d = HashConfig::defaults();
  EXPECT_TRUE(d.is_hashed(QueueName::Deferred));
  EXPECT_TRUE(d.is_hashed(QueueName::Defer));
  EXPECT_FALSE(d.is_hashed(QueueName::Active));
  EXPECT_EQ(d.depth, 1);
}

TEST(Layout, HashedPaths) {
  auto h = HashConfig::from_params("deferred incoming", 2).value();
  fs::path root = "/q";
  EXPECT_EQ(queue_path(root, QueueName::Deferred, id_of("3F2A1C0D2"), h), "/q/deferred/3/F/3F2A1C0D2");
  EXPECT_EQ(queue_path(root, QueueName::Active, id_of("3F2A1C0D2"), h), "/q/active/3F2A1C0D2");
  h.depth = 1;
  EXPECT_EQ(queue_path(root, QueueName::Incoming, id_of("3F2A1C0D2"), h), "/q/incoming/3/3F2A1C0D2");
  // Long IDs hash on their microseconds in hex: usec 999999 = F423F.
  auto long_id = QueueId::make(IdFormat::Long, 1700000000, 999999, 77).value();
  h.depth = 3;
  EXPECT_EQ(queue_path(root, QueueName::Deferred, long_id, h), "/q/deferred/F/4/2/" + long_id.str());
}

TEST(Layout, CreateTreeSetsModes) {
  TempQueue tq;
  auto h = HashConfig::from_params("deferred defer", 1).value();
  ::umask(022);
  auto made = create_queue_tree(tq.root(), h);
  ASSERT_TRUE(made.ok()) << made.error().message;
  for (const auto& s : kQueueLayout) {
    struct stat st {};
    fs::path p = tq.root() / std::string(to_string(s.name));
    ASSERT_EQ(::lstat(p.c_str(), &st), 0) << p;
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, s.mode) << p;
  }
  struct stat st {};
  ASSERT_EQ(::lstat((tq.root() / "deferred/A").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_NE(::lstat((tq.root() / "active/A").c_str(), &st), 0);
  // 1 root + 15 dirs + 2 * 16 hash dirs.
  EXPECT_EQ(made->size(), 1u + kQueueNameCount + 32u);
  // Idempotent; repairs a wrong mode.
  ASSERT_EQ(::chmod((tq.root() / "maildrop").c_str(), 0777), 0);
  auto again = create_queue_tree(tq.root(), h);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty());
  ASSERT_EQ(::lstat((tq.root() / "maildrop").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0730u);
}

TEST(Layout, CreateTreeRefusesSymlink) {
  TempQueue tq;
  fs::create_directories(tq.root());
  fs::create_directory(tq.root().parent_path() / "elsewhere");
  fs::create_directory_symlink(tq.root().parent_path() / "elsewhere", tq.root() / "incoming");
  auto made = create_queue_tree(tq.root(), HashConfig::defaults());
  EXPECT_FALSE(made.ok());
}

TEST(Layout, ScannerWalksHashedDirsAndReportsJunk) {
  TempQueue tq;
  auto h = HashConfig::from_params("deferred", 2).value();
  ASSERT_TRUE(create_queue_tree(tq.root(), h).ok());
  std::set<std::string> expect;
  auto put = [&](const fs::path& p) { testing::spit(p, "x"); };
  for (std::uint64_t i = 1; i <= 40; ++i) {
    auto id = QueueId::make(IdFormat::Short, 0, static_cast<std::uint32_t>(i * 24000), i).value();
    put(queue_path(tq.root(), QueueName::Deferred, id, h));
    expect.insert(id.str());
  }
  // A file in the flat directory (written before hashing was enabled).
  auto flat = QueueId::make(IdFormat::Long, 1700000000, 5, 9).value();
  put(tq.root() / "deferred" / flat.str());
  expect.insert(flat.str());
  // Junk of several kinds.
  put(tq.root() / "deferred" / "README");
  put(tq.root() / "deferred/3/lowercase3f2a1c0d2");
  put(tq.root() / "deferred" / "tmp.1.2.3");
  fs::create_directory(tq.root() / "deferred" / "3F2A1C0D2");  // ID-named directory
  put(tq.root() / "deferred" / "G");                           // not a hex digit, a file
  fs::create_symlink("/etc/passwd", tq.root() / "deferred/A/0/3F2A1C0D3");

  QueueScanner sc(tq.root(), QueueName::Deferred, h);
  std::set<std::string> got;
  std::size_t misplaced = 0;
  for (;;) {
    auto e = sc.next();
    ASSERT_TRUE(e.ok()) << e.error().message;
    if (!e->has_value()) break;
    const auto& entry = **e;
    EXPECT_TRUE(got.insert(entry.id.str()).second);
    EXPECT_EQ(entry.path.filename(), entry.id.str());
    if (entry.misplaced) ++misplaced;
  }
  EXPECT_EQ(got, expect);
  EXPECT_EQ(misplaced, 1u);  // only the flat one
  std::size_t junk = 0, temp = 0, notreg = 0;
  for (const auto& i : sc.issues()) {
    if (i.kind == ScanIssue::Kind::Junk) ++junk;
    if (i.kind == ScanIssue::Kind::Temporary) ++temp;
    if (i.kind == ScanIssue::Kind::NotRegular) ++notreg;
  }
  EXPECT_EQ(junk, 3u);  // README, lowercase name, file named G
  EXPECT_EQ(temp, 1u);
  EXPECT_EQ(notreg, 2u);  // directory and symlink with ID names
  EXPECT_EQ(sc.issue_count(), sc.issues().size());
}

TEST(Layout, ScannerMissingQueueIsAnError) {
  TempQueue tq;
  QueueScanner sc(tq.root(), QueueName::Active, HashConfig::defaults());
  EXPECT_FALSE(sc.next().ok());
}

TEST(Layout, FindInQueueAnyDepth) {
  TempQueue tq;
  auto h = HashConfig::from_params("hold", 3).value();
  TreeOptions lazy;
  lazy.create_hash_dirs = false;  // 16^3 directories would be slow to make
  ASSERT_TRUE(create_queue_tree(tq.root(), h, lazy).ok());
  EXPECT_FALSE(fs::exists(tq.root() / "hold/3"));
  fs::create_directories(tq.root() / "hold/3/F/2");
  auto id = id_of("3F2A1C0D2");
  EXPECT_FALSE(find_in_queue(tq.root(), QueueName::Hold, id).has_value());
  testing::spit(queue_path(tq.root(), QueueName::Hold, id, h), "x");
  auto found = find_in_queue(tq.root(), QueueName::Hold, id);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(*found, tq.root() / "hold/3/F/2/3F2A1C0D2");
}

}  // namespace
}  // namespace postern::queue
