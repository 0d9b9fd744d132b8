// miss_cache_test.cpp - remembered "not found" answers: expiry, bound, no stale hits.
#include "maps/miss_cache.h"

#include <gtest/gtest.h>

#include <string>

namespace postern::maps {
namespace {

struct FakeClock {
  MissCache::Clock::time_point t{};
  MissCache cache{[this] { return t; }};
};

TEST(MissCache, RemembersForOneSecondOnly) {
  FakeClock c;
  EXPECT_FALSE(c.cache.recent("bob@example.com"));
  c.cache.add("bob@example.com");
  EXPECT_TRUE(c.cache.recent("bob@example.com"));
  EXPECT_FALSE(c.cache.recent("bob"));
  c.t += MissCache::kTtl - std::chrono::milliseconds(1);
  EXPECT_TRUE(c.cache.recent("bob@example.com"));
  c.t += std::chrono::milliseconds(1);
  EXPECT_FALSE(c.cache.recent("bob@example.com"));
  EXPECT_EQ(c.cache.size(), 0u);  // the expired name is gone, not kept
}

TEST(MissCache, AddingAgainRestartsTheSecond) {
  FakeClock c;
  c.cache.add("x");
  c.t += std::chrono::milliseconds(900);
  c.cache.add("x");
  c.t += std::chrono::milliseconds(900);
  EXPECT_TRUE(c.cache.recent("x"));
}

TEST(MissCache, StaysBounded) {
  FakeClock c;
  for (std::size_t i = 0; i < MissCache::kMaxEntries; ++i) c.cache.add("n" + std::to_string(i));
  EXPECT_EQ(c.cache.size(), MissCache::kMaxEntries);
  // Full and nothing expired: everything goes, the new name stays.
  c.cache.add("one-more");
  EXPECT_EQ(c.cache.size(), 1u);
  EXPECT_TRUE(c.cache.recent("one-more"));
  EXPECT_FALSE(c.cache.recent("n0"));
  // Full with expired names: only those go.
  for (std::size_t i = 1; i < MissCache::kMaxEntries; ++i) c.cache.add("n" + std::to_string(i));
  c.t += MissCache::kTtl;
  c.cache.add("fresh");
  EXPECT_EQ(c.cache.size(), 1u);
  c.cache.add("fresh2");
  EXPECT_EQ(c.cache.size(), 2u);
}

}  // namespace
}  // namespace postern::maps
