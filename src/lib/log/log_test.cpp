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

// A scratch directory, and the log going to `file` in it (below `sub`
// when given) with a counting on_unreopenable() hook; afterwards the log
// goes nowhere again.
struct FileLog {
  std::string dir;
  std::string file;
  int unreopenable = 0;
  explicit FileLog(std::chrono::milliseconds recheck, const std::string& sub = "") {
    char tmpl[] = "/tmp/postern-logrot-XXXXXX";
    dir = mkdtemp(tmpl);
    std::string where = dir;
    if (!sub.empty()) {
      where += "/" + sub;
      ::mkdir(where.c_str(), 0755);
    }
    file = where + "/maillog";
    log::Settings s;
    s.maillog_file = file;
    s.recheck = recheck;
    log::init("smtpd", s);
    log::on_unreopenable([this] { ++unreopenable; });
  }
  ~FileLog() {
    log::on_unreopenable(nullptr);
    log::init("test", log::Settings{.syslog_name = "", .maillog_file = "/dev/null"});
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  FileLog(const FileLog&) = delete;
  FileLog& operator=(const FileLog&) = delete;
};

constexpr std::chrono::milliseconds kEveryLine{0};

}  // namespace

// A renamed maillog_file (postern logrotate, logrotate(8)) is followed: the
// next line goes to a new file at the path, none to the renamed one.
TEST(Log, FollowsARotatedFile) {
  FileLog l(kEveryLine);
  log::info("line one");
  ASSERT_EQ(::rename(l.file.c_str(), (l.file + ".1").c_str()), 0);
  log::info("line two");
  ASSERT_EQ(::unlink(l.file.c_str()), 0);  // removed outright: created again
  log::info("line three");
  std::string old_text = slurp(l.file + ".1"), new_text = slurp(l.file);
  EXPECT_NE(old_text.find("line one"), std::string::npos);
  EXPECT_EQ(old_text.find("line two"), std::string::npos) << old_text;
  EXPECT_EQ(new_text.find("line two"), std::string::npos);  // that file was unlinked
  EXPECT_NE(new_text.find("line three"), std::string::npos) << new_text;
  EXPECT_EQ(l.unreopenable, 0);
}

// Within the recheck interval a line does not look at the path (one stat(2)
// a second at most, not one per line).
TEST(Log, ChecksForRotationAtMostOncePerInterval) {
  FileLog l(std::chrono::hours(1));
  ASSERT_EQ(::rename(l.file.c_str(), (l.file + ".1").c_str()), 0);
  log::info("still the old file");
  EXPECT_NE(slurp(l.file + ".1").find("still the old file"), std::string::npos);
  EXPECT_NE(::access(l.file.c_str(), F_OK), 0);
}

// A process that cannot open the new file (here its directory is gone; in
// production a dropped privilege) keeps the old one and tells the hook,
// once, so that a daemon can retire.
TEST(Log, ReportsOnceWhenTheNewFileCannotBeOpened) {
  FileLog l(kEveryLine, "d");
  ASSERT_EQ(::rename((l.dir + "/d").c_str(), (l.dir + "/moved").c_str()), 0);
  log::info("after the move");
  log::info("and again");
  EXPECT_EQ(l.unreopenable, 1);
  std::string text = slurp(l.dir + "/moved/maillog");
  EXPECT_NE(text.find("after the move"), std::string::npos) << text;
  EXPECT_NE(text.find("and again"), std::string::npos) << text;
}

// Long lines arrive whole (each line is one write(2) on an O_APPEND
// descriptor, so concurrent processes never interleave within a line).
TEST(Log, LongLinesAreWrittenWhole) {
  FileLog l(std::chrono::seconds(1));
  std::string big(20000, 'x');
  log::info("{}", big);
  EXPECT_NE(slurp(l.file).find(big + "\n"), std::string::npos);
}

// A chrooted daemon cannot see maillog_file's path: it keeps its file and
// does not retire over it.
TEST(Log, AChrootedProcessKeepsItsFile) {
  FileLog l(kEveryLine);
  log::stop_following_rotation();
  ASSERT_EQ(::rename(l.file.c_str(), (l.file + ".1").c_str()), 0);
  log::info("still here");
  EXPECT_EQ(l.unreopenable, 0);
  EXPECT_NE(slurp(l.file + ".1").find("still here"), std::string::npos);
  EXPECT_NE(::access(l.file.c_str(), F_OK), 0);
}

// After a rotation the path may have been planted by someone else: a
// symbolic link there is not followed (a root process would append to its
// target), the process keeps its old file and says it cannot go over.
TEST(Log, ARotatedPathThatIsALinkIsNotFollowed) {
  FileLog l(kEveryLine);
  std::string target = l.dir + "/target";
  { std::ofstream(target) << "precious\n"; }
  ASSERT_EQ(::rename(l.file.c_str(), (l.file + ".1").c_str()), 0);
  ASSERT_EQ(::symlink(target.c_str(), l.file.c_str()), 0);
  log::info("not into the link");
  EXPECT_EQ(slurp(target), "precious\n");
  EXPECT_NE(slurp(l.file + ".1").find("not into the link"), std::string::npos);
  EXPECT_EQ(l.unreopenable, 1);
}
