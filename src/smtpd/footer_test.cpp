// footer_test.cpp - smtpd_reject_footer and smtpd_reject_footer_maps.
#include "smtpd/footer.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

using namespace postern;
using namespace postern::smtpd;

namespace {

ReplyFooter footer(const std::string& text) {
  auto cfg = config::Config::from_text("myhostname = mx.example.org\n" + text);
  EXPECT_TRUE(cfg) << (cfg ? "" : cfg.error().message);
  auto f = ReplyFooter::from_config(*cfg);
  EXPECT_TRUE(f) << (f ? "" : f.error().message);
  return std::move(*f);
}

std::string wire(const ReplyFooter& f, const smtp::Reply& r, std::string_view addr = "192.0.2.1") {
  return smtp::format_reply(f.apply(r, {addr, "4711"}));
}

const smtp::Reply kUnknown(550, "5.1.1", "<x@example.org>: Recipient address rejected: User unknown");

}  // namespace

TEST(ReplyFooter, NoneByDefault) {
  auto f = footer("");
  EXPECT_TRUE(f.empty());
  EXPECT_EQ(f.apply(kUnknown, {"192.0.2.1", "1"}), kUnknown);
}

TEST(ReplyFooter, OnItsOwnLinesAfterRejectionsOnly) {
  auto f = footer("smtpd_reject_footer = Call 555-0101 about $client_address:$client_port at $server_name.\n");
  EXPECT_EQ(wire(f, kUnknown),
            "550-5.1.1 <x@example.org>: Recipient address rejected: User unknown\r\n"
            "550 5.1.1 Call 555-0101 about 192.0.2.1:4711 at mx.example.org.\r\n");
  EXPECT_EQ(wire(f, smtp::Reply(450, "4.7.1", "Error: too much mail")),
            "450-4.7.1 Error: too much mail\r\n450 4.7.1 Call 555-0101 about 192.0.2.1:4711 at mx.example.org.\r\n");
  // Not after a positive reply.
  smtp::Reply ok(250, "2.1.5", "Ok");
  EXPECT_EQ(f.apply(ok, {"192.0.2.1", "1"}), ok);
}

TEST(ReplyFooter, LineBreaksAndJoining) {
  auto f = footer("smtpd_reject_footer = \\c. More at https://help.example/\\nTime: $localtime\n");
  auto r = f.apply(kUnknown, {"192.0.2.1", "1"});
  ASSERT_EQ(r.lines.size(), 2u);
  EXPECT_EQ(r.lines[0], "<x@example.org>: Recipient address rejected: User unknown. More at https://help.example/");
  EXPECT_TRUE(r.lines[1].starts_with("Time: ")) << r.lines[1];
  EXPECT_GT(r.lines[1].size(), std::string("Time: Jan  1 00:00:00").size() - 1);
}

TEST(ReplyFooter, ValuesOutsideTheExpansionFilterBecomeUnderscores) {
  auto f = footer("smtpd_reject_footer = client $client_address\nsmtpd_expansion_filter = 0123456789.\n");
  auto r = f.apply(kUnknown, {"2001:db8::1", "1"});
  EXPECT_EQ(r.lines.back(), "client 2001___8__1");
  // The default filter (with its escapes) keeps an IPv6 address whole.
  auto d = footer("smtpd_reject_footer = client $client_address\n");
  EXPECT_EQ(d.apply(kUnknown, {"2001:db8::1", "1"}).lines.back(), "client 2001:db8::1");
}

TEST(ReplyFooter, AnUnknownNameLeavesTheReplyAlone) {
  auto f = footer("smtpd_reject_footer = call $nobody\n");
  EXPECT_EQ(f.apply(kUnknown, {"192.0.2.1", "1"}), kUnknown);
}

TEST(ReplyFooter, TablesChooseByTheWholeReply) {
  // Keys are whole replies, so the tables are pattern tables; there a
  // footer attribute is written $$client_address ($1 ... are the pattern's).
  std::string path = ::testing::TempDir() + "/footer.pcre";
  {
    std::ofstream out(path);
    out << "/^450 4\\.7\\.1 Error: too much mail/ slow down from $$client_address\n"
           "/^421 / bye\n";
  }
  auto f = footer("smtpd_reject_footer = general help\nsmtpd_reject_footer_maps = pcre:" + path + "\n");
  EXPECT_FALSE(f.empty());
  EXPECT_EQ(f.apply(smtp::Reply(450, "4.7.1", "Error: too much mail from 192.0.2.1"), {"192.0.2.1", "1"}).lines.back(),
            "slow down from 192.0.2.1");
  EXPECT_EQ(f.apply(kUnknown, {"192.0.2.1", "1"}).lines.back(), "general help");
  // Tables alone: a reply no table knows goes out as it is.
  auto only = footer("smtpd_reject_footer_maps = pcre:" + path + "\n");
  EXPECT_EQ(only.apply(kUnknown, {"192.0.2.1", "1"}), kUnknown);
  EXPECT_EQ(only.apply(smtp::Reply(421, "4.4.2", "mx Error: timeout exceeded"), {"192.0.2.1", "1"}).lines.back(),
            "bye");
  std::remove(path.c_str());
  // A table that cannot be opened stops smtpd.
  auto cfg = config::Config::from_text("smtpd_reject_footer_maps = hash:/nonexistent/footer\n");
  ASSERT_TRUE(cfg);
  EXPECT_FALSE(ReplyFooter::from_config(*cfg));
}
