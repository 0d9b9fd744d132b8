// Tests for the trivial-rewrite clients against an in-process fake service.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "ipc/async.h"
#include "rewrite/client.h"

using namespace postern;
namespace proto = ipc::proto;
using namespace std::chrono_literals;

namespace {

// Answers rewrite with "<address>@x.example" and resolve with transport
// "smtp", nexthop = address; counts requests. Behaviour knobs:
//   close_after_reply: closes each connection after one reply (a retiring server);
//     an address starting with "close" does the same for that one request
//   silent: never answers; refuse: answers with a status refusal
//   fail_flag: resolve answers carry kFail
struct FakeService {
  std::string path;
  std::atomic<int> requests{0};
  std::atomic<int> accepted{0};
  std::atomic<bool> close_after_reply{false}, silent{false}, refuse{false}, fail_flag{false};

  explicit FakeService(asio::io_context& io)
      : path(::testing::TempDir() + "/rw." + std::to_string(::getpid()) + "." + std::to_string(counter++)),
        acceptor(io) {
    ::unlink(path.c_str());
    acceptor.open(asio::local::stream_protocol());
    acceptor.bind(asio::local::stream_protocol::endpoint(path));
    acceptor.listen();
    asio::co_spawn(io, accept_loop(), asio::detached);
  }
  ~FakeService() { ::unlink(path.c_str()); }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      error_code ec;
      auto s = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      ++accepted;
      asio::co_spawn(acceptor.get_executor(), session(std::move(s)), asio::detached);
    }
  }

  asio::awaitable<void> session(ipc::LocalSocket s) {
    for (;;) {
      auto req = co_await ipc::read_message<proto::RewriteRequest>(s, {}, 5s);
      if (!req) co_return;
      ++requests;
      if (silent) {
        asio::steady_timer t(s.get_executor(), 3s);
        co_await t.async_wait(asio::use_awaitable);
        co_return;
      }
      if (refuse) {
        co_await ipc::refuse(s, "no thanks");
        co_return;
      }
      if (req->request == proto::RewriteOp::Rewrite) {
        proto::RewriteReply r;
        r.address = req->address + "@x.example";
        co_await ipc::write_message(s, r, {}, 5s);
      } else {
        proto::ResolveReply r;
        r.flags = fail_flag ? proto::resolve_flag::kFail : proto::resolve_flag::kDefault;
        r.transport = req->request == proto::RewriteOp::Verify ? "probe" : "smtp";
        r.nexthop = req->sender ? *req->sender : "none";
        r.recipient = req->address;
        co_await ipc::write_message(s, r, {}, 5s);
      }
      if (close_after_reply || req->address.rfind("close", 0) == 0) co_return;
    }
  }

  static inline int counter = 0;
  asio::local::stream_protocol::acceptor acceptor;
};

template <class T>
T run(asio::io_context& io, asio::awaitable<T> aw) {
  std::optional<T> out;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { out.emplace(co_await std::move(aw)); }, asio::detached);
  while (!out && !io.stopped()) io.run_one();
  return std::move(*out);
}

}  // namespace

TEST(Cache, LruAndTtl) {
  rewrite::Cache c(2, std::chrono::seconds(10));
  auto now = rewrite::Cache::Clock::now();
  c.put("a", {std::string("A"), std::nullopt}, now);
  c.put("b", {std::string("B"), std::nullopt}, now);
  ASSERT_TRUE(c.find("a", now));  // a is now the most recent
  c.put("c", {std::string("C"), std::nullopt}, now);
  EXPECT_EQ(c.size(), 2u);
  EXPECT_FALSE(c.find("b", now));
  EXPECT_EQ(*c.find("a", now)->rewritten, "A");
  EXPECT_FALSE(c.find("a", now + std::chrono::seconds(11)));
  EXPECT_EQ(c.size(), 1u);
  rewrite::Cache off(0, std::chrono::seconds(10));
  off.put("x", {}, now);
  EXPECT_FALSE(off.find("x", now));
}

TEST(Cache, KeysSeparateQuestions) {
  using proto::RewriteOp;
  auto k = rewrite::Cache::key;
  EXPECT_NE(k(RewriteOp::Rewrite, "local", false, "a"), k(RewriteOp::Rewrite, "remote", false, "a"));
  EXPECT_NE(k(RewriteOp::Resolve, "", false, "a"), k(RewriteOp::Resolve, "", true, "a"));
  EXPECT_NE(k(RewriteOp::Resolve, "", false, "a"), k(RewriteOp::Verify, "", false, "a"));
  EXPECT_NE(k(RewriteOp::Resolve, "x", true, "a"), k(RewriteOp::Resolve, "", true, "xa"));
}

TEST(AsyncClient, RewriteResolveAndCache) {
  asio::io_context io;
  FakeService svc(io);
  rewrite::AsyncClient c(io, svc.path);
  auto r = run(io, c.rewrite("local", "joe"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, "joe@x.example");
  auto again = run(io, c.rewrite("local", "joe"));
  EXPECT_EQ(*again, "joe@x.example");
  EXPECT_EQ(svc.requests, 1);  // answered from the cache
  auto res = run(io, c.resolve("a@b", std::string_view("s@x")));
  ASSERT_TRUE(res) << res.error().message;
  EXPECT_EQ(res->transport, "smtp");
  EXPECT_EQ(res->nexthop, "s@x");
  EXPECT_EQ(res->recipient, "a@b");
  auto ver = run(io, c.verify("a@b"));
  ASSERT_TRUE(ver);
  EXPECT_EQ(ver->transport, "probe");
  EXPECT_EQ(svc.requests, 3);
  EXPECT_EQ(c.connects(), 1u);  // one connection carried every request
}

TEST(AsyncClient, FailedLookupsAreNotCached) {
  asio::io_context io;
  FakeService svc(io);
  svc.fail_flag = true;
  rewrite::AsyncClient c(io, svc.path);
  ASSERT_TRUE(run(io, c.resolve("a@b")));
  ASSERT_TRUE(run(io, c.resolve("a@b")));
  EXPECT_EQ(svc.requests, 2);
}

TEST(AsyncClient, ReconnectsWhenTheServerClosed) {
  asio::io_context io;
  FakeService svc(io);
  svc.close_after_reply = true;
  rewrite::Options o;
  o.cache_size = 0;
  rewrite::AsyncClient c(io, svc.path, o);
  for (int i = 0; i < 3; ++i) {
    auto r = run(io, c.rewrite("local", "u" + std::to_string(i)));
    ASSERT_TRUE(r) << i << ": " << r.error().message;
  }
  EXPECT_EQ(svc.requests, 3);
  EXPECT_GE(c.connects(), 3u);
}

// A retiring trivial-rewrite closes every connection it had; a client that
// kept several of them must not spend its one retry on another dead one.
TEST(AsyncClient, ARetiredServerCostsNoCallWhenSeveralConnectionsWereKept) {
  asio::io_context io;
  FakeService svc(io);
  rewrite::Options o;
  o.cache_size = 0;
  rewrite::AsyncClient c(io, svc.path, o);
  int done = 0;
  for (int i = 0; i < 3; ++i) {
    // Concurrent, so three connections; the server closes each after its reply.
    asio::co_spawn(io, [&, i]() -> asio::awaitable<void> {
      auto r = co_await c.rewrite("local", "close" + std::to_string(i));
      EXPECT_TRUE(r);
      ++done;
    }, asio::detached);
  }
  while (done < 3) io.run_one();
  ASSERT_EQ(c.connects(), 3u);
  auto r = run(io, c.rewrite("local", "after"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, "after@x.example");
  EXPECT_EQ(c.connects(), 4u);  // one dead kept connection tried, then a fresh one
}

TEST(AsyncClient, ConcurrentCallsUseSeparateConnections) {
  asio::io_context io;
  FakeService svc(io);
  rewrite::AsyncClient c(io, svc.path);
  int done = 0;
  for (int i = 0; i < 5; ++i) {
    asio::co_spawn(io, [&, i]() -> asio::awaitable<void> {
      std::string a = "c" + std::to_string(i);
      auto r = co_await c.rewrite("local", a);
      EXPECT_TRUE(r);
      if (r) {
        EXPECT_EQ(*r, a + "@x.example");
      }
      ++done;
    }, asio::detached);
  }
  while (done < 5) io.run_one();
  EXPECT_EQ(svc.requests, 5);
  EXPECT_LE(c.connects(), 5u);
}

TEST(AsyncClient, ErrorsTimeoutRefusalAndNoService) {
  asio::io_context io;
  {
    FakeService svc(io);
    svc.silent = true;
    rewrite::Options o;
    o.timeout = 200ms;
    rewrite::AsyncClient c(io, svc.path, o);
    auto t0 = std::chrono::steady_clock::now();
    auto r = run(io, c.rewrite("local", "joe"));
    EXPECT_FALSE(r);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  }
  {
    FakeService svc(io);
    svc.refuse = true;
    rewrite::AsyncClient c(io, svc.path);
    auto r = run(io, c.resolve("joe"));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("no thanks"), std::string::npos) << r.error().message;
  }
  rewrite::AsyncClient none(io, ::testing::TempDir() + "/no-such-socket");
  auto r = run(io, none.rewrite("local", "joe"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("connect"), std::string::npos);
  // Too long for the protocol: refused before anything is sent.
  FakeService svc(io);
  rewrite::AsyncClient c(io, svc.path);
  EXPECT_FALSE(run(io, c.rewrite("local", std::string(5000, 'a'))));
  EXPECT_EQ(svc.requests, 0);
}

TEST(BlockingClient, CallsReuseAndReconnect) {
  asio::io_context io;
  FakeService svc(io);
  std::thread server([&] {
    auto guard = asio::make_work_guard(io);
    io.run();
  });
  {
    rewrite::Options o;
    o.cache_size = 0;
    rewrite::Client c(svc.path, o);
    auto r = c.rewrite("local", "joe");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(*r, "joe@x.example");
    auto res = c.resolve("a@b");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->transport, "smtp");
    EXPECT_EQ(c.connects(), 1u);
    ASSERT_TRUE(c.rewrite("local", "close-me"));  // the service closes after this reply
    ASSERT_TRUE(c.rewrite("local", "y"));         // the reused connection fails: reconnect
    EXPECT_EQ(c.connects(), 2u);
    rewrite::Client cached(svc.path);
    ASSERT_TRUE(cached.resolve("z@z"));
    int before = svc.requests;
    ASSERT_TRUE(cached.resolve("z@z"));
    EXPECT_EQ(svc.requests, before);
  }
  io.stop();
  server.join();
}
