// sql_common.cpp - see sql_common.h.
#include "maps/sql_common.h"

#include <charconv>
#include <sstream>
#include <vector>

#include "base/read_file.h"
#include "base/strings.h"
#include "maps/source.h"

namespace postern::maps::sql {

namespace {

constexpr std::size_t kMaxParamsFile = 1 << 20;

struct Address {
  std::string_view whole, local, domain;
  bool has_at = false;
  explicit Address(std::string_view s) : whole(s) {
    auto at = s.rfind('@');
    if (at == std::string_view::npos) return;
    has_at = true;
    local = s.substr(0, at);
    domain = s.substr(at + 1);
  }
  // Label `n` (1-based) of the domain, counted from the right.
  std::optional<std::string_view> label(int n) const {
    if (!has_at || domain.empty()) return std::nullopt;
    std::string_view rest = domain;
    for (int i = 1;; ++i) {
      auto dot = rest.rfind('.');
      std::string_view part = dot == std::string_view::npos ? rest : rest.substr(dot + 1);
      if (i == n) return part.empty() ? std::nullopt : std::optional<std::string_view>(part);
      if (dot == std::string_view::npos) return std::nullopt;
      rest = rest.substr(0, dot);
    }
  }
};

// One expansion. %s %u %d refer to `value`, %S %U %D and %1-%9 to `key`;
// false: suppressed or skipped.
bool expand(std::string_view tmpl, std::string_view value, std::string_view key, bool result, const Quote* quote,
            std::string& out) {
  const Address v(value), k(key);
  auto put = [&](std::string_view s) { out += quote ? (*quote)(s) : std::string(s); };
  auto user = [&](const Address& a) {
    if (!a.has_at) {
      put(a.whole);
      return true;
    }
    if (a.local.empty()) return false;
    put(a.local);
    return true;
  };
  auto domain = [&](const Address& a) {
    if (!a.has_at || a.domain.empty()) return false;
    put(a.domain);
    return true;
  };
  for (std::size_t i = 0; i < tmpl.size(); ++i) {
    char c = tmpl[i];
    if (c != '%' || i + 1 == tmpl.size()) {
      out += c;
      continue;
    }
    char n = tmpl[++i];
    bool ok = true;
    switch (n) {
      case '%': out += '%'; break;
      case 's':
        if (result && value.empty()) return false;
        put(value);
        break;
      case 'u': ok = user(v); break;
      case 'd': ok = domain(v); break;
      case 'S': put(key); break;
      case 'U': ok = user(k); break;
      case 'D': ok = domain(k); break;
      default:
        if (n >= '1' && n <= '9') {
          auto l = k.label(n - '0');
          if (!l) return false;
          put(*l);
        } else {
          // check_template() refused this when the table was opened.
          out += '%';
          out += n;
        }
    }
    if (!ok) return false;
  }
  return true;
}

}  // namespace

Status check_template(std::string_view tmpl, bool result) {
  for (std::size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] != '%') continue;
    if (i + 1 == tmpl.size()) return make_error("\"{}\": '%' at the end", str::printable(tmpl, 200));
    char n = tmpl[++i];
    if (n == '%' || n == 's' || n == 'u' || n == 'd' || n == 'S' || n == 'U' || n == 'D' || (n >= '1' && n <= '9'))
      continue;
    return make_error("\"{}\": invalid %{} in {}", str::printable(tmpl, 200), str::printable(std::string_view(&n, 1)),
                      result ? "result_format" : "query");
  }
  return {};
}

std::optional<std::string> expand_query(std::string_view tmpl, std::string_view key, const Quote& quote) {
  std::string out;
  if (!expand(tmpl, key, key, false, &quote, out)) return std::nullopt;
  return out;
}

bool expand_result(std::string_view tmpl, std::string_view value, std::string_view key, std::string& out) {
  std::string one;
  if (!expand(tmpl, value, key, true, nullptr, one)) return false;
  if (!out.empty()) out += ',';
  out += one;
  return true;
}

Result<Params> Params::read(std::string_view type, const std::string& path) {
  auto text = read_file(path, kMaxParamsFile);
  if (!text) return make_error("{}:{}: {}", type, path, text.error().message);
  return parse(type, path, *text);
}

Result<Params> Params::parse(std::string_view type, const std::string& path, std::string_view text) {
  Params p;
  p.spec_ = std::string(type) + ":" + path;
  std::istringstream in{std::string(text)};
  std::string warning;
  LineReader reader(in, path, [&](std::string w) {
    if (warning.empty()) warning = std::move(w);
  });
  while (auto line = reader.next()) {
    auto eq = line->text.find('=');
    if (eq == std::string::npos)
      return make_error("{}, line {}: expected \"name = value\": \"{}\"", path, line->first_line,
                        str::printable(line->text, 100));
    std::string name(trim_space(std::string_view(line->text).substr(0, eq)));
    if (name.empty()) return make_error("{}, line {}: missing parameter name", path, line->first_line);
    p.values_[name] = std::string(trim_space(std::string_view(line->text).substr(eq + 1)));
  }
  if (!warning.empty()) return make_error("{}", warning);
  return p;
}

std::string Params::get(std::string_view name, std::string_view fallback) const {
  auto it = values_.find(std::string(name));
  return it == values_.end() ? std::string(fallback) : it->second;
}

Result<std::chrono::seconds> Params::seconds(std::string_view name, std::string_view fallback) const {
  std::string v = get(name, fallback);
  std::string_view digits = v;
  long unit = 1;
  if (!digits.empty() && (digits.back() == 's' || digits.back() == 'm' || digits.back() == 'h')) {
    unit = digits.back() == 's' ? 1 : digits.back() == 'm' ? 60 : 3600;
    digits.remove_suffix(1);
  }
  long n = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size() || n < 0 || n > 1000000)
    return make_error("{}: {} = {}: expected a time (seconds, or with s, m or h)", spec_, name,
                      str::printable(v, 40));
  return std::chrono::seconds(n * unit);
}

Result<bool> Params::boolean(std::string_view name, std::string_view fallback) const {
  std::string v = str::lower(get(name, fallback));
  if (v != "yes" && v != "no") return make_error("{}: {} = {}: expected yes or no", spec_, name, str::printable(v, 40));
  return v == "yes";
}

std::vector<std::size_t> Servers::due(Clock::time_point now) const {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < dead_until_.size(); ++i)
    if (dead_until_[i] <= now) out.push_back(i);
  return out;
}

Error Servers::none_due() const {
  return make_error("no server is available (every one failed in the last {} s)", retry_.count());
}

Result<Common> Common::from(const Params& p, const OpenOptions& o, std::string_view function_query) {
  Common c;
  c.query = p.get("query");
  if (c.query.empty()) c.query = std::string(function_query);
  if (c.query.empty()) {
    // Postfix 2.1's parameters, still accepted by Postfix.
    std::string table = p.get("table"), select = p.get("select_field"), where = p.get("where_field");
    if (table.empty() || select.empty() || where.empty())
      return make_error("{}: no query (or legacy table, select_field and where_field) is set", p.spec());
    c.query = "SELECT " + select + " FROM " + table + " WHERE " + where + " = '%s'";
    if (std::string more = p.get("additional_conditions"); !more.empty()) c.query += " " + more;
  }
  if (auto s = check_template(c.query, false); !s) return make_error("{}: {}", p.spec(), s.error().message);
  c.result_format = p.get("result_format", "%s");
  if (auto s = check_template(c.result_format, true); !s) return make_error("{}: {}", p.spec(), s.error().message);
  std::string limit = p.get("expansion_limit", "0");
  auto [ptr, ec] = std::from_chars(limit.data(), limit.data() + limit.size(), c.expansion_limit);
  if (ec != std::errc() || ptr != limit.data() + limit.size() || c.expansion_limit < 0)
    return make_error("{}: expansion_limit = {}: expected a number >= 0", p.spec(), str::printable(limit, 40));
  if (std::string d = p.get("domain"); !d.empty()) {
    auto list = MatchList::open(p.spec() + ": domain", d, MatchStyle::Name, o);
    if (!list) return list.take_error();
    c.domain = std::move(*list);
  }
  return c;
}

Result<bool> Common::eligible(std::string_view key) {
  if (!domain) return true;
  auto at = key.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == key.size()) return false;
  return domain->match(key.substr(at + 1));
}

Status Common::Results::add(std::string_view value) {
  if (out_.size() + value.size() > kMaxResult)
    return make_error("result for key \"{}\" longer than {} bytes", str::printable(key_, 100), kMaxResult);
  if (!expand_result(c_.result_format, value, key_, out_)) return {};
  // result_format may add text around each value.
  if (out_.size() > kMaxResult)
    return make_error("result for key \"{}\" longer than {} bytes", str::printable(key_, 100), kMaxResult);
  if (c_.expansion_limit > 0 && ++count_ > c_.expansion_limit)
    return make_error("expansion limit of {} results exceeded for key \"{}\"", c_.expansion_limit,
                      str::printable(key_, 100));
  return {};
}

std::optional<std::string> Common::Results::take() {
  if (out_.empty()) return std::nullopt;
  return std::move(out_);
}

}  // namespace postern::maps::sql
