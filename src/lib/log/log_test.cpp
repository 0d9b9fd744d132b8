#include "log/log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

using namespace postern;

TEST(Log, FileLinesHavePostfixShape) {
  char tmpl[] = "/tmp/postern-log-XXXXXX";
  int fd = mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  close(fd);
  log::Settings s;
  s.syslog_name = "postern";
  s.maillog_file = tmpl;
  log::init("smtpd", s);
  log::info("{}: client={}", "3F2A1C0D2", "localhost[127.0.0.1]");
  log::warning("disk {}", "full");
  log::flush();
  std::ifstream in(tmpl);
  std::string l1, l2;
  std::getline(in, l1);
  std::getline(in, l2);
  unlink(tmpl);
  std::regex shape(R"(^[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d \S+ postern/smtpd\[\d+\]: 3F2A1C0D2: client=localhost\[127\.0\.0\.1\]$)");
  EXPECT_TRUE(std::regex_match(l1, shape)) << l1;
  EXPECT_NE(l2.find("postern/smtpd["), std::string::npos);
  EXPECT_NE(l2.find("]: warning: disk full"), std::string::npos) << l2;
}

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/postern-logrot-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

// A renamed maillog_file (postern logrotate, logrotate(8)) is followed: the
// next line goes to a new file at the path, none to the renamed one.
TEST(Log, FollowsARotatedFile) {
  TempDir dir;
  std::string file = dir.path + "/maillog";
  log::Settings s;
  s.maillog_file = file;
  s.recheck = std::chrono::milliseconds(0);
  log::init("qmgr", s);
  int calls = 0;
  log::on_unreopenable([&] { ++calls; });
  log::info("line one");
  ASSERT_EQ(::rename(file.c_str(), (file + ".1").c_str()), 0);
  log::info("line two");
  ASSERT_EQ(::unlink(file.c_str()), 0);  // removed outright: created again
  log::info("line three");
  log::on_unreopenable(nullptr);
  std::string old_text = slurp(file + ".1"), new_text = slurp(file);
  EXPECT_NE(old_text.find("line one"), std::string::npos);
  EXPECT_EQ(old_text.find("line two"), std::string::npos) << old_text;
  EXPECT_EQ(new_text.find("line two"), std::string::npos);  // that file was unlinked
  EXPECT_NE(new_text.find("line three"), std::string::npos) << new_text;
  EXPECT_EQ(calls, 0);
  log::init("test", log::Settings{.syslog_name = "", .maillog_file = "/dev/null"});
}

// Within the recheck interval a line does not look at the path (one stat(2)
// a second at most, not one per line).
TEST(Log, ChecksForRotationAtMostOncePerInterval) {
  TempDir dir;
  std::string file = dir.path + "/maillog";
  log::Settings s;
  s.maillog_file = file;
  s.recheck = std::chrono::hours(1);
  log::init("qmgr", s);
  ASSERT_EQ(::rename(file.c_str(), (file + ".1").c_str()), 0);
  log::info("still the old file");
  EXPECT_NE(slurp(file + ".1").find("still the old file"), std::string::npos);
  EXPECT_NE(::access(file.c_str(), F_OK), 0);
  log::init("test", log::Settings{.syslog_name = "", .maillog_file = "/dev/null"});
}

// A process that cannot open the new file (here its directory is gone; in
// production a dropped privilege or a chroot) keeps the old one and tells
// the hook, once, so that a daemon can retire.
TEST(Log, ReportsOnceWhenTheNewFileCannotBeOpened) {
  TempDir dir;
  std::string sub = dir.path + "/d";
  ASSERT_EQ(::mkdir(sub.c_str(), 0755), 0);
  std::string file = sub + "/maillog";
  log::Settings s;
  s.maillog_file = file;
  s.recheck = std::chrono::milliseconds(0);
  log::init("smtpd", s);
  int calls = 0;
  log::on_unreopenable([&] { ++calls; });
  ASSERT_EQ(::rename(sub.c_str(), (dir.path + "/moved").c_str()), 0);
  log::info("after the move");
  log::info("and again");
  log::on_unreopenable(nullptr);
  EXPECT_EQ(calls, 1);
  std::string text = slurp(dir.path + "/moved/maillog");
  EXPECT_NE(text.find("after the move"), std::string::npos) << text;
  EXPECT_NE(text.find("and again"), std::string::npos) << text;
  log::init("test", log::Settings{.syslog_name = "", .maillog_file = "/dev/null"});
}

// Long lines arrive whole (each line is one write(2) on an O_APPEND
// descriptor, so concurrent processes never interleave within a line).
TEST(Log, LongLinesAreWrittenWhole) {
  TempDir dir;
  std::string file = dir.path + "/maillog";
  log::Settings s;
  s.maillog_file = file;
  log::init("cleanup", s);
  std::string big(20000, 'x');
  log::info("{}", big);
  std::string text = slurp(file);
  EXPECT_NE(text.find(big + "\n"), std::string::npos);
  log::init("test", log::Settings{.syslog_name = "", .maillog_file = "/dev/null"});
}

// A chrooted daemon cannot see maillog_file's path: it keeps its file and
// does not retire over it.
TEST(Log, AChrootedProcessKeepsItsFile) {
  TempDir dir;
  std::string file = dir.path + "/maillog";
  log::Settings s;
  s.maillog_file = file;
  s.recheck = std::chrono::milliseconds(0);
  log::init("smtpd", s);
  int calls = 0;
  log::on_unreopenable([&] { ++calls; });
  log::stop_following_rotation();
  ASSERT_EQ(::rename(file.c_str(), (file + ".1").c_str()), 0);
  log::info("still here");
  log::on_unreopenable(nullptr);
  EXPECT_EQ(calls, 0);
  EXPECT_NE(slurp(file + ".1").find("still here"), std::string::npos);
  EXPECT_NE(::access(file.c_str(), F_OK), 0);
  log::init("test", log::Settings{.syslog_name = "", .maillog_file = "/dev/null"});
}
