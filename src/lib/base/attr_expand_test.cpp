#include "base/attr_expand.h"

#include <map>

#include <gtest/gtest.h>

using namespace postern;

namespace {

Result<AttrExpansion> ex(std::string_view t) {
  static const std::map<std::string, std::string, std::less<>> vars = {
      {"rbl_code", "554"}, {"rbl_domain", "bl.example"}, {"rbl_reason", "listed"}, {"empty", ""}};
  return expand_attributes(t, [](std::string_view n) -> const std::string* {
    auto it = vars.find(n);
    return it == vars.end() ? nullptr : &it->second;
  });
}

}  // namespace

TEST(AttrExpand, Forms) {
  EXPECT_EQ(ex("$rbl_code x ${rbl_domain}/$(rbl_domain) $$")->text, "554 x bl.example/bl.example $");
  EXPECT_EQ(ex("a${rbl_reason?; $rbl_reason}")->text, "a; listed");  // the text is expanded too
  EXPECT_EQ(ex("a${empty?; $rbl_reason}b${empty:none}")->text, "abnone");
  EXPECT_EQ(ex("${rbl_domain?{x${empty:y}}}")->text, "{xy}");  // nested braces
  EXPECT_FALSE(ex("x")->undefined);
  EXPECT_TRUE(ex("$empty")->undefined);
}

TEST(AttrExpand, Errors) {
  EXPECT_FALSE(ex("$nosuch").ok());
  EXPECT_FALSE(ex("${rbl_domain").ok());
  EXPECT_FALSE(ex("x$").ok());
  EXPECT_FALSE(ex("$-").ok());
  EXPECT_FALSE(ex("${rbl_domain?$nosuch}").ok());
}
