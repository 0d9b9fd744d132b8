// writer.h - create a queue file safely: unique name, bounded memory, durable commit.
//
// Naming (like Postfix's mail_queue_enter): the writer creates a uniquely
// named temporary file "tmp.PID.N.RANDOM" with O_EXCL in the top of the
// target queue directory, derives the queue ID from the current time's
// microseconds and that file's inode number (unique among existing files on
// the file system), and renames the file to its ID without replacing
// anything (renameat2 RENAME_NOREPLACE, or link+unlink where the file system
// lacks it), retrying with a fresh timestamp on a collision. Missing hash
// subdirectories are created on the way.
//
// Writing: records go through a 64 KiB buffer straight to the descriptor;
// the message content is never held in memory. The order of calls is the
// file's order: begin() (size, warning, arrival, sender records), then any
// add_attribute()/add_recipient(), then add_line()/add_partial() for the
// content, then add_extracted_*(), then the commit steps.
//
// Commit steps (commit() does them all, in this order):
//   finish_write()    writes the missing segment markers and the end record,
//                     patches the size record, and hands every byte to the
//                     kernel (write(2); no fsync yet);
//   sync()            optional: fsync(2) of the file's data and size;
//   mark_ready()      fchmod 0700 (the owner execute bit is the "complete"
//                     mark readers require), then one fsync(2) that makes
//                     data, size and mark durable together (as Postfix's
//                     mail_stream_finish_file(): flush, fchmod, fsync). A
//                     crash before it returns may leave a marked file with
//                     torn content; nobody was told it was queued, and the
//                     reader's validation (size record, end record, record
//                     framing) sends such a file to corrupt/, never to a
//                     mailbox;
//   sync_directory()  fsync(2) of the directory holding the name (and of any
//                     hash directory created for it), so the name survives
//                     a crash. Only now is the file committed. (Skipped
//                     where the directory is not readable: postdrop in
//                     maildrop, mode 0730; see writer.cpp. Nothing is
//                     fsynced on ext4 and XFS: the file's own fsync in
//                     mark_ready() already commits every name made before
//                     it (base/fs_durability.h), and the recycle bin a
//                     reused file left needs none (recycle.h).)
// A cleanup daemon may batch many writers (group commit): finish_write() on
// each, then mark_ready() on each, then one sync_directories(writers) that
// fsyncs every distinct directory once and marks all of them committed.
// presync_directories() may run early, on another thread, while the content
// is still being written (the name exists from create() on): the commit
// then skips the directory fsync, taking it off the critical path.
//
// The destructor removes the file unless it was committed; so does any
// failed step (the writer then refuses further calls). A crash before the
// ready mark leaves a file readers refuse (is_not_ready), which postsuper
// may remove.
//
// Reads no parameters (the caller passes queue_directory, hash_queue_names,
// hash_queue_depth, enable_long_queue_ids through WriterOptions). Logs a
// warning when it cannot remove an abandoned file.
#pragma once

#include <cstdint>
#include <atomic>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <memory>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "queue/layout.h"
#include "queue/queue_file.h"
#include "queue/queue_id.h"
#include "queue/recycle.h"

namespace postern::queue {

struct WriterOptions {
  std::filesystem::path queue_root;  // queue_directory
  QueueName queue = QueueName::Incoming;
  HashConfig hash = HashConfig::defaults();
  IdFormat id_format = IdFormat::Short;
  // Permission bits: the owner's apply while writing; the ready mark sets
  // them with S_IXUSR added, and with the group and other read bits given
  // here (postdrop's 0444: pickup, another user, may read the file from the
  // moment it is complete, and not before). Write bits for others never.
  mode_t mode = 0600;
  // Reuse a finished file from queue_directory/recycle when there is one
  // (recycle.h); nullptr: always create a new file.
  RecycleBin* recycle = nullptr;
};

struct EnvelopeStart {
  std::string sender;             // empty: null sender
  std::int64_t arrival_sec = -1;  // -1: now
  std::uint32_t arrival_usec = 0;
  std::int64_t warning_time = 0;  // 0: no delay warning
};

class QueueFileWriter {
 public:
  static Result<QueueFileWriter> create(const WriterOptions& options);

  QueueFileWriter(QueueFileWriter&&) noexcept;
  QueueFileWriter& operator=(QueueFileWriter&&) noexcept;
  QueueFileWriter(const QueueFileWriter&) = delete;
  QueueFileWriter& operator=(const QueueFileWriter&) = delete;
  ~QueueFileWriter();

  const QueueId& id() const { return id_; }
  const std::filesystem::path& path() const { return path_; }
  int fd() const { return fd_.get(); }

  // Envelope. begin() must come first.
  Status begin(const EnvelopeStart& env);
  Status add_attribute(std::string_view name, std::string_view value);
  // Returns the record offset (what mark_recipient_done() takes).
  Result<std::uint64_t> add_recipient(const RecipientFields& r);

  // Content: one line without its terminator (no CR LF stored). Lines longer
  // than kMaxContentRecord are stored as several pieces.
  Status add_line(std::string_view line);
  // A piece of a line that continues with the next add_line/add_partial.
  Status add_partial(std::string_view piece);

  // Extracted segment (recipients from headers with sendmail -t, attributes
  // learned while reading the content).
  Status add_extracted_attribute(std::string_view name, std::string_view value);
  Result<std::uint64_t> add_extracted_recipient(const RecipientFields& r);

  // Commit steps, see the header comment.
  Status finish_write();
  Status sync();
  Status mark_ready();
  Status sync_directory();
  Status commit();
  // fsyncs the directories now; safe to call from another thread while this
  // thread writes records (it reads only the immutable directory list).
  Status presync_directories();

  // The same as a detached job that does not keep the writer alive (an
  // abandoned writer must remove its file at once, not when a pool thread
  // gets round to the job): it holds copies of the directory list and of
  // the shared "done" flag.
  struct DirectorySync {
    std::vector<std::filesystem::path> dirs;
    std::shared_ptr<std::atomic<bool>> done;
    Status run() const;
  };
  // fsync(2) of each directory in turn (what DirectorySync::run() does
  // before it sets its flag): for callers that share one such flush among
  // several writers (cleanup/presync.h).
  static Status sync_directory_list(const std::vector<std::filesystem::path>& dirs);
  DirectorySync directory_sync() const { return {dirs_, dirs_synced_}; }
  // Where the file's own fsync commits the names made for it (ext4, XFS:
  // base/fs_durability.h), the directories holding them: nothing requires
  // their fsync, but on ext4 without a journal the file's fsync writes a
  // changed parent itself, one block write after another (data, inode,
  // directory block, directory inode, then the cache flush). Flushing them
  // early, while the content still arrives, leaves the commit's fsync only
  // the file's own blocks when nothing else changed the directory since.
  // Empty elsewhere; the job's flag means nothing.
  DirectorySync warm_sync() const { return {warm_dirs_, std::make_shared<std::atomic<bool>>(false)}; }
  // True when no directory fsync is (still) due: done, or made unnecessary
  // by the file system (see sync_directory above).
  bool directories_synced() const { return dirs_synced_->load(std::memory_order_acquire); }
  static Status sync_directories(std::span<QueueFileWriter* const> writers);

  // Removes the file now (also what the destructor does when uncommitted).
  void abandon();

  // Moves the file, not yet marked ready, to queue `q` (under the same ID,
  // in its hash subdirectory there): cleanup's hold action, so that qmgr,
  // which only looks at ready files in incoming, never sees it. The commit
  // then fsyncs both directories. On failure the file is removed.
  Status move_to_queue(const std::filesystem::path& queue_root, QueueName q, const HashConfig& hash);

  bool committed() const { return state_ == State::Committed; }
  std::uint64_t content_size() const { return size_.content_size; }
  std::uint64_t recipient_count() const { return size_.recipient_count; }
  std::uint64_t bytes_written() const { return offset_; }

 private:
  enum class State { Fresh, Envelope, Content, Extracted, Written, Synced, Ready, Committed, Failed };
  QueueFileWriter(QueueId id) : id_(std::move(id)) {}
  Status fail(Error e);
  Status put_record(RecordType type, std::string_view payload);
  Status flush_buffer();
  Status enter(State s);  // writes the M/X markers needed to reach s
  Status require_open(const char* what);
  Status note_typed_attribute(std::string_view name);

  QueueId id_;
  std::filesystem::path path_;
  std::vector<std::filesystem::path> dirs_;  // to fsync: the file's dir, then created parents
  std::vector<std::filesystem::path> warm_dirs_;  // see warm_sync()
  std::shared_ptr<std::atomic<bool>> dirs_synced_ = std::make_shared<std::atomic<bool>>(false);
  UniqueFd fd_;
  mode_t mode_ = 0600;
  State state_ = State::Fresh;
  std::string buf_;
  std::uint64_t offset_ = 0;  // logical file size (written + buffered)
  // A reused file's length when taken from the bin: its old bytes are
  // overwritten in place, and what lies beyond the new end is cut off
  // before the ready mark (recycle.h).
  std::uint64_t stale_size_ = 0;
  SizeRecord size_;
  bool partial_open_ = false;            // last content record was L
  std::vector<std::string> typed_seen_;  // typed attributes written in this segment
};

namespace detail {
// rename(2) that fails with EEXIST instead of replacing `to` (renameat2
// RENAME_NOREPLACE, or link+unlink). Exposed for tests.
int rename_noreplace(const std::filesystem::path& from, const std::filesystem::path& to);
}  // namespace detail

}  // namespace postern::queue
