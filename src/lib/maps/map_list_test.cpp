// map_list_test.cpp - MapList (maps_find semantics) and the address search order.
#include "maps/map_list.h"

#include <gtest/gtest.h>

#include <map>

#include "maps/address_search.h"
#include "maps/test_support.h"

namespace postern::maps {
namespace {

using testing::quiet;

// A table that answers from a map and records every key it is asked.
class FakeTable final : public Table {
 public:
  FakeTable(std::string name, std::map<std::string, std::string> kv, bool fixed,
            std::vector<std::string>* log)
      : Table("fake", std::move(name), OpenOptions{}), kv_(std::move(kv)), fixed_(fixed), log_(log) {}
  bool fixed() const override { return fixed_; }
  Result<std::optional<std::string>> lookup(std::string_view key) override {
    if (log_) log_->push_back(name() + ":" + std::string(key));
    if (key == "explode") return make_error("disk on fire");
    auto it = kv_.find(std::string(key));
    if (it == kv_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }

 private:
  std::map<std::string, std::string> kv_;
  bool fixed_;
  std::vector<std::string>* log_;
};

MapList make(std::vector<std::unique_ptr<Table>> v) { return MapList("test_maps", std::move(v)); }

std::string show(const Result<std::optional<std::string>>& r) {
  if (!r) return "<error: " + r.error().message + ">";
  return r->value_or("<none>");
}

TEST(MapList, FirstMatchWinsAndErrorsStopTheSearch) {
  std::vector<std::string> log;
  std::vector<std::unique_ptr<Table>> v;
  v.push_back(std::make_unique<FakeTable>("one", std::map<std::string, std::string>{{"a", "1"}}, true, &log));
  v.push_back(std::make_unique<FakeTable>("two", std::map<std::string, std::string>{{"a", "2"}, {"b", "2"}},
                                          true, &log));
  auto m = make(std::move(v));
  EXPECT_EQ(show(m.lookup("a")), "1");
  EXPECT_EQ(show(m.lookup("b")), "2");
  EXPECT_EQ(show(m.lookup("c")), "<none>");
  log.clear();
  EXPECT_EQ(show(m.lookup("explode")),
            "<error: test_maps: fake:one lookup error for \"explode\": disk on fire>");
  EXPECT_EQ(log, (std::vector<std::string>{"one:explode"}));
  log.clear();
  EXPECT_EQ(show(m.lookup("")), "<none>");
  EXPECT_TRUE(log.empty());
}

TEST(MapList, EmptyResultIsAConfigurationError) {
  std::vector<std::unique_ptr<Table>> v;
  v.push_back(
      std::make_unique<FakeTable>("one", std::map<std::string, std::string>{{"a", ""}}, true, nullptr));
  auto m = make(std::move(v));
  EXPECT_EQ(show(m.lookup("a")), "<error: test_maps lookup of a returns an empty string result>");
}

TEST(MapList, FixedOnlySkipsPatternTables) {
  std::vector<std::string> log;
  std::vector<std::unique_ptr<Table>> v;
  v.push_back(
      std::make_unique<FakeTable>("pat", std::map<std::string, std::string>{{"a", "p"}}, false, &log));
  v.push_back(std::make_unique<FakeTable>("fix", std::map<std::string, std::string>{{"a", "f"}}, true, &log));
  auto m = make(std::move(v));
  EXPECT_EQ(show(m.lookup("a", true)), "f");
  EXPECT_EQ(log, (std::vector<std::string>{"fix:a"}));
  EXPECT_EQ(show(m.lookup("a")), "p");
}

TEST(MapList, OpenParsesListsWithInlineBraces) {
  auto m = MapList::open("virtual_alias_maps", "inline:{ a=1, b=2 }, static:{ fall back }", quiet());
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->size(), 2u);
  EXPECT_EQ(show(m->lookup("B")), "2");
  EXPECT_EQ(show(m->lookup("zzz")), "fall back");
  EXPECT_FALSE(m->changed());
  auto bad = MapList::open("alias_maps", "static:x nis:mail.aliases", quiet());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "alias_maps: unsupported dictionary type: nis");
  auto empty = MapList::open("alias_maps", "  ", quiet());
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(StripExtension, PostfixRules) {
  auto s = strip_extension("user+ext@example.com", "+");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->address, "user@example.com");
  EXPECT_EQ(s->extension, "+ext");
  s = strip_extension("user-a+b@x", "+-");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->address, "user@x");
  EXPECT_EQ(s->extension, "-a+b");
  s = strip_extension("user+ext", "+");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->address, "user");
  EXPECT_FALSE(strip_extension("user@my-domain.com", "-"));
  EXPECT_FALSE(strip_extension("+ext@x", "+"));
  s = strip_extension("user+@x", "+");  // an empty extension still splits
  ASSERT_TRUE(s);
  EXPECT_EQ(s->address, "user@x");
  EXPECT_EQ(s->extension, "+");
  EXPECT_FALSE(strip_extension("user+ext@x", ""));
  // These names are never split, even when they contain a delimiter...
  EXPECT_FALSE(strip_extension("MAILER-DAEMON@x", "-"));
  EXPECT_FALSE(strip_extension("double-bounce@x", "-"));
  EXPECT_FALSE(strip_extension("post-master@x", "-", "post-master"));
  // ...but an extension added to them is.
  EXPECT_TRUE(strip_extension("postmaster+x@x", "+").has_value());
  EXPECT_FALSE(strip_extension("owner-list@x", "-"));
  EXPECT_FALSE(strip_extension("list-request@x", "-"));
  EXPECT_TRUE(strip_extension("list-request@x", "+-") == std::nullopt);
  EXPECT_TRUE(strip_extension("owner-list+x@x", "+").has_value());  // no "-" in the set
}

class AddressSearch : public ::testing::Test {
 protected:
  std::vector<std::string> log;
  MapList maps_with(std::map<std::string, std::string> fixed,
                    std::map<std::string, std::string> pattern = {}) {
    std::vector<std::unique_ptr<Table>> v;
    v.push_back(std::make_unique<FakeTable>("pat", std::move(pattern), false, &log));
    v.push_back(std::make_unique<FakeTable>("fix", std::move(fixed), true, &log));
    return make(std::move(v));
  }
  AddressSearchOptions opts(bool local) {
    AddressSearchOptions o;
    o.recipient_delimiter = "+";
    o.is_local = [local](std::string_view d) -> Result<bool> { return local && d == "local.example"; };
    return o;
  }
};

TEST_F(AddressSearch, FullOrderWithExtensionForLocalDomain) {
  auto m = maps_with({});
  auto r = find_address(m, "User+Ext@local.example", opts(true));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
  std::vector<std::string> want = {
      "pat:User+Ext@local.example",
      "fix:User+Ext@local.example",  // 1: every table
      "fix:User@local.example",      // 2: fixed only
      "fix:User+Ext",                // 3
      "fix:User",                    // 4
      "fix:@local.example",          // 5
  };
  EXPECT_EQ(log, want);
}

TEST_F(AddressSearch, RemoteDomainSkipsLocalparts) {
  auto m = maps_with({});
  ASSERT_TRUE(find_address(m, "user+ext@remote.example", opts(true)).ok());
  std::vector<std::string> want = {"pat:user+ext@remote.example", "fix:user+ext@remote.example",
                                   "fix:user@remote.example", "fix:@remote.example"};
  EXPECT_EQ(log, want);
}

TEST_F(AddressSearch, AddressWithoutDomainOrExtension) {
  auto m = maps_with({});
  ASSERT_TRUE(find_address(m, "user+ext", opts(true)).ok());
  EXPECT_EQ(log, (std::vector<std::string>{"pat:user+ext", "fix:user+ext", "fix:user"}));
  log.clear();
  ASSERT_TRUE(find_address(m, "plain@local.example", opts(true)).ok());
  EXPECT_EQ(log, (std::vector<std::string>{"pat:plain@local.example", "fix:plain@local.example", "fix:plain",
                                           "fix:@local.example"}));
}

TEST_F(AddressSearch, ResultsCarryTheMatchedKeyAndDroppedExtension) {
  auto m =
      maps_with({{"user@local.example", "u@elsewhere"}, {"@other.example", "catchall"}, {"bob", "robert"}});
  auto r = find_address(m, "user+ext@local.example", opts(true));
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ((*r)->value, "u@elsewhere");
  EXPECT_EQ((*r)->key, "user@local.example");
  EXPECT_EQ((*r)->extension, "+ext");
  EXPECT_EQ(add_extension((*r)->value, (*r)->extension), "u+ext@elsewhere");
  r = find_address(m, "bob+x@local.example", opts(true));
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ((*r)->value, "robert");
  EXPECT_EQ((*r)->extension, "+x");
  r = find_address(m, "anyone@other.example", opts(true));
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ((*r)->key, "@other.example");
  EXPECT_EQ((*r)->extension, "");
  EXPECT_EQ(add_extension("local", "+x"), "local+x");
}

TEST_F(AddressSearch, PatternTablesOnlySeeTheFullAddress) {
  auto m = maps_with({}, {{"user@remote.example", "pattern-hit"}});
  auto r = find_address(m, "user+ext@remote.example", opts(false));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
}

TEST_F(AddressSearch, ErrorsStopTheSearch) {
  auto m = maps_with({});
  auto r = find_address(m, "explode", opts(true));
  EXPECT_FALSE(r.ok());
  AddressSearchOptions o = opts(true);
  o.is_local = [](std::string_view) -> Result<bool> { return make_error("mydestination lookup failed"); };
  log.clear();
  r = find_address(m, "a@b", o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "mydestination lookup failed");
}

TEST(AddressSearchRealTables, CaseHandlingByTableType) {
  // A hash-like inline table folds; a regexp table sees the original case.
  auto m = MapList::open("t", "inline:{ user@example.com=fixed }", quiet());
  ASSERT_TRUE(m.ok());
  AddressSearchOptions o;
  auto r = find_address(*m, "USER@Example.COM", o);
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ((*r)->value, "fixed");
}

}  // namespace
}  // namespace postern::maps
