#include "queue/status_log.h"

#include <gtest/gtest.h>

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
