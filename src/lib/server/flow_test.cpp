#include "server/flow.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "server/status.h"

namespace postern::server {
namespace {

TEST(Flow, OffUntilAttached) {
  // No attach_flow_pipe() in this process: flow control is off.
  EXPECT_EQ(token_count(), std::nullopt);
  EXPECT_TRUE(take_token());
  replenish(10, 0, true);  // nothing to fill
}

TEST(Flow, TokensThroughThePipe) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
  // The pipe may have come out on 5 or 6 itself (a test runner leaves 3
  // and 4 open): move both ends out of the way before placing them.
  int r = ::fcntl(p[0], F_DUPFD_CLOEXEC, 64), w = ::fcntl(p[1], F_DUPFD_CLOEXEC, 64);
  ASSERT_GE(r, 64);
  ASSERT_GE(w, 64);
  ::close(p[0]);
  ::close(p[1]);
  ASSERT_EQ(::dup2(r, kFlowReadFd), kFlowReadFd);
  ASSERT_EQ(::dup2(w, kFlowWriteFd), kFlowWriteFd);
  ::close(r);
  ::close(w);
  (void)::fcntl(kFlowReadFd, F_SETFL, O_NONBLOCK);
  attach_flow_pipe();

  EXPECT_EQ(token_count(), 0u);
  EXPECT_FALSE(take_token());      // none: the caller pauses
  replenish(10, 0, true);          // incoming/ drained: fill up
  EXPECT_EQ(token_count(), 10u);
  EXPECT_TRUE(take_token());
  EXPECT_TRUE(take_token());
  EXPECT_EQ(token_count(), 8u);
  replenish(10, 1, false);         // a backlog: one per message taken
  EXPECT_EQ(token_count(), 9u);
  replenish(10, 5, false);         // never above the target
  EXPECT_EQ(token_count(), 10u);
  replenish(4, 0, false);          // a lower target takes the excess back
  EXPECT_EQ(token_count(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(take_token());
  EXPECT_FALSE(take_token());
  ::close(kFlowReadFd);
  ::close(kFlowWriteFd);
}

}  // namespace
}  // namespace postern::server
