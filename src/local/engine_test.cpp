// engine_test.cpp - local(8)'s expansion decisions against a recording fake backend.
#include "engine.h"

#include <gtest/gtest.h>

#include <set>

#include <map>

using namespace postern;
using namespace postern::local;
using deliver::Outcome;

namespace {

security::UserInfo user(std::string name, uid_t uid) {
  return {name, uid, uid, "/home/" + name, "/bin/sh"};
}

class Fake : public Backend {
 public:
  std::map<std::string, std::string> aliases;
  std::map<std::string, security::UserInfo> users;
  std::map<std::string, std::string> forwards;  // user -> .forward text
  std::map<std::string, IncludeFile> includes;
  bool alias_error = false;
  std::vector<std::string> log;  // what was delivered, in order
  std::vector<std::string> forward_paths_seen;
  std::set<std::string> missing_homes;     // check_home() fails for these users
  std::vector<std::string> homes_checked;
  std::optional<Privs> owner;

  bool is_local_domain(std::string_view d) override { return d == "example.com"; }
  Result<std::optional<std::string>> lookup_alias(std::string_view key) override {
    if (alias_error) return make_error("table down");
    auto it = aliases.find(std::string(key));
    if (it == aliases.end()) return std::optional<std::string>{};
    return std::optional<std::string>{it->second};
  }
  std::optional<Privs> alias_owner() override { return owner; }
  Privs default_privs() override { return Privs{"nobody", 65534, 65534, "/", ""}; }
  Result<std::optional<security::UserInfo>> lookup_user(std::string_view n) override {
    auto it = users.find(std::string(n));
    if (it == users.end()) return std::optional<security::UserInfo>{};
    return std::optional<security::UserInfo>{it->second};
  }
  Result<std::optional<security::UserInfo>> lookup_uid(uid_t uid) override {
    for (auto& [n, u] : users)
      if (u.uid == uid) return std::optional<security::UserInfo>{u};
    return std::optional<security::UserInfo>{};
  }
  deliver::Attempt<std::optional<std::string>> read_forward(const security::UserInfo& u,
                                                            const std::vector<std::string>& paths) override {
    for (auto& p : paths) forward_paths_seen.push_back(p);
    auto it = forwards.find(u.name);
    if (it == forwards.end()) return std::optional<std::string>{};
    return std::optional<std::string>{it->second};
  }
  std::optional<Outcome> check_home(const security::UserInfo& u) override {
    homes_checked.push_back(u.name);
    if (missing_homes.count(u.name)) return Outcome::deferred("4.3.0", "cannot access home directory " + u.home);
    return std::nullopt;
  }
  int include_reads = 0;
  deliver::Attempt<IncludeFile> read_include(const std::string& path, const std::optional<Privs>&) override {
    ++include_reads;
    auto it = includes.find(path);
    if (it == includes.end()) return Outcome::deferred("4.3.0", "cannot open include file " + path);
    return it->second;
  }
  Outcome deliver_mailbox(const DeliveryInfo& d, const security::UserInfo& u) override {
    log.push_back("mailbox " + u.name + " from=" + d.sender + " ext=" + d.extension);
    return Outcome::sent("delivered to mailbox");
  }
  Outcome deliver_file(const DeliveryInfo&, const std::string& path, const Privs& as, Origin o) override {
    log.push_back("file " + path + " as " + as.name + " (" + std::string(to_string(o)) + ")");
    return Outcome::sent("delivered to file: " + path);
  }
  Outcome deliver_command(const DeliveryInfo&, const std::string& cmd, const Privs& as, Origin o) override {
    log.push_back("command " + cmd + " as " + as.name + " (" + std::string(to_string(o)) + ")");
    if (cmd == "tempfail") return Outcome::deferred("4.3.0", "temporary failure");
    return Outcome::sent("delivered to command: " + cmd);
  }
  std::map<std::string, std::string> mailbox_transports, fallback_transports;  // user -> transport
  bool transport_table_error = false;
  Outcome pass_outcome = Outcome::sent("250 2.0.0 saved");
  bool pass_answered = true;
  Result<std::optional<std::string>> lookup_transport(TransportTable t, std::string_view user) override {
    if (transport_table_error) return make_error("table down");
    auto& m = t == TransportTable::Mailbox ? mailbox_transports : fallback_transports;
    auto it = m.find(std::string(user));
    if (it == m.end()) return std::optional<std::string>{};
    return std::optional<std::string>{it->second};
  }
  Passed pass(const DeliveryInfo& d, const std::string& service) override {
    log.push_back("pass " + d.address + " to " + service + " from=" + d.sender);
    return {pass_outcome, pass_answered};
  }
  Outcome forward(const std::string& sender, const std::vector<std::string>& addresses) override {
    std::string all;
    for (const auto& a : addresses) all += (all.empty() ? "" : ",") + a;
    log.push_back("forward " + all + " from=" + sender);
    return Outcome::sent("forwarded as ABC");
  }
};

struct EngineTest : ::testing::Test {
  EngineSettings s;
  Fake b;
  EngineTest() {
    s.recipient_delimiter = "+";
    s.myorigin = "example.com";
    s.forward_path = {"$home/.forward${recipient_delimiter}${extension}", "$home/.forward"};
    b.users.emplace("bob", user("bob", 1001));
    b.users.emplace("alice", user("alice", 1002));
    b.users.emplace("carol", user("carol", 1003));
  }
  RecipientResult run(const std::string& rcpt, std::vector<std::string> loops = {}) {
    Engine e(s, b);
    return e.deliver(rcpt, "sender@remote.test", loops);
  }
};

using V = std::vector<std::string>;

}  // namespace

TEST_F(EngineTest, PlainUserGetsMailbox) {
  auto r = run("bob@example.com");
  EXPECT_TRUE(r.outcome.is_sent());
  EXPECT_EQ(b.log, (V{"mailbox bob from=sender@remote.test ext="}));
  EXPECT_EQ(b.forward_paths_seen, (V{"/home/bob/.forward"}));
}

TEST_F(EngineTest, RequireHomeDirectoryDefersBeforeForwardAndMailbox) {
  // Off (the default): never asked.
  EXPECT_TRUE(run("bob@example.com").outcome.is_sent());
  EXPECT_TRUE(b.homes_checked.empty());
  s.require_home_directory = true;
  b.missing_homes.insert("alice");
  b.log.clear();
  b.forward_paths_seen.clear();
  auto r = run("alice@example.com");
  EXPECT_EQ(r.outcome.dsn, "4.3.0");
  EXPECT_TRUE(b.log.empty());
  EXPECT_TRUE(b.forward_paths_seen.empty());  // .forward not even looked for
  EXPECT_EQ(b.homes_checked, (V{"alice"}));
  EXPECT_TRUE(run("bob@example.com").outcome.is_sent());
  // An unknown user has no home to check: still 5.1.1.
  EXPECT_EQ(run("nobody-here@example.com").outcome.dsn, "5.1.1");
}

TEST_F(EngineTest, UnknownUserBounces511) {
  auto r = run("nosuch@example.com");
  EXPECT_TRUE(r.outcome.is_bounced());
  EXPECT_EQ(r.outcome.dsn, "5.1.1");
  EXPECT_EQ(r.outcome.text, "unknown user: \"nosuch\"");
}

// Postfix's deliver_unknown(): postmaster and MAILER-DAEMON without an alias
// (and no such user) are discarded, with a warning, not bounced.
TEST_F(EngineTest, RequiredNamesWithoutAliasAreDiscarded) {
  for (const char* rcpt : {"postmaster@example.com", "Mailer-Daemon@example.com"}) {
    auto r = run(rcpt);
    EXPECT_TRUE(r.outcome.is_sent()) << rcpt;
    EXPECT_EQ(r.outcome.text, "discarded") << rcpt;
    EXPECT_TRUE(b.log.empty()) << rcpt;
  }
}

TEST_F(EngineTest, LuserRelay) {
  s.luser_relay = "$user@elsewhere.test";
  auto r = run("nosuch+x@example.com");
  EXPECT_TRUE(r.outcome.is_sent());
  EXPECT_EQ(b.log, (V{"forward nosuch@elsewhere.test from=sender@remote.test"}));
  // A luser_relay that names an unknown local user bounces instead of looping.
  b.log.clear();
  s.luser_relay = "other";
  r = run("nosuch@example.com");
  EXPECT_EQ(r.outcome.dsn, "5.1.1");
}

TEST_F(EngineTest, ExtensionIsStrippedAndForwardPlusTried) {
  b.forwards["bob"] = "alice";
  auto r = run("Bob+Lists@example.com");
  EXPECT_TRUE(r.outcome.is_sent());
  // $extension is lowercased, as in Postfix.
  EXPECT_EQ(b.forward_paths_seen, (V{"/home/bob/.forward+lists", "/home/bob/.forward"}));
  // Another local user in a .forward gets a message of her own (Postfix's
  // deliver_switch()): her own .forward and mailbox are the new message's.
  EXPECT_EQ(b.log, (V{"forward alice@example.com from=sender@remote.test"}));
  EXPECT_TRUE(r.expanded);
}

TEST_F(EngineTest, AliasToTwoUsersAndDuplicatesOnce) {
  b.aliases["team"] = "bob, alice, bob@example.com";
  auto r = run("team@example.com");
  EXPECT_TRUE(r.outcome.is_sent());
  EXPECT_EQ(r.leaves.size(), 2u);
  EXPECT_EQ(b.log, (V{"mailbox bob from=sender@remote.test ext=", "mailbox alice from=sender@remote.test ext="}));
}

TEST_F(EngineTest, AliasWithExtensionFallsBackToBase) {
  b.aliases["team"] = "carol";
  auto r = run("team+x@example.com");
  EXPECT_TRUE(r.outcome.is_sent());
  EXPECT_EQ(b.log, (V{"mailbox carol from=sender@remote.test ext="}));
  b.log.clear();
  b.aliases["team+y"] = "alice";
  run("team+y@example.com");
  EXPECT_EQ(b.log, (V{"mailbox alice from=sender@remote.test ext="}));
}

TEST_F(EngineTest, AliasToSelfReachesMailboxOnce) {
  b.aliases["bob"] = "bob, /var/archive";
  auto r = run("bob@example.com");
  EXPECT_TRUE(r.outcome.is_sent());
  EXPECT_EQ(b.log, (V{"mailbox bob from=sender@remote.test ext=", "file /var/archive as nobody (alias)"}));
}

TEST_F(EngineTest, AliasLoopIsBounded) {
  b.aliases["a"] = "b";
  b.aliases["b"] = "a";
  auto r = run("a@example.com");
  // a -> b -> a (alias already expanded: user lookup) -> unknown user.
  EXPECT_TRUE(r.outcome.is_bounced());
  EXPECT_EQ(r.outcome.dsn, "5.1.1");
}

TEST_F(EngineTest, DeepChainHitsDepthLimit) {
  for (int i = 0; i < 50; ++i) b.aliases["l" + std::to_string(i)] = "l" + std::to_string(i + 1);
  auto r = run("l0@example.com");
  EXPECT_TRUE(r.outcome.is_bounced());
  EXPECT_EQ(r.outcome.dsn, "5.4.6");
}

TEST_F(EngineTest, OwnerAliasBecomesSender) {
  b.aliases["list"] = "bob, far@remote.test";
  b.aliases["owner-list"] = "carol";
  auto r = run("list@example.com");
  EXPECT_TRUE(r.outcome.is_sent());
  // Local members of an owner- list are resubmitted too: each has its own
  // retries, and bounces go to the owner.
  EXPECT_EQ(b.log, (V{"forward bob@example.com,far@remote.test from=owner-list@example.com"}));
  EXPECT_FALSE(r.expanded);  // a list: the notice says "delivered"
}

TEST_F(EngineTest, ForwardsAreBatchedPerSender) {
  b.aliases["list"] = "a@remote.test, bob, b@remote.test, a@remote.test, sub";
  b.aliases["sub"] = "c@remote.test";
  b.aliases["owner-sub"] = "carol";
  auto r = run("list@example.com");
  EXPECT_TRUE(r.outcome.is_sent());
  EXPECT_EQ(b.log, (V{"mailbox bob from=sender@remote.test ext=",
                      "forward a@remote.test,b@remote.test from=sender@remote.test",
                      "forward c@remote.test from=owner-sub@example.com"}));
  EXPECT_EQ(r.leaves.size(), 4u);
  for (const auto& l : r.leaves) EXPECT_TRUE(l.outcome.is_sent()) << l.to;
}

TEST_F(EngineTest, CommandsAndFilesFollowAllowLists) {
  b.aliases["cmd"] = "|/bin/prog, /tmp/file";
  auto r = run("cmd@example.com");
  EXPECT_TRUE(r.outcome.is_sent());
  EXPECT_EQ(b.log, (V{"command /bin/prog as nobody (alias)", "file /tmp/file as nobody (alias)"}));
  b.log.clear();
  s.allow_commands = AllowList{false, true, false};
  r = run("cmd@example.com");
  EXPECT_TRUE(r.outcome.is_bounced());
  EXPECT_EQ(r.outcome.dsn, "5.7.1");
  EXPECT_EQ(b.log, (V{"file /tmp/file as nobody (alias)"}));
}

TEST_F(EngineTest, AliasOwnerPrivileges) {
  b.aliases["cmd"] = "|/bin/prog";
  b.owner = Privs{"alice", 1002, 1002, "/home/alice", ""};
  run("cmd@example.com");
  EXPECT_EQ(b.log, (V{"command /bin/prog as alice (alias)"}));
}

TEST_F(EngineTest, ForwardRunsAsUser) {
  b.forwards["bob"] = "\\bob, \"|/usr/bin/filter -x\"";
  auto r = run("bob@example.com");
  EXPECT_TRUE(r.outcome.is_sent());
  EXPECT_EQ(b.log, (V{"mailbox bob from=sender@remote.test ext=", "command /usr/bin/filter -x as bob (forward)"}));
}

TEST_F(EngineTest, IncludeUsesOwnerAndAllowList) {
  b.aliases["list"] = ":include:/etc/list";
  b.includes["/etc/list"] = IncludeFile{"alice, carol, |/bin/x", 1001};
  auto r = run("list@example.com");
  EXPECT_TRUE(r.outcome.is_bounced());  // commands from :include: are not allowed by default
  EXPECT_EQ(r.outcome.dsn, "5.7.1");
  EXPECT_EQ(b.log, (V{"forward alice@example.com,carol@example.com from=sender@remote.test"}));
  b.log.clear();
  s.allow_commands.include = true;
  r = run("list@example.com");
  EXPECT_TRUE(r.outcome.is_sent());
  EXPECT_EQ(b.log.front(), "command /bin/x as bob (include)");  // the include file's owner
}

// Postfix's include.c: a non-root :include: file takes its owner's rights
// only where none were chosen (a root-owned alias table); in a .forward or
// a user-owned alias table the rights stay those of that user.
TEST_F(EngineTest, IncludeKeepsTheRightsOfAUserContext) {
  s.allow_commands.include = true;
  s.allow_files.include = true;
  b.forwards["bob"] = ":include:/home/carol/list";
  b.includes["/home/carol/list"] = IncludeFile{"|/bin/x, /home/carol/out", 1003};  // carol's file
  auto r = run("bob@example.com");
  EXPECT_TRUE(r.outcome.is_sent());
  EXPECT_EQ(b.log, (V{"command /bin/x as bob (include)", "file /home/carol/out as bob (include)"}));
  b.log.clear();
  b.owner = Privs{"alice", 1002, 1002, "/home/alice", ""};  // a user-owned alias table
  b.aliases["list"] = ":include:/home/carol/list";
  run("list@example.com");
  EXPECT_EQ(b.log, (V{"command /bin/x as alice (include)", "file /home/carol/out as alice (include)"}));
}

TEST_F(EngineTest, RootForwardIncludeTakesTheOwnersRights) {
  s.allow_commands.include = true;
  b.users.emplace("root", user("root", 0));
  b.forwards["root"] = ":include:/etc/ops";
  b.includes["/etc/ops"] = IncludeFile{"|/bin/page", 1003};
  run("root@example.com");
  EXPECT_EQ(b.log, (V{"command /bin/page as carol (include)"}));
}

// The same command or file in two users' .forward files is delivered for
// each of them (Postfix keys its duplicate filter on the rights too).
TEST_F(EngineTest, SameCommandOrFileForTwoUsersRunsForEach) {
  b.aliases["team"] = "alice, bob";
  b.forwards["alice"] = "\"|/usr/bin/procmail\", /var/mail/shared";
  b.forwards["bob"] = "\"|/usr/bin/procmail\", /var/mail/shared, \"|/usr/bin/procmail\"";
  auto r = run("team@example.com");
  EXPECT_TRUE(r.outcome.is_sent());
  EXPECT_EQ(b.log, (V{"command /usr/bin/procmail as alice (forward)", "file /var/mail/shared as alice (forward)",
                      "command /usr/bin/procmail as bob (forward)", "file /var/mail/shared as bob (forward)"}));
}

// Files that include another many times are read once per rights, not once
// per mention: 100 x 100 mentions below, 3 reads.
TEST_F(EngineTest, IncludeFileIsExpandedOncePerRights) {
  std::string f1, f2;
  for (int i = 0; i < 100; ++i) {
    f1 += ":include:/etc/f2\n";
    f2 += ":include:/etc/f3\n";
  }
  b.aliases["big"] = ":include:/etc/f1";
  b.includes["/etc/f1"] = IncludeFile{f1, 0};
  b.includes["/etc/f2"] = IncludeFile{f2, 0};
  b.includes["/etc/f3"] = IncludeFile{"bob", 0};
  auto r = run("big@example.com");
  EXPECT_TRUE(r.outcome.is_sent());
  EXPECT_EQ(b.include_reads, 3);
  EXPECT_EQ(b.log, (V{"forward bob@example.com from=sender@remote.test"}));
}

// An alias for "user+ext" that names "user" reaches the alias of "user".
TEST_F(EngineTest, AliasOfAnExtensionReachesTheBaseAlias) {
  b.aliases["root+cron"] = "root";
  b.aliases["root"] = "alice";
  auto r = run("root+cron@example.com");
  EXPECT_TRUE(r.outcome.is_sent());
  EXPECT_EQ(b.log, (V{"mailbox alice from=sender@remote.test ext="}));
}

TEST_F(EngineTest, ExtensionWithASlashIsDropped) {
  auto r = run("bob+../../etc/x@example.com");
  EXPECT_TRUE(r.outcome.is_sent());
  EXPECT_EQ(b.forward_paths_seen, (V{"/home/bob/.forward"}));
  EXPECT_EQ(b.log, (V{"mailbox bob from=sender@remote.test ext="}));
}

TEST_F(EngineTest, IncludeLoopIsRefused) {
  b.aliases["list"] = ":include:/etc/list";
  b.includes["/etc/list"] = IncludeFile{":include:/etc/list, bob", 0};
  auto r = run("list@example.com");
  EXPECT_TRUE(r.outcome.is_bounced());
  EXPECT_EQ(r.outcome.dsn, "5.4.6");
  EXPECT_EQ(b.log, (V{"forward bob@example.com from=sender@remote.test"}));
}

TEST_F(EngineTest, DeliveredToLoopBounces546) {
  auto r = run("bob@example.com", {"bob@example.com"});
  EXPECT_TRUE(r.outcome.is_bounced());
  EXPECT_EQ(r.outcome.dsn, "5.4.6");
  EXPECT_EQ(r.outcome.text, "mail forwarding loop for bob@example.com");
  EXPECT_TRUE(b.log.empty());
}

TEST_F(EngineTest, TemporaryFailuresWinAndTableErrorsDefer) {
  b.aliases["mix"] = "bob, |tempfail, nosuch";
  auto r = run("mix@example.com");
  EXPECT_TRUE(r.outcome.is_deferred());
  EXPECT_EQ(r.outcome.dsn, "4.3.0");
  b.alias_error = true;
  r = run("bob@example.com");
  EXPECT_TRUE(r.outcome.is_deferred());
}

TEST_F(EngineTest, PartialBounceNamesTheAddress) {
  b.aliases["mix"] = "bob, nosuch";
  auto r = run("mix@example.com");
  EXPECT_TRUE(r.outcome.is_bounced());
  EXPECT_EQ(r.outcome.dsn, "5.1.1");
  EXPECT_NE(r.outcome.text.find("nosuch"), std::string::npos);
}

TEST_F(EngineTest, RemoteAddressIsForwarded) {
  auto r = run("someone@remote.test");
  EXPECT_TRUE(r.outcome.is_sent());
  EXPECT_EQ(r.outcome.text, "forwarded as ABC");
}

// mailbox_transport: after aliases and .forward, before the mailbox, and
// for users passwd does not know too (Postfix's precedence).
TEST_F(EngineTest, MailboxTransportTakesTheMailboxStep) {
  s.mailbox_transport = "lmtp:unix:private/dovecot-lmtp";
  b.aliases["postmaster"] = "bob, alice";
  b.forwards["alice"] = "carol";
  auto r = run("postmaster@example.com");
  EXPECT_TRUE(r.outcome.is_sent());
  // alice's .forward names carol: a new message (its own local delivery
  // hands carol to the transport).
  EXPECT_EQ(b.log, (V{"pass bob@example.com to lmtp:unix:private/dovecot-lmtp from=sender@remote.test",
                      "forward carol@example.com from=sender@remote.test"}));
  ASSERT_EQ(r.leaves.size(), 2u);
  EXPECT_TRUE(r.leaves[0].logged);  // the other agent logs these
  EXPECT_EQ(r.leaves[0].outcome.text, "250 2.0.0 saved");

  b.log.clear();
  r = run("Virtual+Tag@example.com");  // not in passwd
  EXPECT_TRUE(r.outcome.is_sent());
  EXPECT_EQ(b.log, (V{"pass Virtual+Tag@example.com to lmtp:unix:private/dovecot-lmtp from=sender@remote.test"}));

  // Twice the same address: one copy.
  b.log.clear();
  b.aliases["twice"] = "bob, bob@example.com";
  r = run("twice@example.com");
  EXPECT_EQ(b.log.size(), 1u);
}

TEST_F(EngineTest, MailboxTransportMapsWinAndTheirFailureDefers) {
  s.mailbox_transport = "lmtp:unix:private/dovecot-lmtp";
  b.mailbox_transports["bob"] = "cyrus";
  auto r = run("bob+x@example.com");  // looked up without the extension
  EXPECT_EQ(b.log, (V{"pass bob+x@example.com to cyrus from=sender@remote.test"}));
  b.log.clear();
  s.mailbox_transport.clear();
  r = run("alice@example.com");  // no entry, no default: the mailbox
  EXPECT_EQ(b.log, (V{"mailbox alice from=sender@remote.test ext="}));
  b.log.clear();
  b.transport_table_error = true;
  r = run("alice@example.com");
  EXPECT_TRUE(r.outcome.is_deferred());
  EXPECT_EQ(r.outcome.dsn, "4.3.0");
  EXPECT_EQ(r.outcome.text, "table lookup failure");
  EXPECT_TRUE(b.log.empty());
}

// fallback_transport: only for users passwd does not know, before luser_relay.
TEST_F(EngineTest, FallbackTransportForUnknownUsersOnly) {
  s.fallback_transport = "relay:[mailhub.example.net]";
  s.luser_relay = "$user@elsewhere.test";
  auto r = run("nosuch@example.com");
  EXPECT_TRUE(r.outcome.is_sent());
  EXPECT_EQ(b.log, (V{"pass nosuch@example.com to relay:[mailhub.example.net] from=sender@remote.test"}));
  b.log.clear();
  r = run("bob@example.com");
  EXPECT_EQ(b.log, (V{"mailbox bob from=sender@remote.test ext="}));
  b.log.clear();
  b.fallback_transports["ghost"] = "uucp:otherhost";
  r = run("ghost@example.com");
  EXPECT_EQ(b.log, (V{"pass ghost@example.com to uucp:otherhost from=sender@remote.test"}));
  // An agent that could not be asked: the deferral is local's to log.
  b.log.clear();
  b.pass_outcome = Outcome::deferred("4.3.0", "mail transport unavailable");
  b.pass_answered = false;
  r = run("nosuch@example.com");
  EXPECT_TRUE(r.outcome.is_deferred());
  ASSERT_EQ(r.leaves.size(), 1u);
  EXPECT_FALSE(r.leaves[0].logged);
}

// Postfix's deliver_switch(): which local members are delivered in place.
TEST_F(EngineTest, LocalMembersDeliveredInPlaceOnlyFromPlainAliases) {
  // A plain alias: in place, nested aliases too, even inside a .forward.
  b.aliases["staff"] = "bob, ops";
  b.aliases["ops"] = "alice";
  auto r = run("staff@example.com");
  EXPECT_TRUE(r.outcome.is_sent());
  EXPECT_TRUE(r.expanded);
  EXPECT_EQ(b.log, (V{"mailbox bob from=sender@remote.test ext=", "mailbox alice from=sender@remote.test ext="}));
  // carol's .forward names an alias: the alias is expanded at once and,
  // having no owner-, resets the owner: its members are delivered here.
  b.log.clear();
  b.forwards["carol"] = "carol, ops, bob";
  r = run("carol@example.com");
  EXPECT_EQ(b.log, (V{"mailbox carol from=sender@remote.test ext=", "mailbox alice from=sender@remote.test ext=",
                      "forward bob@example.com from=sender@remote.test"}));
  // A .forward naming its user under another case or local domain form is
  // that user's mailbox.
  b.log.clear();
  b.forwards["carol"] = "Carol@example.com";
  r = run("carol@example.com");
  EXPECT_EQ(b.log, (V{"mailbox carol from=sender@remote.test ext="}));
  // A nested list with owner- inside a plain alias: its members resubmitted
  // with the owner as sender, the outer members in place.
  b.log.clear();
  b.forwards.clear();
  b.aliases["all"] = "carol, team";
  b.aliases["team"] = "bob, alice";
  b.aliases["owner-team"] = "bob";
  r = run("all@example.com");
  EXPECT_EQ(b.log, (V{"mailbox carol from=sender@remote.test ext=",
                      "forward bob@example.com,alice@example.com from=owner-team@example.com"}));
  EXPECT_EQ(r.leaves.size(), 3u);
}

// A member's temporary failure no longer holds the others back: with a
// resubmission, the expansion's outcome is the forwarding's.
TEST_F(EngineTest, ResubmittedMembersAreOneOutcome) {
  b.aliases["list"] = ":include:/etc/list";
  b.includes["/etc/list"] = IncludeFile{"alice, nosuch, far@remote.test", 0};
  auto r = run("list@example.com");
  EXPECT_TRUE(r.outcome.is_sent());
  EXPECT_EQ(b.log, (V{"forward alice@example.com,nosuch@example.com,far@remote.test from=sender@remote.test"}));
}

// An alias with an empty value is a table mistake: deferred, not bounced.
TEST_F(EngineTest, EmptyAliasDefers) {
  b.aliases["void"] = " , ";
  auto r = run("void@example.com");
  EXPECT_TRUE(r.outcome.is_deferred());
  EXPECT_EQ(r.outcome.dsn, "4.3.0");
  EXPECT_EQ(r.outcome.text, "alias database unavailable");
}
