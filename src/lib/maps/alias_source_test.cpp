// alias_source_test.cpp - aliases(5) parsing; expected values are what Postfix 3.7's
// postalias stores for the same lines.
#include "maps/alias_source.h"

#include <gtest/gtest.h>

#include <sstream>

namespace postern::maps {
namespace {

AliasEntry entry(std::string_view line) {
  auto r = parse_alias_entry(line);
  EXPECT_TRUE(std::holds_alternative<AliasEntry>(r)) << line;
  if (auto* e = std::get_if<AliasEntry>(&r)) return *e;
  return {};
}

std::string reject(std::string_view line) {
  auto r = parse_alias_entry(line);
  if (auto* e = std::get_if<AliasReject>(&r)) return e->why;
  return "<accepted>";
}

TEST(AliasEntry, ValuesAreRewrittenLikePostfix) {
  struct Case {
    const char* line;
    const char* name;
    const char* value;
  } cases[] = {
      {"Root: admin,   other", "Root", "admin, other"},
      {"\"a b\": x", "a b", "x"},
      {"postmaster:root", "postmaster", "root"},
      {"list: :include:/etc/list.txt", "list", ":include:/etc/list.txt"},
      {"pipe: \"|/usr/bin/prog arg\", |/bin/cat", "pipe", "\"|/usr/bin/prog arg\", |/bin/cat"},
      {"file: /var/mail/file, \\bob", "file", "/var/mail/file, bob"},
      {"comm: a (comment here) , b", "comm", "a (comment here), b"},
      {"quoted: \"some user\"@example.com", "quoted", "\"some user\"@example.com"},
      {"two words: y", "two words", "y"},
      {"weird: a<b@c>", "weird", "a <b@c>"},
      {"mail: Joe <joe@x.org>, \"Q\" <q@y>", "mail", "Joe <joe@x.org>, \"Q\" <q@y>"},
      {"empty: \"\"", "empty", "\"\""},
      {"semi: a; b", "semi", "a;b"},
      {"lit: x@[1.2.3.4]", "lit", "x@[1.2.3.4]"},
      {"cont: one,  two,\tthree", "cont", "one, two, three"},
  };
  for (const auto& c : cases) {
    auto e = entry(c.line);
    EXPECT_EQ(e.name, c.name) << c.line;
    EXPECT_EQ(e.value, c.value) << c.line;
  }
}

TEST(AliasEntry, QuotingOfSpecialsAndEscapes) {
  // An escaped special makes the atom a quoted string on output.
  EXPECT_EQ(entry("x: a\\@b").value, "\"a@b\"");
  // Inside quotes, " and \ are escaped again on output.
  EXPECT_EQ(entry("x: \"a\\\"b\\\\c\"").value, "\"a\\\"b\\\\c\"");
  // Nested comments are kept as written.
  EXPECT_EQ(entry("x: y (outer (inner) \\) z)").value, "y (outer (inner) \\) z)");
  // Domain literal with white space inside.
  EXPECT_EQ(entry("x: u@[ a\tb ]").value, "u@[ a b ]");
}

TEST(AliasEntry, Rejections) {
  EXPECT_EQ(reject("noval:"), "need name:value pair");
  EXPECT_EQ(reject(": value"), "need name:value pair");
  EXPECT_EQ(reject("no colon here"), "need name:value pair");
  EXPECT_EQ(reject("a, b: c"), "need name:value pair");
  EXPECT_EQ(reject("at@dom: x"), "name must be local");
  EXPECT_EQ(reject("pct%dom: x"), "name must be local");
  EXPECT_EQ(reject("(only a comment)"), "need name:value pair");
  EXPECT_EQ(reject(""), "");
  EXPECT_EQ(reject("   \t"), "");
}

TEST(AliasEntry, UnterminatedConstructsDoNotCrash) {
  EXPECT_EQ(entry("x: \"open").value, "\"open\"");
  EXPECT_EQ(entry("x: [open").value, "[open]");
  EXPECT_EQ(entry("x: (open").value, "(open");
  EXPECT_EQ(entry("x: y\\").value, "y");
  EXPECT_EQ(entry("x: \\").value, "");
}

TEST(AliasSource, LinesWarningsAndContinuations) {
  std::istringstream in("# aliases\nroot: admin,\n  other\nnoval:\nat@x: y\nDUP: 1\n");
  std::vector<std::string> w;
  auto e = parse_alias_source(in, "aliases", w);
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].entry.name, "root");
  EXPECT_EQ(e[0].entry.value, "admin, other");
  EXPECT_EQ(e[0].line, 2);
  EXPECT_EQ(e[1].entry.name, "DUP");
  EXPECT_EQ(e[1].line, 6);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0], "aliases, line 4: need name:value pair");
  EXPECT_EQ(w[1], "aliases, line 5: name must be local");
}

}  // namespace
}  // namespace postern::maps
