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
//   qmgr     a message is finished: rename active/ID -> recycle/ID (instead of
//            unlink), unless the bin already holds `cap` files, has no
//            directory (an older queue tree), or the file is larger than
//            kRecycleMaxSize: then unlink as before. The content stays
//            until the file is reused (the bin is as private as active/:
//            the mail owner's, mode 0700).
//   cleanup  a new queue file: rename recycle/X to its temporary name (only
//            one process can win a rename), check it (regular file, one
//            link, ours, not above kRecycleMaxSize), take away its ready
//            mark (fchmod 0600) before it gets a queue name, write the new
//            message over the old bytes from offset 0, and cut the file at
//            the new end before the commit fsync; when the bin is empty,
//            create a file as before.
//
// Safety: a file in recycle/ is garbage to everything else (no scanner
// looks there). cleanup takes it by rename() to a name nobody else has,
// refuses a file with more than one link (a crash can leave a name in both
// active/ and recycle/ until fsck counts the links) and changes it only
// after those checks. A reader never sees old bytes as part of a new
// message: the file is not ready (mode 0600) until the new content, its
// new length and the ready mark are fsynced together. The recycle
// directory is fsynced with the new file's directory before the message is
// acknowledged (the writer lists it among its directories), so after a
// crash an acknowledged message's inode is never also named in recycle/.
//
// Reads no parameters. Logs nothing.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

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

 private:
  std::filesystem::path dir_;
  std::mutex mu_;
  std::vector<std::string> names_;
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

}  // namespace postern::queue
