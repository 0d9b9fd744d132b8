// haproxy_test.cpp - PROXY protocol headers, v1 and v2.
#include "smtpd/haproxy.h"

#include <gtest/gtest.h>

using namespace postern::smtpd;

namespace {

std::string v2(unsigned char ver_cmd, unsigned char fam, const std::string& body) {
  std::string s("\r\n\r\n\0\r\nQUIT\n", 12);
  s += static_cast<char>(ver_cmd);
  s += static_cast<char>(fam);
  s += static_cast<char>(body.size() >> 8);
  s += static_cast<char>(body.size() & 0xff);
  return s + body;
}

}  // namespace

TEST(ProxyHeader, V1Tcp4AndTcp6) {
  auto h = parse_proxy_header("PROXY TCP4 198.51.100.7 192.0.2.1 40000 25\r\nEHLO x\r\n");
  ASSERT_TRUE(h);
  ASSERT_TRUE(*h);
  EXPECT_FALSE((*h)->local);
  EXPECT_EQ((*h)->client_addr, "198.51.100.7");
  EXPECT_EQ((*h)->client_port, 40000);
  EXPECT_EQ((*h)->server_addr, "192.0.2.1");
  EXPECT_EQ((*h)->server_port, 25);
  EXPECT_EQ((*h)->consumed, std::string("PROXY TCP4 198.51.100.7 192.0.2.1 40000 25\r\n").size());
  auto h6 = parse_proxy_header("PROXY TCP6 2001:db8::7 2001:db8::1 1 587\r\n");
  ASSERT_TRUE(h6 && *h6);
  EXPECT_EQ((*h6)->client_addr, "2001:db8::7");
  auto unknown = parse_proxy_header("PROXY UNKNOWN\r\n");
  ASSERT_TRUE(unknown && *unknown);
  EXPECT_TRUE((*unknown)->local);
}

TEST(ProxyHeader, V1NeedsMoreUntilTheLineEnds) {
  for (std::string part : {"P", "PROXY", "PROXY TCP4 198.51.100.7", "PROXY TCP4 198.51.100.7 192.0.2.1 40000 25\r"}) {
    auto h = parse_proxy_header(part);
    ASSERT_TRUE(h) << part;
    EXPECT_FALSE(*h) << part;
  }
}

TEST(ProxyHeader, V1Malformed) {
  for (std::string bad : {"EHLO client\r\n", "PROXY TCP5 1.2.3.4 1.2.3.5 1 2\r\n", "PROXY TCP4 1.2.3.4 1.2.3.5 1\r\n",
                          "PROXY TCP4 1.2.3.4 1.2.3.5 1 2 3\r\n", "PROXY TCP4 1.2.3.999 1.2.3.5 1 2\r\n",
                          "PROXY TCP4 2001:db8::1 1.2.3.5 1 2\r\n", "PROXY TCP4 1.2.3.4 1.2.3.5 65536 2\r\n",
                          "PROXY TCP4 1.2.3.4 1.2.3.5 01 2\r\n", "PROXY TCP4  1.2.3.4 1.2.3.5 1 2\r\n",
                          "PROXY TCP4 1.2.3.4 1.2.3.5 -1 2\r\n"}) {
    auto h = parse_proxy_header(bad);
    EXPECT_FALSE(h) << bad;
  }
  // No line end within the 107 bytes a v1 header may have.
  EXPECT_FALSE(parse_proxy_header("PROXY TCP4 " + std::string(200, '1')));
}

TEST(ProxyHeader, V2ProxyAndLocal) {
  std::string a4 = {'\xc6', '\x33', '\x64', '\x07', '\xc0', '\x00', '\x02', '\x01', '\x9c', '\x40', '\x00', '\x19'};
  auto h = parse_proxy_header(v2(0x21, 0x11, a4 + std::string("\x03\x00\x04xxxx", 7)) + "EHLO");
  ASSERT_TRUE(h) << h.error().message;
  ASSERT_TRUE(*h);
  EXPECT_EQ((*h)->client_addr, "198.51.100.7");
  EXPECT_EQ((*h)->client_port, 40000);
  EXPECT_EQ((*h)->server_port, 25);
  EXPECT_EQ((*h)->consumed, 16u + 12 + 7);  // TLVs skipped, SMTP starts after them
  std::string a6(36, '\0');
  a6[0] = '\x20';
  a6[1] = '\x01';
  a6[2] = '\x0d';
  a6[3] = '\xb8';
  a6[15] = '\x07';
  a6[33] = '\x05';
  auto h6 = parse_proxy_header(v2(0x21, 0x21, a6));
  ASSERT_TRUE(h6 && *h6);
  EXPECT_EQ((*h6)->client_addr, "2001:db8::7");
  EXPECT_EQ((*h6)->client_port, 5);
  auto local = parse_proxy_header(v2(0x20, 0x00, ""));
  ASSERT_TRUE(local && *local);
  EXPECT_TRUE((*local)->local);
}

TEST(ProxyHeader, V2PartialAndMalformed) {
  std::string full = v2(0x21, 0x11, std::string(12, '\x01'));
  for (std::size_t n = 1; n < full.size(); ++n) {
    auto h = parse_proxy_header(full.substr(0, n));
    ASSERT_TRUE(h) << n;
    EXPECT_FALSE(*h) << n;
  }
  EXPECT_FALSE(parse_proxy_header(v2(0x11, 0x11, std::string(12, '\x01'))));   // version 1 in a v2 signature
  EXPECT_FALSE(parse_proxy_header(v2(0x22, 0x11, std::string(12, '\x01'))));   // command 2
  EXPECT_FALSE(parse_proxy_header(v2(0x21, 0x12, std::string(12, '\x01'))));   // datagram
  EXPECT_FALSE(parse_proxy_header(v2(0x21, 0x31, std::string(216, '\x01'))));  // AF_UNIX
  EXPECT_FALSE(parse_proxy_header(v2(0x21, 0x11, std::string(8, '\x01'))));    // too short for IPv4
  EXPECT_FALSE(parse_proxy_header(v2(0x21, 0x21, std::string(20, '\x01'))));   // too short for IPv6
  EXPECT_FALSE(parse_proxy_header(v2(0x21, 0x11, std::string(4000, '\x01'))));  // too long
}
