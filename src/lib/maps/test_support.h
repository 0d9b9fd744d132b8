// test_support.h - helpers shared by the maps unit tests (not used by the library).
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "maps/table.h"

namespace postern::maps::testing {

// A scratch directory removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "postern-maps-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) std::abort();
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string path(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& dir() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline void write_file(const std::string& path, const std::string& text, mode_t mode = 0644) {
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << text;
  }
  ::chmod(path.c_str(), mode);
}

// Options for tests: warnings are collected, not logged.
inline OpenOptions quiet(OpenOptions o = {}) {
  o.log_warnings = false;
  return o;
}

// lookup() flattened for assertions: the value, "<none>" or "<error: ...>".
inline std::string get(Table& t, std::string_view key) {
  auto r = t.lookup(key);
  if (!r) return "<error: " + r.error().message + ">";
  return r->value_or("<none>");
}

}  // namespace postern::maps::testing
