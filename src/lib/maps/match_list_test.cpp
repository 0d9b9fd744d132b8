// match_list_test.cpp - domain and name lists: patterns, negation, parent
// styles, tables and pattern files.
#include "maps/match_list.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

namespace postern::maps {
namespace {

TEST(MatchList, PatternsAndParentStyle) {
  auto l = MatchList::open("t", "example.com, .sub.org !bad.net,net", MatchStyle::Domain);
  ASSERT_TRUE(l);
  EXPECT_TRUE(*l->match("EXAMPLE.com"));
  EXPECT_FALSE(*l->match("a.example.com"));
  EXPECT_TRUE(*l->match("a.sub.org"));
  EXPECT_FALSE(*l->match("sub.org"));
  EXPECT_FALSE(*l->match("bad.net"));
  EXPECT_TRUE(*l->match("net"));
  auto p = MatchList::open("t", "example.com", MatchStyle::ParentDomain);
  ASSERT_TRUE(p);
  EXPECT_TRUE(*p->match("a.b.example.com"));
  EXPECT_FALSE(*p->match("badexample.com"));
  EXPECT_FALSE(*p->match(""));
}

TEST(MatchList, TablesAndFiles) {
  auto l = MatchList::open("t", "inline:{ example.com=x, .sub.org=y }", MatchStyle::Domain);
  ASSERT_TRUE(l) << l.error().message;
  EXPECT_TRUE(*l->match("example.com"));
  EXPECT_FALSE(*l->match("a.example.com"));
  EXPECT_TRUE(*l->match("a.b.sub.org"));
  auto p = MatchList::open("t", "inline:{ example.com=x }", MatchStyle::ParentDomain);
  ASSERT_TRUE(p);
  EXPECT_TRUE(*p->match("a.example.com"));

  std::string path = ::testing::TempDir() + "/domains." + std::to_string(::getpid());
  {
    std::ofstream f(path);
    f << "# comment\nfile.example, other.example  # trailing\n";
  }
  auto f = MatchList::open("t", path, MatchStyle::Domain);
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_TRUE(*f->match("other.example"));
  EXPECT_FALSE(*f->match("comment"));
  ::unlink(path.c_str());
  EXPECT_FALSE(MatchList::open("t", "/nonexistent/file", MatchStyle::Domain));
  EXPECT_FALSE(MatchList::open("t", "nosuchtype:foo", MatchStyle::Domain));
}

// User lists (authorized_submit_users): names, negation, and a table that
// matches everything.
TEST(MatchList, NamesAndStaticAnyone) {
  auto l = MatchList::open("authorized_submit_users", "!www-data, static:anyone", MatchStyle::Name);
  ASSERT_TRUE(l) << l.error().message;
  EXPECT_FALSE(*l->match("www-data"));
  EXPECT_TRUE(*l->match("alice"));
  EXPECT_TRUE(*l->match("a.b"));
  auto n = MatchList::open("authorized_submit_users", "alice .example", MatchStyle::Name);
  ASSERT_TRUE(n);
  EXPECT_TRUE(*n->match("Alice"));
  EXPECT_FALSE(*n->match("x.example"));  // no domain patterns in a name list
  EXPECT_FALSE(*n->match("bob"));
  auto none = MatchList::open("authorized_submit_users", "", MatchStyle::Name);
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none->match("alice"));
}

// Parent domains are looked up in fixed-string tables only: a regexp sees
// the whole subject, never a partial key (Postfix's DICT_FLAG_FIXED).
TEST(MatchList, PatternTablesSeeOnlyTheWholeDomain) {
  std::string path = ::testing::TempDir() + "/match.regexp." + std::to_string(::getpid());
  {
    std::ofstream f(path);
    f << "/^example\\.com$/ x\n";
  }
  auto l = MatchList::open("t", "regexp:" + path, MatchStyle::ParentDomain);
  ASSERT_TRUE(l) << l.error().message;
  EXPECT_TRUE(*l->match("example.com"));
  EXPECT_FALSE(*l->match("a.example.com"));
  ::unlink(path.c_str());
}

}  // namespace
}  // namespace postern::maps
