// pipe_test.cpp - pipe(8)'s attributes and argv expansion; delivery through
// the agent is tested end to end in tests/integration/test_pipe.py.
#include "pipe/pipe.h"

#include <gtest/gtest.h>

using namespace postern;
using namespace postern::pipe;

namespace {

Settings settings(std::map<std::string, std::string> extra, std::vector<std::string> argv) {
  auto s = Settings::from_attributes(extra, argv);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  return s.ok() ? *s : Settings{};
}

MessageInfo message() {
  MessageInfo m;
  m.sender = "Alice@Example.ORG";
  m.nexthop = "Mail.Example.COM";
  m.queue_id = "3F2A1C0D2";
  m.size = 1234;
  m.client["client_address"] = "192.0.2.1";
  return m;
}

}  // namespace

TEST(Pipe, FlagsBecomeCopyOptions) {
  auto s = settings({{"flags", "DRFOB.>X"}, {"eol", "\\r\\n"}}, {"/bin/cat"});
  auto o = s.copy_options();
  EXPECT_TRUE(o.delivered_to && o.return_path && o.from_line && o.original_recipient && o.blank_line &&
              o.dot_stuff && o.quote_from);
  EXPECT_EQ(o.eol, "\r\n");
  EXPECT_TRUE(s.flags.final_delivery);
  EXPECT_EQ(s.umask, 077u);
  // Postfix's unescape(): octal too; umask= is the command's.
  auto t = settings({{"eol", "\\015\\012"}, {"umask", "022"}}, {"/bin/cat"});
  EXPECT_EQ(t.eol, "\r\n");
  EXPECT_EQ(t.umask, 022u);
}

TEST(Pipe, BadAttributesAreRefused) {
  EXPECT_FALSE(Settings::from_attributes({{"flags", "Z"}}, {"/bin/cat"}).ok());
  EXPECT_FALSE(Settings::from_attributes({{"size", "big"}}, {"/bin/cat"}).ok());
  EXPECT_FALSE(Settings::from_attributes({{"umask", "999"}}, {"/bin/cat"}).ok());
  EXPECT_FALSE(Settings::from_attributes({}, {"/bin/cat", "${no_such_macro}"}).ok());
  EXPECT_FALSE(Settings::from_attributes({}, {"/bin/cat", "${recipient"}).ok());
  EXPECT_TRUE(Settings::from_attributes({{"size", "10240"}, {"umask", "077"}}, {"/bin/cat", "$$5"}).ok());
}

TEST(Pipe, SizeZeroIsNoLimit) {
  EXPECT_EQ(settings({{"size", "10240"}}, {"/bin/cat"}).size_limit, 10240u);
  // Postfix: size=0 means no limit (a master.cf copied from Postfix must start).
  EXPECT_FALSE(settings({{"size", "0"}}, {"/bin/cat"}).size_limit.has_value());
  EXPECT_FALSE(Settings::from_attributes({{"size", "-1"}}, {"/bin/cat"}).ok());
}

TEST(Pipe, MacrosExpandOneArgumentEachAndRecipientsRepeat) {
  auto s = settings({}, {"/usr/bin/deliver", "-f", "${sender}", "-d", "${recipient}", "q=$queue_id", "${size}",
                         "$(nexthop)", "ip=${client_address}"});
  std::vector<Recipient> r = {{"bob+tag@example.com", ""}, {"carol@example.com", "c@old.example"}};
  auto argv = expand(s, message(), r, "+");
  std::vector<std::string> want = {"/usr/bin/deliver", "-f", "Alice@Example.ORG", "-d", "bob+tag@example.com",
                                   "carol@example.com", "q=3F2A1C0D2", "1234", "Mail.Example.COM", "ip=192.0.2.1"};
  EXPECT_EQ(argv, want);
}

TEST(Pipe, UserExtensionMailboxDomainAndFolding) {
  auto s = settings({{"flags", "hu"}}, {"x", "${user}", "${extension}", "${mailbox}", "${domain}", "${recipient}",
                                        "${original_recipient}", "${nexthop}"});
  auto argv = expand(s, message(), {{"Bob+Tag@Example.COM", "Old@Example.NET"}}, "+");
  std::vector<std::string> want = {"x", "bob", "tag", "bob+tag", "example.com", "bob+tag@example.com",
                                   "old@example.net", "mail.example.com"};
  EXPECT_EQ(argv, want);
}

TEST(Pipe, NullSenderAndQuoting) {
  auto s = settings({{"null_sender", ""}}, {"x", "${sender}"});
  MessageInfo m = message();
  m.sender.clear();
  EXPECT_EQ(expand(s, m, {{"a@b", ""}}, "+"), (std::vector<std::string>{"x", ""}));
  auto d = settings({}, {"x", "${sender}"});
  EXPECT_EQ(expand(d, m, {{"a@b", ""}}, "+"), (std::vector<std::string>{"x", "MAILER-DAEMON"}));
  // q: the external (quoted) form; an address with a space is still one
  // argument, never split by a shell.
  auto q = settings({{"flags", "q"}}, {"x", "${recipient}"});
  EXPECT_EQ(expand(q, m, {{"john smith@example.com", ""}}, "+"),
            (std::vector<std::string>{"x", "\"john smith\"@example.com"}));
  auto plain = settings({}, {"x", "${recipient}"});
  EXPECT_EQ(expand(plain, m, {{"john smith@example.com", ""}}, "+"),
            (std::vector<std::string>{"x", "john smith@example.com"}));
}
