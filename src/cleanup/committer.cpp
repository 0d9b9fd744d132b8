// committer.cpp - group commit of queue files on a thread pool (see committer.h).
//
// Logs: "warning: ID: queue file commit: ERROR" when a commit step fails.
#include "cleanup/committer.h"

#include <atomic>
#include <mutex>

#include "aio/io_scope.h"
#include "ipc/trigger.h"
#include "log/log.h"

namespace postern::cleanup {

// Pool threads post completions to the io_context, which may be destroyed
// first (the skeleton owns it, and a forced stop does not wait for us): the
// gate closes when its destruction begins (io_scope.h) and refuses further
// posts.
struct Committer::Gate {
  std::mutex m;
  bool alive = true;
};

Committer::Committer(asio::io_context& io, Options options)
    : io_(io), opts_(std::move(options)), gate_(std::make_shared<Gate>()),
      pool_(std::make_unique<asio::thread_pool>(std::max<std::size_t>(1, opts_.threads))),
      presync_([pool = pool_.get()](std::function<void()> f) { asio::post(*pool, std::move(f)); }) {
  aio::at_io_shutdown(io, [gate = gate_] {
    std::lock_guard lock(gate->m);
    gate->alive = false;
  });
}

void Committer::to_io(std::function<void()> f) {
  std::lock_guard lock(gate_->m);
  if (gate_->alive) {
    asio::post(io_, std::move(f));
    return;
  }
  // The io_context is gone: its coroutines (whose completion handlers `f`
  // holds) must not be touched from here. Leak them; the process exits.
  new std::function<void()>(std::move(f));
}

Committer::~Committer() { join(); }

void Committer::join() {
  if (pool_) pool_->join();
}

asio::awaitable<Status> Committer::commit(std::shared_ptr<queue::QueueFileWriter> w, bool alone) {
  if (alone && opts_.mode == Mode::Batch && !running_ && queue_.empty()) {
    ++batches_;
    Status st = w->mark_ready();
    if (st) st = w->sync_directory();
    account(*w, st);
    // After the answer is on its way (posted behind this handler, which
    // resumes the session and starts its reply), and from this thread: a
    // trigger is a connect and a one-byte send that do not block unless
    // qmgr's listen queue is full, and handing it to a pool thread cost a
    // thread wake-up per message. A failed attempt (qmgr busy or absent)
  // goes to the pool, which retries for up to a second.
    if (st && !opts_.qmgr_trigger.empty()) asio::post(io_, [this] { wake_qmgr_now(); });
    co_return st;
  }
  // The initiation is named (not a temporary in the co_await expression:
  // see the GCC 12 note in ipc/async.h).
  auto initiate = [this, w](auto handler) {
    // The awaitable handler is move-only; std::function wants copies.
    auto h = std::make_shared<decltype(handler)>(std::move(handler));
    submit(Pending{w, [h](Status st) { (*h)(std::move(st)); }});
  };
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(Status)>(initiate, asio::use_awaitable);
}

void Committer::presync(const queue::QueueFileWriter& w, bool only_writer) {
  // Best effort and off the critical path: if it fails or is still running
  // at commit time, the commit fsyncs the directory itself. The job does not
  // own the writer, so an abandoned message's file goes at once. Where the
  // file system makes the name durable with the file's own fsync, no flush
  // is required, but one that warms the new name's directory saves that
  // fsync up to two block writes (writer.h warm_sync()) -- if nothing else
  // changes the directory before the commit. With other queue files being
  // written beside this one something will, and the flush is wasted work:
  // three alternating pairs of the local benchmark flow (20 clients) ran 3-5%
  // slower with it, while a lone client's transactions ran 4-7% faster.
  if (!w.directories_synced()) presync_.request(w.directory_sync());
  if (!only_writer) return;
  // A separate group, so it runs beside the required flush, not after it.
  if (auto warm = w.warm_sync(); !warm.dirs.empty()) presync_.request(std::move(warm));
}

void Committer::account(const queue::QueueFileWriter& w, const Status& st) {
  if (st)
    ++committed_;
  else
    log::warning("{}: queue file commit: {}", w.id().str(), st.error().message);
}

void Committer::wake_qmgr() {
  if (opts_.qmgr_trigger.empty()) return;
  // Best effort: qmgr also scans incoming on its own timer.
  (void)ipc::trigger(opts_.qmgr_trigger.string(), std::string(1, ipc::kTriggerWakeup),
                     std::chrono::milliseconds(1000));
}

void Committer::wake_qmgr_now() {
  if (ipc::trigger(opts_.qmgr_trigger.string(), std::string(1, ipc::kTriggerWakeup), std::chrono::milliseconds(0)))
    return;
  asio::post(*pool_, [this] { wake_qmgr(); });
}

void Committer::submit(Pending p) {
  if (opts_.mode == Mode::Single) {
    ++batches_;
    asio::post(*pool_, [this, p = std::move(p)]() mutable {
      Status st = p.writer->mark_ready();
      if (st) st = p.writer->sync_directory();
      bool wake = static_cast<bool>(st);
      auto shared = std::make_shared<Pending>(std::move(p));
      to_io([this, shared, st]() mutable {
        account(*shared->writer, st);
        shared->done(std::move(st));
      });
      // After the answer is on its way: the client waits for "queued", not
      // for qmgr's wake-up.
      if (wake) wake_qmgr();
    });
    return;
  }
  queue_.push_back(std::move(p));
  if (!running_) start_batch();
}

void Committer::start_batch() {
  struct Batch {
    std::vector<Pending> items;
    std::vector<Status> results;
    std::atomic<std::size_t> remaining{0};
  };
  auto b = std::make_shared<Batch>();
  b->items = std::move(queue_);
  queue_.clear();
  b->results.resize(b->items.size());
  b->remaining = b->items.size();
  running_ = true;
  ++batches_;

  // Runs on the pool thread that finished the last file of the batch.
  auto finish = [this, b]() {
    std::vector<queue::QueueFileWriter*> ok;
    for (std::size_t i = 0; i < b->items.size(); ++i)
      if (b->results[i]) ok.push_back(b->items[i].writer.get());
    bool wake = false;
    if (!ok.empty()) {
      Status st = queue::QueueFileWriter::sync_directories(ok);
      if (!st) {
        for (std::size_t i = 0; i < b->items.size(); ++i)
          if (b->results[i]) b->results[i] = st;
      } else {
        wake = true;
      }
    }
    // The answers go first: the clients wait for "queued", not for qmgr's
    // wake-up (a connect and a write to public/qmgr), which follows.
    to_io([this, b]() {
      for (std::size_t i = 0; i < b->items.size(); ++i) {
        account(*b->items[i].writer, b->results[i]);
        b->items[i].done(std::move(b->results[i]));
      }
      running_ = false;
      if (!queue_.empty()) start_batch();
    });
    if (wake) wake_qmgr();
  };

  for (std::size_t i = 0; i < b->items.size(); ++i) {
    asio::post(*pool_, [b, i, finish]() {
      auto& w = *b->items[i].writer;
      Status st = w.mark_ready();
      b->results[i] = std::move(st);
      if (b->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) finish();
    });
  }
}

}  // namespace postern::cleanup
