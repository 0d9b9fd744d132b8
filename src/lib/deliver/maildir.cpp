// maildir.cpp - Maildir delivery: an unnamed file linked into new/, or the
// tmp/ file protocol where that is not possible (see maildir.h).
//
// Reads no parameters. Logs warnings for Maildir permission problems and
// for temporary files that cannot be removed.
#include "deliver/maildir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>
#include <optional>

#include "base/fs_durability.h"
#include "base/unique_fd.h"
#include "log/log.h"

namespace postern::deliver {

namespace {

// Deliveries made by this process: part of the unique name, so that two
// deliveries in the same microsecond by the same process still differ.
std::atomic<std::uint64_t> g_delivery_counter{0};

constexpr int kMaxNameTries = 5;

std::string local_hostname() {
  char buf[256];
  if (::gethostname(buf, sizeof(buf) - 1) < 0) return "localhost";
  buf[sizeof(buf) - 1] = '\0';
  std::string h(buf);
  return h.empty() ? std::string("localhost") : h;
}

// mkdir -p with `mode` for every missing component.
bool make_dirs(const std::filesystem::path& dir, mode_t mode) {
  std::filesystem::path partial;
  for (const auto& component : dir) {
    if (component.empty()) continue;  // trailing '/'
    partial /= component;
    if (partial == "/") continue;
    if (::mkdir(partial.c_str(), mode) < 0 && errno != EEXIST) return false;
  }
  return true;
}

bool make_maildir(const std::filesystem::path& maildir, mode_t mode) {
  return make_dirs(maildir / "tmp", mode) && make_dirs(maildir / "new", mode) &&
         make_dirs(maildir / "cur", mode);
}

Outcome failed(Outcome o) { return std::move(o.prepend("maildir delivery failed: ")); }

Outcome create_failure(const std::filesystem::path& file, int err, uid_t uid, std::string_view dsn) {
  if (err == EACCES) {
    // Postfix's words; the worker runs as the recipient's identity, so its
    // effective group is the one the file would have had.
    log::warning("maildir access problem for UID/GID={}/{}: create maildir file {}: {}",
                 static_cast<unsigned long>(uid), static_cast<unsigned long>(::getegid()), file.string(),
                 std::strerror(err));
    log::warning("perhaps you need to create the maildirs in advance");
  }
  return failed(Outcome::from_errno(
      err, dsn, fmt::format("create maildir file {}: {}", file.string(), std::strerror(err))));
}

// Removes the tmp/ file when the delivery ends, whichever way it ends.
class TmpRemover {
 public:
  explicit TmpRemover(std::filesystem::path p) : path_(std::move(p)) {}
  ~TmpRemover() {
    if (!armed_) return;
    if (::unlink(path_.c_str()) < 0 && errno != ENOENT)
      log::warning("remove {}: {}", path_.string(), std::strerror(errno));
  }
  void disarm() { armed_ = false; }
  TmpRemover(const TmpRemover&) = delete;
  TmpRemover& operator=(const TmpRemover&) = delete;

 private:
  std::filesystem::path path_;
  bool armed_ = true;
};

bool no_hard_links(int err) { return err == EPERM || err == ENOTSUP || err == ENOSYS || err == EXDEV; }

Outcome write_failure(int err) {
  return Outcome::from_errno(err, "5.3.0", fmt::format("error writing message: {}", std::strerror(err)));
}

Outcome sync_failure(const std::filesystem::path& what, int err) {
  return failed(Outcome::from_errno(
      err, "4.3.0", fmt::format("cannot synchronize directory {}: {}", what.string(), std::strerror(err))));
}

// Whether this process can give an O_TMPFILE file a name. An unprivileged
// process can only do that through /proc/self/fd/N (linkat() with
// AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH), and a chroot may have no /proc.
// Checked once per process, on the first unnamed file.
enum class ProcFd { kUnknown, kUsable, kUnusable };
std::atomic<ProcFd> g_proc_fd{ProcFd::kUnknown};

std::string proc_fd_path(int fd) { return fmt::format("/proc/self/fd/{}", fd); }

bool proc_fd_names(int fd) {
  ProcFd known = g_proc_fd.load(std::memory_order_relaxed);
  if (known != ProcFd::kUnknown) return known == ProcFd::kUsable;
  struct stat direct {}, via_proc {};
  bool ok = ::fstat(fd, &direct) == 0 && ::stat(proc_fd_path(fd).c_str(), &via_proc) == 0 &&
            direct.st_dev == via_proc.st_dev && direct.st_ino == via_proc.st_ino;
  g_proc_fd.store(ok ? ProcFd::kUsable : ProcFd::kUnusable, std::memory_order_relaxed);
  return ok;
}

// The unnamed-file delivery (see maildir.h). nullopt when it cannot start
// here (no O_TMPFILE on this file system, no /proc, a missing or unwritable
// new/): nothing has been read or written then, and the caller uses tmp/,
// which also creates missing directories and reports the errors.
std::optional<Outcome> deliver_unnamed(const std::filesystem::path& maildir, const Envelope& envelope,
                                       ContentReader& content, const MaildirOptions& options,
                                       const std::function<std::string()>& next_name,
                                       std::filesystem::path* delivered) {
  const std::filesystem::path newdir = maildir / "new";
  UniqueFd fd(::open(newdir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, options.file_mode));
  if (!fd.valid() || !proc_fd_names(fd.get())) return std::nullopt;

  MessageFormatter formatter(envelope, options.copy, content);
  if (auto failure = copy_to_fd(formatter, fd.get(), 0, options.size_limit)) return failed(std::move(*failure));
  // Where the file's fsync also commits names it was given earlier
  // (fs_durability.h), the name is given first and one fsync makes data,
  // inode and name durable together. The data is written out before the
  // name exists, so that a crash before that fsync cannot leave a name in
  // new/ for a file whose blocks were never written (a journal may commit
  // the link on its own timer). Elsewhere: fsync, link, fsync new/.
  const bool one_sync = options.sync && fsync_commits_earlier_names(fd.get());
  if (options.sync) {
    int rc = one_sync ? ::sync_file_range(fd.get(), 0, 0,
                                          SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                              SYNC_FILE_RANGE_WAIT_AFTER)
                      : ::fsync(fd.get());
    if (rc < 0) return failed(write_failure(errno));
  }

  const std::string source = proc_fd_path(fd.get());
  std::filesystem::path newfile;
  for (int tries = 0;; ++tries) {
    newfile = newdir / next_name();
    if (::linkat(AT_FDCWD, source.c_str(), AT_FDCWD, newfile.c_str(), AT_SYMLINK_FOLLOW) == 0) break;
    int err = errno;
    if (err == EEXIST && tries < kMaxNameTries) continue;
    return create_failure(newfile, err, ::geteuid(), options.create_dsn);
  }

  // Durable before "delivered"; otherwise withdrawn, so that the retry does
  // not produce a duplicate.
  auto withdraw = [&](Outcome o) {
    (void)::unlink(newfile.c_str());
    return o;
  };
  if (one_sync && ::fsync(fd.get()) < 0) return withdraw(failed(write_failure(errno)));
  if (::close(fd.release()) < 0) return withdraw(failed(write_failure(errno)));
  if (options.sync && !one_sync) {
    UniqueFd dir(::open(newdir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir.valid() || ::fsync(dir.get()) < 0) return withdraw(sync_failure(newdir, errno));
  }
  if (delivered) *delivered = newfile;
  return Outcome::sent("delivered to maildir");
}

}  // namespace

std::string maildir_escape_hostname(std::string_view host) {
  std::string out;
  out.reserve(host.size());
  for (char c : host) {
    if (c == '/') {
      out += "\\057";
    } else if (c == ':') {
      out += "\\072";
    } else {
      out += c;
    }
  }
  return out;
}

std::string maildir_unique_name(const struct timeval& tv, pid_t pid, std::uint64_t counter,
                                std::string_view escaped_host) {
  return fmt::format("{}.M{}P{}Q{}.{}", static_cast<long long>(tv.tv_sec), static_cast<long>(tv.tv_usec),
                     static_cast<long>(pid), counter, escaped_host);
}

Outcome deliver_maildir(const std::filesystem::path& maildir, const Envelope& envelope,
                        ContentReader& content, const MaildirOptions& options,
                        std::filesystem::path* delivered) {
  if (maildir.empty()) return failed(Outcome::bounced("5.3.5", "empty maildir path", EINVAL));
  const std::string host =
      maildir_escape_hostname(options.hostname.empty() ? local_hostname() : options.hostname);
  const std::filesystem::path tmpdir = maildir / "tmp";
  const std::filesystem::path newdir = maildir / "new";
  struct timeval tv {};
  ::gettimeofday(&tv, nullptr);
  const pid_t pid = ::getpid();

  if (options.unnamed) {
    auto next_name = [&] { return maildir_unique_name(tv, pid, ++g_delivery_counter, host); };
    if (auto o = deliver_unnamed(maildir, envelope, content, options, next_name, delivered)) return *o;
  }

  // The tmp/ protocol. 1. A fresh file in tmp/.
  std::string name;
  std::filesystem::path tmpfile;
  UniqueFd fd;
  bool made_dirs = false;
  for (int tries = 0;; ++tries) {
    name = maildir_unique_name(tv, pid, ++g_delivery_counter, host);
    tmpfile = tmpdir / name;
    int f = ::open(tmpfile.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, options.file_mode);
    if (f >= 0) {
      fd.reset(f);
      break;
    }
    int err = errno;
    if (err == ENOENT && !made_dirs) {
      made_dirs = true;
      if (!make_maildir(maildir, options.dir_mode))
        return create_failure(tmpfile, errno, ::geteuid(), options.create_dsn);
      continue;
    }
    if (err == EEXIST && tries < kMaxNameTries) continue;
    return create_failure(tmpfile, err, ::geteuid(), options.create_dsn);
  }
  TmpRemover remove_tmp(tmpfile);

  // 2-3. Message, fsync, close (close can report a deferred write error on
  // network file systems).
  MessageFormatter formatter(envelope, options.copy, content);
  std::optional<Outcome> failure = copy_to_fd(formatter, fd.get(), 0, options.size_limit);
  if (!failure && options.sync && ::fsync(fd.get()) < 0) failure = write_failure(errno);
  if (!failure && ::close(fd.release()) < 0) failure = write_failure(errno);
  if (failure) return failed(std::move(*failure));

  // 4. Make it visible in new/ under a name of its own.
  std::filesystem::path newfile;
  bool made_new = false;
  for (int tries = 0;; ++tries) {
    newfile = newdir / name;
    if (::link(tmpfile.c_str(), newfile.c_str()) == 0) break;
    int err = errno;
    if (err == ENOENT && !made_new) {
      made_new = true;
      if (!make_dirs(newdir, options.dir_mode) || !make_dirs(maildir / "cur", options.dir_mode))
        return create_failure(newfile, errno, ::geteuid(), options.create_dsn);
      continue;
    }
    if (err == EEXIST && tries < kMaxNameTries) {
      name = maildir_unique_name(tv, pid, ++g_delivery_counter, host);
      continue;
    }
    if (no_hard_links(err)) {
      // File systems without hard links: rename() is atomic too.
      if (::rename(tmpfile.c_str(), newfile.c_str()) == 0) {
        remove_tmp.disarm();
        break;
      }
      err = errno;
    }
    return create_failure(newfile, err, ::geteuid(), options.create_dsn);
  }

  // 5. Make the directory entry durable before saying "delivered".
  if (options.sync) {
    UniqueFd dir(::open(newdir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir.valid() || ::fsync(dir.get()) < 0) {
      int err = errno;
      // Not durable: withdraw the message so that the retry does not
      // produce a duplicate.
      (void)::unlink(newfile.c_str());
      return sync_failure(newdir, err);
    }
  }
  if (delivered) *delivered = newfile;
  return Outcome::sent("delivered to maildir");
}

}  // namespace postern::deliver
