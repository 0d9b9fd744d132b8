// queue_test_util.h - helpers shared by the queue library's unit tests only.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "queue/layout.h"
#include "queue/writer.h"

namespace postern::queue::testing {

// A fresh queue_directory under $TMPDIR, removed afterwards.
class TempQueue {
 public:
  TempQueue() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "postern-queue-test.XXXXXX").string();
    char* d = ::mkdtemp(tmpl.data());
    if (!d) throw std::runtime_error("mkdtemp");
    root_ = std::filesystem::path(d) / "spool";
  }
  ~TempQueue() {
    std::error_code ec;
    std::filesystem::remove_all(root_.parent_path(), ec);
  }
  const std::filesystem::path& root() const { return root_; }

 private:
  std::filesystem::path root_;
};

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void spit(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// One record as bytes: type, 4-byte big-endian length, payload.
inline std::string rec(char type, std::string_view payload) {
  std::string s(1, type);
  auto n = static_cast<std::uint32_t>(payload.size());
  s += static_cast<char>(n >> 24);
  s += static_cast<char>(n >> 16);
  s += static_cast<char>(n >> 8);
  s += static_cast<char>(n);
  s += payload;
  return s;
}

}  // namespace postern::queue::testing
