// domain_list.cpp - domain list matching; see domain_list.h.
//
// Pattern files are bounded (1 MiB, nesting depth 4) so that a wrong
// parameter value cannot make the daemon read a huge file or loop.
#include "domain_list.h"

#include <cstring>
#include <sstream>

#include "base/read_file.h"
#include "base/strings.h"

namespace postern::rewrite_service {

namespace {

constexpr std::size_t kMaxPatternFile = 1 << 20;
constexpr int kMaxFileDepth = 4;

bool ends_with_icase(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && str::iequals(s.substr(s.size() - suffix.size()), suffix);
}

}  // namespace

std::vector<std::string> split_patterns(std::string_view s) {
  std::vector<std::string> out;
  auto is_sep = [](char c) { return c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_sep(s[i])) ++i;
    if (i >= s.size()) break;
    std::size_t b = i;
    int depth = 0;
    for (; i < s.size(); ++i) {
      if (s[i] == '{') ++depth;
      else if (s[i] == '}' && depth > 0) --depth;
      else if (depth == 0 && is_sep(s[i])) break;
    }
    out.emplace_back(s.substr(b, i - b));
  }
  return out;
}

Status DomainList::add(std::string_view title, std::string_view pattern, const maps::OpenOptions& opts,
                       int depth) {
  Entry e;
  if (!pattern.empty() && pattern[0] == '!') {
    e.negate = true;
    pattern.remove_prefix(1);
  }
  if (pattern.empty()) return make_error("{}: empty pattern", title);
  if (pattern[0] == '/') {
    if (e.negate) return make_error("{}: negated file pattern \"!{}\" is not supported", title, pattern);
    if (depth >= kMaxFileDepth) return make_error("{}: pattern files nested too deeply at {}", title, pattern);
    auto text = read_file(std::string(pattern), kMaxPatternFile);
    if (!text) return make_error("{}: {}", title, text.error().message);
    std::istringstream lines(*text);
    std::string line;
    while (std::getline(lines, line)) {
      if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
      for (auto& p : split_patterns(line)) {
        if (auto st = add(title, p, opts, depth + 1); !st) return st;
      }
    }
    return {};
  }
  if (pattern.find(':') != std::string_view::npos && pattern[0] != '[') {
    auto t = maps::open_table(pattern, opts);
    if (!t) return make_error("{}: {}", title, t.error().message);
    e.table = std::move(*t);
  } else {
    e.name = str::lower(pattern);
  }
  entries_.push_back(std::move(e));
  return {};
}

Result<DomainList> DomainList::open(std::string_view title, std::string_view value, bool parent_style,
                                    const maps::OpenOptions& opts) {
  DomainList list;
  list.parent_style_ = parent_style;
  for (auto& p : split_patterns(value)) {
    if (auto st = list.add(title, p, opts, 0); !st) return st.take_error();
  }
  return list;
}

Result<bool> DomainList::match(std::string_view domain) {
  if (domain.empty()) return false;
  for (auto& e : entries_) {
    bool hit = false;
    if (e.table) {
      auto r = e.table->lookup(domain);
      if (!r) return r.take_error();
      hit = r->has_value();
      // Parents: "a.b.example.com" -> "b.example.com", "example.com", "com"
      // (parent style) or ".b.example.com", ".example.com", ".com".
      for (std::size_t dot = domain.find('.', 1); !hit && dot != std::string_view::npos;
           dot = domain.find('.', dot + 1)) {
        auto key = parent_style_ ? domain.substr(dot + 1) : domain.substr(dot);
        if (key.empty() || key == ".") break;
        auto p = e.table->lookup(key);
        if (!p) return p.take_error();
        hit = p->has_value();
      }
    } else if (str::iequals(domain, e.name)) {
      hit = true;
    } else if (!e.name.empty() && e.name[0] == '.') {
      hit = domain.size() > e.name.size() && ends_with_icase(domain, e.name);
    } else if (parent_style_) {
      hit = domain.size() > e.name.size() + 1 && ends_with_icase(domain, "." + e.name);
    }
    if (hit) return !e.negate;
  }
  return false;
}

bool DomainList::changed() const {
  for (auto& e : entries_)
    if (e.table && e.table->changed()) return true;
  return false;
}

}  // namespace postern::rewrite_service
