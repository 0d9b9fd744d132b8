// address_map_test.cpp - canonical mapping, masquerading, virtual alias
// expansion (limits, loops) and duplicate removal.
#include "cleanup/address_map.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "cleanup/settings.h"

namespace postern::cleanup {
namespace {

namespace fs = std::filesystem;

// A texthash table file in a scratch directory (values may list addresses).
class TableDir {
 public:
  TableDir() {
    std::string tmpl = (fs::temp_directory_path() / "cleanup-maps.XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
  }
  ~TableDir() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string table(const std::string& name, const std::string& text) {
    fs::path p = dir_ / name;
    std::ofstream(p) << text;
    return "texthash:" + p.string();
  }

 private:
  fs::path dir_;
};

maps::MapList open_list(const std::string& title, const std::string& spec) {
  if (spec.empty()) return maps::MapList(title, {});
  auto l = maps::MapList::open(title, spec);
  EXPECT_TRUE(l) << (l ? "" : l.error().message);
  return l ? std::move(*l) : maps::MapList(title, {});
}

MapperOptions default_options() {
  MapperOptions o;
  o.canonical_classes = addr_class::kEnvelopeSender | addr_class::kEnvelopeRecipient | addr_class::kHeaderSender |
                        addr_class::kHeaderRecipient;
  o.sender_canonical_classes = addr_class::kEnvelopeSender | addr_class::kHeaderSender;
  o.recipient_canonical_classes = addr_class::kEnvelopeRecipient | addr_class::kHeaderRecipient;
  o.masquerade_classes = addr_class::kEnvelopeSender | addr_class::kHeaderSender | addr_class::kHeaderRecipient;
  o.search.recipient_delimiter = "+";
  o.search.is_local = [](std::string_view d) -> Result<bool> { return d == "example.com"; };
  o.qualify = [](std::string_view a) { return append_myorigin(a, "example.com"); };
  return o;
}

AddressMapper mapper(MapperOptions o, const std::string& canonical, const std::string& sender_canonical,
                     const std::string& recipient_canonical, const std::string& virt) {
  return AddressMapper(std::move(o), open_list("canonical_maps", canonical),
                       open_list("sender_canonical_maps", sender_canonical),
                       open_list("recipient_canonical_maps", recipient_canonical),
                       open_list("virtual_alias_maps", virt));
}

TEST(ParseClasses, KnownNamesAndErrors) {
  auto b = parse_classes("canonical_classes", {"envelope_sender", "HEADER_recipient"});
  ASSERT_TRUE(b);
  EXPECT_EQ(*b, addr_class::kEnvelopeSender | addr_class::kHeaderRecipient);
  EXPECT_FALSE(parse_classes("canonical_classes", {"envelope"}));
}

TEST(AppendMyorigin, OnlyBareAddresses) {
  EXPECT_EQ(append_myorigin("joe", "example.com"), "joe@example.com");
  EXPECT_EQ(append_myorigin("joe@x.org", "example.com"), "joe@x.org");
  EXPECT_EQ(append_myorigin("", "example.com"), "");
}

std::string masq(const AddressMapper& m, std::string_view a) {
  auto r = m.masquerade(a, "ID");
  return r ? *r : "error: " + r.error().message;
}

std::shared_ptr<maps::MatchList> exceptions(const std::string& value) {
  auto l = maps::MatchList::open("masquerade_exceptions", value, maps::MatchStyle::Name);
  EXPECT_TRUE(l) << (l ? "" : l.error().message);
  return l ? std::make_shared<maps::MatchList>(std::move(*l)) : nullptr;
}

TEST(Masquerade, StripsSubdomainsWithExceptionsAndNegation) {
  auto o = default_options();
  o.masquerade_domains = {"!mail.example.com", "example.com"};
  o.masquerade_exceptions = exceptions("Root");
  auto m = mapper(o, "", "", "", "");
  EXPECT_EQ(masq(m, "joe@host.sub.EXAMPLE.com"), "joe@example.com");
  EXPECT_EQ(masq(m, "joe@example.com"), "joe@example.com");        // the domain itself
  EXPECT_EQ(masq(m, "joe@mail.example.com"), "joe@mail.example.com");  // "!" entry
  EXPECT_EQ(masq(m, "root@host.example.com"), "root@host.example.com");  // exception
  EXPECT_EQ(masq(m, "joe@badexample.com"), "joe@badexample.com");  // not a subdomain
  EXPECT_EQ(masq(m, "joe@host.mail.example.com"), "joe@host.mail.example.com");  // below a "!" entry
  EXPECT_EQ(masq(m, "joe"), "joe");
}

// Postfix's masquerade_exceptions is a string list: tables and "!" work.
TEST(Masquerade, ExceptionsFromATable) {
  TableDir t;
  auto o = default_options();
  o.masquerade_domains = {"example.com"};
  o.masquerade_exceptions = exceptions("!nobody, " + t.table("except", "admin x\nnobody x\n"));
  auto m = mapper(o, "", "", "", "");
  EXPECT_EQ(masq(m, "ADMIN@host.example.com"), "ADMIN@host.example.com");
  EXPECT_EQ(masq(m, "nobody@host.example.com"), "nobody@example.com");  // "!nobody" first
  EXPECT_EQ(masq(m, "joe@host.example.com"), "joe@example.com");
}

TEST(Masquerade, TheDomainItselfStopsTheSearch) {
  // Postfix: a listed domain is never masqueraded to a later, shorter entry.
  auto o = default_options();
  o.masquerade_domains = {"sub.example.com", "example.com"};
  auto m = mapper(o, "", "", "", "");
  EXPECT_EQ(masq(m, "joe@sub.example.com"), "joe@sub.example.com");
  EXPECT_EQ(masq(m, "joe@host.sub.example.com"), "joe@sub.example.com");
  EXPECT_EQ(masq(m, "joe@other.example.com"), "joe@example.com");
}

TEST(Masquerade, AppliesOnlyToConfiguredClasses) {
  auto o = default_options();
  o.masquerade_domains = {"example.com"};
  auto m = mapper(o, "", "", "", "");
  auto s = m.map_sender("joe@host.example.com", addr_class::kEnvelopeSender, "ID");
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, "joe@example.com");
  auto r = m.map_recipient("joe@host.example.com", addr_class::kEnvelopeRecipient, "ID");
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "joe@host.example.com");  // envelope_recipient is not in masquerade_classes
}

TEST(Canonical, SenderThenGeneralTablesAndClasses) {
  TableDir t;
  auto m = mapper(default_options(), t.table("canonical", "joe.public@example.com Joe.Public@example.net\n"),
                  t.table("sender", "joe@example.com joe.public@example.com\n"),
                  t.table("recipient", "bob@example.com robert@example.com\n"), "");
  // sender_canonical_maps first, then canonical_maps on its result.
  auto s = m.map_sender("joe@example.com", addr_class::kEnvelopeSender, "ID");
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, "Joe.Public@example.net");
  // Recipient tables do not apply to senders.
  s = m.map_sender("bob@example.com", addr_class::kEnvelopeSender, "ID");
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, "bob@example.com");
  auto r = m.map_recipient("bob@example.com", addr_class::kEnvelopeRecipient, "ID");
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "robert@example.com");
  // The null sender is never mapped.
  s = m.map_sender("", addr_class::kEnvelopeSender, "ID");
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, "");
}

TEST(Canonical, ClassGatingExtensionsAndDomainResults) {
  TableDir t;
  auto o = default_options();
  o.canonical_classes = addr_class::kEnvelopeRecipient;
  auto m = mapper(o,
                  t.table("canonical", "joe@example.com joseph@example.com\n"
                                       "@old.example @new.example\n"
                                       "short bare\n"),
                  "", "", "");
  auto r = m.map_recipient("joe+list@example.com", addr_class::kEnvelopeRecipient, "ID");
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "joseph+list@example.com");  // propagate_unmatched_extensions = canonical
  r = m.map_recipient("anyone@old.example", addr_class::kEnvelopeRecipient, "ID");
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "anyone@new.example");  // "@domain" result keeps the local part
  r = m.map_recipient("short@example.com", addr_class::kEnvelopeRecipient, "ID");
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "bare@example.com");  // bare result qualified
  // Header class not configured: untouched.
  r = m.map_recipient("joe@example.com", addr_class::kHeaderRecipient, "ID");
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "joe@example.com");

  o.propagate_canonical = false;
  auto m2 = mapper(o, t.table("canonical2", "joe@example.com joseph@example.com\n"), "", "", "");
  r = m2.map_recipient("joe+list@example.com", addr_class::kEnvelopeRecipient, "ID");
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "joseph@example.com");
}

// Postfix's cleanup_map11(): a result is looked up again until it is not
// found or maps to itself; a table loop defers the message.
TEST(Canonical, ResultsAreMappedAgainUntilAFixedPoint) {
  TableDir t;
  auto m = mapper(default_options(),
                  t.table("chain", "a@example.com b@example.com\n"
                                   "b@example.com C@example.com\n"
                                   "c@example.com c@example.com\n"
                                   "x@example.com @loop.example\n"
                                   "@loop.example @example.com\n"),
                  "", "", "");
  auto r = m.map_recipient("a@example.com", addr_class::kEnvelopeRecipient, "ID");
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "c@example.com");  // C -> c maps to itself (case-blind): the search stops there
  r = m.map_recipient("x@example.com", addr_class::kEnvelopeRecipient, "ID");
  ASSERT_FALSE(r);  // x -> x@loop.example -> x@example.com -> ... : nesting
  EXPECT_NE(r.error().message.find("nesting"), std::string::npos);
  r = m.map_recipient("y@example.com", addr_class::kEnvelopeRecipient, "ID");
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "y@example.com");
}

TEST(Canonical, TableErrorIsAnError) {
  // A hash table whose .db file does not exist fails to open; a list that
  // opened but then fails is hard to provoke portably, so check open().
  auto l = maps::MapList::open("canonical_maps", "hash:/nonexistent/dir/table");
  EXPECT_FALSE(l);
}

std::vector<std::string> expand(AddressMapper& m, std::string_view a, std::optional<MappingError>* err = nullptr) {
  std::vector<std::string> out;
  auto e = m.expand_virtual(a, "ID", out);
  if (err) *err = e;
  else EXPECT_FALSE(e) << e->reason;
  return out;
}

TEST(Virtual, NoTablesOrNoMatchKeepsTheAddress) {
  auto m = mapper(default_options(), "", "", "", "");
  EXPECT_EQ(expand(m, "joe@example.com"), std::vector<std::string>{"joe@example.com"});
  TableDir t;
  auto m2 = mapper(default_options(), "", "", "", t.table("virtual", "other@example.com x@example.org\n"));
  EXPECT_EQ(expand(m2, "joe@example.com"), std::vector<std::string>{"joe@example.com"});
}

TEST(Virtual, RecursiveFanOutWithQualificationAndExtensions) {
  TableDir t;
  auto m = mapper(default_options(), "", "", "",
                  t.table("virtual", "list@example.com a@example.org, team@example.com\n"
                                     "team@example.com b@example.org, carol\n"
                                     "joe@example.com joseph@example.org\n"
                                     "@alias.example @example.net\n"));
  EXPECT_EQ(expand(m, "list@example.com"),
            (std::vector<std::string>{"a@example.org", "b@example.org", "carol@example.com"}));
  EXPECT_EQ(expand(m, "joe+tag@example.com"), std::vector<std::string>{"joseph+tag@example.org"});
  EXPECT_EQ(expand(m, "anyone@alias.example"), std::vector<std::string>{"anyone@example.net"});
}

TEST(Virtual, LoopsDeferSelfReferenceIsKeptSharedMembersExpand) {
  TableDir t;
  auto m = mapper(default_options(), "", "", "",
                  t.table("virtual", "a@example.com b@example.com\n"
                                     "b@example.com a@example.com\n"
                                     "self@example.com self@example.com, copy@example.org\n"
                                     "x@example.com y@example.com, z@example.com\n"
                                     "y@example.com w@example.org\n"
                                     "z@example.com w@example.org\n"
                                     "team@example.com alice@example.com, sub@example.com\n"
                                     "sub@example.com alice@example.com, bob@example.org\n"
                                     "alice@example.com alice@example.org\n"));
  // A loop is an error (Postfix: the nesting limit), not a delivery to where it started.
  std::optional<MappingError> err;
  expand(m, "a@example.com", &err);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->dsn, "4.6.0");
  EXPECT_EQ(expand(m, "self@example.com"), (std::vector<std::string>{"self@example.com", "copy@example.org"}));
  // Two branches reaching the same address: both kept here, dedupe removes one later.
  EXPECT_EQ(expand(m, "x@example.com"), (std::vector<std::string>{"w@example.org", "w@example.org"}));
  // A member shared by two aliases is expanded in both (it used to stay
  // unexpanded the second time, and bounce as an unknown alias).
  EXPECT_EQ(expand(m, "team@example.com"),
            (std::vector<std::string>{"alice@example.org", "alice@example.org", "bob@example.org"}));
}

TEST(Virtual, RecursionLimit) {
  TableDir t;
  std::string chain;
  for (int i = 0; i < 10; ++i) chain += fmt::format("u{}@example.com u{}@example.com\n", i, i + 1);
  auto o = default_options();
  o.virtual_recursion_limit = 5;
  auto m = mapper(o, "", "", "", t.table("virtual", chain));
  std::optional<MappingError> err;
  expand(m, "u0@example.com", &err);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->status, 451);
  EXPECT_EQ(err->dsn, "4.6.0");
  o.virtual_recursion_limit = 20;
  auto m2 = mapper(o, "", "", "", t.table("virtual2", chain));
  EXPECT_EQ(expand(m2, "u0@example.com"), std::vector<std::string>{"u10@example.com"});
}

TEST(Virtual, ExpansionLimit) {
  TableDir t;
  std::string many = "big@example.com ";
  for (int i = 0; i < 20; ++i) many += fmt::format("{}m{}@example.org", i ? ", " : "", i);
  auto o = default_options();
  o.virtual_expansion_limit = 10;
  auto m = mapper(o, "", "", "", t.table("virtual", many + "\n"));
  std::optional<MappingError> err;
  expand(m, "big@example.com", &err);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->status, 451);
  o.virtual_expansion_limit = 20;
  auto m2 = mapper(o, "", "", "", t.table("virtual2", many + "\n"));
  EXPECT_EQ(expand(m2, "big@example.com").size(), 20u);
}

TEST(Virtual, OverlongResultsDeferTheMessage) {
  TableDir t;
  std::string longaddr = std::string(60, 'l') + "@example.org";
  auto o = default_options();
  o.virtual_address_length_limit = 50;
  auto m = mapper(o, "", "", "",
                  t.table("virtual", "joe@example.com " + longaddr + ", short@example.org\n"
                                     "only@example.com " + longaddr + "\n"));
  // Postfix defers the whole message rather than drop one recipient.
  for (const char* rcpt : {"joe@example.com", "only@example.com"}) {
    std::optional<MappingError> err;
    expand(m, rcpt, &err);
    ASSERT_TRUE(err) << rcpt;
    EXPECT_EQ(err->status, 451);
    EXPECT_EQ(err->dsn, "4.6.0");
  }
}

TEST(DuplicateFilter, RemembersUpToTheLimit) {
  DuplicateFilter f(2, true);
  EXPECT_TRUE(f.first("a@x", "a@x", 0, ""));
  EXPECT_FALSE(f.first("a@x", "a@x", 0, ""));
  EXPECT_TRUE(f.first("a@x", "a@x", 2, ""));  // different NOTIFY: a different delivery request
  EXPECT_TRUE(f.first("b@x", "b@x", 0, ""));  // not remembered: limit reached
  EXPECT_TRUE(f.first("b@x", "b@x", 0, ""));
  DuplicateFilter unbounded(0, true);
  EXPECT_TRUE(unbounded.first("a@x", "a@x", 0, ""));
  EXPECT_FALSE(unbounded.first("a@x", "a@x", 0, ""));
}

TEST(DuplicateFilter, IgnoresCase) {  // Postfix's BH_FLAG_FOLD
  DuplicateFilter f(0, false);
  EXPECT_TRUE(f.first("User@Example.COM", "User@Example.COM", 0, ""));
  EXPECT_FALSE(f.first("user@example.com", "user@example.com", 0, ""));
}

TEST(DuplicateFilter, OriginalRecipientsKeepTheirOwnCopyUnlessDisabled) {
  // enable_original_recipient = yes (Postfix's default): two addresses that
  // map onto one mailbox stay two recipients.
  DuplicateFilter with(0, true);
  EXPECT_TRUE(with.first("box@x", "alias1@x", 0, ""));
  EXPECT_TRUE(with.first("box@x", "alias2@x", 0, ""));
  EXPECT_FALSE(with.first("box@x", "alias1@x", 0, ""));
  EXPECT_TRUE(with.first("box@x", "alias1@x", 0, "rfc822;alias1@x"));
  // = no: the address alone, whatever came with it.
  DuplicateFilter without(0, false);
  EXPECT_TRUE(without.first("box@x", "alias1@x", 0, ""));
  EXPECT_FALSE(without.first("box@x", "alias2@x", 2, "rfc822;alias2@x"));
}

TEST(Network, ParseAndMatch) {
  auto n = parse_network("192.0.2.0/24");
  ASSERT_TRUE(n);
  EXPECT_TRUE(network_contains(*n, "192.0.2.77"));
  EXPECT_FALSE(network_contains(*n, "192.0.3.1"));
  EXPECT_TRUE(network_contains(*n, "::ffff:192.0.2.5"));
  auto v6 = parse_network("[2001:db8::]/32");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(network_contains(*v6, "IPv6:2001:db8:1::1"));
  EXPECT_FALSE(network_contains(*v6, "2001:db9::1"));
  EXPECT_FALSE(network_contains(*v6, "garbage"));
  EXPECT_FALSE(parse_network("192.0.2.0/33"));
  EXPECT_FALSE(parse_network("nonsense"));
}

TEST(Settings, HeaderRewriteContext) {
  auto cfg = config::Config::from_text(
      "queue_directory = /nonexistent\nmyhostname = mx.example.com\n"
      "local_header_rewrite_clients = permit_mynetworks, permit_sasl_authenticated\n"
      "mynetworks = 10.0.0.0/8\n");
  ASSERT_TRUE(cfg) << cfg.error().message;
  auto s = CleanupSettings::from_config(*cfg);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->header_rewrite_context("", false), "local");  // sendmail, pickup
  EXPECT_EQ(s->header_rewrite_context("10.1.2.3", false), "local");
  EXPECT_EQ(s->header_rewrite_context("192.0.2.1", true), "local");
  EXPECT_EQ(s->header_rewrite_context("192.0.2.1", false), "");

  // IPv6 networks are written in brackets; they are networks, not tables.
  auto cfg6 = config::Config::from_text(
      "queue_directory = /nonexistent\nmyhostname = mx.example.com\n"
      "local_header_rewrite_clients = permit_mynetworks\nmynetworks = 10.0.0.0/8, [2001:db8::]/32, [::1]/128\n");
  ASSERT_TRUE(cfg6) << cfg6.error().message;
  auto s6 = CleanupSettings::from_config(*cfg6);
  ASSERT_TRUE(s6) << s6.error().message;
  EXPECT_EQ(s6->header_rewrite_context("2001:db8:1::5", false), "local");
  EXPECT_EQ(s6->header_rewrite_context("::1", false), "local");
  EXPECT_EQ(s6->header_rewrite_context("2001:db9::5", false), "");

  // mynetworks as smtpd reads it: "!" entries and tables count too.
  auto cfgt = config::Config::from_text(
      "queue_directory = /nonexistent\nmyhostname = mx.example.com\n"
      "local_header_rewrite_clients = permit_mynetworks\n"
      "mynetworks = !10.9.9.9, 10.0.0.0/8, inline:{ 192.0.2.7=yes }\n");
  ASSERT_TRUE(cfgt) << cfgt.error().message;
  auto st = CleanupSettings::from_config(*cfgt);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(st->header_rewrite_context("10.1.1.1", false), "local");
  EXPECT_EQ(st->header_rewrite_context("10.9.9.9", false), "");
  EXPECT_EQ(st->header_rewrite_context("192.0.2.7", false), "local");
  EXPECT_EQ(st->header_rewrite_context("192.0.2.8", false), "");

  auto cfg2 = config::Config::from_text(
      "queue_directory = /nonexistent\nmyhostname = mx.example.com\nremote_header_rewrite_domain = domain.invalid\n");
  ASSERT_TRUE(cfg2);
  auto s2 = CleanupSettings::from_config(*cfg2);
  ASSERT_TRUE(s2);
  EXPECT_EQ(s2->header_rewrite_context("127.0.0.1", false), "local");  // permit_inet_interfaces
  EXPECT_EQ(s2->header_rewrite_context("192.0.2.1", false), "remote");
}

TEST(Settings, BadValuesAreErrors) {
  auto cfg = config::Config::from_text("queue_directory = /q\nmyhostname = h.example\ncanonical_classes = nope\n");
  ASSERT_TRUE(cfg);
  EXPECT_FALSE(CleanupSettings::from_config(*cfg));
  auto cfg2 = config::Config::from_text("queue_directory = /q\nmyhostname = h.example\nheader_from_format = odd\n");
  ASSERT_TRUE(cfg2);
  EXPECT_FALSE(CleanupSettings::from_config(*cfg2));
}

}  // namespace
}  // namespace postern::cleanup
