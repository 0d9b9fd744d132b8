#include "attributes.h"

#include <gtest/gtest.h>

namespace postern::spawn {
namespace {

std::string error_of(const std::vector<std::string>& args) {
  auto a = parse_attributes(args);
  return a ? std::string("(parsed)") : a.error().message;
}

TEST(SpawnAttributes, UserAndCommand) {
  auto a = parse_attributes({"user=nobody", "argv=/usr/bin/policyd-spf", "-v", "user=x"});
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->user, "nobody");
  EXPECT_EQ(a->group, "");
  // Everything after argv= is the command's, attribute look-alikes included.
  EXPECT_EQ(a->argv, (std::vector<std::string>{"/usr/bin/policyd-spf", "-v", "user=x"}));
}

TEST(SpawnAttributes, GroupAndBareArgv) {
  auto a = parse_attributes({"USER=filter:mailfilter", "argv=", "/usr/bin/python3", "-u", "x.py"});
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->user, "filter");
  EXPECT_EQ(a->group, "mailfilter");
  EXPECT_EQ(a->argv, (std::vector<std::string>{"/usr/bin/python3", "-u", "x.py"}));
}

TEST(SpawnAttributes, Refused) {
  EXPECT_EQ(error_of({"argv=/bin/true"}), "missing user= attribute");
  EXPECT_EQ(error_of({"user=nobody"}), "missing argv= attribute");
  EXPECT_EQ(error_of({"user=nobody", "flags=R", "argv=/bin/true"}), "unknown attribute name: flags=R");
  EXPECT_EQ(error_of({"user=", "argv=/bin/true"}), "user= attribute without a user name");
  EXPECT_EQ(error_of({"user=nobody", "argv="}), "argv= attribute without a command");
  EXPECT_EQ(error_of({}), "missing user= attribute");
}

TEST(SpawnAttributes, Identity) {
  const Ids owner{110, 120};
  EXPECT_TRUE(check_identity({65534, 65534}, owner));
  EXPECT_EQ(check_identity({0, 65534}, owner).error().message, "request to run a command as root");
  EXPECT_EQ(check_identity({110, 65534}, owner).error().message,
            "request to run a command as the mail system owner");
  EXPECT_EQ(check_identity({65534, 0}, owner).error().message, "request to use privileged group id 0");
  EXPECT_EQ(check_identity({65534, 120}, owner).error().message,
            "request to use mail system owner group id 120");
  EXPECT_FALSE(check_identity({static_cast<uid_t>(-1), 65534}, owner));
  // setgid_group's gid can write into the maildrop queue (Postfix's pipe refuses it too).
  EXPECT_TRUE(check_identity({65534, 65534}, owner, 130));
  EXPECT_EQ(check_identity({65534, 130}, owner, 130).error().message, "request to use mail system setgid_group id 130");
  EXPECT_FALSE(check_identity({65534, static_cast<gid_t>(-1)}, owner));
}

}  // namespace
}  // namespace postern::spawn
