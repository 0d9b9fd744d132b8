#include "table.h"

#include <gtest/gtest.h>

using namespace postern::anvil;
using namespace std::chrono_literals;

TEST(AnvilTable, CountsPerServiceAndClient) {
  Table t(60s, 100);
  auto now = Clock::time_point{} + 1000s;
  EXPECT_EQ(*t.connect("smtp", "192.0.2.1", now), (Counts{1, 1}));
  EXPECT_EQ(*t.connect("smtp", "192.0.2.1", now), (Counts{2, 2}));
  EXPECT_EQ(*t.connect("smtp", "192.0.2.2", now), (Counts{1, 1}));
  EXPECT_EQ(*t.connect("submission", "192.0.2.1", now), (Counts{1, 1}));
  EXPECT_EQ(t.lookup("smtp", "192.0.2.1", now), (Counts{2, 2}));
  t.disconnect("smtp", "192.0.2.1", now);
  EXPECT_EQ(t.lookup("smtp", "192.0.2.1", now), (Counts{1, 2}));
  EXPECT_EQ(t.lookup("smtp", "198.51.100.1", now), (Counts{0, 0}));
  EXPECT_EQ(t.size(), 3u);
}

TEST(AnvilTable, DisconnectNeverGoesNegative) {
  Table t(60s, 100);
  auto now = Clock::time_point{} + 1000s;
  t.disconnect("smtp", "192.0.2.1", now);  // unknown: ignored
  EXPECT_EQ(t.size(), 0u);
  (void)t.connect("smtp", "192.0.2.1", now);
  t.disconnect("smtp", "192.0.2.1", now);
  t.disconnect("smtp", "192.0.2.1", now);
  EXPECT_EQ(t.lookup("smtp", "192.0.2.1", now).count, 0);
  EXPECT_EQ(*t.connect("smtp", "192.0.2.1", now), (Counts{1, 2}));
}

TEST(AnvilTable, RateWindowResetsAfterTimeUnit) {
  Table t(60s, 100);
  auto t0 = Clock::time_point{} + 1000s;
  (void)t.connect("smtp", "a", t0);
  t.disconnect("smtp", "a", t0);
  (void)t.connect("smtp", "a", t0 + 30s);
  t.disconnect("smtp", "a", t0 + 30s);
  EXPECT_EQ(t.lookup("smtp", "a", t0 + 59s).rate, 2);
  EXPECT_EQ(t.lookup("smtp", "a", t0 + 60s).rate, 0);
  // A fixed window, started by the first event after the last one ended.
  EXPECT_EQ(*t.connect("smtp", "a", t0 + 61s), (Counts{1, 1}));
}

TEST(AnvilTable, EntriesDroppedWhenIdleAndWindowOver) {
  Table t(60s, 100);
  auto t0 = Clock::time_point{} + 1000s;
  (void)t.connect("smtp", "a", t0);
  (void)t.connect("smtp", "b", t0);
  t.disconnect("smtp", "a", t0 + 10s);  // window still open: kept for the rate
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(t.expire(t0 + 59s), 0u);
  EXPECT_EQ(t.expire(t0 + 60s), 1u);  // "a" goes, "b" is still connected
  EXPECT_EQ(t.size(), 1u);
  t.disconnect("smtp", "b", t0 + 120s);  // window over: dropped at once
  EXPECT_EQ(t.size(), 0u);
}

TEST(AnvilTable, BoundedSizeRefusesNewClientsButKeepsOpenOnes) {
  Table t(60s, 2);
  auto t0 = Clock::time_point{} + 1000s;
  ASSERT_TRUE(t.connect("smtp", "a", t0));
  ASSERT_TRUE(t.connect("smtp", "b", t0));
  auto full = t.connect("smtp", "c", t0);
  ASSERT_FALSE(full);
  EXPECT_NE(full.error().message.find("table full"), std::string::npos);
  // Known clients are still counted when the table is full.
  EXPECT_EQ(*t.connect("smtp", "a", t0), (Counts{2, 2}));
  // Stale entries make room; open ones are never evicted.
  t.disconnect("smtp", "b", t0);
  EXPECT_FALSE(t.connect("smtp", "c", t0 + 10s));
  EXPECT_EQ(*t.connect("smtp", "c", t0 + 60s), (Counts{1, 1}));
  EXPECT_EQ(t.lookup("smtp", "a", t0 + 60s).count, 2);
  EXPECT_EQ(t.size(), 2u);
}

TEST(AnvilTable, StatsTrackPeaksAndReset) {
  Table t(60s, 100);
  auto t0 = Clock::time_point{} + 1000s;
  (void)t.connect("smtp", "127.0.0.1", t0);
  (void)t.connect("smtp", "127.0.0.1", t0);
  (void)t.connect("smtp", "::1", t0);
  auto s = t.take_stats();
  EXPECT_EQ(s.count.value, 2);
  EXPECT_EQ(s.count.who, "smtp:127.0.0.1");
  EXPECT_EQ(s.rate.value, 2);
  EXPECT_EQ(s.size.value, 2);
  EXPECT_NE(s.count.when, 0);
  auto again = t.take_stats();
  EXPECT_EQ(again.count.value, 0);
}

TEST(AnvilTable, LargeCountsStayExact) {
  Table t(60s, 10);
  auto t0 = Clock::time_point{} + 1000s;
  for (int i = 0; i < 10000; ++i) (void)t.connect("smtp", "a", t0);
  for (int i = 0; i < 9000; ++i) t.disconnect("smtp", "a", t0);
  EXPECT_EQ(t.lookup("smtp", "a", t0).count, 1000);
  t.disconnect("smtp", "a", t0, 999);  // a closing connection gives back all it held
  EXPECT_EQ(t.lookup("smtp", "a", t0).count, 1);
  t.disconnect("smtp", "a", t0 + 60s, 5);  // never below zero; window over: dropped
  EXPECT_EQ(t.size(), 0u);
}

TEST(AnvilTable, MessageAndRecipientRatesShareTheWindow) {
  Table t(60s, 100);
  auto t0 = Clock::time_point{} + 1000s;
  (void)t.connect("smtp", "a", t0);
  EXPECT_EQ(*t.event("smtp", "a", Event::Message, t0), 1);
  EXPECT_EQ(*t.event("smtp", "a", Event::Message, t0 + 1s), 2);
  EXPECT_EQ(*t.event("smtp", "a", Event::Recipient, t0 + 1s), 1);
  EXPECT_EQ(*t.event("smtp", "a", Event::Auth, t0 + 1s), 1);
  EXPECT_EQ(*t.event("smtp", "a", Event::Auth, t0 + 2s), 2);
  EXPECT_EQ(*t.event("smtp", "b", Event::Recipient, t0 + 1s), 1);  // a client of its own, made on the way
  EXPECT_EQ(t.lookup("smtp", "a", t0 + 1s), (Counts{1, 1}));       // connections are not touched
  // A new window starts every rate again.
  EXPECT_EQ(*t.event("smtp", "a", Event::Message, t0 + 61s), 1);
  EXPECT_EQ(*t.event("smtp", "a", Event::Recipient, t0 + 61s), 1);
  EXPECT_EQ(*t.connect("smtp", "a", t0 + 61s), (Counts{2, 1}));
  auto s = t.take_stats();
  EXPECT_EQ(s.message.value, 2);
  EXPECT_EQ(s.message.who, "smtp:a");
  EXPECT_EQ(s.recipient.value, 1);
  EXPECT_EQ(s.auth.value, 2);
  // A full table refuses an event for a new client, like a connect.
  Table full(60s, 1);
  (void)full.connect("smtp", "a", t0);
  EXPECT_FALSE(full.event("smtp", "b", Event::Message, t0));
}

// smtpd_client_new_tls_session_rate_limit: newtls counts, newtls_report
// (event_rate) only reads, both within the window.
TEST(AnvilTable, NewTlsSessionsCountedAndReported) {
  Table t(60s, 100);
  auto t0 = Clock::time_point{} + 1000s;
  EXPECT_EQ(t.event_rate("smtp", "a", Event::NewTls, t0), 0);  // unknown client
  EXPECT_EQ(*t.event("smtp", "a", Event::NewTls, t0), 1);
  EXPECT_EQ(*t.event("smtp", "a", Event::NewTls, t0 + 1s), 2);
  EXPECT_EQ(t.event_rate("smtp", "a", Event::NewTls, t0 + 2s), 2);
  EXPECT_EQ(t.event_rate("smtp", "a", Event::NewTls, t0 + 2s), 2);  // reading counts nothing
  EXPECT_EQ(t.event_rate("smtp", "a", Event::Auth, t0 + 2s), 0);
  EXPECT_EQ(t.event_rate("smtp", "a", Event::NewTls, t0 + 61s), 0);  // the window is over
  EXPECT_EQ(t.take_stats().newtls.value, 2);
}
