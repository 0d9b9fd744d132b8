// Tests for pipemap:{...} and unionmap:{...}.
#include <gtest/gtest.h>

#include "maps/table.h"
#include "maps/test_support.h"

namespace postern::maps {
namespace {

using testing::get;
using testing::quiet;
using testing::TempDir;
using testing::write_file;

std::unique_ptr<Table> open(const std::string& spec) {
  auto t = open_table(spec, quiet());
  EXPECT_TRUE(t) << (t ? "" : t.error().message);
  return t ? std::move(*t) : nullptr;
}

TEST(Pipemap, EachResultIsTheNextKey) {
  auto t = open("pipemap:{inline:{a=b, x=y}, inline:{ b=final }}");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->type(), "pipemap");
  EXPECT_EQ(get(*t, "a"), "final");
  EXPECT_EQ(get(*t, "x"), "<none>");  // the second table does not know "y"
  EXPECT_EQ(get(*t, "nothing"), "<none>");
  EXPECT_TRUE(t->fixed());
  // Keys are folded by each table as its type does.
  EXPECT_EQ(get(*t, "A"), "final");
}

TEST(Pipemap, PatternFirstTableSeesWholeKeysOnly) {
  TempDir dir;
  write_file(dir.path("nologin.pcre"), "!/nologin/ whatever\n");
  // Postfix's own example: system accounts whose shell is nologin are no
  // recipients.
  auto t = open("pipemap:{unix:passwd.byname, pcre:" + dir.path("nologin.pcre") + "}");
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->fixed());
  EXPECT_EQ(get(*t, "root"), "whatever");  // root's shell is a real one here
  EXPECT_EQ(get(*t, "nobody"), "<none>");   // Debian's nobody: /usr/sbin/nologin
  auto p = open("pipemap:{pcre:" + dir.path("nologin.pcre") + ", inline:{whatever=1}}");
  EXPECT_FALSE(p->fixed());
}

TEST(Unionmap, JoinsEveryFoundResult) {
  auto t = open("unionmap:{inline:{a=1, c=3}, inline:{b=2, c=4}, static:{s}}");
  ASSERT_TRUE(t);
  EXPECT_EQ(get(*t, "a"), "1,s");
  EXPECT_EQ(get(*t, "c"), "3,4,s");
  auto u = open("unionmap:{inline:{a=1}, inline:{b=2}}");
  EXPECT_EQ(get(*u, "b"), "2");
  EXPECT_EQ(get(*u, "z"), "<none>");
  EXPECT_TRUE(u->fixed());
}

TEST(Composite, ComponentErrorsAreErrors) {
  // A tcp: table nobody serves: connection refused.
  auto t = open("unionmap:{inline:{a=1}, tcp:127.0.0.1:1}");
  ASSERT_TRUE(t);
  EXPECT_FALSE(t->fixed());
  std::string r = get(*t, "a");
  EXPECT_EQ(r.rfind("<error: tcp:127.0.0.1:1: connect to 127.0.0.1:1: ", 0), 0u) << r;
  auto p = open("pipemap:{inline:{a=b}, tcp:127.0.0.1:1}");
  EXPECT_EQ(get(*p, "a").rfind("<error: tcp:127.0.0.1:1: ", 0), 0u);
  EXPECT_EQ(get(*p, "zz"), "<none>");  // the first table ends it before the second is asked
}

TEST(Composite, OpenErrors) {
  for (const char* bad : {"pipemap:inline:{a=b}", "pipemap:{}", "unionmap:{ , }", "unionmap:{inline:{a=b}",
                          "pipemap:{nosuch:x}", "pipemap:{hash}"}) {
    auto t = open_table(bad, quiet());
    EXPECT_FALSE(t) << bad;
  }
  auto t = open_table("pipemap:{nosuch:x}", quiet());
  EXPECT_EQ(t.error().message, "pipemap:{nosuch:x}: unsupported dictionary type: nosuch");
  std::string deep = "inline:{a=b}";
  for (int i = 0; i < 9; ++i) deep = "pipemap:{" + deep + "}";
  auto d = open_table(deep, quiet());
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message.find("nested more than 8 deep"), std::string::npos);
  OpenOptions w = quiet();
  w.access = Access::Update;
  EXPECT_FALSE(open_table("unionmap:{inline:{a=b}}", w));
}

}  // namespace
}  // namespace postern::maps
