// mbox.h - append one message to a UNIX mailbox file, all or nothing.
//
// append_mbox() writes the message (formatted by MessageFormatter with
// CopyOptions::mbox(): From_ line, Return-Path:, X-Original-To:,
// Delivered-To:, ">From " quoting, empty line at the end) at the end of an
// open mailbox, then fsync()s it. On any failure - a write error, a read
// error from the queue file, or mailbox_size_limit - the file is truncated
// back to its original size, as Postfix's mail_copy() does, so a failed
// delivery never leaves half a message for the mail reader to find.
//
// mailbox_size_limit (size_limit, 0 = none) bounds the size of the mailbox
// file including the new message. Postfix enforces it as a file size
// resource limit, so exceeding it is a write error with EFBIG: "5.2.2 error
// writing message: File too large", a bounce (mbox_dsn() maps EFBIG to
// 5.2.2 "mailbox full"). We check before each write instead of using
// RLIMIT_FSIZE (which is process-wide), with the same result.
//
// Status codes (Postfix mail_copy()): write errors map through mailbox_dsn()
// with default 5.3.0 (so EAGAIN -> 4.2.0, ENOSPC -> 4.3.0, EDQUOT/EFBIG ->
// 5.2.2); read errors are "error reading message" with 4.3.0 for EAGAIN or
// ESTALE, a deferral (4.3.0) for a corrupt queue file (EBADMSG, which the
// caller should report as corrupt), 5.3.0 otherwise.
//
// deliver_mbox() is the whole sequence for one mailbox: safe_open_append(),
// lock_mailbox(), a check that the file was not unlinked or linked
// elsewhere while we waited for the lock (st_nlink must still be 1, Postfix
// "target file status changed unexpectedly"), append_mbox(), unlock, close.
// The caller adds context ("cannot update mailbox %s for user %s. ") with
// Outcome::prepend(), and runs with the right privileges.
//
// Reads no parameters itself: mailbox_size_limit / virtual_mailbox_limit,
// mailbox_delivery_lock / virtual_mailbox_lock, deliver_lock_* and
// strict_mailbox_ownership come in through the option structs. Logs a
// warning when truncating after a failure fails.
#pragma once

#include <cstdint>
#include <filesystem>

#include "deliver/copy.h"
#include "deliver/lock.h"
#include "deliver/outcome.h"
#include "deliver/safe_open.h"

namespace postern::deliver {

struct MboxOptions {
  std::uint64_t size_limit = 0;  // mailbox_size_limit; 0 = no limit
  CopyOptions copy = CopyOptions::mbox();
  bool sync = true;  // fsync() before reporting success
  // Set on success to the offset where the new message begins (biff).
  std::uint64_t* start_out = nullptr;
};

// Appends to `fd` (open for writing, normally O_APPEND and locked).
// Success: sent "2.0.0 delivered to mailbox".
Outcome append_mbox(int fd, const Envelope& envelope, ContentReader& content,
                    const MboxOptions& options = {});

struct MboxTarget {
  std::filesystem::path path;
  SafeOpenOptions open;    // ownership checks, creation mode/owner
  LockMethods locks;       // mailbox_delivery_lock
  LockParams lock_params;  // deliver_lock_attempts/delay, stale_lock_time
};

Outcome deliver_mbox(const MboxTarget& target, const Envelope& envelope, ContentReader& content,
                     const MboxOptions& options = {});

}  // namespace postern::deliver
