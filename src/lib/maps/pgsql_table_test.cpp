// Tests for pgsql: tables that need no server (the parameter file, hosts,
// errors). tests/integration/test_sql_tables.py runs them against
// PostgreSQL.
#include <gtest/gtest.h>

#include "maps/table.h"
#include "maps/test_support.h"

namespace postern::maps {
namespace {

using testing::get;
using testing::quiet;
using testing::TempDir;
using testing::write_file;

TEST(PgsqlTable, OpenErrors) {
  TempDir dir;
  auto fails = [&](const std::string& params, const std::string& text) {
    write_file(dir.path("t.cf"), params);
    auto t = open_table("pgsql:" + dir.path("t.cf"), quiet());
    EXPECT_FALSE(t) << params;
    if (!t) {
      EXPECT_NE(t.error().message.find(text), std::string::npos) << t.error().message;
    }
  };
  fails("hosts = unix:relative/dir\nquery = SELECT 1\n", "expected unix:/directory");
  fails("hosts = db:0\nquery = SELECT 1\n", "expected host[:port]");
  fails("query = SELECT 1\nretry_interval = 1d\n", "expected a time");
  fails("hosts = db\n", "no query");
  auto t = open_table("pgsql:relative", quiet());
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message.find("Postern does not read pgsql parameters from main.cf"), std::string::npos);
  // select_function is the query when query is not set.
  write_file(dir.path("f.cf"), "hosts = 127.0.0.1:1\nselect_function = lookup\n");
  EXPECT_TRUE(open_table("pgsql:" + dir.path("f.cf"), quiet()));
  write_file(dir.path("u.cf"), "hosts = postgresql://u@db.example/mail?sslmode=require unix:/run/postgresql\n"
                               "query = SELECT 1\n");
  EXPECT_TRUE(open_table("pgsql:" + dir.path("u.cf"), quiet()));
}

TEST(PgsqlTable, UnreachableServerIsALookupError) {
  TempDir dir;
  write_file(dir.path("t.cf"), "hosts = inet:127.0.0.1:1\nquery = SELECT 1 WHERE '%s' = ''\n");
  auto t = open_table("pgsql:" + dir.path("t.cf"), quiet());
  ASSERT_TRUE(t) << t.error().message;
  std::string r = get(**t, "key");
  EXPECT_EQ(r.rfind("<error: cannot connect to a PostgreSQL server: 127.0.0.1:1: ", 0), 0u) << r;
  EXPECT_EQ(get(**t, "key"), "<error: no server is available (every one failed in the last 60 s)>");
}

}  // namespace
}  // namespace postern::maps
