// safe_open.h - open an existing mailbox for appending, or create it, without being tricked.
//
// Delivery writes files in directories that other users can write to
// (/var/mail with mode 1777 or 0775, home directories, file destinations
// from .forward). An attacker there can plant a symlink or a hard link to a
// sensitive file and wait for a privileged delivery to append to it, or swap
// the file between our checks and our open. safe_open_append() (Postfix's
// safe_open() with O_APPEND | O_CREAT) refuses:
//
//   - symbolic links: lstat() says so, and O_NOFOLLOW makes the open fail
//     even if a link appears after lstat();
//   - files that changed between lstat() and open(): the open descriptor's
//     fstat() must show the same device, inode, mode and link count;
//   - files with more than one hard link (st_nlink != 1);
//   - directories, and other non-regular files unless allow_special is set
//     (file deliveries to /dev/null); non-regular files are checked before
//     they are opened, so that opening a device has no side effect;
//   - existing files not owned by `required_owner` (strict_mailbox_ownership).
//
// A missing file is created with O_CREAT | O_EXCL | O_NOFOLLOW (which never
// follows a symlink) and `mode` (0600 by default, subject to the umask),
// then optionally given to chown_uid/chown_gid. If someone creates the file
// between our lstat() and our O_EXCL open, the existing-file checks run
// again, once.
//
// Failures come back as an Outcome (Attempt<OpenedFile>) so a refusal turns
// directly into a bounce or deferral:
//   - errno from open()/lstat(): Postfix's mbox_dsn() rule (EAGAIN -> 4.2.0,
//     ENOSPC -> 4.3.0, EDQUOT/EFBIG -> 5.2.2, else default_dsn, 5.2.0);
//   - symlink, hard links, directory, special file: default_dsn (permanent);
//   - wrong owner: 4.2.0, temporary, as Postfix does ("destination ... is not
//     owned by recipient"), so that the administrator can fix the file;
//   - file status changed between the checks: 4.2.0 (a race; try again).
// Texts follow Postfix's ("file is a symbolic link", "file has 2 hard links").
//
// The caller is responsible for running with the right privileges (the
// recipient's, or root with chown_uid set for a root-owned spool directory).
//
// Reads no parameters (callers pass strict_mailbox_ownership as
// required_owner). Logs a warning when fchown() of a new file fails.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>

#include "base/unique_fd.h"
#include "deliver/outcome.h"

namespace postern::deliver {

struct SafeOpenOptions {
  bool create = true;                   // create the file when it does not exist
  mode_t mode = 0600;                   // permissions of a created file
  std::optional<uid_t> required_owner;  // an existing file must belong to this uid
  std::optional<uid_t> chown_uid;       // owner for a created file
  std::optional<gid_t> chown_gid;       // group for a created file
  bool allow_special = false;           // accept character devices and FIFOs (not directories)
  std::string default_dsn = "5.2.0";    // for permanent problems
};

struct OpenedFile {
  UniqueFd fd;           // O_WRONLY | O_APPEND | O_CLOEXEC
  struct stat st {};     // fstat() of the open file
  bool created = false;  // we created it
  std::filesystem::path path;
};

Attempt<OpenedFile> safe_open_append(const std::filesystem::path& path, const SafeOpenOptions& options = {});

}  // namespace postern::deliver
