// db_files.cpp - file handling shared by the indexed table types (hash,
// btree, lmdb, cdb; declared in internal.h): each keeps its data in one file
// next to the source, rebuilds it under a temporary name renamed into place,
// and warns when the source was edited after the last build.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <random>

#include "base/unique_fd.h"
#include "maps/internal.h"

namespace postern::maps::detail {

std::pair<std::string, std::string> split_dir(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return {".", path};
  if (slash == 0) return {"/", path.substr(1)};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

std::string unique_temp_name(const std::string& path) {
  // Unpredictable, so that a name planted in advance is unlikely; callers
  // still create the file exclusively.
  std::random_device rd;
  return path + ".postern." + std::to_string(::getpid()) + "." + std::to_string(rd() % 1000000) + ".tmp";
}

void sync_parent_dir(const std::string& path) {
  // Best effort: the file itself is already durable; this makes its new
  // name so on file systems where the rename alone is not.
  UniqueFd dfd(::open(split_dir(path).first.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd) ::fsync(dfd.get());
}

std::string c_string(const void* data, std::size_t size) {
  const char* p = static_cast<const char*>(data);
  if (!p) return {};
  return std::string(p, ::strnlen(p, size));
}

std::optional<std::string> stale_source_warning(const std::string& db_path, const std::string& source) {
  // Postfix's hint that someone edited the source and forgot to run postmap;
  // a source changed in the last 100 s may be being rebuilt right now.
  struct stat db {}, src{};
  if (::stat(db_path.c_str(), &db) < 0 || ::stat(source.c_str(), &src) < 0) return std::nullopt;
  if (src.st_mtime > db.st_mtime && src.st_mtime < std::time(nullptr) - 100)
    return "database " + db_path + " is older than source file " + source;
  return std::nullopt;
}

}  // namespace postern::maps::detail
