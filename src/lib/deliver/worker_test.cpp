// worker_test.cpp - the identity workers: reuse, replacement after a death,
// failures that must defer, bounds, and (as root) the identity drop.
#include "deliver/worker.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <string>

using namespace postern;
using namespace postern::deliver;

namespace {

// The executor reports who ran the task; "die" and "throw" misbehave.
ChildResult report(const Task& t, const queue::QueueFileReader* r) {
  if (t.kind == "die") ::raise(SIGKILL);
  if (t.kind == "throw") throw std::runtime_error("boom");
  std::string who = std::to_string(::getpid()) + " " + std::to_string(::getuid()) + " " +
                    std::to_string(::geteuid()) + " " + (r ? "content" : "none") + " " + t.sender;
  return {Outcome::sent("ok"), who};
}

Task task(std::string kind, std::string sender = "s@example.com") {
  Task t;
  t.kind = std::move(kind);
  t.queue_id = "ABC";
  t.paths = {"/nonexistent"};
  t.sender = std::move(sender);
  return t;
}

pid_t pid_of(const ChildResult& r) { return static_cast<pid_t>(std::stol(r.payload)); }

}  // namespace

TEST(WorkerPool, OneWorkerServesManyTasks) {
  WorkerPool pool(report, std::chrono::seconds(10));
  auto a = pool.run(std::nullopt, task("x", "a@example.com"), -1);
  auto b = pool.run(std::nullopt, task("x", "b@example.com"), -1);
  ASSERT_TRUE(a.outcome.is_sent()) << a.outcome.text;
  ASSERT_TRUE(b.outcome.is_sent()) << b.outcome.text;
  EXPECT_NE(pid_of(a), ::getpid());
  EXPECT_EQ(pid_of(a), pid_of(b));
  EXPECT_NE(a.payload.find(" none a@example.com"), std::string::npos) << a.payload;
  EXPECT_NE(b.payload.find(" none b@example.com"), std::string::npos) << b.payload;
  EXPECT_EQ(pool.size(), 1u);
}

TEST(WorkerPool, AWorkerThatDiedIdleIsReplaced) {
  WorkerPool pool(report, std::chrono::seconds(10));
  auto a = pool.run(std::nullopt, task("x"), -1);
  ASSERT_TRUE(a.outcome.is_sent());
  ASSERT_EQ(::kill(pid_of(a), SIGKILL), 0);
  ::usleep(100 * 1000);
  auto b = pool.run(std::nullopt, task("x"), -1);
  ASSERT_TRUE(b.outcome.is_sent()) << b.outcome.text;
  EXPECT_NE(pid_of(a), pid_of(b));
}

TEST(WorkerPool, DeathDuringATaskDefers) {
  WorkerPool pool(report, std::chrono::seconds(10));
  auto r = pool.run(std::nullopt, task("die"), -1);
  EXPECT_TRUE(r.outcome.is_deferred());
  EXPECT_EQ(r.outcome.dsn, "4.3.0");
  EXPECT_EQ(pool.size(), 0u);
  // The next task gets a fresh worker.
  EXPECT_TRUE(pool.run(std::nullopt, task("x"), -1).outcome.is_sent());
}

TEST(WorkerPool, ExceptionsDeferAndKeepTheWorker) {
  WorkerPool pool(report, std::chrono::seconds(10));
  auto r = pool.run(std::nullopt, task("throw"), -1);
  EXPECT_TRUE(r.outcome.is_deferred());
  EXPECT_NE(r.outcome.text.find("boom"), std::string::npos) << r.outcome.text;
  EXPECT_EQ(pool.size(), 1u);
}

TEST(WorkerPool, OversizedTaskIsRefusedWithoutAWorker) {
  WorkerPool pool(report, std::chrono::seconds(10));
  auto r = pool.run(std::nullopt, task("x", std::string(queue::kMaxEnvelopeRecord + 1, 'a')), -1);
  EXPECT_TRUE(r.outcome.is_deferred());
  EXPECT_EQ(pool.size(), 0u);
}

TEST(WorkerPool, BadQueueDescriptorDefers) {
  WorkerPool pool(report, std::chrono::seconds(10));
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  // Not a queue file: the worker cannot read it and says so.
  auto r = pool.run(std::nullopt, task("x"), fds[0]);
  ::close(fds[0]);
  ::close(fds[1]);
  EXPECT_TRUE(r.outcome.is_deferred());
  EXPECT_NE(r.outcome.text.find("cannot read queue file"), std::string::npos) << r.outcome.text;
}

TEST(WorkerPool, WorkersBecomeTheirIdentityForGood) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  WorkerPool pool(report, std::chrono::seconds(10), 1);
  auto nobody = pool.run(Identity{65534, 65534, ""}, task("x"), -1);
  ASSERT_TRUE(nobody.outcome.is_sent()) << nobody.outcome.text;
  EXPECT_NE(nobody.payload.find(" 65534 65534 "), std::string::npos) << nobody.payload;
  // A second identity evicts the first (limit 1) and runs in its own process.
  auto other = pool.run(Identity{65533, 65533, ""}, task("x"), -1);
  ASSERT_TRUE(other.outcome.is_sent()) << other.outcome.text;
  EXPECT_NE(other.payload.find(" 65533 65533 "), std::string::npos) << other.payload;
  EXPECT_NE(pid_of(nobody), pid_of(other));
  EXPECT_EQ(pool.size(), 1u);
  EXPECT_NE(::kill(pid_of(nobody), 0), 0);  // the evicted worker is gone (and reaped)
}
