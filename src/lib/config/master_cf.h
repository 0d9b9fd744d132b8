// master_cf.h - master.cf: the services the master runs.
//
// Eight columns: service, type (inet|unix|unix-dgram|fifo|pass), private,
// unpriv, chroot, wakeup (seconds, `?` suffix: only when used), maxproc,
// command + args. `-` means the default. A line starting with white space
// continues the previous one; `#` comment lines are ignored. `-o name=value`
// arguments (also `-o { name = value }`) are parsed into `overrides` and
// stay in `args` for the daemon to apply. An argument written as
// `{ text }` is one argument "text" (braces and surrounding white space
// removed), as in Postfix 3.
//
// Checks: the type; y/n columns; wakeup `N` or `N?`; maxproc >= 0; inet
// service names `port`, `host:port` or `[ipv6]:port` (host and port syntax
// only, nothing is resolved); other service names must be plain file names
// (no "/"); `-o` needs name=value; a service/type pair may appear only once.
// Internet services cannot be private: as in Postfix, their private column
// must say "n" ("-" means y and is an error there).
#pragma once

#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace postern::config {

enum class ServiceType { Inet, Unix, UnixDgram, Fifo, Pass };

std::string_view to_string(ServiceType t);

struct MasterService {
  std::string name;  // "smtp", "127.0.0.1:2525", "[::1]:25", "pickup"
  ServiceType type = ServiceType::Unix;
  bool private_service = true;   // default y
  bool unprivileged = true;      // default y
  bool chroot = false;           // default n
  int wakeup = 0;                // seconds; 0 = never
  bool wakeup_if_used = false;   // the `?` suffix
  std::optional<int> maxproc;    // nullopt: default_process_limit; 0: no limit
  std::string command;           // program name in daemon_directory
  std::vector<std::string> args; // everything after the command
  std::vector<std::pair<std::string, std::string>> overrides;  // from -o
  std::string file;
  int line = 0;
  // The first seven columns as written ("-" kept), for postconf -M.
  std::array<std::string, 7> columns;

  // "name/type", unique within master.cf (Postfix's service key).
  std::string key() const;
};

class Config;

// What a daemon of a master.cf service sets at start, before anything else
// reads the configuration (server/skeleton.cpp): service_name, process_name
// and process_id, then the service's `-o` overrides, validated like
// main.cf lines (config/unsupported.h included). On error `cfg` is
// unchanged and the message starts with the offending "-o name=value".
// `postern check` and `postern start` run it on a copy for every service,
// so that a bad -o stops the start instead of one service's daemons.
Status apply_service_overrides(Config& cfg, std::string_view service, std::string_view process,
                               std::string_view process_id,
                               const std::vector<std::pair<std::string, std::string>>& overrides);

// A service defined twice: the last entry counts, in the first one's place,
// with a warning (Postfix's master); `duplicates`, when given, receives the
// keys instead of the warning.
Result<std::vector<MasterService>> parse_master_cf(std::string_view text, std::string_view filename = "master.cf",
                                                   std::vector<std::string>* duplicates = nullptr);
Result<std::vector<MasterService>> load_master_cf(const std::filesystem::path& config_dir);

// master_service_disable: takes out of `services` those the master is not
// to run. Each pattern is a type ("inet", "unix", "unix-dgram", "fifo",
// "pass") or "name/type" (the service key); "!" before one keeps what it
// matches; the first matching pattern decides, as in Postfix. A type that
// does not exist is an error (nothing is removed then).
Status remove_disabled_services(std::vector<MasterService>& services, const std::vector<std::string>& patterns);

// Postfix's postlog service ("postlog unix-dgram n - n - 1 postlogd", in
// Debian's stock master.cf and required there with maillog_file): every
// Postern process writes maillog_file itself, so the entry has no work to
// do. It is taken out with a warning instead of stopping the master on a
// service type Postern does not run.
void drop_postlog_services(std::vector<MasterService>& services);

// For inet services: the host part ("" when only a port is given; without
// brackets for IPv6) and the port part (number or service name).
struct InetEndpoint {
  std::string host;
  std::string port;
};
Result<InetEndpoint> parse_inet_service(std::string_view name);

// The options at the start of a daemon's arguments, as the daemon's getopt()
// sees them (up to the first argument that is not an option, or "--").
struct DaemonOptions {
  // Where each -o value is: args[index].substr(offset) is "name=value"
  // (offset 0: the argument after "-o" or an option cluster ending in o;
  // else joined, "-oname=value").
  struct Override {
    std::size_t index = 0, offset = 0;
  };
  std::vector<Override> overrides;
  std::string letters;               // every option letter, in order ("vo" for "-v -o x=y")
  std::size_t end = 0;               // the first argument after the options
  std::optional<char> missing_value;  // an option at the end without its value
};
DaemonOptions scan_daemon_options(const std::vector<std::string>& args);

// `s` with its -o override `name` set to `value` (the first one in place,
// later ones removed, or a new one after the other options, before the
// command's own arguments) or, for nullopt, removed. Other arguments, a
// pipe's "-o" among them, are left alone. postconf -Pe and -PX.
MasterService with_override(const MasterService& s, std::string_view name, const std::optional<std::string>& value);

// One entry in the normalized one-line form printed by `postconf -M`.
std::string format_master_entry(const MasterService& s);
// The same as Postfix's postconf writes an entry it edits into master.cf:
// each "-o" on a continuation line of its own ("    -o name=value").
std::string format_master_entry_folded(const MasterService& s);
// Its command field: the command and its arguments, as `postconf -M` and
// `postconf -F` print them (an argument with white space as "{a b}", an
// "-o" one as "{name=value}").
std::string format_master_command(const MasterService& s);

}  // namespace postern::config
