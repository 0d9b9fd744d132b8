// update.h - in-place changes to a committed queue file, and the ready mark.
//
// qmgr and the delivery agents never rewrite a queue file: a finished
// recipient is recorded by changing its record type byte from R to D, and a
// new delay-warning time by rewriting the fixed-width W record. Both are one
// pwrite(2) followed by fsync(2), so a crash leaves either the old or the new
// value (a single byte cannot be torn; the 15-byte warning field lies inside
// one disk sector in practice, and a torn value would fail validation rather
// than be misread, because the field is digits padded with spaces).
//
// Before writing, each function checks that the offset really holds the
// expected record: the size record is read to find the segments, the header
// at the offset must be an R/D (or W) record with a plausible length lying
// inside the envelope or extracted segment, and the payload must decode. A
// wrong offset is an error, never a damaged file.
//
// Reads no parameters, logs nothing.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <filesystem>

#include "base/result.h"

namespace postern::queue {

// Marks the recipient record at `offset` done and fsyncs (sync = false: the
// write only, as Postfix's delivery agents mark a finished recipient; a
// process that reads the file next sees it, a machine crash may lose it and
// deliver the recipient twice, never lose it). Marking a done recipient
// again succeeds without writing. `fd` must be open for writing.
Status mark_recipient_done(int fd, std::uint64_t offset, bool sync = true);
Status mark_recipient_done(const std::filesystem::path& path, std::uint64_t offset);

// Rewrites the warning time (0: no warning) and fsyncs.
Status set_warning_time(int fd, std::int64_t when);
Status set_warning_time(const std::filesystem::path& path, std::int64_t when);

// The ready mark: a regular file whose owner execute bit is set.
bool is_ready_mode(mode_t mode);
// lstat(2)s `path`: true when it is a regular file with the ready mark,
// false when it exists without the mark, Error when it cannot be stat'ed.
Result<bool> is_ready(const std::filesystem::path& path);

// The forced-expiration mark (postsuper -e/-f, Postfix's
// MAIL_QUEUE_STAT_EXPIRE): the group execute bit of a ready file. qmgr
// returns such a message to its sender instead of delivering it; showq
// reports it (forced_expire, '#' in mailq). The writers' ready mark and
// the recycle bin set the mode outright, so a new message never inherits it.
inline constexpr mode_t kExpireMark = S_IXGRP;
inline bool is_force_expired_mode(mode_t mode) { return (mode & kExpireMark) != 0; }
// Sets the mark on a ready queue file (fchmod through an O_NOFOLLOW open,
// so a name swapped for a symlink is refused). Result: true when it was
// newly set, false when the file had it already; Error when the file is
// gone (ENOENT), not ready (is_not_ready(), queue_file.h), or cannot be
// changed.
Result<bool> set_expire_mark(const std::filesystem::path& path);

// The unthrottle mark (Postfix's MAIL_QUEUE_STAT_UNTHROTTLE, set by its
// flush service for postqueue -i): the group read bit of a ready file.
// qmgr takes such a message as a flush of its own: the destinations and
// transports of its recipients are no longer treated as dead and
// defer_transports does not hold it; qmgr then clears the mark. Set the
// same way as the expire mark (same results).
inline constexpr mode_t kUnthrottleMark = S_IRGRP;
inline bool is_unthrottle_mode(mode_t mode) { return (mode & kUnthrottleMark) != 0; }
Result<bool> set_unthrottle_mark(const std::filesystem::path& path);

}  // namespace postern::queue
