// inline_table.cpp - inline:{ key=value, { key = text with spaces } } and static:value.
//
// inline: the table is the name itself: a brace-enclosed list of key=value
// elements separated by comma or white space; an element in its own braces
// may contain white space around "=" and in the value. A repeated key keeps
// the last value (Postfix does no duplicate checks here). Keys are folded
// with fold_fix.
//
// static: every lookup returns the name; static:{ text } strips the braces
// and surrounding white space, so the value may contain spaces.
//
// Syntax errors fail open_table() with Postfix's messages, e.g.
// missing '=' after attribute name: "inline:{a}"; need "inline:{name=value...}".
#include <unordered_map>

#include "maps/internal.h"
#include "maps/source.h"

namespace postern::maps {
namespace {

// Length of the balanced "{...}" group at the start of s, 0 when unbalanced.
std::size_t balanced_braces(std::string_view s) {
  if (s.empty() || s[0] != '{') return 0;
  int level = 1;
  for (std::size_t i = 1; i < s.size(); ++i) {
    if (s[i] == '}') {
      if (--level == 0) return i + 1;
    } else if (s[i] == '{') {
      ++level;
    }
  }
  return 0;
}

// Strips the braces of a "{...}" token and the white space inside them.
Result<std::string> strip_braces(std::string_view tok) {
  std::size_t len = balanced_braces(tok);
  if (len == 0) return make_error("missing '}}' in \"{}\"", tok);
  if (len != tok.size()) return make_error("syntax error after '}}' in \"{}\"", tok);
  return std::string(trim_space(tok.substr(1, len - 2)));
}

// "name = value" -> {name, value}, Postfix's split_nameval() rules.
Result<std::pair<std::string, std::string>> split_nameval(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && is_space(s[i])) ++i;
  if (i == s.size()) return make_error("no key found; expected format: key = value");
  std::size_t name_start = i;
  while (i < s.size() && !is_space(s[i]) && s[i] != '=') ++i;
  std::size_t name_end = i;
  while (i < s.size() && is_space(s[i])) ++i;
  if (i == s.size() || s[i] != '=') return make_error("missing '=' after attribute name");
  return std::pair{std::string(s.substr(name_start, name_end - name_start)),
                   std::string(trim_space(s.substr(i + 1)))};
}

class InlineTable final : public Table {
 public:
  InlineTable(std::string name, OpenOptions o) : Table("inline", std::move(name), std::move(o)) {}

  void put(const std::string& k, std::string v) {
    std::string key = fixed_key(k);
    auto [it, inserted] = entries_.insert_or_assign(key, std::move(v));
    if (inserted) order_.push_back(key);
  }
  bool fixed() const override { return true; }
  Result<std::optional<std::string>> lookup(std::string_view key) override {
    auto it = entries_.find(fixed_key(key));
    if (it == entries_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  Status for_each(const std::function<bool(std::string_view, std::string_view)>& fn) override {
    for (const auto& k : order_)
      if (!fn(k, entries_.at(k))) break;
    return {};
  }

 private:
  std::unordered_map<std::string, std::string> entries_;
  std::vector<std::string> order_;
};

class StaticTable final : public Table {
 public:
  StaticTable(std::string name, std::string value, OpenOptions o)
      : Table("static", std::move(name), std::move(o)), value_(std::move(value)) {}
  bool fixed() const override { return true; }
  Result<std::optional<std::string>> lookup(std::string_view) override {
    return std::optional<std::string>(value_);
  }

 private:
  std::string value_;
};

}  // namespace

namespace detail {

Result<std::unique_ptr<Table>> open_inline(std::string_view name, const OpenOptions& o) {
  if (auto s = require_read_only("inline", name, o); !s) return s.take_error();
  auto need = [&](std::string_view why) {
    return make_error("{}: \"inline:{}\"; need \"inline:{{name=value...}}\"", why, name);
  };
  std::size_t len = balanced_braces(name);
  if (len == 0 || len != name.size() || len == 2)
    return make_error("bad syntax: \"inline:{}\"; need \"inline:{{name=value...}}\"", name);
  auto t = std::make_unique<InlineTable>(std::string(name), o);
  int count = 0;
  for (std::string element : split_braced(name.substr(1, len - 2))) {
    if (!element.empty() && element[0] == '{') {
      auto stripped = strip_braces(element);
      if (!stripped) return need(stripped.error().message);
      element = std::move(*stripped);
    }
    auto nv = split_nameval(element);
    if (!nv) return need(nv.error().message);
    t->put(nv->first, std::move(nv->second));
    ++count;
  }
  if (count == 0) return need("empty table");
  return std::unique_ptr<Table>(std::move(t));
}

Result<std::unique_ptr<Table>> open_static(std::string_view name, const OpenOptions& o) {
  if (auto s = require_read_only("static", name, o); !s) return s.take_error();
  std::string value(name);
  if (!name.empty() && name[0] == '{') {
    auto stripped = strip_braces(name);
    if (!stripped) return make_error("bad static:name syntax: {}", stripped.error().message);
    value = std::move(*stripped);
  }
  return std::unique_ptr<Table>(new StaticTable(std::string(name), std::move(value), o));
}

}  // namespace detail
}  // namespace postern::maps
