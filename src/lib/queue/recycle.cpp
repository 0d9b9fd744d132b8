// recycle.cpp - see recycle.h.
#include "queue/recycle.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "queue/layout.h"
#include "queue/writer.h"

namespace postern::queue {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kBatch = 64;                       // names read per refill
// An empty bin is read again after this. Short: while intake outruns
// delivery the bin is empty most of the time, and every file qmgr puts back
// in the meantime that cleanup does not see is a new inode made instead
// (on ext4 without a journal, a scan past every recently freed inode of
// the group). At 200 ms a 3,000-message local run created about 1,000
// files; at 10 ms, 560. A look at an empty bin is four system calls.
constexpr auto kEmptyPause = std::chrono::milliseconds(10);
constexpr std::size_t kRecount = 64;                     // Recycler: moves between counts

fs::path bin_dir(const fs::path& root) { return root / std::string(to_string(QueueName::Recycle)); }

}  // namespace

RecycleBin::RecycleBin(fs::path queue_root) : dir_(bin_dir(queue_root)) {}

std::optional<fs::path> RecycleBin::next() {
  std::lock_guard lk(mu_);
  if (names_.empty()) {
    auto now = std::chrono::steady_clock::now();
    if (now < retry_at_) return std::nullopt;
    if (DIR* d = ::opendir(dir_.c_str())) {
      while (names_.size() < kBatch) {
        dirent* e = ::readdir(d);
        if (!e) break;
        // Only names qmgr gives: queue IDs. Anything else is left alone.
        if (QueueId::parse(e->d_name)) names_.emplace_back(e->d_name);
      }
      ::closedir(d);
    }
    if (names_.empty()) {
      retry_at_ = now + kEmptyPause;
      return std::nullopt;
    }
  }
  fs::path p = dir_ / names_.back();
  names_.pop_back();
  return p;
}

Recycler::Recycler(fs::path queue_root, std::size_t cap) : dir_(bin_dir(queue_root)), cap_(cap) {
  estimate_ = count_bin();
}

std::size_t Recycler::count_bin() {
  std::size_t n = 0;
  if (DIR* d = ::opendir(dir_.c_str())) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') ++n;
      if (n > cap_) break;
    }
    ::closedir(d);
  } else {
    return cap_ + 1;  // no bin (an older queue tree): never move files there
  }
  return n;
}

bool Recycler::take(const fs::path& path, const QueueId& id) {
  if (cap_ == 0) return false;
  if (++since_count_ >= kRecount) {
    since_count_ = 0;
    estimate_ = count_bin();
  }
  if (estimate_ >= cap_) return false;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0 ||
      static_cast<std::uint64_t>(st.st_size) > kRecycleMaxSize)
    return false;
  fs::path to = dir_ / id.str();
  // The ID is unique, so the name is free; rename_noreplace makes sure.
  // Not truncated (see the header): cleanup overwrites it.
  if (detail::rename_noreplace(path, to) != 0) return false;
  ++estimate_;
  return true;
}

}  // namespace postern::queue
