// network_list_test.cpp - addresses and networks, negation, files and tables.
#include "maps/network_list.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

using namespace postern;
using namespace postern::maps;

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
  std::string path = ::testing::TempDir() + "/network_list.txt";
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
  EXPECT_FALSE(NetworkList::parse("t", "/nonexistent/file/for/maps"));
  EXPECT_FALSE(NetworkList::parse("t", "!"));
}

