// biff_test.cpp - the comsat datagram, received on an ephemeral loopback port.
#include "deliver/biff.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>

using namespace postern;

TEST(Biff, SendsLognameAtOffsetWithNul) {
  int s = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(s, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&sin), sizeof sin), 0);
  socklen_t len = sizeof sin;
  ASSERT_EQ(::getsockname(s, reinterpret_cast<sockaddr*>(&sin), &len), 0);
  const std::uint16_t port = ntohs(sin.sin_port);

  ASSERT_TRUE(deliver::notify_biff("bob", 123456, port));
  pollfd p{s, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  char buf[600];
  ssize_t n = ::recv(s, buf, sizeof buf, 0);
  EXPECT_EQ(std::string(buf, static_cast<std::size_t>(n)), std::string("bob@123456\0", 11));

  // An absurd name is cut, never overflows a datagram.
  ASSERT_TRUE(deliver::notify_biff(std::string(5000, 'x'), 0, port));
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  n = ::recv(s, buf, sizeof buf, 0);
  EXPECT_EQ(static_cast<std::size_t>(n), deliver::kMaxBiffName + 3);
  ::close(s);
}
