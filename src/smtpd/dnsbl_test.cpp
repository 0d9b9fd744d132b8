// dnsbl_test.cpp - DNS list specs and reply templates.
#include "smtpd/dnsbl.h"

#include <gtest/gtest.h>

using namespace postern;
using namespace postern::smtpd;

namespace {

std::vector<asio::ip::address> addrs(std::initializer_list<const char*> l) {
  std::vector<asio::ip::address> out;
  for (auto a : l) out.push_back(asio::ip::make_address(a));
  return out;
}

}  // namespace

TEST(Dnsbl, ListSpec) {
  auto l = dnsbl::List::parse("ZEN.Example.");
  ASSERT_TRUE(l) << l.error().message;
  EXPECT_EQ(l->domain, "zen.example");
  EXPECT_FALSE(l->filter);
  EXPECT_TRUE(l->listed(addrs({"127.0.0.2"})));
  EXPECT_TRUE(l->listed(addrs({"10.1.2.3"})));
  EXPECT_FALSE(l->listed({}));

  l = dnsbl::List::parse("zen.example=127.0.0.[2;4..11;255]");
  ASSERT_TRUE(l) << l.error().message;
  EXPECT_TRUE(l->listed(addrs({"127.0.0.2"})));
  EXPECT_FALSE(l->listed(addrs({"127.0.0.3"})));
  EXPECT_TRUE(l->listed(addrs({"127.0.0.3", "127.0.0.11"})));  // any record may match
  EXPECT_TRUE(l->listed(addrs({"127.0.0.255"})));
  EXPECT_FALSE(l->listed(addrs({"127.0.1.2"})));

  for (const char* bad : {"", "zen.example=", "zen.example=1.2.3", "zen.example=1.2.3.4.5", "zen.example=1.2.3.[",
                          "zen.example=1.2.3.[1..]", "zen.example=1.2.3.1000", "zen example"})
    EXPECT_FALSE(dnsbl::List::parse(bad)) << bad;
}

TEST(Dnsbl, Replies) {
  dnsbl::ReplyAttributes a;
  a.rbl_code = "554";
  a.rbl_domain = "bl.example";
  a.rbl_what = "192.0.2.1";
  a.rbl_class = "Client host";
  auto r = dnsbl::build_reply("$rbl_code Service unavailable; $rbl_class [$rbl_what] blocked using $rbl_domain"
                              "${rbl_reason?; $rbl_reason}",
                              a);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->to_string(), "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using bl.example");
  // The enhanced code's class follows the reply code.
  r = dnsbl::build_reply("450 5.7.9 later", a);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->to_string(), "450 4.7.9 later");
  // Long reasons are cut to one reply line.
  a.rbl_reason = std::string(2000, 'x');
  r = dnsbl::build_reply("$rbl_code $rbl_reason", a);
  ASSERT_TRUE(r);
  EXPECT_LE(r->to_string().size(), 512u);
  for (const char* bad : {"250 fine", "600 x", "55 x", "554", "$nosuch", "x 554 y"})
    EXPECT_FALSE(dnsbl::build_reply(bad, a)) << bad;
}

TEST(Dnsbl, ReasonsJoined) {
  EXPECT_EQ(dnsbl::join_reasons({}), "");
  EXPECT_EQ(dnsbl::join_reasons({"one"}), "one");
  EXPECT_EQ(dnsbl::join_reasons({"one", "two", "three"}), "one / two / three");
  auto r = dnsbl::join_reasons({std::string(300, 'a'), std::string(300, 'b'), "c"});
  EXPECT_EQ(r.size(), dnsbl::kMaxReasonLength);
  EXPECT_EQ(r.substr(300, 3), " / ");
}
