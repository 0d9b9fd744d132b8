// attr_expand.cpp - see attr_expand.h.
#include "base/attr_expand.h"

#include <cctype>

#include "base/strings.h"

namespace postern {

namespace {

// Where the brace group that opens at t[open] closes (its matching bracket,
// nested groups skipped), or npos.
std::size_t matching_close(std::string_view t, std::size_t open) {
  char o = t[open], c = o == '{' ? '}' : ')';
  int depth = 0;
  for (std::size_t i = open; i < t.size(); ++i) {
    if (t[i] == o) ++depth;
    if (t[i] == c && --depth == 0) return i;
  }
  return std::string_view::npos;
}

Status expand_into(std::string_view t, const AttrLookup& find, AttrExpansion& out, int depth) {
  if (depth > 10) return make_error("attribute templates nested too deeply in \"{}\"", str::printable(t, 200));
  for (std::size_t i = 0; i < t.size();) {
    if (out.text.size() > kMaxAttrExpansion) return make_error("expansion of \"{}\" is too long", str::printable(t, 200));
    char c = t[i];
    if (c != '$') {
      out.text.push_back(c);
      ++i;
      continue;
    }
    if (i + 1 >= t.size()) return make_error("\"$\" at end of \"{}\"", str::printable(t));
    if (t[i + 1] == '$') {
      out.text.push_back('$');
      i += 2;
      continue;
    }
    std::string_view name, arg;
    char op = 0;
    if (t[i + 1] == '{' || t[i + 1] == '(') {
      auto end = matching_close(t, i + 1);
      if (end == std::string_view::npos) return make_error("unbalanced brace in \"{}\"", str::printable(t));
      auto body = t.substr(i + 2, end - i - 2);
      auto sep = body.find_first_of("?:");
      name = body.substr(0, sep);
      if (sep != std::string_view::npos) {
        op = body[sep];
        arg = body.substr(sep + 1);
      }
      i = end + 1;
    } else {
      std::size_t j = i + 1;
      while (j < t.size() && (std::isalnum(static_cast<unsigned char>(t[j])) || t[j] == '_')) ++j;
      if (j == i + 1) return make_error("bad \"$\" in \"{}\"", str::printable(t));
      name = t.substr(i + 1, j - i - 1);
      i = j;
    }
    const std::string* v = find(name);
    if (!v) return make_error("unknown attribute \"{}\" in \"{}\"", str::printable(name), str::printable(t));
    if (op == '?' || op == ':') {
      if (v->empty() == (op == ':'))
        if (auto st = expand_into(arg, find, out, depth + 1); !st) return st;
    } else {
      if (v->empty()) out.undefined = true;
      out.text += *v;
    }
  }
  return {};
}

}  // namespace

Result<AttrExpansion> expand_attributes(std::string_view templ, const AttrLookup& find) {
  AttrExpansion out;
  if (auto st = expand_into(templ, find, out, 0); !st) return st.error();
  return out;
}

Result<AttrExpansion> expand_attributes(std::string_view templ, AttrTable attrs) {
  return expand_attributes(templ, [attrs](std::string_view name) -> const std::string* {
    for (const auto& [n, v] : attrs)
      if (n == name) return v;
    return nullptr;
  });
}

}  // namespace postern
