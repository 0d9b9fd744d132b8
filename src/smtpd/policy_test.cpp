// policy_test.cpp - domain lists, relay and recipient restrictions.
#include "smtpd/policy.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <map>

#include "config/unsupported.h"
#include "ipc/proto/trivial_rewrite.h"

using namespace postern;
using namespace postern::smtpd;

namespace {

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
        fmt::format("{} = permit_mynetworks, reject_unverified_recipient, reject\n", name));
    ASSERT_FALSE(cfg) << name;
    EXPECT_NE(cfg.error().message.find("does not have the smtpd restriction \"reject_unverified_recipient\""),
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
  ASSERT_GE(config::smtpd_restrictions().size(), 20u);
  for (auto name : config::smtpd_restrictions()) {
    for (const char* list : {"smtpd_client_restrictions", "smtpd_recipient_restrictions"}) {
      // check_*_access with a table that answers DUNNO to every key.
      auto p = policy(fmt::format("{} = {}{}\n", list, name,
                                  config::smtpd_restriction_takes_table(name)    ? " static:dunno"
                                  : config::smtpd_restriction_takes_domain(name) ? " bl.example"
                                  : config::smtpd_restriction_takes_server(name) ? " inet:127.0.0.1:9"
                                                                                 : ""));
      for (bool mynet : {false, true}) {
        Verdict v = rcpt(*p, mynet ? "192.0.2.1" : "198.51.100.1", mynet, "x@mx.example.org");
        EXPECT_FALSE(v.config_error()) << list << " = " << name << ": " << v.reply.to_string();
        v = rcpt(*p, mynet ? "192.0.2.1" : "198.51.100.1", mynet, "x@elsewhere.example");
        EXPECT_FALSE(v.config_error()) << list << " = " << name << ": " << v.reply.to_string();
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

namespace {

struct Tx {
  std::string helo = "client.example.net";
  std::string sender = "s@example.net";
  std::string rcpt = "x@mx.example.org";
  std::string client_name = "unknown";
  std::string client_addr = "192.0.2.1";
  bool mynet = true;
  std::optional<dns::Outcome> sender_dns, rcpt_dns;
  std::optional<dns::Outcome> name_status, reverse_status, helo_dns;
};

Verdict check(Policy& p, const Tx& t) {
  auto s = mail::parse_smtp_path(t.sender, {.allow_null = true});
  auto r = mail::parse_smtp_path(t.rcpt);
  EXPECT_TRUE(s) << t.sender;
  EXPECT_TRUE(r) << t.rcpt;
  RcptContext c;
  c.client_addr = t.client_addr;
  c.client_name = t.client_name;
  c.client_in_mynetworks = t.mynet;
  c.helo = t.helo;
  c.sender = &*s;
  c.sender_text = t.sender;
  c.recipient = &*r;
  c.recipient_text = t.rcpt;
  c.sender_mailhost = t.sender_dns;
  c.recipient_mailhost = t.rcpt_dns;
  c.client_name_status = t.name_status;
  c.reverse_name_status = t.reverse_status;
  c.helo_mailhost = t.helo_dns;
  return p.check_recipient(c);
}

std::string reply_of(Policy& p, const Tx& t) {
  Verdict v = check(p, t);
  return v.kind == Verdict::Accept ? "accept" : v.reply.to_string();
}

}  // namespace

TEST(Policy, HeloNameChecks) {
  auto p = policy("smtpd_helo_restrictions = reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname\n");
  auto helo = [&](std::string h) {
    Tx t;
    t.helo = std::move(h);
    return reply_of(*p, t);
  };
  EXPECT_EQ(helo("mail.example.com"), "accept");
  EXPECT_EQ(helo("mail.example.com."), "accept");
  EXPECT_EQ(helo(""), "accept");  // no HELO: nothing to judge
  EXPECT_EQ(helo("[192.0.2.1]"), "accept");
  EXPECT_EQ(helo("[IPv6:2001:db8::1]"), "accept");
  EXPECT_EQ(helo("localhost"), "504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname");
  EXPECT_EQ(helo("bad_name!x.example"), "501 5.5.2 <bad_name!x.example>: Helo command rejected: Invalid name");
  EXPECT_EQ(helo("a..b"), "501 5.5.2 <a..b>: Helo command rejected: Invalid name");
  EXPECT_EQ(helo("[999.1.1.1]"), "501 5.5.2 <[999.1.1.1]>: Helo command rejected: invalid ip address");
  // A bare address passes the syntax check (as in Postfix) but is no FQDN.
  EXPECT_EQ(helo("192.0.2.1"), "504 5.5.2 <192.0.2.1>: Helo command rejected: need fully-qualified hostname");
  auto lax = policy("smtpd_helo_restrictions = reject_invalid_hostname\n");
  Tx t;
  t.helo = "192.0.2.1";
  EXPECT_EQ(reply_of(*lax, t), "accept");
  t.helo = "localhost";
  EXPECT_EQ(reply_of(*lax, t), "accept");
  // The codes are the configured ones.
  auto codes = policy("smtpd_helo_restrictions = reject_non_fqdn_hostname\nnon_fqdn_reject_code = 550\n");
  EXPECT_EQ(reply_of(*codes, t), "550 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname");
}

TEST(Policy, NonFqdnSenderAndRecipient) {
  auto p = policy("smtpd_recipient_restrictions = reject_non_fqdn_sender, reject_non_fqdn_recipient\n");
  auto with = [&](std::string s, std::string r) {
    Tx t;
    t.sender = std::move(s);
    t.rcpt = std::move(r);
    return reply_of(*p, t);
  };
  EXPECT_EQ(with("s@example.net", "x@mx.example.org"), "accept");
  EXPECT_EQ(with("", "x@mx.example.org"), "accept");  // the null sender has no domain to judge
  EXPECT_EQ(with("s@example.net.", "x@[192.0.2.9]"), "accept");
  EXPECT_EQ(with("s@localhost", "x@mx.example.org"),
            "504 5.5.2 <s@localhost>: Sender address rejected: need fully-qualified address");
  EXPECT_EQ(with("s", "x@mx.example.org"), "504 5.5.2 <s>: Sender address rejected: need fully-qualified address");
  EXPECT_EQ(with("s@example.net", "x@localhost"),
            "504 5.5.2 <x@localhost>: Recipient address rejected: need fully-qualified address");
  // Before the relay check, as the lists are ordered: client list first.
  auto early = policy("smtpd_client_restrictions = reject_non_fqdn_recipient\n");
  Tx t;
  t.mynet = false;
  t.rcpt = "x@elsewhere";
  EXPECT_EQ(reply_of(*early, t), "504 5.5.2 <x@elsewhere>: Recipient address rejected: need fully-qualified address");
}

TEST(Policy, UnlistedRecipientsOfEveryClass) {
  auto p = policy(
      "local_recipient_maps = inline:{alice=x}\n"
      "relay_domains = relay.example\nrelay_recipient_maps = inline:{known@relay.example=x}\n"
      "virtual_mailbox_domains = vm.example\nvirtual_mailbox_maps = inline:{u@vm.example=u/}\n"
      "virtual_alias_domains = va.example\n"
      "virtual_alias_maps = inline:{a@va.example=a@elsewhere.example, info@mx.example.org=alice}\n"
      "recipient_delimiter = +\n");
  Tx t;
  t.mynet = false;
  auto rejected = [](const std::string& rcpt, const std::string& table) {
    return "550 5.1.1 <" + rcpt + ">: Recipient address rejected: User unknown in " + table;
  };
  for (const char* ok : {"known@relay.example", "known+tag@relay.example", "u@vm.example", "a@va.example",
                         "alice@mx.example.org", "info@mx.example.org"}) {
    t.rcpt = ok;
    EXPECT_EQ(reply_of(*p, t), "accept") << ok;
  }
  t.rcpt = "other@relay.example";
  EXPECT_EQ(reply_of(*p, t), rejected(t.rcpt, "relay recipient table"));
  t.rcpt = "x@vm.example";
  EXPECT_EQ(reply_of(*p, t), rejected(t.rcpt, "virtual mailbox table"));
  t.rcpt = "b@va.example";
  EXPECT_EQ(reply_of(*p, t), rejected(t.rcpt, "virtual alias table"));
  t.rcpt = "bob@mx.example.org";
  EXPECT_EQ(reply_of(*p, t), rejected(t.rcpt, "local recipient table"));
  // Without relay_recipient_maps every address in a relay domain is valid.
  auto open = policy("relay_domains = relay.example\n");
  t.rcpt = "anyone@relay.example";
  EXPECT_EQ(reply_of(*open, t), "accept");
  // The reply codes are the unknown_*_reject_code parameters (the wire
  // format makes the enhanced code's class agree: smtp/reply.h).
  auto codes = policy("relay_domains = relay.example\nrelay_recipient_maps = inline:{k@relay.example=x}\n"
                      "unknown_relay_recipient_reject_code = 450\n");
  EXPECT_EQ(reply_of(*codes, t).substr(0, 4), "450 ");
}

TEST(Policy, ErrorTransportRecipientsAreRefused) {
  // What trivial-rewrite says for relocated_maps (and "error:" transport_maps).
  auto p = policy("relay_domains = relay.example\n");
  auto r = mail::parse_smtp_path("joe@elsewhere.example");
  ASSERT_TRUE(r);
  RcptContext c;
  c.client_addr = "192.0.2.1";
  c.client_in_mynetworks = true;
  c.recipient = &*r;
  c.recipient_text = "joe@elsewhere.example";
  c.undeliverable = "5.1.6 User has moved to joe@new.example";
  Verdict v = p->check_recipient(c);
  ASSERT_EQ(v.kind, Verdict::Reject);
  EXPECT_EQ(v.reply.to_string(),
            "550 5.1.6 <joe@elsewhere.example>: Recipient address rejected: User has moved to joe@new.example");
  c.undeliverable = "no such domain";
  EXPECT_EQ(p->check_recipient(c).reply.to_string(),
            "550 5.1.1 <joe@elsewhere.example>: Recipient address rejected: no such domain");
  c.undeliverable.clear();
  EXPECT_EQ(p->check_recipient(c).kind, Verdict::Accept);
}

TEST(Policy, UnavailableRelayRecipientTableDefers) {
  auto p = policy("relay_domains = relay.example\nrelay_recipient_maps = hash:/nonexistent/smtpd/relay_rcpt\n");
  Tx t;
  t.mynet = false;
  t.rcpt = "x@relay.example";
  EXPECT_EQ(reply_of(*p, t).substr(0, 9), "451 4.3.0");
}

TEST(Policy, AccessTablesDecideInListOrder) {
  auto p = policy(
      "smtpd_client_restrictions = check_client_access inline:{{192.0.2=REJECT go away}, 198.51.100.7=OK}\n"
      "smtpd_helo_restrictions = check_helo_access inline:{{spam.example=permit_mynetworks, reject}}\n"
      "smtpd_sender_restrictions = check_sender_access inline:{{bad@example.net=550 5.1.1 no such sender},"
      " {filtered@example.net=HANGUP}, {example.org=DUNNO}}\n"
      "smtpd_recipient_restrictions = check_recipient_access inline:{{x@mx.example.org=DEFER try later}}\n");
  Tx t;
  t.mynet = false;
  EXPECT_EQ(reply_of(*p, t), "554 5.7.1 <unknown[192.0.2.1]>: Client host rejected: go away");
  // OK ends the client list only: the relay check still runs.
  t.client_addr = "198.51.100.7";
  t.rcpt = "x@elsewhere.example";
  EXPECT_EQ(reply_of(*p, t), "454 4.7.1 <x@elsewhere.example>: Relay access denied");
  t.client_addr = "203.0.113.5";
  t.rcpt = "y@mx.example.org";
  EXPECT_EQ(reply_of(*p, t), "accept");
  // A table result that names restrictions runs them; a plain reject is
  // named after the list it stands in.
  t.helo = "spam.example";
  EXPECT_EQ(reply_of(*p, t), "554 5.7.1 <spam.example>: Helo command rejected: Access denied");
  t.mynet = true;
  EXPECT_EQ(reply_of(*p, t), "accept");
  t.mynet = false;
  t.helo = "client.example.net";
  // The sender's status code is mapped to a sender status (5.1.1 -> 5.1.7).
  t.sender = "bad@example.net";
  EXPECT_EQ(reply_of(*p, t), "550 5.1.7 <bad@example.net>: Sender address rejected: no such sender");
  // An action Postern lacks fails closed, as an unknown restriction would.
  t.sender = "filtered@example.net";
  Verdict v = check(*p, t);
  ASSERT_EQ(v.kind, Verdict::Reject);
  EXPECT_TRUE(v.config_error());
  EXPECT_EQ(v.reply.to_string(), "451 4.3.5 Server configuration error");
  t.sender = "s@example.org";  // DUNNO: on to the next restriction
  t.rcpt = "x@mx.example.org";
  EXPECT_EQ(reply_of(*p, t), "450 4.7.1 <x@mx.example.org>: Recipient address rejected: try later");
}

TEST(Policy, FilterActionIsNotedAndTheLastOneWins) {
  auto p = policy(
      "smtpd_sender_restrictions = check_sender_access inline:{{scan@example.net=FILTER amavis:[127.0.0.1]:10024}}\n"
      "smtpd_recipient_restrictions = check_recipient_access inline:{{y@mx.example.org=FILTER other:}},"
      " reject_unauth_destination\n");
  Tx t;
  t.mynet = false;
  t.rcpt = "x@mx.example.org";
  t.sender = "scan@example.net";
  Verdict v = check(*p, t);
  EXPECT_EQ(v.kind, Verdict::Accept);
  ASSERT_TRUE(v.filter);
  EXPECT_EQ(*v.filter, "amavis:[127.0.0.1]:10024");
  ASSERT_EQ(v.notes.size(), 1u);
  EXPECT_EQ(v.notes[0].action, "filter");
  EXPECT_EQ(v.notes[0].text, "<scan@example.net>: Sender address triggers FILTER amavis:[127.0.0.1]:10024");
  // FILTER decides nothing: the relay check still refuses elsewhere.
  t.rcpt = "z@elsewhere.example";
  EXPECT_EQ(reply_of(*p, t), "454 4.7.1 <z@elsewhere.example>: Relay access denied");
  t.rcpt = "y@mx.example.org";
  v = check(*p, t);
  ASSERT_TRUE(v.filter);
  EXPECT_EQ(*v.filter, "other:");
  t.sender = "s@example.net";
  t.rcpt = "x@mx.example.org";
  EXPECT_FALSE(check(*p, t).filter);
}

TEST(Policy, NoUnknownRecipientChecksOverride) {
  auto p = policy("local_recipient_maps = inline:{{known=x}}\n");
  auto q = policy("local_recipient_maps = inline:{{known=x}}\nreceive_override_options = no_unknown_recipient_checks\n"
                  "smtpd_recipient_restrictions = reject_unlisted_recipient, permit_mynetworks, reject\n");
  Tx t;
  t.rcpt = "nobody@mx.example.org";
  EXPECT_EQ(reply_of(*p, t).substr(0, 9), "550 5.1.1");
  EXPECT_EQ(reply_of(*q, t), "accept");
  EXPECT_FALSE(Policy::from_config(*config::Config::from_text("receive_override_options = no_such_thing\n", "main.cf")));
}

TEST(Policy, HoldAndDiscardActions) {
  auto p = policy(
      "smtpd_sender_restrictions = check_sender_access inline:{{held@example.net=HOLD},"
      " {gone@example.net=DISCARD spam source}}\n"
      "smtpd_recipient_restrictions = check_recipient_access inline:{{x@mx.example.org=DEFER try later}},"
      " reject_unauth_destination\n");
  Tx t;
  t.mynet = false;
  t.rcpt = "y@mx.example.org";
  // HOLD decides nothing: it is noted, the restrictions go on.
  t.sender = "held@example.net";
  Verdict v = check(*p, t);
  EXPECT_EQ(v.kind, Verdict::Accept);
  EXPECT_TRUE(v.hold);
  EXPECT_FALSE(v.discard);
  ASSERT_EQ(v.notes.size(), 1u);
  EXPECT_EQ(v.notes[0].action, "hold");
  EXPECT_EQ(v.notes[0].text, "<held@example.net>: Sender address triggers HOLD action");
  // A later restriction still rejects this recipient; the hold stands for
  // the message (the session keeps it).
  t.rcpt = "x@mx.example.org";
  v = check(*p, t);
  EXPECT_EQ(v.reply.to_string(), "450 4.7.1 <x@mx.example.org>: Recipient address rejected: try later");
  EXPECT_TRUE(v.hold);
  // DISCARD permits and ends every restriction: neither the recipient table
  // nor the relay check runs.
  t.sender = "gone@example.net";
  for (const char* rcpt : {"x@mx.example.org", "z@elsewhere.example"}) {
    t.rcpt = rcpt;
    v = check(*p, t);
    EXPECT_EQ(v.kind, Verdict::Accept) << rcpt;
    EXPECT_TRUE(v.discard);
    ASSERT_EQ(v.notes.size(), 1u);
    EXPECT_EQ(v.notes[0].action, "discard");
    EXPECT_EQ(v.notes[0].text, "<gone@example.net>: Sender address spam source");
  }
  // Without the action the relay check refuses elsewhere.example.
  t.sender = "s@example.net";
  EXPECT_EQ(reply_of(*p, t), "454 4.7.1 <z@elsewhere.example>: Relay access denied");
}

TEST(Policy, PrependHeadersAreCollected) {
  auto p = policy(
      "smtpd_client_restrictions = check_client_access inline:{{192.0.2.1=PREPEND X-Client: listed}}\n"
      "smtpd_sender_restrictions = check_sender_access inline:{{s@example.net=PREPEND X-Sender: watched},"
      " {bad@example.net=PREPEND nonsense}}\n");
  Tx t;
  Verdict v = check(*p, t);
  EXPECT_EQ(v.kind, Verdict::Accept);
  EXPECT_EQ(v.prepend, (std::vector<std::string>{"X-Client: listed", "X-Sender: watched"}));
  EXPECT_TRUE(v.notes.empty());  // Postfix logs nothing for PREPEND
  // A result that is not a header decides nothing and adds nothing.
  t.sender = "bad@example.net";
  v = check(*p, t);
  EXPECT_EQ(v.kind, Verdict::Accept);
  EXPECT_EQ(v.prepend, (std::vector<std::string>{"X-Client: listed"}));
}

TEST(Policy, BccRecipientsAreCollected) {
  auto p = policy("smtpd_sender_restrictions = check_sender_access inline:{{s@example.net=BCC audit@example.org}}\n");
  Tx t;
  Verdict v = check(*p, t);
  EXPECT_EQ(v.kind, Verdict::Accept);
  EXPECT_EQ(v.bcc, std::vector<std::string>{"audit@example.org"});
  ASSERT_EQ(v.notes.size(), 1u);
  EXPECT_EQ(v.notes[0].action, "bcc");
  EXPECT_EQ(v.notes[0].text, "<s@example.net>: Sender address triggers BCC audit@example.org");
}

TEST(Policy, RestrictionClasses) {
  // Postfix's example: a table result names a class, whose list may use
  // tables (a table result may not name one itself).
  auto p = policy(
      "smtpd_restriction_classes = restrictive, permissive, loop\n"
      "restrictive = check_sender_access inline:{{friend@example.net=OK}}, reject\n"
      "permissive = permit\n"
      "loop = check_sender_access inline:{{loop@example.net=loop}}\n"
      "smtpd_recipient_restrictions = check_recipient_access inline:{{x@mx.example.org=restrictive},"
      " {y@mx.example.org=PERMISSIVE}, {z@mx.example.org=loop}}, permissive, reject_unauth_destination\n"
      "smtpd_relay_restrictions = permissive, defer_unauth_destination\n");
  Tx t;
  t.mynet = false;
  t.rcpt = "x@mx.example.org";
  EXPECT_EQ(reply_of(*p, t), "554 5.7.1 <x@mx.example.org>: Recipient address rejected: Access denied");
  t.sender = "friend@example.net";
  EXPECT_EQ(reply_of(*p, t), "accept");
  // Named in any case from a table; and directly in a list ("permissive"
  // in both lists lets a relay recipient through).
  t.sender = "s@example.net";
  t.rcpt = "y@mx.example.org";
  EXPECT_EQ(reply_of(*p, t), "accept");
  t.rcpt = "r@elsewhere.example";
  EXPECT_EQ(reply_of(*p, t), "accept");
  // A class that names itself through a table stops at the depth bound:
  // a server error, as Postfix's "unreasonable recursion".
  t.rcpt = "z@mx.example.org";
  t.sender = "loop@example.net";
  Verdict v = check(*p, t);
  ASSERT_EQ(v.kind, Verdict::Reject);
  EXPECT_TRUE(v.config_error());
  EXPECT_EQ(v.reply.to_string(), "451 4.3.5 Server configuration error");
}

TEST(Policy, RelayControlInsideAClassCounts) {
  // Postfix's has_required() looks into classes too.
  auto p = policy(
      "smtpd_restriction_classes = relay_control\n"
      "relay_control = permit_mynetworks, reject_unauth_destination\n"
      "smtpd_relay_restrictions = relay_control\n");
  Tx t;
  t.mynet = false;
  t.rcpt = "r@elsewhere.example";
  EXPECT_EQ(reply_of(*p, t), "554 5.7.1 <r@elsewhere.example>: Relay access denied");
  t.rcpt = "x@mx.example.org";
  EXPECT_EQ(reply_of(*p, t), "accept");
}

TEST(Policy, AnAccessTableThatCannotBeOpenedStopsSmtpd) {
  auto cfg = config::Config::from_text(
      "smtpd_sender_restrictions = check_sender_access hash:/nonexistent/postern-test/access\n");
  ASSERT_TRUE(cfg) << cfg.error().message;
  auto p = Policy::from_config(*cfg);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("smtpd_sender_restrictions"), std::string::npos) << p.error().message;
}

TEST(Policy, UnknownSenderAndRecipientDomains) {
  auto p = policy("smtpd_sender_restrictions = reject_unknown_sender_domain\n"
                  "smtpd_recipient_restrictions = reject_unknown_recipient_domain\n");
  EXPECT_TRUE(p->wants_mailhost_lookup(true));
  EXPECT_TRUE(p->wants_mailhost_lookup(false));
  // Which domains need DNS: not ours, not literals, not the null sender.
  auto domain = [&](std::string a) {
    auto addr = mail::parse_smtp_path(a, {.allow_null = true});
    EXPECT_TRUE(addr) << a;
    return p->mailhost_domain(*addr, std::nullopt).value_or("-");
  };
  EXPECT_EQ(domain("s@Example.NET"), "example.net");
  EXPECT_EQ(domain("s@mx.example.org"), "-");
  EXPECT_EQ(domain("s@localhost"), "-");
  EXPECT_EQ(domain("s@[192.0.2.1]"), "-");
  EXPECT_EQ(domain(""), "-");
  EXPECT_EQ(domain("s"), "-");

  Tx t;
  t.sender_dns = dns::Outcome::Ok;
  EXPECT_EQ(reply_of(*p, t), "accept");  // local recipient: no lookup needed
  t.sender_dns = dns::Outcome::NotFound;
  EXPECT_EQ(reply_of(*p, t), "450 4.1.8 <s@example.net>: Sender address rejected: Domain not found");
  t.sender_dns = dns::Outcome::NoData;
  EXPECT_EQ(reply_of(*p, t), "450 4.1.8 <s@example.net>: Sender address rejected: Domain not found");
  t.sender_dns = dns::Outcome::NullMx;
  EXPECT_EQ(reply_of(*p, t),
            "550 5.7.27 <s@example.net>: Sender address rejected: Domain example.net does not accept mail (nullMX)");
  t.sender_dns = dns::Outcome::Ok;
  t.rcpt = "x@elsewhere.example";  // relayed for a mynetworks client
  t.rcpt_dns = dns::Outcome::NotFound;
  EXPECT_EQ(reply_of(*p, t), "450 4.1.2 <x@elsewhere.example>: Recipient address rejected: Domain not found");
  t.rcpt_dns = dns::Outcome::NullMx;
  EXPECT_EQ(reply_of(*p, t), "556 5.1.10 <x@elsewhere.example>: Recipient address rejected: Domain "
                             "elsewhere.example does not accept mail (nullMX)");
  auto coded =
      policy("smtpd_sender_restrictions = reject_unknown_sender_domain\nunknown_address_reject_code = 550\n");
  t.rcpt = "x@mx.example.org";
  t.sender_dns = dns::Outcome::NotFound;
  EXPECT_EQ(reply_of(*coded, t), "550 5.1.8 <s@example.net>: Sender address rejected: Domain not found");
}

TEST(Policy, DnsFailureDefersOnlyWhatWouldBePermitted) {
  auto p = policy("smtpd_sender_restrictions = reject_unknown_sender_domain\n"
                  "smtpd_recipient_restrictions = reject_non_fqdn_recipient\n");
  Tx t;
  t.sender_dns = dns::Outcome::TempFail;
  EXPECT_EQ(reply_of(*p, t), "450 4.1.8 <s@example.net>: Sender address rejected: Domain not found");
  // A later reject wins over the pending deferral.
  t.rcpt = "x@localhost";
  EXPECT_EQ(reply_of(*p, t), "504 5.5.2 <x@localhost>: Recipient address rejected: need fully-qualified address");
  // Not looked up (no resolver) counts as a DNS failure, not as a pass.
  t.rcpt = "x@mx.example.org";
  t.sender_dns.reset();
  EXPECT_EQ(reply_of(*p, t), "450 4.1.8 <s@example.net>: Sender address rejected: Domain not found");
  // unknown_address_tempfail_action = defer: at once, whatever follows.
  auto now = policy("smtpd_sender_restrictions = reject_unknown_sender_domain\n"
                    "unknown_address_tempfail_action = defer\n");
  t.sender_dns = dns::Outcome::TempFail;
  EXPECT_EQ(reply_of(*now, t), "450 4.1.8 <s@example.net>: Sender address rejected: Domain not found");
  EXPECT_FALSE(config::Config::from_text("unknown_address_tempfail_action = reject\n"));
  EXPECT_FALSE(config::Config::from_text("reject_tempfail_action = hold\n"));
}

TEST(Policy, UnknownClientHostnames) {
  auto p = policy("smtpd_client_restrictions = reject_unknown_reverse_client_hostname, "
                  "reject_unknown_client_hostname\n");
  Tx t;
  t.name_status = t.reverse_status = dns::Outcome::Ok;
  EXPECT_EQ(reply_of(*p, t), "accept");
  t.name_status = dns::Outcome::NotFound;  // a PTR name, but not forward-confirmed
  EXPECT_EQ(reply_of(*p, t), "450 4.7.25 Client host rejected: cannot find your hostname, [192.0.2.1]");
  t.reverse_status = dns::Outcome::NotFound;
  EXPECT_EQ(reply_of(*p, t), "450 4.7.1 Client host rejected: cannot find your reverse hostname, [192.0.2.1]");
  auto hard = policy("smtpd_client_restrictions = reject_unknown_client\nunknown_client_reject_code = 550\n");
  EXPECT_EQ(reply_of(*hard, t), "550 5.7.25 Client host rejected: cannot find your hostname, [192.0.2.1]");
  // A temporary failure, or no lookup at all, is always 450.
  t.name_status = dns::Outcome::TempFail;
  EXPECT_EQ(reply_of(*hard, t), "450 4.7.25 Client host rejected: cannot find your hostname, [192.0.2.1]");
  t.name_status.reset();
  EXPECT_EQ(reply_of(*hard, t), "450 4.7.25 Client host rejected: cannot find your hostname, [192.0.2.1]");
}

TEST(Policy, UnknownHeloHostname) {
  auto p = policy("smtpd_helo_restrictions = reject_unknown_helo_hostname\n"
                  "smtpd_recipient_restrictions = reject_non_fqdn_recipient\n");
  EXPECT_TRUE(p->wants_helo_lookup());
  EXPECT_EQ(Policy::helo_dns_name("Mail.Example.COM.").value_or("-"), "mail.example.com");
  EXPECT_EQ(Policy::helo_dns_name("[192.0.2.1]").value_or("-"), "-");
  EXPECT_EQ(Policy::helo_dns_name("192.0.2.1").value_or("-"), "-");
  EXPECT_EQ(Policy::helo_dns_name("").value_or("-"), "-");
  Tx t;
  t.helo_dns = dns::Outcome::Ok;
  EXPECT_EQ(reply_of(*p, t), "accept");
  t.helo_dns = dns::Outcome::NullMx;  // an MTA's own name may publish a null MX
  EXPECT_EQ(reply_of(*p, t), "accept");
  t.helo_dns = dns::Outcome::NotFound;
  EXPECT_EQ(reply_of(*p, t), "450 4.7.1 <client.example.net>: Helo command rejected: Host not found");
  t.helo_dns = dns::Outcome::TempFail;  // defer_if_permit
  EXPECT_EQ(reply_of(*p, t), "450 4.7.1 <client.example.net>: Helo command rejected: Host not found");
  t.rcpt = "x@localhost";
  EXPECT_EQ(reply_of(*p, t), "504 5.5.2 <x@localhost>: Recipient address rejected: need fully-qualified address");
  t.helo = "[192.0.2.1]";
  t.rcpt = "x@mx.example.org";
  t.helo_dns.reset();
  EXPECT_EQ(reply_of(*p, t), "accept");  // nothing to look up
  auto hard = policy("smtpd_helo_restrictions = reject_unknown_helo_hostname\nunknown_hostname_reject_code = 550\n");
  t.helo = "client.example.net";
  t.helo_dns = dns::Outcome::NoData;
  EXPECT_EQ(reply_of(*hard, t), "550 5.7.1 <client.example.net>: Helo command rejected: Host not found");
  EXPECT_FALSE(config::Config::from_text("unknown_helo_hostname_tempfail_action = reject\n"));
}

TEST(Policy, AccessWarnIsANoteAndDecidesNothing) {
  auto p = policy("smtpd_sender_restrictions = check_sender_access inline:{{a@example.net=WARN look at this}},"
                  " check_sender_access inline:{{a@example.net=INFO and this}}\n"
                  "smtpd_recipient_restrictions = reject_non_fqdn_recipient\n");
  Tx t;
  t.sender = "a@example.net";
  Verdict v = check(*p, t);
  EXPECT_EQ(v.kind, Verdict::Accept);
  ASSERT_EQ(v.notes.size(), 2u);
  EXPECT_EQ(v.notes[0].action, "warn");
  EXPECT_EQ(v.notes[0].text, "look at this");
  EXPECT_EQ(v.notes[1].action, "info");
  // A later reject keeps the notes, so both are logged.
  t.rcpt = "x@localhost";
  v = check(*p, t);
  EXPECT_EQ(v.kind, Verdict::Reject);
  EXPECT_EQ(v.notes.size(), 2u);
}

namespace {

// The restrictions for one recipient with DNS list answers filled in the
// way the session does (session.cpp check_recipient()): `listed` maps query
// names to their A record and TXT text; any other name is not listed.
struct DnsblRun {
  Verdict verdict;
  std::vector<std::string> asked;  // query names, in order ("TXT name" for reasons)
};
// The restrictions for one recipient, each lookup they ask for answered by
// `answer` the way the session does (session.cpp run_checks()).
Verdict run_with_answers(Policy& p, RcptContext c,
                         const std::function<void(const dnsbl::Need&, dnsbl::Answer&)>& answer) {
  dnsbl::Answers answers;
  c.dnsbl = &answers;
  Verdict v = p.check_recipient(c);
  for (int i = 0; v.need && i < 40; ++i) {
    const dnsbl::Need need = *v.need;
    answer(need, answers[need.key()]);
    v = p.check_recipient(c);
  }
  EXPECT_FALSE(v.need);
  return v;
}

DnsblRun rcpt_dnsbl(Policy& p, RcptContext c, const std::map<std::string, std::pair<std::string, std::string>>& listed,
                    dns::Outcome miss = dns::Outcome::NotFound) {
  DnsblRun out;
  out.verdict = run_with_answers(p, c, [&](const dnsbl::Need& need, dnsbl::Answer& a) {
    const bool txt = need.type == dnsbl::Need::kTxt;
    out.asked.push_back((txt ? "TXT " : "") + need.name);
    auto it = listed.find(need.name);
    if (!txt) {
      a.outcome = it == listed.end() ? miss : dns::Outcome::Ok;
      if (it != listed.end()) a.addrs.push_back(asio::ip::make_address(it->second.first));
    } else {
      a.reason = it == listed.end() ? "" : it->second.second;
    }
  });
  return out;
}

RcptContext dnsbl_context(std::string_view client, const mail::Address& from, std::string_view from_text,
                          const mail::Address& to, std::string_view to_text) {
  RcptContext c;
  c.client_addr = client;
  c.client_name = "mail.client.example";
  c.reverse_client_name = "ptr.client.example";
  c.helo = "Helo.Example";
  c.sender = &from;
  c.sender_text = from_text;
  c.recipient = &to;
  c.recipient_text = to_text;
  return c;
}

}  // namespace

TEST(Policy, RblClientListedRejectsWithTheReason) {
  auto p = policy("smtpd_recipient_restrictions = reject_rbl_client bl.example, reject_unauth_destination\n");
  auto from = *mail::parse_smtp_path("a@sender.example");
  auto to = *mail::parse_smtp_path("x@mx.example.org");
  auto c = dnsbl_context("198.51.100.7", from, "a@sender.example", to, "x@mx.example.org");
  auto r = rcpt_dnsbl(*p, c, {{"7.100.51.198.bl.example", {"127.0.0.2", "Listed; see https://bl.example/"}}});
  ASSERT_EQ(r.verdict.kind, Verdict::Reject);
  EXPECT_EQ(r.verdict.reply.to_string(),
            "554 5.7.1 Service unavailable; Client host [198.51.100.7] blocked using bl.example; Listed; see "
            "https://bl.example/");
  EXPECT_EQ(r.asked, (std::vector<std::string>{"7.100.51.198.bl.example", "TXT 7.100.51.198.bl.example"}));
  // Without a TXT record there is no reason part.
  r = rcpt_dnsbl(*p, c, {{"7.100.51.198.bl.example", {"127.0.0.2", ""}}});
  EXPECT_EQ(r.verdict.reply.to_string(),
            "554 5.7.1 Service unavailable; Client host [198.51.100.7] blocked using bl.example");
  // Not listed, or the list cannot be reached: the next restrictions decide.
  for (auto miss : {dns::Outcome::NotFound, dns::Outcome::NoData, dns::Outcome::TempFail}) {
    r = rcpt_dnsbl(*p, c, {}, miss);
    EXPECT_EQ(r.verdict.kind, Verdict::Accept) << r.verdict.reply.to_string();
    EXPECT_EQ(r.asked, (std::vector<std::string>{"7.100.51.198.bl.example"}));
  }
  // IPv6 clients are looked up by nibbles.
  auto c6 = dnsbl_context("2001:db8::1", from, "a@sender.example", to, "x@mx.example.org");
  r = rcpt_dnsbl(*p, c6, {});
  EXPECT_EQ(r.asked, (std::vector<std::string>{
                         "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.example"}));
}

TEST(Policy, RblEarlierPermitSkipsTheLookup) {
  auto p = policy("mynetworks = 192.0.2.0/24\n"
                  "smtpd_recipient_restrictions = permit_mynetworks, reject_rbl_client bl.example, "
                  "reject_unauth_destination\n");
  auto from = *mail::parse_smtp_path("a@sender.example");
  auto to = *mail::parse_smtp_path("x@elsewhere.example");
  auto c = dnsbl_context("192.0.2.9", from, "a@sender.example", to, "x@elsewhere.example");
  c.client_in_mynetworks = true;
  auto r = rcpt_dnsbl(*p, c, {{"9.2.0.192.bl.example", {"127.0.0.2", "x"}}});
  EXPECT_EQ(r.verdict.kind, Verdict::Accept);
  EXPECT_TRUE(r.asked.empty());
}

TEST(Policy, RblResultFilter) {
  auto p = policy("smtpd_recipient_restrictions = reject_rbl_client bl.example=127.0.[0;1].[2..3], permit\n");
  auto from = *mail::parse_smtp_path("a@sender.example");
  auto to = *mail::parse_smtp_path("x@mx.example.org");
  auto c = dnsbl_context("198.51.100.7", from, "a@sender.example", to, "x@mx.example.org");
  for (auto [addr, rejected] : std::vector<std::pair<const char*, bool>>{
           {"127.0.0.2", true}, {"127.0.1.3", true}, {"127.0.0.4", false}, {"127.0.2.2", false}, {"10.0.0.2", false}}) {
    auto r = rcpt_dnsbl(*p, c, {{"7.100.51.198.bl.example", {addr, "why"}}});
    EXPECT_EQ(r.verdict.kind == Verdict::Reject, rejected) << addr;
  }
}

TEST(Policy, RhsblNamesAndClasses) {
  auto from = *mail::parse_smtp_path("a@Spam.Example");
  auto to = *mail::parse_smtp_path("x@mx.example.org");
  struct Case {
    const char* restriction;
    const char* query;
    const char* text;
  };
  for (const Case& k : std::vector<Case>{
           {"reject_rhsbl_client", "mail.client.example.dbl.example", "Client host [mail.client.example]"},
           {"reject_rhsbl_reverse_client", "ptr.client.example.dbl.example",
            "Unverified Client host [ptr.client.example]"},
           {"reject_rhsbl_helo", "helo.example.dbl.example", "Helo command [Helo.Example]"},
           {"reject_rhsbl_sender", "spam.example.dbl.example", "Sender address [a@Spam.Example]"},
           {"reject_rhsbl_recipient", "mx.example.org.dbl.example", "Recipient address [x@mx.example.org]"}}) {
    auto p = policy(fmt::format("smtpd_recipient_restrictions = {} dbl.example, permit\n", k.restriction));
    auto c = dnsbl_context("198.51.100.7", from, "a@Spam.Example", to, "x@mx.example.org");
    auto r = rcpt_dnsbl(*p, c, {{k.query, {"127.0.1.2", ""}}});
    ASSERT_EQ(r.verdict.kind, Verdict::Reject) << k.restriction;
    EXPECT_EQ(r.verdict.reply.to_string(),
              fmt::format("554 5.7.1 Service unavailable; {} blocked using dbl.example", k.text));
    // Nothing to look up: no name, the null sender.
    mail::Address null_from;  // <>
    auto c2 = dnsbl_context("198.51.100.7", null_from, "", to, "x@mx.example.org");
    c2.client_name = c2.reverse_client_name = "unknown";
    c2.helo = "[198.51.100.7]";
    r = rcpt_dnsbl(*p, c2, {{k.query, {"127.0.1.2", ""}}});
    if (std::string_view(k.restriction) != "reject_rhsbl_recipient") {
      EXPECT_EQ(r.verdict.kind, Verdict::Accept) << k.restriction;
      EXPECT_TRUE(r.asked.empty()) << k.restriction;
    }
  }
}

TEST(Policy, RblReplyTemplates) {
  auto from = *mail::parse_smtp_path("a@sender.example");
  auto to = *mail::parse_smtp_path("x@mx.example.org");
  auto c = dnsbl_context("198.51.100.7", from, "a@sender.example", to, "x@mx.example.org");
  std::map<std::string, std::pair<std::string, std::string>> listed = {
      {"7.100.51.198.bl.example", {"127.0.0.2", "r"}}};
  auto p = policy("maps_rbl_reject_code = 450\nsmtpd_recipient_restrictions = reject_rbl_client bl.example\n");
  EXPECT_EQ(rcpt_dnsbl(*p, c, listed).verdict.reply.to_string(),
            "450 4.7.1 Service unavailable; Client host [198.51.100.7] blocked using bl.example; r");
  p = policy("rbl_reply_maps = inline:{ {bl.example = 550 5.7.9 Go away $$client ($$rbl_txt) to $$recipient} }\n"
             "smtpd_recipient_restrictions = reject_rbl_client bl.example\n");
  EXPECT_EQ(rcpt_dnsbl(*p, c, listed).verdict.reply.to_string(),
            "550 5.7.9 Go away mail.client.example[198.51.100.7] (r) to x@mx.example.org");
  // smtpd_expansion_filter: a value's other characters become '_'.
  p = policy("rbl_reply_maps = inline:{ {bl.example = 550 5.7.9 Go away $$client_address ($$rbl_txt)} }\n"
             "smtpd_expansion_filter = 0123456789.\n"
             "smtpd_recipient_restrictions = reject_rbl_client bl.example\n");
  listed["7.100.51.198.bl.example"].second = "see 1.2 now";
  EXPECT_EQ(rcpt_dnsbl(*p, c, listed).verdict.reply.to_string(), "550 5.7.9 Go away 198.51.100.7 (____1.2____)");
  // A template that gives no reply code is a configuration error.
  p = policy("default_rbl_reply = blocked by $rbl_domain\n"
             "smtpd_recipient_restrictions = reject_rbl_client bl.example\n");
  auto v = rcpt_dnsbl(*p, c, listed).verdict;
  EXPECT_TRUE(v.config_error());
  EXPECT_EQ(v.reply.to_string(), "451 4.3.5 Server configuration error");
}

TEST(Policy, RblListSyntax) {
  for (const char* bad : {"bl.example=127.0.0", "bl.example=127.0.0.256", "bl.example=127.0.0.[3..2]",
                          "bl.example=127.0.0.x", "-bad-.example"}) {
    auto cfg = config::Config::from_text(fmt::format("smtpd_recipient_restrictions = reject_rbl_client {}\n", bad));
    ASSERT_TRUE(cfg) << bad;
    EXPECT_FALSE(Policy::from_config(*cfg)) << bad;
  }
  // The domain is required; a restriction name or a table is not one.
  for (const char* bad : {"reject_rbl_client", "reject_rbl_client, permit", "reject_rhsbl_sender hash:/x"}) {
    auto cfg = config::Config::from_text(fmt::format("smtpd_recipient_restrictions = {}\n", bad));
    ASSERT_FALSE(cfg) << bad;
    EXPECT_NE(cfg.error().message.find("without its DNS list domain"), std::string::npos) << cfg.error().message;
  }
}

TEST(Policy, DnsAllowLists) {
  auto from = *mail::parse_smtp_path("a@sender.example");
  auto local = *mail::parse_smtp_path("x@mx.example.org");
  auto remote = *mail::parse_smtp_path("x@elsewhere.example");
  auto p = policy("smtpd_recipient_restrictions = permit_dnswl_client wl.example=127.0.[0..255].[1..3], "
                  "reject_rbl_client bl.example, reject_unauth_destination\n");
  std::map<std::string, std::pair<std::string, std::string>> both = {
      {"7.100.51.198.wl.example", {"127.0.10.2", ""}}, {"7.100.51.198.bl.example", {"127.0.0.2", "bad"}}};
  // Allowed: the block list is not asked.
  auto r = rcpt_dnsbl(*p, dnsbl_context("198.51.100.7", from, "a@sender.example", local, "x@mx.example.org"), both);
  EXPECT_EQ(r.verdict.kind, Verdict::Accept);
  EXPECT_EQ(r.asked, (std::vector<std::string>{"7.100.51.198.wl.example"}));
  // Never a way to relay: the allow list decides nothing for a foreign domain.
  auto relay = policy("smtpd_relay_restrictions = permit_dnswl_client wl.example, reject_unauth_destination\n");
  r = rcpt_dnsbl(*relay, dnsbl_context("198.51.100.7", from, "a@sender.example", remote, "x@elsewhere.example"),
                 both);
  ASSERT_EQ(r.verdict.kind, Verdict::Reject);
  EXPECT_EQ(r.verdict.reply.to_string(), "554 5.7.1 <x@elsewhere.example>: Relay access denied");
  EXPECT_EQ(r.asked, (std::vector<std::string>{"7.100.51.198.wl.example"}));
  // A result outside the filter does not allow.
  r = rcpt_dnsbl(*p, dnsbl_context("198.51.100.7", from, "a@sender.example", local, "x@mx.example.org"),
                 {{"7.100.51.198.wl.example", {"127.0.10.9", ""}}, {"7.100.51.198.bl.example", {"127.0.0.2", ""}}});
  EXPECT_EQ(r.verdict.reply.code, 554);
  // An allow list that cannot be asked turns a later rejection into a deferral.
  dnsbl::Answers answers;
  answers["7.100.51.198.wl.example"].outcome = dns::Outcome::TempFail;
  answers["7.100.51.198.bl.example"] = dnsbl::Answer{dns::Outcome::Ok, {asio::ip::make_address("127.0.0.2")}, "bad"};
  auto c = dnsbl_context("198.51.100.7", from, "a@sender.example", local, "x@mx.example.org");
  c.dnsbl = &answers;
  Verdict v = p->check_recipient(c);
  ASSERT_EQ(v.kind, Verdict::Reject);
  EXPECT_EQ(v.reply.to_string(), "450 4.7.1 <198.51.100.7>: Client host rejected: Service unavailable");
  // ... of its own stage only: not a rejection by a later list.
  auto staged = policy("smtpd_client_restrictions = permit_dnswl_client wl.example\n"
                       "smtpd_recipient_restrictions = reject_rbl_client bl.example\n");
  v = staged->check_recipient(c);
  ASSERT_EQ(v.kind, Verdict::Reject);
  EXPECT_EQ(v.reply.code, 554) << v.reply.to_string();
  // permit_rhswl_client asks for the client's name.
  p = policy("smtpd_recipient_restrictions = permit_rhswl_client wl.example, reject\n");
  r = rcpt_dnsbl(*p, dnsbl_context("198.51.100.7", from, "a@sender.example", local, "x@mx.example.org"),
                 {{"mail.client.example.wl.example", {"127.0.0.2", ""}}});
  EXPECT_EQ(r.verdict.kind, Verdict::Accept);
}

TEST(Policy, MultiRecipientBounce) {
  auto p = policy("smtpd_recipient_restrictions = reject_multi_recipient_bounce, permit\n");
  mail::Address null_sender;
  auto to = *mail::parse_smtp_path("x@mx.example.org");
  RcptContext c;
  c.client_addr = "198.51.100.7";
  c.sender = &null_sender;
  c.recipient = &to;
  c.recipient_text = "x@mx.example.org";
  EXPECT_EQ(p->check_recipient(c).kind, Verdict::Accept);  // the first recipient
  c.rcpt_count = 1;
  Verdict v = p->check_recipient(c);
  ASSERT_EQ(v.kind, Verdict::Reject);
  EXPECT_EQ(v.reply.to_string(), "550 5.5.3 <>: Sender address rejected: Multi-recipient bounce");
  auto from = *mail::parse_smtp_path("a@sender.example");
  c.sender = &from;
  EXPECT_EQ(p->check_recipient(c).kind, Verdict::Accept);
  p = policy("multi_recipient_bounce_reject_code = 450\n"
             "smtpd_recipient_restrictions = reject_multi_recipient_bounce, permit\n");
  c.sender = &null_sender;
  EXPECT_EQ(p->check_recipient(c).reply.to_string(), "450 4.5.3 <>: Sender address rejected: Multi-recipient bounce");
}

namespace {

// The restrictions for one recipient with policy server answers given by
// `answer` (request text -> action), the way the session asks.
struct PolicyRun {
  Verdict verdict;
  std::vector<std::string> requests;
};
PolicyRun rcpt_policy(Policy& p, RcptContext c, const std::function<std::string(const std::string&)>& answer) {
  std::map<std::string, std::string, std::less<>> answers;
  c.policy_answers = &answers;
  PolicyRun out;
  out.verdict = p.check_recipient(c);
  for (int i = 0; out.verdict.policy_need && i < 10; ++i) {
    out.requests.push_back(out.verdict.policy_need->request);
    answers[out.verdict.policy_need->server->text] = answer(out.verdict.policy_need->request);
    out.verdict = p.check_recipient(c);
  }
  EXPECT_FALSE(out.verdict.policy_need);
  return out;
}

}  // namespace

TEST(Policy, PolicyServiceActions) {
  auto p = policy("smtpd_recipient_restrictions = reject_unauth_destination, "
                  "check_policy_service inet:127.0.0.1:10023, permit\n");
  auto from = *mail::parse_smtp_path("a@sender.example");
  auto to = *mail::parse_smtp_path("x@mx.example.org");
  auto c = dnsbl_context("198.51.100.7", from, "a@sender.example", to, "x@mx.example.org");
  c.protocol_name = "ESMTP";
  c.client_port = "40000";
  c.instance = "1f.2.3.1";
  c.size = 1234;
  auto r = rcpt_policy(*p, c, [](const std::string&) { return "450 4.2.0 Greylisted, try again later"; });
  ASSERT_EQ(r.requests.size(), 1u);
  for (const char* line : {"request=smtpd_access_policy\n", "protocol_state=RCPT\n", "protocol_name=ESMTP\n",
                           "client_address=198.51.100.7\n", "client_name=mail.client.example\n",
                           "reverse_client_name=ptr.client.example\n", "client_port=40000\n",
                           "helo_name=Helo.Example\n", "sender=a@sender.example\n", "recipient=x@mx.example.org\n",
                           "instance=1f.2.3.1\n", "size=1234\n", "queue_id=\n"})
    EXPECT_NE(r.requests[0].find(line), std::string::npos) << line << r.requests[0];
  EXPECT_EQ(r.requests[0].substr(r.requests[0].size() - 2), "\n\n");
  ASSERT_EQ(r.verdict.kind, Verdict::Reject);
  EXPECT_EQ(r.verdict.reply.to_string(),
            "450 4.2.0 <x@mx.example.org>: Recipient address rejected: Greylisted, try again later");
  r = rcpt_policy(*p, c, [](const std::string&) { return "REJECT not welcome"; });
  EXPECT_EQ(r.verdict.reply.to_string(), "554 5.7.1 <x@mx.example.org>: Recipient address rejected: not welcome");
  for (const char* pass : {"DUNNO", "OK", "PREPEND X-Greylist: delayed 0 seconds"}) {
    r = rcpt_policy(*p, c, [pass](const std::string&) { return pass; });
    EXPECT_EQ(r.verdict.kind, Verdict::Accept) << pass;
  }
  // postgrey's answer: the header for the message.
  EXPECT_EQ(r.verdict.prepend, std::vector<std::string>{"X-Greylist: delayed 0 seconds"});
  // WARN decides nothing and leaves a note for the log.
  r = rcpt_policy(*p, c, [](const std::string&) { return "WARN listed somewhere"; });
  EXPECT_EQ(r.verdict.kind, Verdict::Accept);
  ASSERT_EQ(r.verdict.notes.size(), 1u);
  EXPECT_EQ(r.verdict.notes[0].text, "listed somewhere");
  // Relay control comes first: a foreign recipient never reaches the server.
  auto remote = *mail::parse_smtp_path("x@elsewhere.example");
  auto c2 = dnsbl_context("198.51.100.7", from, "a@sender.example", remote, "x@elsewhere.example");
  r = rcpt_policy(*p, c2, [](const std::string&) { return "OK"; });
  EXPECT_TRUE(r.requests.empty());
  EXPECT_EQ(r.verdict.reply.code, 454);
}

// The client certificate's attributes: the names only from a certificate
// that verified, the fingerprints from any (Postfix's rule).
TEST(Policy, PolicyServiceCertificateAttributes) {
  auto p = policy("smtpd_recipient_restrictions = check_policy_service inet:127.0.0.1:10023, permit\n");
  auto from = *mail::parse_smtp_path("a@sender.example");
  auto to = *mail::parse_smtp_path("x@mx.example.org");
  auto c = dnsbl_context("198.51.100.7", from, "a@sender.example", to, "x@mx.example.org");
  c.ccert_fingerprint = "AA:01";
  c.ccert_pkey_fingerprint = "BB:02";
  c.ccert_subject = "client.example";
  c.ccert_issuer = "Example CA";
  for (bool trusted : {true, false}) {
    c.ccert_trusted = trusted;
    auto r = rcpt_policy(*p, c, [](const std::string&) { return "DUNNO"; });
    ASSERT_EQ(r.requests.size(), 1u);
    const std::string& q = r.requests[0];
    EXPECT_NE(q.find("ccert_fingerprint=AA:01\n"), std::string::npos) << q;
    EXPECT_NE(q.find("ccert_pubkey_fingerprint=BB:02\n"), std::string::npos) << q;
    EXPECT_NE(q.find(trusted ? "ccert_subject=client.example\n" : "ccert_subject=\n"), std::string::npos) << q;
    EXPECT_NE(q.find(trusted ? "ccert_issuer=Example CA\n" : "ccert_issuer=\n"), std::string::npos) << q;
  }
}

TEST(Policy, PolicyServiceSyntax) {
  for (const char* bad : {"check_policy_service", "check_policy_service permit", "check_policy_service 127.0.0.1:1"}) {
    auto cfg = config::Config::from_text(fmt::format("smtpd_recipient_restrictions = {}\n", bad));
    ASSERT_FALSE(cfg) << bad;
    EXPECT_NE(cfg.error().message.find("without its inet:host:port or unix:path"), std::string::npos)
        << cfg.error().message;
  }
  auto cfg = config::Config::from_text("smtpd_recipient_restrictions = check_policy_service { inet:h:1, bogus=2 }\n");
  ASSERT_TRUE(cfg);
  auto p = Policy::from_config(*cfg);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("unknown policy service attribute \"bogus\""), std::string::npos)
      << p.error().message;
}

TEST(Policy, ConditionalDeferralsFromTables) {
  auto from = *mail::parse_smtp_path("a@sender.example");
  auto to = *mail::parse_smtp_path("x@mx.example.org");
  auto c = dnsbl_context("198.51.100.7", from, "a@sender.example", to, "x@mx.example.org");
  // DEFER_IF_PERMIT: a later permit becomes the deferral; a later reject stays.
  auto p = policy("smtpd_recipient_restrictions = check_client_access inline:{198.51.100.7=DEFER_IF_PERMIT}, "
                  "permit\n");
  Verdict v = p->check_recipient(c);
  ASSERT_EQ(v.kind, Verdict::Reject);
  EXPECT_EQ(v.reply.to_string(), "450 4.7.1 <mail.client.example[198.51.100.7]>: Client host rejected: Service unavailable");
  p = policy("smtpd_recipient_restrictions = check_client_access inline:{198.51.100.7=DEFER_IF_PERMIT}, reject\n");
  EXPECT_EQ(p->check_recipient(c).reply.code, 554);
  // DEFER_IF_REJECT: a later 5xx reject becomes the deferral; a permit stays.
  p = policy("smtpd_recipient_restrictions = check_client_access inline:{{198.51.100.7=DEFER_IF_REJECT maybe}}, "
             "reject\n");
  v = p->check_recipient(c);
  EXPECT_EQ(v.reply.to_string(), "450 4.7.1 <mail.client.example[198.51.100.7]>: Client host rejected: maybe");
  p = policy("smtpd_recipient_restrictions = check_client_access inline:{198.51.100.7=DEFER_IF_REJECT}, permit\n");
  EXPECT_EQ(p->check_recipient(c).kind, Verdict::Accept);
}

// Postfix's reject_*_sender_login_mismatch with smtpd_sender_login_maps.
TEST(Policy, SenderLoginMismatch) {
  auto verdict = [](Policy& p, std::string_view from, std::string_view login) {
    mail::PathOptions po;
    po.allow_null = true;
    from = from.substr(1, from.size() - 2);  // the path without its brackets
    auto s = mail::parse_smtp_path(from, po);
    auto r = mail::parse_smtp_path("x@mx.example.org");
    RcptContext c;
    c.client_addr = "198.51.100.1";
    c.sender = &*s;
    c.sender_text = from;
    c.recipient = &*r;
    c.recipient_text = "x@mx.example.org";
    c.sasl_username = login;
    return p.check_recipient(c);
  };
  const std::string maps =
      "smtpd_sender_login_maps = inline:{ {bob@mx.example.org = bob}, {shared@mx.example.org = bob, carol},"
      " {@team.example = carol} }\nrecipient_delimiter = +\n";
  auto p = policy(maps + "smtpd_sender_restrictions = reject_sender_login_mismatch\n");
  EXPECT_EQ(verdict(*p, "<bob@mx.example.org>", "bob").kind, Verdict::Accept);
  EXPECT_EQ(verdict(*p, "<bob+tag@mx.example.org>", "bob").kind, Verdict::Accept);  // extension dropped
  EXPECT_EQ(verdict(*p, "<shared@mx.example.org>", "Carol").kind, Verdict::Accept);
  EXPECT_EQ(verdict(*p, "<anyone@team.example>", "carol").kind, Verdict::Accept);
  Verdict v = verdict(*p, "<bob@mx.example.org>", "carol");
  EXPECT_EQ(v.reply.to_string(), "553 5.7.1 <bob@mx.example.org>: Sender address rejected: not owned by user carol");
  // An address nobody owns is a mismatch for a logged-in client too.
  EXPECT_EQ(verdict(*p, "<other@example.net>", "bob").reply.code, 553);
  v = verdict(*p, "<bob@mx.example.org>", "");
  EXPECT_EQ(v.reply.to_string(), "553 5.7.1 <bob@mx.example.org>: Sender address rejected: not logged in");
  EXPECT_EQ(verdict(*p, "<other@example.net>", "").kind, Verdict::Accept);
  EXPECT_EQ(verdict(*p, "<>", "bob").kind, Verdict::Accept);

  auto known = policy(maps + "smtpd_sender_restrictions = reject_known_sender_login_mismatch\n");
  EXPECT_EQ(verdict(*known, "<other@example.net>", "bob").kind, Verdict::Accept);
  EXPECT_EQ(verdict(*known, "<bob@mx.example.org>", "carol").reply.code, 553);
  auto authonly = policy(maps + "smtpd_sender_restrictions = reject_authenticated_sender_login_mismatch\n");
  EXPECT_EQ(verdict(*authonly, "<bob@mx.example.org>", "").kind, Verdict::Accept);
  EXPECT_EQ(verdict(*authonly, "<bob@mx.example.org>", "carol").reply.code, 553);
  auto unauth = policy(maps + "smtpd_sender_restrictions = reject_unauthenticated_sender_login_mismatch\n");
  EXPECT_EQ(verdict(*unauth, "<bob@mx.example.org>", "carol").kind, Verdict::Accept);
  EXPECT_EQ(verdict(*unauth, "<bob@mx.example.org>", "").reply.code, 553);
}

// smtpd_reject_unlisted_sender and reject_unlisted_sender: Postfix's
// check_rcpt_maps() for the sender, with its words and 5.1.0.
TEST(Policy, UnlistedSender) {
  const std::string tables = "local_recipient_maps = inline:{alice=x}\nmynetworks = 192.0.2.0/24\n";
  auto p = policy(tables + "smtpd_reject_unlisted_sender = yes\n");
  ASSERT_TRUE(p->wants_sender_class());
  Tx t;
  t.rcpt = "alice@mx.example.org";
  t.sender = "mallory@mx.example.org";
  Verdict v = check(*p, t);
  ASSERT_EQ(v.kind, Verdict::Reject);
  EXPECT_EQ(v.reply.to_string(),
            "550 5.1.0 <mallory@mx.example.org>: Sender address rejected: User unknown in local recipient table");
  t.sender = "alice@mx.example.org";
  EXPECT_EQ(check(*p, t).kind, Verdict::Accept);
  t.sender = "";  // the null sender is never unlisted
  EXPECT_EQ(check(*p, t).kind, Verdict::Accept);
  t.sender = "anyone@example.net";  // not our domain
  EXPECT_EQ(check(*p, t).kind, Verdict::Accept);

  // Off by default; the restriction asks for it in one list only.
  auto off = policy(tables);
  EXPECT_FALSE(off->wants_sender_class());
  t.sender = "mallory@mx.example.org";
  EXPECT_EQ(check(*off, t).kind, Verdict::Accept);
  auto explicit_ = policy(tables + "smtpd_sender_restrictions = reject_unlisted_sender\n");
  EXPECT_TRUE(explicit_->wants_sender_class());
  EXPECT_EQ(check(*explicit_, t).reply.code, 550);
  // A permit before it wins, as with every restriction.
  auto permitted = policy(tables + "smtpd_sender_restrictions = permit_mynetworks, reject_unlisted_sender\n");
  EXPECT_EQ(check(*permitted, t).kind, Verdict::Accept);
}

// smtpd_data_restrictions: the list alone; recipient restrictions judge
// nothing when the transaction has several recipients.
TEST(Policy, DataRestrictions) {
  auto p = policy("mynetworks = 192.0.2.0/24\nsmtpd_data_restrictions = reject_unauth_pipelining, "
                  "reject_unauth_destination, reject_multi_recipient_bounce, "
                  "check_sender_access inline:{{nodata@example.net = REJECT no data}}\n");
  ASSERT_TRUE(p->has_data_restrictions());
  auto s = mail::parse_smtp_path("s@example.net");
  auto bad = mail::parse_smtp_path("nodata@example.net");
  auto null = mail::parse_smtp_path("", {.allow_null = true});
  ASSERT_TRUE(s && bad && null);
  RcptContext c;
  c.client_addr = "198.51.100.1";
  c.protocol_state = "DATA";
  c.sender = &*s;
  c.sender_text = "s@example.net";
  c.rcpt_count = 2;
  EXPECT_EQ(p->check_data(c).kind, Verdict::Accept);  // no recipient: reject_unauth_destination is silent
  c.unauth_pipelining = true;
  EXPECT_EQ(p->check_data(c).reply.to_string(), "554 5.5.0 Error: SMTP protocol synchronization");
  c.unauth_pipelining = false;
  c.sender = &*null;
  c.sender_text = "";
  EXPECT_EQ(p->check_data(c).reply.code, 550);  // a bounce to two recipients
  c.rcpt_count = 1;
  EXPECT_EQ(p->check_data(c).kind, Verdict::Accept);
  c.sender = &*bad;
  c.sender_text = "nodata@example.net";
  EXPECT_EQ(p->check_data(c).reply.to_string(), "554 5.7.1 <nodata@example.net>: Sender address rejected: no data");
  // With one recipient, it is judged.
  auto far = mail::parse_smtp_path("x@elsewhere.example");
  c.sender = &*s;
  c.recipient = &*far;
  c.recipient_text = "x@elsewhere.example";
  EXPECT_EQ(p->check_data(c).reply.code, 554);
  EXPECT_FALSE(policy("")->has_data_restrictions());
}

// smtpd_end_of_data_restrictions: the same evaluation, once the size is known.
TEST(Policy, EndOfDataRestrictions) {
  auto p = policy("smtpd_end_of_data_restrictions = check_sender_access inline:{{big@example.net = REJECT}}\n");
  ASSERT_TRUE(p->has_end_of_data_restrictions());
  EXPECT_FALSE(p->has_data_restrictions());
  auto s = mail::parse_smtp_path("big@example.net");
  ASSERT_TRUE(s);
  RcptContext c;
  c.client_addr = "198.51.100.1";
  c.protocol_state = "END-OF-MESSAGE";
  c.sender = &*s;
  c.sender_text = "big@example.net";
  c.rcpt_count = 1;
  c.size = 12345;
  EXPECT_EQ(p->check_end_of_data(c).reply.code, 554);
  EXPECT_EQ(p->check_data(c).kind, Verdict::Accept);  // the DATA list is empty
}

// smtpd_delay_reject = no: each list at its own command; what they leave
// pending (defer_if_permit) reaches RCPT TO through the context.
TEST(Policy, DelayRejectNoJudgesEachStageAtItsCommand) {
  const std::string lists =
      "smtpd_client_restrictions = check_client_access inline:{192.0.2.66=REJECT}\n"
      "smtpd_helo_restrictions = check_helo_access inline:{ { bad.example = REJECT Go away } }\n"
      "smtpd_sender_restrictions = reject_unknown_sender_domain\n"
      "smtpd_recipient_restrictions = check_recipient_access inline:{no@mx.example.org=REJECT}\n";
  auto p = policy(lists + "smtpd_delay_reject = no\nmynetworks = 127.0.0.0/8\n");
  ASSERT_FALSE(p->delay_reject());
  ASSERT_TRUE(p->has_client_restrictions());
  Tx t;
  t.mynet = false;
  t.sender_dns = dns::Outcome::Ok;
  auto s = mail::parse_smtp_path(t.sender, {.allow_null = true});
  ASSERT_TRUE(s);
  RcptContext c;
  c.client_name = "unknown";
  c.client_addr = "192.0.2.66";
  Verdict v = p->check_client(c);
  ASSERT_EQ(v.kind, Verdict::Reject);
  EXPECT_EQ(v.reply.to_string(), "554 5.7.1 <unknown[192.0.2.66]>: Client host rejected: Access denied");
  c.client_addr = "192.0.2.1";
  EXPECT_EQ(p->check_client(c).kind, Verdict::Accept);
  c.helo = "bad.example";
  v = p->check_helo(c);
  ASSERT_EQ(v.kind, Verdict::Reject);
  EXPECT_EQ(v.reply.to_string(), "554 5.7.1 <bad.example>: Helo command rejected: Go away");
  c.helo = "good.example";
  EXPECT_EQ(p->check_helo(c).kind, Verdict::Accept);
  // A DNS failure at MAIL FROM is left pending, not sent.
  c.sender = &*s;
  c.sender_text = t.sender;
  v = p->check_sender(c);
  EXPECT_EQ(v.kind, Verdict::Accept);
  ASSERT_TRUE(v.defer_if_permit);
  EXPECT_EQ(v.defer_if_permit->to_string(), "450 4.1.8 <s@example.net>: Sender address rejected: Domain not found");
  // At RCPT the earlier lists do not run again (a rejected HELO name
  // would reject here otherwise); the pending deferral stands unless the
  // recipient is rejected.
  t.helo = "bad.example";
  t.mynet = false;
  t.sender_dns.reset();
  EXPECT_EQ(reply_of(*p, t), "accept");
  auto r = mail::parse_smtp_path("x@mx.example.org");
  ASSERT_TRUE(r);
  c.recipient = &*r;
  c.recipient_text = "x@mx.example.org";
  c.earlier_defer_if_permit = &*v.defer_if_permit;
  Verdict at_rcpt = p->check_recipient(c);
  ASSERT_EQ(at_rcpt.kind, Verdict::Reject);
  EXPECT_EQ(at_rcpt.reply.code, 450);
  auto no = mail::parse_smtp_path("no@mx.example.org");
  c.recipient = &*no;
  c.recipient_text = "no@mx.example.org";
  EXPECT_EQ(p->check_recipient(c).reply.to_string(),
            "554 5.7.1 <no@mx.example.org>: Recipient address rejected: Access denied");

  // The default (yes) judges all of them at RCPT TO, as before.
  auto delayed = policy(lists);
  EXPECT_TRUE(delayed->delay_reject());
  EXPECT_EQ(reply_of(*delayed, t), "554 5.7.1 <bad.example>: Helo command rejected: Go away");
}

// smtpd_delay_reject = no moves the implicit unlisted-sender check to MAIL FROM.
TEST(Policy, DelayRejectNoChecksUnlistedSendersAtMail) {
  auto p = policy("local_recipient_maps = inline:{alice=x}\nsmtpd_reject_unlisted_sender = yes\n"
                  "smtpd_delay_reject = no\n");
  auto s = mail::parse_smtp_path("mallory@mx.example.org");
  ASSERT_TRUE(s);
  RcptContext c;
  c.client_addr = "192.0.2.1";
  c.sender = &*s;
  c.sender_text = "mallory@mx.example.org";
  Verdict v = p->check_sender(c);
  ASSERT_EQ(v.kind, Verdict::Reject);
  EXPECT_EQ(v.reply.to_string(),
            "550 5.1.0 <mallory@mx.example.org>: Sender address rejected: User unknown in local recipient table");
  Tx t;
  t.rcpt = "alice@mx.example.org";
  t.sender = "mallory@mx.example.org";
  EXPECT_EQ(reply_of(*p, t), "accept");  // not again at RCPT
}

// The plain reject and defer restrictions: named after their list, with
// reject_code and defer_code (whose class sets the status's), in Postfix's
// words (its generic_checks(): 5.7.1 "Access denied", 4.3.2 "Try again later").
TEST(Policy, PlainRejectAndDeferNameTheirList) {
  Tx t;
  t.mynet = false;
  auto client = policy("smtpd_client_restrictions = reject\n");
  EXPECT_EQ(reply_of(*client, t), "554 5.7.1 <unknown[192.0.2.1]>: Client host rejected: Access denied");
  auto helo = policy("smtpd_helo_restrictions = defer\n");
  EXPECT_EQ(reply_of(*helo, t), "450 4.3.2 <client.example.net>: Helo command rejected: Try again later");
  auto sender = policy("smtpd_sender_restrictions = reject\nreject_code = 550\n");
  EXPECT_EQ(reply_of(*sender, t), "550 5.7.1 <s@example.net>: Sender address rejected: Access denied");
  auto rcpt = policy("smtpd_recipient_restrictions = defer\ndefer_code = 421\n");
  EXPECT_EQ(reply_of(*rcpt, t), "421 4.3.2 <x@mx.example.org>: Recipient address rejected: Try again later");
  auto hard = policy("smtpd_recipient_restrictions = defer\ndefer_code = 550\n");
  EXPECT_EQ(reply_of(*hard, t), "550 5.3.2 <x@mx.example.org>: Recipient address rejected: Try again later");
  auto soft = policy("smtpd_recipient_restrictions = reject\nreject_code = 450\n");
  EXPECT_EQ(reply_of(*soft, t), "450 4.7.1 <x@mx.example.org>: Recipient address rejected: Access denied");
  auto data = policy("smtpd_data_restrictions = reject\n");
  RcptContext c;
  c.client_addr = "192.0.2.1";
  EXPECT_EQ(data->check_data(c).reply.to_string(), "554 5.7.1 <DATA>: Data command rejected: Access denied");
  auto eod = policy("smtpd_end_of_data_restrictions = defer\n");
  EXPECT_EQ(eod->check_end_of_data(c).reply.to_string(),
            "450 4.3.2 <END-OF-DATA>: End-of-data rejected: Try again later");
}

// permit_mx_backup: our own destinations without DNS; another domain by
// the session's MX answer (mx_backup.h), a DNS failure a 450 only where a
// later restriction would reject.
TEST(Policy, PermitMxBackup) {
  auto p = policy("relay_domains = relayed.example\ninet_interfaces = 127.0.0.1\nproxy_interfaces = 203.0.113.9\n"
                  "smtpd_relay_restrictions = permit_mx_backup, reject_unauth_destination\n");
  ASSERT_TRUE(p->wants_mx_backup());
  auto check = [&](std::string_view to, std::optional<MxBackupAnswer> mx) {
    auto a = mail::parse_smtp_path(to);
    EXPECT_TRUE(a) << to;
    RcptContext c;
    c.client_addr = "198.51.100.1";
    c.recipient = &*a;
    c.recipient_text = to;
    c.recipient_mx_backup = std::move(mx);
    return std::make_pair(p->mx_backup_domain(c), p->check_recipient(c));
  };
  // Local and relayed domains: permitted, no DNS asked for.
  auto [d1, v1] = check("x@mx.example.org", std::nullopt);
  EXPECT_FALSE(d1);
  EXPECT_EQ(v1.kind, Verdict::Accept);
  auto [d2, v2] = check("x@relayed.example", std::nullopt);
  EXPECT_FALSE(d2);
  EXPECT_EQ(v2.kind, Verdict::Accept);
  // Elsewhere: as the MX answer says.
  auto [d3, v3] = check("x@Backup.Example", MxBackupAnswer{MxBackup::kYes, {}});
  EXPECT_EQ(d3, "backup.example");
  EXPECT_EQ(v3.kind, Verdict::Accept);
  auto [d4, v4] = check("x@other.example", MxBackupAnswer{});
  EXPECT_EQ(v4.kind, Verdict::Reject);
  EXPECT_EQ(v4.reply.code, 554);
  auto [d5, v5] = check("x@slow.example", MxBackupAnswer{MxBackup::kTempFail, "Unable to look up mail exchanger "
                                                                              "information: timeout"});
  EXPECT_EQ(v5.kind, Verdict::Reject);
  EXPECT_EQ(v5.reply.to_string(),
            "450 4.4.4 <x@slow.example>: Recipient address rejected: Unable to look up mail exchanger information: "
            "timeout");
  // Routing tricks and literals are never a backup destination.
  auto [d6, v6] = check("user%elsewhere@backup.example", MxBackupAnswer{MxBackup::kYes, {}});
  EXPECT_FALSE(d6);
  EXPECT_FALSE(check("x@[192.0.2.1]", std::nullopt).first);
  // This host's addresses: inet_interfaces and proxy_interfaces.
  EXPECT_TRUE(p->is_own_address(asio::ip::make_address("127.0.0.1")));
  EXPECT_TRUE(p->is_own_address(asio::ip::make_address("203.0.113.9")));
  EXPECT_TRUE(p->is_own_address(asio::ip::make_address("::ffff:127.0.0.1")));
  EXPECT_FALSE(p->is_own_address(asio::ip::make_address("192.0.2.1")));
  EXPECT_FALSE(p->restricts_mx_backup());
}

TEST(MxBackup, Decision) {
  auto host = [](std::uint16_t pref, bool me, bool in_nets = true, bool failed = false) {
    MxHostFacts f;
    f.preference = pref;
    f.is_me = me;
    f.in_networks = in_nets;
    f.lookup_failed = failed;
    f.host = fmt::format("mx{}.example", pref);
    return f;
  };
  EXPECT_EQ(decide_mx_backup({}, false).verdict, MxBackup::kNo);
  // A backup: yes. The primary, or the only MX: no.
  EXPECT_EQ(decide_mx_backup({host(10, false), host(20, true)}, false).verdict, MxBackup::kYes);
  EXPECT_EQ(decide_mx_backup({host(10, true), host(20, true)}, false).verdict, MxBackup::kNo);
  EXPECT_EQ(decide_mx_backup({host(10, true)}, false).verdict, MxBackup::kNo);
  EXPECT_EQ(decide_mx_backup({host(10, false), host(10, true), host(20, false)}, false).verdict, MxBackup::kNo);
  EXPECT_EQ(decide_mx_backup({host(10, false), host(20, false)}, false).verdict, MxBackup::kNo);
  // permit_mx_backup_networks: every primary inside.
  EXPECT_EQ(decide_mx_backup({host(10, false, true), host(20, true)}, true).verdict, MxBackup::kYes);
  EXPECT_EQ(decide_mx_backup({host(10, false, false), host(20, true)}, true).verdict, MxBackup::kNo);
  // A host that could not be looked up may be us: a deferral, not a no.
  auto t = decide_mx_backup({host(10, false), host(20, false, true, true)}, false);
  EXPECT_EQ(t.verdict, MxBackup::kTempFail);
  EXPECT_NE(t.why.find("Unable to look up host mx20.example as mail exchanger"), std::string::npos) << t.why;
  EXPECT_EQ(decide_mx_backup({host(10, false, true, true), host(20, true)}, false).verdict, MxBackup::kYes);
}

// TLS client certificates: permit_tls_clientcerts (relay_clientcerts, by
// certificate or public key fingerprint, verified or not),
// permit_tls_all_clientcerts (verified ones), check_ccert_access.
TEST(Policy, ClientCertificates) {
  auto with_cert = [](Policy& p, std::string_view fp, std::string_view pkey, bool trusted) {
    auto a = mail::parse_smtp_path("x@elsewhere.example");
    RcptContext c;
    c.client_addr = "198.51.100.1";
    c.recipient = &*a;
    c.recipient_text = "x@elsewhere.example";
    c.ccert_fingerprint = fp;
    c.ccert_pkey_fingerprint = pkey;
    c.ccert_subject = "client.example";
    c.ccert_trusted = trusted;
    return p.check_recipient(c);
  };
  auto listed = policy("relay_clientcerts = inline:{AA:01=ok, BB:02=ok}\n"
                       "smtpd_relay_restrictions = permit_tls_clientcerts, reject_unauth_destination\n");
  EXPECT_EQ(with_cert(*listed, "AA:01", "CC:03", false).kind, Verdict::Accept);  // need not verify
  EXPECT_EQ(with_cert(*listed, "DD:04", "BB:02", false).kind, Verdict::Accept);  // the public key's
  Verdict v = with_cert(*listed, "DD:04", "EE:05", true);
  ASSERT_EQ(v.kind, Verdict::Reject);
  EXPECT_EQ(v.reply.code, 554);
  EXPECT_EQ(with_cert(*listed, "", "", false).kind, Verdict::Reject);  // no certificate
  // A table that fails defers (Postfix's temporary lookup failure).
  auto broken = policy("relay_clientcerts = texthash:/nonexistent/postern-certs\n"
                       "smtpd_relay_restrictions = permit_tls_clientcerts, reject_unauth_destination\n");
  v = with_cert(*broken, "AA:01", "CC:03", false);
  ASSERT_EQ(v.kind, Verdict::Reject);
  EXPECT_EQ(v.reply.code, 451);
  EXPECT_EQ(with_cert(*broken, "", "", false).reply.code, 554);  // nothing to look up

  auto all = policy("smtpd_relay_restrictions = permit_tls_all_clientcerts, reject_unauth_destination\n");
  EXPECT_EQ(with_cert(*all, "AA:01", "CC:03", true).kind, Verdict::Accept);
  EXPECT_EQ(with_cert(*all, "AA:01", "CC:03", false).kind, Verdict::Reject);

  auto access = policy("smtpd_relay_restrictions = check_ccert_access inline:{{AA:01=REJECT no}, CC:03=OK}, "
                       "reject_unauth_destination\n");
  v = with_cert(*access, "AA:01", "CC:03", true);
  ASSERT_EQ(v.kind, Verdict::Reject);  // the certificate's key comes first
  EXPECT_EQ(v.reply.to_string(), "554 5.7.1 <client.example>: Client certificate rejected: no");
  EXPECT_EQ(with_cert(*access, "DD:04", "CC:03", false).kind, Verdict::Accept);
  EXPECT_EQ(with_cert(*access, "", "", false).reply.code, 554);  // no keys: reject_unauth_destination
}

// permit_inet_interfaces: the client at an address of inet_interfaces (not
// proxy_interfaces); reject_plaintext_session: no TLS, plaintext_reject_code.
TEST(Policy, InetInterfacesAndPlaintextSessions) {
  auto p = policy("inet_interfaces = 127.0.0.1, [::1]\nproxy_interfaces = 192.0.2.9\n"
                  "smtpd_relay_restrictions = permit_inet_interfaces, reject_unauth_destination\n");
  EXPECT_EQ(rcpt(*p, "127.0.0.1", false, "x@elsewhere.example").kind, Verdict::Accept);
  EXPECT_EQ(rcpt(*p, "::1", false, "x@elsewhere.example").kind, Verdict::Accept);
  EXPECT_EQ(rcpt(*p, "::ffff:127.0.0.1", false, "x@elsewhere.example").kind, Verdict::Accept);
  EXPECT_EQ(rcpt(*p, "192.0.2.9", false, "x@elsewhere.example").reply.code, 554);
  EXPECT_EQ(rcpt(*p, "198.51.100.1", false, "x@elsewhere.example").reply.code, 554);

  auto tls = policy("smtpd_recipient_restrictions = reject_plaintext_session, permit\n");
  Verdict v = rcpt(*tls, "198.51.100.1", true, "x@mx.example.org");
  ASSERT_EQ(v.kind, Verdict::Reject);
  EXPECT_EQ(v.reply.to_string(), "450 4.7.1 Session encryption is required");
  auto a = mail::parse_smtp_path("x@mx.example.org");
  RcptContext c;
  c.client_addr = "198.51.100.1";
  c.recipient = &*a;
  c.recipient_text = "x@mx.example.org";
  c.encryption_protocol = "TLSv1.3";
  EXPECT_EQ(tls->check_recipient(c).kind, Verdict::Accept);
  auto five = policy("plaintext_reject_code = 550\nsmtpd_recipient_restrictions = reject_plaintext_session, permit\n");
  EXPECT_EQ(rcpt(*five, "198.51.100.1", true, "x@mx.example.org").reply.to_string(),
            "550 5.7.1 Session encryption is required");
}

// warn_if_reject: the next restriction's rejection is logged as
// "reject_warning" and the list goes on; it changes that restriction only.
TEST(Policy, WarnIfRejectTurnsTheNextRejectionIntoAWarning) {
  auto p = policy(
      "smtpd_relay_restrictions = warn_if_reject reject_unauth_destination, "
      "check_recipient_access inline:{{spam@mx.example.org=REJECT no thanks}}, permit\n");
  Verdict v = rcpt(*p, "198.51.100.1", false, "x@elsewhere.example");
  EXPECT_EQ(v.kind, Verdict::Accept);
  ASSERT_EQ(v.notes.size(), 1u);
  EXPECT_EQ(v.notes[0].action, "reject_warning");
  EXPECT_EQ(v.notes[0].text, "554 5.7.1 <x@elsewhere.example>: Relay access denied");
  // Only the next one: the access table after it still rejects.
  v = rcpt(*p, "198.51.100.1", false, "spam@mx.example.org");
  ASSERT_EQ(v.kind, Verdict::Reject);
  EXPECT_EQ(v.reply.to_string(), "554 5.7.1 <spam@mx.example.org>: Recipient address rejected: no thanks");
  EXPECT_TRUE(v.notes.empty());
  // A permit of the warned restriction is a permit.
  auto q = policy("smtpd_relay_restrictions = warn_if_reject permit_auth_destination, reject\n");
  v = rcpt(*q, "198.51.100.1", false, "x@mx.example.org");
  EXPECT_EQ(v.kind, Verdict::Accept);
  EXPECT_TRUE(v.notes.empty());
  v = rcpt(*q, "198.51.100.1", false, "x@elsewhere.example");
  ASSERT_EQ(v.kind, Verdict::Reject);
  EXPECT_EQ(v.reply.code, 554);
  // Through a restriction class, and at the end of a list (nothing to change).
  auto r = policy("smtpd_restriction_classes = strict\nstrict = reject_unauth_destination\n"
                  "smtpd_relay_restrictions = warn_if_reject strict, permit, warn_if_reject\n");
  v = rcpt(*r, "198.51.100.1", false, "x@elsewhere.example");
  EXPECT_EQ(v.kind, Verdict::Accept);
  ASSERT_EQ(v.notes.size(), 1u);
  EXPECT_EQ(v.notes[0].action, "reject_warning");
}

// check_reverse_client_hostname_access: the unverified reverse name (parent
// domains too), then the address; "Unverified Client host" and the name
// alone in the reply; OK is a configuration error, as in Postfix.
TEST(Policy, ReverseClientHostnameAccess) {
  auto p = policy(
      "smtpd_client_restrictions = check_reverse_client_hostname_access "
      "inline:{{dyn.example.net=REJECT dynamic pool}, {unknown=DEFER no reverse name}, 198.51.100=DUNNO, "
      "good.example.net=OK}\n");
  auto to = mail::parse_smtp_path("x@mx.example.org");
  ASSERT_TRUE(to);
  auto check = [&](std::string_view reverse, std::string_view name, std::string_view addr) {
    RcptContext c;
    c.client_addr = addr;
    c.client_name = name;
    c.reverse_client_name = reverse;
    c.recipient = &*to;
    c.recipient_text = "x@mx.example.org";
    return p->check_recipient(c);
  };
  Verdict v = check("host-1.dyn.example.net", "unknown", "192.0.2.7");
  ASSERT_EQ(v.kind, Verdict::Reject);
  EXPECT_EQ(v.reply.to_string(), "554 5.7.1 <host-1.dyn.example.net>: Unverified Client host rejected: dynamic pool");
  // The verified name is not what is looked up.
  EXPECT_EQ(check("mail.example.com", "host-1.dyn.example.net", "192.0.2.7").kind, Verdict::Accept);
  v = check("unknown", "unknown", "192.0.2.7");
  ASSERT_EQ(v.kind, Verdict::Reject);
  EXPECT_EQ(v.reply.to_string(), "450 4.7.1 <unknown>: Unverified Client host rejected: no reverse name");
  // After the name, the address and its networks.
  EXPECT_EQ(check("unknown.example", "unknown", "198.51.100.9").kind, Verdict::Accept);
  v = check("good.example.net", "good.example.net", "192.0.2.8");
  ASSERT_EQ(v.kind, Verdict::Reject);
  EXPECT_TRUE(v.config_error());
  EXPECT_EQ(v.reply.to_string(), "451 4.3.5 Server configuration error");
}

// check_sasl_access: the login name of an authenticated client, exactly.
TEST(Policy, SaslAccess) {
  auto p = policy("smtpd_relay_restrictions = check_sasl_access inline:{mallory=REJECT, trusted=OK}, "
                  "reject_unauth_destination\n");
  auto to = mail::parse_smtp_path("x@elsewhere.example");
  ASSERT_TRUE(to);
  auto check = [&](std::string_view login) {
    RcptContext c;
    c.client_addr = "198.51.100.1";
    c.sasl_username = login;
    c.recipient = &*to;
    c.recipient_text = "x@elsewhere.example";
    return p->check_recipient(c);
  };
  Verdict v = check("mallory");
  ASSERT_EQ(v.kind, Verdict::Reject);
  EXPECT_EQ(v.reply.to_string(), "554 5.7.1 <mallory>: SASL login name rejected: Access denied");
  EXPECT_EQ(check("trusted").kind, Verdict::Accept);
  // Not a part of the name, and nothing at all without a login.
  EXPECT_EQ(check("mallory.extra").reply.code, 554);
  EXPECT_NE(check("mallory.extra").reply.text().find("Relay access denied"), std::string::npos);
  EXPECT_NE(check("").reply.text().find("Relay access denied"), std::string::npos);
}

// The generic defer_if_permit and defer_if_reject restrictions.
TEST(Policy, DeferIfPermitAndDeferIfReject) {
  auto p = policy("smtpd_client_restrictions = defer_if_permit\n"
                  "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n");
  // A later permit (here at the end of the lists) becomes the deferral...
  Verdict v = rcpt(*p, "192.0.2.1", true, "x@elsewhere.example");
  ASSERT_EQ(v.kind, Verdict::Reject);
  EXPECT_EQ(v.reply.to_string(), "450 4.7.0 <unknown[192.0.2.1]>: Client host rejected: defer_if_permit requested");
  // ... a later rejection stands.
  v = rcpt(*p, "198.51.100.1", false, "x@elsewhere.example");
  ASSERT_EQ(v.kind, Verdict::Reject);
  EXPECT_EQ(v.reply.code, 554);

  auto q = policy("smtpd_relay_restrictions = permit_mynetworks, defer_if_reject, reject_unauth_destination\n");
  v = rcpt(*q, "198.51.100.1", false, "x@elsewhere.example");
  ASSERT_EQ(v.kind, Verdict::Reject);
  EXPECT_EQ(v.reply.to_string(),
            "450 4.7.0 <x@elsewhere.example>: Recipient address rejected: defer_if_reject requested");
  EXPECT_EQ(rcpt(*q, "198.51.100.1", false, "x@mx.example.org").kind, Verdict::Accept);
  EXPECT_EQ(rcpt(*q, "192.0.2.1", true, "x@elsewhere.example").kind, Verdict::Accept);
}

namespace {

// A DNS world for check_*_{mx,ns,a}_access: MX and NS host lists and
// addresses by name; any other name is not found ("tempfail." names fail).
struct FakeDns {
  std::map<std::string, std::vector<std::string>> mx, ns;
  std::map<std::string, std::vector<std::string>> addrs;
};

struct ServerRun {
  Verdict verdict;
  std::vector<std::string> asked;  // "mx:name", "ns:name", "addr:name"
};

ServerRun run_server_checks(Policy& p, RcptContext c, const FakeDns& dns) {
  ServerRun out;
  out.verdict = run_with_answers(p, c, [&](const dnsbl::Need& need, dnsbl::Answer& a) {
    out.asked.push_back(need.key());
    a.outcome = need.name.starts_with("tempfail.") ? dns::Outcome::TempFail : dns::Outcome::NotFound;
    const auto& table = need.type == dnsbl::Need::kMx ? dns.mx : need.type == dnsbl::Need::kNs ? dns.ns : dns.addrs;
    if (auto it = table.find(need.name); it != table.end()) {
      a.outcome = dns::Outcome::Ok;
      if (need.type == dnsbl::Need::kAddresses)
        for (const auto& t : it->second) a.addrs.push_back(asio::ip::make_address(t));
      else
        a.hosts = it->second;
    }
  });
  return out;
}

}  // namespace

// check_sender_mx_access: the sender domain's MX hosts, their names then
// their addresses; the implicit MX; first key found decides (DUNNO too).
TEST(Policy, SenderMxAccess) {
  auto p = policy(
      "smtpd_sender_restrictions = check_sender_mx_access "
      "inline:{{10=REJECT private MX}, {bad-mx.example=REJECT bad MX}, good-mx.example=DUNNO}\n");
  FakeDns dns;
  dns.mx["spam.example"] = {"mx1.spam.example", "mx2.spam.example"};
  dns.addrs["mx1.spam.example"] = {"192.0.2.1"};
  dns.addrs["mx2.spam.example"] = {"10.1.2.3"};
  dns.mx["named.example"] = {"mail.bad-mx.example"};
  dns.mx["ok.example"] = {"in.good-mx.example"};
  dns.addrs["in.good-mx.example"] = {"10.0.0.1"};  // the name's DUNNO comes first
  dns.addrs["nomx.example"] = {"10.9.9.9"};        // no MX: the domain is its own MX
  auto run = [&](std::string from) {
    mail::Address f;  // the null sender unless given
    if (!from.empty()) {
      auto parsed = mail::parse_smtp_path(from);
      EXPECT_TRUE(parsed) << from;
      if (parsed) f = *parsed;
    }
    auto to = mail::parse_smtp_path("x@mx.example.org");
    EXPECT_TRUE(to);
    RcptContext c;
    c.client_addr = "198.51.100.1";
    c.sender = &f;
    c.sender_text = from;
    c.recipient = &*to;
    c.recipient_text = "x@mx.example.org";
    return run_server_checks(*p, c, dns);
  };
  ServerRun r = run("a@spam.example");
  ASSERT_EQ(r.verdict.kind, Verdict::Reject);
  EXPECT_EQ(r.verdict.reply.to_string(), "554 5.7.1 <a@spam.example>: Sender address rejected: private MX");
  EXPECT_EQ(r.asked, (std::vector<std::string>{"mx:spam.example", "addr:mx1.spam.example", "addr:mx2.spam.example"}));
  r = run("a@named.example");
  ASSERT_EQ(r.verdict.kind, Verdict::Reject);
  EXPECT_EQ(r.verdict.reply.to_string(), "554 5.7.1 <a@named.example>: Sender address rejected: bad MX");
  EXPECT_EQ(r.asked, (std::vector<std::string>{"mx:named.example"}));  // the name decided
  EXPECT_EQ(run("a@ok.example").verdict.kind, Verdict::Accept);
  r = run("a@nomx.example");
  ASSERT_EQ(r.verdict.kind, Verdict::Reject);
  EXPECT_EQ(r.asked, (std::vector<std::string>{"mx:nomx.example", "addr:nomx.example"}));
  // DNS trouble decides nothing; the null sender is not looked up.
  EXPECT_EQ(run("a@tempfail.example").verdict.kind, Verdict::Accept);
  r = run("");
  EXPECT_EQ(r.verdict.kind, Verdict::Accept);
  EXPECT_TRUE(r.asked.empty());
  // An address literal: that address alone.
  r = run("a@[10.0.0.7]");
  ASSERT_EQ(r.verdict.kind, Verdict::Reject);
  EXPECT_TRUE(r.asked.empty());
}

// check_*_ns_access walks up to the closest domain with NS records;
// check_*_a_access asks the name's own addresses; OK is refused.
TEST(Policy, NsAndAAccessAndNoOk) {
  auto p = policy(
      "smtpd_client_restrictions = check_client_ns_access inline:{{ns.evil.example=REJECT evil DNS}}, "
      "check_helo_a_access inline:{{127=REJECT loopback HELO}, 198.51.100.77=OK}\n");
  FakeDns dns;
  dns.ns["evil.example"] = {"ns.evil.example"};
  dns.addrs["localhost.fake.example"] = {"127.0.0.1"};
  dns.addrs["ok.fake.example"] = {"198.51.100.77"};
  auto run = [&](std::string client_name, std::string helo) {
    auto to = mail::parse_smtp_path("x@mx.example.org");
    EXPECT_TRUE(to);
    RcptContext c;
    c.client_addr = "198.51.100.1";
    c.client_name = client_name;
    c.helo = helo;
    c.recipient = &*to;
    c.recipient_text = "x@mx.example.org";
    return run_server_checks(*p, c, dns);
  };
  ServerRun r = run("host.pool.evil.example", "");
  ASSERT_EQ(r.verdict.kind, Verdict::Reject);
  EXPECT_EQ(r.verdict.reply.to_string(),
            "554 5.7.1 <host.pool.evil.example[198.51.100.1]>: Client host rejected: evil DNS");
  EXPECT_EQ(r.asked, (std::vector<std::string>{"ns:host.pool.evil.example", "ns:pool.evil.example",
                                               "ns:evil.example"}));
  // "unknown" is not looked up.
  r = run("unknown", "");
  EXPECT_EQ(r.verdict.kind, Verdict::Accept);
  EXPECT_TRUE(r.asked.empty());
  r = run("unknown", "localhost.fake.example");
  ASSERT_EQ(r.verdict.kind, Verdict::Reject);
  EXPECT_EQ(r.verdict.reply.to_string(), "554 5.7.1 <localhost.fake.example>: Helo command rejected: loopback HELO");
  EXPECT_EQ(r.asked, (std::vector<std::string>{"addr:localhost.fake.example"}));
  r = run("unknown", "ok.fake.example");
  ASSERT_EQ(r.verdict.kind, Verdict::Reject);
  EXPECT_TRUE(r.verdict.config_error());
}
