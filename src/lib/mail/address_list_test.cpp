// address_list_test.cpp - RFC 5322 address lists in header values.
#include "mail/address_list.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace postern::mail;

namespace {

AddressList parse_ok(std::string_view v, const AddressListOptions& o = {}) {
  auto r = parse_address_list(v, o);
  EXPECT_TRUE(r.ok()) << v << ": " << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : AddressList{};
}

std::vector<std::string> internals(const AddressList& l) {
  std::vector<std::string> out;
  for (const auto& h : l.addresses) out.push_back(h.address.to_internal());
  return out;
}

std::string span(std::string_view v, const HeaderAddress& h) {
  return std::string(v.substr(h.begin, h.end - h.begin));
}

using V = std::vector<std::string>;

}  // namespace

TEST(AddressList, PlainAndNamedAddresses) {
  std::string v = " alice@example.com, Bob Smith <bob@example.org>,\r\n\t\"Doe, Jane\" <jane@example.net>";
  AddressList l = parse_ok(v);
  EXPECT_EQ(internals(l), (V{"alice@example.com", "bob@example.org", "jane@example.net"}));
  ASSERT_EQ(l.addresses.size(), 3u);
  EXPECT_FALSE(l.addresses[0].angle);
  EXPECT_EQ(span(v, l.addresses[0]), "alice@example.com");
  EXPECT_TRUE(l.addresses[1].angle);
  EXPECT_EQ(l.addresses[1].display_name, "Bob Smith");
  EXPECT_EQ(span(v, l.addresses[1]), "bob@example.org");
  EXPECT_EQ(l.addresses[2].display_name, "\"Doe, Jane\"");
  EXPECT_EQ(l.addresses[2].address.local, "jane");
  EXPECT_EQ(l.addresses[2].address.domain, "example.net");
  EXPECT_FALSE(l.malformed);
  EXPECT_FALSE(l.truncated);
}

TEST(AddressList, Comments) {
  std::string v = "joe@example.com (Joe (the \\) Bloggs))";
  AddressList l = parse_ok(v);
  EXPECT_EQ(internals(l), (V{"joe@example.com"}));
  EXPECT_EQ(span(v, l.addresses[0]), "joe@example.com");
  AddressList inner = parse_ok("(c) joe(c)@(c)example.com(c)");
  EXPECT_EQ(internals(inner), (V{"joe@example.com"}));
  AddressList only = parse_ok("(nothing here)");
  EXPECT_TRUE(only.addresses.empty());
}

TEST(AddressList, Groups) {
  EXPECT_TRUE(parse_ok("undisclosed-recipients:;").addresses.empty());
  EXPECT_TRUE(parse_ok("Undisclosed recipients: ;").addresses.empty());
  AddressList l = parse_ok("friends: a@x.example, Bee <b@y.example>;, c@z.example");
  EXPECT_EQ(internals(l), (V{"a@x.example", "b@y.example", "c@z.example"}));
  EXPECT_EQ(l.addresses[0].group, "friends");
  EXPECT_EQ(l.addresses[1].group, "friends");
  EXPECT_EQ(l.addresses[1].display_name, "Bee");
  EXPECT_EQ(l.addresses[2].group, "");
  // Without a ';' later, ':' is part of an address (DECnet style), like Postfix.
  AddressList decnet = parse_ok("host::user");
  EXPECT_EQ(internals(decnet), (V{"host::user"}));
}

TEST(AddressList, QuotedLocalPartsAndLiterals) {
  AddressList l = parse_ok("\"john doe\"@example.com, \"a@b\"@example.org, u@[192.0.2.1]");
  ASSERT_EQ(l.addresses.size(), 3u);
  EXPECT_EQ(l.addresses[0].address.local, "john doe");
  EXPECT_EQ(l.addresses[0].address.to_external(), "\"john doe\"@example.com");
  EXPECT_EQ(l.addresses[1].address.local, "a@b");
  EXPECT_EQ(l.addresses[1].address.domain, "example.org");
  EXPECT_TRUE(l.addresses[1].address.has_routing_tricks().has(RoutingTrick::kQuotedAt));
  EXPECT_EQ(l.addresses[2].address.domain, "[192.0.2.1]");
  AddressList esc = parse_ok(R"("a\"b"@x.example)");
  EXPECT_EQ(esc.addresses.at(0).address.local, "a\"b");
}

TEST(AddressList, FoldingInsideQuotedStringIsUnfolded) {
  AddressList l = parse_ok("\"john\r\n doe\"@example.com");
  EXPECT_EQ(l.addresses.at(0).address.local, "john doe");
  AddressList tab = parse_ok("\"a\tb\"@example.com");
  EXPECT_EQ(tab.addresses.at(0).address.local, "a b");
}

TEST(AddressList, ObsoleteForms) {
  AddressList route = parse_ok("<@a.example,@b.example:user@host.example>");
  ASSERT_EQ(route.addresses.size(), 1u);
  EXPECT_EQ(route.addresses[0].address.route, "@a.example,@b.example");
  EXPECT_EQ(route.addresses[0].address.local, "user");
  EXPECT_EQ(route.addresses[0].address.domain, "host.example");
  EXPECT_FALSE(route.malformed);

  AddressList jqp = parse_ok("John Q. Public <jqp@example.com>");
  EXPECT_EQ(internals(jqp), (V{"jqp@example.com"}));
  EXPECT_EQ(jqp.addresses[0].display_name, "John Q. Public");

  AddressList dots = parse_ok("john . doe @ example . com");
  EXPECT_EQ(internals(dots), (V{"john.doe@example.com"}));

  AddressList no_domain = parse_ok("root, Some One <someone>");
  EXPECT_EQ(internals(no_domain), (V{"root", "someone"}));
  EXPECT_FALSE(no_domain.addresses[0].address.has_domain());
}

TEST(AddressList, MissingCommasLikePostfix) {
  EXPECT_EQ(internals(parse_ok("a b@c.example")), (V{"a", "b@c.example"}));
  EXPECT_EQ(internals(parse_ok("a@x.example b@y.example")), (V{"a@x.example", "b@y.example"}));
  EXPECT_EQ(internals(parse_ok("<a@x.example> <b@y.example>")), (V{"a@x.example", "b@y.example"}));
  EXPECT_EQ(internals(parse_ok("<a@x.example> junk")), (V{"a@x.example", "junk"}));
  EXPECT_EQ(internals(parse_ok("a!b%c@d.example")), (V{"a!b%c@d.example"}));
}

TEST(AddressList, DisplayNameThatLooksLikeAnAddress) {
  AddressList l = parse_ok("joe@fake.example <real@example.com>");
  EXPECT_EQ(internals(l), (V{"real@example.com"}));
  EXPECT_EQ(l.addresses[0].display_name, "joe@fake.example");
}

TEST(AddressList, MalformedInputIsToleratedAndFlagged) {
  AddressList q = parse_ok("\"unterminated@example.com");
  EXPECT_TRUE(q.malformed);
  AddressList c = parse_ok("a@example.com (unterminated");
  EXPECT_TRUE(c.malformed);
  EXPECT_EQ(internals(c), (V{"a@example.com"}));
  AddressList lit = parse_ok("a@[192.0.2.1");
  EXPECT_TRUE(lit.malformed);
  AddressList open = parse_ok("Name <a@example.com, b@example.org");
  EXPECT_TRUE(open.malformed);
  EXPECT_EQ(internals(open), (V{"a@example.com", "b@example.org"}));
  AddressList stray = parse_ok("a@example.com>, b@example.org");
  EXPECT_TRUE(stray.malformed);
  EXPECT_EQ(internals(stray), (V{"a@example.com", "b@example.org"}));
  AddressList empty = parse_ok("<>, ,,;:@.");
  for (const auto& h : empty.addresses) EXPECT_FALSE(h.address.is_null());
  EXPECT_TRUE(parse_ok("").addresses.empty());
  EXPECT_TRUE(parse_ok("   \r\n\t ").addresses.empty());
  AddressList trailing_bs = parse_ok("a\\");
  EXPECT_EQ(internals(trailing_bs), (V{"a"}));
}

TEST(AddressList, BoundsAreEnforced) {
  AddressListOptions o;
  o.max_bytes = 100;
  EXPECT_FALSE(parse_address_list(std::string(101, 'a'), o).ok());
  EXPECT_TRUE(parse_address_list(std::string(100, 'a'), o).ok());

  AddressListOptions depth;
  depth.max_comment_depth = 5;
  EXPECT_TRUE(parse_address_list("a@b.example (1(2(3(4(5)))))", depth).ok());
  EXPECT_FALSE(parse_address_list("a@b.example (1(2(3(4(5(6))))))", depth).ok());
  // Deep nesting with the default limit: an error, not a stack overflow.
  EXPECT_FALSE(parse_address_list(std::string(50000, '('), AddressListOptions{}).ok());

  AddressListOptions tokens;
  tokens.max_tokens = 7;
  AddressList t = parse_ok("a@b.example, c@d.example, e@f.example", tokens);
  EXPECT_TRUE(t.truncated);
  EXPECT_EQ(internals(t), (V{"a@b.example", "c"}));
}

TEST(AddressList, RewritePreservesEverythingElse) {
  std::string v = " Joe <joe@example.com>, bob (Bob), \"x y\"@example.org";
  AddressList l = parse_ok(v);
  ASSERT_EQ(l.addresses.size(), 3u);
  std::string out = rewrite_address_list(v, l, [](const HeaderAddress& h) -> std::optional<Address> {
    if (h.address.has_domain()) {
      if (h.address.local == "x y") return Address{"x y z", "example.net", ""};
      return std::nullopt;
    }
    return Address{h.address.local, "example.com", ""};
  });
  EXPECT_EQ(out, " Joe <joe@example.com>, bob@example.com (Bob), \"x y z\"@example.net");

  // Identity rewrite returns the input unchanged.
  std::string same = rewrite_address_list(v, l, [](const HeaderAddress&) { return std::nullopt; });
  EXPECT_EQ(same, v);

  // Rewritten output parses back to the rewritten addresses.
  AddressList again = parse_ok(out);
  EXPECT_EQ(internals(again), (V{"joe@example.com", "bob@example.com", "x y z@example.net"}));
}
