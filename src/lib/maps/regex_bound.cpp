// regex_bound.cpp - measures a POSIX regular expression as glibc's regcomp()
// would expand it; see regex_bound.h for why and for the bounds.
#include "maps/regex_bound.h"

#include <algorithm>

#include <fmt/format.h>

namespace postern::maps {
namespace {

// Saturating arithmetic: patterns like "a{32767}{32767}{32767}" must not
// wrap around to a small cost.
constexpr std::uint64_t kCap = std::uint64_t{1} << 50;
constexpr std::uint64_t kInfinite = ~std::uint64_t{0};

std::uint64_t add(std::uint64_t a, std::uint64_t b) { return std::min(kCap, a + b); }  // a, b <= kCap
std::uint64_t mul(std::uint64_t a, std::uint64_t b) {
  if (a == 0 || b == 0) return 0;
  if (a > kCap / b) return kCap;
  return std::min(kCap, a * b);
}

struct Cost {
  std::uint64_t size = 0;
  std::uint64_t optional = 0;
  bool nullable = true;  // may match the empty string
  int nullable_copies_depth = 0;  // see RegexCost
  std::uint64_t assertions = 0;
  bool repeats_assertion = false;
  bool repeats_nullable = false;
};

class Walker {
 public:
  Walker(std::string_view p, bool ere) : p_(p), ere_(ere) {}

  RegexCost run() {
    Cost c;
    // A stray close at the top level ends alternation(); regcomp treats it
    // as a literal (ERE) or an error (BRE), so count it and go on.
    for (;;) {
      c = join(c, alternation(0));
      if (at_end()) break;
      i_ += ere_ ? 1 : 2;
      c.size = add(c.size, 1);
    }
    return RegexCost{c.size,        c.optional,          too_deep_,          c.nullable_copies_depth,
                     c.assertions,  c.repeats_assertion, c.repeats_nullable, back_references_};
  }

 private:
  bool at_end() const { return i_ >= p_.size(); }
  bool at(std::size_t k, char c) const { return i_ + k < p_.size() && p_[i_ + k] == c; }
  // ERE: "|"; BRE: GNU's "\|".
  bool at_alt() const { return ere_ ? at(0, '|') : at(0, '\\') && at(1, '|'); }
  bool at_close() const { return ere_ ? at(0, ')') : at(0, '\\') && at(1, ')'); }

  // The flags and counts that do not depend on how a and b are combined.
  static void merge_shape(Cost& a, const Cost& b) {
    a.nullable_copies_depth = std::max(a.nullable_copies_depth, b.nullable_copies_depth);
    a.assertions = add(a.assertions, b.assertions);
    a.repeats_assertion = a.repeats_assertion || b.repeats_assertion;
    a.repeats_nullable = a.repeats_nullable || b.repeats_nullable;
  }

  static Cost join(Cost a, const Cost& b) {
    a.size = add(a.size, b.size);
    a.optional = add(a.optional, b.optional);
    a.nullable = a.nullable && b.nullable;
    merge_shape(a, b);
    return a;
  }

  Cost alternation(int depth) {
    Cost c = branch(depth);
    while (at_alt()) {
      i_ += ere_ ? 1 : 2;
      Cost b = branch(depth);
      c.size = add(add(c.size, b.size), 1);
      c.optional = add(c.optional, b.optional);
      c.nullable = c.nullable || b.nullable;
      merge_shape(c, b);
    }
    return c;
  }

  Cost branch(int depth) {
    Cost c;
    while (!at_end() && !at_alt() && !at_close()) c = join(c, piece(depth));
    return c;
  }

  Cost piece(int depth) {
    Cost c = atom(depth);
    for (;;) {
      std::uint64_t min = 0, max = 0;
      if (at(0, '*')) {
        ++i_;
        max = kInfinite;
      } else if (ere_ && (at(0, '+') || at(0, '?'))) {
        min = p_[i_] == '+' ? 1 : 0;
        max = p_[i_] == '+' ? kInfinite : 1;
        ++i_;
      } else if (!ere_ && at(0, '\\') && (at(1, '+') || at(1, '?'))) {
        min = p_[i_ + 1] == '+' ? 1 : 0;
        max = p_[i_ + 1] == '+' ? kInfinite : 1;
        i_ += 2;
      } else if (!interval(min, max)) {
        return c;
      }
      c = repeat(c, min, max);
    }
  }

  // {n}, {n,}, {n,m}, {,m} (ERE) or the same between \{ and \} (BRE).
  // Leaves the position alone when the text is not an interval.
  bool interval(std::uint64_t& min, std::uint64_t& max) {
    std::size_t j = i_;
    if (ere_ ? !at(0, '{') : !(at(0, '\\') && at(1, '{'))) return false;
    j += ere_ ? 1 : 2;
    auto number = [&](std::uint64_t& v) {
      bool any = false;
      v = 0;
      while (j < p_.size() && p_[j] >= '0' && p_[j] <= '9') {
        v = std::min<std::uint64_t>(v * 10 + static_cast<std::uint64_t>(p_[j] - '0'), 1000000);
        ++j;
        any = true;
      }
      return any;
    };
    bool has_min = number(min);
    if (!has_min) min = 0;
    if (j < p_.size() && p_[j] == ',') {
      ++j;
      if (!number(max)) max = kInfinite;
    } else {
      if (!has_min) return false;
      max = min;
    }
    if (ere_) {
      if (j >= p_.size() || p_[j] != '}') return false;
      i_ = j + 1;
    } else {
      if (j + 1 >= p_.size() || p_[j] != '\\' || p_[j + 1] != '}') return false;
      i_ = j + 2;
    }
    if (max < min) max = min;  // regcomp rejects it; do not under-count
    return true;
  }

  // regcomp copies the repeated subexpression: min mandatory copies, then
  // max - min optional ones (or one starred copy when unbounded), each with
  // an operator element.
  static Cost repeat(const Cost& c, std::uint64_t min, std::uint64_t max) {
    std::uint64_t optional_copies = max == kInfinite ? 1 : max - min;
    std::uint64_t copies = std::max<std::uint64_t>(1, add(min, optional_copies));
    Cost r;
    r.size = add(mul(c.size, copies), copies);
    std::uint64_t per_mandatory = c.nullable ? c.size : c.optional;
    r.optional = add(mul(per_mandatory, min), mul(add(c.size, 1), optional_copies));
    r.nullable = c.nullable || min == 0;
    // Copies of something that may be empty: the epsilon closures glibc
    // computes multiply with every such level ("a?+?+?+..." or
    // "((a?)+)+..." take about ten times longer per level).
    r.nullable_copies_depth = c.nullable_copies_depth + (c.nullable && copies >= 2 ? 1 : 0);
    r.assertions = mul(c.assertions, copies);
    bool repeated = copies >= 2 || max == kInfinite;
    r.repeats_assertion = c.repeats_assertion || (repeated && c.assertions > 0);
    r.repeats_nullable = c.repeats_nullable || (repeated && c.nullable);
    return r;
  }

  Cost atom(int depth) {
    Cost one{1, 0, false};
    char ch = p_[i_];
    bool open = ere_ ? ch == '(' : ch == '\\' && at(1, '(');
    if (open) {
      i_ += ere_ ? 1 : 2;
      if (depth + 1 > kMaxNesting) {
        // Do not recurse further (our stack, and regcomp's, are finite);
        // the pattern is refused anyway.
        too_deep_ = true;
        return one;
      }
      Cost c = alternation(depth + 1);
      if (at_close()) i_ += ere_ ? 1 : 2;
      c.size = add(c.size, 1);
      return c;
    }
    if (ch == '[') {
      bracket();
      return one;
    }
    if (ch == '^' || ch == '$') {
      ++i_;
      return assertion();
    }
    if (ch == '\\') {
      char next = i_ + 1 < p_.size() ? p_[i_ + 1] : '\0';
      i_ += std::min<std::size_t>(2, p_.size() - i_);
      // GNU's word and buffer assertions are zero-width like ^ and $.
      if (std::string_view("bB<>`'").find(next) != std::string_view::npos && next != '\0') return assertion();
      if (next >= '1' && next <= '9') {
        ++back_references_;
        return Cost{1, 0, true};  // the group it refers to may have matched nothing
      }
      return one;
    }
    ++i_;  // any other character, including a leading "*", "+", "?", "{"
    return one;
  }

  // Skips a bracket expression: "]" first (after an optional "^") is a
  // member, and [:class:], [.coll.], [=equiv=] may contain "]".
  void bracket() {
    std::size_t j = i_ + 1;
    if (j < p_.size() && p_[j] == '^') ++j;
    if (j < p_.size() && p_[j] == ']') ++j;
    while (j < p_.size() && p_[j] != ']') {
      if (p_[j] == '[' && j + 1 < p_.size() && (p_[j + 1] == ':' || p_[j + 1] == '.' || p_[j + 1] == '=')) {
        char kind = p_[j + 1];
        std::size_t k = j + 2;
        while (k + 1 < p_.size() && !(p_[k] == kind && p_[k + 1] == ']')) ++k;
        j = k + 1 < p_.size() ? k + 2 : p_.size();
        continue;
      }
      ++j;
    }
    i_ = std::min(p_.size(), j + 1);
  }

  static Cost assertion() {
    Cost c{1, 0, true};
    c.assertions = 1;
    return c;
  }

  static constexpr int kMaxNesting = 250;

  std::string_view p_;
  bool ere_;
  std::size_t i_ = 0;
  bool too_deep_ = false;
  int back_references_ = 0;

 public:
  static constexpr int max_nesting() { return kMaxNesting; }
};

}  // namespace

RegexCost measure_posix_regex(std::string_view pattern, bool extended) {
  return Walker(pattern, extended).run();
}

std::string posix_regex_too_complex(std::string_view pattern, bool extended) {
  return posix_regex_too_complex(measure_posix_regex(pattern, extended));
}

bool posix_regex_needs_trial(const RegexCost& c) {
  return c.repeats_assertion || c.repeats_nullable || c.assertions > kMaxUntriedAssertions;
}

std::string posix_regex_too_complex(const RegexCost& c) {
  if (c.too_deep)
    return fmt::format("regular expression nests more than {} groups deep", Walker::max_nesting());
  if (c.elements > kMaxRegexElements)
    return fmt::format("regular expression too complex: expands to more than {} elements", kMaxRegexElements);
  if (c.optional > kMaxRegexOptionalElements)
    return fmt::format("regular expression too complex: more than {} optional elements after expansion",
                       kMaxRegexOptionalElements);
  if (c.nullable_copies_depth > kMaxNullableCopiesDepth)
    return fmt::format("regular expression too complex: repeats an expression that may be empty "
                       "more than {} levels deep",
                       kMaxNullableCopiesDepth);
  if (c.back_references > 0)
    return "back-references (\\1 to \\9) are not supported: their matching time has no useful bound; "
           "use a pcre: table";
  return {};
}

}  // namespace postern::maps
