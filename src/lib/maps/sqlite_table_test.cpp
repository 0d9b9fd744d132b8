// Tests for sqlite: tables, on databases built here with SQLite itself.
#include <sqlite3.h>

#include <gtest/gtest.h>

#include "maps/table.h"
#include "maps/test_support.h"

namespace postern::maps {
namespace {

using testing::get;
using testing::quiet;
using testing::TempDir;
using testing::write_file;

void make_db(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  ASSERT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_close(db);
}

class SqliteTable : public ::testing::Test {
 protected:
  void SetUp() override {
    make_db(dir.path("db"),
            "CREATE TABLE alias (address TEXT, goto TEXT, active INTEGER);"
            "INSERT INTO alias VALUES ('info@example.com', 'joe@example.com', 1);"
            "INSERT INTO alias VALUES ('sales@example.com', 'ann@example.com', 1);"
            "INSERT INTO alias VALUES ('sales@example.com', 'bob@example.com', 1);"
            "INSERT INTO alias VALUES ('old@example.com', 'gone@example.com', 0);"
            "INSERT INTO alias VALUES ('o''brien@example.com', 'quoted@example.com', 1);"
            "INSERT INTO alias VALUES ('null@example.com', NULL, 1);"
            "INSERT INTO alias VALUES ('@catchall.test', 'all@example.com', 1);");
  }
  std::unique_ptr<Table> open(const std::string& params) {
    write_file(dir.path("t.cf"), "dbpath = " + dir.path("db") + "\n" + params);
    auto t = open_table("sqlite:" + dir.path("t.cf"), quiet());
    EXPECT_TRUE(t) << (t ? "" : t.error().message);
    return t ? std::move(*t) : nullptr;
  }
  TempDir dir;
};

TEST_F(SqliteTable, Lookups) {
  auto t = open("query = SELECT goto FROM alias WHERE address = '%s' AND active = 1\n");
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->fixed());
  EXPECT_EQ(get(*t, "info@example.com"), "joe@example.com");
  EXPECT_EQ(get(*t, "INFO@Example.COM"), "joe@example.com");  // keys folded
  EXPECT_EQ(get(*t, "sales@example.com"), "ann@example.com,bob@example.com");
  EXPECT_EQ(get(*t, "old@example.com"), "<none>");
  EXPECT_EQ(get(*t, "null@example.com"), "<none>");
  EXPECT_EQ(get(*t, "nobody@example.com"), "<none>");
  // Quotes in keys are quoted, not SQL.
  EXPECT_EQ(get(*t, "o'brien@example.com"), "quoted@example.com");
  EXPECT_EQ(get(*t, "x' OR '1'='1"), "<none>");
  EXPECT_EQ(get(*t, "@catchall.test"), "all@example.com");
}

TEST_F(SqliteTable, ResultFormatLimitAndDomain) {
  auto t = open("query = SELECT goto FROM alias WHERE address = '%s'\n"
                "result_format = smtp:[%d]\n"
                "expansion_limit = 1\n"
                "domain = example.com\n");
  ASSERT_TRUE(t);
  EXPECT_EQ(get(*t, "info@example.com"), "smtp:[example.com]");
  std::string r = get(*t, "sales@example.com");
  EXPECT_EQ(r, "<error: expansion limit of 1 results exceeded for key \"sales@example.com\">");
  // Outside the domain list, and the catch-all "@domain" form: not asked.
  EXPECT_EQ(get(*t, "@catchall.test"), "<none>");
  EXPECT_EQ(get(*t, "x@other.test"), "<none>");
}

TEST_F(SqliteTable, DatabaseErrorsAreLookupErrors) {
  auto t = open("query = SELECT goto FROM no_such_table WHERE address = '%s'\n");
  ASSERT_TRUE(t);
  EXPECT_EQ(get(*t, "info@example.com"), "<error: SQL prepare failed: no such table: no_such_table>");
}

TEST_F(SqliteTable, OpenErrors) {
  auto fails = [&](const std::string& spec, const std::string& text) {
    auto t = open_table(spec, quiet());
    EXPECT_FALSE(t) << spec;
    if (!t) {
      EXPECT_NE(t.error().message.find(text), std::string::npos) << t.error().message;
    }
  };
  fails("sqlite:" + dir.path("none.cf"), "No such file");
  write_file(dir.path("nodb.cf"), "query = SELECT 1\n");
  fails("sqlite:" + dir.path("nodb.cf"), "dbpath is not set");
  write_file(dir.path("missing.cf"), "dbpath = " + dir.path("missing.db") + "\nquery = SELECT 1\n");
  fails("sqlite:" + dir.path("missing.cf"), "cannot open database");
  fails("sqlite:mainname", "Postern does not read sqlite parameters from main.cf");
  write_file(dir.path("ok.cf"), "dbpath = " + dir.path("db") + "\nquery = SELECT 1\n");
  OpenOptions w = quiet();
  w.access = Access::Update;
  EXPECT_FALSE(open_table("sqlite:" + dir.path("ok.cf"), w));
  // Read-only: the database is not created or changed by lookups.
  EXPECT_FALSE(std::filesystem::exists(dir.path("missing.db")));
}

}  // namespace
}  // namespace postern::maps
