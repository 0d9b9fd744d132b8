// db_table_test.cpp - hash:/btree: tables: Postfix's null and case conventions,
// duplicates, deletes, atomic rebuilds, change detection, bad files.
#include <db_cxx.h>
#include <fcntl.h>
#include <gtest/gtest.h>

#include <ctime>
#include <map>
#include <tuple>

#include "maps/table.h"
#include "maps/test_support.h"

namespace postern::maps {
namespace {

using testing::get;
using testing::quiet;
using testing::TempDir;

// Every raw key/value pair in a .db file, bytes as stored (NULs included).
std::map<std::string, std::string> raw_dump(const std::string& db_path, DBTYPE type) {
  std::map<std::string, std::string> out;
  Db db(nullptr, DB_CXX_NO_EXCEPTIONS);
  if (db.open(nullptr, db_path.c_str(), nullptr, type, DB_RDONLY, 0) != 0) return out;
  Dbc* c = nullptr;
  db.cursor(nullptr, &c, 0);
  Dbt k, v;
  while (c->get(&k, &v, DB_NEXT) == 0)
    out[std::string(static_cast<char*>(k.get_data()), k.get_size())] =
        std::string(static_cast<char*>(v.get_data()), v.get_size());
  c->close();
  db.close(0);
  return out;
}

// Writes raw pairs with Berkeley DB directly (a table written by someone else).
void raw_write(const std::string& db_path, DBTYPE type, const std::map<std::string, std::string>& kv) {
  Db db(nullptr, DB_CXX_NO_EXCEPTIONS);
  ASSERT_EQ(db.open(nullptr, db_path.c_str(), nullptr, type, DB_CREATE, 0644), 0);
  for (const auto& [k, v] : kv) {
    Dbt key(const_cast<char*>(k.data()), static_cast<std::uint32_t>(k.size()));
    Dbt val(const_cast<char*>(v.data()), static_cast<std::uint32_t>(v.size()));
    ASSERT_EQ(db.put(nullptr, &key, &val, 0), 0);
  }
  db.close(0);
}

std::unique_ptr<Table> open_or_die(const std::string& spec, OpenOptions o) {
  auto t = open_table(spec, quiet(o));
  EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().message);
  return t.ok() ? std::move(*t) : nullptr;
}

OpenOptions rebuild() {
  OpenOptions o;
  o.access = Access::Rebuild;
  return o;
}

class DbTableTest : public ::testing::TestWithParam<const char*> {
 protected:
  std::string type() const { return GetParam(); }
  DBTYPE dbtype() const { return type() == "hash" ? DB_HASH : DB_BTREE; }
  std::string spec(const std::string& name) const { return type() + ":" + dir.path(name); }
  TempDir dir;
};

TEST_P(DbTableTest, DefaultWritesKeysAndValuesWithTrailingNullAndFoldsKeys) {
  auto t = open_or_die(spec("t"), rebuild());
  ASSERT_TRUE(t);
  ASSERT_TRUE(*t->update("Foo", "Bar Baz"));
  ASSERT_TRUE(t->commit().ok());
  auto raw = raw_dump(dir.path("t.db"), dbtype());
  ASSERT_EQ(raw.size(), 1u);
  EXPECT_EQ(raw.begin()->first, std::string("foo\0", 4));
  EXPECT_EQ(raw.begin()->second, std::string("Bar Baz\0", 8));

  auto r = open_or_die(spec("t"), {});
  EXPECT_EQ(get(*r, "FOO"), "Bar Baz");
  EXPECT_EQ(get(*r, "foo"), "Bar Baz");
  EXPECT_EQ(get(*r, "bar"), "<none>");
  EXPECT_TRUE(r->fixed());
}

TEST_P(DbTableTest, WithoutNullOption) {
  OpenOptions o = rebuild();
  o.nulls = NullMode::Without;
  auto t = open_or_die(spec("n"), o);
  ASSERT_TRUE(*t->update("k", "v"));
  ASSERT_TRUE(t->commit().ok());
  auto raw = raw_dump(dir.path("n.db"), dbtype());
  ASSERT_EQ(raw.size(), 1u);
  EXPECT_EQ(raw.begin()->first, "k");
  EXPECT_EQ(raw.begin()->second, "v");
  // Auto lookups find it; a "with null only" lookup does not.
  EXPECT_EQ(get(*open_or_die(spec("n"), {}), "K"), "v");
  OpenOptions with;
  with.nulls = NullMode::With;
  EXPECT_EQ(get(*open_or_die(spec("n"), with), "k"), "<none>");
}

TEST_P(DbTableTest, LookupsStickWithTheFirstConventionThatMatched) {
  // A file with both forms (someone mixed -n and -N): after the first hit
  // without null, only that form is tried, as in Postfix.
  raw_write(dir.path("mix.db"), dbtype(), {{"a", "plain"}, {std::string("b\0", 2), std::string("nul\0", 4)}});
  auto t = open_or_die(spec("mix"), {});
  EXPECT_EQ(get(*t, "a"), "plain");
  EXPECT_EQ(get(*t, "b"), "<none>");
  auto t2 = open_or_die(spec("mix"), {});
  EXPECT_EQ(get(*t2, "b"), "nul");
  EXPECT_EQ(get(*t2, "a"), "<none>");
}

TEST_P(DbTableTest, NoFoldingKeepsCase) {
  OpenOptions o = rebuild();
  o.fold_fix = false;
  auto t = open_or_die(spec("f"), o);
  ASSERT_TRUE(*t->update("MiXeD", "1"));
  ASSERT_TRUE(t->commit().ok());
  OpenOptions ro;
  ro.fold_fix = false;
  auto r = open_or_die(spec("f"), ro);
  EXPECT_EQ(get(*r, "MiXeD"), "1");
  EXPECT_EQ(get(*r, "mixed"), "<none>");
  // A folding reader lowercases the query and misses the mixed-case key.
  EXPECT_EQ(get(*open_or_die(spec("f"), {}), "MiXeD"), "<none>");
}

TEST_P(DbTableTest, DuplicatePolicies) {
  for (auto [dups, expect_value, expect_stored] :
       {std::tuple{Duplicates::Warn, "first", false}, std::tuple{Duplicates::Ignore, "first", false},
        std::tuple{Duplicates::Replace, "second", true}}) {
    OpenOptions o = rebuild();
    o.duplicates = dups;
    auto t = open_or_die(spec("d"), o);
    ASSERT_TRUE(*t->update("k", "first"));
    auto second = t->update("K", "second");
    ASSERT_TRUE(second.ok());
    EXPECT_EQ(*second, expect_stored);
    if (dups == Duplicates::Warn) {
      ASSERT_EQ(t->warnings().size(), 1u);
      EXPECT_EQ(t->warnings()[0], dir.path("d.db") + ": duplicate entry: \"k\"");
    } else {
      EXPECT_TRUE(t->warnings().empty());
    }
    ASSERT_TRUE(t->commit().ok());
    EXPECT_EQ(get(*open_or_die(spec("d"), {}), "k"), expect_value);
  }
  OpenOptions o = rebuild();
  o.duplicates = Duplicates::Error;
  auto t = open_or_die(spec("e"), o);
  ASSERT_TRUE(*t->update("k", "1"));
  EXPECT_FALSE(t->update("k", "2").ok());
}

TEST_P(DbTableTest, UpdateInPlaceDeleteAndSequence) {
  auto t = open_or_die(spec("u"), rebuild());
  ASSERT_TRUE(*t->update("a", "1"));
  ASSERT_TRUE(*t->update("b", "2"));
  ASSERT_TRUE(t->commit().ok());

  OpenOptions up;
  up.access = Access::Update;
  auto u = open_or_die(spec("u"), up);
  ASSERT_TRUE(*u->update("c", "3"));
  auto removed = u->remove("A");
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE(*removed);
  removed = u->remove("a");
  ASSERT_TRUE(removed.ok());
  EXPECT_FALSE(*removed);
  ASSERT_TRUE(u->commit().ok());

  auto r = open_or_die(spec("u"), {});
  std::map<std::string, std::string> seen;
  ASSERT_TRUE(r->for_each([&](std::string_view k, std::string_view v) {
                 seen[std::string(k)] = std::string(v);
                 return true;
               }).ok());
  EXPECT_EQ(seen, (std::map<std::string, std::string>{{"b", "2"}, {"c", "3"}}));
  int visited = 0;
  ASSERT_TRUE(r->for_each([&](std::string_view, std::string_view) { return ++visited < 1; }).ok());
  EXPECT_EQ(visited, 1);
  // Read-only tables refuse writes.
  EXPECT_FALSE(r->update("x", "y").ok());
  EXPECT_FALSE(r->remove("b").ok());
}

TEST_P(DbTableTest, UpdateCreatesAMissingFileUnlessTold) {
  OpenOptions up;
  up.access = Access::Update;
  up.create = false;
  auto missing = open_table(spec("none"), quiet(up));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message, "open database " + dir.path("none.db") + ": No such file or directory");
  up.create = true;
  auto t = open_or_die(spec("none"), up);
  ASSERT_TRUE(*t->update("k", "v"));
  ASSERT_TRUE(t->commit().ok());
  EXPECT_EQ(get(*open_or_die(spec("none"), {}), "k"), "v");
}

TEST_P(DbTableTest, RebuildIsAtomicAndDetectedByReaders) {
  auto t = open_or_die(spec("a"), rebuild());
  ASSERT_TRUE(*t->update("k", "old"));
  ASSERT_TRUE(t->commit().ok());
  auto reader = open_or_die(spec("a"), {});
  EXPECT_FALSE(reader->changed());

  {
    // An abandoned rebuild leaves the old table and no temporary file.
    auto b = open_or_die(spec("a"), rebuild());
    ASSERT_TRUE(*b->update("k", "abandoned"));
  }
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.dir())) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1);
  EXPECT_EQ(get(*reader, "k"), "old");
  EXPECT_FALSE(reader->changed());

  auto c = open_or_die(spec("a"), rebuild());
  ASSERT_TRUE(*c->update("k", "new"));
  EXPECT_EQ(get(*reader, "k"), "old");  // not visible before commit
  ASSERT_TRUE(c->commit().ok());
  EXPECT_TRUE(reader->changed());
  EXPECT_EQ(get(*reader, "k"), "old");  // the open handle still reads its file
  EXPECT_EQ(get(*open_or_die(spec("a"), {}), "k"), "new");
}

TEST_P(DbTableTest, CreateModeIsApplied) {
  OpenOptions o = rebuild();
  o.create_mode = 0640;
  auto t = open_or_die(spec("m"), o);
  ASSERT_TRUE(*t->update("k", "v"));
  ASSERT_TRUE(t->commit().ok());
  struct stat st {};
  ASSERT_EQ(::stat(dir.path("m.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST_P(DbTableTest, MissingAndCorruptFiles) {
  auto missing = open_table(spec("missing"), quiet());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message,
            "open database " + dir.path("missing.db") + ": No such file or directory");

  testing::write_file(dir.path("junk.db"), std::string(8192, '\x5a'));
  auto junk = open_table(spec("junk"), quiet());
  EXPECT_FALSE(junk.ok());
  testing::write_file(dir.path("empty.db"), "");
  EXPECT_FALSE(open_table(spec("empty"), quiet()).ok());
}

TEST_P(DbTableTest, KeysAreCStrings) {
  auto t = open_or_die(spec("z"), rebuild());
  ASSERT_TRUE(*t->update(std::string_view("ab\0cd", 5), std::string_view("v\0w", 3)));
  ASSERT_TRUE(t->commit().ok());
  auto r = open_or_die(spec("z"), {});
  EXPECT_EQ(get(*r, "ab"), "v");
  EXPECT_EQ(get(*r, std::string_view("ab\0zz", 5)), "v");
  EXPECT_EQ(get(*r, ""), "<none>");
}

TEST_P(DbTableTest, StaleSourceWarning) {
  auto t = open_or_die(spec("s"), rebuild());
  ASSERT_TRUE(*t->update("k", "v"));
  ASSERT_TRUE(t->commit().ok());
  testing::write_file(dir.path("s"), "k v\n");
  // Source edited long after the table was built.
  struct timespec times[2] = {{0, UTIME_OMIT}, {0, 0}};
  ::clock_gettime(CLOCK_REALTIME, &times[1]);
  struct timespec old = times[1];
  old.tv_sec -= 1000;
  struct timespec db_times[2] = {{0, UTIME_OMIT}, old};
  ASSERT_EQ(::utimensat(AT_FDCWD, dir.path("s.db").c_str(), db_times, 0), 0);
  times[1].tv_sec -= 500;
  ASSERT_EQ(::utimensat(AT_FDCWD, dir.path("s").c_str(), times, 0), 0);
  auto r = open_or_die(spec("s"), {});
  ASSERT_EQ(r->warnings().size(), 1u);
  EXPECT_EQ(r->warnings()[0], "database " + dir.path("s.db") + " is older than source file " + dir.path("s"));
}

INSTANTIATE_TEST_SUITE_P(Types, DbTableTest, ::testing::Values("hash", "btree"));

TEST(DbTable, HashAndBtreeAreNotInterchangeable) {
  TempDir dir;
  auto t = open_or_die("hash:" + dir.path("h"), rebuild());
  ASSERT_TRUE(*t->update("k", "v"));
  ASSERT_TRUE(t->commit().ok());
  EXPECT_FALSE(open_table("btree:" + dir.path("h"), quiet()).ok());
}

}  // namespace
}  // namespace postern::maps
