// lock_test.cpp - lock list parsing, contention between processes, dot locks, stale locks, RAII.
#include "deliver/lock.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "base/unique_fd.h"
#include "deliver/test_util.h"

namespace postern::deliver {
namespace {

using namespace std::chrono_literals;
using test::TempDir;

LockParams quick(int attempts = 2) {
  LockParams p;
  p.attempts = attempts;
  p.delay = 20ms;
  p.stale = 500s;
  return p;
}

UniqueFd open_rw(const std::filesystem::path& p) {
  return UniqueFd(::open(p.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
}

// Another process holding a kernel lock on `path` until release() or destruction.
class Holder {
 public:
  Holder(const std::filesystem::path& path, bool use_flock) {
    int ready[2], go[2];
    if (::pipe(ready) < 0 || ::pipe(go) < 0) std::abort();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(ready[0]);
      ::close(go[1]);
      int fd = ::open(path.c_str(), O_WRONLY | O_APPEND);
      char ok = (fd >= 0 && try_kernel_lock(fd, use_flock).ok()) ? 'y' : 'n';
      (void)!::write(ready[1], &ok, 1);
      char c;
      (void)!::read(go[0], &c, 1);  // EOF when the parent releases us
      ::_exit(0);
    }
    ::close(ready[1]);
    ::close(go[0]);
    go_ = go[1];
    char ok = 'n';
    (void)!::read(ready[0], &ok, 1);
    ::close(ready[0]);
    locked_ = ok == 'y';
  }
  ~Holder() { release(); }
  bool locked() const { return locked_; }
  void release() {
    if (pid_ <= 0) return;
    ::close(go_);
    int st;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  int go_ = -1;
  bool locked_ = false;
};

// Exit status 0 if another process can take the kernel lock right now.
bool other_process_can_lock(const std::filesystem::path& path, bool use_flock) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND);
    ::_exit(fd >= 0 && try_kernel_lock(fd, use_flock).ok() ? 0 : 1);
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

TEST(LockMethods, Parse) {
  auto m = LockMethods::parse("fcntl, dotlock");
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->fcntl);
  EXPECT_TRUE(m->dotlock);
  EXPECT_FALSE(m->flock);
  EXPECT_EQ(m->to_string(), "dotlock, fcntl");
  auto upper = LockMethods::parse(" FLOCK\tfcntl fcntl ");
  ASSERT_TRUE(upper);
  EXPECT_TRUE(upper->flock && upper->fcntl && !upper->dotlock);
  auto none = LockMethods::parse("");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  auto bad = LockMethods::parse("fcntl, lockf");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("lockf"), std::string::npos);
  EXPECT_FALSE(LockMethods::parse("dot\x01lock"));
}

class KernelLockTest : public ::testing::TestWithParam<bool> {};

TEST_P(KernelLockTest, ContentionBetweenProcesses) {
  const bool use_flock = GetParam();
  TempDir dir;
  auto path = dir / "mbox";
  UniqueFd fd = open_rw(path);
  ASSERT_TRUE(fd.valid());
  LockMethods m;
  (use_flock ? m.flock : m.fcntl) = true;

  Holder holder(path, use_flock);
  ASSERT_TRUE(holder.locked());
  auto start = std::chrono::steady_clock::now();
  auto busy = lock_mailbox(fd.get(), path, m, quick(3));
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(busy);
  EXPECT_TRUE(busy.failure().is_deferred());
  EXPECT_EQ(busy.failure().dsn, "4.2.0");
  EXPECT_NE(busy.failure().text.find("unable to lock for exclusive access"), std::string::npos);
  EXPECT_GE(elapsed, 25ms);  // two delays of 20ms +-25% between three attempts
  EXPECT_LT(elapsed, 2s);

  holder.release();
  {
    auto lock = lock_mailbox(fd.get(), path, m, quick(3));
    ASSERT_TRUE(lock) << lock.failure().to_string();
    EXPECT_EQ(lock->has_flock(), use_flock);
    EXPECT_EQ(lock->has_fcntl(), !use_flock);
    EXPECT_FALSE(other_process_can_lock(path, use_flock));
  }
  // Released by the destructor although our descriptor is still open.
  EXPECT_TRUE(other_process_can_lock(path, use_flock));
}

TEST_P(KernelLockTest, RetriesUntilTheHolderLetsGo) {
  const bool use_flock = GetParam();
  TempDir dir;
  auto path = dir / "mbox";
  UniqueFd fd = open_rw(path);
  LockMethods m;
  (use_flock ? m.flock : m.fcntl) = true;
  Holder holder(path, use_flock);
  ASSERT_TRUE(holder.locked());
  std::thread releaser([&holder] {
    std::this_thread::sleep_for(100ms);
    holder.release();
  });
  auto lock = lock_mailbox(fd.get(), path, m, quick(50));
  releaser.join();
  EXPECT_TRUE(lock) << lock.failure().to_string();
}

INSTANTIATE_TEST_SUITE_P(FcntlAndFlock, KernelLockTest, ::testing::Values(false, true), [](const auto& info) {
  return info.param ? std::string("flock") : std::string("fcntl");
});

TEST(DotLock, CreatedAndRemovedByRaii) {
  TempDir dir;
  auto path = dir / "mbox";
  UniqueFd fd = open_rw(path);
  LockMethods m;
  m.dotlock = true;
  {
    auto lock = lock_mailbox(fd.get(), path, m, quick());
    ASSERT_TRUE(lock) << lock.failure().to_string();
    EXPECT_TRUE(lock->has_dotlock());
    EXPECT_TRUE(std::filesystem::exists(dir / "mbox.lock"));
    // Moving the lock keeps it held exactly once.
    MailboxLock moved = std::move(lock.value());
    EXPECT_TRUE(std::filesystem::exists(dir / "mbox.lock"));
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "mbox.lock"));
}

TEST(DotLock, FreshLockMeansBusy) {
  TempDir dir;
  auto path = dir / "mbox";
  UniqueFd fd = open_rw(path);
  test::write_file(dir / "mbox.lock", "");
  LockMethods m;
  m.dotlock = true;
  auto lock = lock_mailbox(fd.get(), path, m, quick(3));
  ASSERT_FALSE(lock);
  EXPECT_TRUE(lock.failure().is_deferred());
  EXPECT_EQ(lock.failure().dsn, "4.2.0");
  EXPECT_NE(lock.failure().text.find("unable to create lock file"), std::string::npos);
  // Somebody else's lock: left alone.
  EXPECT_TRUE(std::filesystem::exists(dir / "mbox.lock"));
}

TEST(DotLock, StaleLockIsRemoved) {
  TempDir dir;
  auto path = dir / "mbox";
  UniqueFd fd = open_rw(path);
  test::write_file(dir / "mbox.lock", "");
  std::this_thread::sleep_for(150ms);
  LockMethods m;
  m.dotlock = true;
  LockParams p = quick(3);
  p.stale = 100ms;
  struct stat before {};
  ASSERT_EQ(::stat((dir / "mbox.lock").c_str(), &before), 0);
  {
    auto lock = lock_mailbox(fd.get(), path, m, p);
    ASSERT_TRUE(lock) << lock.failure().to_string();
    struct stat now {};
    ASSERT_EQ(::stat((dir / "mbox.lock").c_str(), &now), 0);
    EXPECT_GT(now.st_ctim.tv_sec * 1000000000LL + now.st_ctim.tv_nsec,
              before.st_ctim.tv_sec * 1000000000LL + before.st_ctim.tv_nsec);  // a new lock file
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "mbox.lock"));
}

TEST(DotLock, ReplacedLockFileIsNotRemoved) {
  TempDir dir;
  auto path = dir / "mbox";
  UniqueFd fd = open_rw(path);
  LockMethods m;
  m.dotlock = true;
  {
    auto lock = lock_mailbox(fd.get(), path, m, quick());
    ASSERT_TRUE(lock);
    // Another process broke our lock as stale and took it: the file is theirs.
    ASSERT_EQ(::unlink((dir / "mbox.lock").c_str()), 0);
    test::write_file(dir / "mbox.lock", "theirs");
  }
  EXPECT_TRUE(std::filesystem::exists(dir / "mbox.lock"));
}

TEST(DotLock, UncreatableLockFails) {
  TempDir dir;
  auto path = dir / "mbox";
  UniqueFd fd = open_rw(path);
  LockMethods m;
  m.dotlock = true;
  auto elsewhere = dir / "missing-dir" / "mbox";  // lock file cannot be created there
  auto lock = lock_mailbox(fd.get(), elsewhere, m, quick());
  ASSERT_FALSE(lock);
  EXPECT_TRUE(lock.failure().is_bounced());
  EXPECT_EQ(lock.failure().sys_errno, ENOENT);

  LockParams may_fail = quick();
  may_fail.dotlock_may_fail = true;
  auto tolerated = lock_mailbox(fd.get(), elsewhere, m, may_fail);
  ASSERT_TRUE(tolerated) << tolerated.failure().to_string();
  EXPECT_FALSE(tolerated->has_dotlock());
}

TEST(DotLock, FailedKernelLockReleasesDotLock) {
  TempDir dir;
  auto path = dir / "mbox";
  UniqueFd fd = open_rw(path);
  Holder holder(path, false);
  ASSERT_TRUE(holder.locked());
  LockMethods m;
  m.dotlock = true;
  m.fcntl = true;
  auto lock = lock_mailbox(fd.get(), path, m, quick(2));
  ASSERT_FALSE(lock);
  EXPECT_FALSE(std::filesystem::exists(dir / "mbox.lock"));
}

TEST(Lock, SpecialFilesAreNotLocked) {
  UniqueFd fd(::open("/dev/null", O_WRONLY | O_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  LockMethods m;
  m.dotlock = m.fcntl = m.flock = true;
  auto lock = lock_mailbox(fd.get(), "/dev/null", m, quick());
  ASSERT_TRUE(lock);
  EXPECT_FALSE(lock->has_dotlock() || lock->has_fcntl() || lock->has_flock());
  EXPECT_FALSE(std::filesystem::exists("/dev/null.lock"));
}

}  // namespace
}  // namespace postern::deliver
