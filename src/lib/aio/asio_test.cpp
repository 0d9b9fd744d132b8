#include "aio/asio.h"

#include <gtest/gtest.h>

using namespace postern;

// The separately compiled Asio links and runs a coroutine.
TEST(Asio, CoroutineRuns) {
  asio::io_context io;
  int got = 0;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(1));
        co_await t.async_wait(asio::use_awaitable);
        got = 42;
      },
      asio::detached);
  io.run();
  EXPECT_EQ(got, 42);
}
