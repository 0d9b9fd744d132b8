// lock.h - exclusive mailbox locks: fcntl, flock and file.lock, with bounded retries.
//
// UNIX mailboxes are shared with mail readers (mutt, Dovecot, mail(1)), so a
// delivery must use the same locks they do. Which ones is the administrator's
// choice: mailbox_delivery_lock (local) or virtual_mailbox_lock (virtual), a
// list of
//
//   fcntl    POSIX record lock on the whole file (works over NFS, in theory);
//   flock    BSD flock() on the open file;
//   dotlock  create "file.lock" next to the mailbox with O_CREAT | O_EXCL
//            (mode 0644, containing "PID NONCE\n" - Postfix leaves it empty
//            with mode 0; mail readers only look at its existence and age).
//
// Like Postfix's mbox_open(), the dot lock is taken first, then flock, then
// fcntl, whatever the order in the list; kernel locks are only applied to
// regular files (delivery to /dev/null takes no lock).
//
// Retries follow Postfix's parameters (LockParams): up to
// deliver_lock_attempts tries, deliver_lock_delay apart (randomized by
// +-25% so that competing processes do not retry in lockstep). A file.lock
// whose change time is older than stale_lock_time is considered left behind
// by a crashed process and removed. Failure after the last attempt is
// "4.2.0 ... Resource temporarily unavailable" (the mailbox is busy: try
// again later); other errors map through mailbox_dsn().
//
// MailboxLock releases everything in its destructor: kernel locks through a
// duplicate of the mailbox descriptor (so the caller may close its own copy
// in any order), and the lock file is removed only if it is still the one we
// created (same device and inode, and the "PID NONCE" line we wrote into it,
// since inode numbers are reused at once), so that a lock broken as stale and taken
// over by another process is not removed under it.
//
// These calls block (sleep between attempts); delivery agents call them from
// their own process, one delivery at a time, as Postfix's local(8) does.
//
// Parameters (passed in by the caller): mailbox_delivery_lock or
// virtual_mailbox_lock, deliver_lock_attempts, deliver_lock_delay,
// stale_lock_time. Logs a warning when a stale lock is removed and when a
// dot lock cannot be created but may fail (dotlock_may_fail).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>

#include "base/result.h"
#include "base/unique_fd.h"
#include "deliver/outcome.h"

namespace postern::deliver {

struct LockMethods {
  bool fcntl = false;
  bool flock = false;
  bool dotlock = false;

  bool empty() const { return !fcntl && !flock && !dotlock; }
  // "fcntl, dotlock" (comma/space separated, case-insensitive). Unknown
  // names and duplicates are errors; the empty list means "no locking".
  static Result<LockMethods> parse(std::string_view value);
  // Canonical text in application order: "dotlock, flock, fcntl" subset.
  std::string to_string() const;
};

struct LockParams {
  int attempts = 20;                            // deliver_lock_attempts (>= 1)
  std::chrono::milliseconds delay{1000};        // deliver_lock_delay
  std::chrono::milliseconds stale{500 * 1000};  // stale_lock_time
  bool dotlock_may_fail = false;                // only warn when file.lock cannot be created (not "exists")
  std::string default_dsn = "5.2.0";
};

class MailboxLock {
 public:
  MailboxLock() = default;
  MailboxLock(MailboxLock&& o) noexcept;
  MailboxLock& operator=(MailboxLock&& o) noexcept;
  MailboxLock(const MailboxLock&) = delete;
  MailboxLock& operator=(const MailboxLock&) = delete;
  ~MailboxLock() { release(); }

  // Drops all locks now (idempotent).
  void release();

  bool has_fcntl() const { return fcntl_; }
  bool has_flock() const { return flock_; }
  bool has_dotlock() const { return !dotlock_path_.empty(); }
  const std::filesystem::path& dotlock_path() const { return dotlock_path_; }

 private:
  friend Attempt<MailboxLock> lock_mailbox(int, const std::filesystem::path&, const LockMethods&,
                                           const LockParams&);
  UniqueFd fd_;  // dup of the mailbox descriptor, for the kernel unlocks
  bool fcntl_ = false;
  bool flock_ = false;
  std::filesystem::path dotlock_path_;
  dev_t dot_dev_ = 0;
  ino_t dot_ino_ = 0;
  std::string dot_token_;
};

// Locks the open mailbox `fd` (whose name is `path`, for the dot lock) with
// the chosen methods. On failure nothing stays locked.
Attempt<MailboxLock> lock_mailbox(int fd, const std::filesystem::path& path, const LockMethods& methods,
                                  const LockParams& params = {});

// The building blocks, for callers that lock something other than a
// mailbox. Each returns an Error with sys_errno (EAGAIN when still busy
// after the last attempt).
//   try_kernel_lock: one non-blocking attempt; flock=false means fcntl.
Status try_kernel_lock(int fd, bool flock);
Status unlock_kernel(int fd, bool flock);

}  // namespace postern::deliver
