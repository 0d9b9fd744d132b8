// settings_test.cpp - local(8)'s parameters from main.cf, with the registry's defaults.
#include <gtest/gtest.h>

#include "agent.h"

using namespace postern;
using namespace postern::local;

TEST(LocalSettings, Defaults) {
  auto cfg = config::Config::from_text("myhostname = host.example\n");
  ASSERT_TRUE(cfg) << cfg.error().message;
  auto s = Settings::from_config(*cfg);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->engine.forward_path,
            (std::vector<std::string>{"$home/.forward${recipient_delimiter}${extension}", "$home/.forward"}));
  EXPECT_TRUE(s->engine.allow_commands.alias && s->engine.allow_commands.forward);
  EXPECT_FALSE(s->engine.allow_commands.include);
  EXPECT_TRUE(s->delivered_command && s->delivered_file && s->delivered_forward);
  EXPECT_TRUE(s->locks.fcntl && s->locks.dotlock && !s->locks.flock);
  EXPECT_EQ(s->mail_spool_directory, "/var/mail");
  EXPECT_EQ(s->default_privs, "nobody");
  EXPECT_EQ(s->shell, (std::vector<std::string>{"/bin/sh", "-c"}));
  EXPECT_EQ(s->engine.myorigin, "host.example");
  EXPECT_TRUE(s->biff);
  const std::string filter = "1234567890!@%-_=+:,./abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  EXPECT_EQ(s->engine.forward_filter, filter);
  EXPECT_EQ(s->execution_directory_filter, filter);
  EXPECT_EQ(s->command_execution_directory, "");
  EXPECT_NE(std::find(s->engine.local_domains.begin(), s->engine.local_domains.end(), "host.example"),
            s->engine.local_domains.end());
}

TEST(LocalSettings, OverridesAndErrors) {
  auto cfg = config::Config::from_text(
      "myhostname = host.example\nprepend_delivered_header = file\nallow_mail_to_commands = alias, include\n"
      "local_command_shell = /bin/bash -e\nluser_relay = $user@other.example\n"
      "mydestination = $myhostname, hash:/etc/postern/domains, Example.NET\n"
      "command_execution_directory = $home/bin\nbiff = no\n");
  ASSERT_TRUE(cfg) << cfg.error().message;
  auto s = Settings::from_config(*cfg);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_TRUE(s->delivered_file);
  EXPECT_FALSE(s->delivered_command || s->delivered_forward);
  EXPECT_TRUE(s->engine.allow_commands.include);
  EXPECT_FALSE(s->engine.allow_commands.forward);
  EXPECT_EQ(s->shell, (std::vector<std::string>{"/bin/bash", "-e", "-c"}));
  EXPECT_EQ(s->engine.luser_relay, "$user@other.example");  // expanded per recipient, not by main.cf
  EXPECT_EQ(s->command_execution_directory, "$home/bin");     // likewise
  EXPECT_FALSE(s->biff);
  EXPECT_NE(std::find(s->engine.local_domains.begin(), s->engine.local_domains.end(), "example.net"),
            s->engine.local_domains.end());
  auto bad = config::Config::from_text("allow_mail_to_files = alias, bogus\n");
  ASSERT_TRUE(bad);
  EXPECT_FALSE(Settings::from_config(*bad));
}

TEST(LocalSettings, MailboxLimitBelowMessageLimitIsRefused) {
  // Postfix's local(8) refuses to start with it: messages that smtpd
  // accepts would bounce at the mailbox.
  auto cfg = config::Config::from_text("myhostname = host.example\nmailbox_size_limit = 1000\n");
  ASSERT_TRUE(cfg) << cfg.error().message;
  auto s = Settings::from_config(*cfg);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "configuration error: mailbox_size_limit is smaller than message_size_limit");
  for (const char* ok : {"mailbox_size_limit = 0\n", "mailbox_size_limit = 1000\nmessage_size_limit = 0\n",
                         "mailbox_size_limit = 1000\nmessage_size_limit = 1000\n"}) {
    auto c = config::Config::from_text(std::string("myhostname = host.example\n") + ok);
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_TRUE(Settings::from_config(*c)) << ok;
  }
}
