// edit.cpp - see edit.h. Works on physical lines so that everything not
// being changed is copied byte for byte. Logs nothing.
#include "config/edit.h"

#include <algorithm>
#include <cerrno>
#include <map>
#include <set>

#include "base/strings.h"
#include "config/config.h"
#include "config/file_io.h"
#include "config/master_cf.h"

namespace postern::config {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

struct Lines {
  std::vector<std::string_view> lines;  // without "\n"
  bool final_newline = true;
};

Lines split_lines(std::string_view text) {
  Lines l;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) {
      l.lines.push_back(text.substr(pos));
      l.final_newline = false;
      break;
    }
    l.lines.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return l;
}

bool blank_or_comment(std::string_view line) {
  auto t = str::trim(line);
  return t.empty() || t[0] == '#';
}
bool starts_entry(std::string_view line) { return !blank_or_comment(line) && !is_space(line[0]); }
bool continues(std::string_view line) { return !blank_or_comment(line) && is_space(line[0]); }

// A logical entry: lines [first, last].
struct Entry {
  std::size_t first;
  std::size_t last;
};

std::vector<Entry> entries(const Lines& l) {
  std::vector<Entry> out;
  for (std::size_t i = 0; i < l.lines.size(); ++i) {
    if (!starts_entry(l.lines[i])) continue;
    Entry e{i, i};
    for (std::size_t j = i + 1; j < l.lines.size() && !starts_entry(l.lines[j]); ++j)
      if (continues(l.lines[j])) e.last = j;
    out.push_back(e);
  }
  return out;
}

std::string join(const Lines& l, const std::vector<std::string>& out_lines, bool final_newline) {
  std::string out;
  for (std::size_t i = 0; i < out_lines.size(); ++i) {
    out += out_lines[i];
    if (i + 1 < out_lines.size() || final_newline) out += '\n';
  }
  return out;
}

Status check_text(std::string_view what, std::string_view v) {
  if (v.find_first_of(std::string_view("\n\r\0", 3)) != std::string_view::npos)
    return make_error("{}: line breaks and NUL characters are not allowed", str::printable(what, 100));
  return {};
}

std::string main_line(const std::string& name, const std::string& value) {
  auto v = str::trim(value);
  return v.empty() ? name + " =" : name + " = " + std::string(v);
}

// service/type of a master.cf entry's first line, or "".
std::string master_key(std::string_view first_line) {
  auto w = str::split(first_line, " \t\r\v\f");
  if (w.size() < 2) return {};
  return w[0] + "/" + w[1];
}

}  // namespace

Result<std::string> edit_main_cf(std::string_view text, const MainCfEdit& edit, std::vector<std::string>* notes) {
  std::map<std::string, std::string> set;
  for (auto& [n, v] : edit.set) {
    if (!valid_param_name(n)) return make_error("bad parameter name: \"{}\"", str::printable(n, 100));
    if (auto st = check_text(n, v); !st) return st.take_error();
    set[n] = v;
  }
  std::set<std::string> remove(edit.remove.begin(), edit.remove.end());
  std::set<std::string> comment(edit.comment_out.begin(), edit.comment_out.end());

  Lines l = split_lines(text);
  auto es = entries(l);
  std::vector<std::string> out;
  std::set<std::string> done;
  std::size_t next = 0;
  for (const auto& e : es) {
    for (; next < e.first; ++next) out.emplace_back(l.lines[next]);
    std::string_view first = l.lines[e.first];
    auto eq = first.find('=');
    std::string name(str::trim(first.substr(0, eq == std::string_view::npos ? first.size() : eq)));
    if (auto it = set.find(name); it != set.end()) {
      if (!done.count(name)) {
        out.push_back(main_line(name, it->second));
        done.insert(name);
      } else if (notes) {
        notes->push_back(fmt::format("removed duplicate definition of {} at line {}", name, e.first + 1));
      }
    } else if (remove.count(name)) {
      // dropped
    } else if (comment.count(name)) {
      for (std::size_t i = e.first; i <= e.last; ++i) out.push_back("#" + std::string(l.lines[i]));
    } else {
      for (std::size_t i = e.first; i <= e.last; ++i) out.emplace_back(l.lines[i]);
    }
    next = e.last + 1;
  }
  for (; next < l.lines.size(); ++next) out.emplace_back(l.lines[next]);
  bool final_newline = l.final_newline;
  for (auto& [n, v] : edit.set) {  // new names, in command line order
    if (done.count(n)) continue;
    out.push_back(main_line(n, set[n]));
    done.insert(n);
    final_newline = true;
  }
  return join(l, out, final_newline);
}

Result<std::string> edit_master_cf(std::string_view text, const MasterCfEdit& edit, std::string_view filename) {
  std::map<std::string, std::string> set;  // key -> normalized entry
  for (auto& [key, entry] : edit.set) {
    if (auto st = check_text(key, entry); !st) return st.take_error();
    auto parsed = parse_master_cf(entry, "new entry");
    if (!parsed) return make_error("{}: {}", key, parsed.error().message);
    if (parsed->size() != 1) return make_error("{}: expected exactly one master.cf entry", key);
    if ((*parsed)[0].key() != key)
      return make_error("{}: the entry defines {}, not {}", key, (*parsed)[0].key(), key);
    set[key] = format_master_entry_folded((*parsed)[0]);
  }
  std::map<std::string, std::string> at;  // key in the file -> key of the entry that goes there
  for (const auto& [key, entry] : edit.set) {
    auto r = edit.replaces.find(key);
    at[r != edit.replaces.end() ? r->second : key] = key;
  }
  std::set<std::string> remove(edit.remove.begin(), edit.remove.end());
  std::set<std::string> comment(edit.comment_out.begin(), edit.comment_out.end());

  Lines l = split_lines(text);
  auto es = entries(l);
  std::vector<std::string> out;
  std::set<std::string> done;
  std::size_t next = 0;
  for (const auto& e : es) {
    for (; next < e.first; ++next) out.emplace_back(l.lines[next]);
    std::string key = master_key(l.lines[e.first]);
    if (auto it = at.find(key); it != at.end()) {
      if (!done.count(it->second)) out.push_back(set[it->second]);
      done.insert(it->second);
    } else if (remove.count(key)) {
      done.insert(key);
    } else if (comment.count(key)) {
      for (std::size_t i = e.first; i <= e.last; ++i) out.push_back("#" + std::string(l.lines[i]));
      done.insert(key);
    } else {
      for (std::size_t i = e.first; i <= e.last; ++i) out.emplace_back(l.lines[i]);
    }
    next = e.last + 1;
  }
  for (; next < l.lines.size(); ++next) out.emplace_back(l.lines[next]);
  bool final_newline = l.final_newline;
  for (auto& [key, entry] : edit.set) {
    if (done.count(key)) continue;
    out.push_back(set[key]);
    done.insert(key);
    final_newline = true;
  }
  // An entry to remove or comment out that is not there is already in the
  // state asked for: no error (Postfix says nothing either), so a script may
  // run the same command twice.

  std::string result = join(l, out, final_newline);
  std::vector<std::string> duplicates;
  auto check = parse_master_cf(result, filename, &duplicates);
  if (!check) return check.take_error();
  // The master takes the last of two entries for one service; an edit
  // that would write two is refused instead, so the file stays unambiguous.
  if (!duplicates.empty()) return make_error("{}: duplicate service entry {}", filename, duplicates.front());
  return result;
}

Status edit_main_cf_file(const std::filesystem::path& config_dir, const MainCfEdit& edit,
                         std::vector<std::string>* notes) {
  auto path = config_dir / "main.cf";
  std::string old;
  if (auto r = read_file(path); r) old = std::move(*r);
  else if (r.error().sys_errno != ENOENT) return r.take_error();
  auto edited = edit_main_cf(old, edit, notes);
  if (!edited) return edited.take_error();
  // Refuse to introduce an error; a file that was already broken may be
  // repaired one step at a time.
  if (auto now = Config::from_text(*edited, path.string(), config_dir); !now) {
    if (Config::from_text(old, path.string(), config_dir))
      return make_error("not changing {}: {}", path.string(), now.error().message);
  }
  return write_file_atomic(path, *edited);
}

Status edit_master_cf_file(const std::filesystem::path& config_dir, const MasterCfEdit& edit) {
  auto path = config_dir / "master.cf";
  std::string old;
  if (auto r = read_file(path); r) old = std::move(*r);
  else if (r.error().sys_errno != ENOENT) return r.take_error();
  auto edited = edit_master_cf(old, edit, path.string());
  if (!edited) return edited.take_error();
  return write_file_atomic(path, *edited);
}

}  // namespace postern::config
