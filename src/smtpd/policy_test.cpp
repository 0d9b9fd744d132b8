// policy_test.cpp - network lists, domain lists, relay and recipient restrictions.
#include "smtpd/policy.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "config/unsupported.h"
#include "ipc/proto/trivial_rewrite.h"

using namespace postern;
using namespace postern::smtpd;

namespace {

NetworkList nets(std::string_view list) {
  auto n = NetworkList::parse("test", list);
  EXPECT_TRUE(n) << (n ? "" : n.error().message);
  return std::move(*n);
}

bool has(NetworkList& n, std::string_view a) {
  auto r = n.contains(a);
  EXPECT_TRUE(r);
  return r && *r;
}

std::unique_ptr<Policy> policy(std::string extra) {
  std::string text = "myhostname = mx.example.org\nmydestination = $myhostname, localhost\n"
                     "local_recipient_maps =\n" + extra;
  auto cfg = config::Config::from_text(text);
  EXPECT_TRUE(cfg) << (cfg ? "" : cfg.error().message);
  auto p = Policy::from_config(*cfg);
  EXPECT_TRUE(p) << (p ? "" : p.error().message);
  return std::move(*p);
}

Verdict rcpt(Policy& p, std::string_view client, bool mynet, std::string_view to) {
  auto a = mail::parse_smtp_path(to);
  EXPECT_TRUE(a) << to;
  RcptContext c;
  c.client_addr = client;
  c.client_in_mynetworks = mynet;
  c.recipient = &*a;
  c.recipient_text = to;
  return p.check_recipient(c);
}

}  // namespace

TEST(NetworkList, Ipv4Cidr) {
  auto n = nets("192.0.2.0/24, 10.1.2.3");
  EXPECT_TRUE(has(n, "192.0.2.77"));
  EXPECT_FALSE(has(n, "192.0.3.1"));
  EXPECT_TRUE(has(n, "10.1.2.3"));
  EXPECT_FALSE(has(n, "10.1.2.4"));
  EXPECT_TRUE(has(n, "::ffff:192.0.2.1"));  // IPv4-mapped client address
  EXPECT_FALSE(has(n, "garbage"));
}

TEST(NetworkList, Ipv6AndOddMasks) {
  auto n = nets("[::1]/128 [2001:db8::]/32 172.16.0.0/12");
  EXPECT_TRUE(has(n, "::1"));
  EXPECT_TRUE(has(n, "2001:db8:ffff::1"));
  EXPECT_FALSE(has(n, "2001:db9::1"));
  EXPECT_TRUE(has(n, "172.31.255.255"));
  EXPECT_FALSE(has(n, "172.32.0.0"));
  EXPECT_FALSE(has(n, "127.0.0.1"));
}

TEST(NetworkList, NegationFirstMatchWins) {
  auto n = nets("!192.0.2.5 192.0.2.0/24");
  EXPECT_FALSE(has(n, "192.0.2.5"));
  EXPECT_TRUE(has(n, "192.0.2.6"));
}

TEST(NetworkList, FileAndTable) {
  std::string path = ::testing::TempDir() + "/smtpd_nets.txt";
  {
    std::ofstream f(path);
    f << "# comment\n198.51.100.0/24\n";
  }
  auto n = nets(path + " inline:{ 203.0.113.9=ok, 203.0.113.10=ok }");
  EXPECT_TRUE(has(n, "198.51.100.200"));
  EXPECT_TRUE(has(n, "203.0.113.9"));
  EXPECT_FALSE(has(n, "203.0.113.8"));
  std::remove(path.c_str());
}

TEST(NetworkList, RejectsMalformed) {
  EXPECT_FALSE(NetworkList::parse("t", "192.0.2.0/33"));
  EXPECT_FALSE(NetworkList::parse("t", "300.1.1.1"));
  EXPECT_FALSE(NetworkList::parse("t", "192.0.2.0/x"));
  EXPECT_FALSE(NetworkList::parse("t", "/nonexistent/file/for/smtpd"));
  EXPECT_FALSE(NetworkList::parse("t", "!"));
}

TEST(DomainList, SubdomainsOnlyWhenAsked) {
  auto a = DomainList::parse("t", "Example.COM, inline:{tab.example=x}", true);
  ASSERT_TRUE(a);
  EXPECT_TRUE(*a->contains("example.com"));
  EXPECT_TRUE(*a->contains("a.b.example.com"));
  EXPECT_TRUE(*a->contains("EXAMPLE.com."));
  EXPECT_TRUE(*a->contains("sub.tab.example"));
  EXPECT_FALSE(*a->contains("notexample.com"));
  auto b = DomainList::parse("t", "example.com", false);
  ASSERT_TRUE(b);
  EXPECT_FALSE(*b->contains("a.example.com"));
  EXPECT_FALSE(*b->contains(""));
}

TEST(Policy, DefaultRelayRestrictions) {
  auto p = policy("mynetworks = 192.0.2.0/24\nrelay_domains = relay.example\n");
  EXPECT_EQ(rcpt(*p, "192.0.2.1", true, "x@elsewhere.example").kind, Verdict::Accept);
  Verdict v = rcpt(*p, "198.51.100.1", false, "x@elsewhere.example");
  ASSERT_EQ(v.kind, Verdict::Reject);
  EXPECT_EQ(v.reply.to_string(), "454 4.7.1 <x@elsewhere.example>: Relay access denied");
  EXPECT_EQ(rcpt(*p, "198.51.100.1", false, "x@mx.example.org").kind, Verdict::Accept);
  EXPECT_EQ(rcpt(*p, "198.51.100.1", false, "x@sub.relay.example").kind, Verdict::Accept);
}

TEST(Policy, RoutingTricksNeverRelayForOutsiders) {
  auto p = policy("smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n");
  for (auto to : {"user%elsewhere.example@mx.example.org", "elsewhere.example!user@mx.example.org",
                  "\"user@elsewhere.example\"@mx.example.org", "@mx.example.org:user@elsewhere.example"}) {
    Verdict v = rcpt(*p, "198.51.100.1", false, to);
    ASSERT_EQ(v.kind, Verdict::Reject) << to;
    EXPECT_EQ(v.reply.code, 554) << to;
    EXPECT_NE(v.reply.text().find("Relay access denied"), std::string::npos);
    EXPECT_EQ(rcpt(*p, "192.0.2.1", true, to).kind, Verdict::Accept) << to;
  }
}

// A restriction Postern does not have is refused when main.cf is read
// (config/unsupported.cpp), so smtpd never meets one at RCPT time.
TEST(Policy, UnknownRestrictionIsRefusedAtLoad) {
  for (const char* name : {"smtpd_client_restrictions", "smtpd_helo_restrictions", "smtpd_sender_restrictions",
                           "smtpd_relay_restrictions", "smtpd_recipient_restrictions"}) {
    auto cfg = config::Config::from_text(
        fmt::format("{} = permit_mynetworks, reject_rbl_client zen.example, reject\n", name));
    ASSERT_FALSE(cfg) << name;
    EXPECT_NE(cfg.error().message.find("does not have the smtpd restriction \"reject_rbl_client\""),
              std::string::npos)
        << cfg.error().message;
  }
  EXPECT_FALSE(config::Config::from_text("smtpd_recipient_restrictions = check_bogus_thing\n"));
  // Any case, commas or blanks: still the restrictions Postern has.
  EXPECT_TRUE(config::Config::from_text(
      "smtpd_recipient_restrictions = PERMIT_MYNETWORKS reject_unauth_destination,\tpermit\n"));
}

// Every name the configuration lets through is one eval_list() knows: none
// of them ends in the "Server configuration error" of an unknown name.
TEST(Policy, EveryListedRestrictionIsEvaluated) {
  ASSERT_GE(config::smtpd_restrictions().size(), 10u);
  for (auto name : config::smtpd_restrictions()) {
    for (const char* list : {"smtpd_client_restrictions", "smtpd_recipient_restrictions"}) {
      auto p = policy(fmt::format("{} = {}\n", list, name));
      for (bool mynet : {false, true}) {
        Verdict v = rcpt(*p, mynet ? "192.0.2.1" : "198.51.100.1", mynet, "x@mx.example.org");
        EXPECT_FALSE(v.config_error) << list << " = " << name << ": " << v.reply.to_string();
        v = rcpt(*p, mynet ? "192.0.2.1" : "198.51.100.1", mynet, "x@elsewhere.example");
        EXPECT_FALSE(v.config_error) << list << " = " << name << ": " << v.reply.to_string();
      }
    }
  }
}

TEST(Policy, NoRelayControlAtAll) {
  auto p = policy("smtpd_relay_restrictions = permit_mynetworks\nsmtpd_recipient_restrictions = permit\n");
  EXPECT_EQ(rcpt(*p, "198.51.100.1", false, "x@mx.example.org").reply.code, 451);
}

TEST(Policy, LocalRecipientMaps) {
  auto p = policy("local_recipient_maps = inline:{alice=x, bob@mx.example.org=y}\nrecipient_delimiter = +\n");
  EXPECT_EQ(rcpt(*p, "198.51.100.1", false, "alice@mx.example.org").kind, Verdict::Accept);
  EXPECT_EQ(rcpt(*p, "198.51.100.1", false, "alice+tag@localhost").kind, Verdict::Accept);
  EXPECT_EQ(rcpt(*p, "198.51.100.1", false, "bob@mx.example.org").kind, Verdict::Accept);
  Verdict v = rcpt(*p, "198.51.100.1", false, "carol@mx.example.org");
  ASSERT_EQ(v.kind, Verdict::Reject);
  EXPECT_EQ(v.reply.to_string(),
            "550 5.1.1 <carol@mx.example.org>: Recipient address rejected: User unknown in local recipient table");
  // Not a local domain: not checked here.
  EXPECT_EQ(rcpt(*p, "192.0.2.1", true, "carol@elsewhere.example").kind, Verdict::Accept);
}

TEST(Policy, UnavailableLocalTableDefers) {
  auto p = policy("local_recipient_maps = hash:/nonexistent/smtpd/aliases\n");
  Verdict v = rcpt(*p, "198.51.100.1", false, "x@mx.example.org");
  ASSERT_EQ(v.kind, Verdict::Reject);
  EXPECT_EQ(v.reply.code, 451);
}

// The session passes trivial-rewrite's class; the restrictions use it, not
// main.cf's domain lists.
TEST(Policy, ResolvedClassDecides) {
  namespace rf = ipc::proto::resolve_flag;
  EXPECT_EQ(class_from_resolve_flags(rf::kFinal | rf::kLocal), DomainClass::Local);
  EXPECT_EQ(class_from_resolve_flags(rf::kAlias), DomainClass::VirtualAlias);
  EXPECT_EQ(class_from_resolve_flags(rf::kVirtual), DomainClass::VirtualMailbox);
  EXPECT_EQ(class_from_resolve_flags(rf::kRelay), DomainClass::Relay);
  EXPECT_EQ(class_from_resolve_flags(rf::kDefault), DomainClass::Default);
  EXPECT_EQ(class_from_resolve_flags(0), DomainClass::Default);

  auto p = policy("local_recipient_maps = inline:{alice=x}\n"
                  "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n");
  auto check = [&](std::string_view to, DomainClass cls) {
    auto a = mail::parse_smtp_path(to);
    EXPECT_TRUE(a) << to;
    RcptContext c;
    c.client_addr = "198.51.100.1";
    c.recipient = &*a;
    c.recipient_text = to;
    c.recipient_class = cls;
    return p->check_recipient(c);
  };
  // Not in any list of main.cf, but trivial-rewrite says relay: accepted.
  EXPECT_EQ(check("x@elsewhere.example", DomainClass::Relay).kind, Verdict::Accept);
  // In mydestination, but trivial-rewrite says default: relay denied.
  Verdict v = check("alice@mx.example.org", DomainClass::Default);
  ASSERT_EQ(v.kind, Verdict::Reject);
  EXPECT_EQ(v.reply.to_string(), "554 5.7.1 <alice@mx.example.org>: Relay access denied");
  // Local by trivial-rewrite: local_recipient_maps apply, bare-name search included.
  EXPECT_EQ(check("alice@other.example", DomainClass::Local).kind, Verdict::Accept);
  Verdict u = check("carol@other.example", DomainClass::Local);
  ASSERT_EQ(u.kind, Verdict::Reject);
  EXPECT_EQ(u.reply.code, 550);
}

TEST(Policy, TemporaryLookupFailureText) {
  EXPECT_EQ(temporary_lookup_failure("a@b").to_string(),
            "451 4.3.0 <a@b>: Recipient address rejected: Temporary lookup failure");
}
