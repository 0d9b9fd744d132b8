#include "dns/hosts_file.h"

#include <gtest/gtest.h>

namespace postern::dns {
namespace {

TEST(HostsFile, FirstNameOfFirstLineWins) {
  auto h = HostsFile::parse(
      "# comment\n"
      "127.0.0.1\tlocalhost localhost.localdomain\n"
      "127.0.1.1 vm.example vm # trailing comment\n"
      "127.0.0.1 other\n"
      "::1 ip6-localhost ip6-loopback\n"
      "fe80::1%eth0 scoped\n"
      "not-an-address name\n"
      "10.0.0.1 bad/name\n"
      "10.0.0.2\n");
  EXPECT_EQ(h.name_of("127.0.0.1"), "localhost");
  EXPECT_EQ(h.name_of("127.0.1.1"), "vm.example");
  EXPECT_EQ(h.name_of("::1"), "ip6-localhost");
  EXPECT_EQ(h.name_of("0:0:0:0:0:0:0:1"), "ip6-localhost");  // any spelling
  EXPECT_FALSE(h.name_of("10.0.0.1"));
  EXPECT_FALSE(h.name_of("10.0.0.2"));
  EXPECT_FALSE(h.name_of("192.0.2.1"));
  EXPECT_FALSE(h.name_of("garbage"));
  EXPECT_EQ(h.size(), 3u);
}

TEST(HostsFile, BoundedAndMissing) {
  std::string big;
  for (int i = 0; i < 20000; ++i) big += "10." + std::to_string(i / 65536) + "." + std::to_string((i / 256) % 256) + "." +
                                         std::to_string(i % 256) + " h" + std::to_string(i) + "\n";
  EXPECT_EQ(HostsFile::parse(big).size(), kMaxHostsEntries);
  EXPECT_EQ(HostsFile::load("/nonexistent/hosts").size(), 0u);
  EXPECT_EQ(HostsFile::parse(std::string("127.0.0.1 a\0b\n", 14)).size(), 0u);
}

}  // namespace
}  // namespace postern::dns
