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
  // Postfix's match_hostname(): with parent style a leading-dot pattern
  // does not reach subdomains (the plain name does).
  auto dot = MatchList::open("t", ".example.com", MatchStyle::ParentDomain);
  ASSERT_TRUE(dot);
  EXPECT_FALSE(*dot->match("a.example.com"));
  EXPECT_FALSE(*dot->match("example.com"));
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

TEST(MatchList, HostListsMatchNamesAndAddresses) {
  auto l = MatchList::open_hosts("qmqpd_authorized_clients",
                                 "!192.0.2.66 192.0.2.0/24, [2001:db8::]/32 example.com 127.0.0.1 ::1",
                                 MatchStyle::ParentDomain);
  ASSERT_TRUE(l) << l.error().message;
  EXPECT_TRUE(*l->match_host("unknown", "192.0.2.7"));
  EXPECT_FALSE(*l->match_host("unknown", "192.0.2.66"));  // negated before the network
  EXPECT_FALSE(*l->match_host("unknown", "192.0.3.7"));
  EXPECT_TRUE(*l->match_host("unknown", "2001:db8:1::5"));
  EXPECT_FALSE(*l->match_host("unknown", "2001:db9::5"));
  EXPECT_TRUE(*l->match_host("mx.example.com", "198.51.100.1"));  // by name, parent style
  EXPECT_FALSE(*l->match_host("example.com.evil.test", "198.51.100.1"));
  EXPECT_TRUE(*l->match_host("localhost", "127.0.0.1"));
  EXPECT_TRUE(*l->match_host("localhost", "::1"));
  // An address pattern never matches a name that looks like it.
  EXPECT_FALSE(*l->match_host("192.0.2.7", "198.51.100.1"));
  // Nor is a network a name in a plain list.
  EXPECT_FALSE(*l->match("192.0.2.7"));

  // Empty: nobody (Postfix's default for qmqpd_authorized_clients).
  auto none = MatchList::open_hosts("t", "", MatchStyle::Domain);
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none->match_host("localhost", "127.0.0.1"));

  // Tables are asked for the name, then the address.
  auto t = MatchList::open_hosts("t", "inline:{ relay.example.org=ok, 192.0.2.9=ok }", MatchStyle::Domain);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_TRUE(*t->match_host("relay.example.org", "198.51.100.1"));
  EXPECT_TRUE(*t->match_host("unknown", "192.0.2.9"));
  EXPECT_FALSE(*t->match_host("unknown", "192.0.2.10"));

  // Bad networks are refused when the list is read.
  EXPECT_FALSE(MatchList::open_hosts("t", "192.0.2.1/24", MatchStyle::Domain));  // host bits set
  EXPECT_FALSE(MatchList::open_hosts("t", "192.0.2.0/33", MatchStyle::Domain));
  EXPECT_FALSE(MatchList::open_hosts("t", "[192.0.2.1", MatchStyle::Domain));
  EXPECT_FALSE(MatchList::open_hosts("t", "[not.an.address]", MatchStyle::Domain));
}

}  // namespace
}  // namespace postern::maps
