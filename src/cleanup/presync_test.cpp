// presync_test.cpp - one directory flush serves every writer that asked
// before it began, never one that asked while it ran; failures leave the
// writers to flush for themselves.
#include "cleanup/presync.h"

#include <gtest/gtest.h>

#include <deque>

namespace postern::cleanup {
namespace {

using Dirs = Presyncer::Dirs;
using Flag = std::shared_ptr<std::atomic<bool>>;

// Posted work waits here until the test runs it.
struct ManualPool {
  std::deque<std::function<void()>> jobs;
  Presyncer::PostFn post() {
    return [this](std::function<void()> f) { jobs.push_back(std::move(f)); };
  }
  void run_all() {
    while (!jobs.empty()) {
      auto f = std::move(jobs.front());
      jobs.pop_front();
      f();
    }
  }
};

queue::QueueFileWriter::DirectorySync job(const Dirs& dirs, Flag& flag) {
  flag = std::make_shared<std::atomic<bool>>(false);
  return {dirs, flag};
}

const Dirs kIncoming{"/q/incoming"};

// A flush that only counts itself.
Presyncer::SyncFn counting(int& flushes) {
  return [&flushes](const Dirs&) -> Status {
    ++flushes;
    return {};
  };
}

TEST(Presyncer, RequestsDuringAFlushShareTheNextOne) {
  ManualPool pool;
  std::vector<Dirs> flushed;
  Presyncer* self = nullptr;
  Flag a, b, c;
  bool b_seen_clear = false;
  Presyncer p(pool.post(), [&](const Dirs& d) -> Status {
    flushed.push_back(d);
    if (flushed.size() == 1) {
      // Two more writers name files in incoming/ while the first flush runs.
      self->request(job(kIncoming, b));
      self->request(job(kIncoming, c));
    } else {
      // The first flush began before b asked: it must not have covered b.
      b_seen_clear = !b->load();
    }
    return {};
  });
  self = &p;
  p.request(job(kIncoming, a));
  ASSERT_EQ(pool.jobs.size(), 1u);
  EXPECT_FALSE(a->load());
  pool.run_all();
  EXPECT_TRUE(a->load());
  EXPECT_TRUE(b->load());
  EXPECT_TRUE(c->load());
  EXPECT_TRUE(b_seen_clear);
  EXPECT_EQ(flushed.size(), 2u);
  EXPECT_EQ(p.flushes(), 2u);
  EXPECT_TRUE(pool.jobs.empty());  // b and c started no flush of their own
}

TEST(Presyncer, WaitingRequestsAreFlushedTogether) {
  ManualPool pool;
  int flushes = 0;
  Presyncer p(pool.post(), counting(flushes));
  std::vector<Flag> flags(5);
  for (auto& f : flags) p.request(job(kIncoming, f));
  EXPECT_EQ(pool.jobs.size(), 1u);
  pool.run_all();
  EXPECT_EQ(flushes, 1);
  for (auto& f : flags) EXPECT_TRUE(f->load());
}

TEST(Presyncer, AFailedFlushLeavesTheWritersToFlushThemselves) {
  ManualPool pool;
  bool fail = true;
  Presyncer p(pool.post(), [&](const Dirs&) -> Status {
    if (fail) return make_error("fsync failed");
    return {};
  });
  Flag a, b;
  p.request(job(kIncoming, a));
  pool.run_all();
  EXPECT_FALSE(a->load());
  // The group is idle again: the next request starts a flush of its own.
  fail = false;
  p.request(job(kIncoming, b));
  ASSERT_EQ(pool.jobs.size(), 1u);
  pool.run_all();
  EXPECT_TRUE(b->load());
  EXPECT_FALSE(a->load());  // a's own commit flushes for it
  EXPECT_EQ(p.flushes(), 2u);
}

TEST(Presyncer, DifferentDirectoriesAreFlushedApart) {
  ManualPool pool;
  std::vector<Dirs> flushed;
  Presyncer p(pool.post(), [&](const Dirs& d) -> Status {
    flushed.push_back(d);
    return {};
  });
  Flag a, b;
  const Dirs incoming{"/q/incoming", "/q/incoming/A"};
  p.request(job(kIncoming, a));
  p.request(job(incoming, b));
  EXPECT_EQ(pool.jobs.size(), 2u);
  pool.run_all();
  EXPECT_TRUE(a->load());
  EXPECT_TRUE(b->load());
  ASSERT_EQ(flushed.size(), 2u);
  EXPECT_EQ(flushed[0], kIncoming);
  EXPECT_EQ(flushed[1], incoming);
}

TEST(Presyncer, BeyondItsBoundEveryRequestIsFlushedOnItsOwn) {
  ManualPool pool;
  int flushes = 0;
  Presyncer p(pool.post(), counting(flushes));
  std::vector<Flag> flags(Presyncer::kMaxGroups + 3);
  for (std::size_t i = 0; i < flags.size(); ++i) p.request(job({"/q/d" + std::to_string(i)}, flags[i]));
  Flag again;
  p.request(job({"/q/d" + std::to_string(flags.size() - 1)}, again));  // untracked: no sharing
  pool.run_all();
  EXPECT_EQ(flushes, static_cast<int>(flags.size()) + 1);
  for (auto& f : flags) EXPECT_TRUE(f->load());
  EXPECT_TRUE(again->load());
}

}  // namespace
}  // namespace postern::cleanup
