#include "dns/nexthop.h"

#include <set>

#include <gtest/gtest.h>

#include "dns/name.h"

using namespace postern;
using namespace postern::dns;

TEST(Nexthop, DomainDoesMxLookup) {
  auto n = parse_nexthop("Example.COM.");
  ASSERT_TRUE(n.ok()) << n.error().message;
  EXPECT_EQ(n->host, "example.com");
  EXPECT_TRUE(n->mx_lookup);
  EXPECT_FALSE(n->literal);
  EXPECT_FALSE(n->port);

  n = parse_nexthop("example.com:2525");
  ASSERT_TRUE(n.ok());
  EXPECT_TRUE(n->mx_lookup);
  EXPECT_EQ(n->port, 2525);
}

TEST(Nexthop, BracketsSkipMx) {
  auto n = parse_nexthop("[mail.example.com]");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->host, "mail.example.com");
  EXPECT_FALSE(n->mx_lookup);
  EXPECT_FALSE(n->port);

  n = parse_nexthop("[mail.example.com]:587");
  ASSERT_TRUE(n.ok());
  EXPECT_FALSE(n->mx_lookup);
  EXPECT_EQ(n->port, 587);
}

TEST(Nexthop, Literals) {
  auto n = parse_nexthop("[192.0.2.1]");
  ASSERT_TRUE(n.ok());
  ASSERT_TRUE(n->literal);
  EXPECT_EQ(n->literal->to_string(), "192.0.2.1");
  EXPECT_FALSE(n->mx_lookup);

  n = parse_nexthop("[192.0.2.1]:2525");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->port, 2525);

  n = parse_nexthop("[2001:DB8::1]");
  ASSERT_TRUE(n.ok());
  ASSERT_TRUE(n->literal);
  EXPECT_EQ(n->host, "2001:db8::1");

  n = parse_nexthop("[ipv6:2001:db8::1]:25");
  ASSERT_TRUE(n.ok());
  ASSERT_TRUE(n->literal);
  EXPECT_TRUE(n->literal->is_v6());
  EXPECT_EQ(n->port, 25);

  n = parse_nexthop("192.0.2.9:26");
  ASSERT_TRUE(n.ok());
  ASSERT_TRUE(n->literal);
  EXPECT_FALSE(n->mx_lookup);
  EXPECT_EQ(n->port, 26);
}

TEST(Nexthop, ServiceNames) {
  auto n = parse_nexthop("[relay.example]:submission");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->port, 587);
  EXPECT_EQ(*parse_port("smtp"), 25);
  EXPECT_EQ(*parse_port("lmtp"), 24);
  EXPECT_EQ(*parse_port("65535"), 65535);
  EXPECT_FALSE(parse_port("0").ok());
  EXPECT_FALSE(parse_port("65536").ok());
  EXPECT_FALSE(parse_port("-1").ok());
  EXPECT_FALSE(parse_port("no-such-service-here").ok());
  EXPECT_FALSE(parse_port("a b").ok());
  EXPECT_FALSE(parse_port(std::string(100, 'x')).ok());
}

TEST(Nexthop, Malformed) {
  for (const char* bad : {"", "[", "[]", "[]:25", "[host", "[host]x", "[host]:", "host:", ":25", "host:0",
                          "host:65536", "host:nosuchservice", "2001:db8::1", "[ipv6:192.0.2.1]", "[1.2.3]",
                          "[1.2.3.4.5]", "exa mple.com", "[2001:db8::zz]", "a..b", "[ipv6:]", "1.2.3"}) {
    EXPECT_FALSE(parse_nexthop(bad).ok()) << bad;
  }
  EXPECT_FALSE(parse_nexthop(std::string(5000, 'a')).ok());
}

namespace {

Destination d(const char* ip, std::uint16_t pref = 10) {
  return Destination{*parse_ip(ip), 25, "h", pref};
}

}  // namespace

TEST(Ordering, FamilyPreference) {
  std::mt19937_64 rng(1);
  NexthopOptions o;
  o.preference = AddressPreference::Ipv6;
  std::vector<Destination> g{d("192.0.2.1"), d("2001:db8::1"), d("192.0.2.2"), d("2001:db8::2")};
  order_group(g, o, rng);
  EXPECT_TRUE(g[0].address.is_v6());
  EXPECT_TRUE(g[1].address.is_v6());
  EXPECT_TRUE(g[2].address.is_v4());

  o.preference = AddressPreference::Ipv4;
  order_group(g, o, rng);
  EXPECT_TRUE(g[0].address.is_v4());
  EXPECT_TRUE(g[1].address.is_v4());
}

TEST(Ordering, RandomizeOrNot) {
  std::mt19937_64 rng(7);
  NexthopOptions o;
  o.randomize_addresses = false;
  std::vector<Destination> base{d("192.0.2.1"), d("192.0.2.2"), d("192.0.2.3")};
  auto g = base;
  order_group(g, o, rng);
  EXPECT_EQ(g, base);
  o.randomize_addresses = true;
  std::set<std::string> firsts;
  for (int i = 0; i < 60; ++i) {
    g = base;
    order_group(g, o, rng);
    firsts.insert(g[0].address.to_string());
  }
  EXPECT_EQ(firsts.size(), 3u);
}

TEST(Ordering, LimitAndBalance) {
  NexthopOptions o;
  o.mx_address_limit = 3;
  std::vector<Destination> all{d("192.0.2.1"), d("192.0.2.2"), d("192.0.2.3"), d("192.0.2.4"),
                               d("2001:db8::1", 20), d("2001:db8::2", 20)};
  auto v = all;
  limit_destinations(v, o);
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0].address.to_string(), "192.0.2.1");
  EXPECT_EQ(v[1].address.to_string(), "192.0.2.2");
  // The last slot went to the best address of the other family.
  EXPECT_EQ(v[2].address.to_string(), "2001:db8::1");

  o.balance_families = false;
  v = all;
  limit_destinations(v, o);
  EXPECT_EQ(v[2].address.to_string(), "192.0.2.3");

  // Already mixed: plain cut.
  o.balance_families = true;
  v = {d("2001:db8::1"), d("192.0.2.1"), d("192.0.2.2"), d("192.0.2.3")};
  limit_destinations(v, o);
  EXPECT_EQ(v[2].address.to_string(), "192.0.2.2");

  // No limit: everything up to kMaxDestinations.
  o.mx_address_limit = 0;
  v = all;
  limit_destinations(v, o);
  EXPECT_EQ(v.size(), all.size());
  EXPECT_EQ(address_limit(o), kMaxDestinations);
}

TEST(Ordering, AddressPreferenceParse) {
  EXPECT_EQ(*parse_address_preference("any"), AddressPreference::Any);
  EXPECT_EQ(*parse_address_preference(" IPv6 "), AddressPreference::Ipv6);
  EXPECT_FALSE(parse_address_preference("both").ok());
}
