// maildir_test.cpp - Maildir naming, directory creation, atomic appearance in new/, failures.
#include "deliver/maildir.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <regex>
#include <set>
#include <vector>

#include "deliver/test_util.h"

namespace postern::deliver {
namespace {

using test::list_dir;
using test::TempDir;

const Envelope kEnv{"alice@example.org", "bob@example.com", "bob@example.com"};

MaildirOptions opts() {
  MaildirOptions o;
  o.hostname = "mx.example.com";
  return o;
}

MaildirOptions tmp_protocol() {
  MaildirOptions o = opts();
  o.unnamed = false;
  return o;
}

// A Maildir that exists already, so that the first delivery does not fall
// back to tmp/ to create it.
std::filesystem::path existing_maildir(const TempDir& home) {
  auto maildir = home / "Maildir";
  for (const char* sub : {"tmp", "new", "cur"}) std::filesystem::create_directories(maildir / sub);
  return maildir;
}

bool has_o_tmpfile(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

mode_t mode_of(const std::filesystem::path& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0;
}

TEST(Maildir, HostnameEscapes) {
  EXPECT_EQ(maildir_escape_hostname("mx.example.com"), "mx.example.com");
  EXPECT_EQ(maildir_escape_hostname("a/b:c"), "a\\057b\\072c");
}

TEST(Maildir, UniqueNameLayout) {
  struct timeval tv {
    1763915544, 7
  };
  EXPECT_EQ(maildir_unique_name(tv, 4711, 3, "host"), "1763915544.M7P4711Q3.host");
}

TEST(Maildir, DeliversIntoNewWithCreatedDirectories) {
  TempDir home;
  auto maildir = home / "Maildir/";
  std::filesystem::path delivered;
  ContentReader content = string_content("Subject: hi\r\n\r\nFrom me\r\nbye\r\n");
  Outcome o = deliver_maildir(maildir, kEnv, content, opts(), &delivered);
  ASSERT_TRUE(o.is_sent()) << o.to_string();
  EXPECT_EQ(o.text, "delivered to maildir");

  for (const char* sub : {"tmp", "new", "cur"}) {
    EXPECT_TRUE(std::filesystem::is_directory(maildir / sub)) << sub;
    EXPECT_EQ(mode_of(maildir / sub), 0700u) << sub;
  }
  EXPECT_EQ(mode_of(home / "Maildir"), 0700u);
  EXPECT_TRUE(list_dir(maildir / "tmp").empty());
  EXPECT_TRUE(list_dir(maildir / "cur").empty());
  auto names = list_dir(maildir / "new");
  ASSERT_EQ(names.size(), 1u);
  EXPECT_EQ(delivered, maildir / "new" / names[0]);
  std::regex shape("^[0-9]+\\.M[0-9]+P" + std::to_string(::getpid()) + "Q[0-9]+\\.mx\\.example\\.com$");
  EXPECT_TRUE(std::regex_match(names[0], shape)) << names[0];
  EXPECT_EQ(mode_of(delivered), 0600u);
  // LF line ends, no From_ line, no >From quoting.
  EXPECT_EQ(test::read_file(delivered),
            "Return-Path: <alice@example.org>\n"
            "X-Original-To: bob@example.com\n"
            "Delivered-To: bob@example.com\n"
            "Subject: hi\n"
            "\n"
            "From me\n"
            "bye\n");
}

TEST(Maildir, EveryDeliveryGetsItsOwnName) {
  TempDir home;
  auto maildir = home / "Maildir";
  std::set<std::string> seen;
  for (int i = 0; i < 20; ++i) {
    ContentReader content = string_content("n " + std::to_string(i) + "\n");
    ASSERT_TRUE(deliver_maildir(maildir, kEnv, content, opts()).is_sent());
  }
  auto names = list_dir(maildir / "new");
  EXPECT_EQ(names.size(), 20u);
  seen.insert(names.begin(), names.end());
  EXPECT_EQ(seen.size(), 20u);
}

// A content reader of 100 lines that calls `midway` at line 50.
ContentReader hundred_lines(int& line, const std::function<void()>& midway) {
  return [&line, midway](LinePiece& p) -> Result<bool> {
    if (line == 50) midway();
    if (line++ >= 100) return false;
    p.data = "body line";
    p.complete = true;
    return true;
  };
}

TEST(Maildir, MessageAppearsInNewOnlyWhenComplete) {
  TempDir home;
  auto maildir = existing_maildir(home);
  int line = 0;
  bool checked = false;
  // While the message is being written, a mail reader looking at new/ sees
  // nothing; with the tmp/ protocol the partial file lives in tmp/.
  ContentReader content = hundred_lines(line, [&] {
    EXPECT_TRUE(list_dir(maildir / "new").empty());
    EXPECT_EQ(list_dir(maildir / "tmp").size(), 1u);
    checked = true;
  });
  ASSERT_TRUE(deliver_maildir(maildir, kEnv, content, tmp_protocol()).is_sent());
  EXPECT_TRUE(checked);
  EXPECT_EQ(list_dir(maildir / "new").size(), 1u);
  EXPECT_TRUE(list_dir(maildir / "tmp").empty());
}

TEST(Maildir, UnnamedFileHasNoNameUntilComplete) {
  TempDir home;
  auto maildir = existing_maildir(home);
  if (!has_o_tmpfile(maildir / "new")) GTEST_SKIP() << "no O_TMPFILE on this file system";
  int line = 0;
  bool checked = false;
  // The partial message is in no directory at all.
  ContentReader content = hundred_lines(line, [&] {
    EXPECT_TRUE(list_dir(maildir / "new").empty());
    EXPECT_TRUE(list_dir(maildir / "tmp").empty());
    checked = true;
  });
  std::filesystem::path delivered;
  ASSERT_TRUE(deliver_maildir(maildir, kEnv, content, opts(), &delivered).is_sent());
  EXPECT_TRUE(checked);
  auto names = list_dir(maildir / "new");
  ASSERT_EQ(names.size(), 1u);
  EXPECT_EQ(delivered, maildir / "new" / names[0]);
  EXPECT_TRUE(list_dir(maildir / "tmp").empty());
  struct stat st {};
  ASSERT_EQ(::stat(delivered.c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 1u);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  std::string text = test::read_file(delivered);
  EXPECT_EQ(text.rfind("Return-Path: <alice@example.org>\n", 0), 0u) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 3 + 100);
}

TEST(Maildir, ExistingTmpButMissingNewIsRepaired) {
  TempDir home;
  auto maildir = home / "Maildir";
  std::filesystem::create_directories(maildir / "tmp");
  ContentReader content = string_content("x\n");
  ASSERT_TRUE(deliver_maildir(maildir, kEnv, content, opts()).is_sent());
  EXPECT_EQ(list_dir(maildir / "new").size(), 1u);
  EXPECT_TRUE(std::filesystem::is_directory(maildir / "cur"));
}

// Both ways of writing (unnamed file, tmp/), into a new Maildir and into an
// existing one.
struct Way {
  const char* what;
  bool existing;
  MaildirOptions options;
};
std::vector<Way> every_way() {
  return {{"new maildir", false, opts()},
          {"existing maildir, unnamed file", true, opts()},
          {"existing maildir, tmp/", true, tmp_protocol()}};
}

TEST(Maildir, SizeLimitLeavesNothingBehind) {
  for (auto& way : every_way()) {
    SCOPED_TRACE(way.what);
    TempDir home;
    auto maildir = way.existing ? existing_maildir(home) : home / "Maildir";
    std::string body;
    for (int i = 0; i < 5000; ++i) body += "a rather long line of message text\n";
    ContentReader content = string_content(body);
    MaildirOptions o = way.options;
    o.size_limit = 64 * 1024;
    Outcome r = deliver_maildir(maildir, kEnv, content, o);
    ASSERT_TRUE(r.is_bounced()) << r.to_string();
    EXPECT_EQ(r.dsn, "5.2.2");
    EXPECT_EQ(r.text, "maildir delivery failed: error writing message: File too large");
    EXPECT_TRUE(list_dir(maildir / "tmp").empty());
    EXPECT_TRUE(list_dir(maildir / "new").empty());
  }
}

TEST(Maildir, ReadErrorLeavesNothingBehind) {
  for (auto& way : every_way()) {
    SCOPED_TRACE(way.what);
    TempDir home;
    auto maildir = way.existing ? existing_maildir(home) : home / "Maildir";
    int n = 0;
    ContentReader bad = [&n](LinePiece& p) -> Result<bool> {
      if (n++ > 10) return Error{"cannot read queue file", EAGAIN};
      p.data = "x";
      p.complete = true;
      return true;
    };
    Outcome r = deliver_maildir(maildir, kEnv, bad, way.options);
    EXPECT_TRUE(r.is_deferred()) << r.to_string();
    EXPECT_EQ(r.dsn, "4.3.0");
    EXPECT_TRUE(list_dir(maildir / "tmp").empty());
    EXPECT_TRUE(list_dir(maildir / "new").empty());
  }
}

TEST(Maildir, UncreatableMaildirFails) {
  TempDir home;
  test::write_file(home / "Maildir", "a plain file where the Maildir should be\n");
  ContentReader content = string_content("x\n");
  Outcome r = deliver_maildir(home / "Maildir", kEnv, content, opts());
  EXPECT_TRUE(r.is_bounced()) << r.to_string();
  EXPECT_EQ(r.dsn, "5.2.0");
  EXPECT_EQ(r.text.rfind("maildir delivery failed: create maildir file ", 0), 0u) << r.text;
  EXPECT_FALSE(deliver_maildir("", kEnv, content, opts()).is_sent());
}

}  // namespace
}  // namespace postern::deliver
