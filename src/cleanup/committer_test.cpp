// committer_test.cpp - group commit and single commit make every file
// durable and ready, answer each waiter, share flushes between messages
// that finish together, and wake qmgr through its trigger endpoint.
#include "cleanup/committer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup/cleanup_test_util.h"

namespace postern::cleanup {
namespace {

using namespace testing;

std::shared_ptr<queue::QueueFileWriter> finished_writer(const Scratch& s) {
  queue::WriterOptions o;
  o.queue_root = s.queue();
  auto w = queue::QueueFileWriter::create(o);
  EXPECT_TRUE(w) << (w ? "" : w.error().message);
  auto p = std::make_shared<queue::QueueFileWriter>(std::move(*w));
  queue::EnvelopeStart e;
  e.sender = "a@example.com";
  EXPECT_TRUE(p->begin(e));
  queue::RecipientFields r;
  r.address = "b@example.com";
  EXPECT_TRUE(p->add_recipient(r));
  EXPECT_TRUE(p->add_line("Subject: x"));
  EXPECT_TRUE(p->finish_write());
  return p;
}

// qmgr's trigger endpoint as a FIFO in the scratch queue, and its read end
// (non-blocking), or -1.
int open_qmgr_fifo(const Scratch& s, fs::path& fifo) {
  fifo = s.queue() / "public" / "qmgr";
  if (::mkfifo(fifo.c_str(), 0600) != 0) return -1;
  return ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
}

// A lone client's commit of `w`; sets *ok (and *done) when it ends. A free
// function: a coroutine lambda's captures would die with the lambda.
asio::awaitable<void> commit_alone(Committer& c, std::shared_ptr<queue::QueueFileWriter> w, bool* ok,
                                   bool* done = nullptr) {
  auto st = co_await c.commit(std::move(w), true);
  *ok = static_cast<bool>(st);
  if (done) *done = true;
}

struct CommitRun {
  int ok = 0;
  std::size_t batches = 0;
  std::string trigger_bytes;
};

CommitRun commit_all(const Scratch& s, Committer::Mode mode, int n) {
  fs::path fifo;
  int rd = open_qmgr_fifo(s, fifo);
  EXPECT_GE(rd, 0);
  CommitRun run;
  {
    asio::io_context io;
    Committer c(io, {mode, 3, fifo});
    std::vector<std::shared_ptr<queue::QueueFileWriter>> writers;
    for (int i = 0; i < n; ++i) writers.push_back(finished_writer(s));
    for (auto& w : writers) {
      asio::co_spawn(
          io,
          [&c, &run, w]() -> asio::awaitable<void> {
            std::shared_ptr<queue::QueueFileWriter> mine = w;
            auto st = co_await c.commit(mine);
            EXPECT_TRUE(st) << (st ? "" : st.error().message);
            if (st && mine->committed()) ++run.ok;
          },
          asio::detached);
    }
    io.run();
    run.batches = c.batches();
    c.join();
  }
  char buf[256];
  ssize_t got = ::read(rd, buf, sizeof buf);
  if (got > 0) run.trigger_bytes.assign(buf, static_cast<std::size_t>(got));
  ::close(rd);
  for (const auto& f : s.incoming()) {
    struct stat st {};
    EXPECT_EQ(::stat(f.c_str(), &st), 0);
    EXPECT_TRUE(st.st_mode & S_IXUSR) << f;
    auto r = queue::QueueFileReader::open(f);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
  }
  return run;
}

TEST(Committer, GroupCommitSharesFlushes) {
  Scratch s;
  CommitRun r = commit_all(s, Committer::Mode::Batch, 12);
  EXPECT_EQ(r.ok, 12);
  EXPECT_EQ(s.incoming().size(), 12u);
  // All twelve were queued before the first flush started: the first batch
  // takes one, the second takes the other eleven.
  EXPECT_LE(r.batches, 2u);
  ASSERT_FALSE(r.trigger_bytes.empty());
  EXPECT_EQ(r.trigger_bytes.find_first_not_of('W'), std::string::npos) << r.trigger_bytes;
}

TEST(Committer, SingleCommitsEachMessage) {
  Scratch s;
  CommitRun r = commit_all(s, Committer::Mode::Single, 5);
  EXPECT_EQ(r.ok, 5);
  EXPECT_EQ(r.batches, 5u);
  EXPECT_EQ(r.trigger_bytes, "WWWWW");
}

TEST(Committer, LoneClientCommitsOnTheEventLoop) {
  Scratch s;
  fs::path fifo;
  int rd = open_qmgr_fifo(s, fifo);
  ASSERT_GE(rd, 0);
  bool ok = false, done = false;
  std::size_t batches = 0;
  {
    asio::io_context io;
    Committer c(io, {Committer::Mode::Batch, 2, fifo});
    auto w = finished_writer(s);
    asio::co_spawn(io, commit_alone(c, w, &ok, &done), asio::detached);
    // One handler: the coroutine itself. Through the pool, the answer would
    // be a second handler posted back, so it could not be done yet.
    io.poll_one();
    EXPECT_TRUE(done);
    EXPECT_TRUE(ok);
    EXPECT_TRUE(w->committed());
    io.run();
    batches = c.batches();
    c.join();
  }
  EXPECT_EQ(batches, 1u);
  char buf[16];
  EXPECT_EQ(::read(rd, buf, sizeof buf), 1);
  EXPECT_EQ(buf[0], 'W');
  ::close(rd);
  auto files = s.incoming();
  ASSERT_EQ(files.size(), 1u);
  EXPECT_TRUE(queue::QueueFileReader::open(files[0]));
}

// The event loop's wake-up never waits: when qmgr's FIFO (or listen queue)
// is full it hands the wake-up to the pool, which waits for room.
TEST(Committer, LoneClientWakesABusyQmgrFromThePool) {
  Scratch s;
  fs::path fifo;
  int rd = open_qmgr_fifo(s, fifo);
  ASSERT_GE(rd, 0);
  int wr = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
  ASSERT_GE(wr, 0);
  std::size_t filled = 0;
  for (char junk[4096] = {}; ; ) {
    ssize_t n = ::write(wr, junk, sizeof junk);
    if (n <= 0) break;
    filled += static_cast<std::size_t>(n);
  }
  ::close(wr);
  ASSERT_GT(filled, 0u);
  bool ok = false;
  {
    asio::io_context io;
    Committer c(io, {Committer::Mode::Batch, 2, fifo});
    auto w = finished_writer(s);
    asio::co_spawn(io, commit_alone(c, w, &ok), asio::detached);
    io.run();  // the loop's attempt found the FIFO full and returned at once
    EXPECT_TRUE(ok);
    // Make room; the pool's attempt (up to a second) then gets through.
    std::vector<char> buf(filled + 16);
    std::size_t drained = 0;
    while (drained < filled) {
      ssize_t n = ::read(rd, buf.data(), buf.size());
      if (n > 0) drained += static_cast<std::size_t>(n);
    }
    c.join();
    for (ssize_t n; (n = ::read(rd, buf.data(), buf.size())) > 0;) drained += static_cast<std::size_t>(n);
    EXPECT_EQ(drained, filled + 1);  // the junk, then one wake-up
  }
  ::close(rd);
}

// A lone writer's new name gets an early flush of its directory (the
// commit's fsync then writes only the file's blocks); beside other writers
// it does not, and nothing is flushed where the name needs no directory
// fsync anyway.
TEST(Committer, OnlyALoneWriterWarmsItsDirectory) {
  Scratch s;
  auto w = finished_writer(s);
  if (w->warm_sync().dirs.empty()) GTEST_SKIP() << "the file's fsync does not commit its name here";
  ASSERT_TRUE(w->directories_synced());  // a fresh file: no flush required
  for (bool lone : {false, true}) {
    asio::io_context io;
    Committer c(io, {Committer::Mode::Batch, 2, {}});
    c.presync(*w, lone);
    c.join();
    EXPECT_EQ(c.presync_flushes(), lone ? 1u : 0u) << "lone writer: " << lone;
  }
}

TEST(Committer, MissingQmgrIsNotAnError) {
  Scratch s;
  asio::io_context io;
  Committer c(io, {Committer::Mode::Batch, 2, s.queue() / "public" / "nonexistent"});
  auto w = finished_writer(s);
  bool ok = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto st = co_await c.commit(w);
        ok = static_cast<bool>(st);
      },
      asio::detached);
  io.run();
  EXPECT_TRUE(ok);
  EXPECT_TRUE(w->committed());
}

}  // namespace
}  // namespace postern::cleanup
