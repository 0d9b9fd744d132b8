// notify_test.cpp - notify_classes parsing.
#include "mail/notify.h"

#include <gtest/gtest.h>

using namespace postern;
using mail::Problem;
using mail::Problems;

TEST(NotifyClasses, ParsesEveryClassInAnyCase) {
  auto p = Problems::parse({"Resource", "software", "PROTOCOL"});
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_TRUE(p->has(Problem::kResource));
  EXPECT_TRUE(p->has(Problem::kSoftware));
  EXPECT_TRUE(p->has(Problem::kProtocol));
  EXPECT_FALSE(p->has(Problem::kPolicy));
  EXPECT_FALSE(p->has(Problem::kBounce));
  auto all = Problems::parse({"bounce", "2bounce", "data", "delay", "policy", "protocol", "resource", "software"});
  ASSERT_TRUE(all);
  for (auto c : {Problem::kBounce, Problem::k2Bounce, Problem::kData, Problem::kDelay, Problem::kPolicy,
                 Problem::kProtocol, Problem::kResource, Problem::kSoftware}) {
    EXPECT_TRUE(all->has(c)) << mail::problem_name(c);
  }
}

TEST(NotifyClasses, EmptyListIsNoClass) {
  auto p = Problems::parse({});
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->any());
}

TEST(NotifyClasses, UnknownClassIsAnError) {
  auto p = Problems::parse({"resource", "sofware"});
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("sofware"), std::string::npos);
}

TEST(NotifyClasses, Intersects) {
  Problems a, b;
  a.add(Problem::kPolicy);
  b.add(Problem::kResource);
  EXPECT_FALSE(a.intersects(b));
  b.add(Problem::kPolicy);
  EXPECT_TRUE(a.intersects(b));
  a.clear();
  EXPECT_FALSE(a.any());
}

TEST(NotifyClasses, QualifyWithOrigin) {
  EXPECT_EQ(mail::qualify_with_origin("double-bounce", "example.org"), "double-bounce@example.org");
  EXPECT_EQ(mail::qualify_with_origin("x@y.example", "example.org"), "x@y.example");
  EXPECT_EQ(mail::qualify_with_origin("x", ""), "x");
}
