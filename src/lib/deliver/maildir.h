// maildir.h - deliver one message into a Maildir (tmp/ -> new/), atomically.
//
// deliver_maildir() writes each message so that a mail reader sees a
// complete message in new/ or nothing, and says "delivered" only once the
// message and its name in new/ are durable. Where it can, it writes the
// message into an unnamed file (open(2) with O_TMPFILE in new/) and names
// it with linkat(2) once complete:
//
//   1. open an unnamed file in new/ (mode 0600);
//   2. write the message: Return-Path:, X-Original-To:, Delivered-To: (as
//      chosen in CopyOptions::maildir()), then the content with plain LF
//      line ends, no From_ line, no quoting;
//   3. on ext4 and XFS, whose fsync of a file also commits the names it was
//      given before (base/fs_durability.h): write the data out
//      (sync_file_range), link it to new/NAME, and fsync it, which makes
//      data, inode and name durable in one flush instead of two. Writing
//      the data before the name exists keeps a journal that commits the link
//      on its own timer from naming a file whose blocks were never written.
//      Elsewhere: fsync, link, fsync new/.
//
// The unnamed file needs O_TMPFILE support in the file system and /proc
// (an unprivileged process names such a file through /proc/self/fd/N).
// Without either, or when new/ is missing or not writable, it follows the
// Maildir protocol (cr.yp.to/proto/maildir.html) the way Postfix's local(8)
// and virtual(8) do, plus the fsync of new/ that Postfix leaves out:
//
//   1. create tmp/NAME exclusively (O_CREAT | O_EXCL | O_NOFOLLOW, mode 0600);
//      missing Maildir directories (the Maildir itself, tmp/, new/, cur/,
//      mode 0700) are created when the first attempt fails with ENOENT;
//   2. write the message as above;
//   3. fsync() and close it;
//   4. link() it to new/NAME (rename() when the file system has no hard
//      links), then remove tmp/NAME;
//   5. fsync() the new/ directory, so the new name survives a crash.
// Either way, on any failure the unfinished file is gone (an unnamed one
// vanishes with its descriptor, a tmp/ file is removed), and a new/ entry
// that could not be made durable is removed too (the delivery is retried
// later: a duplicate is better than a loss, and no entry is better than a
// duplicate). A crash while an unnamed file is written leaves no file
// behind; on ext4 without a journal its blocks stay allocated until the
// next fsck, as a crashed tmp/ file's would until someone removes it.
//
// NAME is "SECONDS.M<usec>P<pid>Q<n>.HOST": SECONDS and usec from one
// gettimeofday() call, the process ID, a per-process delivery counter, and
// the host name with '/' written as "\057" and ':' as "\072" (the Maildir
// specification's escapes; ':' separates the info suffix in cur/). If the
// name is taken (it should not be), the counter moves on and we retry.
//
// mailbox_size_limit (size_limit) applies to each message file, as Postfix's
// file size limit does: exceeding it is "5.2.2 error writing message: File
// too large". Other failures: "create maildir file NAME: ..." and write
// errors map through mailbox_dsn() (default MaildirOptions::create_dsn for
// file creation: 5.2.0, local's, or 4.2.0, virtual's; 5.3.0 for writes); texts are prefixed with "maildir delivery failed: " as in
// Postfix. The caller runs this with the recipient's privileges.
//
// Reads no parameters itself (size limit and host name come in
// MaildirOptions; the caller derives the path from home_mailbox or
// virtual_mailbox_base). Logs a warning when a temporary file cannot be
// removed and when the Maildir directories cannot be created (permissions).
#pragma once

#include <sys/time.h>
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "deliver/copy.h"
#include "deliver/outcome.h"

namespace postern::deliver {

struct MaildirOptions {
  std::uint64_t size_limit = 0;  // per message file; 0 = no limit
  CopyOptions copy = CopyOptions::maildir();
  std::string hostname;  // empty: gethostname()
  mode_t dir_mode = 0700;
  mode_t file_mode = 0600;
  bool sync = true;  // make the file and its name durable (see above)
  bool unnamed = true;  // try the unnamed file first; false: always tmp/
  // The status of a Maildir file or directory that cannot be made, unless
  // its errno says more (mailbox_dsn()). Postfix's local bounces (a home
  // directory is its user's business), its virtual defers (the mailbox
  // base is the administrator's, who may need to create it first).
  std::string create_dsn = "5.2.0";
};

// `maildir` is the Maildir directory (".../Maildir/"). On success
// `delivered`, when given, receives the path of the file in new/.
Outcome deliver_maildir(const std::filesystem::path& maildir, const Envelope& envelope,
                        ContentReader& content, const MaildirOptions& options = {},
                        std::filesystem::path* delivered = nullptr);

// "1763915544.M123456P4711Q3.host" (see above).
std::string maildir_unique_name(const struct timeval& tv, pid_t pid, std::uint64_t counter,
                                std::string_view escaped_host);

// Host name with "/" -> "\057" and ":" -> "\072".
std::string maildir_escape_hostname(std::string_view host);

}  // namespace postern::deliver
