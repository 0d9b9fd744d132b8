// recycle.h - finished queue files reused as new ones (queue_directory/recycle).
//
// Why: on ext4 without a journal (the machines we benchmark on), allocating
// an inode skips every inode of the block group freed in the last 5-35
// seconds, reading each one's deletion time; at hundreds of messages a
// second, cleanup's file creation then costs more than the rest of its
// work. A file that is never freed costs nothing of the kind. Its blocks
// are kept too: freeing them (unlink, truncate) costs a synchronous
// discard request on file systems mounted with `discard` (0.3-1 ms that
// qmgr, single-threaded, spent blocked per message), and the next message
// would allocate them again. So:
//
//   qmgr     a message is finished: take away the file's ready mark
//            (fchmod 0600) and rename active/ID -> recycle/ID (instead of
//            unlink), unless the bin already holds `cap` files, has no
//            directory (an older queue tree), the file is larger than
//            kRecycleMaxSize or has a second name: then unlink as before.
//            The content stays until the file is reused (the bin is as
//            private as active/: the mail owner's, mode 0700).
//   cleanup  a new queue file: rename recycle/X to its temporary name (only
//            one process can win a rename), check it (regular file, one
//            link, ours, not above kRecycleMaxSize, no ready mark), write
//            the new message over the old bytes from offset 0, and cut the
//            file at the new end before the commit fsync; when the bin is
//            empty, create a file as before.
//
// Safety: a file in recycle/ is garbage to everything else (no scanner
// looks there). cleanup takes it by rename() to a name nobody else has and
// changes it only after the checks above. A reader never sees old bytes as
// part of a new message: the file is not ready (mode 0600) until the new
// content, its new length and the ready mark are fsynced together.
//
// The ready mark is what keeps a crash from reusing a queued message. The
// rename out of recycle/ is not made durable before the message is
// acknowledged (ext4 without a journal writes each directory back on its
// own, so after a crash the old name may still be there beside the new
// one, both on an inode that counts one link). Such a leftover name is
// harmless because of one invariant: the inode of an acknowledged message
// carries the ready mark on disk from cleanup's commit fsync on, and only
// qmgr takes it away, once the message is finished. So a file in recycle/
// WITH the mark may be a queued message's second name: cleanup puts it
// back untouched and passes over it. (A second name counted by the link
// count, as fsck repairs it after a crash, is refused as well; the name
// cleanup took is then simply removed.) Marked files also come from a bin
// filled by an older Postern, or from a crash between qmgr's rename and
// the write-back of the cleared mark: sweep_recycle_bin(), run by qmgr at
// start, clears the mark of every marked file whose inode no queue file
// has, and leaves the others alone.
//
// Reads no parameters. Logs nothing.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/result.h"
#include "queue/layout.h"
#include "queue/queue_id.h"

namespace postern::queue {

// Larger finished files are removed, not kept: they would hold more old
// content, and cutting a large file down for a small message frees (and
// discards) blocks on cleanup's critical path.
inline constexpr std::uint64_t kRecycleMaxSize = 256 * 1024;

// cleanup's side: candidate files to reuse.
class RecycleBin {
 public:
  explicit RecycleBin(std::filesystem::path queue_root);

  const std::filesystem::path& dir() const { return dir_; }
  // The next candidate (a full path; another process may take it first),
  // or nullopt when the bin was empty at its last reading. An empty bin
  // is read again after a short pause, not for every message.
  std::optional<std::filesystem::path> next();
  // A candidate found with the ready mark (see above) and put back: not
  // handed out again by this bin (at most kMaxPassedOver names).
  void pass_over(const std::string& name);

  static constexpr std::size_t kMaxPassedOver = 4096;

 private:
  std::filesystem::path dir_;
  std::mutex mu_;
  std::vector<std::string> names_;
  std::set<std::string> passed_over_;
  std::chrono::steady_clock::time_point retry_at_{};
};

// qmgr's side: where finished files go.
class Recycler {
 public:
  Recycler(std::filesystem::path queue_root, std::size_t cap);

  // Moves the finished queue file `path` (named `id`) into the bin; false
  // when it was not moved (bin full or missing, rename failed): the caller
  // then removes it as before.
  bool take(const std::filesystem::path& path, const QueueId& id);

 private:
  std::size_t count_bin();

  std::filesystem::path dir_;
  std::size_t cap_;
  std::size_t estimate_ = 0;      // files in the bin at the last count, plus ours since
  std::size_t since_count_ = 0;   // moves since the last count
};

// What sweep_recycle_bin() found in the bin.
struct SweepResult {
  std::size_t cleared = 0;  // marked files whose mark it took away (reusable now)
  std::size_t queued = 0;   // marked files whose inode a queue file has (left alone)
};

// qmgr at start: takes the ready mark off every file in recycle/ whose inode
// no file in incoming, active, deferred, hold or corrupt has (see above).
// Cheap when no file is marked (one lstat per bin entry); otherwise it also
// stats every queue file once. A queue that cannot be read leaves every
// marked file alone.
Result<SweepResult> sweep_recycle_bin(const std::filesystem::path& queue_root, const HashConfig& hash);

}  // namespace postern::queue
