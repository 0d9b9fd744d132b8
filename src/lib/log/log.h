// log.h - the one logging facade: Postfix-shaped lines through spdlog.
//
// Every line looks like Postfix's, so that pflogsumm, fail2ban and log
// exporters work unchanged:
//
//   Nov 23 17:32:24 host postern/smtpd[4711]: 3F2A1C0D2: client=...
//
// Destinations: syslog (default, facility `syslog_facility`), or the file
// named by `maillog_file` (a path, or /dev/stdout, /dev/stderr). Commands
// run by people may also mirror lines to stderr as "postconf: fatal: ...".
//
// Levels: info (no prefix), warning, error, fatal (logs and exits 1), panic
// (logs and aborts). Parameters: syslog_name, syslog_facility, maillog_file.
#pragma once

#include <string>
#include <string_view>

#include <fmt/format.h>

namespace postern::log {

enum class Level { Info, Warning, Error, Fatal, Panic };

struct Settings {
  std::string syslog_name = "postern";  // "postern" -> "postern/smtpd"
  std::string facility = "mail";
  std::string maillog_file;              // empty: syslog
  bool mirror_stderr = false;            // commands run by people
};

// `program` is the daemon or command name ("smtpd", "postconf"). May be
// called again (after the configuration is read) to switch destinations.
void init(std::string_view program, const Settings& settings = {});

// The tag as printed: "postern/smtpd".
const std::string& tag();

void write(Level level, std::string_view text);
void set_verbose(int level);
int verbose();

template <class... A>
void info(fmt::format_string<A...> f, A&&... a) {
  write(Level::Info, fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
void warning(fmt::format_string<A...> f, A&&... a) {
  write(Level::Warning, fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
void error(fmt::format_string<A...> f, A&&... a) {
  write(Level::Error, fmt::format(f, std::forward<A>(a)...));
}
// Logs, then exits with status 1.
[[noreturn]] void fatal_text(std::string_view text);
template <class... A>
[[noreturn]] void fatal(fmt::format_string<A...> f, A&&... a) {
  fatal_text(fmt::format(f, std::forward<A>(a)...));
}
// Logs, then aborts (a bug, not bad input).
[[noreturn]] void panic_text(std::string_view text);
template <class... A>
[[noreturn]] void panic(fmt::format_string<A...> f, A&&... a) {
  panic_text(fmt::format(f, std::forward<A>(a)...));
}
// Debug output, printed only when verbose() >= 1 (the -v flag).
template <class... A>
void debug(fmt::format_string<A...> f, A&&... a) {
  if (verbose() > 0) write(Level::Info, fmt::format(f, std::forward<A>(a)...));
}

// Flush buffered lines (before exec or exit).
void flush();

// Formats the syslog-style timestamp prefix "Nov 23 17:32:24" (local time).
std::string timestamp_now();

}  // namespace postern::log
