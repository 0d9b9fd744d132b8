// file_io.cpp - see file_io.h.
#include "config/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <vector>

#include "base/unique_fd.h"

namespace postern::config {

namespace {

// Removes the temporary file unless the rename happened.
class TempFile {
 public:
  explicit TempFile(std::string path) : path_(std::move(path)) {}
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (!committed_) ::unlink(path_.c_str());
  }
  void commit() { committed_ = true; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  bool committed_ = false;
};

}  // namespace

Status write_file_atomic(const std::filesystem::path& path, std::string_view content) {
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  std::string tmpl = (dir / ("." + path.filename().string() + ".XXXXXX")).string();
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  UniqueFd fd(::mkostemp(name.data(), O_CLOEXEC));
  if (!fd) return sys_error("create temporary file in {}", dir.string());
  TempFile tmp(name.data());

  // Keep the permissions and ownership of the file we replace.
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (::fchmod(fd.get(), st.st_mode & 07777) != 0) return sys_error("chmod {}", tmp.path());
    if (::fchown(fd.get(), st.st_uid, st.st_gid) != 0 && errno != EPERM)
      return sys_error("chown {}", tmp.path());
  } else if (::fchmod(fd.get(), 0644) != 0) {
    return sys_error("chmod {}", tmp.path());
  }

  std::size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd.get(), content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("write {}", tmp.path());
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return sys_error("fsync {}", tmp.path());
  if (::close(fd.release()) != 0) return sys_error("close {}", tmp.path());
  if (::rename(tmp.path().c_str(), path.c_str()) != 0) return sys_error("rename {} to {}", tmp.path(), path.string());
  tmp.commit();
  // Make the rename itself durable.
  UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd) ::fsync(dfd.get());
  return {};
}

}  // namespace postern::config
