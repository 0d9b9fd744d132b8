// Tests for mysql: and pgsql: tables that need no server (parameter files,
// hosts, errors). tests/integration/test_sql_tables.py runs them against
// MariaDB and PostgreSQL.
#include <gtest/gtest.h>

#include "maps/internal.h"
#include "maps/table.h"
#include "maps/test_support.h"

namespace postern::maps {
namespace {

using testing::get;
using testing::quiet;
using testing::TempDir;
using testing::write_file;

// Opening type:DIR/t.cf with `params` in it fails with an error that
// contains `text`.
void open_fails(const TempDir& dir, const std::string& type, const std::string& params, const std::string& text) {
  write_file(dir.path("t.cf"), params);
  auto t = open_table(type + ":" + dir.path("t.cf"), quiet());
  EXPECT_FALSE(t) << params;
  if (!t) {
    EXPECT_NE(t.error().message.find(text), std::string::npos) << t.error().message;
  }
}

TEST(MysqlHosts, Parse) {
  auto text = [](std::string_view s) {
    auto h = detail::MysqlHost::parse(s);
    return h ? h->text() : "<error: " + h.error().message + ">";
  };
  EXPECT_EQ(text("db.example.com"), "inet:db.example.com");
  EXPECT_EQ(text("inet:db.example.com:3307"), "inet:db.example.com:3307");
  EXPECT_EQ(text("127.0.0.1:3306"), "inet:127.0.0.1:3306");
  EXPECT_EQ(text("[::1]:3306"), "inet:[::1]:3306");
  EXPECT_EQ(text("unix:/run/mysqld/mysqld.sock"), "unix:/run/mysqld/mysqld.sock");
  EXPECT_EQ(text("::1"), "<error: \"::1\": write an IPv6 address as [address]:port>");
  EXPECT_EQ(text("host:"), "<error: \"host:\": bad port>");
  EXPECT_EQ(text("host:99999"), "<error: \"host:99999\": bad port>");
  EXPECT_EQ(text("unix:"), "<error: \"unix:\": no socket path>");
  EXPECT_EQ(text("inet::3306"), "<error: \":3306\": no host name>");
}

TEST(MysqlTable, OpenErrors) {
  TempDir dir;
  auto fails = [&](const std::string& params, const std::string& text) { open_fails(dir, "mysql", params, text); };
  fails("hosts = db:0\nquery = SELECT 1\n", "hosts: \"db:0\": bad port");
  fails("query = SELECT 1\ntls_verify_cert = maybe\n", "tls_verify_cert = maybe: expected yes or no");
  fails("query = SELECT 1\nrequire_result_set = maybe\n", "expected yes or no");
  fails("query = SELECT 1\nidle_interval = soon\n", "expected a time");
  fails("hosts = db\n", "no query");
  auto t = open_table("mysql:relative", quiet());
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message.find("Postern does not read mysql parameters from main.cf"), std::string::npos);
}

TEST(MysqlTable, UnreachableServersAreLookupErrors) {
  TempDir dir;
  // A port nobody listens on, and a socket that does not exist.
  write_file(dir.path("t.cf"), "hosts = 127.0.0.1:1 unix:" + dir.path("none.sock") +
                                   "\nquery = SELECT 1 FROM x WHERE k = '%s'\nretry_interval = 60s\n");
  auto t = open_table("mysql:" + dir.path("t.cf"), quiet());
  ASSERT_TRUE(t) << t.error().message;
  std::string r = get(**t, "key");
  EXPECT_EQ(r.rfind("<error: cannot connect to a MySQL server: unix:" + dir.path("none.sock") + ": ", 0), 0u) << r;
  EXPECT_NE(r.find("inet:127.0.0.1:1: "), std::string::npos) << r;
  // Both are now marked down for retry_interval: no new attempt.
  EXPECT_EQ(get(**t, "key"), "<error: no server is available (every one failed in the last 60 s)>");
}

TEST(PgsqlTable, OpenErrors) {
  TempDir dir;
  auto fails = [&](const std::string& params, const std::string& text) { open_fails(dir, "pgsql", params, text); };
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
