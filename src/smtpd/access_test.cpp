// access_test.cpp - access(5) key order, actions, replies, and whole-table searches.
#include "smtpd/access.h"

#include <gtest/gtest.h>

#include "maps/test_support.h"

using namespace postern;
using namespace postern::smtpd::access;

namespace {

using Type = Action::Type;

// Keys as "key" (every table) or "key/f" (fixed-string tables only), so that
// a whole search order reads as one line.
std::vector<std::string> show(const std::vector<Key>& keys) {
  std::vector<std::string> out;
  for (const auto& k : keys) out.push_back(k.key + (k.fixed_only ? "/f" : ""));
  return out;
}

using Strings = std::vector<std::string>;

Subject client(std::string_view name, std::string_view addr) {
  Subject s;
  s.client_name = name;
  s.client_addr = addr;
  return s;
}

mail::Address addr(std::string_view internal) { return mail::Address::from_internal(internal); }

Subject mail_subject(const mail::Address& a, std::string_view text) {
  Subject s = client("mail.example.net", "198.51.100.7");
  s.address = &a;
  s.address_text = text;
  return s;
}

maps::MapList table(const std::string& spec) {
  auto m = maps::MapList::open("check_access", spec, maps::testing::quiet());
  EXPECT_TRUE(m) << (m ? "" : m.error().message);
  return std::move(*m);
}

// evaluate() flattened: "<none>", "<error>", "permit", the reply, "unsupported: why", ...
std::string run(maps::MapList& t, Kind kind, const Subject& s, const Options& o = {}) {
  auto r = evaluate(t, kind, s, o);
  if (!r) return "<error: " + r.error().message + ">";
  if (!*r) return "<none>";
  const Action& a = **r;
  switch (a.type) {
    case Type::Permit:
      return "permit";
    case Type::Reject:
      return a.reply.to_string();
    case Type::Dunno:
      return "dunno: " + a.why;
    case Type::Restrictions: {
      std::string out = "restrictions:";
      for (const auto& name : a.restrictions) out += " " + name;
      return out;
    }
    case Type::Unsupported:
      return "unsupported: " + a.why;
    case Type::DeferIfReject:
      return "defer_if_reject: " + a.reply.to_string();
    case Type::DeferIfPermit:
      return "defer_if_permit: " + a.reply.to_string();
    case Type::Hold:
      return "hold: " + a.why;
    case Type::Discard:
      return "discard: " + a.why;
    case Type::Prepend:
      return "prepend: " + a.why;
    case Type::Bcc:
      return "bcc: " + a.address;
    case Type::Redirect:
      return "redirect: " + a.address;
    case Type::Filter:
      return "filter: " + a.why;
  }
  return "?";
}

// A table whose every lookup fails, like a database that cannot be read.
class BrokenTable final : public maps::Table {
 public:
  BrokenTable() : Table("broken", "t", maps::OpenOptions{}) {}
  bool fixed() const override { return true; }
  Result<std::optional<std::string>> lookup(std::string_view) override { return make_error("disk on fire"); }
};

}  // namespace

// --- Key order -------------------------------------------------------------

TEST(AccessKeys, CertificateFingerprintThenPublicKey) {
  Subject s;
  s.ccert_fingerprint = "AA:BB";
  s.ccert_pkey_fingerprint = "CC:DD";
  s.ccert_cn = "client.example";
  auto keys = lookup_keys(Kind::Ccert, s, {});
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0], (Key{"AA:BB", false}));
  EXPECT_EQ(keys[1], (Key{"CC:DD", false}));
  EXPECT_TRUE(lookup_keys(Kind::Ccert, Subject{}, {}).empty());
  EXPECT_EQ(reply_name(Kind::Ccert, s), "client.example");
  EXPECT_EQ(reply_class(Kind::Ccert), "Client certificate");
}

TEST(AccessKeys, ClientIpv4NameThenAddressWithParents) {
  EXPECT_EQ(show(lookup_keys(Kind::Client, client("mail.sub.example.com", "192.0.2.1"), {})),
            (Strings{"mail.sub.example.com", "sub.example.com/f", "example.com/f", "com/f", "192.0.2.1",
                     "192.0.2/f", "192.0/f", "192/f"}));
}

TEST(AccessKeys, ClientDotParentsWithoutParentMatching) {
  Options o;
  o.parent_matches_subdomains = false;
  EXPECT_EQ(show(lookup_keys(Kind::Client, client("mail.sub.example.com", "192.0.2.1"), o)),
            (Strings{"mail.sub.example.com", ".sub.example.com/f", ".example.com/f", ".com/f", "192.0.2.1",
                     "192.0.2/f", "192.0/f", "192/f"}));
}

TEST(AccessKeys, ClientUnknownIsLookedUpAndIpv6IsCutAtColons) {
  // Postfix looks up the name "unknown" like any other name.
  EXPECT_EQ(show(lookup_keys(Kind::Client, client("unknown", "2001:db8::1"), {})),
            (Strings{"unknown", "2001:db8::1", "2001:db8:/f", "2001:db8/f", "2001/f"}));
  // "::1" -> ":" -> "" (the empty key is never asked).
  EXPECT_EQ(show(lookup_keys(Kind::Client, client("localhost", "::1"), {})),
            (Strings{"localhost", "::1", ":/f"}));
}

TEST(AccessKeys, HeloNameParentsButNotForAddresses) {
  Subject s;
  s.helo = "Mail.Example.COM";
  EXPECT_EQ(show(lookup_keys(Kind::Helo, s, {})), (Strings{"Mail.Example.COM", "Example.COM/f", "COM/f"}));
  s.helo = "192.0.2.1";  // numerical: no "subdomain magic"
  EXPECT_EQ(show(lookup_keys(Kind::Helo, s, {})), (Strings{"192.0.2.1"}));
  s.helo = "2001:db8::1";
  EXPECT_EQ(show(lookup_keys(Kind::Helo, s, {})), (Strings{"2001:db8::1"}));
  // Postfix neither strips the brackets of an address literal nor treats it
  // as numerical, so its "parents" are tried too.
  s.helo = "[192.0.2.1]";
  EXPECT_EQ(show(lookup_keys(Kind::Helo, s, {})), (Strings{"[192.0.2.1]", "0.2.1]/f", "2.1]/f", "1]/f"}));
  s.helo = "";
  EXPECT_TRUE(lookup_keys(Kind::Helo, s, {}).empty());
}

TEST(AccessKeys, HeloIsNeuteredAsSmtpdStoresIt) {
  Subject s;
  s.helo = "a<b>\"c\";d@e\r";
  EXPECT_EQ(show(lookup_keys(Kind::Helo, s, {})), (Strings{"a?b??c??d?e?"}));
  s.helo = "two words";  // "HELO two words" arrives as one argument
  EXPECT_EQ(show(lookup_keys(Kind::Helo, s, {})), (Strings{"two?words"}));
}

TEST(AccessKeys, AddressWithExtensionInAccessFiveOrder) {
  auto a = addr("user+foo@Sub.Example.com");
  Options o;
  o.recipient_delimiter = "+";
  // access(5): user+foo@domain, user@domain, domain (and parents), user+foo@, user@.
  EXPECT_EQ(show(lookup_keys(Kind::Recipient, mail_subject(a, "user+foo@Sub.Example.com"), o)),
            (Strings{"user+foo@Sub.Example.com", "user@Sub.Example.com/f", "Sub.Example.com/f", "Example.com/f",
                     "com/f", "user+foo@/f", "user@/f"}));
  o.parent_matches_subdomains = false;
  EXPECT_EQ(show(lookup_keys(Kind::Sender, mail_subject(a, ""), o)),
            (Strings{"user+foo@Sub.Example.com", "user@Sub.Example.com/f", "Sub.Example.com/f", ".Example.com/f",
                     ".com/f", "user+foo@/f", "user@/f"}));
  // Without recipient_delimiter the extension is part of the user name.
  EXPECT_EQ(show(lookup_keys(Kind::Sender, mail_subject(a, ""), {})),
            (Strings{"user+foo@Sub.Example.com", "Sub.Example.com/f", "Example.com/f", "com/f", "user+foo@/f"}));
}

TEST(AccessKeys, SpecialLocalPartsKeepTheirDelimiter) {
  auto a = addr("owner-list@example.com");
  Options o;
  o.recipient_delimiter = "-";
  EXPECT_EQ(show(lookup_keys(Kind::Recipient, mail_subject(a, ""), o)),
            (Strings{"owner-list@example.com", "example.com/f", "com/f", "owner-list@/f"}));
}

TEST(AccessKeys, QuotedLocalPartIsAskedQuotedFirst) {
  auto a = addr("john doe@example.com");
  EXPECT_EQ(show(lookup_keys(Kind::Sender, mail_subject(a, "\"john doe\"@example.com"), {})),
            (Strings{"\"john doe\"@example.com", "john doe@example.com", "example.com/f", "com/f",
                     "\"john doe\"@/f", "john doe@/f"}));
}

TEST(AccessKeys, NullSenderDomainlessAndMissingAddresses) {
  mail::Address null;
  EXPECT_EQ(show(lookup_keys(Kind::Sender, mail_subject(null, ""), {})), (Strings{"<>"}));
  Options o;
  o.null_sender_key = "MAILER-DAEMON-null";
  EXPECT_EQ(show(lookup_keys(Kind::Sender, mail_subject(null, ""), o)), (Strings{"MAILER-DAEMON-null"}));
  EXPECT_TRUE(lookup_keys(Kind::Recipient, mail_subject(null, ""), {}).empty());

  // Postfix would look up the resolved user@$myorigin; unresolved, only the
  // user@ keys remain.
  auto bare = addr("user+x");
  o.recipient_delimiter = "+";
  EXPECT_EQ(show(lookup_keys(Kind::Recipient, mail_subject(bare, "user+x"), o)), (Strings{"user+x@/f", "user@/f"}));

  Subject none = client("h", "192.0.2.1");
  EXPECT_TRUE(lookup_keys(Kind::Sender, none, {}).empty());
  EXPECT_TRUE(lookup_keys(Kind::Recipient, none, {}).empty());
}

TEST(AccessKeys, SourceRouteIsNotPartOfTheKey) {
  auto a = addr("@relay.example:user@example.com");
  ASSERT_EQ(a.route, "@relay.example");
  EXPECT_EQ(lookup_keys(Kind::Recipient, mail_subject(a, ""), {}).front().key, "user@example.com");
}

TEST(AccessKeys, AbsurdInputIsBounded) {
  std::string helo;
  for (int i = 0; i < 500; ++i) helo += "a.";
  Subject s;
  s.helo = helo;
  EXPECT_EQ(lookup_keys(Kind::Helo, s, {}).size(), kMaxDomainKeys);
  std::string huge(kMaxKeyBytes + 1, 'x');
  s.helo = huge;
  EXPECT_TRUE(lookup_keys(Kind::Helo, s, {}).empty());
}

// --- Actions and replies ---------------------------------------------------

TEST(AccessAction, PermitForms) {
  Subject s = client("h.example", "192.0.2.1");
  for (const char* v : {"OK", "ok", "OK whatever follows", "RELAY", "1234567890", "550"})
    EXPECT_EQ(parse_action(v, Kind::Client, s, {}).type, Type::Permit) << v;
  auto empty = parse_action("  ", Kind::Client, s, {});
  EXPECT_EQ(empty.type, Type::Permit);  // "in the dark ages, an empty right-hand side meant OK"
  EXPECT_FALSE(empty.why.empty());
}

TEST(AccessAction, RejectAndDeferReplies) {
  Subject s = client("mail.example.com", "192.0.2.1");
  EXPECT_EQ(parse_action("REJECT", Kind::Client, s, {}).reply.to_string(),
            "554 5.7.1 <mail.example.com[192.0.2.1]>: Client host rejected: Access denied");
  EXPECT_EQ(parse_action("reject  Go away", Kind::Client, s, {}).reply.to_string(),
            "554 5.7.1 <mail.example.com[192.0.2.1]>: Client host rejected: Go away");
  EXPECT_EQ(parse_action("DEFER", Kind::Client, s, {}).reply.to_string(),
            "450 4.7.1 <mail.example.com[192.0.2.1]>: Client host rejected: Access denied");
  EXPECT_EQ(parse_action("DEFER try later", Kind::Client, s, {}).reply.to_string(),
            "450 4.7.1 <mail.example.com[192.0.2.1]>: Client host rejected: try later");
  EXPECT_EQ(parse_action("550 5.7.26 Unauthenticated mail", Kind::Client, s, {}).reply.to_string(),
            "550 5.7.26 <mail.example.com[192.0.2.1]>: Client host rejected: Unauthenticated mail");
  EXPECT_EQ(parse_action("421 Closing down", Kind::Client, s, {}).reply.to_string(),
            "421 4.7.1 <mail.example.com[192.0.2.1]>: Client host rejected: Closing down");

  Options o;
  o.reject_code = 450;
  o.defer_code = 451;
  auto r = parse_action("REJECT", Kind::Client, s, o);
  EXPECT_EQ(r.type, Type::Reject);
  EXPECT_EQ(r.reply.code, 450);
  EXPECT_EQ(r.reply.enhanced, "4.7.1");  // the class digit follows the reply code
  EXPECT_EQ(parse_action("DEFER", Kind::Client, s, o).reply.code, 451);
}

TEST(AccessAction, ReplyNamesPerKind) {
  Subject s = client("h.example", "192.0.2.1");
  s.helo = "helo.example";
  EXPECT_EQ(parse_action("REJECT", Kind::Helo, s, {}).reply.to_string(),
            "554 5.7.1 <helo.example>: Helo command rejected: Access denied");
  auto a = addr("User@Example.com");
  EXPECT_EQ(parse_action("REJECT no", Kind::Sender, mail_subject(a, "User@Example.com"), {}).reply.to_string(),
            "554 5.7.1 <User@Example.com>: Sender address rejected: no");
  EXPECT_EQ(parse_action("REJECT no", Kind::Recipient, mail_subject(a, ""), {}).reply.to_string(),
            "554 5.7.1 <User@Example.com>: Recipient address rejected: no");
  mail::Address null;
  EXPECT_EQ(parse_action("REJECT", Kind::Sender, mail_subject(null, ""), {}).reply.to_string(),
            "554 5.7.1 <>: Sender address rejected: Access denied");
}

TEST(AccessAction, DsnFromTheTableIsMappedToWhatIsRejected) {
  auto a = addr("u@example.com");
  Subject m = mail_subject(a, "u@example.com");
  Subject c = client("h.example", "192.0.2.1");
  // A recipient status while rejecting a sender becomes the sender status.
  EXPECT_EQ(parse_action("450 4.1.1 no such user", Kind::Sender, m, {}).reply.enhanced, "4.1.7");
  EXPECT_EQ(parse_action("550 5.1.2 bad domain", Kind::Sender, m, {}).reply.enhanced, "5.1.8");
  EXPECT_EQ(parse_action("550 5.1.8 bad domain", Kind::Recipient, m, {}).reply.enhanced, "5.1.2");
  EXPECT_EQ(parse_action("550 5.1.1 no such user", Kind::Recipient, m, {}).reply.enhanced, "5.1.1");
  EXPECT_EQ(parse_action("550 5.1.99 odd", Kind::Recipient, m, {}).reply.enhanced, "5.1.0");
  // An address status while rejecting a host: "mapping DSN status 4.1.1 into
  // Client host status 4.0.0".
  EXPECT_EQ(parse_action("450 4.1.1 x", Kind::Client, c, {}).reply.enhanced, "4.0.0");
  EXPECT_EQ(parse_action("REJECT 5.1.1 x", Kind::Helo, c, {}).reply.enhanced, "5.0.0");
  // Other statuses are left alone, except that the class follows the code.
  EXPECT_EQ(parse_action("550 4.7.0 x", Kind::Client, c, {}).reply.enhanced, "5.7.0");
  EXPECT_EQ(parse_action("DEFER 2.0.0 x", Kind::Client, c, {}).reply.enhanced, "4.0.0");
  // Not a status code: it stays in the text.
  auto r = parse_action("REJECT 5.7.1000 x", Kind::Client, c, {});
  EXPECT_EQ(r.reply.enhanced, "5.7.1");
  EXPECT_EQ(r.reply.text(), "<h.example[192.0.2.1]>: Client host rejected: 5.7.1000 x");
  // A status code and nothing else: the generic text.
  EXPECT_EQ(parse_action("REJECT 5.7.2", Kind::Client, c, {}).reply.to_string(),
            "554 5.7.2 <h.example[192.0.2.1]>: Client host rejected: Access denied");

  EXPECT_EQ(fix_dsn("5.1.1", Kind::Sender), "5.1.7");
  EXPECT_EQ(fix_dsn("4.7.1", Kind::Sender), "4.7.1");
}

TEST(AccessAction, BadReplyCodesGiveAGenericDeferral) {
  Subject c = client("h.example", "192.0.2.1");
  Options o;
  o.reject_code = 250;
  auto r = parse_action("REJECT", Kind::Client, c, o);
  EXPECT_EQ(r.type, Type::Reject);
  EXPECT_EQ(r.reply.to_string(), "450 4.7.1 Service unavailable");
  EXPECT_NE(r.why.find("250"), std::string::npos);
  // Postfix would send 460; RFC 5321 does not allow it.
  EXPECT_EQ(parse_action("460 text", Kind::Client, c, {}).reply.to_string(), "450 4.7.1 Service unavailable");
  // "4NN" and "5NN" need text, otherwise they are restriction names (or,
  // all-numerical, OK).
  EXPECT_EQ(parse_action("550x text", Kind::Client, c, {}).type, Type::Restrictions);
}

TEST(AccessAction, ReplyTextIsPrintableAndBounded) {
  Subject c = client("h.example", "192.0.2.1");
  static constexpr char kNasty[] = "REJECT a\r\n250 OK\0b\x7f";
  std::string nasty(kNasty, sizeof(kNasty) - 1);
  auto r = parse_action(nasty, Kind::Client, c, {});
  ASSERT_EQ(r.reply.lines.size(), 1u);
  EXPECT_EQ(r.reply.lines[0], "<h.example[192.0.2.1]>: Client host rejected: a  250 OK b ");
  auto long_text = parse_action("REJECT " + std::string(2000, 'x'), Kind::Client, c, {});
  EXPECT_EQ(long_text.reply.to_string().size(), kMaxReplyBytes);
}

TEST(AccessAction, DunnoWarnInfo) {
  Subject c = client("h.example", "192.0.2.1");
  for (const char* v : {"DUNNO", "dunno ignored text"}) {
    auto a = parse_action(v, Kind::Client, c, {});
    EXPECT_EQ(a.type, Type::Dunno) << v;
    EXPECT_TRUE(a.why.empty()) << v;
  }
  auto w = parse_action("WARN looks odd", Kind::Client, c, {});
  EXPECT_EQ(w.type, Type::Dunno);
  EXPECT_EQ(w.why, "warn: looks odd");
  EXPECT_EQ(parse_action("info noted", Kind::Client, c, {}).why, "info: noted");
}

TEST(AccessAction, Filter) {
  Subject c = client("h.example", "192.0.2.1");
  auto f = parse_action("FILTER smtp:[127.0.0.1]:10025", Kind::Client, c, {});
  EXPECT_EQ(f.type, Type::Filter);
  EXPECT_EQ(f.address, "smtp:[127.0.0.1]:10025");
  EXPECT_EQ(f.why, "<h.example[192.0.2.1]>: Client host triggers FILTER smtp:[127.0.0.1]:10025");
  EXPECT_EQ(parse_action("filter amavis:", Kind::Client, c, {}).type, Type::Filter);  // empty nexthop: $myhostname
  // Postfix: "requires transport:destination"; a table mistake decides nothing.
  for (const char* v : {"FILTER", "FILTER smtp", "FILTER ../x:y", "FILTER :y"}) {
    auto a = parse_action(v, Kind::Client, c, {});
    EXPECT_EQ(a.type, Type::Dunno) << v;
    EXPECT_NE(a.warning.find("requires transport:destination"), std::string::npos) << v;
  }
}

TEST(AccessAction, UnsupportedActions) {
  Subject c = client("h.example", "192.0.2.1");
  auto rd = parse_action("REDIRECT spam@example.com", Kind::Client, c, {});
  EXPECT_EQ(rd.type, Type::Redirect);
  EXPECT_EQ(rd.address, "spam@example.com");
  EXPECT_EQ(rd.why, "<h.example[192.0.2.1]>: Client host triggers REDIRECT spam@example.com");
  EXPECT_EQ(parse_action("REDIRECT nobody", Kind::Client, c, {}).type, Type::Dunno);
  for (const char* v : {"HANGUP"}) {
    auto a = parse_action(v, Kind::Client, c, {});
    EXPECT_EQ(a.type, Type::Unsupported) << v;
    EXPECT_NE(a.why.find("not supported"), std::string::npos) << v;
  }
  auto f = parse_action("hangup", Kind::Client, c, {});
  EXPECT_EQ(f.why, "access table action HANGUP is not supported");
  // Postfix: "do not specify lookup tables inside SMTPD access maps".
  auto t = parse_action("permit_mynetworks, check_client_access hash:/etc/x", Kind::Client, c, {});
  EXPECT_EQ(t.type, Type::Unsupported);
  EXPECT_NE(t.why.find("names a lookup table"), std::string::npos);
}

TEST(AccessAction, HoldAndDiscard) {
  // Postfix's log text: "<name>: Class TEXT", TEXT defaulting to "triggers
  // HOLD action" / "triggers DISCARD action"; the keyword's case is free.
  Subject c = client("h.example", "192.0.2.1");
  auto h = parse_action("HOLD", Kind::Client, c, {});
  EXPECT_EQ(h.type, Type::Hold);
  EXPECT_EQ(h.why, "<h.example[192.0.2.1]>: Client host triggers HOLD action");
  mail::Address sender = addr("spam@example.com");
  Subject s = mail_subject(sender, "spam@example.com");
  auto d = parse_action("discard   looks like spam", Kind::Sender, s, {});
  EXPECT_EQ(d.type, Type::Discard);
  EXPECT_EQ(d.why, "<spam@example.com>: Sender address looks like spam");
  EXPECT_EQ(parse_action("Hold\tkept for review", Kind::Sender, s, {}).why,
            "<spam@example.com>: Sender address kept for review");
  EXPECT_EQ(parse_action("DISCARD", Kind::Recipient, s, {}).why,
            "<spam@example.com>: Recipient address triggers DISCARD action");
}

TEST(AccessAction, Prepend) {
  Subject c = client("h.example", "192.0.2.1");
  auto p = parse_action("PREPEND X-Checked: by the client table", Kind::Client, c, {});
  EXPECT_EQ(p.type, Type::Prepend);
  EXPECT_EQ(p.why, "X-Checked: by the client table");
  EXPECT_TRUE(p.warning.empty());
  // Postfix's is_header(): a name, optional blanks, a colon.
  EXPECT_EQ(parse_action("prepend X-Empty :", Kind::Client, c, {}).type, Type::Prepend);
  for (const char* v : {"PREPEND", "PREPEND not a header", "PREPEND : no name", "PREPEND X Y: two words"}) {
    auto a = parse_action(v, Kind::Client, c, {});
    EXPECT_EQ(a.type, Type::Dunno) << v;
    EXPECT_TRUE(a.why.empty()) << v;  // not a WARN to log in the session's shape
    EXPECT_EQ(a.warning, fmt::format("access table entry \"{}\" requires header: text", v)) << v;
  }
}

TEST(AccessAction, Bcc) {
  mail::Address sender = addr("boss@example.com");
  Subject s = mail_subject(sender, "boss@example.com");
  auto b = parse_action("BCC audit@example.org", Kind::Sender, s, {});
  EXPECT_EQ(b.type, Type::Bcc);
  EXPECT_EQ(b.address, "audit@example.org");
  EXPECT_EQ(b.why, "<boss@example.com>: Sender address triggers BCC audit@example.org");
  // Postfix: "requires user@domain target", and no decision.
  auto bad = parse_action("bcc audit", Kind::Sender, s, {});
  EXPECT_EQ(bad.type, Type::Dunno);
  EXPECT_EQ(bad.warning, "access table entry \"bcc audit\" requires user@domain target");
}

TEST(AccessAction, ConditionalDeferrals) {
  Subject c = client("h.example", "192.0.2.1");
  auto a = parse_action("DEFER_IF_REJECT", Kind::Client, c, {});
  EXPECT_EQ(a.type, Type::DeferIfReject);
  EXPECT_EQ(a.reply.to_string(), "450 4.7.1 <h.example[192.0.2.1]>: Client host rejected: Service unavailable");
  a = parse_action("defer_if_permit 4.7.0 not yet", Kind::Client, c, {});
  EXPECT_EQ(a.type, Type::DeferIfPermit);
  EXPECT_EQ(a.reply.to_string(), "450 4.7.0 <h.example[192.0.2.1]>: Client host rejected: not yet");
  Options o;
  o.defer_code = 421;
  EXPECT_EQ(parse_action("DEFER_IF_PERMIT", Kind::Client, c, o).reply.code, 421);
}

TEST(AccessAction, RestrictionLists) {
  Subject c = client("h.example", "192.0.2.1");
  auto a = parse_action("Permit_MyNetworks, REJECT", Kind::Client, c, {});
  EXPECT_EQ(a.type, Type::Restrictions);
  EXPECT_EQ(a.restrictions, (Strings{"permit_mynetworks", "reject"}));
  EXPECT_EQ(parse_action("a,,b\tc {d e} f", Kind::Client, c, {}).restrictions,
            (Strings{"a", "b", "c", "{d e}", "f"}));
  // Not a Postfix action: a restriction name for the caller to validate.
  EXPECT_EQ(parse_action("SHUTDOWN", Kind::Client, c, {}).restrictions, (Strings{"shutdown"}));
}

// --- Whole searches ----------------------------------------------------------

TEST(AccessEvaluate, MostSpecificKeyWinsIpv4Subnets) {
  // access(5) EXAMPLE: permit 1.2.3.4, reject the rest of 1.2.3.0/24.
  auto t = table("inline:{ 1.2.3=REJECT, 1.2.3.4=OK }");
  EXPECT_EQ(run(t, Kind::Client, client("unknown", "1.2.3.4")), "permit");
  EXPECT_EQ(run(t, Kind::Client, client("unknown", "1.2.3.5")),
            "554 5.7.1 <unknown[1.2.3.5]>: Client host rejected: Access denied");
  EXPECT_EQ(run(t, Kind::Client, client("unknown", "1.2.30.5")), "<none>");
  EXPECT_EQ(run(t, Kind::Client, client("unknown", "2001:db8::1")), "<none>");
}

TEST(AccessEvaluate, Ipv6Prefixes) {
  auto t = table("inline:{ 2001:db8=REJECT, 2001:db8::1=OK }");
  EXPECT_EQ(run(t, Kind::Client, client("unknown", "2001:db8::1")), "permit");
  EXPECT_EQ(run(t, Kind::Client, client("unknown", "2001:db8:1::5")), "554 5.7.1 <unknown[2001:db8:1::5]>: Client host rejected: Access denied");
}

TEST(AccessEvaluate, ParentDomainStyles) {
  auto plain = table("inline:{ example.com=REJECT }");
  auto dotted = table("inline:{ .example.com=REJECT }");
  Subject sub = client("mail.example.com", "192.0.2.1");
  Subject top = client("example.com", "192.0.2.1");
  Options pdms;
  Options dots;
  dots.parent_matches_subdomains = false;
  EXPECT_NE(run(plain, Kind::Client, sub, pdms), "<none>");
  EXPECT_EQ(run(plain, Kind::Client, sub, dots), "<none>");
  EXPECT_NE(run(plain, Kind::Client, top, dots), "<none>");
  EXPECT_EQ(run(dotted, Kind::Client, sub, pdms), "<none>");
  EXPECT_NE(run(dotted, Kind::Client, sub, dots), "<none>");
  EXPECT_EQ(run(dotted, Kind::Client, top, dots), "<none>");
  // Fixed-string tables fold case.
  EXPECT_NE(run(plain, Kind::Client, client("MAIL.Example.COM", "192.0.2.1"), pdms), "<none>");
}

TEST(AccessEvaluate, DunnoStopsTheSearch) {
  auto t = table("inline:{ good.example.com=DUNNO, example.com=REJECT, 192.0.2.1=REJECT }");
  // DUNNO for the host name: neither the parent domain nor the address is tried.
  EXPECT_EQ(run(t, Kind::Client, client("good.example.com", "192.0.2.1")), "<none>");
  EXPECT_NE(run(t, Kind::Client, client("bad.example.com", "192.0.2.9")), "<none>");
  EXPECT_NE(run(t, Kind::Client, client("unknown", "192.0.2.1")), "<none>");

  auto m = table("inline:{ user@example.com=DUNNO, example.com=REJECT }");
  auto a = addr("user@example.com");
  auto b = addr("other@example.com");
  EXPECT_EQ(run(m, Kind::Recipient, mail_subject(a, "user@example.com")), "<none>");
  EXPECT_EQ(run(m, Kind::Recipient, mail_subject(b, "other@example.com")),
            "554 5.7.1 <other@example.com>: Recipient address rejected: Access denied");
}

TEST(AccessEvaluate, WarnIsNoDecisionButReported) {
  auto t = table("inline:{ {h.example = WARN odd client}, 192.0.2.1=REJECT }");
  EXPECT_EQ(run(t, Kind::Client, client("h.example", "192.0.2.1")), "dunno: warn: odd client");
}

TEST(AccessEvaluate, AddressSearch) {
  auto t = table(
      "inline:{ {user@example.com = REJECT 5.1.1 gone}, abuse@=OK, example.org=DEFER, {<> = REJECT no bounces} }");
  Options o;
  o.recipient_delimiter = "+";
  auto ext = addr("user+tag@example.com");
  EXPECT_EQ(run(t, Kind::Recipient, mail_subject(ext, "user+tag@example.com"), o),
            "554 5.1.1 <user+tag@example.com>: Recipient address rejected: gone");
  EXPECT_EQ(run(t, Kind::Sender, mail_subject(ext, "user+tag@example.com"), o),
            "554 5.1.7 <user+tag@example.com>: Sender address rejected: gone");
  // Without the delimiter, user+tag is another user.
  EXPECT_EQ(run(t, Kind::Recipient, mail_subject(ext, "user+tag@example.com")), "<none>");
  auto abuse = addr("abuse@anywhere.example");
  EXPECT_EQ(run(t, Kind::Recipient, mail_subject(abuse, "abuse@anywhere.example")), "permit");
  auto sub = addr("x@mx.example.org");
  EXPECT_EQ(run(t, Kind::Sender, mail_subject(sub, "x@mx.example.org")),
            "450 4.7.1 <x@mx.example.org>: Sender address rejected: Access denied");
  mail::Address null;
  EXPECT_EQ(run(t, Kind::Sender, mail_subject(null, "")), "554 5.7.1 <>: Sender address rejected: no bounces");
}

TEST(AccessEvaluate, RoutedRecipientIsNeverPermitted) {
  auto t = table("inline:{ example.com=OK }");
  auto plain = addr("user@example.com");
  auto routed = addr("user%elsewhere.example@example.com");
  EXPECT_EQ(run(t, Kind::Recipient, mail_subject(plain, "")), "permit");
  EXPECT_EQ(run(t, Kind::Recipient, mail_subject(routed, "")), "<none>");
  EXPECT_EQ(run(t, Kind::Sender, mail_subject(routed, "")), "permit");  // senders are not relayed to
  Options o;
  o.allow_untrusted_routing = true;
  EXPECT_EQ(run(t, Kind::Recipient, mail_subject(routed, ""), o), "permit");
  EXPECT_TRUE(permit_is_suspicious(Kind::Recipient, mail_subject(routed, ""), {}));
}

TEST(AccessEvaluate, PatternTablesSeeOnlyWholeStrings) {
  maps::testing::TempDir dir;
  maps::testing::write_file(dir.path("re"),
                            "/^192\\.0\\.2$/           REJECT partial address\n"
                            "/^example\\.com$/         REJECT partial name\n"
                            "/^user@$/                 REJECT partial localpart\n"
                            "/^mail\\.example\\.com$/  550 5.7.1 whole name\n"
                            "/^user@example\\.com$/    REJECT whole address\n"
                            "/^198\\.51\\.100\\.7$/    REJECT whole address\n");
  auto t = table("regexp:" + dir.path("re"));
  EXPECT_EQ(run(t, Kind::Client, client("mail.example.com", "192.0.2.7")),
            "550 5.7.1 <mail.example.com[192.0.2.7]>: Client host rejected: whole name");
  EXPECT_EQ(run(t, Kind::Client, client("other.example.com", "192.0.2.7")), "<none>");
  Subject helo;
  helo.helo = "x.example.com";
  EXPECT_EQ(run(t, Kind::Helo, helo), "<none>");
  auto user = addr("user@example.com");
  EXPECT_EQ(run(t, Kind::Recipient, mail_subject(user, "user@example.com")),
            "554 5.7.1 <user@example.com>: Recipient address rejected: whole address");
  auto other = addr("user@sub.example.com");
  EXPECT_EQ(run(t, Kind::Recipient, mail_subject(other, "user@sub.example.com")), "<none>");

  // A pattern table behind a fixed one: partial keys still skip it.
  auto both = table("inline:{ nothing=OK }, regexp:" + dir.path("re"));
  EXPECT_EQ(run(both, Kind::Client, client("other.example.com", "192.0.2.7")), "<none>");
}

TEST(AccessEvaluate, CidrTable) {
  maps::testing::TempDir dir;
  maps::testing::write_file(dir.path("cidr"),
                            "192.0.2.128/25   OK\n"
                            "192.0.2.0/24     REJECT cidr says no\n"
                            "2001:db8::/32    DEFER\n");
  auto t = table("cidr:" + dir.path("cidr"));
  EXPECT_EQ(run(t, Kind::Client, client("unknown", "192.0.2.9")),
            "554 5.7.1 <unknown[192.0.2.9]>: Client host rejected: cidr says no");
  EXPECT_EQ(run(t, Kind::Client, client("unknown", "192.0.2.200")), "permit");
  EXPECT_EQ(run(t, Kind::Client, client("host.example", "2001:db8:5::1")),
            "450 4.7.1 <host.example[2001:db8:5::1]>: Client host rejected: Access denied");
  EXPECT_EQ(run(t, Kind::Client, client("unknown", "198.51.100.1")), "<none>");
}

TEST(AccessEvaluate, ActionsComeThroughTheSearch) {
  auto t = table("inline:{ {hold.example = HOLD}, {list.example = permit_mynetworks, reject} }");
  EXPECT_EQ(run(t, Kind::Client, client("hold.example", "192.0.2.1")),
            "hold: <hold.example[192.0.2.1]>: Client host triggers HOLD action");
  EXPECT_EQ(run(t, Kind::Client, client("list.example", "192.0.2.1")), "restrictions: permit_mynetworks reject");
}

TEST(AccessEvaluate, TableErrorsAreReturned) {
  std::vector<std::unique_ptr<maps::Table>> v;
  v.push_back(std::make_unique<BrokenTable>());
  maps::MapList t("check_client_access", std::move(v));
  auto r = evaluate(t, Kind::Client, client("h.example", "192.0.2.1"), {});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("disk on fire"), std::string::npos);
}
