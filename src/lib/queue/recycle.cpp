// recycle.cpp - see recycle.h.
#include "queue/recycle.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <utility>

#include "base/unique_fd.h"
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
        if (QueueId::parse(e->d_name) && !passed_over_.contains(e->d_name)) names_.emplace_back(e->d_name);
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

void RecycleBin::pass_over(const std::string& name) {
  std::lock_guard lk(mu_);
  if (passed_over_.size() < kMaxPassedOver) passed_over_.insert(name);
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
  // Opened, not named, from here on: the checks and the mark apply to the
  // same file. O_NONBLOCK: a FIFO put in its place must not block qmgr.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  struct stat st {};
  // A second name (fsck counted one that a crash left, see the header):
  // only removing this name is safe.
  if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 || st.st_size < 0 ||
      static_cast<std::uint64_t>(st.st_size) > kRecycleMaxSize)
    return false;
  // The mark goes before the file enters the bin: no file there may look
  // like a queued message unless it could be one (see the header).
  if (::fchmod(fd.get(), st.st_mode & 0600) != 0) return false;
  fs::path to = dir_ / id.str();
  // The ID is unique, so the name is free; rename_noreplace makes sure.
  // Not truncated (see the header): cleanup overwrites it.
  if (detail::rename_noreplace(path, to) != 0) return false;
  ++estimate_;
  return true;
}

Result<SweepResult> sweep_recycle_bin(const fs::path& queue_root, const HashConfig& hash) {
  SweepResult r;
  const fs::path dir = bin_dir(queue_root);
  // Marked files by inode (device too: a bind mount could put the bin on
  // another file system than a queue).
  std::map<std::pair<dev_t, ino_t>, std::vector<std::string>> marked;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      if (!QueueId::parse(e->d_name)) continue;
      struct stat st {};
      if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
      if (st.st_mode & S_IXUSR) marked[{st.st_dev, st.st_ino}].emplace_back(e->d_name);
    }
    ::closedir(d);
  } else if (errno == ENOENT) {
    return r;  // an older queue tree: nothing is recycled
  } else {
    return sys_error("open {}", dir.string());
  }
  if (marked.empty()) return r;

  for (QueueName q : {QueueName::Incoming, QueueName::Active, QueueName::Deferred, QueueName::Hold,
                      QueueName::Corrupt}) {
    QueueScanner scan(queue_root, q, hash);
    for (;;) {
      auto e = scan.next();
      if (!e) {
        // A queue that cannot be read may hold any of them.
        if (e.error().sys_errno == ENOENT) break;
        return e.take_error();
      }
      if (!*e) break;
      struct stat st {};
      if (::lstat((*e)->path.c_str(), &st) != 0) continue;  // gone meanwhile
      if (auto it = marked.find({st.st_dev, st.st_ino}); it != marked.end()) {
        r.queued += it->second.size();
        marked.erase(it);
      }
    }
  }
  for (const auto& [inode, names] : marked) {
    for (const auto& name : names) {
      fs::path p = dir / name;
      UniqueFd fd(::open(p.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
      struct stat st {};
      // Still the file we saw (cleanup may have taken the name meanwhile).
      if (!fd || ::fstat(fd.get(), &st) != 0 || st.st_dev != inode.first || st.st_ino != inode.second) continue;
      if (::fchmod(fd.get(), st.st_mode & 0600) == 0) ++r.cleared;
    }
  }
  return r;
}

}  // namespace postern::queue
