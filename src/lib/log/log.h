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
//
// Rotation: there is no postlogd; every process appends to maillog_file
// itself. At most once a second (`recheck`), a line first checks that the
// path still names the file the process has open. When it does not (renamed
// by `postern logrotate` or logrotate(8), or removed), the process opens the
// path anew (creating it) and writes there. A process that cannot (it
// dropped its privileges) keeps writing to the old file and calls the hook set
// with on_unreopenable() once, so that a daemon can retire and let the
// master start a fresh one that opens the new file before it drops. A path
// the process may not look at (stat() fails other than ENOENT) counts as
// not rotated, and a chrooted daemon does not look (stop_following_rotation).
#pragma once

#include <chrono>
#include <functional>
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
  // How often a line checks that maillog_file was not rotated (tests: 0).
  std::chrono::milliseconds recheck{1000};
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

// After a chroot, maillog_file's path names nothing (or something else):
// keep the open file until the process exits (a reload retires it).
void stop_following_rotation();

// Called once (on the thread that logged) when maillog_file was rotated and
// this process cannot open the new one. It must not log.
void on_unreopenable(std::function<void()> hook);

// Flush buffered lines (before exec or exit).
void flush();

// Formats the syslog-style timestamp prefix "Nov 23 17:32:24" (local time).
std::string timestamp_now();

}  // namespace postern::log
