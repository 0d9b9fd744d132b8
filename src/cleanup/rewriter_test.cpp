// rewriter_test.cpp - the trivial-rewrite adapter: built-in rewriting only
// when the service does not exist, errors (deferral) when it exists but
// fails.
#include "cleanup/rewriter.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cleanup/cleanup_test_util.h"
#include "rewrite/client.h"

namespace postern::cleanup {
namespace {

using namespace testing;

Result<std::string> run_rewrite(const RewriteFallback& fb, std::string_view address) {
  asio::io_context io;
  rewrite::Options o;
  o.timeout = std::chrono::seconds(2);
  rewrite::AsyncClient client(io, fb.socket, o);
  ServiceRewriter rw(client, fb);
  std::optional<Result<std::string>> out;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { out = co_await rw.rewrite("local", address); }, asio::detached);
  io.run();
  return *out;
}

TEST(ServiceRewriter, FallsBackOnlyWhenTheServiceIsAbsent) {
  Scratch s;
  RewriteFallback fb{s.queue() / "private" / "rewrite", "example.com", true};
  auto r = run_rewrite(fb, "joe");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, "joe@example.com");
  r = run_rewrite(fb, "joe@example.org");
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "joe@example.org");
  r = run_rewrite(fb, "");
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "");
  fb.append_at_myorigin = false;
  r = run_rewrite(fb, "joe");
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "joe");
}

TEST(ServiceRewriter, ABrokenServiceIsAnError) {
  Scratch s;
  RewriteFallback fb{s.queue() / "private" / "rewrite", "example.com", true};
  // A socket nobody listens on: connection refused, not "absent".
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", fb.socket.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ::close(fd);
  auto r = run_rewrite(fb, "joe");
  EXPECT_FALSE(r);
}

}  // namespace
}  // namespace postern::cleanup
