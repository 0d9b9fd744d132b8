#include "server/status.h"

#include <gtest/gtest.h>

using namespace postern::server;

TEST(Status, RoundTrip) {
  for (auto st : {ChildState::Available, ChildState::Busy, ChildState::Retiring}) {
    auto b = encode_status({4711, st});
    auto m = decode_status(b.data(), b.size());
    ASSERT_TRUE(m);
    EXPECT_EQ(m->pid, 4711);
    EXPECT_EQ(m->state, st);
  }
}

TEST(Status, RejectsMalformed) {
  auto b = encode_status({1, ChildState::Available});
  EXPECT_FALSE(decode_status(b.data(), 7));
  auto bad = b;
  bad[0] = 'X';
  EXPECT_FALSE(decode_status(bad.data(), bad.size()));
  bad = b;
  bad[1] = 'Z';
  EXPECT_FALSE(decode_status(bad.data(), bad.size()));
  bad = b;
  bad[4] = 0x80;  // negative pid
  EXPECT_FALSE(decode_status(bad.data(), bad.size()));
  bad = b;
  bad[7] = 0;  // pid 0
  EXPECT_FALSE(decode_status(bad.data(), bad.size()));
}
