// regex_bound.h - refuses POSIX regular expressions whose compilation would
// cost unbounded memory or time, before they reach regcomp().
//
// Why: glibc's regcomp() expands every repetition by copying the repeated
// subexpression (x{n,m} becomes m copies, x+ becomes "x x*"), so repetitions
// of repetitions multiply: "a{1000}{1000}" is a million nodes and
// "a++++++++++++++++++++++++++++++" doubles with every "+", gigabytes in
// either case. Separately, its epsilon-closure tables are quadratic in the
// number of optional (nullable) copies: "a{0,10000}" takes half a minute
// and most of a gigabyte. A lookup table is configuration, but one bad line
// must not take a daemon (or postmap) down, so each pattern is measured
// first and refused above fixed bounds, which real patterns (alternations
// of a few thousand characters, "[^@]{1,64}", "(\.[a-z0-9-]+)*") stay well
// below.
//
// The estimate walks the pattern with POSIX (and glibc's) syntax: extended
// (ERE) or basic (BRE, with GNU's \+ \? \| operators), bracket expressions
// with [:class:], [.coll.] and [=equiv=], intervals {n}, {n,}, {n,m}, {,m}.
// It never rejects a pattern for bad syntax (regcomp reports that); it
// only over-estimates where syntax is odd.
//
// Two more costs cannot be bounded by counting. regcomp()'s epsilon-closure
// work grows exponentially with zero-width assertions (^ $ \b \B \< \> \`
// \') that can follow one another inside a repetition: "(\b\b\b\b\b\b\b\b\b\b)*"
// (23 bytes) takes seconds, one more "\b" doubles it; repetitions of
// expressions that may be empty form epsilon cycles with similar effects.
// Patterns with such shapes are flagged (posix_regex_needs_trial) and
// compiled first in a child process under a CPU-time limit (regex_trial.h).
// And regexec() with back-references (\1 to \9) takes time polynomial of
// high degree in the key: "(a*)*\1c" against 250 "a"s takes 17 seconds.
// Keys come from the network, so back-references are refused.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace postern::maps {

// Bounds, counted in expanded elements (one per literal, bracket, anchor,
// group or operator after repetitions are expanded).
inline constexpr std::uint64_t kMaxRegexElements = 20000;
// Expanded elements that may match the empty string (optional copies from
// *, ?, {0,n}, {n,m} with m > n, and anything inside them).
inline constexpr std::uint64_t kMaxRegexOptionalElements = 2000;
// Levels of repetitions that copy (+, {n,m} with m >= 2) an expression that
// may match the empty string, one inside the other: glibc's epsilon-closure
// computation takes about ten times longer per level whatever the element
// count ("a?+?+?+?+?+?+?+?+", 17 characters, takes seconds; a fuzzer found
// a pattern that took over ten minutes). Real patterns have none.
inline constexpr int kMaxNullableCopiesDepth = 4;

// Zero-width assertions (after expansion) beyond which a pattern is
// compiled on trial even when none is repeated: ten "\b" in a row take
// 0.3 ms, forty take 100 ms.
inline constexpr std::uint64_t kMaxUntriedAssertions = 8;

struct RegexCost {
  std::uint64_t elements = 0;
  std::uint64_t optional = 0;
  bool too_deep = false;  // groups nested beyond 250 (PCRE2's default limit)
  int nullable_copies_depth = 0;  // see kMaxNullableCopiesDepth
  std::uint64_t assertions = 0;     // zero-width assertions, after expansion
  bool repeats_assertion = false;   // an assertion inside a repeated expression
  bool repeats_nullable = false;    // "*", "+" or copies of an expression that may be empty
  int back_references = 0;          // \1 to \9 outside bracket expressions
};

// Measures `pattern` as regcomp() would expand it (saturating, never
// overflowing). `extended` selects ERE syntax (REG_EXTENDED).
RegexCost measure_posix_regex(std::string_view pattern, bool extended);

// Empty when the pattern is within bounds; otherwise the reason, in words
// fit for "regexp map FILE, line N: <reason>: skipping this rule".
std::string posix_regex_too_complex(const RegexCost& cost);
std::string posix_regex_too_complex(std::string_view pattern, bool extended);

// True when the pattern has a shape whose compile time the counts above
// cannot vouch for (see the top of this file); such a pattern is compiled
// on trial first (regex_trial.h). Real patterns rarely have one:
// "^(.*)@(.*\.)?example\.com$", "\bviagra\b" and "(^|\.)example\.com$" do not.
bool posix_regex_needs_trial(const RegexCost& cost);

}  // namespace postern::maps
