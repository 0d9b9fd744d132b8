// status_log.h - the per-message logs under bounce/, defer/ and trace/.
//
// The bounce program keeps, for each queued message with a failed, delayed
// or traced recipient, a log file named by the queue ID in the directory of
// its service (queue_directory/bounce/ID, defer/ID, trace/ID). showq reads
// defer/ID to print why a message waits (postqueue -p, -j); the bounce
// program reads all three to write notifications.
//
// Format: text, one entry per recipient, each a block of "name=value" lines
// closed by an empty line, appended with one write(2) and fsynced:
//
//   recipient=joe@example.com
//   original_recipient=Joe@Example.COM
//   orcpt=rfc822;joe@example.com
//   notify=4
//   status=4.4.1
//   action=delayed
//   reason=connect to mx.example.com[192.0.2.1]:25: Connection refused
//   relay=none
//   time=1764633600
//
// Names are [a-z_]; values are single-line (no NUL, CR or LF; the writer
// refuses such values rather than let a remote reply forge an entry). Empty
// optional values (original_recipient, orcpt) are omitted. The reader is
// bounded (kMaxLogFile bytes, kMaxLogLine per line) and skips malformed
// entries, counting them, instead of failing: a damaged log must not stop a
// notification or a queue listing.
//
// Torn writes (a full disk, a crash before the fsync) must not merge into
// the next entry, where the torn recipient's fields would mix with the next
// one's and that recipient's own "recipient=" line would vanish into a
// broken name. So an append holds an exclusive flock(2) on the file, cuts
// the file back to where it started when its write fails, and first ends
// whatever a crashed writer left unfinished (a missing newline, a missing
// closing empty line). "time" is the last line of every entry: the reader
// takes an entry without it as torn.
//
// Reads no parameters, logs nothing.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace postern::queue {

inline constexpr std::size_t kMaxLogFile = 16 * 1024 * 1024;
inline constexpr std::size_t kMaxLogLine = 8192;

struct StatusEntry {
  std::string recipient;           // required
  std::string original_recipient;  // optional
  std::string orcpt;               // optional, "addr-type;xtext"
  unsigned notify = 0;             // queue::DsnNotify bits
  std::string status;              // RFC 3463 code, required
  std::string action;              // failed | delayed | delivered | relayed | expanded
  std::string reason;              // diagnostic text
  std::string relay;               // "host[addr]:port", "local", "none"
  std::int64_t time = 0;           // unix seconds of the attempt

  bool operator==(const StatusEntry&) const = default;
};

// The text of one entry (ending with the empty line), or an Error when a
// value would break the format (NUL/CR/LF, over-long, missing field).
Result<std::string> format_status_entry(const StatusEntry& e);

struct StatusLog {
  std::vector<StatusEntry> entries;  // file order
  std::size_t malformed = 0;         // entries skipped
};

// Parses log text; never fails (see above), stops at kMaxLogFile bytes.
StatusLog parse_status_log(std::string_view text);

// Appends entries to `path` (created 0600 if missing, O_APPEND, O_NOFOLLOW,
// regular files only) with one write and fsync.
Status append_status_log(const std::filesystem::path& path, const std::vector<StatusEntry>& entries);

// Reads and parses `path` (O_NOFOLLOW, regular file, at most kMaxLogFile
// bytes read). ENOENT is an Error with sys_errno ENOENT.
Result<StatusLog> read_status_log(const std::filesystem::path& path);

}  // namespace postern::queue
