// Tests for the SQL tables' templates, parameter files and filters.
#include "maps/sql_common.h"

#include <gtest/gtest.h>

namespace postern::maps::sql {
namespace {

// Quoting that shows where it was applied.
const Quote kQuote = [](std::string_view s) { return "<" + std::string(s) + ">"; };

std::string q(std::string_view tmpl, std::string_view key) {
  auto r = expand_query(tmpl, key, kQuote);
  return r ? *r : "<suppressed>";
}

TEST(SqlTemplate, QueryExpansions) {
  EXPECT_EQ(q("k='%s'", "user@mail.example.com"), "k='<user@mail.example.com>'");
  EXPECT_EQ(q("%u|%d|%S|%U|%D", "user@mail.example.com"),
            "<user>|<mail.example.com>|<user@mail.example.com>|<user>|<mail.example.com>");
  EXPECT_EQ(q("%1.%2.%3", "user@mail.example.com"), "<com>.<example>.<mail>");
  EXPECT_EQ(q("100%% %s", "x"), "100% <x>");
  // %u of an unqualified key is the key; %d and %1 suppress the query.
  EXPECT_EQ(q("%u", "postmaster"), "<postmaster>");
  EXPECT_EQ(q("%d", "postmaster"), "<suppressed>");
  EXPECT_EQ(q("%1", "postmaster"), "<suppressed>");
  EXPECT_EQ(q("%4", "user@mail.example.com"), "<suppressed>");
  // An empty local part suppresses %u; "@domain" keys still have %d.
  EXPECT_EQ(q("%u", "@example.com"), "<suppressed>");
  EXPECT_EQ(q("%d", "@example.com"), "<example.com>");
  EXPECT_EQ(q("%d", "user@"), "<suppressed>");
  // The last '@' splits.
  EXPECT_EQ(q("%u/%d", "\"a@b\"@c.test"), "<\"a@b\">/<c.test>");
}

TEST(SqlTemplate, ResultExpansions) {
  std::string out;
  EXPECT_TRUE(expand_result("smtp:[%s]", "mx.example.com", "key@x.test", out));
  EXPECT_EQ(out, "smtp:[mx.example.com]");
  EXPECT_TRUE(expand_result("%u+%D", "joe@y.test", "key@x.test", out));
  EXPECT_EQ(out, "smtp:[mx.example.com],joe+x.test");
  std::string none;
  EXPECT_FALSE(expand_result("%s", "", "k", none));     // empty values are skipped
  EXPECT_FALSE(expand_result("%d", "joe", "k", none));  // unqualified value
  EXPECT_FALSE(expand_result("%1", "v", "k", none));    // the key has no domain
  EXPECT_EQ(none, "");
}

TEST(SqlTemplate, Checks) {
  EXPECT_TRUE(check_template("select x where k='%s' and d='%d' and t='%1' -- 100%%", false));
  EXPECT_FALSE(check_template("bad %x", false));
  EXPECT_FALSE(check_template("ends with %", true));
  EXPECT_EQ(check_template("a %q", true).error().message, "\"a %q\": invalid %q in result_format");
}

TEST(SqlParams, FileSyntax) {
  auto p = Params::parse("sqlite", "/x.cf",
                         "# comment\n"
                         "dbpath = /var/db/x.sqlite\n"
                         "query = SELECT goto FROM alias\n"
                         "   WHERE address = '%s'\n"
                         "\n"
                         "result_format=%s\n");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->get("dbpath"), "/var/db/x.sqlite");
  // A continuation line keeps its leading white space (as in main.cf).
  EXPECT_EQ(p->get("query"), "SELECT goto FROM alias   WHERE address = '%s'");
  EXPECT_EQ(p->get("result_format"), "%s");
  EXPECT_EQ(p->get("domain", "none"), "none");
  EXPECT_FALSE(Params::parse("sqlite", "/x.cf", "dbpath /x\n"));
  EXPECT_FALSE(Params::parse("sqlite", "/x.cf", " = x\n"));
}

TEST(SqlCommon, LegacyQueryLimitAndDomain) {
  auto p = Params::parse("sqlite", "/x.cf",
                         "table = mxaliases\nselect_field = forw_addr\nwhere_field = alias\n"
                         "additional_conditions = AND status = 'paid'\nexpansion_limit = 2\n"
                         "domain = example.com, inline:{other.test=1}\n");
  ASSERT_TRUE(p);
  auto c = Common::from(*p, {});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->query, "SELECT forw_addr FROM mxaliases WHERE alias = '%s' AND status = 'paid'");
  EXPECT_TRUE(*c->eligible("a@example.com"));
  EXPECT_TRUE(*c->eligible("a@OTHER.test"));
  EXPECT_FALSE(*c->eligible("a@elsewhere.test"));
  EXPECT_FALSE(*c->eligible("@example.com"));
  EXPECT_FALSE(*c->eligible("a"));
  Common::Results r(*c, "k");
  EXPECT_TRUE(r.add("one"));
  EXPECT_TRUE(r.add(""));  // skipped, not counted
  EXPECT_TRUE(r.add("two"));
  auto over = r.add("three");
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().message, "expansion limit of 2 results exceeded for key \"k\"");

  // The joined result is bounded.
  auto big = Common::from(*Params::parse("sqlite", "/x.cf", "query = x\n"), {});
  Common::Results many(*big, "k");
  std::string chunk(100000, 'v');
  Status st;
  for (int i = 0; i < 20 && st; ++i) st = many.add(chunk);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message, "result for key \"k\" longer than 1048576 bytes");

  EXPECT_FALSE(Common::from(*Params::parse("sqlite", "/x.cf", "dbpath = /x\n"), {}));
  EXPECT_FALSE(Common::from(*Params::parse("sqlite", "/x.cf", "query = x\nexpansion_limit = -1\n"), {}));
  EXPECT_FALSE(Common::from(*Params::parse("sqlite", "/x.cf", "query = x %z\n"), {}));
}

}  // namespace
}  // namespace postern::maps::sql
