// presync.cpp - shared directory fsyncs for queue files (see presync.h).
#include "cleanup/presync.h"

#include <mutex>
#include <utility>

namespace postern::cleanup {

struct Presyncer::Group {
  std::mutex m;
  std::vector<std::shared_ptr<std::atomic<bool>>> waiting;  // asked since the running flush began
  bool running = false;
};

Presyncer::Presyncer(PostFn post, SyncFn sync) : post_(std::move(post)), shared_(std::make_shared<Shared>()) {
  shared_->sync = std::move(sync);
}

void Presyncer::request(queue::QueueFileWriter::DirectorySync job) {
  auto it = groups_.find(job.dirs);
  if (it == groups_.end()) {
    if (groups_.size() >= kMaxGroups) {
      post_([shared = shared_, job = std::move(job)] {
        shared->flushes.fetch_add(1, std::memory_order_relaxed);
        if (shared->sync(job.dirs)) job.done->store(true, std::memory_order_release);
      });
      return;
    }
    it = groups_.emplace(job.dirs, std::make_shared<Group>()).first;
  }
  const auto& g = it->second;
  {
    std::lock_guard lock(g->m);
    g->waiting.push_back(std::move(job.done));
    if (g->running) return;  // the running flush's successor takes it
    g->running = true;
  }
  post_([shared = shared_, g, dirs = it->first] { drain(shared, g, dirs); });
}

void Presyncer::drain(const std::shared_ptr<Shared>& shared, const std::shared_ptr<Group>& g, const Dirs& dirs) {
  std::unique_lock lock(g->m);
  while (!g->waiting.empty()) {
    // Everyone in `batch` asked before this flush begins: it covers them.
    auto batch = std::exchange(g->waiting, {});
    lock.unlock();
    shared->flushes.fetch_add(1, std::memory_order_relaxed);
    if (shared->sync(dirs))
      for (const auto& done : batch) done->store(true, std::memory_order_release);
    lock.lock();
  }
  g->running = false;
}

}  // namespace postern::cleanup
