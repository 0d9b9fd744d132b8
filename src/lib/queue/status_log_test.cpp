#include "queue/status_log.h"

#include <gtest/gtest.h>

#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

namespace postern::queue {
namespace {

StatusEntry sample() {
  StatusEntry e;
  e.recipient = "joe@example.com";
  e.original_recipient = "Joe@Example.COM";
  e.orcpt = "rfc822;joe@example.com";
  e.notify = 4;
  e.status = "4.4.1";
  e.action = "delayed";
  e.reason = "connect to mx[192.0.2.1]:25: Connection refused";
  e.relay = "none";
  e.time = 1764633600;
  return e;
}

TEST(StatusLog, RoundTrip) {
  auto a = sample();
  auto b = sample();
  b.recipient = "ann@example.org";
  b.original_recipient.clear();
  b.orcpt.clear();
  auto ta = format_status_entry(a);
  auto tb = format_status_entry(b);
  ASSERT_TRUE(ta && tb);
  auto log = parse_status_log(*ta + *tb);
  EXPECT_EQ(log.malformed, 0u);
  ASSERT_EQ(log.entries.size(), 2u);
  EXPECT_EQ(log.entries[0], a);
  EXPECT_EQ(log.entries[1], b);
}

TEST(StatusLog, RefusesLineBreaksInValues) {
  auto e = sample();
  e.reason = "550 no\nrecipient=evil@example.com";
  EXPECT_FALSE(format_status_entry(e));
  e = sample();
  e.recipient.clear();
  EXPECT_FALSE(format_status_entry(e));
}

TEST(StatusLog, SkipsMalformedAndTornEntries) {
  auto good = *format_status_entry(sample());
  std::string text = "garbage line\n\n" + good + "recipient=x\n\n" + "notify=zz\nrecipient=a\nstatus=5.0.0\n\n" +
                     good.substr(0, good.size() / 2);
  auto log = parse_status_log(text);
  EXPECT_EQ(log.entries.size(), 1u);
  EXPECT_EQ(log.malformed, 4u);
}

TEST(StatusLog, AnEntryWithoutItsTimeLineIsTorn) {
  auto log = parse_status_log("recipient=a@example.com\nnotify=0\nstatus=5.1.1\naction=failed\n\n");
  EXPECT_TRUE(log.entries.empty());
  EXPECT_EQ(log.malformed, 1u);
}

class StatusLogFile : public ::testing::Test {
 protected:
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("status_log_file_test." + std::to_string(::getpid()));
  std::filesystem::path path = dir / "ABC";
  void SetUp() override { std::filesystem::create_directories(dir); }
  void TearDown() override { std::filesystem::remove_all(dir); }
  void write_raw(const std::string& text) {
    FILE* f = std::fopen(path.c_str(), "a");
    ASSERT_NE(f, nullptr);
    std::fputs(text.c_str(), f);
    std::fclose(f);
  }
};

// What a crashed writer left (cut anywhere, even right after a newline)
// stays an entry of its own: the next recipient's entry is read whole and
// unmixed, the torn one is counted as malformed.
TEST_F(StatusLogFile, ATornEntryDoesNotMergeWithTheNext) {
  auto b = sample();
  b.recipient = "b@example.org";
  b.original_recipient.clear();
  b.orcpt.clear();
  for (std::string torn : {"recipient=a@example.com\norcpt=rfc822;a@example.com\nnotify=0\nstatus=5.1.1\nacti",
                           "recipient=a@example.com\norcpt=rfc822;a@example.com\nnotify=0\nstatus=5.1.1\n"}) {
    std::filesystem::remove(path);
    write_raw(torn);
    ASSERT_TRUE(append_status_log(path, {b}));
    auto log = read_status_log(path);
    ASSERT_TRUE(log);
    ASSERT_EQ(log->entries.size(), 1u) << torn;
    EXPECT_EQ(log->entries[0], b);
    EXPECT_EQ(log->malformed, 1u);
  }
}

// A write that fails half way (here: the file size limit) is cut back, so
// that the next append starts where it did.
TEST_F(StatusLogFile, AFailedAppendLeavesNothingBehind) {
  ASSERT_TRUE(append_status_log(path, {sample()}));
  auto size = std::filesystem::file_size(path);
  struct rlimit old {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = old;
  small.rlim_cur = size + 20;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  auto failed = append_status_log(path, {sample()});
  ::setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_FALSE(failed);
  EXPECT_EQ(std::filesystem::file_size(path), size);
  auto b = sample();
  b.recipient = "b@example.org";
  ASSERT_TRUE(append_status_log(path, {b}));
  auto log = read_status_log(path);
  ASSERT_TRUE(log);
  EXPECT_EQ(log->malformed, 0u);
  ASSERT_EQ(log->entries.size(), 2u);
  EXPECT_EQ(log->entries[1], b);
}

TEST(StatusLog, AppendAndRead) {
  auto dir = std::filesystem::temp_directory_path() / ("status_log_test." + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto path = dir / "ABC";
  ASSERT_TRUE(append_status_log(path, {sample()}));
  ASSERT_TRUE(append_status_log(path, {sample(), sample()}));
  auto log = read_status_log(path);
  ASSERT_TRUE(log);
  EXPECT_EQ(log->entries.size(), 3u);
  std::filesystem::create_symlink(path, dir / "link");
  EXPECT_FALSE(append_status_log(dir / "link", {sample()}));
  EXPECT_FALSE(read_status_log(dir / "link"));
  auto missing = read_status_log(dir / "missing");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().sys_errno, ENOENT);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace postern::queue
