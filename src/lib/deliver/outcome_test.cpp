// outcome_test.cpp - status codes, dispositions and Postfix's errno mapping.
#include "deliver/outcome.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace postern::deliver {
namespace {

TEST(Outcome, DispositionFollowsStatusClass) {
  EXPECT_TRUE(Outcome::from_dsn("2.0.0", "ok").is_sent());
  EXPECT_TRUE(Outcome::from_dsn("4.2.0", "busy").is_deferred());
  EXPECT_TRUE(Outcome::from_dsn("5.1.1", "unknown").is_bounced());
  Outcome bad = Outcome::from_dsn("9.9.9", "weird");
  EXPECT_TRUE(bad.is_deferred());
  EXPECT_EQ(bad.dsn, "4.0.0");
  EXPECT_TRUE(Outcome::from_dsn("", "empty").is_deferred());
}

TEST(Outcome, ConstructorsForceTheMatchingClass) {
  EXPECT_EQ(Outcome::deferred("5.2.2", "x").dsn, "4.2.2");
  EXPECT_EQ(Outcome::bounced("4.3.0", "x").dsn, "5.3.0");
  EXPECT_EQ(Outcome::bounced("garbage", "x").dsn, "5.0.0");
  EXPECT_EQ(Outcome::sent("x", "5.0.0").dsn, "2.0.0");
}

TEST(Outcome, SoftBounceReportsBouncesAsDeferrals) {
  auto b = Outcome::bounced("5.1.1", "user unknown");
  auto r = report_outcome(b, true);
  EXPECT_EQ(r.dsn, "4.1.1");
  EXPECT_EQ(r.status, "SOFTBOUNCE");
  r = report_outcome(b, false);
  EXPECT_EQ(r.dsn, "5.1.1");
  EXPECT_EQ(r.status, "bounced");
  for (const auto& o : {Outcome::sent("ok"), Outcome::deferred("4.4.1", "down")}) {
    EXPECT_EQ(report_outcome(o, true).dsn, o.dsn);
    EXPECT_EQ(report_outcome(o, true).status, to_string(o.result));
  }
  EXPECT_EQ(soften_dsn("5.7.1"), "4.7.1");
  EXPECT_EQ(soften_dsn("2.0.0"), "2.0.0");
  EXPECT_EQ(soften_dsn(""), "");
}

TEST(Outcome, PrependAndToString) {
  Outcome o = Outcome::bounced("5.2.2", "error writing message: File too large");
  o.prepend("cannot update mailbox /var/mail/u for user u. ");
  EXPECT_EQ(
      o.to_string(),
      "bounced 5.2.2 cannot update mailbox /var/mail/u for user u. error writing message: File too large");
}

TEST(MailboxDsn, PostfixMboxDsnTable) {
  EXPECT_EQ(mailbox_dsn(EAGAIN, "5.2.0"), "4.2.0");
  EXPECT_EQ(mailbox_dsn(ESTALE, "5.2.0"), "4.2.0");
  EXPECT_EQ(mailbox_dsn(ENOSPC, "5.2.0"), "4.3.0");
  EXPECT_EQ(mailbox_dsn(EDQUOT, "5.2.0"), "5.2.2");
  EXPECT_EQ(mailbox_dsn(EFBIG, "4.2.0"), "5.2.2");
  EXPECT_EQ(mailbox_dsn(EACCES, "5.2.0"), "5.2.0");
  EXPECT_EQ(mailbox_dsn(EIO, "4.2.0"), "4.2.0");
  EXPECT_EQ(mailbox_dsn(EIO, "bogus"), "4.0.0");
  Outcome full = Outcome::from_errno(EFBIG, "5.3.0", "error writing message: File too large");
  EXPECT_TRUE(full.is_bounced());
  EXPECT_EQ(full.dsn, "5.2.2");
  EXPECT_EQ(full.sys_errno, EFBIG);
}

TEST(Dsn, PrefixLength) {
  EXPECT_EQ(dsn_prefix_length("4.2.2 mailbox full"), 5u);
  EXPECT_EQ(dsn_prefix_length("5.1.1"), 5u);
  EXPECT_EQ(dsn_prefix_length("5.7.123\tx"), 7u);
  EXPECT_EQ(dsn_prefix_length("2.0.0\n"), 5u);
  EXPECT_EQ(dsn_prefix_length("5.10.0 x"), 6u);
  EXPECT_EQ(dsn_prefix_length("3.0.0 no"), 0u);    // bad class
  EXPECT_EQ(dsn_prefix_length("5.01.0 x"), 0u);    // leading zero
  EXPECT_EQ(dsn_prefix_length("5.1234.0 x"), 0u);  // too many digits
  EXPECT_EQ(dsn_prefix_length("5.1.1x"), 0u);      // not followed by space
  EXPECT_EQ(dsn_prefix_length("5.1."), 0u);
  EXPECT_EQ(dsn_prefix_length("5..1 x"), 0u);
  EXPECT_EQ(dsn_prefix_length(""), 0u);
  EXPECT_EQ(dsn_prefix_length("hello world"), 0u);
  EXPECT_TRUE(valid_dsn("4.3.0"));
  EXPECT_FALSE(valid_dsn("4.3.0 text"));
  EXPECT_FALSE(valid_dsn("4.3"));
}

TEST(Attempt, HoldsValueOrFailure) {
  Attempt<int> ok(5);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok.value(), 5);
  Attempt<int> bad(Outcome::deferred("4.2.0", "busy"));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.failure().text, "busy");
}

}  // namespace
}  // namespace postern::deliver
