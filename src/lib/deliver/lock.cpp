// lock.cpp - mailbox locking with Postfix's retry and stale-lock rules (see lock.h).
//
// Parameters (from the caller): mailbox_delivery_lock / virtual_mailbox_lock,
// deliver_lock_attempts, deliver_lock_delay, stale_lock_time. Logs stale lock
// removal and dot-lock failures that are allowed to fail.
#include "deliver/lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <random>
#include <thread>

#include "base/strings.h"
#include "log/log.h"

namespace postern::deliver {

Result<LockMethods> LockMethods::parse(std::string_view value) {
  LockMethods m;
  for (const auto& word : str::split(value, ", \t\r\n")) {
    std::string w = str::lower(word);
    // Repeated names are harmless (Postfix ORs them into a mask).
    if (w == "fcntl") {
      m.fcntl = true;
    } else if (w == "flock") {
      m.flock = true;
    } else if (w == "dotlock") {
      m.dotlock = true;
    } else {
      return make_error("unknown mailbox lock type \"{}\" (expected fcntl, flock or dotlock)",
                        str::printable(word, 64));
    }
  }
  return m;
}

std::string LockMethods::to_string() const {
  std::string s;
  auto add = [&s](const char* name) {
    if (!s.empty()) s += ", ";
    s += name;
  };
  if (dotlock) add("dotlock");
  if (flock) add("flock");
  if (fcntl) add("fcntl");
  return s;
}

Status try_kernel_lock(int fd, bool use_flock) {
  int rc;
  if (use_flock) {
    do rc = ::flock(fd, LOCK_EX | LOCK_NB);
    while (rc < 0 && errno == EINTR);
  } else {
    struct flock fl {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = 0;
    fl.l_len = 0;  // the whole file, however long it grows
    do rc = ::fcntl(fd, F_SETLK, &fl);
    while (rc < 0 && errno == EINTR);
  }
  if (rc < 0) {
    // fcntl() may say EACCES for "held by someone else"; report it as busy.
    if (errno == EACCES || errno == EWOULDBLOCK) errno = EAGAIN;
    return sys_error("unable to lock for exclusive access");
  }
  return {};
}

Status unlock_kernel(int fd, bool use_flock) {
  int rc;
  if (use_flock) {
    rc = ::flock(fd, LOCK_UN);
  } else {
    struct flock fl {};
    fl.l_type = F_UNLCK;
    fl.l_whence = SEEK_SET;
    rc = ::fcntl(fd, F_SETLK, &fl);
  }
  if (rc < 0) return sys_error("unable to unlock");
  return {};
}

namespace {

// deliver_lock_delay, randomized by +-25% (Postfix's rand_sleep()).
void lock_delay(const LockParams& p) {
  if (p.delay.count() <= 0) return;
  static thread_local std::minstd_rand rng(static_cast<unsigned>(::getpid()) ^
                                           static_cast<unsigned>(std::time(nullptr)));
  auto ms = p.delay.count();
  std::uniform_int_distribution<long long> jitter(-ms / 4, ms / 4);
  std::this_thread::sleep_for(std::chrono::milliseconds(ms + jitter(rng)));
}

Status kernel_lock_with_retries(int fd, bool use_flock, const LockParams& p) {
  int attempts = p.attempts < 1 ? 1 : p.attempts;
  for (int i = 1;; ++i) {
    Status s = try_kernel_lock(fd, use_flock);
    if (s.ok() || i >= attempts) return s;
    lock_delay(p);
  }
}

bool lock_is_stale(const struct stat& st, std::chrono::milliseconds stale) {
  struct timespec now {};
  ::clock_gettime(CLOCK_REALTIME, &now);
  auto age = std::chrono::seconds(now.tv_sec - st.st_ctim.tv_sec) +
             std::chrono::nanoseconds(now.tv_nsec - st.st_ctim.tv_nsec);
  return age > stale;
}

struct DotLock {
  dev_t dev = 0;
  ino_t ino = 0;
  std::string token;
};

// What we write into our lock file: "PID NONCE\n". Mail readers that look
// at lock files expect a PID there (liblockfile writes one); the nonce lets
// release() recognize the file as ours even when its inode number was reused.
std::string lock_token() {
  static thread_local std::mt19937_64 rng(std::random_device{}() ^ static_cast<unsigned>(::getpid()));
  return fmt::format("{} {:016x}\n", static_cast<long>(::getpid()), rng());
}

// Postfix's dot_lockfile(): O_EXCL create, break stale locks, bounded tries.
Result<DotLock> create_dotlock(const std::string& lock_file, const LockParams& p) {
  int attempts = p.attempts < 1 ? 1 : p.attempts;
  for (int count = 1;; ++count) {
    // O_CREAT | O_EXCL never follows a symlink planted at the lock name.
    int fd = ::open(lock_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd >= 0) {
      struct stat st {};
      DotLock d;
      d.token = lock_token();
      if (::fstat(fd, &st) == 0) {
        d.dev = st.st_dev;
        d.ino = st.st_ino;
      }
      // Best effort: an empty lock file still locks.
      if (::write(fd, d.token.data(), d.token.size()) != static_cast<ssize_t>(d.token.size()))
        d.token.clear();
      ::close(fd);
      return d;
    }
    int err = errno;
    if (count >= attempts || err != EEXIST) {
      errno = err;
      return sys_error("unable to create lock file {}", lock_file);
    }
    struct stat st {};
    bool removed = false;
    if (::lstat(lock_file.c_str(), &st) == 0 && lock_is_stale(st, p.stale)) {
      if (::unlink(lock_file.c_str()) < 0) {
        if (errno != ENOENT) return sys_error("unable to remove stale lock file {}", lock_file);
      } else {
        log::warning("removed stale lock file {}", lock_file);
        removed = true;
      }
    }
    // After breaking a stale lock, try again at once; otherwise wait.
    if (!removed) lock_delay(p);
  }
}

}  // namespace

MailboxLock::MailboxLock(MailboxLock&& o) noexcept
    : fd_(std::move(o.fd_)),
      fcntl_(std::exchange(o.fcntl_, false)),
      flock_(std::exchange(o.flock_, false)),
      dotlock_path_(std::move(o.dotlock_path_)),
      dot_dev_(o.dot_dev_),
      dot_ino_(o.dot_ino_),
      dot_token_(std::move(o.dot_token_)) {
  o.dotlock_path_.clear();
}

MailboxLock& MailboxLock::operator=(MailboxLock&& o) noexcept {
  if (this != &o) {
    release();
    fd_ = std::move(o.fd_);
    fcntl_ = std::exchange(o.fcntl_, false);
    flock_ = std::exchange(o.flock_, false);
    dotlock_path_ = std::move(o.dotlock_path_);
    o.dotlock_path_.clear();
    dot_dev_ = o.dot_dev_;
    dot_ino_ = o.dot_ino_;
    dot_token_ = std::move(o.dot_token_);
  }
  return *this;
}

void MailboxLock::release() {
  int saved = errno;
  if (fd_.valid()) {
    if (fcntl_) (void)unlock_kernel(fd_.get(), false);
    if (flock_) (void)unlock_kernel(fd_.get(), true);
    fd_.reset();
  }
  fcntl_ = flock_ = false;
  if (!dotlock_path_.empty()) {
    // Remove the lock file only if it is still ours: if it was broken as
    // stale and recreated by another process, it is theirs now. The inode
    // number alone does not tell (a freed inode is often reused at once),
    // so the token we wrote must be there too.
    bool ours = false;
    int fd = ::open(dotlock_path_.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd >= 0) {
      struct stat st {};
      char buf[128];
      ssize_t n = ::read(fd, buf, sizeof(buf));
      if (::fstat(fd, &st) == 0 && st.st_dev == dot_dev_ && st.st_ino == dot_ino_ && n >= 0)
        ours = std::string_view(buf, static_cast<std::size_t>(n)) == dot_token_;
      ::close(fd);
    }
    if (ours) (void)::unlink(dotlock_path_.c_str());
    dotlock_path_.clear();
  }
  errno = saved;
}

Attempt<MailboxLock> lock_mailbox(int fd, const std::filesystem::path& path, const LockMethods& methods,
                                  const LockParams& params) {
  MailboxLock lock;
  struct stat st {};
  if (::fstat(fd, &st) < 0) {
    int err = errno;
    return Outcome::from_errno(err, params.default_dsn,
                               fmt::format("cannot fstat {}: {}", path.string(), std::strerror(err)));
  }
  // Locks make sense for regular files only: never dot-lock /dev/null.
  if (!S_ISREG(st.st_mode) || methods.empty()) return lock;

  int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (dup < 0) {
    int err = errno;
    return Outcome::from_errno(err, "4.3.0",
                               fmt::format("cannot duplicate descriptor: {}", std::strerror(err)));
  }
  lock.fd_.reset(dup);

  if (methods.dotlock) {
    std::string lock_file = path.string() + ".lock";
    auto d = create_dotlock(lock_file, params);
    if (d) {
      lock.dotlock_path_ = lock_file;
      lock.dot_dev_ = d->dev;
      lock.dot_ino_ = d->ino;
      lock.dot_token_ = d->token;
    } else if (d.error().sys_errno == EEXIST) {
      // Somebody holds a fresh lock: the mailbox is busy.
      return Outcome::from_errno(EAGAIN, params.default_dsn, d.error().message);
    } else if (params.dotlock_may_fail) {
      log::warning("{}", d.error().message);
    } else {
      return Outcome::from_errno(d.error().sys_errno, params.default_dsn, d.error().message);
    }
  }
  if (methods.flock) {
    Status s = kernel_lock_with_retries(lock.fd_.get(), true, params);
    if (!s) return Outcome::from_errno(s.error().sys_errno, params.default_dsn, s.error().message);
    lock.flock_ = true;
  }
  if (methods.fcntl) {
    Status s = kernel_lock_with_retries(lock.fd_.get(), false, params);
    if (!s) return Outcome::from_errno(s.error().sys_errno, params.default_dsn, s.error().message);
    lock.fcntl_ = true;
  }
  return lock;
}

}  // namespace postern::deliver
