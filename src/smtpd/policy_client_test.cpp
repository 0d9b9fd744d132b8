// policy_client_test.cpp - check_policy_service: server specs and the protocol's text.
#include "smtpd/policy_client.h"

#include <gtest/gtest.h>

using namespace postern;
using namespace postern::smtpd;

namespace {

config::Config cfg(std::string text = "") {
  auto c = config::Config::from_text("queue_directory = /var/spool/postern\n" + text);
  EXPECT_TRUE(c) << (c ? "" : c.error().message);
  return std::move(*c);
}

}  // namespace

TEST(PolicyService, Endpoints) {
  auto s = PolicyServiceSpec::parse("inet:127.0.0.1:10023", cfg());
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->endpoint, "inet:127.0.0.1:10023");
  EXPECT_EQ(s->timeout, std::chrono::seconds(100));
  EXPECT_EQ(s->try_limit, 2);
  EXPECT_EQ(s->default_action, "451 4.3.5 Server configuration problem");
  s = PolicyServiceSpec::parse("unix:private/policyd-spf", cfg());
  ASSERT_TRUE(s);
  EXPECT_EQ(s->endpoint, "unix:/var/spool/postern/private/policyd-spf");
  s = PolicyServiceSpec::parse("unix:/run/policy.sock", cfg());
  ASSERT_TRUE(s);
  EXPECT_EQ(s->endpoint, "unix:/run/policy.sock");
  for (const char* bad : {"127.0.0.1:10023", "inet:10023", "inet:host:", "unix:", "tcp:x:1", "{ }",
                          "{ inet:h:1, timeout=0 }", "{ inet:h:1, bogus=1 }", "{ inet:h:1, try_limit=0 }",
                          "{ inet:h:1, timeout }"})
    EXPECT_FALSE(PolicyServiceSpec::parse(bad, cfg())) << bad;
}

TEST(PolicyService, GroupsAndParameters) {
  auto c = cfg("smtpd_policy_service_timeout = 7s\nsmtpd_policy_service_try_limit = 3\n"
               "smtpd_policy_service_default_action = DUNNO\n");
  auto s = PolicyServiceSpec::parse("inet:[::1]:9998", c);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->timeout, std::chrono::seconds(7));
  EXPECT_EQ(s->try_limit, 3);
  EXPECT_EQ(s->default_action, "DUNNO");
  s = PolicyServiceSpec::parse("{ inet:localhost:9998, timeout=10s, max_idle=5, request_limit=20, "
                               "{ default_action = 450 4.7.1 try later }, policy_context=submission }",
                               c);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->endpoint, "inet:localhost:9998");
  EXPECT_EQ(s->timeout, std::chrono::seconds(10));
  EXPECT_EQ(s->max_idle, std::chrono::seconds(5));
  EXPECT_EQ(s->request_limit, 20);
  EXPECT_EQ(s->default_action, "450 4.7.1 try later");
  EXPECT_EQ(s->policy_context, "submission");
  EXPECT_EQ(s->try_limit, 3);  // from main.cf
}

TEST(PolicyService, RequestAndAnswerText) {
  EXPECT_EQ(policy_request({{"request", "smtpd_access_policy"}, {"sender", ""}, {"helo_name", "a\nb"}}),
            "request=smtpd_access_policy\nsender=\nhelo_name=\n\n");
  EXPECT_EQ(*policy_action("action=DUNNO\n\n"), "DUNNO");
  EXPECT_EQ(*policy_action("foo=bar\naction=450 4.2.0 Greylisted, see x\r\nbaz=\n\n"),
            "450 4.2.0 Greylisted, see x");
  EXPECT_FALSE(policy_action("foo=bar\n\n"));             // no action
  EXPECT_FALSE(policy_action("action=\n\n"));             // empty action
  EXPECT_FALSE(policy_action("action=OK"));                // not terminated
  EXPECT_FALSE(policy_action("hello world\naction=OK\n\n"));  // not name=value
}
