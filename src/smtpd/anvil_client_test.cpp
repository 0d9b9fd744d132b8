// anvil_client_test.cpp - smtpd's anvil client against a fake anvil.
#include "smtpd/anvil_client.h"

#include <unistd.h>

#include <filesystem>
#include <map>
#include <vector>

#include <gtest/gtest.h>

using namespace postern;
using namespace std::chrono_literals;
namespace proto = ipc::proto;

namespace {

// A fake anvil: counts per client, remembers every request it saw, and
// closes each connection after `close_after` requests (0: never).
struct FakeAnvil {
  asio::io_context& io;
  std::filesystem::path path;
  asio::local::stream_protocol::acceptor acceptor;
  std::map<std::string, std::int64_t> counts;
  std::vector<std::string> seen;
  int accepted = 0;
  int close_after = 0;

  FakeAnvil(asio::io_context& io_, std::filesystem::path p) : io(io_), path(std::move(p)), acceptor(io_) {
    std::filesystem::remove(path);
    acceptor = asio::local::stream_protocol::acceptor(io, asio::local::stream_protocol::endpoint(path.string()));
    asio::co_spawn(io, accept_loop(), asio::detached);
  }
  asio::awaitable<void> accept_loop() {
    for (;;) {
      error_code ec;
      ipc::LocalSocket s(io);
      co_await acceptor.async_accept(s, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      accepted++;
      asio::co_spawn(io, serve(std::move(s)), asio::detached);
    }
  }
  asio::awaitable<void> serve(ipc::LocalSocket s) {
    for (int n = 1;; ++n) {
      auto req = co_await ipc::read_message<proto::AnvilRequest>(s, {}, 5s);
      if (!req) co_return;
      std::string op = req->request == proto::AnvilOp::Connect ? "connect" : "disconnect";
      seen.push_back(op + " " + req->client);
      if (req->request == proto::AnvilOp::Connect) {
        proto::AnvilReply r{++counts[req->client], counts[req->client]};
        co_await ipc::write_message(s, r, {}, 5s);
      } else {
        counts[req->client]--;
        proto::StatusReply r{0, ""};
        co_await ipc::write_message(s, std::move(r), {}, 5s);
      }
      if (close_after > 0 && n >= close_after) co_return;
    }
  }
};

std::filesystem::path temp_socket(const char* name) {
  return std::filesystem::temp_directory_path() / (std::string(name) + "." + std::to_string(::getpid()));
}

void run(asio::io_context& io, std::function<asio::awaitable<void>()> f) {
  bool done = false;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    co_await f();
    done = true;
    io.stop();
  }, asio::detached);
  io.run_for(10s);
  EXPECT_TRUE(done) << "did not finish";
}

}  // namespace

TEST(AnvilClient, SessionsShareOneConnection) {
  asio::io_context io;
  FakeAnvil fake(io, temp_socket("anvil-share"));
  smtpd::AnvilClient client(io, fake.path, 2s);
  std::vector<std::int64_t> counts;
  run(io, [&]() -> asio::awaitable<void> {
    // Three concurrent sessions.
    int finished = 0;
    for (int i = 0; i < 3; ++i)
      asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        auto c = co_await client.connect("smtp", "192.0.2.1");
        if (c) counts.push_back(c->count);
        finished++;
      }, asio::detached);
    asio::steady_timer t(io);
    while (finished < 3) {
      t.expires_after(10ms);
      co_await t.async_wait(asio::use_awaitable);
    }
    auto c = co_await client.connect("smtp", "192.0.2.1");
    EXPECT_TRUE(c);
    if (!c) co_return;
    client.disconnect("smtp", "192.0.2.1", c->generation);
    while (fake.seen.size() < 5) {
      t.expires_after(10ms);
      co_await t.async_wait(asio::use_awaitable);
    }
  });
  EXPECT_EQ(counts, (std::vector<std::int64_t>{1, 2, 3}));
  EXPECT_EQ(fake.accepted, 1);
  EXPECT_EQ(fake.seen.back(), "disconnect 192.0.2.1");
  EXPECT_EQ(fake.counts["192.0.2.1"], 3);
  std::filesystem::remove(fake.path);
}

TEST(AnvilClient, UnreachableMeansNoLimitAndNoRetryStorm) {
  asio::io_context io;
  auto path = temp_socket("anvil-none");
  std::filesystem::remove(path);
  smtpd::AnvilClient client(io, path, 1s);
  run(io, [&]() -> asio::awaitable<void> {
    auto a = co_await client.connect("smtp", "192.0.2.1");
    EXPECT_FALSE(a);
    // Within kRetryDelay the client does not even try.
    auto b = co_await client.connect("smtp", "192.0.2.1");
    EXPECT_FALSE(b);
  });
  EXPECT_EQ(client.connects(), 0u);
}

TEST(AnvilClient, StaleGenerationDisconnectIsDropped) {
  asio::io_context io;
  FakeAnvil fake(io, temp_socket("anvil-gen"));
  fake.close_after = 1;  // every connection answers one request, then closes
  smtpd::AnvilClient client(io, fake.path, 2s);
  run(io, [&]() -> asio::awaitable<void> {
    auto a = co_await client.connect("smtp", "a");
    EXPECT_TRUE(a);
    if (!a) co_return;
    // The reused connection is gone: one retry on a fresh one.
    auto b = co_await client.connect("smtp", "b");
    EXPECT_TRUE(b);
    if (!b) co_return;
    EXPECT_NE(a->generation, b->generation);
    // anvil forgot "a" with its connection: its disconnect must not reach
    // the new connection.
    client.disconnect("smtp", "a", a->generation);
    asio::steady_timer t(io, 100ms);
    co_await t.async_wait(asio::use_awaitable);
  });
  EXPECT_EQ(fake.seen, (std::vector<std::string>{"connect a", "connect b"}));
  EXPECT_EQ(fake.accepted, 2);
  std::filesystem::remove(fake.path);
}
