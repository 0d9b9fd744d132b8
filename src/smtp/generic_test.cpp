// generic_test.cpp - smtp_generic_maps: envelope and header addresses.
#include "generic.h"

#include <gtest/gtest.h>

namespace postern::smtp_client {
namespace {

std::unique_ptr<GenericMaps> open(const std::string& table, bool propagate = false) {
  GenericMaps::Options o;
  o.recipient_delimiter = "+";
  o.propagate_extension = propagate;
  o.myorigin = "box.lan";
  o.local_domains = {"localhost"};
  auto g = GenericMaps::open("smtp_generic_maps", table, o);
  EXPECT_TRUE(g) << (g ? "" : g.error().message);
  return g ? std::move(*g) : nullptr;
}

const char* kTable =
    "inline:{ {joe@box.lan = joe.public@isp.example}, {root = admin@isp.example}, {@box.lan = @isp.example} }";

}  // namespace

TEST(GenericMaps, EmptyListIsNone) {
  auto g = GenericMaps::open("smtp_generic_maps", " ", {});
  ASSERT_TRUE(g);
  EXPECT_FALSE(*g);
}

TEST(GenericMaps, SearchOrderOfGeneric5) {
  auto g = open(kTable);
  ASSERT_TRUE(g);
  EXPECT_EQ(*g->map("joe@box.lan", "Q"), "joe.public@isp.example");
  // "user" only for local domains.
  EXPECT_EQ(*g->map("root@localhost", "Q"), "admin@isp.example");
  EXPECT_EQ(*g->map("root@elsewhere.example", "Q"), "root@elsewhere.example");
  // "@domain" keeps the local part.
  EXPECT_EQ(*g->map("ann@box.lan", "Q"), "ann@isp.example");
  // Extensions: the base address matches; put back only with "generic" in
  // propagate_unmatched_extensions.
  EXPECT_EQ(*g->map("joe+lists@box.lan", "Q"), "joe.public@isp.example");
  auto p = open(kTable, true);
  EXPECT_EQ(*p->map("joe+lists@box.lan", "Q"), "joe.public+lists@isp.example");
  EXPECT_EQ(*g->map("other@else.example", "Q"), "other@else.example");
}

TEST(GenericMaps, HeaderAddressesOnly) {
  auto g = open(kTable);
  ASSERT_TRUE(g);
  mail::Header from{"From", " Joe <joe@box.lan>, ann@box.lan (Ann)", mail::classify_header("From")};
  auto v = g->header_value(from, "Q");
  ASSERT_TRUE(v);
  ASSERT_TRUE(*v);
  EXPECT_EQ(**v, " Joe <joe.public@isp.example>, ann@isp.example (Ann)");
  mail::Header subject{"Subject", " mail for joe@box.lan", mail::classify_header("Subject")};
  EXPECT_FALSE(*g->header_value(subject, "Q"));
  mail::Header to{"To", " someone@else.example", mail::classify_header("To")};
  EXPECT_FALSE(*g->header_value(to, "Q"));  // nothing changed
}
}  // namespace postern::smtp_client
