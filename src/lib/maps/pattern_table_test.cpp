// pattern_table_test.cpp - regexp: and pcre: tables; answers and warnings match
// what Postfix 3.7's postmap -q prints for the same files.
#include <fcntl.h>
#include <gtest/gtest.h>

#include <sstream>

#include "maps/test_support.h"
#include "maps/text_tables.h"

namespace postern::maps {
namespace {

using testing::get;
using testing::quiet;

std::unique_ptr<Table> regexp(const std::string& text, OpenOptions o = {}) {
  std::istringstream in(text);
  return parse_regexp_table("r", in, quiet(o));
}

std::unique_ptr<Table> pcre(const std::string& text, OpenOptions o = {}) {
  std::istringstream in(text);
  return parse_pcre_table("p", in, quiet(o));
}

TEST(RegexpTable, SubstitutionAndFirstMatchWins) {
  auto t = regexp("/^(.*)@(.*)$/ user=$1 dom=${2} lit=$$1 $(1)\n/^x/ second\n/^x/ third\n");
  EXPECT_EQ(get(*t, "u@d"), "user=u dom=d lit=$1 u");
  EXPECT_EQ(get(*t, "xyz"), "second");
  EXPECT_EQ(get(*t, "nothing"), "<none>");
  EXPECT_FALSE(t->fixed());
  EXPECT_TRUE(t->warnings().empty());
}

TEST(RegexpTable, NoRegsubSkipsRulesThatSubstitute) {
  // Paranoid tables (virtual(8)'s, alias_maps): the address must not pick the result.
  OpenOptions o;
  o.paranoid = true;
  for (auto* make : {&regexp, &pcre}) {
    auto t = (*make)("/^(.+)@example\\.com$/ example.com/$1/\n/^(.+)@example\\.com$/ fixed/\n", o);
    EXPECT_EQ(get(*t, "a/b/c@example.com"), "fixed/");
    ASSERT_EQ(t->warnings().size(), 1u);
    EXPECT_NE(t->warnings()[0].find("line 1: regular expression substitution is not allowed: skipping this rule"),
              std::string::npos)
        << t->warnings()[0];
    // Without the option the same rule substitutes.
    EXPECT_EQ(get(*(*make)("/^(.+)@example\\.com$/ example.com/$1/\n", {}), "u@example.com"), "example.com/u/");
  }
}

TEST(RegexpTable, UnmatchedGroupsExpandToNothing) {
  auto t = regexp("/^(y)?z(w)?/ [$1][$2]\n");
  EXPECT_EQ(get(*t, "yz"), "[y][]");
  EXPECT_EQ(get(*t, "zw"), "[][w]");
}

TEST(RegexpTable, FlagsToggleDefaults) {
  auto t = regexp("/^a$/i sensitive\n/^ww$/ insensitive\n/^b+$/x basic\n/^l1$/m multiline\n");
  EXPECT_EQ(get(*t, "a"), "sensitive");
  EXPECT_EQ(get(*t, "A"), "<none>");
  EXPECT_EQ(get(*t, "WW"), "insensitive");
  EXPECT_EQ(get(*t, "b+"), "basic");  // basic syntax: + is literal
  EXPECT_EQ(get(*t, "bb"), "<none>");
  EXPECT_EQ(get(*t, "l0\nl1"), "multiline");
}

TEST(RegexpTable, KeysAreNotFoldedUnlessFoldMul) {
  auto t = regexp("/^(.*)$/i [$1]\n");
  EXPECT_EQ(get(*t, "MiXed"), "[MiXed]");
  OpenOptions o;
  o.fold_mul = true;
  EXPECT_EQ(get(*regexp("/^(.*)$/i [$1]\n", o), "MiXed"), "[mixed]");
}

TEST(RegexpTable, NegationSecondPatternAndDelimiters) {
  auto t = regexp("!/^h/ not-h\n");
  EXPECT_EQ(get(*t, "hello"), "<none>");
  EXPECT_EQ(get(*t, "jello"), "not-h");
  auto u = regexp("/^i/!/^ij/ i-not-ij\n|^r| pipe\n/^o\\/p/ slash\n!!/^d/ double\n");
  EXPECT_EQ(get(*u, "ix"), "i-not-ij");
  EXPECT_EQ(get(*u, "ij"), "<none>");
  EXPECT_EQ(get(*u, "R"), "pipe");
  EXPECT_EQ(get(*u, "o/p"), "slash");
  EXPECT_EQ(get(*u, "dd"), "double");
}

TEST(RegexpTable, IfEndifNesting) {
  auto t = regexp(
      "if /^k/\n"
      "/^kk/ kk\n"
      "if !/^kkk/\n"
      "/^k/ k-but-not-kkk\n"
      "endif\n"
      "endif\n"
      "/./ fallback\n");
  EXPECT_EQ(get(*t, "kk"), "kk");
  EXPECT_EQ(get(*t, "k1"), "k-but-not-kkk");
  EXPECT_EQ(get(*t, "x"), "fallback");
  EXPECT_TRUE(t->warnings().empty());
}

TEST(RegexpTable, IfWithoutEndifSkipsTheRest) {
  auto t = regexp("IF /^a/\n/^ab/ ab\n/./ any\n");
  EXPECT_EQ(get(*t, "ab"), "ab");
  EXPECT_EQ(get(*t, "zz"), "<none>");
  ASSERT_EQ(t->warnings().size(), 1u);
  EXPECT_EQ(t->warnings()[0], "regexp map r, line 1: IF has no matching ENDIF");
}

TEST(RegexpTable, BadRulesAreSkippedWithPostfixWarnings) {
  auto t = regexp(
      "/^b/x\n"           // 1 no replacement text
      "/^c(/ bad\n"       // 2 bad regex
      "/^d/q unk\n"       // 3 unknown flag
      "/^e(x)/ $2 oor\n"  // 4 out of range
      "/^f/ $x nonnum\n"  // 5 non-numeric
      "/^g/ $\n"          // 6 empty macro name
      "!/^h/ $1\n"        // 7 $n in negative rule
      "endif\n"           // 8 stray endif
      "if !/^l/ extra\n"  // 9 extra text after if (kept)
      "endif junk\n"      // 10 extra text after endif (kept)
      "if /^n\n"          // 11 no closing delimiter
      "/^q/ $$5 ${1\n"    // 12 truncated macro
      "/^s/ ${0}\n"       // 13 zero index
      "foo\n"             // 14 unrecognized
      "!\n");             // 15 no regexp
  std::vector<std::string> want = {
      "regexp map r, line 1: no replacement text: using empty string",
      "regexp map r, line 2: Unmatched ( or \\(",
      "regexp map r, line 3: unknown regexp option \"q\": skipping this rule",
      "regexp map r, line 4: out of range replacement index \"2\": skipping this rule",
      "regexp map r, line 5: non-numeric replacement index \"x\"",
      "regexp map r, line 5: bad replacement syntax: skipping this rule",
      "regexp map r, line 6: empty macro name: \"$\"",
      "regexp map r, line 6: bad replacement syntax: skipping this rule",
      "regexp map r, line 7: $number found in negative match replacement text: skipping this rule",
      "regexp map r, line 8: ignoring ENDIF without matching IF",
      "regexp map r, line 9: ignoring extra text after IF statement: \"extra\"",
      "regexp map r, line 9: do not prepend whitespace to statements between IF and ENDIF",
      "regexp map r, line 10: ignoring extra text after ENDIF",
      "regexp map r, line 11: no closing regexp delimiter \"/\": skipping this rule",
      "regexp map r, line 12: truncated macro reference: \"$$5 ${1\"",
      "regexp map r, line 12: bad replacement syntax: skipping this rule",
      "regexp map r, line 13: out-of-range replacement index \"0\"",
      "regexp map r, line 13: bad replacement syntax: skipping this rule",
      "regexp map r, line 14: ignoring unrecognized request",
      "regexp map r, line 15: no regexp: skipping this rule",
  };
  EXPECT_EQ(t->warnings(), want);
  // The rule without replacement text still matches, with an empty result.
  EXPECT_EQ(get(*t, "b"), "");
  EXPECT_EQ(get(*t, "c"), "<none>");
  EXPECT_EQ(get(*t, "q"), "<none>");
}

TEST(PcreTable, FlagsAndSubstitution) {
  auto t = pcre(
      "/^(.*)@(.*)$/ user=$1 dom=${2}\n"
      "/^a$/i case-sensitive\n"
      "/^(y)?z/ [$1]\n"
      "/^Ww$/ caseless\n"
      "/^s.t$/ dotall\n"
      "/^s.u$/s no-dotall\n"
      "/^x/X obsolete\n"
      "/^ a b $/x extended\n"
      "/b+?/U greedy-toggle\n");
  EXPECT_EQ(get(*t, "u@d"), "user=u dom=d");
  EXPECT_EQ(get(*t, "a"), "case-sensitive");
  EXPECT_EQ(get(*t, "A"), "<none>");
  EXPECT_EQ(get(*t, "z"), "[]");
  EXPECT_EQ(get(*t, "yz"), "[y]");
  EXPECT_EQ(get(*t, "wW"), "caseless");
  EXPECT_EQ(get(*t, "s\nt"), "dotall");
  EXPECT_EQ(get(*t, "s\nu"), "<none>");
  EXPECT_EQ(get(*t, "x"), "obsolete");
  EXPECT_EQ(get(*t, "ab"), "extended");
  ASSERT_EQ(t->warnings().size(), 1u);
  EXPECT_EQ(t->warnings()[0], "pcre map p, line 7: ignoring obsolete regexp option \"X\"");
}

TEST(PcreTable, PostfixWarnings) {
  auto t = pcre("/^c(/ bad\n/^d/q unk\n/^e(x)/ $2 oor\n/^i/!/^ij/ x\n/^n\nif /^k/\n/^s/ ${0}\n");
  std::vector<std::string> want = {
      "pcre map p, line 1: error in regex at offset 3: missing closing parenthesis",
      "pcre map p, line 2: unknown regexp option \"q\": skipping this rule",
      "pcre map p, line 3: out of range replacement index \"2\": skipping this rule",
      "pcre map p, line 4: unknown regexp option \"!\": skipping this rule",
      "pcre map p, line 5: no closing regexp delimiter \"/\": ignoring this rule",
      "pcre map p, line 7: out of range replacement index \"0\"",
      "pcre map p, line 7: bad replacement syntax: skipping this rule",
      "pcre map p, line 6: IF has no matching ENDIF",
  };
  EXPECT_EQ(t->warnings(), want);
}

TEST(PcreTable, IfEndifAndAnchors) {
  auto t = pcre("if !/@example\\.com$/\n/./ foreign\nendif\n/^(.+)@/A local=$1\n");
  EXPECT_EQ(get(*t, "a@other.org"), "foreign");
  EXPECT_EQ(get(*t, "joe@example.com"), "local=joe");
}

TEST(PatternTables, OpenFromFileAndDetectChanges) {
  testing::TempDir dir;
  testing::write_file(dir.path("r"), "/^a/ A\n");
  auto t = open_table("regexp:" + dir.path("r"), quiet());
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(get(**t, "abc"), "A");
  EXPECT_FALSE((*t)->changed());
  struct timespec times[2] = {{0, UTIME_OMIT}, {1, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, dir.path("r").c_str(), times, 0), 0);
  EXPECT_TRUE((*t)->changed());
  auto missing = open_table("pcre:" + dir.path("missing"), quiet());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message, "open " + dir.path("missing") + ": No such file or directory");
  OpenOptions w;
  w.access = Access::Update;
  auto rw = open_table("regexp:" + dir.path("r"), quiet(w));
  ASSERT_FALSE(rw.ok());
  EXPECT_EQ(rw.error().message, "regexp:" + dir.path("r") + " map requires O_RDONLY access mode");
}

}  // namespace
}  // namespace postern::maps
