// log.cpp - see log.h.
#include "log/log.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <mutex>

#include <spdlog/details/null_mutex.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "base/unique_fd.h"

namespace postern::log {
namespace {

// maillog_file as a path: one write(2) per line on an O_APPEND descriptor,
// so that the lines of concurrent processes never interleave (a stdio
// stream may split a long line into two writes). State::mu serializes it.
class AppendFileSink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 public:
  explicit AppendFileSink(UniqueFd fd) : fd_(std::move(fd)) {}
  void replace(UniqueFd fd) { fd_ = std::move(fd); }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t buf;
    formatter_->format(msg, buf);
    const char* p = buf.data();
    std::size_t left = buf.size();
    while (left > 0) {
      ssize_t n = ::write(fd_.get(), p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // nowhere to report it; the line is dropped
      p += n;
      left -= static_cast<std::size_t>(n);
    }
  }
  void flush_() override {}

 private:
  UniqueFd fd_;
};

struct State {
  std::string program = "postern";
  std::string tag = "postern";
  std::string hostname;
  std::shared_ptr<spdlog::logger> file;  // maillog_file destination
  // maillog_file as a path (not /dev/stdout or /dev/stderr): what is open,
  // to notice a rotation (log.h).
  std::shared_ptr<AppendFileSink> path_sink;
  std::string path;
  dev_t dev = 0;
  ino_t ino = 0;
  std::chrono::milliseconds recheck{1000};
  std::chrono::steady_clock::time_point checked{};
  bool reported_unreopenable = false;
  bool path_sink_follow = true;  // false after a chroot (stop_following_rotation)
  std::function<void()> unreopenable_hook;
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

// Opens maillog_file for appending; an invalid UniqueFd with errno set on
// failure. `reopen`: after a rotation, while the process runs, the path is
// someone else's to create in the meantime; only a regular file that is no
// symbolic link and belongs to this process's user or to root is taken, so
// that a planted link or file cannot make a root process append elsewhere.
// (At start the path is the administrator's choice, and may be a link.)
UniqueFd open_append(const std::string& path, dev_t& dev, ino_t& ino, bool reopen) {
  int flags = O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | (reopen ? O_NOFOLLOW : 0);
  UniqueFd fd(::open(path.c_str(), flags, 0644));
  if (!fd) return fd;
  struct stat st {};
  int bad = ::fstat(fd.get(), &st) != 0                             ? errno
            : !S_ISREG(st.st_mode)                                 ? EINVAL
            : reopen && st.st_uid != 0 && st.st_uid != ::geteuid() ? EPERM
                                                                   : 0;
  if (bad != 0) {  // a FIFO or device would block or misbehave as a log
    fd.reset();
    errno = bad;
    return fd;
  }
  dev = st.st_dev;
  ino = st.st_ino;
  return fd;
}

// At most once per `recheck`: if the path no longer names the open file
// (rotated or removed), open it anew; when that fails, tell the hook once.
void follow_rotation(State& s) {
  auto now = std::chrono::steady_clock::now();
  if (s.checked != std::chrono::steady_clock::time_point{} && now - s.checked < s.recheck) return;
  s.checked = now;
  struct stat st {};
  if (::stat(s.path.c_str(), &st) == 0) {
    if (st.st_dev == s.dev && st.st_ino == s.ino) return;
  } else if (errno != ENOENT) {
    return;  // cannot tell (a directory this user may not search): keep the file
  }
  dev_t dev = 0;
  ino_t ino = 0;
  UniqueFd fd = open_append(s.path, dev, ino, true);
  if (fd) {
    s.path_sink->replace(std::move(fd));
    s.dev = dev;
    s.ino = ino;
    s.reported_unreopenable = false;
    return;
  }
  if (!s.reported_unreopenable) {
    s.reported_unreopenable = true;
    if (s.unreopenable_hook) s.unreopenable_hook();
  }
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
  s.path_sink.reset();
  s.path.clear();
  s.recheck = settings.recheck;
  s.checked = {};
  s.reported_unreopenable = false;
  s.path_sink_follow = true;
  s.use_syslog = false;
  if (settings.maillog_file.empty()) {
    closelog();
    openlog(s.tag.c_str(), LOG_PID | LOG_NDELAY, facility_code(settings.facility));
    s.use_syslog = true;
    return;
  }
  if (settings.maillog_file == "/dev/null") return;  // commands before their configuration: stderr only
  try {
    if (settings.maillog_file == "/dev/stdout") {
      s.file = std::make_shared<spdlog::logger>("maillog", std::make_shared<spdlog::sinks::stdout_sink_mt>());
    } else if (settings.maillog_file == "/dev/stderr") {
      s.file = std::make_shared<spdlog::logger>("maillog", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    } else {
      dev_t dev = 0;
      ino_t ino = 0;
      UniqueFd fd = open_append(settings.maillog_file, dev, ino, false);
      if (!fd) throw spdlog::spdlog_ex(std::strerror(errno));
      s.path_sink = std::make_shared<AppendFileSink>(std::move(fd));
      s.path = settings.maillog_file;
      s.dev = dev;
      s.ino = ino;
      s.checked = std::chrono::steady_clock::now();
      s.file = std::make_shared<spdlog::logger>("maillog", s.path_sink);
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
    if (s.path_sink && s.path_sink_follow) follow_rotation(s);
    s.file->info("{} {} {}[{}]: {}{}", timestamp_now(), s.hostname, s.tag, cached_pid(), p, text);
  } else if (s.use_syslog) {
    syslog(syslog_priority(level), "%.*s%.*s", int(p.size()), p.data(), int(text.size()), text.data());
  }
  if (s.mirror_stderr) {
    std::fprintf(stderr, "%s: %.*s%.*s\n", s.program.c_str(), int(p.size()), p.data(), int(text.size()),
                 text.data());
  }
}

void stop_following_rotation() {
  auto& s = state();
  std::lock_guard lk(s.mu);
  s.path_sink_follow = false;
}

void on_unreopenable(std::function<void()> hook) {
  auto& s = state();
  std::lock_guard lk(s.mu);
  s.unreopenable_hook = std::move(hook);
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
