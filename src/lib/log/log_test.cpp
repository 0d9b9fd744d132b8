#include "log/log.h"

#include <gtest/gtest.h>
#include <unistd.h>

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
