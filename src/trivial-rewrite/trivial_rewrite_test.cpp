// Unit tests for trivial-rewrite's rewriting, resolution and request handling.
#include <gtest/gtest.h>

#include <fstream>
#include <unistd.h>

#include "resolve.h"
#include "rewrite.h"
#include "service.h"

using namespace postern;
using namespace postern::rewrite_service;
namespace flag = ipc::proto::resolve_flag;
namespace proto = ipc::proto;

namespace {

const char* kBase =
    "myhostname = mail.example.com\n"
    "mydomain = example.com\n"
    "inet_interfaces = loopback-only\n";

config::Config cfg(const std::string& extra = "") {
  auto c = config::Config::from_text(std::string(kBase) + extra);
  if (!c) ADD_FAILURE() << c.error().message;
  return std::move(*c);
}

std::string rw(const std::string& extra, std::string_view addr, bool remote = false) {
  auto c = RewriteContexts::from_config(cfg(extra));
  return rewrite_address(remote ? c.remote : c.local, addr);
}

Resolved res(const std::string& extra, std::string_view addr, std::optional<std::string_view> sender = {},
             Resolver::Mode mode = Resolver::Mode::Normal) {
  auto r = Resolver::create(cfg(extra), mode, std::vector<std::string>{"127.0.0.1", "::1", "192.0.2.1"});
  if (!r) {
    ADD_FAILURE() << r.error().message;
    return {};
  }
  return r->resolve(addr, sender);
}

}  // namespace

// ----------------------------------------------------------------- rewrite

TEST(Rewrite, AppendAtMyorigin) {
  EXPECT_EQ(rw("", "joe"), "joe@mail.example.com");
  EXPECT_EQ(rw("myorigin = example.com\n", "joe"), "joe@example.com");
  EXPECT_EQ(rw("append_at_myorigin = no\n", "joe"), "joe");
  EXPECT_EQ(rw("", "joe@example.org"), "joe@example.org");
}

TEST(Rewrite, AppendDotMydomain) {
  EXPECT_EQ(rw("", "joe@host"), "joe@host");  // off by default (Postfix 3 compatibility)
  EXPECT_EQ(rw("append_dot_mydomain = yes\n", "joe@host"), "joe@host.example.com");
  EXPECT_EQ(rw("append_dot_mydomain = yes\n", "joe@host.sub"), "joe@host.sub");
  EXPECT_EQ(rw("append_dot_mydomain = yes\n", "joe@[192.0.2.1]"), "joe@[192.0.2.1]");
  EXPECT_EQ(rw("append_dot_mydomain = yes\n", "joe@"), "joe@");
  EXPECT_EQ(rw("append_dot_mydomain = yes\nmyorigin = host\n", "joe"), "joe@host.example.com");
}

TEST(Rewrite, BangPath) {
  EXPECT_EQ(rw("", "host!joe"), "joe@host");
  EXPECT_EQ(rw("", "a!b!joe"), "b!joe@a");
  EXPECT_EQ(rw("swap_bangpath = no\n", "host!joe"), "host!joe@mail.example.com");
  EXPECT_EQ(rw("", "host!joe@example.org"), "host!joe@example.org");  // only without @
}

TEST(Rewrite, PercentHack) {
  EXPECT_EQ(rw("", "joe%example.org"), "joe@example.org");
  EXPECT_EQ(rw("", "joe%a%b"), "joe%a@b");
  EXPECT_EQ(rw("allow_percent_hack = no\n", "joe%example.org"), "joe%example.org@mail.example.com");
  EXPECT_EQ(rw("", "joe%a@example.org"), "joe%a@example.org");  // resolve handles this
}

TEST(Rewrite, SourceRouteAndTrailingDot) {
  EXPECT_EQ(rw("", "@a,@b:joe@example.org"), "joe@example.org");
  EXPECT_EQ(rw("", "@a:joe"), "joe@mail.example.com");
  EXPECT_EQ(rw("", "joe@example.org."), "joe@example.org");
  EXPECT_EQ(rw("", "joe@example.org.."), "joe@example.org..");
  EXPECT_EQ(rw("", "joe@."), "joe@.");
}

TEST(Rewrite, EmptyAndOddInput) {
  EXPECT_EQ(rw("", ""), "");
  EXPECT_EQ(rw("", "@"), "");
  EXPECT_EQ(rw("", "@a:"), "@a:");  // a route with nothing after it is not stripped; it has an "@"
  EXPECT_EQ(rw("", std::string("a\0b", 3)), std::string("a\0b@mail.example.com", 20));
}

TEST(Rewrite, RemoteContext) {
  // Empty remote_header_rewrite_domain: nothing is appended (Postfix).
  EXPECT_EQ(rw("", "joe", true), "joe");
  EXPECT_EQ(rw("", "host!joe", true), "joe@host");
  EXPECT_EQ(rw("remote_header_rewrite_domain = domain.invalid\n", "joe", true), "joe@domain.invalid");
  EXPECT_EQ(rw("remote_header_rewrite_domain = domain.invalid\nappend_dot_mydomain = yes\n", "joe@h", true),
            "joe@h.domain.invalid");
}

// ----------------------------------------------------------------- resolve

TEST(Resolve, LocalClass) {
  auto r = res("", "joe@mail.example.com");
  EXPECT_EQ(r.flags, flag::kLocal | flag::kFinal);
  EXPECT_EQ(r.transport, "local");
  EXPECT_EQ(r.nexthop, "mail.example.com");
  EXPECT_EQ(r.recipient, "joe@mail.example.com");
  EXPECT_EQ(res("", "joe@localhost").recipient, "joe@localhost");
  EXPECT_EQ(res("", "joe@LocalHost.example.com").flags & flag::kLocal, flag::kLocal);
  // No domain: the local machine.
  EXPECT_EQ(res("", "joe").recipient, "joe@mail.example.com");
  EXPECT_EQ(res("", "joe").flags & flag::kLocal, flag::kLocal);
  // Trailing dot.
  EXPECT_EQ(res("", "joe@localhost.").recipient, "joe@localhost");
  // local_transport with an explicit next hop; without one, the
  // recipient's domain (Postfix's resolve_addr()).
  EXPECT_EQ(res("local_transport = local:elsewhere\n", "joe@localhost").nexthop, "elsewhere");
  r = res("local_transport = mypipe\n", "joe@localhost");
  EXPECT_EQ(r.transport, "mypipe");
  EXPECT_EQ(r.nexthop, "localhost");
}

TEST(Resolve, UnqualifiedAddressesAreResolvedAsUserAtMyhostname) {
  // A null client (nothing local): "root" is relayed like
  // root@$myhostname, not handed to local_transport (Postfix since 2.11).
  std::string null_client = "mydestination =\nrelayhost = [hub.example.com]\n"
                            "local_transport = error:local delivery is disabled\n";
  auto r = res(null_client, "root");
  EXPECT_EQ(r.flags & flag::kLocal, 0);
  EXPECT_EQ(r.transport, "smtp");
  EXPECT_EQ(r.nexthop, "[hub.example.com]");
  EXPECT_EQ(r.recipient, "root@mail.example.com");
  r = res(null_client + "resolve_null_domain = yes\n", "root@");
  EXPECT_EQ(r.transport, "smtp");
  EXPECT_EQ(r.recipient, "root@mail.example.com");
}

TEST(Resolve, OwnAddressLiterals) {
  EXPECT_EQ(res("", "joe@[127.0.0.1]").flags & flag::kLocal, flag::kLocal);
  EXPECT_EQ(res("", "joe@[192.0.2.1]").flags & flag::kLocal, flag::kLocal);
  EXPECT_EQ(res("", "joe@[IPv6:0:0::1]").flags & flag::kLocal, flag::kLocal);
  auto r = res("", "joe@[192.0.2.99]");
  EXPECT_EQ(r.flags, flag::kDefault);
  EXPECT_EQ(r.nexthop, "[192.0.2.99]");
  // Bare IP: a syntax error unless resolve_numeric_domain.
  EXPECT_TRUE(res("", "joe@127.0.0.1").flags & flag::kError);
  EXPECT_EQ(res("resolve_numeric_domain = yes\n", "joe@127.0.0.1").flags & flag::kLocal, flag::kLocal);
  // ...and then the address literal (Postfix brackets the address).
  EXPECT_EQ(res("resolve_numeric_domain = yes\n", "joe@127.0.0.1").recipient, "joe@[127.0.0.1]");
  r = res("resolve_numeric_domain = yes\n", "joe@192.0.2.99");
  EXPECT_EQ(r.flags, flag::kDefault);
  EXPECT_EQ(r.recipient, "joe@[192.0.2.99]");
  EXPECT_EQ(r.nexthop, "[192.0.2.99]");
  // Local only through a bare address in mydestination: bad syntax without
  // resolve_numeric_domain, as the domain of any address.
  r = res("mydestination = localhost, 192.0.2.7\n", "joe@192.0.2.7");
  EXPECT_TRUE(r.flags & flag::kError);
  r = res("mydestination = localhost, 192.0.2.7\nresolve_numeric_domain = yes\n", "joe@192.0.2.7");
  EXPECT_EQ(r.flags & flag::kLocal, flag::kLocal);
  EXPECT_EQ(r.recipient, "joe@[192.0.2.7]");
  // IPv6: the RFC 5321 literal (Postfix writes "[2001:db8::9]").
  r = res("resolve_numeric_domain = yes\n", "joe@2001:db8::9");
  EXPECT_EQ(r.recipient, "joe@[IPv6:2001:db8::9]");
  EXPECT_EQ(r.nexthop, "[IPv6:2001:db8::9]");
}

TEST(Resolve, PercentHackAndRoutingThroughLocalDomains) {
  auto r = res("", "joe%example.org@localhost");
  EXPECT_EQ(r.flags, flag::kDefault);
  EXPECT_EQ(r.recipient, "joe@example.org");
  EXPECT_EQ(r.nexthop, "example.org");
  // Disabled: the local part keeps its %, delivered locally.
  r = res("allow_percent_hack = no\n", "joe%example.org@localhost");
  EXPECT_EQ(r.flags & flag::kLocal, flag::kLocal);
  EXPECT_EQ(r.recipient, "joe%example.org@localhost");
  // user@host@localhost and bang paths behind a local domain.
  EXPECT_EQ(res("", "joe@example.org@localhost").recipient, "joe@example.org");
  EXPECT_EQ(res("", "example.org!joe@localhost").recipient, "joe@example.org");
  // Percent hack into another local domain ends local.
  r = res("", "joe%localhost@mail.example.com");
  EXPECT_EQ(r.flags & flag::kLocal, flag::kLocal);
  EXPECT_EQ(r.recipient, "joe@localhost");
}

TEST(Resolve, RoutedFlag) {
  EXPECT_TRUE(res("", "joe%example.org@example.net").flags & flag::kRouted);
  EXPECT_TRUE(res("", "joe@example.org@example.net").flags & flag::kRouted);
  EXPECT_TRUE(res("", "a!joe@example.net").flags & flag::kRouted);
  EXPECT_TRUE(res("", "@relay.example:joe@example.net").flags & flag::kRouted);
  EXPECT_FALSE(res("", "joe@example.net").flags & flag::kRouted);
  EXPECT_FALSE(res("", "joe%x@localhost").flags & flag::kRouted);
  EXPECT_EQ(res("", "@relay.example:joe@example.net").recipient, "joe@example.net");
}

TEST(Resolve, EmptyAddresses) {
  auto r = res("", "");
  EXPECT_EQ(r.flags & flag::kLocal, flag::kLocal);
  EXPECT_EQ(r.recipient, "postmaster@mail.example.com");
  EXPECT_EQ(res("", "@localhost").recipient, "MAILER-DAEMON@localhost");
  EXPECT_TRUE(res("", "joe@").flags & flag::kError);
  EXPECT_EQ(res("resolve_null_domain = yes\n", "joe@").recipient, "joe@mail.example.com");
}

TEST(Resolve, VirtualAliasAndMailboxDomains) {
  auto r = res("virtual_alias_domains = alias.example\n", "joe@alias.example");
  EXPECT_EQ(r.flags, flag::kAlias | flag::kFinal);
  EXPECT_EQ(r.transport, "error");
  EXPECT_EQ(r.nexthop, "5.1.1 User unknown in virtual alias table");
  r = res("virtual_alias_domains = alias.example\nshow_user_unknown_table_name = no\n", "joe@alias.example");
  EXPECT_EQ(r.nexthop, "5.1.1 User unknown");
  r = res("virtual_mailbox_domains = vmail.example\n", "joe@vmail.example");
  EXPECT_EQ(r.flags, flag::kVirtual | flag::kFinal);
  EXPECT_EQ(r.transport, "virtual");
  // Postfix's next hop for the virtual class: the recipient's domain (a pipe
  // transport's ${nexthop}), unless the transport names one.
  EXPECT_EQ(r.nexthop, "vmail.example");
  r = res("virtual_mailbox_domains = vmail.example\nvirtual_transport = lmtp:unix:private/dovecot-lmtp\n",
          "joe@vmail.example");
  EXPECT_EQ(r.transport, "lmtp");
  EXPECT_EQ(r.nexthop, "unix:private/dovecot-lmtp");
  // Defaults follow the maps: virtual_mailbox_domains = $virtual_mailbox_maps.
  r = res("virtual_mailbox_maps = inline:{ joe@vm.example=vm/joe/, @vm.example=x }\n", "joe@vm.example");
  EXPECT_EQ(r.flags & flag::kVirtual, 0);  // the map's keys are addresses, "vm.example" is not a key
  r = res("virtual_mailbox_maps = inline:{ vm.example=x }\n", "joe@vm.example");
  EXPECT_EQ(r.flags & flag::kVirtual, flag::kVirtual);
  // Transport maps never override the alias class.
  r = res("virtual_alias_domains = alias.example\ntransport_maps = inline:{ *=smtp:[gw] }\n", "a@alias.example");
  EXPECT_EQ(r.transport, "error");
}

// Postfix matches mydestination and the virtual domain lists as whole
// names (string_list), even when parent_domain_matches_subdomains names them;
// relay_domains is the only domain list among them.
TEST(Resolve, DomainListsMatchWholeNames) {
  std::string c =
      "parent_domain_matches_subdomains = virtual_alias_domains, virtual_mailbox_domains, mydestination\n"
      "virtual_alias_domains = alias.example, .dot-alias.example\n"
      "virtual_mailbox_domains = vm.example, inline:{ table.example=1 }\n"
      "mydestination = localhost, mine.example\n";
  EXPECT_EQ(res(c, "a@alias.example").flags & flag::kAlias, flag::kAlias);
  EXPECT_EQ(res(c, "a@sub.alias.example").flags, flag::kDefault);
  EXPECT_EQ(res(c, "a@sub.dot-alias.example").flags, flag::kDefault);
  EXPECT_EQ(res(c, "a@VM.example").flags & flag::kVirtual, flag::kVirtual);
  EXPECT_EQ(res(c, "a@sub.vm.example").flags, flag::kDefault);
  EXPECT_EQ(res(c, "a@table.example").flags & flag::kVirtual, flag::kVirtual);
  EXPECT_EQ(res(c, "a@sub.table.example").flags, flag::kDefault);
  EXPECT_EQ(res(c, "a@mine.example").flags & flag::kLocal, flag::kLocal);
  EXPECT_EQ(res(c, "a@sub.mine.example").flags, flag::kDefault);
}

TEST(Resolve, RelayAndDefault) {
  auto r = res("relay_domains = relay.example\n", "joe@sub.relay.example");
  EXPECT_EQ(r.flags, flag::kRelay);  // relay_domains matches subdomains by default
  EXPECT_EQ(r.transport, "relay");
  EXPECT_EQ(r.nexthop, "sub.relay.example");
  r = res("relay_domains = relay.example\nrelayhost = [gw.example]:587\n", "joe@relay.example");
  EXPECT_EQ(r.nexthop, "[gw.example]:587");
  r = res("relay_domains = relay.example\nrelay_transport = relay:[inside.example]\nrelayhost = gw\n",
          "joe@relay.example");
  EXPECT_EQ(r.nexthop, "[inside.example]");

  r = res("", "Joe@Example.ORG");
  EXPECT_EQ(r.flags, flag::kDefault);
  EXPECT_EQ(r.transport, "smtp");
  EXPECT_EQ(r.nexthop, "Example.ORG");
  EXPECT_EQ(r.recipient, "Joe@Example.ORG");
  EXPECT_EQ(res("relayhost = [10.0.0.1]\n", "joe@example.org").nexthop, "[10.0.0.1]");
  EXPECT_EQ(res("default_transport = smtp:[a]\nrelayhost = [b]\n", "joe@example.org").nexthop, "[a]");
  r = res("default_transport = error:5.7.1 no outbound mail\n", "joe@example.org");
  EXPECT_EQ(r.transport, "error");
  EXPECT_EQ(r.nexthop, "5.7.1 no outbound mail");
}

TEST(Resolve, SenderDependent) {
  std::string c =
      "sender_dependent_relayhost_maps = inline:{ a@s.example=[gw-a], @s.example=[gw-s], "
      "dunno@s.example=DUNNO }\n"
      "relayhost = [gw]\n";
  EXPECT_EQ(res(c, "joe@example.org", "a@s.example").nexthop, "[gw-a]");
  EXPECT_EQ(res(c, "joe@example.org", "b@s.example").nexthop, "[gw-s]");
  EXPECT_EQ(res(c, "joe@example.org", "dunno@s.example").nexthop, "[gw]");
  EXPECT_EQ(res(c, "joe@example.org", "x@other.example").nexthop, "[gw]");
  EXPECT_EQ(res(c, "joe@example.org").nexthop, "[gw]");
  auto r = res("sender_dependent_default_transport_maps = inline:{ @s.example=lmtp:[lm] }\n", "joe@example.org",
               "a@s.example");
  EXPECT_EQ(r.transport, "lmtp");
  EXPECT_EQ(r.nexthop, "[lm]");
  // The search order of every address table: extension dropped, @domain.
  EXPECT_EQ(res(c + "recipient_delimiter = +\n", "joe@example.org", "a+x@s.example").nexthop, "[gw-a]");
  // The null sender, and a request without a sender, look up "<>"
  // (empty_address_*_lookup_key).
  c = "sender_dependent_relayhost_maps = inline:{ <>=[bounces], null=[null] }\n"
      "sender_dependent_default_transport_maps = inline:{ <>=bulk:, null=other: }\n";
  r = res(c, "joe@example.org", "");
  EXPECT_EQ(r.transport, "bulk");
  EXPECT_EQ(r.nexthop, "[bounces]");
  EXPECT_EQ(res(c, "joe@example.org").nexthop, "[bounces]");  // no sender at all: the same key
  r = res(c + "empty_address_relayhost_maps_lookup_key = null\n"
              "empty_address_default_transport_maps_lookup_key = null\n",
          "joe@example.org", "");
  EXPECT_EQ(r.transport, "other");
  EXPECT_EQ(r.nexthop, "[null]");
  EXPECT_EQ(res(c, "joe@example.org", "joe@example.net").nexthop, "example.org");
}

TEST(Resolve, TransportMapsSearchOrder) {
  std::string c =
      "recipient_delimiter = +\n"
      "transport_maps = inline:{ joe+x@example.org=full:[f], joe@example.org=user:[u], example.org=dom:[d], "
      ".sub.example.net=parent:[p], example.net=exact:, *=wild: }\n";
  auto r = res(c, "joe+x@example.org");
  EXPECT_EQ(r.transport, "full");
  EXPECT_EQ(r.nexthop, "[f]");
  r = res(c, "joe+y@example.org");
  EXPECT_EQ(r.transport, "user");
  r = res(c, "ann@example.org");
  EXPECT_EQ(r.transport, "dom");
  EXPECT_EQ(r.nexthop, "[d]");
  r = res(c, "ann@a.b.sub.example.net");
  EXPECT_EQ(r.transport, "parent");
  r = res(c, "ann@example.net");
  EXPECT_EQ(r.transport, "exact");
  EXPECT_EQ(r.nexthop, "example.net");  // "transport:" resets the next hop to the domain
  r = res(c, "ann@x.example.net");  // ".example.net" is not in the table; "example.net" does not match subdomains
  EXPECT_EQ(r.transport, "wild");
  EXPECT_EQ(r.nexthop, "x.example.net");
  r = res(c, "joe@localhost");  // the wildcard applies to local mail too
  EXPECT_EQ(r.transport, "wild");
  EXPECT_EQ(r.flags & flag::kLocal, flag::kLocal);
  // error and retry without a text get Postfix's.
  r = res("transport_maps = inline:{ a.example=error, b.example=retry:, { c.example = error:5.1.2 gone } }\n", "x@a.example");
  EXPECT_EQ(r.transport, "error");
  EXPECT_EQ(r.nexthop, "Address is undeliverable");
  r = res("transport_maps = inline:{ a.example=error, b.example=retry:, { c.example = error:5.1.2 gone } }\n", "x@b.example");
  EXPECT_EQ(r.nexthop, "Address is undeliverable");
  r = res("transport_maps = inline:{ a.example=error, b.example=retry:, { c.example = error:5.1.2 gone } }\n", "x@c.example");
  EXPECT_EQ(r.nexthop, "5.1.2 gone");
}

TEST(Resolve, RelocatedMapsWinInEveryClass) {
  std::string c =
      "myhostname = mx.example.com\nmydestination = $myhostname\nrecipient_delimiter = +\n"
      "virtual_mailbox_domains = vm.example\nvirtual_alias_domains = va.example\n"
      "transport_maps = inline:{ moved.example=smtp:[gw] }\n"
      "relocated_maps = inline:{ joe=joe@new.example, {ann@vm.example=ann@elsewhere.example},"
      " {@moved.example=the new office}, a@va.example=b@new.example }\n";
  for (auto [addr, where] : {std::pair{"joe@mx.example.com", "joe@new.example"},
                             std::pair{"joe+tag@mx.example.com", "joe@new.example"},
                             std::pair{"ann@vm.example", "ann@elsewhere.example"},
                             std::pair{"x@moved.example", "the new office"},
                             std::pair{"a@va.example", "b@new.example"}}) {
    auto r = res(c, addr);
    EXPECT_EQ(r.transport, "error") << addr;
    EXPECT_EQ(r.nexthop, std::string("5.1.6 User has moved to ") + where) << addr;
    EXPECT_EQ(r.flags & flag::kFinal, 0) << addr;
  }
  // Not listed: resolved as before.
  EXPECT_EQ(res(c, "bob@vm.example").transport, "virtual");
  EXPECT_EQ(res(c, "x@other.example").transport, "smtp");
}

TEST(Resolve, BareUserKeysMatchMyorigin) {
  // relocated(5) and the sender-dependent tables: "user" matches
  // user@$myorigin, also when $myorigin is not a local domain.
  std::string c = "myorigin = example.com\nmydestination = $myhostname, localhost\n"
                  "relocated_maps = inline:{ alice=alice@new.example }\n"
                  "sender_dependent_relayhost_maps = inline:{ bob=[smtp.isp.example]:587 }\n";
  auto r = res(c, "alice@example.com");
  EXPECT_EQ(r.transport, "error");
  EXPECT_EQ(r.nexthop, "5.1.6 User has moved to alice@new.example");
  EXPECT_EQ(res(c, "x@remote.example", std::string_view("bob@example.com")).nexthop, "[smtp.isp.example]:587");
  EXPECT_EQ(res(c, "x@remote.example", std::string_view("bob@other.example")).nexthop, "remote.example");
}

TEST(Resolve, RouteTablesTakeNoRegexpSubstitution) {
  // Postfix opens transport_maps and the sender-dependent tables with
  // DICT_FLAG_NO_REGSUB: an address must not choose where mail goes.
  std::string path = ::testing::TempDir() + "/transport.sub." + std::to_string(::getpid());
  {
    std::ofstream f(path);
    f << "/@(.+)$/ smtp:[$1]:2525\n/^joe@/ joes:[j]\n";
  }
  std::string c = "transport_maps = pcre:" + path + "\nsender_dependent_relayhost_maps = pcre:" + path + "\n";
  auto r = res(c, "ann@example.org", std::string_view("eve@attacker.example"));
  EXPECT_EQ(r.transport, "smtp");
  EXPECT_EQ(r.nexthop, "example.org");  // the $1 rule was skipped in both tables
  EXPECT_EQ(res(c, "joe@example.org").transport, "joes");
  ::unlink(path.c_str());
}

TEST(Resolve, TransportMapsParentStyleAndNullFields) {
  std::string c =
      "parent_domain_matches_subdomains = transport_maps\n"
      "transport_maps = inline:{ example.net=smtp:[p] }\n";
  EXPECT_EQ(res(c, "a@deep.sub.example.net").nexthop, "[p]");
  std::string n = "relayhost = [gw]\ntransport_maps = inline:{ keep.example=:, hop.example=:[h], tr.example=lmtp }\n";
  auto r = res(n, "a@keep.example");
  EXPECT_EQ(r.transport, "smtp");
  EXPECT_EQ(r.nexthop, "[gw]");
  r = res(n, "a@hop.example");
  EXPECT_EQ(r.transport, "smtp");
  EXPECT_EQ(r.nexthop, "[h]");
  r = res(n, "a@tr.example");
  EXPECT_EQ(r.transport, "lmtp");
  EXPECT_EQ(r.nexthop, "tr.example");
}

TEST(Resolve, TransportMapsPatternTablesSeeOnlyTheFullAddress) {
  std::string path = ::testing::TempDir() + "/transport.re." + std::to_string(::getpid());
  {
    std::ofstream f(path);
    f << "/^example\\.org$/ domainonly:\n/^joe@/ joes:[j]\n";
  }
  std::string c = "transport_maps = regexp:" + path + "\n";
  EXPECT_EQ(res(c, "joe@example.com").transport, "joes");
  EXPECT_EQ(res(c, "ann@example.org").transport, "smtp");  // the domain key is not given to regexp tables
  ::unlink(path.c_str());
}

TEST(Resolve, TableErrorsDefer) {
  std::string path = ::testing::TempDir() + "/missing.db." + std::to_string(::getpid());
  // A hash table that cannot be opened fails at startup, not per lookup.
  EXPECT_FALSE(Resolver::create(cfg("transport_maps = hash:" + path + "\n"), Resolver::Mode::Normal,
                                std::vector<std::string>{}));
  EXPECT_FALSE(Resolver::create(cfg("mydestination = nosuchtype:x\n"), Resolver::Mode::Normal,
                                std::vector<std::string>{}));
}

TEST(Resolve, BadSyntax) {
  for (auto a : {"joe@-bad-.example", "joe@exa mple.org", "joe@[300.1.1.1]", "joe@[tag:x]", "joe@a..b"}) {
    auto r = res("", a);
    EXPECT_TRUE(r.flags & flag::kError) << a;
    EXPECT_EQ(r.transport, "error") << a;
    EXPECT_EQ(r.nexthop.substr(0, 5), "5.1.3") << a;
  }
  // Many local hops are bounded, not looped on.
  std::string deep = "joe";
  for (int i = 0; i < 200; ++i) deep += "@localhost";
  auto r = res("", deep);
  EXPECT_TRUE(r.flags & flag::kError);
}

TEST(Resolve, EmptyTransportFails) {
  auto r = res("default_transport = :[x]\n", "joe@example.org");
  EXPECT_TRUE(r.flags & flag::kFail);
}

TEST(Resolve, VerifyMode) {
  std::string c =
      "relayhost = [gw]\naddress_verify_relayhost = [probe]\n"
      "address_verify_default_transport = smtp-probe\n";
  auto r = res(c, "joe@example.org", std::nullopt, Resolver::Mode::Verify);
  EXPECT_EQ(r.transport, "smtp-probe");
  EXPECT_EQ(r.nexthop, "[probe]");
  EXPECT_EQ(res(c, "joe@example.org").nexthop, "[gw]");
}

// ----------------------------------------------------------------- service

TEST(Service, Dispatch) {
  auto s = Service::create(cfg("remote_header_rewrite_domain = r.invalid\n"), std::vector<std::string>{});
  ASSERT_TRUE(s) << s.error().message;
  proto::RewriteRequest req;
  req.request = proto::RewriteOp::Rewrite;
  req.rule = "local";
  req.address = "joe";
  auto rep = s->handle(req);
  ASSERT_TRUE(std::holds_alternative<proto::RewriteReply>(rep));
  EXPECT_EQ(std::get<proto::RewriteReply>(rep).address, "joe@mail.example.com");
  req.rule = "remote";
  EXPECT_EQ(std::get<proto::RewriteReply>(s->handle(req)).address, "joe@r.invalid");
  req.rule = "bogus";
  rep = s->handle(req);
  ASSERT_TRUE(std::holds_alternative<proto::StatusReply>(rep));
  EXPECT_EQ(std::get<proto::StatusReply>(rep).status, proto::kStatusFail);

  req.rule.reset();
  req.request = proto::RewriteOp::Resolve;
  req.address = "joe@example.org";
  rep = s->handle(req);
  ASSERT_TRUE(std::holds_alternative<proto::ResolveReply>(rep));
  EXPECT_EQ(std::get<proto::ResolveReply>(rep).transport, "smtp");

  // An address that grows past the protocol limit comes back unchanged, flagged.
  req.request = proto::RewriteOp::Rewrite;
  req.rule = "local";
  req.address = std::string(proto::kMaxAddressLength, 'a');
  auto big = std::get<proto::RewriteReply>(s->handle(req));
  EXPECT_EQ(big.address, req.address);
  EXPECT_TRUE(big.flags & flag::kError);
}
