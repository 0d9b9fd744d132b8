// mbox_test.cpp - mailbox format, appends, size limit, truncation on every kind of failure.
#include "deliver/mbox.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

#include "base/unique_fd.h"
#include "deliver/test_util.h"

namespace postern::deliver {
namespace {

using test::kTestTime;
using test::TempDir;

MboxOptions at_test_time() {
  MboxOptions o;
  o.copy.now = kTestTime;
  return o;
}

MboxTarget target_for(const std::filesystem::path& p) {
  MboxTarget t;
  t.path = p;
  t.locks.fcntl = true;
  t.locks.dotlock = true;
  t.lock_params.attempts = 2;
  t.lock_params.delay = std::chrono::milliseconds(20);
  return t;
}

const Envelope kEnv{"alice@example.org", "bob@example.com", "bob@example.com"};

class MboxTest : public ::testing::Test {
 protected:
  void SetUp() override { test::use_utc(); }
};

TEST_F(MboxTest, CreatesAndAppendsMessages) {
  TempDir dir;
  auto path = dir / "bob";
  ContentReader first = string_content("Subject: one\n\nFrom the start\n");
  Outcome o = deliver_mbox(target_for(path), kEnv, first, at_test_time());
  ASSERT_TRUE(o.is_sent()) << o.to_string();
  EXPECT_EQ(o.dsn, "2.0.0");
  EXPECT_EQ(o.text, "delivered to mailbox");
  ContentReader second = string_content("Subject: two\n\nbody\n");
  ASSERT_TRUE(
      deliver_mbox(target_for(path), Envelope{"", "", "bob@example.com"}, second, at_test_time()).is_sent());

  EXPECT_EQ(test::read_file(path),
            "From alice@example.org  Mon Nov 23 17:32:24 2026\n"
            "Return-Path: <alice@example.org>\n"
            "X-Original-To: bob@example.com\n"
            "Delivered-To: bob@example.com\n"
            "Subject: one\n"
            "\n"
            ">From the start\n"
            "\n"
            "From MAILER-DAEMON  Mon Nov 23 17:32:24 2026\n"
            "Return-Path: <>\n"
            "Delivered-To: bob@example.com\n"
            "Subject: two\n"
            "\n"
            "body\n"
            "\n");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(std::filesystem::exists(dir / "bob.lock"));  // dot lock gone
}

TEST_F(MboxTest, SizeLimitExceededMidWayLeavesMailboxUntouched) {
  TempDir dir;
  auto path = dir / "bob";
  const std::string existing = "From x  Mon Nov 23 17:32:24 2026\n\nold message\n\n";
  test::write_file(path, existing);
  ::chmod(path.c_str(), 0600);
  std::string body;
  for (int i = 0; i < 10000; ++i) body += "a line that makes the message large\n";  // ~360 KB: several chunks
  ContentReader content = string_content(body);
  MboxOptions o = at_test_time();
  o.size_limit = existing.size() + 200 * 1024;
  Outcome r = deliver_mbox(target_for(path), kEnv, content, o);
  ASSERT_TRUE(r.is_bounced()) << r.to_string();
  EXPECT_EQ(r.dsn, "5.2.2");
  EXPECT_EQ(r.text, "error writing message: File too large");
  EXPECT_EQ(test::read_file(path), existing);
}

TEST_F(MboxTest, SizeLimitCountsTheWholeFile) {
  TempDir dir;
  auto path = dir / "bob";
  ContentReader a = string_content("x\n");
  ASSERT_TRUE(deliver_mbox(target_for(path), kEnv, a, at_test_time()).is_sent());
  const std::uint64_t one = std::filesystem::file_size(path);
  MboxOptions o = at_test_time();
  o.size_limit = 2 * one;  // exactly room for a second, identical message
  ContentReader b = string_content("x\n");
  EXPECT_TRUE(deliver_mbox(target_for(path), kEnv, b, o).is_sent());
  ContentReader c = string_content("x\n");
  Outcome full = deliver_mbox(target_for(path), kEnv, c, o);
  EXPECT_TRUE(full.is_bounced());
  EXPECT_EQ(std::filesystem::file_size(path), 2 * one);
  o.size_limit = 0;  // no limit
  ContentReader d = string_content("x\n");
  EXPECT_TRUE(deliver_mbox(target_for(path), kEnv, d, o).is_sent());
}

// A queue file that fails after a few lines: the half-written message is cut off again.
ContentReader failing_after(int lines, int err) {
  auto n = std::make_shared<int>(0);
  return [n, lines, err](LinePiece& p) -> Result<bool> {
    if ((*n)++ >= lines) return Error{"read error in queue file", err};
    p.data = "From a line that gets quoted";
    p.complete = true;
    return true;
  };
}

TEST_F(MboxTest, ReadErrorTruncatesBack) {
  TempDir dir;
  auto path = dir / "bob";
  test::write_file(path, "previous contents\n\n");
  ::chmod(path.c_str(), 0600);
  ContentReader bad = failing_after(5000, EIO);  // more than one 64 KiB chunk is written first
  Outcome r = deliver_mbox(target_for(path), kEnv, bad, at_test_time());
  EXPECT_TRUE(r.is_bounced()) << r.to_string();
  EXPECT_EQ(r.dsn, "5.3.0");
  EXPECT_EQ(r.text, "error reading message: read error in queue file");
  EXPECT_EQ(test::read_file(path), "previous contents\n\n");

  ContentReader corrupt = failing_after(3, EBADMSG);
  Outcome c = deliver_mbox(target_for(path), kEnv, corrupt, at_test_time());
  EXPECT_TRUE(c.is_deferred()) << c.to_string();
  EXPECT_EQ(test::read_file(path), "previous contents\n\n");
}

TEST_F(MboxTest, RealWriteErrorTruncatesBack) {
  // A genuine write failure: the file size resource limit (what Postfix uses
  // for mailbox_size_limit) makes write() fail with EFBIG half-way.
  TempDir dir;
  auto path = dir / "bob";
  const std::string existing = "existing mail\n\n";
  test::write_file(path, existing);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl {
      100 * 1024, 100 * 1024
    };
    if (::setrlimit(RLIMIT_FSIZE, &rl) < 0) ::_exit(2);
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND));
    std::string body;
    for (int i = 0; i < 8000; ++i) body += "0123456789012345678901234567890123456789\n";
    ContentReader content = string_content(body);
    Outcome o = append_mbox(fd.get(), kEnv, content, at_test_time());
    ::_exit(o.is_bounced() && o.dsn == "5.2.2" && o.sys_errno == EFBIG ? 0 : 1);
  }
  int st = 0;
  ASSERT_EQ(::waitpid(pid, &st, 0), pid);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 0);
  EXPECT_EQ(test::read_file(path), existing);
}

TEST_F(MboxTest, RefusesSymlinkedMailbox) {
  TempDir dir;
  test::write_file(dir / "shadow", "secret\n");
  ASSERT_EQ(::symlink((dir / "shadow").c_str(), (dir / "bob").c_str()), 0);
  ContentReader content = string_content("evil\n");
  Outcome r = deliver_mbox(target_for(dir / "bob"), kEnv, content, at_test_time());
  EXPECT_TRUE(r.is_bounced());
  EXPECT_EQ(r.text, "file is a symbolic link");
  EXPECT_EQ(test::read_file(dir / "shadow"), "secret\n");
}

TEST_F(MboxTest, BusyMailboxIsDeferredAndUntouched) {
  TempDir dir;
  auto path = dir / "bob";
  test::write_file(path, "");
  ::chmod(path.c_str(), 0600);
  int ready[2], go[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(go), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(go[1]);
    int fd = ::open(path.c_str(), O_WRONLY);
    char ok = fd >= 0 && try_kernel_lock(fd, false).ok() ? 'y' : 'n';
    (void)!::write(ready[1], &ok, 1);
    char c;
    (void)!::read(go[0], &c, 1);
    ::_exit(0);
  }
  ::close(go[0]);
  char ok = 'n';
  ASSERT_EQ(::read(ready[0], &ok, 1), 1);
  ASSERT_EQ(ok, 'y');
  ContentReader content = string_content("x\n");
  Outcome r = deliver_mbox(target_for(path), kEnv, content, at_test_time());
  ::close(go[1]);
  ::waitpid(pid, nullptr, 0);
  EXPECT_TRUE(r.is_deferred()) << r.to_string();
  EXPECT_EQ(r.dsn, "4.2.0");
  EXPECT_EQ(test::read_file(path), "");
  EXPECT_FALSE(std::filesystem::exists(dir / "bob.lock"));
}

}  // namespace
}  // namespace postern::deliver
