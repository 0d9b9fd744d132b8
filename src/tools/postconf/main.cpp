// postconf - show and change the Postern configuration (main.cf, master.cf).
//
//   postconf [-dhHnx] [-c dir] [-o name=value] [name ...]   show parameters
//   postconf [-c dir] -e name=value ...                      set parameters in main.cf
//   postconf [-c dir] -X name ... | -# name ...              remove / comment out parameters
//   postconf [-c dir] -M [service[/type] ...]                show master.cf entries
//   postconf [-c dir] -Me service/type='entry' ...           replace or add master.cf entries
//   postconf [-c dir] -MX service/type ... | -M# ...         remove / comment out entries
//   postconf [-c dir] -F[hH] [service[/type[/field]] ...]     show master.cf fields
//   postconf [-c dir] -Fe service/type/field=value ...       change a field
//   postconf [-c dir] -P[hH] [service[/type[/name]] ...]      show master.cf -o parameters
//   postconf [-c dir] -Pe service/type/name=value ...        set one; -PX service/type/name removes
//
// The configuration directory is -c, else $MAIL_CONFIG, else the
// compiled-in config_directory. Values are shown as written (unexpanded)
// unless -x is given; -d shows defaults. Everything comes from the
// parameter registry; see docs/man/postconf.md.
//
// Messages go to stderr as "postconf: warning: ..." and "postconf: fatal:
// ..." (exit status 1); nothing is sent to syslog.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/strings.h"
#include "config/config.h"
#include "config/edit.h"
#include "config/master_cf.h"
#include "config/registry.h"
#include "maps/table.h"
#include "postern/paths.h"

namespace cfg = postern::config;
namespace str = postern::str;

namespace {

bool g_quiet = false;  // -q: no warnings

template <class... A>
void warn(fmt::format_string<A...> f, A&&... a) {
  if (g_quiet) return;
  std::fprintf(stderr, "postconf: warning: %s\n", fmt::format(f, std::forward<A>(a)...).c_str());
}

template <class... A>
[[noreturn]] void fatal(fmt::format_string<A...> f, A&&... a) {
  std::fflush(stdout);
  std::fprintf(stderr, "postconf: fatal: %s\n", fmt::format(f, std::forward<A>(a)...).c_str());
  std::exit(1);
}

[[noreturn]] void usage() {
  fatal(
      "usage: postconf [-c config_dir] [-dhHnx] [-o name=value] [name ...] | -e name=value ... | -X name ... | "
      "-# name ... | -M [service[/type] ...] | -Me service/type=entry ... | -MX service/type ... | "
      "-M# service/type ... | -F [service/type/field ...] | -Fe service/type/field=value ... | "
      "-P [service/type/name ...] | -Pe service/type/name=value ... | -PX service/type/name ... | "
      "-a | -l | -m  (also -f: accepted, no folding; -q: no warnings)");
}

struct Options {
  std::string config_dir;
  bool config_dir_given = false;  // -c or $MAIL_CONFIG
  bool defaults = false;  // -d
  bool edit = false;      // -e
  bool names_only = false;  // -H
  bool values_only = false;  // -h
  bool master = false;    // -M
  bool fields = false;    // -F
  bool params = false;    // -P
  bool explicit_only = false;  // -n
  bool expand = false;    // -x
  bool remove = false;    // -X
  bool comment = false;   // -#
  char list = 0;          // -a, -l or -m: what this build supports
  std::vector<std::pair<std::string, std::string>> overrides;  // -o
  std::vector<std::string> operands;
};

std::pair<std::string, std::string> split_assignment(std::string_view arg, std::string_view what) {
  auto eq = arg.find('=');
  if (eq == std::string_view::npos) fatal("{}: missing \"=\" in {}", str::printable(arg, 100), what);
  return {std::string(str::trim(arg.substr(0, eq))), std::string(str::trim(arg.substr(eq + 1)))};
}

// Transports in master.cf that get per-transport parameters: services that
// run a delivery agent the queue manager talks to.
std::set<std::string> master_transports(const std::vector<cfg::MasterService>& services) {
  static const std::set<std::string> agents = {"local", "virtual", "smtp", "lmtp", "pipe",
                                               "error", "discard", "retry"};
  std::set<std::string> out;
  for (const auto& s : services)
    if (s.type == cfg::ServiceType::Unix && agents.count(s.command)) out.insert(s.name);
  return out;
}

// Names that master.cf -o values refer to as $name (user-defined parameters).
std::set<std::string> master_references(const std::vector<cfg::MasterService>& services) {
  std::set<std::string> out;
  for (const auto& s : services) {
    for (const auto& ov : s.overrides)
      for (auto& m : cfg::macro_names(ov.second)) out.insert(m);
  }
  return out;
}

// Postfix's postconf prints a value as its words joined by one space (runs
// of blanks, tabs and the newlines of continued lines collapse), which is
// what every daemon sees of a list anyway.
std::string collapse_space(std::string_view v) {
  std::string out;
  for (const auto& w : str::split(v, " \t\r\n")) {
    if (!out.empty()) out += ' ';
    out += w;
  }
  return out;
}

void print_param(const Options& o, const cfg::Config& c, const std::string& name, bool warn_unknown) {
  std::optional<std::string> v = o.expand ? c.get(name) : c.raw(name);
  if (!v) {
    if (warn_unknown) warn("{}: unknown parameter", name);
    return;
  }
  *v = collapse_space(*v);
  if (o.names_only) std::printf("%s\n", name.c_str());
  else if (o.values_only) std::printf("%s\n", v->c_str());
  else if (v->empty()) std::printf("%s =\n", name.c_str());
  else std::printf("%s = %s\n", name.c_str(), v->c_str());
}

int show_parameters(const Options& o) {
  // Read, not validated: as Postfix's postconf, show what is written even
  // when a value is bad (then most of all), and say what is wrong.
  auto loaded = o.defaults ? cfg::Config::from_text("", "main.cf") : cfg::Config::load_unvalidated(o.config_dir);
  if (!loaded) fatal("{}", loaded.error().message);
  cfg::Config& c = *loaded;
  std::vector<cfg::Config::Override> overrides;
  for (auto& [n, v] : o.overrides) overrides.push_back({n, v, fmt::format("-o {}={}", n, v)});
  {
    cfg::Config checked = c;
    if (auto st = checked.set_overrides(overrides); st) {
      c = std::move(checked);
    } else {
      warn("{}", st.error().message);
      if (auto syn = c.set_overrides_unvalidated(overrides); !syn) fatal("{}", syn.error().message);
    }
  }

  // master.cf is optional here: it only adds per-transport parameters and
  // names that -o options use.
  std::vector<cfg::MasterService> services;
  if (auto m = cfg::load_master_cf(o.config_dir); m) services = std::move(*m);
  else if (m.error().sys_errno != ENOENT) warn("{}", m.error().message);

  // Unknown names that nothing refers to are reported as unused, and not
  // shown, and $name references to names that nothing defines as
  // undefined, as Postfix does. A master.cf -o name belongs to its entry:
  // only that entry's other -o values, and main.cf, may refer to it.
  // A per-transport name ("relay_destination_rate_delay") is a parameter
  // only for a delivery service that master.cf has (Postfix).
  const std::set<std::string> transports = master_transports(services);
  auto known = [&](const std::string& n) {
    const cfg::ParamDef* d = cfg::find_param(n);
    if (!d) return false;
    if (d->name == n) return true;
    const std::size_t suffix = d->name.size() - std::string_view("transport").size();
    return n.size() > suffix && transports.count(n.substr(0, n.size() - suffix)) > 0;
  };
  std::set<std::string> referenced = master_references(services);
  std::set<std::string> main_refs;
  for (const auto& n : c.explicit_names())
    for (auto& m : cfg::macro_names(c.raw(n).value_or(""))) main_refs.insert(m);
  referenced.insert(main_refs.begin(), main_refs.end());
  std::set<std::string> user_defined;
  if (!o.defaults) {
    for (const auto& w : c.warnings())
      if (w.find(": unknown parameter name: ") == std::string::npos) warn("{}", w);
    const std::string master_cf = (std::filesystem::path(o.config_dir) / "master.cf").string();
    const std::vector<std::string> set_in_main = c.explicit_names();  // sorted
    auto in_main = [&](const std::string& n) {
      return std::binary_search(set_in_main.begin(), set_in_main.end(), n);
    };
    auto in_any_entry = [&](const std::string& n) {
      for (const auto& s : services)
        for (const auto& ov : s.overrides)
          if (ov.first == n) return true;
      return false;
    };
    std::set<std::string> said;
    for (const auto& s : services) {
      for (const auto& [n, v] : s.overrides) {
        for (auto& m : cfg::macro_names(v)) {
          bool own = std::any_of(s.overrides.begin(), s.overrides.end(), [&](const auto& x) { return x.first == m; });
          if (known(m) || in_main(m) || own || !said.insert("master " + m).second) continue;
          warn("{}: undefined parameter: {}", master_cf, m);
        }
      }
    }
    for (const auto& m : main_refs) {
      if (known(m) || in_main(m) || in_any_entry(m)) continue;
      warn("{}: undefined parameter: {}", c.filename(), m);
    }
    for (const auto& n : c.explicit_names()) {
      if (known(n)) continue;
      if (referenced.count(n)) user_defined.insert(n);
      else warn("{}: unused parameter: {}={}", c.filename(), n, c.raw(n).value_or(""));
    }
    for (const auto& s : services) {
      std::set<std::string> entry_refs;
      for (const auto& ov : s.overrides)
        for (auto& m : cfg::macro_names(ov.second)) entry_refs.insert(m);
      std::map<std::string, std::string> unused;  // by name, as Postfix lists them
      for (const auto& [n, v] : s.overrides)
        if (!known(n) && !main_refs.count(n) && !entry_refs.count(n)) unused.emplace(n, v);
      for (const auto& [n, v] : unused) warn("{}: unused parameter: {}={}", master_cf, n, v);
    }
  }

  if (!o.operands.empty()) {
    for (const auto& n : o.operands) print_param(o, c, n, true);
    return 0;
  }
  std::set<std::string> names;
  if (o.explicit_only && !o.defaults) {
    for (const auto& n : c.explicit_names())
      if (known(n) || user_defined.count(n)) names.insert(n);
    // A directory named with -c or MAIL_CONFIG counts as set (Postfix).
    if (o.config_dir_given) names.insert("config_directory");
  } else {
    for (const auto& d : cfg::registry()) names.insert(std::string(d.name));
    for (const auto& t : master_transports(services)) {
      for (const auto& d : cfg::transport_templates()) {
        std::string n = t + std::string(d.name.substr(std::string_view("transport").size()));
        if (cfg::find_param(n)) names.insert(n);
      }
    }
    for (const auto& n : c.explicit_names())
      if (known(n) || user_defined.count(n)) names.insert(n);
  }
  for (const auto& n : names) print_param(o, c, n, false);
  return 0;
}

bool entry_selected(const cfg::MasterService& s, const std::vector<std::string>& sel) {
  if (sel.empty()) return true;
  for (const auto& x : sel)
    if (x == s.name || x == s.key()) return true;
  return false;
}

int show_master(const Options& o) {
  auto m = cfg::load_master_cf(o.config_dir);
  if (!m) fatal("{}", m.error().message);
  for (const auto& x : o.operands) {
    bool any = false;
    for (const auto& s : *m) any = any || entry_selected(s, {x});
    if (!any) warn("{}: no such master.cf entry", x);
  }
  for (const auto& s : *m)
    if (entry_selected(s, o.operands)) std::printf("%s\n", cfg::format_master_entry(s).c_str());
  return 0;
}

int edit_master(const Options& o) {
  cfg::MasterCfEdit e;
  for (const auto& a : o.operands) {
    if (o.edit) {
      auto eq = a.find('=');
      if (eq == std::string::npos) fatal("{}: specify service/type=entry", str::printable(a, 100));
      std::string key(str::trim(std::string_view(a).substr(0, eq)));
      if (key.find('/') == std::string::npos) fatal("{}: specify service/type=entry", str::printable(a, 100));
      e.set.emplace_back(key, std::string(str::trim(std::string_view(a).substr(eq + 1))));
    } else {
      if (a.find('=') != std::string::npos) fatal("-MX or -M# requires service names without value");
      (o.remove ? e.remove : e.comment_out).push_back(a);
    }
  }
  if (auto st = cfg::edit_master_cf_file(o.config_dir, e); !st) fatal("{}", st.error().message);
  return 0;
}

// ---- -F and -P: master.cf fields and -o parameters ----------------------

constexpr std::string_view kFieldNames[] = {"service", "type",   "private",       "unprivileged",
                                            "chroot",  "wakeup", "process_limit", "command"};

// "service/type/name" with missing trailing parts and "*" as wildcards.
bool selected(const std::vector<std::string>& sel, std::string_view service, std::string_view type,
              std::string_view name) {
  if (sel.empty()) return true;
  for (const auto& x : sel) {
    auto parts = str::split(x, "/");
    const std::string_view have[] = {service, type, name};
    bool ok = parts.size() <= 3;
    for (std::size_t i = 0; ok && i < parts.size(); ++i) ok = parts[i] == "*" || parts[i] == have[i];
    if (ok) return true;
  }
  return false;
}

void print_master_item(const Options& o, const std::string& name, const std::string& value) {
  if (o.names_only) std::printf("%s\n", name.c_str());
  else if (o.values_only) std::printf("%s\n", value.c_str());
  else if (value.empty()) std::printf("%s =\n", name.c_str());
  else std::printf("%s = %s\n", name.c_str(), value.c_str());
}

std::string field_value(const cfg::MasterService& s, std::size_t i) {
  return i < s.columns.size() ? s.columns[i] : cfg::format_master_command(s);
}

// The -o parameters of an entry, by name (a later one wins, as for the
// daemon).
std::map<std::string, std::string> entry_params(const cfg::MasterService& s) {
  std::map<std::string, std::string> out;
  for (const auto& [n, v] : s.overrides) out[n] = v;
  return out;
}

int show_fields_or_params(const Options& o) {
  auto m = cfg::load_master_cf(o.config_dir);
  if (!m) fatal("{}", m.error().message);
  for (const auto& x : o.operands) {
    auto parts = str::split(x, "/");
    if (parts.empty() || parts.size() > 3 || x.front() == '/' || x.back() == '/' || x.find("//") != std::string::npos)
      fatal("{} option requires service_name[/type[/{}]]", o.fields ? "-F" : "-P", o.fields ? "field" : "parameter");
    if (o.fields && parts.size() == 3 && parts[2] != "*" &&
        std::find(std::begin(kFieldNames), std::end(kFieldNames), parts[2]) == std::end(kFieldNames))
      fatal("invalid service attribute name: \"{}\"", str::printable(parts[2], 100));
    bool any = false;
    for (const auto& s : *m) {
      const std::string type(cfg::to_string(s.type));
      if (o.fields) {
        for (auto f : kFieldNames) any = any || selected({x}, s.name, type, f);
      } else {
        for (const auto& [n, v] : entry_params(s)) any = any || selected({x}, s.name, type, n);
      }
    }
    if (!any) warn("unmatched request: \"{}\"", str::printable(x, 100));
  }
  for (const auto& s : *m) {
    const std::string type(cfg::to_string(s.type));
    const std::string prefix = s.name + "/" + type + "/";
    if (o.fields) {
      for (std::size_t i = 0; i < std::size(kFieldNames); ++i)
        if (selected(o.operands, s.name, type, kFieldNames[i]))
          print_master_item(o, prefix + std::string(kFieldNames[i]), field_value(s, i));
    } else {
      for (const auto& [n, v] : entry_params(s))
        if (selected(o.operands, s.name, type, n)) print_master_item(o, prefix + n, v);
    }
  }
  return 0;
}

bool has_space(std::string_view v) { return v.find_first_of(" \t\r\n\v\f") != std::string_view::npos; }

// The entry text with `field` (an index into kFieldNames) set to `value`.
std::string with_field(const cfg::MasterService& s, std::size_t field, const std::string& value) {
  std::string out;
  for (std::size_t i = 0; i < std::size(kFieldNames); ++i) {
    if (i) out += ' ';
    out += i == field ? value : field_value(s, i);
  }
  return out;
}

// The entry text with the -o parameter `name` set (`value`) or removed.
std::string with_param(const cfg::MasterService& s, const std::string& name, const std::optional<std::string>& value) {
  const cfg::MasterService t = cfg::with_override(s, name, value);
  return with_field(t, std::size(kFieldNames) - 1, cfg::format_master_command(t));
}

int edit_fields_or_params(const Options& o) {
  const char* opt = o.fields ? "-F" : "-P";
  if (o.comment) fatal("with option {}, do not specify -#", opt);
  if (o.fields && o.remove) fatal("with option -F, do not specify -X");
  auto m = cfg::load_master_cf(o.config_dir);
  if (!m) fatal("{}", m.error().message);
  std::vector<cfg::MasterService> services = std::move(*m);
  std::map<std::string, std::string> original_key;  // current key -> key in the file
  for (auto& s : services) original_key[s.key()] = s.key();
  std::set<std::string> changed;  // current keys

  for (const auto& a : o.operands) {
    std::string target = a;
    std::optional<std::string> value;
    if (o.edit) {
      const auto eq = a.find('=');
      if (eq == std::string::npos) fatal("{}: specify service/type/{}=value", str::printable(a, 100),
                                         o.fields ? "field" : "parameter");
      target = std::string(str::trim(std::string_view(a).substr(0, eq)));
      value = std::string(str::trim(std::string_view(a).substr(eq + 1)));
    } else if (a.find('=') != std::string::npos) {
      fatal("-PX requires service/type/parameter names without value");
    }
    auto parts = str::split(target, "/");
    if (parts.size() != 3 || parts[0].empty() || parts[1].empty() || parts[2].empty())
      fatal("{}: specify service/type/{}", str::printable(a, 100), o.fields ? "field" : "parameter");
    std::size_t field = std::size(kFieldNames);
    if (o.fields) {
      for (std::size_t i = 0; i < std::size(kFieldNames); ++i)
        if (parts[2] == kFieldNames[i]) field = i;
      if (field == std::size(kFieldNames)) fatal("invalid service attribute name: \"{}\"", str::printable(parts[2], 100));
      if (field + 1 < std::size(kFieldNames) && has_space(*value)) fatal("-Fe does not accept whitespace in non-command field");
      if (value->empty()) fatal("{}: the {} field cannot be empty", str::printable(a, 100), parts[2]);
    } else {
      if (!cfg::valid_param_name(parts[2])) fatal("invalid parameter name: \"{}\"", str::printable(parts[2], 100));
      if (value && has_space(*value)) fatal("-Pe does not accept whitespace in parameter value");
    }
    auto it = std::find_if(services.begin(), services.end(),
                           [&](const cfg::MasterService& s) { return s.key() == parts[0] + "/" + parts[1]; });
    if (it == services.end()) {
      warn("unmatched service_name/type: \"{}\"", str::printable(a, 100));
      continue;
    }
    const std::string text = o.fields ? with_field(*it, field, *value) : with_param(*it, parts[2], value);
    auto parsed = cfg::parse_master_cf(text, "new entry");
    if (!parsed || parsed->size() != 1)
      fatal("{}: {}", str::printable(a, 100), parsed ? "not one master.cf entry" : parsed.error().message);
    const std::string old_key = it->key();
    const std::string file_key = original_key[old_key];
    const std::string new_key = (*parsed)[0].key();
    if (new_key != old_key &&
        std::any_of(services.begin(), services.end(), [&](const cfg::MasterService& s) { return s.key() == new_key; }))
      fatal("{}: there is a {} entry already", str::printable(a, 100), new_key);
    *it = std::move((*parsed)[0]);
    changed.erase(old_key);
    original_key.erase(old_key);
    original_key[it->key()] = file_key;
    changed.insert(it->key());
  }

  cfg::MasterCfEdit e;
  for (const auto& key : changed) {
    auto it = std::find_if(services.begin(), services.end(), [&](const cfg::MasterService& s) { return s.key() == key; });
    const std::string& file_key = original_key[key];
    // A changed service name or type: the new entry takes the old one's place.
    if (file_key != key) e.replaces[key] = file_key;
    e.set.emplace_back(key, cfg::format_master_entry(*it));
  }
  if (e.set.empty()) return 0;
  if (auto st = cfg::edit_master_cf_file(o.config_dir, e); !st) fatal("{}", st.error().message);
  return 0;
}

int edit_main(const Options& o) {
  cfg::MainCfEdit e;
  for (const auto& a : o.operands) {
    if (o.edit) {
      e.set.push_back(split_assignment(a, "postconf -e argument"));
      continue;
    }
    if (str::trim(a).empty()) fatal("-X or -# requires non-blank parameter names");
    if (a.find('=') != std::string::npos) fatal("-X or -# requires parameter names without value");
    (o.remove ? e.remove : e.comment_out).push_back(std::string(str::trim(a)));
  }
  std::vector<std::string> notes;
  if (auto st = cfg::edit_main_cf_file(o.config_dir, e, &notes); !st) fatal("{}", st.error().message);
  for (const auto& n : notes) warn("{}", n);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string_view(argv[1]) == "--registry-markdown") {
    std::fputs(cfg::registry_markdown().c_str(), stdout);
    return 0;
  }
  Options o;
  int ch;
  opterr = 0;
  while ((ch = getopt(argc, argv, "+ac:defFHhlMmno:PpqvxX#")) != -1) {
    switch (ch) {
      case 'c': o.config_dir = optarg; break;
      case 'd': o.defaults = true; break;
      case 'e': o.edit = true; break;
      case 'H': o.names_only = true; break;
      case 'h': o.values_only = true; break;
      case 'M': o.master = true; break;
      case 'F': o.fields = true; break;
      case 'P': o.params = true; break;
      case 'n': o.explicit_only = true; break;
      case 'o': o.overrides.push_back(split_assignment(optarg, "-o option")); break;
      case 'p': break;  // parameters: the default mode
      case 'f': break;  // fold long lines for people: output stays one line per entry
      case 'q': g_quiet = true; break;
      case 'v': break;  // accepted for compatibility
      case 'x': o.expand = true; break;
      case 'X': o.remove = true; break;
      case '#': o.comment = true; break;
      case 'a':
      case 'l':
      case 'm':
        if (o.list && o.list != ch) usage();
        o.list = static_cast<char>(ch);
        break;
      default: usage();
    }
  }
  for (int i = optind; i < argc; ++i) o.operands.emplace_back(argv[i]);
  o.config_dir_given = !o.config_dir.empty();
  if (o.config_dir.empty()) {
    const char* env = std::getenv("MAIL_CONFIG");
    o.config_dir_given = env && *env;
    o.config_dir = o.config_dir_given ? env : postern::paths::kConfigDir;
  }

  // Postfix's -a (SASL server types), -l (mailbox lock methods) and -m
  // (lookup table types): one name per line.
  if (o.list) {
    if (o.master || o.fields || o.params || o.edit || o.remove || o.comment || o.defaults || o.explicit_only ||
        !o.operands.empty())
      usage();
    std::vector<std::string_view> names;
    if (o.list == 'a') names = {"dovecot"};
    else if (o.list == 'l') names = {"flock", "fcntl", "dotlock"};
    else names = postern::maps::supported_types();
    for (auto n : names) std::printf("%.*s\n", static_cast<int>(n.size()), n.data());
    return 0;
  }
  // "postconf name=value" edits, as Postfix's does since 2.8 (-e implied
  // when the first argument is an assignment; also "-M svc/type=...").
  if (!o.edit && !o.remove && !o.comment && !o.list && !o.defaults && !o.explicit_only && !o.operands.empty() &&
      o.operands.front().find('=') != std::string::npos)
    o.edit = true;
  int edits = int(o.edit) + int(o.remove) + int(o.comment);
  if (edits > 1) usage();
  if (edits == 1 && (o.defaults || o.explicit_only || o.expand || o.names_only || o.values_only)) usage();
  if (edits == 1 && o.operands.empty()) usage();
  if (int(o.master) + int(o.fields) + int(o.params) > 1) usage();
  if (o.fields || o.params) {
    if (edits && (o.names_only || o.values_only)) usage();
    return edits ? edit_fields_or_params(o) : show_fields_or_params(o);
  }
  if (o.master) return edits ? edit_master(o) : show_master(o);
  if (edits) return edit_main(o);
  return show_parameters(o);
}
