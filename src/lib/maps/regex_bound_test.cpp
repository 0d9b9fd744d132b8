// regex_bound_test.cpp - the POSIX pattern cost estimate, and regexp:/pcre:
// tables refusing patterns that would exhaust memory (fuzzer finding
// tests/fuzz-known/regexp_table-oom-1) in bounded time and memory.
#include <gtest/gtest.h>
#include <regex.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <sstream>
#include <string>

#include "maps/regex_bound.h"
#include "maps/regex_trial.h"
#include "maps/test_support.h"
#include "maps/text_tables.h"

#if defined(__SANITIZE_ADDRESS__)
#define POSTERN_TEST_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POSTERN_TEST_UNDER_ASAN 1
#endif
#endif

namespace postern::maps {
namespace {

using testing::get;
using testing::quiet;

bool ok(std::string_view re, bool ere = true) { return posix_regex_too_complex(re, ere).empty(); }

TEST(RegexBound, RealPatternsPass) {
  EXPECT_TRUE(ok("^(.*)@(.*)$"));
  EXPECT_TRUE(ok("^[^@]{1,64}@([a-z0-9-]+\\.)+[a-z]{2,}$"));
  EXPECT_TRUE(ok("^(\\d{1,3}\\.){3}\\d{1,3}$"));
  EXPECT_TRUE(ok("^Subject:.*(viagra|cialis|casino|lottery|winner)"));
  EXPECT_TRUE(ok("[]a-z[:alpha:][.-.][=e=]]{2,5}"));
  EXPECT_TRUE(ok("a{1,1000}"));
  EXPECT_TRUE(ok("^\\(a*\\)\\{2,3\\}$", false));
  // A long alternation of literals is big but cheap for regcomp.
  std::string words = "^(word0";
  for (int i = 1; i < 1500; ++i) words += "|word" + std::to_string(i);
  EXPECT_TRUE(ok(words + ")$"));
}

TEST(RegexBound, ExpansionIsCounted) {
  EXPECT_EQ(measure_posix_regex("abc", true).elements, 3u);
  EXPECT_EQ(measure_posix_regex("a{3}", true).elements, 6u);   // 3 copies + 3 operators
  EXPECT_EQ(measure_posix_regex("a{1,3}", true).optional, 4u);  // 2 optional copies
  EXPECT_EQ(measure_posix_regex("a{3}", false).elements, 4u);   // BRE: "{3}" is literal
  EXPECT_EQ(measure_posix_regex("a\\{3\\}", false).elements, 6u);
  // "x+" is "x x*": every "+" doubles.
  EXPECT_GT(measure_posix_regex("a++++++++++++++++++++++++++++++++++++++++", true).elements, 1u << 30);
}

TEST(RegexBound, PathologicalPatternsAreRefused) {
  EXPECT_FALSE(ok("a{1000}{1000}"));
  EXPECT_FALSE(ok("a{32767}{32767}{32767}{32767}{32767}"));  // saturates, no wrap-around
  EXPECT_FALSE(ok("a++++++++++++++++++++++++++++++++"));
  EXPECT_FALSE(ok("a\\+\\+\\+\\+\\+\\+\\+\\+\\+\\+\\+\\+\\+\\+\\+\\+", false));
  EXPECT_FALSE(ok("a{0,10000}"));       // quadratic closure tables
  EXPECT_FALSE(ok("(a|b|c|d)*{2000}"));  // nullable copies
  EXPECT_FALSE(ok("a\\{0,10000\\}", false));
  EXPECT_NE(posix_regex_too_complex(std::string(300, '(') + "a" + std::string(300, ')'), true)
                .find("nests more than 250"),
            std::string::npos);
  EXPECT_TRUE(ok(std::string(100, '(') + "a" + std::string(100, ')')));
}

TEST(RegexBound, OddSyntaxNeverLoopsOrCrashes) {
  for (std::string_view re : {"", "(", ")", "\\", "[", "[]", "[^]", "[[:", "{", "{,", "a{", "a{1,", "a{,5}",
                              "*a", "+", "|", "||", "\\(", "\\)", "\\{1\\}", "a\\{", "[[.", "(|)*{9}"}) {
    (void)measure_posix_regex(re, true);
    (void)measure_posix_regex(re, false);
  }
}

// Runs `body` in a child under an address-space limit (skipped under
// AddressSanitizer, whose shadow memory needs terabytes of address space)
// and a time limit; true when it finished cleanly.
bool bounded(void (*body)()) {
  pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) {
#if !defined(POSTERN_TEST_UNDER_ASAN)
    rlimit as{512u << 20, 512u << 20};
    ::setrlimit(RLIMIT_AS, &as);
#endif
    ::alarm(20);
    body();
    ::_exit(0);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

TEST(RegexBound, FuzzerOutOfMemoryReproducer) {
  // tests/fuzz-known/regexp_table-oom-1, fed as fuzz_regexp_table does: the
  // first byte (even) selects regexp:, the rest is the table text. The rule
  // "!\x10\x19\x19\x19+++...+\xaa!\x10" repeats "+" 32 times: 2^32 copies.
  static const unsigned char kInput[] = {
      0x21, 0x10, 0x19, 0x19, 0x19, 0x2b, 0x2b, 0x2b, 0x2b, 0x2b, 0x2b, 0x2b, 0x2b, 0x2b, 0x2b, 0x2b, 0x2b,
      0x2b, 0x2b, 0x2b, 0x2b, 0x2b, 0x2b, 0x2b, 0x2b, 0x2b, 0x2b, 0x2b, 0x2b, 0x2b, 0x2b, 0x2b, 0x2b, 0x2b,
      0x2b, 0x2b, 0x2b, 0x2b, 0x2b, 0xaa, 0x21, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0xaa,
      0x21, 0x10, 0x21, 0x7e, 0x7e};
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(bounded([] {
    std::istringstream in(std::string(reinterpret_cast<const char*>(kInput), sizeof kInput));
    auto t = parse_regexp_table("fuzz", in, quiet({}));
    (void)t->lookup("a");
  }));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(RegexBound, CopiesOfEmptyMatchesAreBounded) {
  // Few elements, but copies of nullable expressions nested ever deeper.
  EXPECT_FALSE(ok("a?+?+?+?+?+?+?+?+"));
  EXPECT_FALSE(ok("(((((((((a?)+)?)+)?)+)?)+)?)+"));  // five levels
  EXPECT_TRUE(ok("(((((((a?)+)?)+)?)+)?)+(b?)+"));    // four
  EXPECT_FALSE(ok("(((((a*){2}){2}){2}){2}){2}"));
  EXPECT_TRUE(ok("((((a*){2})*){2}){2}((b*){2})*{2}"));  // three
  EXPECT_NE(posix_regex_too_complex("a?+?+?+?+?+", true).find("may be empty more than 4 levels deep"),
            std::string::npos);
  // Up to four levels pass, and nothing nullable under "+" costs a level.
  EXPECT_TRUE(ok("a?+?+?+?+"));
  EXPECT_TRUE(ok("(\\.[a-z0-9-]+)+@([a-z0-9-]+\\.)+[a-z]{2,}"));
  EXPECT_TRUE(ok("((a+)+)+"));
  EXPECT_EQ(measure_posix_regex("(b?)+", true).nullable_copies_depth, 1);
  EXPECT_EQ(measure_posix_regex("(b?)*", true).nullable_copies_depth, 0);
  EXPECT_EQ(measure_posix_regex("(b?){1,3}|x", true).nullable_copies_depth, 1);
  EXPECT_EQ(measure_posix_regex("\\(b\\?\\)\\+", false).nullable_copies_depth, 1);
}

TEST(RegexBound, FuzzerTimeoutReproducer) {
  // tests/fuzz-known/regexp_table-timeout-1, fed as fuzz_regexp_table does:
  // 17 "+" over "?"-made empty matches in 50 bytes kept glibc's regcomp()
  // busy for over ten minutes.
  static const unsigned char kInput[] = {
      0x00, 0x2f, 0x55, 0x7c, 0xff, 0x3f, 0xc7, 0x3f, 0x3f, 0x3f, 0x2a, 0x3f, 0x3f, 0x7c, 0x31, 0x2b, 0xff,
      0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x2b, 0x2b, 0x2b, 0x3f, 0x3f, 0x3f, 0x3f,
      0x3f, 0x3f, 0x2b, 0x2b, 0x2b, 0x2b, 0xd8, 0x2b, 0xba, 0x2b, 0x2b, 0x2b, 0x2b, 0x2b, 0x2b, 0x7c, 0x2f,
      0x20, 0x78, 0x0a};
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(bounded([] {
    std::istringstream in(std::string(reinterpret_cast<const char*>(kInput) + 1, sizeof kInput - 1));
    auto t = parse_regexp_table("fuzz", in, quiet({}));
    (void)t->lookup("a");
  }));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(RegexBound, TablesWarnWithFileAndLine) {
  std::istringstream in("/^ok$/ fine\n/a{1000}{1000}/ boom\n/a++++++++++++++++++++++++++++++++/ boom\n");
  auto t = parse_regexp_table("/etc/postfix/x", in, quiet({}));
  ASSERT_EQ(t->warnings().size(), 2u);
  EXPECT_EQ(t->warnings()[0],
            "regexp map /etc/postfix/x, line 2: regular expression too complex: expands to more than 20000 "
            "elements");
  EXPECT_EQ(get(*t, "ok"), "fine");
  EXPECT_EQ(get(*t, "aaaa"), "<none>");
}

TEST(RegexBound, PcreLimitsApply) {
  // Nesting beyond the limit fails to compile, with PCRE2's message.
  std::istringstream in("/" + std::string(300, '(') + "a" + std::string(300, ')') + "/ deep\n/^(a+)+$/ slow\n");
  auto t = parse_pcre_table("p", in, quiet({}));
  ASSERT_EQ(t->warnings().size(), 1u);
  EXPECT_NE(t->warnings()[0].find("p, line 1: error in regex"), std::string::npos);
  // Catastrophic backtracking stops at the match limit: no answer, fast.
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(get(*t, std::string(40, 'a') + "!"), "<none>");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(RegexBound, ShapesThatNeedTrial) {
  auto needs = [](std::string_view re, bool ere = true) {
    return posix_regex_needs_trial(measure_posix_regex(re, ere));
  };
  // Real patterns compile untried.
  EXPECT_FALSE(needs("^(.*)@(.*\\.)?example\\.com$"));
  EXPECT_FALSE(needs("(^|\\.)example\\.com$"));
  EXPECT_FALSE(needs("^Subject:.*\\b(viagra|cialis)\\b"));
  EXPECT_FALSE(needs("^[^@]{1,64}@([a-z0-9-]+\\.)+[a-z]{2,}$"));
  EXPECT_FALSE(needs("(\\.[a-z0-9-]+)*@"));
  EXPECT_FALSE(needs("^$"));
  // Assertions inside repetitions, repeated empty matches, long runs of
  // assertions: regcomp's time for these has no estimate.
  EXPECT_TRUE(needs("(\\b\\b)*"));
  EXPECT_TRUE(needs("(x\\<)+"));
  EXPECT_TRUE(needs("(^|a){2}"));
  EXPECT_TRUE(needs("(a?b?)*c"));
  EXPECT_TRUE(needs("\\(a*\\)*", false));
  EXPECT_TRUE(needs("\\b\\b\\b\\b\\b\\b\\b\\b\\b"));
  EXPECT_FALSE(needs("\\b\\b\\b\\b\\b\\b\\b\\b"));
  EXPECT_EQ(measure_posix_regex("(\\`\\')*", true).assertions, 2u);
  EXPECT_EQ(measure_posix_regex("\\w\\s", true).assertions, 0u);  // classes, not assertions
}

TEST(RegexBound, BackReferencesAreRefused) {
  EXPECT_NE(posix_regex_too_complex("(a*)*\\1c", true).find("back-references (\\1 to \\9) are not supported"),
            std::string::npos);
  EXPECT_FALSE(ok("^\\(.*\\)@\\1$", false));
  EXPECT_TRUE(ok("[\\1]x"));    // in a bracket expression: characters
  EXPECT_TRUE(ok("a\\\\1"));    // an escaped backslash, then "1"
  EXPECT_EQ(measure_posix_regex("(a)(b)\\2\\1", true).back_references, 2);
}

// Twelve "\b" in a starred group: glibc's regcomp() needs minutes.
constexpr const char* kSlowPattern = "(\\b\\b\\b\\b\\b\\b\\b\\b\\b\\b\\b\\b)*";

TEST(RegexTrial, SlowCompileIsStopped) {
  auto start = std::chrono::steady_clock::now();
  std::string why = posix_regex_trial(kSlowPattern, REG_EXTENDED, std::chrono::milliseconds(100));
  EXPECT_EQ(why, "regular expression too complex: compiling it took more than 100 ms of CPU time");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(RegexTrial, FastCompilePasses) {
  EXPECT_EQ(posix_regex_trial("(a?b?)*c", REG_EXTENDED), "");
  EXPECT_EQ(posix_regex_trial("(\\b\\b)*", REG_EXTENDED | REG_ICASE), "");
  // A syntax error is the real compile's to report, not the trial's.
  EXPECT_EQ(posix_regex_trial("(a*", REG_EXTENDED), "");
}

TEST(RegexTrial, TablesSkipTheSlowRuleOnly) {
  std::istringstream in(std::string("/") + kSlowPattern + "x/ slow\n/(a?b?)*c/ tried\n/(.)\\1/ twice\n/^z/ plain\n");
  auto start = std::chrono::steady_clock::now();
  auto t = parse_regexp_table("/etc/postfix/x", in, quiet({}));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  ASSERT_EQ(t->warnings().size(), 2u);
  EXPECT_EQ(t->warnings()[0],
            "regexp map /etc/postfix/x, line 1: regular expression too complex: compiling it took more than 250 "
            "ms of CPU time");
  EXPECT_EQ(t->warnings()[1],
            "regexp map /etc/postfix/x, line 3: back-references (\\1 to \\9) are not supported: their matching "
            "time has no useful bound; use a pcre: table");
  EXPECT_EQ(get(*t, "x"), "<none>");
  EXPECT_EQ(get(*t, "abc"), "tried");
  EXPECT_EQ(get(*t, "zz"), "plain");
}

TEST(RegexTrial, TimeoutReproducer) {
  // tests/fuzz-known/regexp_table-timeout-2, fed as fuzz_regexp_table does:
  // the first byte (even) selects regexp:. Sixteen "\b" in a starred group
  // (40 bytes); glibc's regcomp() would need hours.
  static const char kInput[] = "\0/(\\b\\b\\b\\b\\b\\b\\b\\b\\b\\b\\b\\b\\b\\b\\b\\b)*/ x\n";
  auto start = std::chrono::steady_clock::now();
  std::istringstream in(std::string(kInput + 1, sizeof kInput - 2));
  auto t = parse_regexp_table("fuzz", in, quiet({}));
  EXPECT_EQ(get(*t, "a"), "<none>");
  EXPECT_EQ(t->warnings().size(), 1u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

}  // namespace
}  // namespace postern::maps
