// mailbox_test.cpp - virtual(8)'s table search, hostile table results,
// Delivered-To: scanning, and the Maildir/mbox file work.
#include "mailbox.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "deliver/test_util.h"

using namespace postern;
using namespace postern::virt;
using deliver::test::TempDir;

namespace {

Resolver make_resolver(std::string_view mailbox, std::string_view uid = "static:5000",
                       std::string_view gid = "static:5000", std::string delimiter = "+",
                       std::string base = "/var/mail/vhosts") {
  ResolverOptions o;
  o.mailbox_base = std::move(base);
  o.minimum_uid = 100;
  o.recipient_delimiter = std::move(delimiter);
  auto r = Resolver::open(mailbox, uid, gid, o);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return std::move(*r);
}

constexpr std::string_view kMailboxes =
    "inline:{ alice@one.test=one.test/alice/, bob@one.test=one.test/bob, @two.test=two.test/all/ }";

}  // namespace

TEST(Resolver, FullAddressMaildirAndMbox) {
  auto r = make_resolver(kMailboxes);
  auto a = r.resolve("Alice@One.Test");
  ASSERT_TRUE(a) << a.failure().to_string();
  EXPECT_EQ(a->path, "/var/mail/vhosts/one.test/alice/");
  EXPECT_TRUE(a->maildir);
  EXPECT_EQ(a->uid, 5000u);
  EXPECT_EQ(a->gid, 5000u);
  auto b = r.resolve("bob@one.test");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->path, "/var/mail/vhosts/one.test/bob");
  EXPECT_FALSE(b->maildir);
}

TEST(Resolver, ExtensionThenCatchAll) {
  auto r = make_resolver(kMailboxes);
  auto a = r.resolve("alice+lists@one.test");
  ASSERT_TRUE(a) << a.failure().to_string();
  EXPECT_EQ(a->relative, "one.test/alice/");
  auto c = r.resolve("anyone@two.test");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->relative, "two.test/all/");
  // Without a delimiter the extension is part of the name.
  auto nd = make_resolver(kMailboxes, "static:5000", "static:5000", "");
  auto u = nd.resolve("alice+lists@one.test");
  ASSERT_FALSE(u);
  EXPECT_EQ(u.failure().dsn, "5.1.1");
}

TEST(Resolver, UnknownUserBounces) {
  auto r = make_resolver(kMailboxes);
  auto u = r.resolve("carol@one.test");
  ASSERT_FALSE(u);
  EXPECT_TRUE(u.failure().is_bounced());
  EXPECT_EQ(u.failure().dsn, "5.1.1");
  EXPECT_EQ(u.failure().text, "unknown user: \"carol@one.test\"");
  // No bare "user" lookup: the virtual domain is not local.
  auto bare = make_resolver("inline:{ carol=x/ }");
  EXPECT_EQ(bare.resolve("carol@one.test").failure().dsn, "5.1.1");
}

TEST(Resolver, PerUserIds) {
  auto r = make_resolver(kMailboxes, "inline:{ alice@one.test=5001, @two.test=5003 }",
                         "inline:{ alice@one.test=6001, @two.test=6003 }");
  auto a = r.resolve("alice@one.test");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->uid, 5001u);
  EXPECT_EQ(a->gid, 6001u);
  auto c = r.resolve("x@two.test");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->uid, 5003u);
  // bob has a mailbox but no uid: a configuration error, deferred.
  auto b = r.resolve("bob@one.test");
  ASSERT_FALSE(b);
  EXPECT_TRUE(b.failure().is_deferred());
  EXPECT_EQ(b.failure().dsn, "4.3.5");
}

TEST(Resolver, BadIdsDefer) {
  for (std::string_view uid : {"static:99", "static:0", "static:-5", "static:5000x", "static:{ 50 00 }",
                               "static:4294967295", "static:99999999999"}) {
    auto r = make_resolver(kMailboxes, uid);
    auto a = r.resolve("alice@one.test");
    ASSERT_FALSE(a) << uid;
    EXPECT_TRUE(a.failure().is_deferred()) << uid;
    EXPECT_EQ(a.failure().dsn, "4.3.5") << uid;
  }
  auto r = make_resolver(kMailboxes, "static:100", "static:abc");
  EXPECT_EQ(r.resolve("alice@one.test").failure().dsn, "4.3.5");
  // gid 0 would give the worker root's group: refused, as Postfix does ("bad gid").
  auto root_group = make_resolver(kMailboxes, "static:100", "static:0");
  EXPECT_EQ(root_group.resolve("alice@one.test").failure().dsn, "4.3.5");
}

TEST(Resolver, HostilePathsDefer) {
  for (std::string_view m :
       {"static:../etc/passwd", "static:a/../../b", "static:/etc/passwd", "static:a/..", "static:./../x",
        "static:a/\x01/b"}) {
    auto r = make_resolver(m);
    auto a = r.resolve("alice@one.test");
    ASSERT_FALSE(a) << m;
    EXPECT_TRUE(a.failure().is_deferred()) << m;
    EXPECT_EQ(a.failure().dsn, "4.3.5") << m;
  }
  auto fine = make_resolver("static:a..b/..c/");
  EXPECT_TRUE(fine.resolve("alice@one.test"));
  auto relative_base = make_resolver(kMailboxes, "static:5000", "static:5000", "+", "relative/dir");
  EXPECT_EQ(relative_base.resolve("alice@one.test").failure().dsn, "4.3.5");
}

TEST(CheckMailboxResult, Bounds) {
  EXPECT_FALSE(check_mailbox_result("a/b/"));
  EXPECT_FALSE(check_mailbox_result("a"));
  EXPECT_TRUE(check_mailbox_result(""));
  EXPECT_TRUE(check_mailbox_result(".."));
  EXPECT_TRUE(check_mailbox_result("x//../y"));
  EXPECT_TRUE(check_mailbox_result(std::string(kMaxMailboxResult + 1, 'a')));
  EXPECT_FALSE(check_mailbox_result(std::string(kMaxMailboxResult, 'a')));
}

TEST(ParseId, Strict) {
  EXPECT_EQ(parse_id("5000"), 5000u);
  EXPECT_EQ(parse_id(" 42 "), 42u);
  EXPECT_EQ(parse_id("4294967294"), 4294967294u);
  EXPECT_FALSE(parse_id("4294967295"));
  EXPECT_FALSE(parse_id(""));
  EXPECT_FALSE(parse_id("+5"));
  EXPECT_FALSE(parse_id("0x10"));
  EXPECT_FALSE(parse_id("12345678901"));
}

TEST(DeliveredTo, HeaderOnlyUnfoldedLowercased) {
  auto content = deliver::string_content(
      "Received: from x\n\tby y\nDelivered-To: Alice@One.Test\ndelivered-to:\n bob@one.test\n"
      "Subject: hi\n\nDelivered-To: carol@one.test\n");
  auto v = delivered_to_values(content);
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, (std::vector<std::string>{"alice@one.test", "bob@one.test"}));
}

// The file work, as the current identity (the agent runs it in a worker
// that became the recipient).
class StoreTest : public ::testing::Test {
 protected:
  TempDir dir;
  StoreOptions opts() {
    StoreOptions o;
    o.mailbox_base = dir.path().string();
    o.locks = *deliver::LockMethods::parse("fcntl, dotlock");
    o.lock_params.attempts = 2;
    o.lock_params.delay = std::chrono::milliseconds(10);
    o.hostname = "host.test";
    o.sync = false;
    return o;
  }
  Destination dest(std::string relative) {
    Destination d;
    d.relative = relative;
    d.maildir = relative.back() == '/';
    d.path = dir.path().string() + "/" + relative;
    return d;
  }
  deliver::Envelope env() { return {"sender@x.test", "alice@one.test", "alice@one.test"}; }
};

TEST_F(StoreTest, MaildirCreatesDirectories) {
  auto content = deliver::string_content("Subject: hi\n\nbody\n");
  auto o = store(dest("one.test/alice/"), env(), content, opts());
  ASSERT_TRUE(o.is_sent()) << o.to_string();
  EXPECT_EQ(o.text, "delivered to maildir");
  auto names = deliver::test::list_dir(dir / "one.test/alice/new");
  ASSERT_EQ(names.size(), 1u);
  auto text = deliver::test::read_file(dir / ("one.test/alice/new/" + names[0]));
  EXPECT_EQ(text.rfind("Return-Path: <sender@x.test>\nX-Original-To: alice@one.test\nDelivered-To: alice@one.test\n", 0),
            0u)
      << text;
  EXPECT_TRUE(std::filesystem::is_directory(dir / "one.test/alice/cur"));
  EXPECT_TRUE(std::filesystem::is_directory(dir / "one.test/alice/tmp"));
}

TEST_F(StoreTest, MboxCreatesParentsAndAppends) {
  for (int i = 0; i < 2; ++i) {
    auto content = deliver::string_content("Subject: hi\n\nFrom me\n");
    auto o = store(dest("one.test/sub/bob"), env(), content, opts());
    ASSERT_TRUE(o.is_sent()) << o.to_string();
    EXPECT_EQ(o.text, "delivered to mailbox");
  }
  auto text = deliver::test::read_file(dir / "one.test/sub/bob");
  EXPECT_EQ(text.rfind("From sender@x.test ", 0), 0u);
  EXPECT_NE(text.find("\n>From me\n"), std::string::npos);
  EXPECT_NE(text.find("\n\nFrom sender@x.test "), std::string::npos);  // the second message
  struct stat st {};
  ASSERT_EQ(::stat((dir / "one.test/sub").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_FALSE(std::filesystem::exists(dir / "one.test/sub/bob.lock"));
}

TEST_F(StoreTest, MboxSymlinkRefused) {
  deliver::test::write_file(dir / "target", "");
  std::filesystem::create_symlink(dir / "target", dir / "bob");
  auto content = deliver::string_content("Subject: hi\n\nbody\n");
  auto o = store(dest("bob"), env(), content, opts());
  EXPECT_FALSE(o.is_sent());
  EXPECT_NE(o.text.find("symbolic link"), std::string::npos) << o.text;
  EXPECT_EQ(deliver::test::read_file(dir / "target"), "");
}

TEST_F(StoreTest, MboxSizeLimitBounces) {
  auto o = opts();
  o.size_limit = 100;
  auto content = deliver::string_content("Subject: hi\n\n" + std::string(200, 'x') + "\n");
  auto r = store(dest("bob"), env(), content, o);
  EXPECT_TRUE(r.is_bounced()) << r.to_string();
  EXPECT_EQ(r.dsn, "5.2.2");
  EXPECT_EQ(std::filesystem::file_size(dir / "bob"), 0u);  // truncated back
}

TEST_F(StoreTest, MboxParentIsAFile) {
  deliver::test::write_file(dir / "one.test", "");
  auto content = deliver::string_content("Subject: hi\n\nbody\n");
  auto o = store(dest("one.test/bob"), env(), content, opts());
  EXPECT_FALSE(o.is_sent());
  EXPECT_NE(o.text.find("delivery failed to mailbox"), std::string::npos) << o.text;
}
