// mbox.cpp - all-or-nothing append to a UNIX mailbox (see mbox.h).
//
// Reads no parameters (they come in MboxOptions/MboxTarget). Logs a warning
// when the mailbox cannot be truncated back after a failed delivery.
#include "deliver/mbox.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "log/log.h"

namespace postern::deliver {

Outcome append_mbox(int fd, const Envelope& envelope, ContentReader& content, const MboxOptions& options) {
  // With O_APPEND every write goes to the end anyway; the offset tells us
  // where to cut if the delivery fails.
  off_t start = ::lseek(fd, 0, SEEK_END);
  if (start < 0) {
    int err = errno;
    return Outcome::from_errno(err, "5.3.0", fmt::format("cannot seek mailbox: {}", std::strerror(err)));
  }
  MessageFormatter formatter(envelope, options.copy, content);
  std::optional<Outcome> failure =
      copy_to_fd(formatter, fd, static_cast<std::uint64_t>(start), options.size_limit);
  if (!failure && options.sync && ::fsync(fd) < 0) {
    int err = errno;
    failure = Outcome::from_errno(err, "5.3.0", fmt::format("error writing message: {}", std::strerror(err)));
  }
  if (failure) {
    // Undo: never leave a partial message where the mail reader will see it.
    // Complaining about an undo that failed is all we can do.
    if (::ftruncate(fd, start) < 0)
      log::warning("cannot truncate mailbox back to {} bytes: {}", static_cast<long long>(start),
                   std::strerror(errno));
    else if (options.sync)
      (void)::fsync(fd);
    return std::move(*failure);
  }
  if (options.start_out) *options.start_out = static_cast<std::uint64_t>(start);
  return Outcome::sent("delivered to mailbox");
}

Outcome deliver_mbox(const MboxTarget& target, const Envelope& envelope, ContentReader& content,
                     const MboxOptions& options) {
  auto file = safe_open_append(target.path, target.open);
  if (!file) return file.take_failure();
  // Open first, then lock (as Postfix does): never dot-lock a special file.
  LockParams lp = target.lock_params;
  lp.default_dsn = target.open.default_dsn;
  auto lock = lock_mailbox(file->fd.get(), target.path, target.locks, lp);
  if (!lock) return lock.take_failure();

  // While we waited for the lock, a mail reader may have replaced the
  // mailbox (unlink + create): then we hold the old, deleted file. And a
  // hard link may have appeared. Either way st_nlink is no longer 1.
  if (S_ISREG(file->st.st_mode)) {
    struct stat st {};
    if (::fstat(file->fd.get(), &st) < 0 || st.st_nlink != 1) {
      log::warning("{}: file status changed unexpectedly", target.path.string());
      return Outcome::deferred("4.2.0", "target file status changed unexpectedly", EAGAIN);
    }
  }
  Outcome result = append_mbox(file->fd.get(), envelope, content, options);
  // Unlock (dot lock removed) before the descriptor closes: the MailboxLock
  // goes first, then the file. Explicit, rather than relying on declaration order.
  lock->release();
  file->fd.reset();
  return result;
}

}  // namespace postern::deliver
