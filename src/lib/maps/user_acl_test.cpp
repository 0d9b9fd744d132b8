// user_acl_test.cpp - authorized_*_users: root and the mail owner always
// may, others as the list says, in Postfix's words.
#include "maps/user_acl.h"

#include <gtest/gtest.h>
#include <pwd.h>

#include <cerrno>

namespace postern::maps {
namespace {

TEST(UserAcl, ListDecidesRootAndMailOwnerAlwaysMay) {
  struct passwd* nb = ::getpwnam("nobody");
  if (!nb) GTEST_SKIP() << "no user nobody here";
  const uid_t uid = nb->pw_uid;
  EXPECT_TRUE(check_user_acl("authorized_submit_users", "static:anyone", uid, "postfix", "submit mail"));
  auto st = check_user_acl("authorized_submit_users", "!nobody, static:anyone", uid, "postfix", "submit mail");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message, "User nobody(" + std::to_string(uid) + ") is not allowed to submit mail");
  EXPECT_EQ(st.error().sys_errno, EPERM);
  EXPECT_FALSE(check_user_acl("authorized_mailq_users", "", uid, "postfix", "view the mail queue"));
  EXPECT_TRUE(check_user_acl("authorized_mailq_users", "", 0, "postfix", "view the mail queue"));
  EXPECT_TRUE(check_user_acl("authorized_mailq_users", "", uid, "nobody", "view the mail queue"));
  // A uid without a password entry is "unknown".
  auto unk = check_user_acl("authorized_flush_users", "!unknown, static:anyone", 4000000001u, "postfix",
                            "flush the mail queue");
  ASSERT_FALSE(unk);
  EXPECT_EQ(unk.error().message, "User unknown(4000000001) is not allowed to flush the mail queue");
  // A list that cannot be opened is an error of its own, not a refusal.
  auto bad = check_user_acl("authorized_submit_users", "nosuchtype:x", uid, "postfix", "submit mail");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().sys_errno, EPERM);
}

}  // namespace
}  // namespace postern::maps
