// reason_test.cpp - the error, retry and discard agents' answer.
#include "error/reason.h"

#include <gtest/gtest.h>

namespace postern::error_agent {
namespace {

TEST(ErrorReason, ModeFollowsProgramAndService) {
  EXPECT_EQ(mode_for(false, "error"), Mode::Bounce);
  EXPECT_EQ(mode_for(false, "retry"), Mode::Defer);
  EXPECT_EQ(mode_for(false, "other-error"), Mode::Bounce);
  EXPECT_EQ(mode_for(true, "discard"), Mode::Discard);
  EXPECT_EQ(mode_for(true, "retry"), Mode::Discard);
}

TEST(ErrorReason, NextHopIsTheReason) {
  auto b = outcome_for(Mode::Bounce, "5.1.2 no such domain");
  EXPECT_TRUE(b.is_bounced());
  EXPECT_EQ(b.dsn, "5.1.2");
  EXPECT_EQ(b.text, "no such domain");
  // Without a code: the mode's generic one.
  auto d = outcome_for(Mode::Defer, "down for maintenance");
  EXPECT_TRUE(d.is_deferred());
  EXPECT_EQ(d.dsn, "4.0.0");
  EXPECT_EQ(d.text, "down for maintenance");
  auto s = outcome_for(Mode::Discard, "spam trap");
  EXPECT_TRUE(s.is_sent());
  EXPECT_EQ(s.dsn, "2.0.0");
  EXPECT_EQ(s.text, "spam trap");
}

TEST(ErrorReason, TheClassDigitFollowsTheAgent) {
  // qmgr acts on the class digit: "error:4.1.1" must still bounce, and a
  // discard must never defer or bounce.
  EXPECT_EQ(outcome_for(Mode::Bounce, "4.1.1 odd").dsn, "5.1.1");
  EXPECT_TRUE(outcome_for(Mode::Bounce, "4.1.1 odd").is_bounced());
  EXPECT_EQ(outcome_for(Mode::Defer, "5.7.1 later").dsn, "4.7.1");
  EXPECT_EQ(outcome_for(Mode::Discard, "5.0.0 gone").dsn, "2.0.0");
}

TEST(ErrorReason, EmptyAndHostileNextHops) {
  EXPECT_EQ(outcome_for(Mode::Bounce, "").text, "delivery refused by the mail system");
  EXPECT_EQ(outcome_for(Mode::Discard, "  ").text, "discarded");
  EXPECT_EQ(outcome_for(Mode::Bounce, "5.1.1").text, "delivery refused by the mail system");
  // A code-like prefix that is not valid is text.
  EXPECT_EQ(outcome_for(Mode::Bounce, "9.9.9 x").dsn, "5.0.0");
  EXPECT_EQ(outcome_for(Mode::Bounce, "9.9.9 x").text, "9.9.9 x");
  // Control characters never reach a log line or a DSN; length is capped.
  EXPECT_EQ(outcome_for(Mode::Bounce, "a\tb\x01").text.find_first_of("\t\x01"), std::string::npos);
  EXPECT_LE(outcome_for(Mode::Bounce, std::string(5000, 'x')).text.size(), 900u);
}

}  // namespace
}  // namespace postern::error_agent
