// queue_id.h - queue IDs: the name of a message's queue file, in two formats.
//
// A queue ID is derived from the time a queue file was created and from the
// file's inode number, like Postfix's. The inode part makes the ID unique
// among the files that exist at the same time on the queue file system (the
// writer holds the inode while it names the file); the time part makes
// reuse of a freed inode produce a different name. Clock jumps therefore do
// not produce duplicates: at worst an ID repeats one that no longer exists.
//
// Short format (default, enable_long_queue_ids = no), as in Postfix:
//   5 upper-case hex digits of the microseconds (%05X, 0..F423F) followed
//   by the inode number in upper-case hex without leading zeros.
//   Example: 3F2A1C0D2 (usec 0x3F2A1, inode 0xC0D2).
//
// Long format (enable_long_queue_ids = yes), as in Postfix: the alphabet is
// the 52 "safe" characters 0-9, B-Z and b-z without vowels
// (0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz):
//   seconds     base 52, zero-padded to at least 6 characters,
//   microseconds base 52, exactly 4 characters,
//   'z'         separator,
//   inode       base 51 (the alphabet without 'z'), no padding.
//   Example: 4Ztk5Y1Bsbz3Hj.
//
// Parsing is strict and canonical (no leading zeros in the inode part, every
// value in range), so one file has exactly one valid name, and a valid ID is
// always a safe single path component (no '/', '.', or control characters).
//
// Hashing (hash_queue_depth) uses the microseconds because they vary fastest:
// hash_part() is the 5 hex digits of the microseconds for both formats (for
// long IDs, the base-52 microseconds converted to hex, as Postfix does), so
// hashed subdirectories are always named 0-9, A-F whatever the ID format.
#pragma once

#include <sys/types.h>

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace postern::queue {

enum class IdFormat { Short, Long };

class QueueId {
 public:
  // Longest valid ID: 8 seconds chars + 4 usec + 'z' + 12 inode chars
  // (long), or 5 + 16 hex digits (short).
  static constexpr std::size_t kMaxLength = 25;
  static constexpr std::size_t kHashPartLength = 5;

  // Validates and parses an ID read from anywhere (file names, command
  // lines, IPC, logs). Errors say why ("queue ID ...: bad character").
  static Result<QueueId> parse(std::string_view text);

  // Builds the ID for a file created at `sec`.`usec` with inode `inode`.
  // usec must be < 1000000 and inode > 0 (Result error otherwise).
  static Result<QueueId> make(IdFormat format, std::int64_t sec, std::uint32_t usec, std::uint64_t inode);

  const std::string& str() const { return text_; }
  const char* c_str() const { return text_.c_str(); }
  IdFormat format() const { return format_; }
  bool is_long() const { return format_ == IdFormat::Long; }
  std::uint32_t microseconds() const { return usec_; }
  std::uint64_t inode() const { return inode_; }
  // Creation time in seconds: long IDs only (short IDs do not carry it).
  std::optional<std::int64_t> seconds() const;
  // The 5 upper-case hex digits of the microseconds, used for hashing.
  std::string hash_part() const;

  friend bool operator==(const QueueId& a, const QueueId& b) { return a.text_ == b.text_; }
  friend std::strong_ordering operator<=>(const QueueId& a, const QueueId& b) { return a.text_ <=> b.text_; }

 private:
  QueueId() = default;
  std::string text_;
  IdFormat format_ = IdFormat::Short;
  std::int64_t sec_ = -1;
  std::uint32_t usec_ = 0;
  std::uint64_t inode_ = 0;
};

// enable_long_queue_ids value -> format.
inline IdFormat id_format(bool enable_long_queue_ids) {
  return enable_long_queue_ids ? IdFormat::Long : IdFormat::Short;
}

}  // namespace postern::queue
