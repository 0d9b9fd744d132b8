// config_dir.cpp - see config_dir.h.
#include "config/config_dir.h"

#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "postern/paths.h"

namespace fs = std::filesystem;

namespace postern::config {
namespace {

// Owned by root and not writable by group or others; not a symbolic link.
bool root_safe(const fs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return false;
  return st.st_uid == 0 && (st.st_mode & 022) == 0 && !S_ISLNK(st.st_mode);
}

}  // namespace

Result<fs::path> check_config_dir_choice(const fs::path& dir) {
  bool privileged_run = ::getegid() != ::getgid() || ::geteuid() != ::getuid();
  if (!privileged_run || ::getuid() == 0) return dir;
  std::error_code ec;
  fs::path canon = fs::weakly_canonical(dir, ec);
  if (ec) return make_error("-c {}: {}", dir.string(), ec.message());
  fs::path def = fs::weakly_canonical(paths::kConfigDir, ec);
  if (canon == def) return canon;
  if (auto d = Config::load(paths::kConfigDir); d) {
    for (const auto& alt : d->list("alternate_config_directories"))
      if (fs::weakly_canonical(alt, ec) == canon) return canon;
  }
  if (root_safe(canon) && root_safe(canon / "main.cf")) return canon;
  return make_error(
      "-c {}: configuration directory is neither the default, nor listed in alternate_config_directories, "
      "nor owned by root",
      dir.string());
}

}  // namespace postern::config
