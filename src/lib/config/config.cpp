// config.cpp - main.cf parser, $name expansion and validation.
//
// The parser turns text into name -> raw value (plus the line of each
// value); nothing is expanded then. Expansion is lazy: get() expands on
// demand, with memoization inside one call, loop detection (the chain of
// names is reported), a nesting limit and size limits, so that a hostile or
// broken main.cf yields an error and never unbounded recursion or memory.
// validate_all() expands every explicitly set value and every registered
// default that refers to other parameters (or is computed) once at load, and
// checks each one's type and bounds, so that the typed getters cannot fail
// afterwards. Literal defaults are checked by a unit test instead.
//
// Reads: every parameter (that is the point). Logs nothing: warnings are
// collected in warnings() and errors returned; the typed getters panic on a
// programming error (unregistered name, wrong type).
#include "config/config.h"

#include <algorithm>
#include <set>

#include "base/strings.h"
#include "config/file_io.h"
#include "config/registry.h"
#include "config/unsupported.h"
#include "log/log.h"

namespace postern::config {
namespace {

constexpr std::size_t kMaxValueSize = 1024 * 1024;             // one expanded value
constexpr std::size_t kMaxTotalExpansion = 64 * 1024 * 1024;   // all output of one Expander
constexpr int kMaxNesting = 200;                               // $refs and ${...} nesting

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

std::string_view ltrim(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && is_space(s[i])) ++i;
  return s.substr(i);
}

// Position just after the "}" (or ")") matching the opener at s[open], or
// npos. Nesting of the same bracket pair is counted.
std::size_t match_close(std::string_view s, std::size_t open) {
  char o = s[open];
  char c = o == '{' ? '}' : ')';
  int depth = 0;
  for (std::size_t i = open; i < s.size(); ++i) {
    if (s[i] == o) ++depth;
    else if (s[i] == c && --depth == 0) return i + 1;
  }
  return std::string_view::npos;
}

std::string quote(std::string_view s) { return "\"" + str::printable(s, 100) + "\""; }

}  // namespace

// ---- expansion -------------------------------------------------------------

class Expander {
 public:
  Expander(const Config& cfg, std::map<std::string, std::string, std::less<>>* computed_sink)
      : cfg_(cfg), sink_(computed_sink) {}

  // Expanded value of a parameter; "" for an undefined name.
  Result<std::string> param(std::string_view name) {
    if (auto it = memo_.find(name); it != memo_.end()) return it->second;
    if (auto it = std::find(stack_.begin(), stack_.end(), name); it != stack_.end()) {
      std::string chain;
      for (; it != stack_.end(); ++it) chain += "$" + *it + " -> ";
      return make_error("reference loop: {}${}", chain, name);
    }
    if (nesting_ >= kMaxNesting) return make_error("parameter references are nested too deeply");

    const ParamDef* def = find_param(name);
    std::string raw;
    bool literal = false;  // computed defaults and raw parameters are not expanded
    if (auto it = cfg_.overrides_.find(name); it != cfg_.overrides_.end()) {
      raw = it->second;
    } else if (auto it2 = cfg_.values_.find(name); it2 != cfg_.values_.end()) {
      raw = it2->second;
    } else if (name == "config_directory" && !cfg_.config_dir_.empty()) {
      raw = cfg_.config_dir_.string();
      literal = true;
    } else if (def && def->compute) {
      auto r = computed(*def);
      if (!r) return r;
      raw = std::move(*r);
      literal = true;
    } else if (def) {
      raw = std::string(def->default_value);
    } else {
      memo_.emplace(std::string(name), std::string());
      return std::string();
    }
    if (def && def->raw) literal = true;

    std::string out;
    if (literal) {
      if (auto st = append(out, raw); !st) return st.take_error();
    } else {
      Frame f(*this, name);
      if (auto st = expand(raw, out); !st) return st.take_error();
    }
    memo_.emplace(std::string(name), out);
    return out;
  }

  // Expanded free text.
  Result<std::string> text(std::string_view s) {
    std::string out;
    if (auto st = expand(s, out); !st) return st.take_error();
    return out;
  }

 private:
  // Keeps stack_ and nesting_ right on every return path.
  struct Frame {
    Frame(Expander& e, std::string_view name) : e_(e) {
      e_.stack_.emplace_back(name);
      ++e_.nesting_;
    }
    ~Frame() {
      e_.stack_.pop_back();
      --e_.nesting_;
    }
    Expander& e_;
  };
  struct Nest {
    explicit Nest(Expander& e) : e_(e) { ++e_.nesting_; }
    ~Nest() { --e_.nesting_; }
    Expander& e_;
  };

  // What a computed default sees: the configuration through this Expander,
  // so that loops through computed defaults are detected too. Errors (a
  // loop) read as "not available", and the computation falls back.
  class Env : public ComputeEnv {
   public:
    explicit Env(Expander& e) : e_(e) {}
    std::optional<std::string> explicit_value(std::string_view n) const override {
      if (!e_.cfg_.is_set(n)) return std::nullopt;
      return value(n);
    }
    std::optional<std::string> value(std::string_view n) const override {
      auto r = e_.param(n);
      if (!r) return std::nullopt;
      return std::move(*r);
    }

   private:
    Expander& e_;
  };

  Result<std::string> computed(const ParamDef& def) {
    if (auto it = cfg_.computed_.find(def.name); it != cfg_.computed_.end()) return it->second;
    if (sink_) {
      if (auto it = sink_->find(def.name); it != sink_->end()) return it->second;
    }
    std::string v;
    {
      Frame f(*this, def.name);
      Env env(*this);
      v = def.compute(env);
    }
    if (sink_) (*sink_)[std::string(def.name)] = v;
    return v;
  }

  Status append(std::string& out, std::string_view s) {
    if (out.size() + s.size() > kMaxValueSize)
      return make_error("expanded value is longer than {} bytes", kMaxValueSize);
    total_ += s.size();
    if (total_ > kMaxTotalExpansion) return make_error("parameter expansion produces too much text");
    out.append(s);
    return {};
  }

  Status expand(std::string_view s, std::string& out) {
    Nest n(*this);
    if (nesting_ > kMaxNesting) return make_error("parameter references are nested too deeply");
    std::size_t i = 0;
    while (i < s.size()) {
      std::size_t dollar = s.find('$', i);
      if (dollar == std::string_view::npos) dollar = s.size();
      if (dollar > i) {
        if (auto st = append(out, s.substr(i, dollar - i)); !st) return st;
        i = dollar;
        continue;
      }
      // s[i] == '$'
      if (i + 1 >= s.size()) return make_error("\"$\" at the end of {}; write \"$$\" for a literal \"$\"", quote(s));
      char nx = s[i + 1];
      if (nx == '$') {
        if (auto st = append(out, "$"); !st) return st;
        i += 2;
      } else if (nx == '{' || nx == '(') {
        std::size_t end = match_close(s, i + 1);
        if (end == std::string_view::npos)
          return make_error("missing \"{}\" in {}", nx == '{' ? '}' : ')', quote(s.substr(i)));
        if (auto st = braced(s.substr(i + 2, end - i - 3), out); !st) return st;
        i = end;
      } else if (is_name_char(nx)) {
        std::size_t e = i + 1;
        while (e < s.size() && is_name_char(s[e])) ++e;
        auto v = param(s.substr(i + 1, e - i - 1));
        if (!v) return v.take_error();
        if (auto st = append(out, *v); !st) return st;
        i = e;
      } else {
        return make_error("bad parameter reference {}; write \"$$\" for a literal \"$\"",
                          quote(s.substr(i, 2)));
      }
    }
    return {};
  }

  // Reads "{text}" at s[pos] (after optional white space); returns the text
  // between the braces, trimmed, and moves pos past the "}".
  static Result<std::string_view> group(std::string_view s, std::size_t& pos) {
    while (pos < s.size() && is_space(s[pos])) ++pos;
    if (pos >= s.size() || s[pos] != '{') return make_error("expected \"{{\" in {}", quote(s));
    std::size_t end = match_close(s, pos);
    if (end == std::string_view::npos) return make_error("missing \"}}\" in {}", quote(s));
    std::string_view inner = str::trim(s.substr(pos + 1, end - pos - 2));
    pos = end;
    return inner;
  }

  static void skip_space(std::string_view s, std::size_t& pos) {
    while (pos < s.size() && is_space(s[pos])) ++pos;
  }

  // The inside of ${...} or $(...).
  Status braced(std::string_view inner, std::string& out) {
    Nest n(*this);
    if (nesting_ > kMaxNesting) return make_error("parameter references are nested too deeply");
    std::string_view t = ltrim(inner);
    if (!t.empty() && t[0] == '{') return relational(t, out);

    std::size_t e = 0;
    while (e < t.size() && is_name_char(t[e])) ++e;
    if (e == 0) return make_error("bad parameter name in {}", quote("${" + std::string(inner) + "}"));
    std::string_view name = t.substr(0, e);
    std::size_t pos = e;
    skip_space(t, pos);
    if (pos >= t.size()) {
      auto v = param(name);
      if (!v) return v.take_error();
      return append(out, *v);
    }
    char op = t[pos];
    if (op != '?' && op != ':')
      return make_error("bad character after parameter name in {}", quote("${" + std::string(inner) + "}"));
    auto v = param(name);
    if (!v) return v.take_error();
    bool non_empty = !v->empty();
    std::string_view body = t.substr(pos + 1);
    std::size_t bpos = 0;
    skip_space(body, bpos);
    if (bpos < body.size() && body[bpos] == '{') {
      // Postfix 3 forms: ${name?{a}}, ${name:{b}}, ${name?{a}:{b}}.
      auto first = group(body, bpos);
      if (!first) return first.take_error();
      std::optional<std::string_view> second;
      skip_space(body, bpos);
      if (op == '?' && bpos < body.size() && body[bpos] == ':') {
        ++bpos;
        auto g = group(body, bpos);
        if (!g) return g.take_error();
        second = *g;
        skip_space(body, bpos);
      }
      if (bpos != body.size())
        return make_error("unexpected text after \"}}\" in {}", quote("${" + std::string(inner) + "}"));
      if (op == '?') {
        if (non_empty) return expand(*first, out);
        if (second) return expand(*second, out);
        return {};
      }
      return non_empty ? Status{} : expand(*first, out);
    }
    // Postfix 2.2 forms: the rest of the text, unchanged, is the value.
    if ((op == '?' && non_empty) || (op == ':' && !non_empty)) return expand(body, out);
    return {};
  }

  // ${{a} op {b} ? {x} : {y}}
  Status relational(std::string_view t, std::string& out) {
    std::size_t pos = 0;
    auto a = group(t, pos);
    if (!a) return a.take_error();
    skip_space(t, pos);
    std::string_view op;
    for (std::string_view cand : {"==", "!=", "<=", ">=", "<", ">"}) {
      if (t.substr(pos, cand.size()) == cand) {
        op = cand;
        break;
      }
    }
    if (op.empty()) return make_error("missing relational operator in {}", quote("${" + std::string(t) + "}"));
    pos += op.size();
    auto b = group(t, pos);
    if (!b) return b.take_error();
    skip_space(t, pos);
    if (pos >= t.size() || (t[pos] != '?' && t[pos] != ':'))
      return make_error("missing \"?\" or \":\" in {}", quote("${" + std::string(t) + "}"));
    std::optional<std::string_view> if_true, if_false;
    if (t[pos] == '?') {
      ++pos;
      auto g = group(t, pos);
      if (!g) return g.take_error();
      if_true = *g;
      skip_space(t, pos);
    }
    if (pos < t.size() && t[pos] == ':') {
      ++pos;
      auto g = group(t, pos);
      if (!g) return g.take_error();
      if_false = *g;
      skip_space(t, pos);
    }
    if (pos != t.size()) return make_error("unexpected text in {}", quote("${" + std::string(t) + "}"));

    auto left = text(*a);
    if (!left) return left.take_error();
    auto right = text(*b);
    if (!right) return right.take_error();
    bool result = false;
    if (op == "==") result = *left == *right;
    else if (op == "!=") result = *left != *right;
    else {
      auto l = str::parse_int(str::trim(*left));
      auto r = str::parse_int(str::trim(*right));
      if (!l || !r)
        return make_error("non-numeric operand in {}: {} {} {}", quote("${" + std::string(t) + "}"), quote(*left),
                          op, quote(*right));
      if (op == "<") result = *l < *r;
      else if (op == "<=") result = *l <= *r;
      else if (op == ">") result = *l > *r;
      else result = *l >= *r;
    }
    if (result && if_true) return expand(*if_true, out);
    if (!result && if_false) return expand(*if_false, out);
    return {};
  }

  const Config& cfg_;
  std::map<std::string, std::string, std::less<>>* sink_;
  std::vector<std::string> stack_;
  std::map<std::string, std::string, std::less<>> memo_;
  std::size_t total_ = 0;
  int nesting_ = 0;
};

// ---- parsing -------------------------------------------------------------

class ConfigParser {
 public:
  static Status parse(Config& cfg, std::string_view text) {
    if (text.size() > kMaxConfigFileSize)
      return make_error("{}: file is larger than {} bytes", cfg.filename_, kMaxConfigFileSize);
    struct Logical {
      int line;
      std::string text;
    };
    std::optional<Logical> cur;
    int lineno = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
      std::size_t nl = text.find('\n', pos);
      std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
      pos = nl == std::string_view::npos ? text.size() : nl + 1;
      ++lineno;
      if (line.find('\0') != std::string_view::npos)
        return make_error("{}, line {}: NUL character in line", cfg.filename_, lineno);
      std::string_view t = str::trim(line);
      if (t.empty() || t[0] == '#') continue;  // comments and blank lines do not end a value
      if (is_space(line[0])) {
        if (!cur) {
          cfg.warnings_.push_back(fmt::format("{}:{}: ignoring continuation line without a parameter line before it",
                                              cfg.filename_, lineno));
          continue;
        }
        cur->text += ' ';
        cur->text += t;
        continue;
      }
      if (cur) {
        if (auto st = finish(cfg, *cur); !st) return st;
      }
      cur = Logical{lineno, std::string(t)};
    }
    if (cur) {
      if (auto st = finish(cfg, *cur); !st) return st;
    }
    return {};
  }

 private:
  template <class L>
  static Status finish(Config& cfg, const L& l) {
    auto eq = l.text.find('=');
    if (eq == std::string::npos)
      return make_error("{}, line {}: missing \"=\" after parameter name: {}", cfg.filename_, l.line,
                        quote(l.text));
    std::string name(str::trim(std::string_view(l.text).substr(0, eq)));
    if (name.empty()) return make_error("{}, line {}: missing parameter name before \"=\"", cfg.filename_, l.line);
    if (!valid_param_name(name))
      return make_error("{}, line {}: bad parameter name: {}", cfg.filename_, l.line, quote(name));
    std::string value(str::trim(std::string_view(l.text).substr(eq + 1)));
    cfg.values_[name] = std::move(value);  // the last definition wins, as in Postfix
    cfg.lines_[name] = l.line;
    return {};
  }
};

bool valid_param_name(std::string_view name) {
  if (name.empty() || name.size() > 256) return false;
  for (char c : name)
    if (!is_name_char(c) && c != '-' && c != '.') return false;
  return true;
}

std::vector<std::string> macro_names(std::string_view value) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i + 1 < value.size(); ++i) {
    if (value[i] != '$') continue;
    std::size_t j = i + 1;
    if (value[j] == '$') {
      i = j;
      continue;
    }
    if (value[j] == '{' || value[j] == '(') ++j;
    std::size_t e = j;
    while (e < value.size() && is_name_char(value[e])) ++e;
    if (e > j) {
      std::string n(value.substr(j, e - j));
      if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(std::move(n));
    }
  }
  return out;
}

// ---- Config ----------------------------------------------------------------

Result<Config> Config::load(const std::filesystem::path& config_dir) {
  auto path = config_dir / "main.cf";
  auto text = read_file(path);
  if (!text) return text.take_error();
  return from_text(*text, path.string(), config_dir);
}

Result<Config> Config::load_unvalidated(const std::filesystem::path& config_dir) {
  auto path = config_dir / "main.cf";
  auto text = read_file(path);
  if (!text) return text.take_error();
  return parse(*text, path.string(), config_dir);
}

Result<Config> Config::from_text(std::string_view text, std::string_view filename,
                                 const std::filesystem::path& config_dir) {
  auto cfg = parse(text, filename, config_dir);
  if (!cfg) return cfg;
  if (auto st = cfg->validate_all(); !st) return st.take_error();
  return cfg;
}

Result<Config> Config::parse(std::string_view text, std::string_view filename,
                             const std::filesystem::path& config_dir) {
  Config cfg;
  cfg.config_dir_ = config_dir;
  cfg.filename_ = std::string(filename);
  if (auto st = ConfigParser::parse(cfg, text); !st) return st.take_error();

  // Unknown names are typos unless something refers to them ($name): then
  // they are user-defined parameters, as in Postfix.
  std::set<std::string, std::less<>> referenced;
  for (auto& [n, v] : cfg.values_)
    for (auto& m : macro_names(v)) referenced.insert(m);
  // So are the restriction classes.
  if (auto it = cfg.values_.find("smtpd_restriction_classes"); it != cfg.values_.end())
    for (auto& c : split_list(it->second)) referenced.insert(c);
  std::vector<std::pair<int, std::string>> unknown;
  for (auto& [n, v] : cfg.values_)
    if (!find_param(n) && !referenced.count(n)) unknown.emplace_back(cfg.lines_[n], n);
  std::sort(unknown.begin(), unknown.end());
  for (auto& [line, n] : unknown)
    cfg.warnings_.push_back(fmt::format("{}:{}: unknown parameter name: {}", cfg.filename_, line, n));
  return cfg;
}

Status Config::check_one(Expander& ex, const std::string& name, const std::string& where,
                         const std::vector<std::string>& classes) {
  const ParamDef* def = find_param(name);
  auto v = ex.param(name);
  if (!v) {
    if (where.empty())
      return make_error("default value of parameter {} ({}): {}", name, quote(def ? def->default_value : ""),
                        v.error().message);
    return make_error("{}: parameter {}: {}", where, name, v.error().message);
  }
  if (!def) return {};
  if (auto st = check_value(*def, name, *v); !st) {
    if (where.empty())
      return make_error("default value of parameter {} ({}): {}", name, quote(def->default_value),
                        st.error().message);
    return make_error("{}: {}", where, st.error().message);
  }
  // Only explicit settings: every default is the feature's "off" value.
  if (!where.empty())
    if (auto st = check_supported(name, *v, def->per_transport ? def->name : std::string_view(), classes);
        !st)
      return make_error("{}: {}", where, st.error().message);
  return {};
}

Status Config::validate_all() {
  computed_.clear();
  std::map<std::string, std::string, std::less<>> computed;
  Expander ex(*this, &computed);
  // Explicit settings first, in file order, so that the first error names
  // the line the administrator wrote rather than a default that uses it.
  std::vector<std::pair<int, std::string>> order;
  for (auto& [n, line] : lines_)
    if (!overrides_.count(n)) order.emplace_back(line, n);
  std::sort(order.begin(), order.end());
  // smtpd_restriction_classes: each name is a parameter of this main.cf
  // whose value is a restriction list, and may appear in the smtpd_*
  // restriction lists (and in other classes) like a restriction.
  std::vector<std::string> classes;
  if (auto v = ex.param("smtpd_restriction_classes"); v) classes = split_list(*v);
  for (const auto& c : classes) {
    if (!valid_param_name(c) || find_param(c))
      return make_error("parameter smtpd_restriction_classes: {} cannot name a restriction class (a class is "
                        "a parameter name of its own)",
                        quote(c));
    if (!is_set(c))
      return make_error("parameter smtpd_restriction_classes: restriction class {} is not defined in {}", c,
                        filename_);
    auto v = ex.param(c);
    if (!v) return make_error("parameter {}: {}", c, v.error().message);
    if (auto st = check_restriction_class(c, *v, classes); !st) return st;
  }
  for (auto& [line, n] : order) {
    if (auto st = check_one(ex, n, fmt::format("{}, line {}", filename_, line), classes); !st) return st;
  }
  for (auto& [n, v] : overrides_) {
    if (auto st = check_one(ex, n, override_origin_[n], classes); !st) return st;
  }
  for (const auto& def : registry()) {
    if (is_set(def.name)) continue;
    // A literal default (no $name, not computed) is the same whatever
    // main.cf says, and Registry.AllDefaultsAreValid checks every one of
    // them; checking ~500 of them again at each daemon start was a tenth
    // of the start's CPU.
    if (!def.compute && def.default_value.find('$') == std::string_view::npos) continue;
    if (auto st = check_one(ex, std::string(def.name), "", classes); !st) return st;
  }
  // Postfix's safety net against a maillog_file typo that would append to
  // some other file (every process, root ones too, opens it): the value
  // must begin with one of maillog_file_prefixes (plain string prefixes,
  // as Postfix compares them).
  if (auto file = ex.param("maillog_file"); file && !file->empty()) {
    auto prefixes = ex.param("maillog_file_prefixes");
    if (!prefixes) return make_error("parameter maillog_file_prefixes: {}", prefixes.error().message);
    auto list = split_list(*prefixes);
    bool allowed = std::any_of(list.begin(), list.end(),
                               [&](const std::string& p) { return file->compare(0, p.size(), p) == 0; });
    if (!allowed)
      return make_error("parameter maillog_file: value {} does not match any prefix in maillog_file_prefixes ({})",
                        quote(*file), *prefixes);
  }
  computed_ = std::move(computed);
  validated_ = true;
  return {};
}

Status Config::check_override(std::string_view name, std::string_view value, std::string_view where) {
  if (!valid_param_name(name)) return make_error("{}: bad parameter name: {}", where, quote(name));
  if (value.find_first_of(std::string_view("\n\r\0", 3)) != std::string_view::npos)
    return make_error("{}: line break or NUL in the value of parameter {}", where, name);
  if (value.size() > kMaxValueSize) return make_error("{}: value of parameter {} is too long", where, name);
  return {};
}

Status Config::set_overrides(const std::vector<Override>& list) {
  if (list.empty()) return validated_ ? Status{} : validate_all();
  for (const auto& o : list) {
    std::string where =
        o.origin == "-o" ? fmt::format("-o {}={}", o.name, str::printable(o.value, 100)) : o.origin;
    if (auto st = check_override(o.name, o.value, where); !st) return st;
  }
  auto saved_overrides = overrides_;
  auto saved_origin = override_origin_;
  auto saved_computed = computed_;
  for (const auto& o : list) {
    std::string where =
        o.origin == "-o" ? fmt::format("-o {}={}", o.name, str::printable(o.value, 100)) : o.origin;
    overrides_[o.name] = std::string(str::trim(o.value));
    override_origin_[o.name] = std::move(where);
  }
  if (auto st = validate_all(); !st) {
    overrides_ = std::move(saved_overrides);
    override_origin_ = std::move(saved_origin);
    computed_ = std::move(saved_computed);
    return st;
  }
  return {};
}

Status Config::set_overrides_unvalidated(const std::vector<Override>& list) {
  for (const auto& o : list) {
    std::string where =
        o.origin == "-o" ? fmt::format("-o {}={}", o.name, str::printable(o.value, 100)) : o.origin;
    if (auto st = check_override(o.name, o.value, where); !st) return st;
  }
  for (const auto& o : list) {
    overrides_[o.name] = std::string(str::trim(o.value));
    override_origin_[o.name] = o.origin;
  }
  validated_ = false;
  return {};
}

Status Config::set_override(std::string_view name, std::string_view value, std::string_view origin) {
  std::string where = origin == "-o" ? fmt::format("-o {}={}", name, str::printable(value, 100)) : std::string(origin);
  if (auto st = check_override(name, value, where); !st) return st;

  std::string key(name);
  auto saved_value = overrides_.find(key) != overrides_.end() ? std::optional(overrides_[key]) : std::nullopt;
  auto saved_origin = override_origin_.count(key) ? std::optional(override_origin_[key]) : std::nullopt;
  auto saved_computed = computed_;
  overrides_[key] = std::string(str::trim(value));
  override_origin_[key] = where;
  if (auto st = validate_all(); !st) {
    if (saved_value) overrides_[key] = *saved_value;
    else overrides_.erase(key);
    if (saved_origin) override_origin_[key] = *saved_origin;
    else override_origin_.erase(key);
    computed_ = std::move(saved_computed);
    return st;
  }
  return {};
}

std::optional<std::string> Config::source(std::string_view name) const {
  if (auto it = overrides_.find(name); it != overrides_.end()) return it->second;
  if (auto it = values_.find(name); it != values_.end()) return it->second;
  if (name == "config_directory" && !config_dir_.empty()) return config_dir_.string();
  const ParamDef* def = find_param(name);
  if (!def) return std::nullopt;
  if (def->compute) {
    if (auto it = computed_.find(def->name); it != computed_.end()) return it->second;
    return default_text(*def);
  }
  return std::string(def->default_value);
}

std::optional<std::string> Config::get(std::string_view name) const {
  if (!is_set(name) && !find_param(name)) return std::nullopt;
  Expander ex(*this, nullptr);
  auto r = ex.param(name);
  if (!r) return std::nullopt;
  return std::move(*r);
}

std::optional<std::string> Config::raw(std::string_view name) const { return source(name); }

bool Config::is_set(std::string_view name) const {
  return overrides_.find(name) != overrides_.end() || values_.find(name) != values_.end();
}

std::vector<std::string> Config::explicit_names() const {
  std::set<std::string> names;
  for (auto& [n, v] : values_) names.insert(n);
  for (auto& [n, v] : overrides_) names.insert(n);
  return {names.begin(), names.end()};
}

int Config::line_of(std::string_view name) const {
  auto it = lines_.find(name);
  return it == lines_.end() ? 0 : it->second;
}

namespace {

const ParamDef& need(std::string_view name) {
  const ParamDef* def = find_param(name);
  if (!def) log::panic("config: unregistered parameter {}", name);
  return *def;
}

std::string need_value(const Config& cfg, std::string_view name) {
  auto v = cfg.get(name);
  if (!v) log::panic("config: parameter {} cannot be expanded (Config not validated?)", name);
  return std::move(*v);
}

std::int64_t need_number(const Config& cfg, std::string_view name) {
  const ParamDef& def = need(name);
  if (def.type != Type::Int && def.type != Type::Size)
    log::panic("config: parameter {} is a {}, not a number", name, to_string(def.type));
  auto v = need_value(cfg, name);
  auto n = str::parse_int(v);
  if (!n) log::panic("config: parameter {} has unvalidated value {}", name, v);
  return *n;
}

}  // namespace

std::string Config::str(std::string_view name) const {
  need(name);
  return need_value(*this, name);
}

std::int64_t Config::integer(std::string_view name) const { return need_number(*this, name); }
std::int64_t Config::size(std::string_view name) const { return need_number(*this, name); }

Status Config::check_mailbox_limit(std::string_view name) const {
  std::int64_t limit = size(name);
  if (limit != 0 && limit < size("message_size_limit"))
    return make_error("configuration error: {} is smaller than message_size_limit", name);
  return {};
}

bool Config::boolean(std::string_view name) const {
  const ParamDef& def = need(name);
  if (def.type != Type::Bool) log::panic("config: parameter {} is a {}, not a boolean", name, to_string(def.type));
  auto v = need_value(*this, name);
  auto b = parse_bool(v);
  if (!b) log::panic("config: parameter {} has unvalidated value {}", name, v);
  return *b;
}

std::chrono::seconds Config::time(std::string_view name) const {
  const ParamDef& def = need(name);
  if (def.type != Type::Time) log::panic("config: parameter {} is a {}, not a time", name, to_string(def.type));
  auto v = need_value(*this, name);
  auto t = parse_time(v, def.unit);
  if (!t) log::panic("config: parameter {} has unvalidated value {}", name, v);
  return std::chrono::seconds(*t);
}

std::vector<std::string> Config::list(std::string_view name) const {
  need(name);
  return split_list(need_value(*this, name));
}

Result<std::string> expand(const Config& cfg, std::string_view value) {
  Expander ex(cfg, nullptr);
  return ex.text(value);
}

}  // namespace postern::config
