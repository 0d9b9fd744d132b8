#include "base/fs_durability.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "base/unique_fd.h"

namespace postern {
namespace {

unsigned long fs_type(const char* path) {
  struct statfs sf {};
  if (::statfs(path, &sf) != 0) return 0;
  return static_cast<unsigned long>(sf.f_type);
}

TEST(FsDurability, TmpfsNeedsTheDirectoryFsync) {
  // /dev/shm is tmpfs on Linux; nothing there is durable, and it is not a
  // file system whose file fsync is known to commit names.
  if (fs_type("/dev/shm") != TMPFS_MAGIC) GTEST_SKIP() << "/dev/shm is not tmpfs here";
  UniqueFd fd(::open("/dev/shm", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(fd);
  EXPECT_FALSE(fsync_commits_earlier_names(fd.get()));
}

TEST(FsDurability, ProcIsNotAJournalingFileSystem) {
  UniqueFd fd(::open("/proc/self/status", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd);
  EXPECT_FALSE(fsync_commits_earlier_names(fd.get()));
}

TEST(FsDurability, Ext4OrXfsIsRecognised) {
  // The working directory of the test run is on the build's disk.
  unsigned long t = fs_type(".");
  if (t != EXT4_SUPER_MAGIC && t != XFS_SUPER_MAGIC) GTEST_SKIP() << "build directory is not on ext4 or XFS";
  UniqueFd fd(::open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(fd);
  EXPECT_TRUE(fsync_commits_earlier_names(fd.get()));
}

TEST(FsDurability, BadDescriptorIsNotTrusted) { EXPECT_FALSE(fsync_commits_earlier_names(-1)); }

}  // namespace
}  // namespace postern
