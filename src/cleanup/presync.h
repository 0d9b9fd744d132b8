// presync.h - one directory fsync for all the queue files that asked for it
// while the previous one was running.
//
// Where the file's own fsync does not commit its new name (tmpfs, NFS,
// Btrfs: base/fs_durability.h), every queue file needs an fsync of its
// directory (incoming/ and any hash level) before cleanup may answer
// "queued" (queue/writer.h presync_directories()); where it does, a lone
// writer still flushes the new name's directory early (warm_sync()). With
// many clients at once those fsyncs all hit the same directory within a
// millisecond or two, and each one is a block write and a sleep on a pool
// thread.
//
// A directory fsync commits every change made to the directory before it
// began, so one fsync serves every writer whose name changed before it
// started. The Presyncer keeps, per directory list, the writers waiting and
// whether a flush is running. A request while none runs starts one on the
// pool; requests that arrive while one runs wait for the next, which starts
// when it ends and takes all of them. A writer's "done" flag is set only by
// a flush that began after its request, and only if that flush succeeded: a
// failed or still running presync leaves the flag clear, and the commit then
// fsyncs the directories itself (writer.h sync_directory()), as before.
//
// request() is called on the event loop thread only; flushes run on the
// pool through `post`. The state a flush needs is shared, so a flush never
// touches the Presyncer (whose owner joins the pool before destroying it
// anyway).
//
// Reads no parameters. Logs nothing (a failed flush is redone and reported by
// the commit).
#pragma once

#include <atomic>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "base/result.h"
#include "queue/writer.h"

namespace postern::cleanup {

class Presyncer {
 public:
  using Dirs = std::vector<std::filesystem::path>;
  using SyncFn = std::function<Status(const Dirs&)>;
  using PostFn = std::function<void(std::function<void()>)>;

  // `post` runs work on another thread (the commit pool); `sync` flushes a
  // directory list (tests pass their own).
  explicit Presyncer(PostFn post, SyncFn sync = &queue::QueueFileWriter::sync_directory_list);

  // Sets job.done once a flush of job.dirs that began after this call has
  // succeeded. The names the job covers must already exist.
  void request(queue::QueueFileWriter::DirectorySync job);

  // Flushes started so far (tests, the benchmark).
  std::size_t flushes() const { return shared_->flushes.load(std::memory_order_relaxed); }

  // Directory lists tracked at most; requests for others get a flush of
  // their own. Queue files go to a handful of directories (incoming and
  // its hash levels), so this is never reached in practice.
  static constexpr std::size_t kMaxGroups = 64;

 private:
  struct Group;
  struct Shared {
    SyncFn sync;
    std::atomic<std::size_t> flushes{0};
  };
  static void drain(const std::shared_ptr<Shared>& shared, const std::shared_ptr<Group>& g, const Dirs& dirs);

  PostFn post_;
  std::shared_ptr<Shared> shared_;
  std::map<Dirs, std::shared_ptr<Group>> groups_;
};

}  // namespace postern::cleanup
