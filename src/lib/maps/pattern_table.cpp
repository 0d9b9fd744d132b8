// pattern_table.cpp - regexp:/file (POSIX regcomp) and pcre:/file (PCRE2) tables.
//
// Syntax of regexp_table(5) and pcre_table(5), rules tried in file order,
// first match wins:
//   /pattern/flags result      match; result may use $1..$n, ${n}, $(n), $$
//   !/pattern/flags result     match when the pattern does not match
//   /pat1/flags!/pat2/flags result   (regexp only) pat1 matches, pat2 does not
//   if /pattern/flags  ...  endif    nested blocks, also "if !/pattern/"
// Any non-blank, non-alphanumeric character may delimit a pattern; "\"
// escapes it inside. Flags: regexp i (case, default insensitive), x
// (extended syntax, default on), m (multi-line); pcre i, m, s (dot matches
// newline, default on), x, A, E, U, and the obsolete X (ignored). The key is
// matched as given (no case folding unless fold_mul).
//
// A bad rule (bad pattern, unknown flag, $n beyond the pattern's groups,
// $n in a negative rule, stray endif) is skipped with Postfix's warning,
// e.g. "regexp map /etc/x, line 3: unknown regexp option "q": skipping this
// rule". A matching error at lookup time (PCRE backtracking limit) is logged
// and the rule treated as not matching, as Postfix does.
//
// Bounds (not in Postfix, which trusts its tables): a POSIX pattern whose
// expansion regcomp() could not afford is refused before compiling (see
// regex_bound.h), e.g. "regexp map /etc/x, line 3: regular expression too
// complex: expands to more than 20000 elements", a pattern of a shape whose
// compile time cannot be estimated is compiled first in a child process
// under a CPU-time limit (regex_trial.h), and back-references are refused
// (regexec() time grows without useful bound in the key); PCRE2 runs with explicit
// pattern-length, nesting, match-step and heap limits (see PcreContexts).
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <regex.h>

#include <cctype>
#include <climits>
#include <cstring>
#include <variant>

#include "base/strings.h"
#include "log/log.h"
#include "maps/internal.h"
#include "maps/regex_bound.h"
#include "maps/regex_trial.h"
#include "maps/source.h"
#include "maps/text_tables.h"

namespace postern::maps {
namespace {

bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// ---------------------------------------------------------------------------
// Replacement text: Postfix's mac_parse() split into literals and $n.

struct Replacement {
  std::vector<std::variant<std::string, int>> parts;
  int max_sub = 0;
};

// Parses `text`; on failure appends warnings (without prefix) to `why` and
// returns false. `dash` selects regexp's "out-of-range" vs pcre's wording.
bool parse_replacement(std::string_view text, bool dash, Replacement& out, std::vector<std::string>& why) {
  std::string buf;
  std::size_t i = 0;
  auto fail = [&](std::string w) {
    why.push_back(std::move(w));
    return false;
  };
  while (i < text.size()) {
    if (text[i] != '$') {
      buf += text[i++];
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '$') {
      buf += '$';
      i += 2;
      continue;
    }
    if (!buf.empty()) out.parts.emplace_back(std::exchange(buf, {}));
    ++i;
    std::string name;
    if (i < text.size() && (text[i] == '{' || text[i] == '(')) {
      char open = text[i], close = open == '{' ? '}' : ')';
      std::size_t start = ++i;
      int level = 1;
      std::size_t ep = start;
      for (; level > 0; ++ep) {
        if (ep >= text.size()) return fail("truncated macro reference: \"" + std::string(text) + "\"");
        if (text[ep] == open) ++level;
        if (text[ep] == close) --level;
      }
      name = std::string(text.substr(start, ep - start - 1));
      i = ep;
    } else {
      std::size_t start = i;
      while (i < text.size() && (is_alnum(text[i]) || text[i] == '_')) ++i;
      name = std::string(text.substr(start, i - start));
    }
    if (name.empty()) return fail("empty macro name: \"" + std::string(text) + "\"");
    bool digits = std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits) return fail("non-numeric replacement index \"" + name + "\"");
    long n = 0;
    for (char c : name) n = std::min<long>(n * 10 + (c - '0'), INT_MAX);
    if (n < 1)
      return fail(std::string(dash ? "out-of-range" : "out of range") + " replacement index \"" + name +
                  "\"");
    out.parts.emplace_back(static_cast<int>(n));
    out.max_sub = std::max(out.max_sub, static_cast<int>(n));
  }
  if (!buf.empty()) out.parts.emplace_back(std::move(buf));
  return true;
}

// ---------------------------------------------------------------------------
// Engines.

using Groups = std::vector<std::pair<long, long>>;  // [start, end) or {-1,-1}

class Matcher {
 public:
  virtual ~Matcher() = default;
  // 1: matched, 0: no match, -1: error (message in err).
  virtual int match(const std::string& subject, std::size_t ngroups, Groups* groups, std::string& err) = 0;
  virtual std::size_t capture_count() const = 0;
};

class PosixMatcher final : public Matcher {
 public:
  ~PosixMatcher() override {
    if (compiled_) ::regfree(&re_);
  }
  // Returns an error text, or empty on success.
  std::string compile(const std::string& pattern, int cflags) {
    int rc = ::regcomp(&re_, pattern.c_str(), cflags);
    if (rc != 0) {
      char buf[256];
      ::regerror(rc, &re_, buf, sizeof buf);
      return buf;
    }
    compiled_ = true;
    return {};
  }
  int match(const std::string& subject, std::size_t ngroups, Groups* groups, std::string& err) override {
    std::vector<regmatch_t> pm(ngroups);
    int rc = ::regexec(&re_, subject.c_str(), ngroups, ngroups ? pm.data() : nullptr, 0);
    if (rc == REG_NOMATCH) return 0;
    if (rc != 0) {
      char buf[256];
      ::regerror(rc, &re_, buf, sizeof buf);
      err = buf;
      return -1;
    }
    if (groups) {
      groups->clear();
      for (const auto& m : pm) groups->emplace_back(m.rm_so, m.rm_eo);
    }
    return 1;
  }
  std::size_t capture_count() const override { return re_.re_nsub; }

 private:
  regex_t re_{};
  bool compiled_ = false;
};

// PCRE2 limits. Its compiler is linear in the pattern and bounded by the
// compiled-size limit of its link size, but nothing bounds the pattern's
// length or a match's work except these contexts, so every pcre: table sets
// them explicitly rather than trusting the library's build defaults:
//   pattern length   kPcreMaxPatternLength bytes
//   group nesting    kPcreParensNestLimit (PCRE2's usual default)
//   match steps      kPcreMatchLimit (PCRE2's usual default), depth the same
//   match heap       kPcreHeapLimitKiB KiB (PCRE2's usual default is 20 MiB)
// A match that hits a limit is a lookup error: logged with file and line,
// and the rule treated as not matching (as Postfix does).
constexpr std::size_t kPcreMaxPatternLength = 64 * 1024;
constexpr std::uint32_t kPcreParensNestLimit = 250;
constexpr std::uint32_t kPcreMatchLimit = 10'000'000;
constexpr std::uint32_t kPcreHeapLimitKiB = 16 * 1024;

struct PcreContexts {
  pcre2_compile_context* compile = nullptr;
  pcre2_match_context* match = nullptr;
  PcreContexts() {
    compile = pcre2_compile_context_create(nullptr);
    match = pcre2_match_context_create(nullptr);
    if (compile) {
      pcre2_set_max_pattern_length(compile, kPcreMaxPatternLength);
      pcre2_set_parens_nest_limit(compile, kPcreParensNestLimit);
    }
    if (match) {
      pcre2_set_match_limit(match, kPcreMatchLimit);
      pcre2_set_depth_limit(match, kPcreMatchLimit);
      pcre2_set_heap_limit(match, kPcreHeapLimitKiB);
    }
  }
  ~PcreContexts() {
    pcre2_compile_context_free(compile);
    pcre2_match_context_free(match);
  }
  PcreContexts(const PcreContexts&) = delete;
  PcreContexts& operator=(const PcreContexts&) = delete;
};

// Immutable once built; shared by every pcre: table in the process.
const PcreContexts& pcre_contexts() {
  static const PcreContexts contexts;
  return contexts;
}

class PcreMatcher final : public Matcher {
 public:
  ~PcreMatcher() override {
    if (md_) pcre2_match_data_free(md_);
    if (code_) pcre2_code_free(code_);
  }
  std::string compile(const std::string& pattern, std::uint32_t options) {
    const PcreContexts& ctx = pcre_contexts();
    if (!ctx.compile || !ctx.match) return "out of memory in pcre2_*_context_create()";
    int errcode = 0;
    PCRE2_SIZE erroff = 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &errcode,
                          &erroff, ctx.compile);
    if (!code_) return fmt::format("error in regex at offset {}: {}", erroff, error_text(errcode));
    md_ = pcre2_match_data_create_from_pattern(code_, nullptr);
    if (!md_) return "out of memory in pcre2_match_data_create_from_pattern()";
    std::uint32_t n = 0;
    pcre2_pattern_info(code_, PCRE2_INFO_CAPTURECOUNT, &n);
    captures_ = n;
    return {};
  }
  int match(const std::string& subject, std::size_t ngroups, Groups* groups, std::string& err) override {
    int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), 0, 0, md_,
                         pcre_contexts().match);
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    if (rc < 0) {
      err = error_text(rc);
      return -1;
    }
    if (groups) {
      groups->clear();
      PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md_);
      std::uint32_t pairs = pcre2_get_ovector_count(md_);
      for (std::size_t i = 0; i < ngroups; ++i) {
        if (i < static_cast<std::size_t>(rc) && i < pairs && ov[2 * i] != PCRE2_UNSET &&
            ov[2 * i + 1] != PCRE2_UNSET)
          groups->emplace_back(static_cast<long>(ov[2 * i]), static_cast<long>(ov[2 * i + 1]));
        else
          groups->emplace_back(-1, -1);
      }
    }
    return 1;
  }
  std::size_t capture_count() const override { return captures_; }

  static std::string error_text(int code) {
    PCRE2_UCHAR buf[256];
    int n = pcre2_get_error_message(code, buf, sizeof buf);
    if (n < 0) return fmt::format("unexpected pcre2 error code {}", code);
    return std::string(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(n));
  }

 private:
  pcre2_code* code_ = nullptr;
  pcre2_match_data* md_ = nullptr;
  std::size_t captures_ = 0;
};

// What differs between regexp: and pcre:.
struct Dialect {
  std::string_view kind;             // "regexp" / "pcre", for messages
  bool second_pattern;               // regexp's /pat1/!/pat2/
  bool dash_out_of_range;            // prescan wording
  std::string_view no_close_action;  // "skipping" / "ignoring"
  std::uint32_t default_options;
  // Applies one flag character; false for an unknown flag. May add a warning.
  bool (*apply_flag)(char c, std::uint32_t& opts, std::string& warning);
  // Compiles; returns the matcher or sets `err` (already in Postfix's words).
  std::unique_ptr<Matcher> (*compile)(const std::string& re, std::uint32_t opts, bool need_groups,
                                      std::string& err);
};

bool regexp_flag(char c, std::uint32_t& o, std::string&) {
  switch (c) {
    case 'i': o ^= REG_ICASE; return true;
    case 'm': o ^= REG_NEWLINE; return true;
    case 'x': o ^= REG_EXTENDED; return true;
    default: return false;
  }
}

std::unique_ptr<Matcher> regexp_compile(const std::string& re, std::uint32_t o, bool need_groups,
                                        std::string& err) {
  // regcomp() itself has no bound on what a pattern may expand to, or on
  // how long it takes (see regex_bound.h): measure first, and try the
  // shapes the measure cannot vouch for in a child process.
  RegexCost cost = measure_posix_regex(re, (o & REG_EXTENDED) != 0);
  err = posix_regex_too_complex(cost);
  if (!err.empty()) return nullptr;
  int cflags = static_cast<int>(o) | (need_groups ? 0 : REG_NOSUB);
  if (posix_regex_needs_trial(cost)) {
    err = posix_regex_trial(re, cflags);
    if (!err.empty()) return nullptr;
  }
  auto m = std::make_unique<PosixMatcher>();
  err = m->compile(re, cflags);
  if (!err.empty()) return nullptr;
  return m;
}

bool pcre_flag(char c, std::uint32_t& o, std::string& warning) {
  switch (c) {
    case 'i': o ^= PCRE2_CASELESS; return true;
    case 'm': o ^= PCRE2_MULTILINE; return true;
    case 's': o ^= PCRE2_DOTALL; return true;
    case 'x': o ^= PCRE2_EXTENDED; return true;
    case 'A': o ^= PCRE2_ANCHORED; return true;
    case 'E': o ^= PCRE2_DOLLAR_ENDONLY; return true;
    case 'U': o ^= PCRE2_UNGREEDY; return true;
    case 'X': warning = "ignoring obsolete regexp option \"X\""; return true;
    default: return false;
  }
}

std::unique_ptr<Matcher> pcre_compile(const std::string& re, std::uint32_t o, bool, std::string& err) {
  auto m = std::make_unique<PcreMatcher>();
  err = m->compile(re, o);
  if (!err.empty()) return nullptr;
  return m;
}

const Dialect kRegexp{"regexp",    true,          true, "skipping", REG_EXTENDED | REG_ICASE,
                      regexp_flag, regexp_compile};
const Dialect kPcre{"pcre", false, false, "ignoring", PCRE2_CASELESS | PCRE2_DOTALL, pcre_flag, pcre_compile};

// ---------------------------------------------------------------------------
// Rules.

struct Pattern {
  std::string regex;
  std::uint32_t options = 0;
  bool match = true;  // false: rule fires when the pattern does not match
};

struct Rule {
  enum Op { Match, If, Endif } op = Match;
  int line = 0;
  std::unique_ptr<Matcher> first;
  bool first_match = true;
  std::unique_ptr<Matcher> second;  // regexp /pat1/!/pat2/
  bool second_match = true;
  Replacement replacement;
  std::size_t endif = 0;  // If: index of the matching Endif, 0 when none
  bool has_endif = false;
};

class PatternTable final : public Table {
 public:
  PatternTable(const Dialect& d, std::string name, OpenOptions o)
      : Table(std::string(d.kind), std::move(name), std::move(o)), d_(d) {}

  void load(std::istream& in) {
    LineReader reader(in, name(), [this](std::string w) { warn(std::move(w)); });
    std::vector<std::size_t> stack;  // open If rules
    while (auto line = reader.next()) {
      std::string_view p = trim_space(line->text);
      if (p.empty()) continue;
      int lineno = line->first_line;
      auto rule = parse_rule(p, lineno, stack.size());
      if (!rule) continue;
      if (rule->op == Rule::If) {
        stack.push_back(rules_.size());
      } else if (rule->op == Rule::Endif) {
        Rule& open = rules_[stack.back()];
        open.endif = rules_.size();
        open.has_endif = true;
        stack.pop_back();
      }
      rules_.push_back(std::move(*rule));
    }
    while (!stack.empty()) {
      warn_at(rules_[stack.back()].line, "IF has no matching ENDIF");
      stack.pop_back();
    }
  }

  void set_stamp(const struct stat& st) {
    stamp_ = detail::FileStamp::of(st);
    has_stamp_ = true;
  }

  bool fixed() const override { return false; }

  Result<std::optional<std::string>> lookup(std::string_view raw) override {
    std::string key = pattern_key(raw);
    Groups groups;
    std::string err;
    for (std::size_t i = 0; i < rules_.size(); ++i) {
      Rule& r = rules_[i];
      switch (r.op) {
        case Rule::Match: {
          std::size_t n = r.replacement.max_sub > 0 ? static_cast<std::size_t>(r.replacement.max_sub) + 1 : 0;
          if (!fires(r, *r.first, r.first_match, key, n, n ? &groups : nullptr)) continue;
          if (r.second && !fires(r, *r.second, r.second_match, key, 0, nullptr)) continue;
          return std::optional<std::string>(expand(r.replacement, key, groups));
        }
        case Rule::If:
          if (fires(r, *r.first, r.first_match, key, 0, nullptr)) continue;
          if (!r.has_endif) return std::optional<std::string>();
          i = r.endif;  // continue after the matching endif
          continue;
        case Rule::Endif: continue;
      }
    }
    return std::optional<std::string>();
  }

  bool changed() const override { return has_stamp_ && stamp_.differs_from_path(name()); }

 private:
  void warn_at(int line, const std::string& text) {
    warn(fmt::format("{} map {}, line {}: {}", d_.kind, name(), line, text));
  }

  // True when the rule's condition holds (a pattern matched, or did not
  // match for a negated one). A matching error counts as "does not hold".
  bool fires(const Rule& r, Matcher& m, bool positive, const std::string& key, std::size_t n, Groups* g) {
    std::string err;
    int rc = m.match(key, n, g, err);
    if (rc < 0) {
      log::warning("{} map {}, line {}: {}", d_.kind, name(), r.line, err);
      return false;
    }
    return positive ? rc == 1 : rc == 0;
  }

  static std::string expand(const Replacement& rep, const std::string& key, const Groups& g) {
    std::string out;
    for (const auto& part : rep.parts) {
      if (auto* lit = std::get_if<std::string>(&part)) {
        out += *lit;
        continue;
      }
      std::size_t n = static_cast<std::size_t>(std::get<int>(part));
      if (n >= g.size()) continue;
      auto [so, eo] = g[n];
      if (so < 0 || eo <= so || static_cast<std::size_t>(eo) > key.size()) continue;
      out.append(key, static_cast<std::size_t>(so), static_cast<std::size_t>(eo - so));
    }
    return out;
  }

  // Extracts one [!]/pattern/flags at p; advances p. nullopt after a warning.
  std::optional<Pattern> get_pattern(std::string_view& p, int lineno) {
    Pattern pat;
    std::size_t i = 0;
    for (; i < p.size(); ++i) {
      if (p[i] == '!')
        pat.match = !pat.match;
      else if (!is_space(p[i]))
        break;
    }
    if (i == p.size()) {
      warn_at(lineno, "no regexp: skipping this rule");
      return std::nullopt;
    }
    char delim = p[i++];
    std::size_t start = i;
    for (; i < p.size(); ++i) {
      if (p[i] == '\\') {
        if (i + 1 < p.size())
          ++i;
        else {
          i = p.size();
          break;
        }
      } else if (p[i] == delim) {
        break;
      }
    }
    if (i >= p.size()) {
      warn_at(lineno,
              fmt::format("no closing regexp delimiter \"{}\": {} this rule", delim, d_.no_close_action));
      return std::nullopt;
    }
    pat.regex = std::string(p.substr(start, i - start));
    ++i;
    pat.options = d_.default_options;
    for (; i < p.size() && !is_space(p[i]) && !(d_.second_pattern && p[i] == '!'); ++i) {
      std::string note;
      if (!d_.apply_flag(p[i], pat.options, note)) {
        warn_at(lineno, fmt::format("unknown regexp option \"{}\": skipping this rule", p[i]));
        return std::nullopt;
      }
      if (!note.empty()) warn_at(lineno, note);
    }
    p = p.substr(i);
    return pat;
  }

  std::unique_ptr<Matcher> compile(const Pattern& pat, bool need_groups, int lineno) {
    std::string err;
    auto m = d_.compile(pat.regex, pat.options, need_groups, err);
    if (!m) warn_at(lineno, err);
    return m;
  }

  static std::string_view skip_space(std::string_view p) {
    std::size_t i = 0;
    while (i < p.size() && is_space(p[i])) ++i;
    return p.substr(i);
  }

  std::optional<Rule> parse_rule(std::string_view p, int lineno, std::size_t nesting) {
    Rule rule;
    rule.line = lineno;
    if (!is_alnum(p[0])) {
      auto first = get_pattern(p, lineno);
      if (!first) return std::nullopt;
      std::optional<Pattern> second;
      if (d_.second_pattern && !p.empty() && p[0] == '!') {
        second = get_pattern(p, lineno);
        if (!second) return std::nullopt;
      }
      p = skip_space(p);
      if (p.empty()) warn_at(lineno, "no replacement text: using empty string");
      std::vector<std::string> why;
      if (!parse_replacement(p, d_.dash_out_of_range, rule.replacement, why)) {
        for (const auto& w : why) warn_at(lineno, w);
        warn_at(lineno, "bad replacement syntax: skipping this rule");
        return std::nullopt;
      }
      if (rule.replacement.max_sub > 0 && !first->match) {
        warn_at(lineno, "$number found in negative match replacement text: skipping this rule");
        return std::nullopt;
      }
      if (rule.replacement.max_sub > 0 && (options().paranoid || options().no_regsub)) {
        warn_at(lineno, "regular expression substitution is not allowed: skipping this rule");
        return std::nullopt;
      }
      rule.first = compile(*first, rule.replacement.max_sub > 0, lineno);
      if (!rule.first) return std::nullopt;
      rule.first_match = first->match;
      if (static_cast<std::size_t>(rule.replacement.max_sub) > rule.first->capture_count()) {
        warn_at(lineno, fmt::format("out of range replacement index \"{}\": skipping this rule",
                                    rule.replacement.max_sub));
        return std::nullopt;
      }
      if (second) {
        rule.second = compile(*second, false, lineno);
        if (!rule.second) return std::nullopt;
        rule.second_match = second->match;
      }
      rule.op = Rule::Match;
      return rule;
    }
    if (str::istarts_with(p, "if") && (p.size() == 2 || !is_alnum(p[2]))) {
      p = skip_space(p.substr(2));
      auto pat = get_pattern(p, lineno);
      if (!pat) return std::nullopt;
      p = skip_space(p);
      if (!p.empty()) {
        warn_at(lineno, "ignoring extra text after IF statement: \"" + std::string(p) + "\"");
        warn_at(lineno, "do not prepend whitespace to statements between IF and ENDIF");
      }
      rule.first = compile(*pat, false, lineno);
      if (!rule.first) return std::nullopt;
      rule.first_match = pat->match;
      rule.op = Rule::If;
      return rule;
    }
    if (str::istarts_with(p, "endif") && (p.size() == 5 || !is_alnum(p[5]))) {
      if (nesting == 0) {
        warn_at(lineno, "ignoring ENDIF without matching IF");
        return std::nullopt;
      }
      if (!skip_space(p.substr(5)).empty()) warn_at(lineno, "ignoring extra text after ENDIF");
      rule.op = Rule::Endif;
      return rule;
    }
    warn_at(lineno, "ignoring unrecognized request");
    return std::nullopt;
  }

  const Dialect& d_;
  std::vector<Rule> rules_;
  detail::FileStamp stamp_;
  bool has_stamp_ = false;
};

Result<std::unique_ptr<Table>> open_pattern_file(const Dialect& d, std::string_view name,
                                                 const OpenOptions& o) {
  if (auto s = detail::require_read_only(d.kind, name, o); !s) return s.take_error();
  auto file = SourceFile::open(std::string(name));
  if (!file) return file.take_error();
  auto t = std::make_unique<PatternTable>(d, std::string(name), o);
  t->load((*file)->stream());
  if (int e = (*file)->read_errno()) {
    errno = e;
    return sys_error("{} map {}: read error", d.kind, name);
  }
  t->set_stamp((*file)->st());
  return std::unique_ptr<Table>(std::move(t));
}

}  // namespace

std::unique_ptr<Table> parse_regexp_table(std::string name, std::istream& in, const OpenOptions& o) {
  auto t = std::make_unique<PatternTable>(kRegexp, std::move(name), o);
  t->load(in);
  return t;
}

std::unique_ptr<Table> parse_pcre_table(std::string name, std::istream& in, const OpenOptions& o) {
  auto t = std::make_unique<PatternTable>(kPcre, std::move(name), o);
  t->load(in);
  return t;
}

namespace detail {
Result<std::unique_ptr<Table>> open_regexp(std::string_view name, const OpenOptions& o) {
  return open_pattern_file(kRegexp, name, o);
}
Result<std::unique_ptr<Table>> open_pcre(std::string_view name, const OpenOptions& o) {
  return open_pattern_file(kPcre, name, o);
}
}  // namespace detail

}  // namespace postern::maps
