// peer_test.cpp - decode_peer(): the address forms a daemon logs.
#include "server/peer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <gtest/gtest.h>

namespace postern::server {
namespace {

TEST(DecodePeer, IPv4) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(2525);
  ASSERT_EQ(::inet_pton(AF_INET, "192.0.2.7", &in.sin_addr), 1);
  auto p = decode_peer(reinterpret_cast<const sockaddr*>(&in));
  EXPECT_EQ(p.addr, "192.0.2.7");
  EXPECT_EQ(p.port, "2525");
  ASSERT_TRUE(p.ip);
  EXPECT_TRUE(p.ip->is_v4());
  EXPECT_FALSE(p.unix_domain);
}

TEST(DecodePeer, IPv6AndMappedIPv4) {
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(25);
  ASSERT_EQ(::inet_pton(AF_INET6, "2001:db8::1", &in6.sin6_addr), 1);
  auto p = decode_peer(reinterpret_cast<const sockaddr*>(&in6));
  EXPECT_EQ(p.addr, "2001:db8::1");
  EXPECT_EQ(p.port, "25");
  ASSERT_TRUE(p.ip);
  EXPECT_TRUE(p.ip->is_v6());
  // An IPv4 client on an IPv6 socket is shown as IPv4, as Postfix shows it.
  ASSERT_EQ(::inet_pton(AF_INET6, "::ffff:192.0.2.9", &in6.sin6_addr), 1);
  p = decode_peer(reinterpret_cast<const sockaddr*>(&in6));
  EXPECT_EQ(p.addr, "192.0.2.9");
  ASSERT_TRUE(p.ip);
  EXPECT_TRUE(p.ip->is_v4());
}

TEST(DecodePeer, UnixDomainAndUnknown) {
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  auto p = decode_peer(reinterpret_cast<const sockaddr*>(&un));
  EXPECT_TRUE(p.unix_domain);
  EXPECT_TRUE(p.addr.empty());
  EXPECT_FALSE(p.ip);
  p = decode_peer(nullptr);
  EXPECT_FALSE(p.unix_domain);
  EXPECT_FALSE(p.ip);
}

}  // namespace
}  // namespace postern::server
