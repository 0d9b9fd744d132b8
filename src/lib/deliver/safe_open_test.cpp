// safe_open_test.cpp - symlink, hard link, special file and ownership refusals; creation.
#include "deliver/safe_open.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deliver/copy.h"
#include "deliver/test_util.h"

namespace postern::deliver {
namespace {

using test::TempDir;

constexpr uid_t kNobody = 65534;

TEST(SafeOpen, CreatesMissingFileWithMode0600) {
  TempDir dir;
  mode_t old = ::umask(022);
  auto f = safe_open_append(dir / "mbox");
  ::umask(old);
  ASSERT_TRUE(f) << f.failure().to_string();
  EXPECT_TRUE(f->created);
  EXPECT_TRUE(S_ISREG(f->st.st_mode));
  EXPECT_EQ(f->st.st_mode & 07777, 0600u);
  struct stat st {};
  ASSERT_EQ(::stat((dir / "mbox").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST(SafeOpen, OpensExistingFileForAppend) {
  TempDir dir;
  test::write_file(dir / "mbox", "old\n");
  auto f = safe_open_append(dir / "mbox");
  ASSERT_TRUE(f) << f.failure().to_string();
  EXPECT_FALSE(f->created);
  ASSERT_TRUE(write_all(f->fd.get(), "new\n"));
  EXPECT_EQ(test::read_file(dir / "mbox"), "old\nnew\n");
}

TEST(SafeOpen, RefusesSymlinkToExistingFile) {
  TempDir dir;
  test::write_file(dir / "target", "precious\n");
  ASSERT_EQ(::symlink((dir / "target").c_str(), (dir / "mbox").c_str()), 0);
  auto f = safe_open_append(dir / "mbox");
  ASSERT_FALSE(f);
  EXPECT_TRUE(f.failure().is_bounced());
  EXPECT_EQ(f.failure().dsn, "5.2.0");
  EXPECT_EQ(f.failure().text, "file is a symbolic link");
  EXPECT_EQ(test::read_file(dir / "target"), "precious\n");
}

TEST(SafeOpen, RefusesDanglingSymlinkInsteadOfCreatingThroughIt) {
  TempDir dir;
  ASSERT_EQ(::symlink((dir / "elsewhere").c_str(), (dir / "mbox").c_str()), 0);
  auto f = safe_open_append(dir / "mbox");
  ASSERT_FALSE(f);
  EXPECT_EQ(f.failure().text, "file is a symbolic link");
  EXPECT_FALSE(std::filesystem::exists(dir / "elsewhere"));
}

TEST(SafeOpen, RefusesHardLinkedFile) {
  TempDir dir;
  test::write_file(dir / "passwd-copy", "root:x:0:0\n");
  ASSERT_EQ(::link((dir / "passwd-copy").c_str(), (dir / "mbox").c_str()), 0);
  auto f = safe_open_append(dir / "mbox");
  ASSERT_FALSE(f);
  EXPECT_TRUE(f.failure().is_bounced());
  EXPECT_EQ(f.failure().text, "file has 2 hard links");
  EXPECT_EQ(test::read_file(dir / "passwd-copy"), "root:x:0:0\n");
}

TEST(SafeOpen, RefusesDirectoryAndSpecialFiles) {
  TempDir dir;
  std::filesystem::create_directory(dir / "d");
  auto d = safe_open_append(dir / "d");
  ASSERT_FALSE(d);
  EXPECT_EQ(d.failure().text, "file is a directory");
  EXPECT_TRUE(d.failure().is_bounced());

  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  auto fifo = safe_open_append(dir / "fifo");
  ASSERT_FALSE(fifo);
  EXPECT_EQ(fifo.failure().text, "file is not a regular file");

  auto devnull = safe_open_append("/dev/null");
  ASSERT_FALSE(devnull);
  EXPECT_EQ(devnull.failure().text, "file is not a regular file");
}

TEST(SafeOpen, AllowSpecialAcceptsDevNullButNeverDirectories) {
  SafeOpenOptions o;
  o.allow_special = true;
  auto devnull = safe_open_append("/dev/null", o);
  ASSERT_TRUE(devnull) << devnull.failure().to_string();
  EXPECT_TRUE(S_ISCHR(devnull->st.st_mode));
  EXPECT_TRUE(write_all(devnull->fd.get(), "discarded\n"));

  TempDir dir;
  std::filesystem::create_directory(dir / "d");
  EXPECT_FALSE(safe_open_append(dir / "d", o));
  // A FIFO nobody reads: refused (ENXIO) instead of hanging the agent.
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  auto fifo = safe_open_append(dir / "fifo", o);
  ASSERT_FALSE(fifo);
  EXPECT_EQ(fifo.failure().sys_errno, ENXIO);
}

TEST(SafeOpen, MissingFileWithoutCreate) {
  TempDir dir;
  SafeOpenOptions o;
  o.create = false;
  auto f = safe_open_append(dir / "nothere", o);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.failure().dsn, "5.2.0");
  EXPECT_FALSE(std::filesystem::exists(dir / "nothere"));
}

TEST(SafeOpen, MissingDirectoryIsPermanent) {
  TempDir dir;
  auto f = safe_open_append(dir / "no" / "such" / "mbox");
  ASSERT_FALSE(f);
  EXPECT_TRUE(f.failure().is_bounced());
  EXPECT_EQ(f.failure().sys_errno, ENOENT);
  EXPECT_NE(f.failure().text.find("cannot create file exclusively"), std::string::npos);
}

TEST(SafeOpen, EmptyPath) { EXPECT_FALSE(safe_open_append("")); }

TEST(SafeOpen, RefusesFileOwnedBySomeoneElse) {
  if (!test::running_as_root()) GTEST_SKIP() << "needs root to chown a file to nobody";
  TempDir dir;
  test::write_file(dir / "mbox", "x\n");
  ASSERT_EQ(::chown((dir / "mbox").c_str(), kNobody, kNobody), 0);
  SafeOpenOptions o;
  o.required_owner = 0;
  auto f = safe_open_append(dir / "mbox", o);
  ASSERT_FALSE(f);
  // Postfix: temporary, so that the administrator can fix the ownership.
  EXPECT_TRUE(f.failure().is_deferred());
  EXPECT_EQ(f.failure().dsn, "4.2.0");
  EXPECT_EQ(f.failure().text, "destination " + (dir / "mbox").string() + " is not owned by recipient");

  o.required_owner = kNobody;
  EXPECT_TRUE(safe_open_append(dir / "mbox", o));
}

TEST(SafeOpen, ChownsCreatedFile) {
  if (!test::running_as_root()) GTEST_SKIP() << "needs root to chown";
  TempDir dir;
  SafeOpenOptions o;
  o.chown_uid = kNobody;
  o.chown_gid = kNobody;
  auto f = safe_open_append(dir / "mbox", o);
  ASSERT_TRUE(f) << f.failure().to_string();
  EXPECT_EQ(f->st.st_uid, kNobody);
  EXPECT_EQ(f->st.st_gid, kNobody);
}

}  // namespace
}  // namespace postern::deliver
