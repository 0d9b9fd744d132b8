#include "security/privileges.h"

#include <gtest/gtest.h>
#include <unistd.h>

using namespace postern;

TEST(Privileges, LooksUpCurrentUser) {
  auto me = security::current_user();
  ASSERT_TRUE(me.ok()) << me.error().message;
  EXPECT_EQ(me->uid, ::getuid());
  auto again = security::lookup_user(me->name);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->uid, me->uid);
}

TEST(Privileges, UnknownUserIsAnError) {
  auto u = security::lookup_user("no-such-user-postern-test");
  ASSERT_FALSE(u.ok());
  EXPECT_NE(u.error().message.find("unknown user"), std::string::npos);
  EXPECT_FALSE(security::lookup_group("no-such-group-postern-test").ok());
}
