// match_list.cpp - domain and name list matching; see match_list.h.
//
// Pattern files are bounded (1 MiB, nesting depth 4) so that a wrong
// parameter value cannot make the daemon read a huge file or loop.
#include "maps/match_list.h"

#include <cstring>
#include <sstream>

#include "base/read_file.h"
#include "base/strings.h"
#include "config/registry.h"

namespace postern::maps {

namespace {

constexpr std::size_t kMaxPatternFile = 1 << 20;
constexpr int kMaxFileDepth = 4;

bool ends_with_icase(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && str::iequals(s.substr(s.size() - suffix.size()), suffix);
}

}  // namespace

Status MatchList::add(std::string_view title, std::string_view pattern, const OpenOptions& opts,
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
      for (auto& p : config::split_list(line)) {
        if (auto st = add(title, p, opts, depth + 1); !st) return st;
      }
    }
    return {};
  }
  if (pattern.find(':') != std::string_view::npos && pattern[0] != '[') {
    auto t = open_table(pattern, opts);
    if (!t) return make_error("{}: {}", title, t.error().message);
    e.table = std::move(*t);
  } else {
    e.name = str::lower(pattern);
  }
  entries_.push_back(std::move(e));
  return {};
}

Result<MatchList> MatchList::open(std::string_view title, std::string_view value, MatchStyle style,
                                  const OpenOptions& opts) {
  MatchList list;
  list.style_ = style;
  for (auto& p : config::split_list(value)) {
    if (auto st = list.add(title, p, opts, 0); !st) return st.take_error();
  }
  return list;
}

Result<bool> MatchList::match(std::string_view subject) {
  if (subject.empty()) return false;
  const bool domains = style_ != MatchStyle::Name;
  const bool parent_style = style_ == MatchStyle::ParentDomain;
  for (auto& e : entries_) {
    bool hit = false;
    if (e.table) {
      auto r = e.table->lookup(subject);
      if (!r) return r.take_error();
      hit = r->has_value();
      // Parents: "a.b.example.com" -> "b.example.com", "example.com", "com"
      // (parent style) or ".b.example.com", ".example.com", ".com".
      for (std::size_t dot = subject.find('.', 1);
           domains && e.table->fixed() && !hit && dot != std::string_view::npos; dot = subject.find('.', dot + 1)) {
        auto key = parent_style ? subject.substr(dot + 1) : subject.substr(dot);
        if (key.empty() || key == ".") break;
        auto p = e.table->lookup(key);
        if (!p) return p.take_error();
        hit = p->has_value();
      }
    } else if (str::iequals(subject, e.name)) {
      hit = true;
    } else if (domains && !e.name.empty() && e.name[0] == '.') {
      hit = subject.size() > e.name.size() && ends_with_icase(subject, e.name);
    } else if (parent_style) {
      hit = subject.size() > e.name.size() + 1 && ends_with_icase(subject, "." + e.name);
    }
    if (hit) return !e.negate;
  }
  return false;
}

bool MatchList::changed() const {
  for (auto& e : entries_)
    if (e.table && e.table->changed()) return true;
  return false;
}

}  // namespace postern::maps
