// scheduler_test.cpp - backoff, expiry, concurrency window, per-transport
// parameters and round-robin of the queue manager.
#include "scheduler.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

using namespace postern::qmgr;
using std::chrono::seconds;

TEST(Backoff, ClampsAgeBetweenMinimalAndMaximal) {
  EXPECT_EQ(backoff_delay(seconds(0), seconds(300), seconds(4000)), seconds(300));
  EXPECT_EQ(backoff_delay(seconds(299), seconds(300), seconds(4000)), seconds(300));
  EXPECT_EQ(backoff_delay(seconds(1000), seconds(300), seconds(4000)), seconds(1000));
  EXPECT_EQ(backoff_delay(seconds(100000), seconds(300), seconds(4000)), seconds(4000));
  // A maximal below the minimal is read as the minimal.
  EXPECT_EQ(backoff_delay(seconds(10), seconds(300), seconds(100)), seconds(300));
}

TEST(Backoff, WaitsDoubleAsTheMessageAges) {
  // Retrying at age + backoff(age) roughly doubles the age each time.
  seconds age(300);
  std::vector<seconds> waits;
  for (int i = 0; i < 6; ++i) {
    seconds w = backoff_delay(age, seconds(300), seconds(4000));
    waits.push_back(w);
    age += w;
  }
  EXPECT_EQ(waits[0], seconds(300));
  EXPECT_EQ(waits[1], seconds(600));
  EXPECT_EQ(waits[2], seconds(1200));
  EXPECT_EQ(waits[3], seconds(2400));
  EXPECT_EQ(waits[4], seconds(4000));
  EXPECT_EQ(waits[5], seconds(4000));
}

TEST(Expiry, LifetimeZeroMeansOneAttempt) {
  EXPECT_TRUE(expired(seconds(0), seconds(0)));
  EXPECT_FALSE(expired(seconds(10), seconds(11)));
  EXPECT_TRUE(expired(seconds(11), seconds(11)));
}

TEST(Window, StartsAtInitialCappedByLimit) {
  Window w({.initial = 5, .limit = 3, .failed_cohort_limit = 1});
  EXPECT_EQ(w.allowed(), 3);
  Window u({.initial = 5, .limit = 0, .failed_cohort_limit = 1});
  EXPECT_EQ(u.allowed(), 5);
  EXPECT_TRUE(u.can_start(4));
  EXPECT_FALSE(u.can_start(5));
}

TEST(Window, GrowsOneStepPerSuccessfulCohortUpToLimit) {
  Window w({.initial = 2, .limit = 4, .failed_cohort_limit = 1});
  w.success();
  EXPECT_EQ(w.allowed(), 2);  // half a cohort
  w.success();
  EXPECT_EQ(w.allowed(), 3);
  for (int i = 0; i < 3; ++i) w.success();
  EXPECT_EQ(w.allowed(), 4);
  for (int i = 0; i < 100; ++i) w.success();
  EXPECT_EQ(w.allowed(), 4);
  EXPECT_FALSE(w.dead());
}

TEST(Window, FailedCohortMakesDestinationDead) {
  Window w({.initial = 2, .limit = 10, .failed_cohort_limit = 1});
  EXPECT_FALSE(w.failure());  // window 2 -> 1.5, half a failed cohort
  EXPECT_FALSE(w.dead());
  EXPECT_TRUE(w.failure());   // a whole cohort failed
  EXPECT_TRUE(w.dead());
  EXPECT_EQ(w.allowed(), 0);
  EXPECT_FALSE(w.can_start(0));
  EXPECT_FALSE(w.failure());  // already dead: reported once
  w.revive();
  EXPECT_FALSE(w.dead());
  EXPECT_EQ(w.allowed(), 2);
}

TEST(Window, SuccessResetsFailedCohorts) {
  Window w({.initial = 1, .limit = 10, .failed_cohort_limit = 2});
  EXPECT_FALSE(w.failure());
  w.success();  // window 1 -> 2
  EXPECT_EQ(w.failed_cohorts(), 0);
  EXPECT_FALSE(w.failure());  // 0.5 cohort, window 1.5
  EXPECT_FALSE(w.failure());  // 1.5
  EXPECT_TRUE(w.failure());   // 2.5 >= 2
}

TEST(Window, CohortLimitZeroNeverDies) {
  Window w({.initial = 1, .limit = 10, .failed_cohort_limit = 0});
  for (int i = 0; i < 50; ++i) EXPECT_FALSE(w.failure());
  EXPECT_EQ(w.allowed(), 1);
}

TEST(Window, NeverBelowOne) {
  Window w({.initial = 0, .limit = 10, .failed_cohort_limit = 0});
  EXPECT_EQ(w.allowed(), 1);
}

TEST(Feedback, ParsesPostfixForms) {
  auto per = parse_feedback("1/concurrency");
  ASSERT_TRUE(per);
  EXPECT_TRUE(per->per_concurrency);
  EXPECT_DOUBLE_EQ(per->amount, 1.0);
  EXPECT_DOUBLE_EQ(per->step(4.5), 0.25);
  auto fixed = parse_feedback(" 0.5 ");
  ASSERT_TRUE(fixed);
  EXPECT_FALSE(fixed->per_concurrency);
  EXPECT_DOUBLE_EQ(fixed->step(8), 0.5);
  EXPECT_TRUE(parse_feedback("0"));
  EXPECT_TRUE(parse_feedback("0.5 / concurrency"));
  for (const char* bad : {"", "2", "-1", "1/window", "x", "1/", "/concurrency", "nan"})
    EXPECT_FALSE(parse_feedback(bad)) << bad;
}

TEST(Window, FixedFeedbackMovesByItsAmount) {
  WindowLimits l{.initial = 2, .limit = 10, .failed_cohort_limit = 0};
  l.positive = *parse_feedback("1");
  l.negative = *parse_feedback("1");
  Window w(l);
  w.success();
  EXPECT_EQ(w.allowed(), 3);  // a whole step per success, not per cohort
  w.success();
  EXPECT_EQ(w.allowed(), 4);
  EXPECT_FALSE(w.failure());
  EXPECT_EQ(w.allowed(), 3);
  for (int i = 0; i < 10; ++i) w.failure();
  EXPECT_EQ(w.allowed(), 1);  // never below one
  // Zero positive feedback: the window never grows.
  WindowLimits z{.initial = 2, .limit = 10, .failed_cohort_limit = 1};
  z.positive = *parse_feedback("0");
  Window still(z);
  for (int i = 0; i < 20; ++i) still.success();
  EXPECT_EQ(still.allowed(), 2);
  // The failed cohorts count the same whatever the negative feedback.
  EXPECT_FALSE(still.failure());
  EXPECT_TRUE(still.failure());
}

TEST(PerTransport, SpecificNameWinsOverDefault) {
  std::map<std::string, std::string> cf{{"default_destination_recipient_limit", "50"},
                                        {"local_destination_recipient_limit", "1"}};
  auto look = [&](const std::string& n) { return cf.count(n) ? cf[n] : std::string(); };
  EXPECT_EQ(per_transport(look, "local", "destination_recipient_limit", "default_destination_recipient_limit"), "1");
  EXPECT_EQ(per_transport(look, "smtp", "destination_recipient_limit", "default_destination_recipient_limit"), "50");
}

TEST(ParseCount, RejectsJunk) {
  EXPECT_EQ(parse_count("12", 5), 12);
  EXPECT_EQ(parse_count(" 7 ", 5), 7);
  EXPECT_EQ(parse_count("", 5), 5);
  EXPECT_EQ(parse_count("-3", 5), 5);
  EXPECT_EQ(parse_count("3x", 5), 5);
  EXPECT_EQ(parse_count("99999999999999999999999", 5), 5);
}

TEST(RoundRobin, VisitsEveryIndexInTurn) {
  RoundRobin rr;
  std::vector<std::size_t> seen;
  for (int i = 0; i < 6; ++i) seen.push_back(rr.next(3));
  EXPECT_EQ(seen, (std::vector<std::size_t>{0, 1, 2, 0, 1, 2}));
  // The sequence shrinking does not break the cursor.
  EXPECT_LT(rr.next(1), 1u);
  EXPECT_EQ(rr.next(0), 0u);
}

TEST(QueueName, NextHopInLowerCase) {
  QueueNameOptions o;
  EXPECT_EQ(queue_name(50, "smtp", "Example.ORG", "Joe@Example.ORG", o), "example.org");
  EXPECT_EQ(queue_name(50, "smtp", "[GW]:25", "joe@example.org", o), "[gw]:25");
}

TEST(QueueName, PerRecipientWithoutExtension) {
  QueueNameOptions o;
  o.recipient_delimiter = "+-";
  EXPECT_EQ(queue_name(1, "local", "MX.example", "Joe+Lists@mx.example", o), "joe@mx.example");
  EXPECT_EQ(queue_name(1, "local", "mx.example", "joe-x@mx.example", o), "joe@mx.example");
  // The owner-/-request names and the double-bounce address keep theirs.
  EXPECT_EQ(queue_name(1, "local", "mx.example", "owner-list@mx.example", o), "owner-list@mx.example");
  EXPECT_EQ(queue_name(1, "local", "mx.example", "list-request@mx.example", o), "list-request@mx.example");
  EXPECT_EQ(queue_name(1, "local", "mx.example", "double-bounce@mx.example", o), "double-bounce@mx.example");
  o.recipient_delimiter.clear();
  EXPECT_EQ(queue_name(1, "local", "mx.example", "joe+x@mx.example", o), "joe+x@mx.example");
  // The recipient's domain is not part of it: the next hop stands for it.
  EXPECT_EQ(queue_name(1, "local", "mx.example", "joe@localhost", o), "joe@mx.example");
}

TEST(QueueName, ErrorAndRetryAreNotPerRecipient) {
  QueueNameOptions o;
  EXPECT_EQ(queue_name(1, "error", "5.1.1 User Unknown", "joe@x", o), "5.1.1 user unknown");
  EXPECT_EQ(queue_name(1, "retry", "4.3.0 Later", "joe@x", o), "4.3.0 later");
}

TEST(ConnCache, OnAfterBackToBackDeliveriesOnly) {
  ConnCache c;
  auto t0 = ConnCache::Clock::now();
  // A first burst (concurrent, but nothing finished yet): no caching.
  auto f = c.select(1, t0);
  EXPECT_FALSE(f.load || f.store);
  f = c.select(3, t0);
  EXPECT_FALSE(f.load || f.store);
  // A delivery finished just now: the next one is back to back.
  c.done(t0);
  f = c.select(3, t0 + std::chrono::milliseconds(200));
  EXPECT_TRUE(f.load && f.store);
  // Still concurrent: stays on, even without a recent finish.
  f = c.select(2, t0 + std::chrono::seconds(5));
  EXPECT_TRUE(f.load && f.store);
  // Neither concurrent nor back to back: store off, load stays (use up
  // what is cached instead of connecting beside it).
  f = c.select(1, t0 + std::chrono::seconds(5));
  EXPECT_TRUE(f.load);
  EXPECT_FALSE(f.store);
  // Back to back again: store on again.
  c.done(t0 + std::chrono::seconds(6));
  f = c.select(1, t0 + std::chrono::seconds(6) + std::chrono::milliseconds(10));
  EXPECT_TRUE(f.load && f.store);
}
