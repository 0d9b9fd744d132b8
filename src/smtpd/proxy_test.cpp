// proxy_test.cpp - smtpd_proxy_filter's settings and the XFORWARD it sends
// (the conversation itself: tests/integration/test_proxy_filter.py).
#include "smtpd/proxy.h"

#include <gtest/gtest.h>

#include "smtpd/endpoint.h"

using namespace postern;
using namespace postern::smtpd;

namespace {

Result<ProxySettings> settings(const std::string& text) {
  auto c = config::Config::from_text("queue_directory = /var/spool/postern\nmyhostname = mx.example\n" + text);
  EXPECT_TRUE(c) << (c ? "" : c.error().message);
  return ProxySettings::from_config(*c);
}

std::string endpoint(const std::string& value) {
  auto s = settings("smtpd_proxy_filter = " + value + "\n");
  return s ? s->endpoint : "error: " + s.error().message;
}

}  // namespace

TEST(ProxySettings, PostfixSpellingsOfTheFilter) {
  EXPECT_EQ(endpoint(""), "");
  EXPECT_EQ(endpoint("127.0.0.1:10025"), "inet:127.0.0.1:10025");
  EXPECT_EQ(endpoint("inet:filter.example:10025"), "inet:filter.example:10025");
  EXPECT_EQ(endpoint("10025"), "inet:localhost:10025");   // a port alone: localhost
  EXPECT_EQ(endpoint(":10025"), "inet:localhost:10025");
  EXPECT_EQ(endpoint("[::1]:10025"), "inet:[::1]:10025");
  EXPECT_EQ(endpoint("unix:private/filter"), "unix:/var/spool/postern/private/filter");
  EXPECT_EQ(endpoint("unix:/run/filter.sock"), "unix:/run/filter.sock");
  EXPECT_TRUE(endpoint("filter.example:").starts_with("error: "));
  EXPECT_TRUE(endpoint("unix:").starts_with("error: "));
}

TEST(ProxySettings, DefaultsAndOptions) {
  auto s = settings("smtpd_proxy_filter = 127.0.0.1:10025\n");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->ehlo, "mx.example");
  EXPECT_EQ(s->timeout, std::chrono::seconds(100));
  s = settings("smtpd_proxy_filter = 127.0.0.1:10025\nsmtpd_proxy_ehlo = outbound.example\nsmtpd_proxy_timeout = 20s\n");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->ehlo, "outbound.example");
  EXPECT_EQ(s->timeout, std::chrono::seconds(20));
  auto adjust = settings("smtpd_proxy_options = speed_adjust\n");
  ASSERT_FALSE(adjust);
  EXPECT_NE(adjust.error().message.find("speed_adjust"), std::string::npos);
}

TEST(ProxyXforward, OfferedAttributesOnlyEncodedAndBounded) {
  XforwardClient c{"mail.example", "2001:db8::1", "4025", "ESMTP", "helo with space"};
  auto all = proxy_xforward_commands(c, {"NAME", "ADDR", "PORT", "PROTO", "HELO", "SOURCE"});
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0],
            "XFORWARD NAME=mail.example ADDR=IPV6:2001:db8::1 PORT=4025 PROTO=ESMTP HELO=helo+20with+20space "
            "SOURCE=REMOTE");
  EXPECT_EQ(proxy_xforward_commands(c, {"NAME", "ADDR"}),
            std::vector<std::string>{"XFORWARD NAME=mail.example ADDR=IPV6:2001:db8::1"});
  EXPECT_TRUE(proxy_xforward_commands(c, {}).empty());
  XforwardClient unknown;
  EXPECT_EQ(proxy_xforward_commands(unknown, {"NAME", "HELO"}),
            std::vector<std::string>{"XFORWARD NAME=[UNAVAILABLE] HELO=[UNAVAILABLE]"});
  // Long values: more than one command, none over 510 bytes before CRLF.
  XforwardClient big{std::string(250, 'n'), "192.0.2.1", "25", "SMTP", std::string(250, 'h')};
  auto split = proxy_xforward_commands(big, {"NAME", "ADDR", "PORT", "PROTO", "HELO", "SOURCE"});
  ASSERT_GE(split.size(), 2u);
  for (const auto& cmd : split) {
    EXPECT_LE(cmd.size() + 2, 512u) << cmd;
    EXPECT_TRUE(cmd.starts_with("XFORWARD ")) << cmd;
  }
}

TEST(Endpoint, PolicyAndProxyNotation) {
  EXPECT_EQ(*parse_endpoint("inet:127.0.0.1:9998", "/q", false), "inet:127.0.0.1:9998");
  EXPECT_EQ(*parse_endpoint("unix:private/policy", "/q", false), "unix:/q/private/policy");
  EXPECT_FALSE(parse_endpoint("127.0.0.1:9998", "/q", false));  // a policy service must say inet:
  EXPECT_EQ(*parse_endpoint("127.0.0.1:9998", "/q", true), "inet:127.0.0.1:9998");
  EXPECT_FALSE(parse_endpoint("inet:host", "/q", true));
  EXPECT_FALSE(parse_endpoint("inet:ho st:25", "/q", true));
}
