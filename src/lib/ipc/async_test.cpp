// async_test.cpp - frame and message I/O on Asio Unix-domain sockets (async.h).
#include "ipc/async.h"

#include <sys/socket.h>

#include <optional>

#include <gtest/gtest.h>

#include "ipc/proto/status.h"
#include "ipc/proto/trivial_rewrite.h"
#include "ipc/test_bytes.h"

using namespace postern;
using namespace postern::ipc;
using namespace std::chrono_literals;
using proto::ResolveReply;
using proto::RewriteOp;
using proto::RewriteRequest;

namespace {

bool contains(const std::string& s, std::string_view what) { return s.find(what) != std::string::npos; }

struct Sockets {
  asio::io_context io;
  LocalSocket a{io};
  LocalSocket b{io};
  Sockets() { asio::local::connect_pair(a, b); }

  // Runs the coroutines to completion (bounded: a hang fails the test).
  void run() {
    io.run_for(10s);
    EXPECT_TRUE(io.stopped()) << "coroutines did not finish";
  }
  template <class F>
  void spawn(F f) {
    asio::co_spawn(io, std::move(f), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
  }
};

asio::awaitable<void> write_raw(LocalSocket& s, std::string bytes) {
  co_await asio::async_write(s, asio::buffer(bytes), asio::use_awaitable);
}

}  // namespace

TEST(Async, RequestReplyRoundTrip) {
  Sockets t;
  std::optional<Result<ResolveReply>> got;
  std::string server_saw;
  t.spawn([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 2; ++i) {
      auto req = co_await read_message<RewriteRequest>(t.b, {}, 2s);
      if (!req) {
        server_saw = req.error().message;
        co_return;
      }
      server_saw += req->address + ";";
      ResolveReply reply{proto::resolve_flag::kFinal, "local", "host", req->address};
      auto st = co_await write_message(t.b, reply, {}, 2s);
      EXPECT_TRUE(st.ok());
    }
  });
  t.spawn([&]() -> asio::awaitable<void> {
    // Named, not braced temporaries inside co_await: see async.h (GCC 12).
    RewriteRequest one{RewriteOp::Resolve, {}, {}, "one"};
    RewriteRequest two{RewriteOp::Verify, {}, {}, "two"};
    auto first = co_await call<ResolveReply>(t.a, one, {}, 2s);
    EXPECT_TRUE(first.ok());
    got.emplace(co_await call<ResolveReply>(t.a, two, {}, 2s));
  });
  t.run();
  EXPECT_EQ(server_saw, "one;two;");
  ASSERT_TRUE(got && got->ok()) << (got ? got->error().message : "no result");
  EXPECT_EQ((*got)->recipient, "two");
  EXPECT_EQ((*got)->transport, "local");
}

TEST(Async, ReadTimeout) {
  Sockets t;
  std::optional<Result<Frame>> got;
  t.spawn([&]() -> asio::awaitable<void> { got.emplace(co_await read_frame(t.a, {}, 100ms)); });
  t.run();
  ASSERT_TRUE(got);
  ASSERT_FALSE(got->ok());
  EXPECT_TRUE(contains(got->error().message, "read: timeout (0 of 4 bytes)")) << got->error().message;
}

TEST(Async, ReadTimeoutMidPayload) {
  Sockets t;
  std::optional<Result<Frame>> got;
  t.spawn([&]() -> asio::awaitable<void> { co_await write_raw(t.b, wire_bytes::u32(10) + "abc"); });
  t.spawn([&]() -> asio::awaitable<void> { got.emplace(co_await read_frame(t.a, {}, 100ms)); });
  t.run();
  ASSERT_FALSE(got->ok());
  EXPECT_TRUE(contains(got->error().message, "timeout (3 of 10 bytes)")) << got->error().message;
}

TEST(Async, WriteTimeoutWhenPeerDoesNotRead) {
  Sockets t;
  std::optional<Status> got;
  t.spawn([&]() -> asio::awaitable<void> {
    // Far more than a socket buffer holds; nobody reads the other end.
    got.emplace(co_await write_frame(t.a, std::string(kDefaultMaxPayload, 'x'), {}, 100ms));
  });
  t.run();
  ASSERT_FALSE(got->ok());
  EXPECT_TRUE(contains(got->error().message, "write: timeout")) << got->error().message;
}

TEST(Async, PeerClosed) {
  Sockets t;
  t.b.close();
  std::optional<Result<Frame>> got;
  t.spawn([&]() -> asio::awaitable<void> { got.emplace(co_await read_frame(t.a, {}, 2s)); });
  t.run();
  ASSERT_FALSE(got->ok());
  EXPECT_TRUE(contains(got->error().message, "connection closed by peer")) << got->error().message;
}

TEST(Async, TruncatedFrame) {
  Sockets t;
  std::optional<Result<Frame>> got;
  t.spawn([&]() -> asio::awaitable<void> {
    co_await write_raw(t.b, wire_bytes::u32(100) + std::string(10, 'x'));
    t.b.close();
  });
  t.spawn([&]() -> asio::awaitable<void> { got.emplace(co_await read_frame(t.a, {}, 2s)); });
  t.run();
  ASSERT_FALSE(got->ok());
  EXPECT_TRUE(contains(got->error().message, "truncated frame (10 of 100 bytes)")) << got->error().message;
}

// A payload past the first read step (kFrameReadStep) arrives whole, and
// one cut off past it is reported with the bytes that did arrive: the
// buffer grows in steps as bytes come, not to the announced size at once.
TEST(Async, FrameLargerThanOneReadStep) {
  Sockets t;
  const std::string payload = wire_bytes::pattern(3 * kFrameReadStep + 123);
  std::optional<Result<Frame>> got;
  t.spawn([&]() -> asio::awaitable<void> { co_await write_frame(t.b, payload, {}, 2s); });
  t.spawn([&]() -> asio::awaitable<void> { got.emplace(co_await read_frame(t.a, {}, 2s)); });
  t.run();
  ASSERT_TRUE(got->ok()) << got->error().message;
  EXPECT_EQ((*got)->payload, payload);
}

TEST(Async, TruncatedPastTheFirstReadStep) {
  Sockets t;
  std::optional<Result<Frame>> got;
  t.spawn([&]() -> asio::awaitable<void> {
    co_await write_raw(t.b, wire_bytes::u32(200000) + wire_bytes::pattern(100000));
    t.b.close();
  });
  t.spawn([&]() -> asio::awaitable<void> { got.emplace(co_await read_frame(t.a, {}, 2s)); });
  t.run();
  ASSERT_FALSE(got->ok());
  EXPECT_TRUE(contains(got->error().message, "truncated frame (100000 of 200000 bytes)")) << got->error().message;
}

TEST(Async, OversizedLengthPrefix) {
  Sockets t;
  std::optional<Result<Frame>> got;
  t.spawn([&]() -> asio::awaitable<void> { co_await write_raw(t.b, wire_bytes::u32(4097)); });
  t.spawn([&]() -> asio::awaitable<void> { got.emplace(co_await read_frame(t.a, {.max_payload = 4096}, 2s)); });
  t.run();
  ASSERT_FALSE(got->ok());
  EXPECT_TRUE(contains(got->error().message, "exceeds the 4096 byte limit")) << got->error().message;
}

TEST(Async, LimitBoundary) {
  Sockets t;
  std::optional<Result<Frame>> got;
  std::optional<Status> too_big;
  t.spawn([&]() -> asio::awaitable<void> {
    too_big.emplace(co_await write_frame(t.b, std::string(4097, 'y'), {.max_payload = 4096}, 2s));
    co_await write_frame(t.b, std::string(4096, 'y'), {.max_payload = 4096}, 2s);
  });
  t.spawn([&]() -> asio::awaitable<void> { got.emplace(co_await read_frame(t.a, {.max_payload = 4096}, 2s)); });
  t.run();
  EXPECT_FALSE(too_big->ok());
  ASSERT_TRUE(got->ok());
  EXPECT_EQ((*got)->payload, std::string(4096, 'y'));
}

TEST(Async, GarbageAndRefusals) {
  Sockets t;
  std::optional<Result<ResolveReply>> garbage, refused;
  t.spawn([&]() -> asio::awaitable<void> {
    co_await write_frame(t.b, "\x01\x03" "abc\x00", {}, 2s);
    proto::StatusReply retry{proto::kStatusRetry, "try later"};
    co_await write_message(t.b, retry, {}, 2s);
  });
  t.spawn([&]() -> asio::awaitable<void> {
    garbage.emplace(co_await read_message<ResolveReply>(t.a, {}, 2s));
    refused.emplace(co_await read_message<ResolveReply>(t.a, {}, 2s));
  });
  t.run();
  ASSERT_FALSE(garbage->ok());
  EXPECT_TRUE(contains(garbage->error().message, "truncated attribute count")) << garbage->error().message;
  ASSERT_FALSE(refused->ok());
  EXPECT_TRUE(contains(refused->error().message, "status 1: try later")) << refused->error().message;
}

TEST(Async, GenericSocketAsTheSkeletonHandsOut) {
  asio::io_context io;
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  asio::generic::stream_protocol proto(AF_UNIX, SOCK_STREAM);
  GenericSocket a(io, proto, sv[0]);
  GenericSocket b(io, proto, sv[1]);
  std::optional<Result<proto::StatusReply>> got;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    proto::StatusReply ok{0, "ok"};
    co_await write_message(a, ok, {}, 2s);
  }, asio::detached);
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    got.emplace(co_await read_message<proto::StatusReply>(b, {}, 2s));
  }, asio::detached);
  io.run_for(10s);
  ASSERT_TRUE(got && got->ok());
  EXPECT_EQ((*got)->reason, "ok");
  // Timeouts work on generic sockets too.
  std::optional<Result<Frame>> late;
  io.restart();
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { late.emplace(co_await read_frame(b, {}, 50ms)); },
                 asio::detached);
  io.run_for(10s);
  ASSERT_TRUE(late);
  EXPECT_TRUE(contains(late->error().message, "timeout"));
}

TEST(Async, RefuseSendsPrintableStatus) {
  Sockets t;
  std::optional<Result<proto::StatusReply>> got;
  std::optional<Result<ResolveReply>> as_call;
  t.spawn([&]() -> asio::awaitable<void> {
    co_await refuse(t.b, "message \"x\": bad\nvalue");
    co_await refuse(t.b, std::string(5000, 'r'));
  });
  t.spawn([&]() -> asio::awaitable<void> {
    got.emplace(co_await read_message<proto::StatusReply>(t.a, {}, 2s));
    as_call.emplace(co_await read_message<ResolveReply>(t.a, {}, 2s));
  });
  t.run();
  ASSERT_TRUE(got->ok()) << got->error().message;
  EXPECT_EQ((*got)->status, proto::kStatusFail);
  EXPECT_EQ((*got)->reason, "message \"x\": bad?value");
  ASSERT_FALSE(as_call->ok());
  EXPECT_TRUE(contains(as_call->error().message, "service refused request: status 2: rrrr"));
}
