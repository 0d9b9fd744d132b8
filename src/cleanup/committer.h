// committer.h - make finished queue files durable without stalling the event loop.
//
// A queue file is the sender's responsibility until it is durable, so every
// message waits for fsync(2) of its file and of the incoming directory
// before cleanup says "queued". fsync is slow (milliseconds on real disks)
// and blocks; doing it on the event loop would stall every other client of
// the process, and doing one directory fsync per message wastes most of the
// disk's time when many messages finish together.
//
// Group commit (Mode::Batch, the default): writers whose content is
// complete (QueueFileWriter::finish_write() done on the event loop) are
// queued. While no flush is running, the whole queue becomes one batch: on
// a small thread pool every file of the batch is marked ready and fsynced
// (one fsync each) in parallel (the file system folds concurrent fsyncs
// into few journal commits), then each distinct directory not already
// fsynced by presync() is fsynced once for the batch.
// Messages that finish while a batch is being flushed form the next batch.
// After each successful batch, once its answers are on their way, the queue manager is woken once
// (ipc::trigger "W" to public/$queue_service_name), also on the pool, so a busy or absent
// qmgr never blocks cleanup; failure to wake it is ignored (qmgr scans
// incoming on its own timer). A lone message committed on the event loop
// (commit(alone)) wakes qmgr from the event loop with an attempt that
// cannot block; if it fails (qmgr's listen queue full, or qmgr absent) the
// pool retries.
//
// Mode::Single commits each writer on its own (file fsync, ready mark,
// directory fsync), still on the pool: the baseline the benchmark compares
// against.
//
// Completions run on the io_context thread. The caller must not touch the
// writer while commit() is pending. The destructor waits for the pool.
//
// Reads no parameters (the caller passes the qmgr trigger path).
// Logs: "warning: ID: queue file commit: ..." for failed commits.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "aio/asio.h"
#include "base/result.h"
#include "cleanup/presync.h"
#include "queue/writer.h"

namespace postern::cleanup {

class Committer {
 public:
  enum class Mode { Batch, Single };

  struct Options {
    Mode mode = Mode::Batch;
    std::size_t threads = 4;
    std::filesystem::path qmgr_trigger;  // empty: do not wake qmgr
  };

  Committer(asio::io_context& io, Options options);
  ~Committer();
  Committer(const Committer&) = delete;
  Committer& operator=(const Committer&) = delete;

  // finish_write() must already have succeeded on `w`. Resumes (on the
  // io_context) when the file is durable and ready, or with the error (the
  // writer then has removed the file). Shared ownership keeps the writer
  // alive while the pool works on it, even if the session goes away.
  //
  // `alone`: the caller's message is the only one in progress in this
  // process (a client idling on a kept connection counts no more than one
  // not yet connected: either may wait for the fsync). If
  // no batch is in flight either, the commit runs right here on the event
  // loop: nobody else can be held up by the fsync, and the two thread
  // hand-offs (to the pool and back), a large part of a lone client's
  // latency, are saved. Only qmgr's wake-up still goes to the pool.
  asio::awaitable<Status> commit(std::shared_ptr<queue::QueueFileWriter> w, bool alone = false);

  // Starts the directory fsync for a freshly created writer on the pool,
  // while its content is still arriving (queue/writer.h
  // presync_directories()), so that the commit needs only the file's fsync.
  // Writers that ask while such a flush of the same directories runs share
  // the next one (presync.h).
  // `only_writer`: no other queue file of this process is being written;
  // then the new name's directory is flushed early too (writer.h
  // warm_sync()).
  void presync(const queue::QueueFileWriter& w, bool only_writer = false);

  // Statistics for tests and the benchmark.
  std::size_t batches() const { return batches_; }
  std::size_t committed() const { return committed_; }
  std::size_t presync_flushes() const { return presync_.flushes(); }

  // Waits for the pool's work to finish (shutdown).
  void join();

 private:
  struct Pending {
    std::shared_ptr<queue::QueueFileWriter> writer;
    std::function<void(Status)> done;
  };
  void submit(Pending p);
  void start_batch();
  void wake_qmgr();      // on a pool thread: may wait up to a second
  void wake_qmgr_now();  // on the event loop: never waits; the pool retries
  // Counts a commit or logs its failure (on the io_context thread).
  void account(const queue::QueueFileWriter& w, const Status& st);
  // Runs `f` on the io_context unless it is being destroyed (then the
  // work is dropped: the process is exiting).
  void to_io(std::function<void()> f);

 public:
  struct Gate;  // defined in committer.cpp

 private:

  asio::io_context& io_;
  Options opts_;
  std::shared_ptr<Gate> gate_;
  std::unique_ptr<asio::thread_pool> pool_;
  Presyncer presync_;  // posts to pool_, which is joined before either is destroyed
  std::vector<Pending> queue_;
  bool running_ = false;
  std::size_t batches_ = 0;
  std::size_t committed_ = 0;
};

}  // namespace postern::cleanup
