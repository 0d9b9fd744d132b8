// master_cf.cpp - master.cf parser and the normalized entry format.
//
// Each logical line (continuation lines joined) is one service. The first
// eight columns are plain words; command arguments may group white space
// with "{ ... }". Options before the first non-option argument are read the
// way the daemon's getopt() will read them, so that `-o` is recognized only
// where the daemon would see it (a pipe(8) "argv=... -o ..." belongs to the
// external command). Errors name the file and line; nothing is logged.
#include "config/master_cf.h"

#include <algorithm>
#include <cctype>

#include <arpa/inet.h>

#include <map>

#include "base/strings.h"
#include "config/config.h"
#include "config/file_io.h"
#include "log/log.h"

namespace postern::config {
namespace {

constexpr std::size_t kMaxServiceName = 256;
constexpr std::size_t kMaxArgs = 4096;
constexpr long kMaxNumber = 100000000;  // wakeup and maxproc bounds (about three years / a lot of processes)

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

std::string quote(std::string_view s) { return "\"" + str::printable(s, 100) + "\""; }

struct Logical {
  int line = 0;
  std::string text;
};

// Splits an entry into words; from word index `group_from` on, "{ ... }" is
// one word (inner text trimmed).
Result<std::vector<std::string>> words(std::string_view s, std::size_t group_from) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space(s[i])) ++i;
    if (i >= s.size()) break;
    if (out.size() >= kMaxArgs) return make_error("too many arguments");
    if (s[i] == '{' && out.size() >= group_from) {
      int depth = 0;
      std::size_t j = i;
      for (; j < s.size(); ++j) {
        if (s[j] == '{') ++depth;
        else if (s[j] == '}' && --depth == 0) break;
      }
      if (j >= s.size()) return make_error("missing \"}}\" in {}", quote(s.substr(i)));
      if (j + 1 < s.size() && !is_space(s[j + 1]))
        return make_error("missing white space after \"}}\" in {}", quote(s.substr(i, j + 2 - i)));
      out.emplace_back(str::trim(s.substr(i + 1, j - i - 1)));
      i = j + 1;
      continue;
    }
    // A word may hold a braced part, white space included, as Postfix's
    // mystrtokq(): "-o smtpd_milter_maps=inline:{ 192.0.2.1=DISABLE }" is
    // two words.
    std::size_t b = i;
    int depth = 0;
    for (; i < s.size() && (depth > 0 || !is_space(s[i])); ++i) {
      if (s[i] == '{') ++depth;
      else if (s[i] == '}' && depth > 0) --depth;
    }
    if (depth > 0) return make_error("missing \"}}\" in {}", quote(s.substr(b)));
    out.emplace_back(s.substr(b, i - b));
  }
  return out;
}

Result<bool> yes_no(std::string_view field, std::string_view v, bool dflt) {
  if (v == "-") return dflt;
  if (v == "y") return true;
  if (v == "n") return false;
  return make_error("bad {} field value {} (specify y, n or -)", field, quote(v));
}

Result<long> number(std::string_view field, std::string_view v) {
  auto n = str::parse_uint(v);
  if (!n || *n > static_cast<std::uint64_t>(kMaxNumber))
    return make_error("bad {} field value {} (specify a number or -)", field, quote(v));
  return static_cast<long>(*n);
}

bool host_name_ok(std::string_view h) {
  if (h.empty() || h.size() > 255) return false;
  for (char c : h)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
          c == '_'))
      return false;
  return true;
}

bool port_ok(std::string_view p) {
  if (p.empty() || p.size() > 64) return false;
  if (auto n = str::parse_uint(p)) return *n >= 1 && *n <= 65535;
  if (!((p[0] >= 'a' && p[0] <= 'z') || (p[0] >= 'A' && p[0] <= 'Z'))) return false;
  return host_name_ok(p);
}

Status collect_overrides(const std::vector<std::string>& args, MasterService& svc) {
  const DaemonOptions opts = scan_daemon_options(args);
  for (const auto& o : opts.overrides) {
    const std::string_view nv = std::string_view(args[o.index]).substr(o.offset);
    auto eq = nv.find('=');
    if (eq == std::string_view::npos) return make_error("-o option needs name=value, not {}", quote(nv));
    std::string name(str::trim(nv.substr(0, eq)));
    if (!valid_param_name(name)) return make_error("-o option has a bad parameter name: {}", quote(name));
    svc.overrides.emplace_back(std::move(name), std::string(str::trim(nv.substr(eq + 1))));
  }
  if (opts.missing_value) return make_error("-{} option without a value", *opts.missing_value);
  // What the daemon skeleton reads (server/skeleton.cpp parse_args): -o and
  // -v, and what the master passes itself (-c -n -t -s -C -P). Postfix's
  // other daemon options (-D debugger_command, -S, -V, ...) are refused
  // here, at start, rather than by every process the master would start
  // and throttle.
  for (char c : opts.letters)
    if (std::string_view("ovcntsCP").find(c) == std::string_view::npos)
      return make_error("option -{} is not one Postern's daemons take (they take -o name=value and -v)", c);
  return {};
}

}  // namespace

// The getopt() view of a daemon's arguments: options up to the first
// non-option ("--" ends them too). Options of the Postfix daemon skeletons
// that take a value: -i -m -n -o -s -t.
DaemonOptions scan_daemon_options(const std::vector<std::string>& args) {
  DaemonOptions out;
  std::size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      out.end = i + 1;
      return out;
    }
    if (a.size() < 2 || a[0] != '-') break;
    for (std::size_t k = 1; k < a.size(); ++k) {
      const char c = a[k];
      out.letters.push_back(c);
      if (std::string_view("imnost").find(c) == std::string_view::npos) continue;
      DaemonOptions::Override where{i, k + 1};
      if (k + 1 >= a.size()) {
        if (i + 1 >= args.size()) {
          out.missing_value = c;
          out.end = args.size();
          return out;
        }
        where = {++i, 0};
      }
      if (c == 'o') out.overrides.push_back(where);
      break;
    }
  }
  out.end = i;
  return out;
}

MasterService with_override(const MasterService& s, std::string_view name, const std::optional<std::string>& value) {
  const DaemonOptions opts = scan_daemon_options(s.args);
  std::vector<std::string> args = s.args;
  std::vector<bool> drop(args.size(), false);
  bool placed = false;
  for (const auto& o : opts.overrides) {
    const std::string_view nv = std::string_view(args[o.index]).substr(o.offset);
    const auto eq = nv.find('=');
    if (eq == std::string_view::npos || str::trim(nv.substr(0, eq)) != name) continue;
    if (value && !placed) {
      // The first one takes the new value where it is.
      args[o.index] = args[o.index].substr(0, o.offset) + std::string(name) + "=" + *value;
      placed = true;
      continue;
    }
    // The others go: "-o" "x=y" both, "-ox=y" whole; in a cluster ("-vo"
    // "x=y", "-vox=y") only the o and its value.
    if (o.offset == 0) {
      drop[o.index] = true;
      std::string& opt = args[o.index - 1];
      if (opt == "-o") drop[o.index - 1] = true;
      else opt.pop_back();
    } else if (o.offset == 2) {
      drop[o.index] = true;
    } else {
      args[o.index].resize(o.offset - 1);
    }
  }
  MasterService t = s;
  t.args.clear();
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (i == opts.end && value && !placed) {
      // A new one after the other options, before the command's own
      // arguments (a pipe's flags=, argv=).
      t.args.push_back("-o");
      t.args.push_back(std::string(name) + "=" + *value);
      placed = true;
    }
    if (!drop[i]) t.args.push_back(std::move(args[i]));
  }
  if (value && !placed) {
    t.args.push_back("-o");
    t.args.push_back(std::string(name) + "=" + *value);
  }
  t.overrides.clear();
  (void)collect_overrides(t.args, t);
  return t;
}

namespace {

Result<MasterService> parse_entry(const Logical& l, std::string_view filename) {
  auto ws = words(l.text, 8);
  if (!ws) return ws.take_error();
  const auto& w = *ws;
  static constexpr const char* kFields[] = {"service", "type", "private", "unpriv", "chroot",
                                            "wakeup", "maxproc", "command"};
  if (w.size() < 8) return make_error("missing {} field", kFields[w.size()]);

  MasterService s;
  s.file = std::string(filename);
  s.line = l.line;
  for (int i = 0; i < 7; ++i) s.columns[i] = w[i];
  s.name = w[0];
  if (s.name.size() > kMaxServiceName) return make_error("service name is too long: {}", quote(s.name));

  const std::string& type = w[1];
  if (type == "inet") s.type = ServiceType::Inet;
  else if (type == "unix") s.type = ServiceType::Unix;
  else if (type == "unix-dgram") s.type = ServiceType::UnixDgram;
  else if (type == "fifo") s.type = ServiceType::Fifo;
  else if (type == "pass") s.type = ServiceType::Pass;
  else return make_error("bad transport type: {} (specify inet, unix, unix-dgram, fifo or pass)", quote(type));

  auto priv = yes_no("private", w[2], true);
  if (!priv) return priv.take_error();
  s.private_service = *priv;
  auto unpriv = yes_no("unpriv", w[3], true);
  if (!unpriv) return unpriv.take_error();
  s.unprivileged = *unpriv;
  auto chroot = yes_no("chroot", w[4], false);
  if (!chroot) return chroot.take_error();
  s.chroot = *chroot;

  if (s.type == ServiceType::Inet) {
    auto ep = parse_inet_service(s.name);
    if (!ep) return make_error("bad inet service name {}: {}", quote(s.name), ep.error().message);
    if (s.private_service) return make_error("inet service cannot be private (set the private field to n)");
  } else {
    if (s.name.empty() || s.name == "." || s.name == ".." || s.name.find('/') != std::string::npos)
      return make_error("bad {} service name {} (a plain file name is needed)", type, quote(s.name));
  }

  if (w[5] != "-") {
    std::string_view wk = w[5];
    if (!wk.empty() && wk.back() == '?') {
      s.wakeup_if_used = true;
      wk.remove_suffix(1);
    }
    auto n = number("wakeup", wk);
    if (!n) return make_error("bad wakeup field value {} (specify N, N? or -)", quote(w[5]));
    s.wakeup = static_cast<int>(*n);
  }
  if (w[6] != "-") {
    auto n = number("maxproc", w[6]);
    if (!n) return n.take_error();
    s.maxproc = static_cast<int>(*n);
  }
  s.command = w[7];
  s.args.assign(w.begin() + 8, w.end());
  if (auto st = collect_overrides(s.args, s); !st) return st.take_error();
  return s;
}

}  // namespace

std::string_view to_string(ServiceType t) {
  switch (t) {
    case ServiceType::Inet: return "inet";
    case ServiceType::Unix: return "unix";
    case ServiceType::UnixDgram: return "unix-dgram";
    case ServiceType::Fifo: return "fifo";
    case ServiceType::Pass: return "pass";
  }
  return "?";
}

std::string MasterService::key() const { return name + "/" + std::string(to_string(type)); }

void drop_postlog_services(std::vector<MasterService>& services) {
  std::erase_if(services, [](const MasterService& s) {
    if (s.type != ServiceType::UnixDgram || s.command != "postlogd") return false;
    log::warning("{}, line {}: service {}: Postern's daemons write maillog_file themselves; "
                 "postlogd is not needed -- ignoring this service",
                 s.file, s.line, quote(s.key()));
    return true;
  });
}

Status remove_disabled_services(std::vector<MasterService>& services, const std::vector<std::string>& patterns) {
  struct Pattern {
    bool negated = false;
    std::string name;  // empty: any service of the type
    std::string type;
  };
  std::vector<Pattern> list;
  for (std::string_view p : patterns) {
    Pattern pat;
    if (!p.empty() && p.front() == '!') {
      pat.negated = true;
      p.remove_prefix(1);
    }
    std::size_t slash = p.rfind('/');
    std::string_view type = slash == std::string_view::npos ? p : p.substr(slash + 1);
    if (slash != std::string_view::npos) pat.name = std::string(p.substr(0, slash));
    bool known = false;
    for (auto t : {ServiceType::Inet, ServiceType::Unix, ServiceType::UnixDgram, ServiceType::Fifo, ServiceType::Pass})
      if (str::iequals(type, to_string(t))) {
        pat.type = std::string(to_string(t));
        known = true;
      }
    if (!known || (slash != std::string_view::npos && pat.name.empty()))
      return make_error("master_service_disable: \"{}\" is neither a service type (inet, unix, unix-dgram, fifo, "
                        "pass) nor service/type",
                        str::printable(p, 100));
    list.push_back(std::move(pat));
  }
  if (list.empty()) return {};
  std::erase_if(services, [&](const MasterService& s) {
    const std::string_view type = to_string(s.type);
    for (const auto& pat : list)
      if (pat.type == type && (pat.name.empty() || pat.name == s.name)) return !pat.negated;
    return false;
  });
  return {};
}

namespace {

// An IPv6 address (or, with v4, an IPv4 one) as a listener's host. A zone
// suffix ("fe80::1%eth0") is allowed; inet_pton() does not know it.
bool ip_address_ok(const std::string& host, bool v4) {
  std::string bare = host.substr(0, host.find('%'));
  unsigned char buf[16];
  if (bare.empty()) return false;
  return inet_pton(AF_INET6, bare.c_str(), buf) == 1 || (v4 && inet_pton(AF_INET, bare.c_str(), buf) == 1);
}

}  // namespace

Result<InetEndpoint> parse_inet_service(std::string_view name) {
  if (name.empty()) return make_error("empty service name");
  InetEndpoint ep;
  if (name[0] == '[') {
    auto close = name.find(']');
    if (close == std::string_view::npos) return make_error("missing \"]\"");
    std::string host(name.substr(1, close - 1));
    std::string_view rest = name.substr(close + 1);
    if (rest.size() < 2 || rest[0] != ':') return make_error("expected \":port\" after \"]\"");
    if (!ip_address_ok(host, true)) return make_error("bad address in []: {}", quote(host));
    ep.host = host;
    ep.port = std::string(rest.substr(1));
  } else {
    auto colon = name.rfind(':');
    if (colon == std::string_view::npos) {
      ep.port = std::string(name);
    } else {
      // The last colon separates the port, as Postfix's host_port(): so
      // "::1:smtp" is [::1]:smtp, and ":2525" (no host) is every
      // interface, like "2525".
      ep.host = std::string(name.substr(0, colon));
      ep.port = std::string(name.substr(colon + 1));
      if (ep.host.find(':') != std::string::npos) {
        if (!ip_address_ok(ep.host, false)) return make_error("bad IPv6 address {}", quote(ep.host));
      } else if (!ep.host.empty() && !host_name_ok(ep.host)) {
        return make_error("bad host name or address {}", quote(ep.host));
      }
    }
  }
  if (!port_ok(ep.port)) return make_error("bad port {} (a number 1-65535 or a service name)", quote(ep.port));
  return ep;
}

Result<std::vector<MasterService>> parse_master_cf(std::string_view text, std::string_view filename,
                                                   std::vector<std::string>* duplicates) {
  if (text.size() > kMaxConfigFileSize)
    return make_error("{}: file is larger than {} bytes", filename, kMaxConfigFileSize);
  std::vector<Logical> entries;
  int lineno = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++lineno;
    if (line.find('\0') != std::string_view::npos)
      return make_error("{}, line {}: NUL character in line", filename, lineno);
    std::string_view t = str::trim(line);
    if (t.empty() || t[0] == '#') continue;
    if (is_space(line[0])) {
      // Postfix's readllines(): a warning, and the text is skipped.
      if (entries.empty()) {
        log::warning("{}, line {}: logical line must not start with whitespace -- ignoring this text", filename,
                     lineno);
        continue;
      }
      entries.back().text += ' ';
      entries.back().text += t;
      continue;
    }
    entries.push_back(Logical{lineno, std::string(t)});
  }

  std::vector<MasterService> out;
  std::map<std::string, std::size_t> seen;  // key -> index in out
  for (const auto& l : entries) {
    auto s = parse_entry(l, filename);
    if (!s) return make_error("{}, line {}: {}", filename, l.line, s.error().message);
    auto key = s->key();
    // Postfix's master: the last entry for a service counts.
    if (auto it = seen.find(key); it != seen.end()) {
      if (duplicates)
        duplicates->push_back(key);
      else
        log::warning("{}, line {}: duplicate master.cf entry for service {} -- using the last entry", filename,
                     l.line, quote(key));
      out[it->second] = std::move(*s);
      continue;
    }
    seen.emplace(key, out.size());
    out.push_back(std::move(*s));
  }
  return out;
}

Result<std::vector<MasterService>> load_master_cf(const std::filesystem::path& config_dir) {
  auto path = config_dir / "master.cf";
  auto text = read_file(path);
  if (!text) return text.take_error();
  return parse_master_cf(*text, path.string());
}

namespace {

// The arguments as postconf prints them (see format_master_command()).
// One argument as postconf prints it: "{a b}" for one with white space
// (padded when the text itself starts or ends with a brace, so that it
// reads back the same).
bool reads_back_as(std::string_view printed, std::string_view a) {
  auto w = words(printed, 0);
  return w && w->size() == 1 && (*w)[0] == a;
}

std::string printed_arg(std::string a) {
  const bool group = a.empty() || a.front() == '{' || a.find_first_of(" \t\r\n\v\f") != std::string::npos;
  if (!group) return a;
  if (a.empty()) return "{  }";
  std::string braced = (a.front() == '{' || a.back() == '}') ? "{ " + a + " }" : "{" + a + "}";
  // A word whose white space sits inside a braced part of its own, with a
  // "}" before it ("}{ x}", as mystrtokq() reads it), cannot be wrapped in
  // braces: it reads back only as it was written.
  if (!reads_back_as(braced, a) && a.front() != '{' && reads_back_as(a, a)) return a;
  return braced;
}

// The arguments as Postfix's postconf prints them: the daemon's options one
// by one ("-vo x=1" as "-v" "-o" "x=1", "-ox=1" as "-o" "x=1"), a -o value
// as "name=value" (spaces around "=" dropped), the rest as written.
// `daemon_o`: set for each "-o" that starts a daemon override.
std::vector<std::string> printed_args(const MasterService& s, std::vector<bool>* daemon_o = nullptr) {
  const auto& args = s.args;
  const DaemonOptions opts = scan_daemon_options(args);
  std::vector<std::string> out;
  auto push = [&](std::string a, bool o) {
    out.push_back(std::move(a));
    if (daemon_o) daemon_o->push_back(o);
  };
  for (std::size_t i = 0; i < opts.end && i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--" || a.size() < 2 || a[0] != '-') {
      push(printed_arg(a), false);
      continue;
    }
    // A cluster with anything but letters and digits before its value is
    // printed as it is (one by one, " " or "}" would read back otherwise).
    const std::size_t takes = a.find_first_of("imnost", 1);
    const std::size_t letters_end = takes == std::string::npos ? a.size() : takes + 1;
    // So is one whose joined value would need braces on its own.
    const bool joined_plain = takes == std::string::npos || takes + 1 == a.size() ||
                              printed_arg(a.substr(takes + 1)) == a.substr(takes + 1);
    if (!joined_plain || !std::all_of(a.begin() + 1, a.begin() + static_cast<std::ptrdiff_t>(letters_end),
                                      [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; })) {
      push(printed_arg(a), false);
      if (takes != std::string::npos && takes + 1 == a.size() && i + 1 < args.size()) push(printed_arg(args[++i]), false);
      continue;
    }
    for (std::size_t k = 1; k < a.size(); ++k) {
      const char c = a[k];
      if (std::string_view("imnost").find(c) == std::string_view::npos) {
        push(std::string("-") + c, false);
        continue;
      }
      push(std::string("-") + c, c == 'o');
      std::string value;
      if (k + 1 < a.size()) value = a.substr(k + 1);
      else if (i + 1 < args.size()) value = args[++i];
      else break;
      if (c == 'o') {
        if (auto eq = value.find('='); eq != std::string::npos)
          value = std::string(str::trim(std::string_view(value).substr(0, eq))) + "=" +
                  std::string(str::trim(std::string_view(value).substr(eq + 1)));
      }
      push(printed_arg(std::move(value)), false);
      break;
    }
  }
  for (std::size_t i = opts.end; i < args.size(); ++i) push(printed_arg(args[i]), false);
  return out;
}

std::string columns_and(const MasterService& s, const std::string& command) {
  const auto& c = s.columns;
  // Postfix's columns (postconf -M): each field starts at its goal, or one
  // space after a longer field before it.
  static constexpr std::array<std::size_t, 8> kGoal = {0, 11, 17, 25, 33, 41, 49, 57};
  std::string out;
  for (std::size_t i = 0; i < kGoal.size(); ++i) {
    if (i > 0) {
      out += ' ';
      if (out.size() < kGoal[i]) out.append(kGoal[i] - out.size(), ' ');
    }
    out += i < c.size() ? c[i] : command;
  }
  // Trailing padding would be noise when an entry has no arguments.
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace

std::string format_master_command(const MasterService& s) {
  std::string out = s.command;
  for (const auto& a : printed_args(s)) out += ' ' + a;
  return out;
}

std::string format_master_entry_folded(const MasterService& s) {
  std::vector<bool> daemon_o;
  const auto args = printed_args(s, &daemon_o);
  // As Postfix writes it: each daemon "-o name=value" on a line of its
  // own, and the command's own arguments after them on one more.
  const std::size_t tail = [&] {
    const DaemonOptions opts = scan_daemon_options(s.args);
    std::size_t n = 0;
    for (std::size_t i = opts.end; i < s.args.size(); ++i) ++n;
    return args.size() - n;
  }();
  std::string out;
  std::string line = s.command;
  bool first = true, any_o = false;
  auto next_line = [&](std::string start) {
    out += first ? columns_and(s, line) : line;
    out += '\n';
    first = false;
    line = std::move(start);
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (daemon_o[i]) {
      next_line("    -o");
      any_o = true;
      continue;
    }
    // (A continuation line that starts with "#" would be a comment.)
    if (i == tail && any_o && args[i].front() != '#') {
      next_line("    " + args[i]);
      continue;
    }
    line += ' ' + args[i];
  }
  out += first ? columns_and(s, line) : line;
  return out;
}

std::string format_master_entry(const MasterService& s) { return columns_and(s, format_master_command(s)); }

Status apply_service_overrides(Config& cfg, std::string_view service, std::string_view process,
                               std::string_view process_id,
                               const std::vector<std::pair<std::string, std::string>>& overrides) {
  // Set first, so that overrides such as -o syslog_name=postern/$service_name
  // can use them.
  std::vector<Config::Override> all = {{"service_name", std::string(service), "daemon start"},
                                       {"process_name", std::string(process), "daemon start"},
                                       {"process_id", std::string(process_id), "daemon start"}};
  for (const auto& [n, v] : overrides) all.push_back({n, v, "-o"});
  // All at once: every set_override() revalidates the whole registry, and
  // that (times four or more) was most of a daemon's start-up CPU; busy
  // multi-model servers restart every max_use clients. Only when the batch
  // fails are they replayed one by one on a copy, for the exact message.
  auto st = cfg.set_overrides(all);
  if (st) return st;
  Config probe = cfg;
  for (const auto& o : all)
    if (auto one = probe.set_override(o.name, o.value, o.origin); !one) return one;
  return st;
}

}  // namespace postern::config
