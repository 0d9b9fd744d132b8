// log.cpp - see log.h.
#include "log/log.h"

#include <pthread.h>
#include <syslog.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <mutex>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace postern::log {
namespace {

struct State {
  std::string program = "postern";
  std::string tag = "postern";
  std::string hostname;
  std::shared_ptr<spdlog::logger> file;  // maillog_file destination
  bool use_syslog = false;
  bool mirror_stderr = true;  // before init(): stderr only
  int verbose = 0;
  std::mutex mu;
};

State& state() {
  static State s;
  return s;
}

int facility_code(std::string_view f) {
  static const std::array<std::pair<std::string_view, int>, 11> table{{
      {"mail", LOG_MAIL}, {"user", LOG_USER}, {"daemon", LOG_DAEMON},
      {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2},
      {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},
      {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
  }};
  for (auto& [n, c] : table)
    if (n == f) return c;
  return LOG_MAIL;
}

std::string_view prefix(Level l) {
  switch (l) {
    case Level::Info: return "";
    case Level::Warning: return "warning: ";
    case Level::Error: return "error: ";
    case Level::Fatal: return "fatal: ";
    case Level::Panic: return "panic: ";
  }
  return "";
}

int syslog_priority(Level l) {
  switch (l) {
    case Level::Info: return LOG_INFO;
    case Level::Warning: return LOG_WARNING;
    case Level::Error: return LOG_ERR;
    case Level::Fatal: return LOG_CRIT;
    case Level::Panic: return LOG_CRIT;
  }
  return LOG_INFO;
}

}  // namespace

std::string timestamp_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  // Syslog's RFC 3164 shape: day of month padded with a space.
  std::strftime(buf, sizeof buf, "%b %e %H:%M:%S", &tm);
  return buf;
}

void init(std::string_view program, const Settings& settings) {
  auto& s = state();
  std::lock_guard lk(s.mu);
  s.program = std::string(program);
  s.tag = settings.syslog_name.empty() ? s.program : settings.syslog_name + "/" + s.program;
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) == 0) {
    std::string h(host);
    s.hostname = h.substr(0, h.find('.'));
  }
  s.mirror_stderr = settings.mirror_stderr;
  s.file.reset();
  s.use_syslog = false;
  if (settings.maillog_file.empty()) {
    closelog();
    openlog(s.tag.c_str(), LOG_PID | LOG_NDELAY, facility_code(settings.facility));
    s.use_syslog = true;
    return;
  }
  try {
    if (settings.maillog_file == "/dev/stdout") {
      s.file = std::make_shared<spdlog::logger>("maillog", std::make_shared<spdlog::sinks::stdout_sink_mt>());
    } else if (settings.maillog_file == "/dev/stderr") {
      s.file = std::make_shared<spdlog::logger>("maillog", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    } else {
      // basic_file_sink opens in append mode: every process appends whole
      // lines, so concurrent daemons do not overwrite each other.
      s.file = std::make_shared<spdlog::logger>(
          "maillog", std::make_shared<spdlog::sinks::basic_file_sink_mt>(settings.maillog_file, false));
    }
    s.file->set_pattern("%v");
    s.file->set_level(spdlog::level::trace);
    s.file->flush_on(spdlog::level::trace);
  } catch (const spdlog::spdlog_ex& e) {
    std::fprintf(stderr, "%s: warning: cannot open maillog_file %s: %s; using syslog\n", s.tag.c_str(),
                 settings.maillog_file.c_str(), e.what());
    s.file.reset();
    openlog(s.tag.c_str(), LOG_PID | LOG_NDELAY, facility_code(settings.facility));
    s.use_syslog = true;
  }
}

const std::string& tag() { return state().tag; }

// getpid() is a system call (glibc stopped caching it); every maillog
// line needs it. Cached per process; a fork() child starts over.
static pid_t cached_pid() {
  static pid_t pid = 0;
  static std::once_flag once;
  std::call_once(once, [] { ::pthread_atfork(nullptr, nullptr, [] { pid = 0; }); });
  if (pid == 0) pid = ::getpid();
  return pid;
}

void write(Level level, std::string_view text) {
  auto& s = state();
  std::lock_guard lk(s.mu);
  std::string_view p = prefix(level);
  if (s.file) {
    s.file->info("{} {} {}[{}]: {}{}", timestamp_now(), s.hostname, s.tag, cached_pid(), p, text);
  } else if (s.use_syslog) {
    syslog(syslog_priority(level), "%.*s%.*s", int(p.size()), p.data(), int(text.size()), text.data());
  }
  if (s.mirror_stderr) {
    std::fprintf(stderr, "%s: %.*s%.*s\n", s.program.c_str(), int(p.size()), p.data(), int(text.size()),
                 text.data());
  }
}

void set_verbose(int level) { state().verbose = level; }
int verbose() { return state().verbose; }

void flush() {
  auto& s = state();
  std::lock_guard lk(s.mu);
  if (s.file) s.file->flush();
  std::fflush(stderr);
}

void fatal_text(std::string_view text) {
  write(Level::Fatal, text);
  flush();
  std::exit(1);
}

void panic_text(std::string_view text) {
  write(Level::Panic, text);
  flush();
  std::abort();
}

}  // namespace postern::log
