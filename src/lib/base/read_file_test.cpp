#include "base/read_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

using namespace postern;
namespace fs = std::filesystem;

namespace {

struct Scratch {
  fs::path dir;
  Scratch() {
    std::string t = (fs::temp_directory_path() / "read_file_test.XXXXXX").string();
    dir = ::mkdtemp(t.data());
  }
  ~Scratch() { fs::remove_all(dir); }
  fs::path write(const std::string& name, const std::string& content) const {
    std::ofstream(dir / name, std::ios::binary) << content;
    return dir / name;
  }
};

TEST(ReadFile, WholeFileWithinTheBound) {
  Scratch s;
  auto p = s.write("f", std::string(200000, 'a') + "end");
  auto r = read_file(p, 200003);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->size(), 200003u);
  EXPECT_EQ(r->substr(r->size() - 3), "end");
  EXPECT_EQ(*read_file(s.write("empty", ""), 10), "");
}

TEST(ReadFile, RefusesOneByteTooMany) {
  Scratch s;
  auto p = s.write("f", std::string(100, 'x'));
  EXPECT_TRUE(read_file(p, 100));
  auto r = read_file(p, 99);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("larger than 99 bytes"), std::string::npos) << r.error().message;
}

TEST(ReadFile, KeepHeadTakesTheFirstBytes) {
  Scratch s;
  auto p = s.write("f", "0123456789");
  auto r = read_file(p, 4, TooLarge::KeepHead);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "0123");
  EXPECT_EQ(*read_file(p, 0, TooLarge::KeepHead), "");
}

TEST(ReadFile, OnlyRegularFiles) {
  Scratch s;
  auto absent = read_file(s.dir / "absent", 10);
  ASSERT_FALSE(absent);
  EXPECT_EQ(absent.error().sys_errno, ENOENT);
  EXPECT_FALSE(read_file(s.dir, 10));  // a directory
  // A FIFO is refused, not read until a writer comes (O_NONBLOCK for the open).
  ASSERT_EQ(::mkfifo((s.dir / "fifo").c_str(), 0600), 0);
  auto fifo = read_file(s.dir / "fifo", 10, TooLarge::Refuse, O_NONBLOCK);
  ASSERT_FALSE(fifo);
  EXPECT_NE(fifo.error().message.find("not a regular file"), std::string::npos);
}

TEST(ReadFile, ExtraOpenFlagsApply) {
  Scratch s;
  auto target = s.write("target", "secret");
  fs::create_symlink(target, s.dir / "link");
  EXPECT_EQ(*read_file(s.dir / "link", 100), "secret");
  auto r = read_file(s.dir / "link", 100, TooLarge::Refuse, O_NOFOLLOW);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().sys_errno, ELOOP);
}

}  // namespace
