// postern - control the Postern mail system.
//
// Usage: postern [-c config_dir] [-v] command
//   init [-p port]    write a self-contained instance into config_dir
//                     (SMTP on 127.0.0.1:port, default 2525)
//   start             check the configuration, prepare the queue, start the master
//   start-fg          the same, with the master in the foreground
//   stop              stop the master and every daemon it started
//   reload            re-read main.cf and master.cf without dropping service
//   status            say whether the master runs (exit 0) or not (exit 1)
//   check             verify the configuration and the queue tree
//   set-permissions   create mail_owner/setgid_group, fix queue owners and modes
//   abort             signal the master to stop, without waiting (Postfix's abort)
//   flush             deliver the deferred mail now (postqueue -f)
//   logrotate         rename maillog_file, let every process go over to a new
//                     one, compress the old one
// config_dir defaults to $MAIL_CONFIG, then the compiled-in directory.
// Messages look like Postfix's: "postern: fatal: ..." on stderr, exit 1.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/strings.h"
#include "base/unique_fd.h"
#include "config/config.h"
#include "config/master_cf.h"
#include "instance.h"
#include "log/log.h"
#include "postern/paths.h"
#include "security/privileges.h"

namespace fs = std::filesystem;
using namespace postern;

namespace {

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: postern [-c config_dir] [-v] "
               "init [-p port]|start|start-fg|stop|abort|reload|status|check|set-permissions|flush|"
               "logrotate\n");
  std::exit(1);
}

config::Config load_or_die(const fs::path& dir) {
  auto cfg = config::Config::load(dir);
  if (!cfg) log::fatal("{}", cfg.error().message);
  return std::move(*cfg);
}

// The pid of the running master, or nullopt. A master holds an exclusive
// flock on pid/master.pid for as long as it runs.
std::optional<pid_t> running_master(const config::Config& cfg) {
  fs::path pid_file = fs::path(cfg.str("queue_directory")) / "pid" / "master.pid";
  UniqueFd fd(::open(pid_file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return std::nullopt;
  if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0) return std::nullopt;  // nobody holds it
  char buf[32] = {0};
  ssize_t n = ::pread(fd.get(), buf, sizeof buf - 1, 0);
  if (n <= 0) return std::nullopt;
  auto pid = str::parse_int(str::trim(std::string_view(buf, std::size_t(n))));
  if (!pid || *pid <= 1) return std::nullopt;
  return pid_t(*pid);
}

bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return cond();
}

void prepare_queue(const config::Config& cfg) {
  if (auto st = tool::set_permissions(cfg); !st) log::fatal("{}", st.error().message);
}

// master.cf, and every service's -o overrides as its daemons will apply
// them: a bad one stops the command rather than that service.
void load_services_or_die(const config::Config& cfg, const fs::path& dir) {
  auto services = config::load_master_cf(dir);
  if (!services) log::fatal("{}", services.error().message);
  for (auto& s : *services)
    if (auto st = tool::check_service_overrides(cfg, s); !st) log::fatal("{}", st.error().message);
}

int cmd_start(const fs::path& dir, bool foreground, int verbose) {
  auto cfg = load_or_die(dir);
  for (auto& w : cfg.warnings()) log::warning("{}", w);
  load_services_or_die(cfg, dir);
  if (auto pid = running_master(cfg)) log::fatal("the Postern mail system is already running");
  prepare_queue(cfg);
  fs::path master = fs::path(cfg.str("daemon_directory")) / "master";
  std::vector<std::string> args = {master.string(), "-c", fs::absolute(dir).string()};
  if (foreground) args.push_back("-d");
  for (int i = 0; i < verbose; ++i) args.push_back("-v");
  if (!foreground) std::printf("postern: starting the Postern mail system\n");
  std::fflush(stdout);
  if (foreground) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    log::fatal("execute {}: {}", master.string(), std::strerror(errno));
  }
  pid_t pid = ::fork();
  if (pid < 0) log::fatal("fork: {}", std::strerror(errno));
  if (pid == 0) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    std::fprintf(stderr, "postern: fatal: execute %s: %s\n", master.c_str(), std::strerror(errno));
    ::_exit(1);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);  // the master's first process exits once it has detached
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
  if (!wait_until([&] { return running_master(cfg).has_value(); }, std::chrono::seconds(10)))
    log::fatal("the master did not start; see the mail log");
  return 0;
}

// Says what it does ("stopping" the Postern mail system) and sends `sig` to
// the running master; fatal when none runs. The master's pid.
pid_t signal_master(const config::Config& cfg, int sig, const char* doing) {
  auto pid = running_master(cfg);
  if (!pid) log::fatal("the Postern mail system is not running");
  std::printf("postern: %s the Postern mail system\n", doing);
  std::fflush(stdout);
  if (::kill(*pid, sig) != 0) log::fatal("kill {}: {}", *pid, std::strerror(errno));
  return *pid;
}

int cmd_stop(const fs::path& dir) {
  auto cfg = load_or_die(dir);
  pid_t pid = signal_master(cfg, SIGTERM, "stopping");
  if (!wait_until([&] { return !running_master(cfg).has_value(); }, std::chrono::seconds(30)))
    log::fatal("the master (pid {}) did not stop", pid);
  // The lock goes with the master's last destructors, a moment before the
  // process itself: "stopped" means gone, so wait for that too.
  (void)wait_until([&] { return ::kill(pid, 0) != 0 && errno == ESRCH; }, std::chrono::seconds(5));
  return 0;
}

int cmd_reload(const fs::path& dir) {
  auto cfg = load_or_die(dir);
  // Refuse a broken configuration here too; the master would keep the old one.
  load_services_or_die(cfg, dir);
  signal_master(cfg, SIGHUP, "refreshing");
  return 0;
}

int cmd_status(const fs::path& dir) {
  auto cfg = load_or_die(dir);
  if (auto pid = running_master(cfg)) {
    std::printf("postern: the Postern mail system is running: PID: %d\n", int(*pid));
    return 0;
  }
  std::fprintf(stderr, "postern: the Postern mail system is not running\n");
  return 1;
}

// Postfix's abort: the master gets the signal stop sends (it stops every
// daemon), and nobody waits for it.
int cmd_abort(const fs::path& dir) {
  signal_master(load_or_die(dir), SIGTERM, "aborting");
  return 0;
}

// Postfix's flush: postqueue -f, which asks qmgr to deliver the deferred
// mail now.
int cmd_flush(const fs::path& dir) {
  auto cfg = load_or_die(dir);
  fs::path postqueue = fs::path(cfg.str("command_directory")) / "postqueue";
  auto st = tool::run_program({postqueue.string(), "-c", fs::absolute(dir).string(), "-f"});
  if (!st) log::fatal("{}", st.error().message);
  return *st;
}

// The parent of `pid` from /proc/PID/stat (0 when it cannot be read).
pid_t parent_of(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');  // the command name may hold spaces and parentheses
  if (close == std::string::npos) return 0;
  int ppid = 0;
  char state = 0;
  if (std::sscanf(text.c_str() + close + 1, " %c %d", &state, &ppid) != 2) return 0;
  return ppid;
}

// Whether `pid` is the master or one of its descendants (daemons, the
// local agent's workers), or runs a program of this installation (a
// command such as postsuper): what writes maillog_file. Someone's
// `tail -f` of the log is none of these and does not hold up compression.
bool writes_maillog(pid_t pid, std::optional<pid_t> master, const config::Config& cfg) {
  if (master) {
    pid_t p = pid;
    for (int depth = 0; p > 1 && depth < 64; ++depth, p = parent_of(p))
      if (p == *master) return true;
  }
  std::error_code ec;
  fs::path exe = fs::read_symlink(fmt::format("/proc/{}/exe", pid), ec);
  if (ec) return false;
  for (const char* dir : {"daemon_directory", "command_directory"}) {
    fs::path d = fs::path(cfg.str(dir)).lexically_normal();
    if (exe.parent_path() == d) return true;
  }
  return false;
}

// Processes (pids) that have the file (dev, ino) open. Only /proc entries
// this user may read: as root all of them; otherwise this user's own
// processes, which are the instance's when it runs as the invoking user.
std::vector<pid_t> processes_holding(dev_t dev, ino_t ino) {
  std::vector<pid_t> found;
  std::unique_ptr<DIR, int (*)(DIR*)> proc(::opendir("/proc"), ::closedir);
  if (!proc) return found;
  while (dirent* e = ::readdir(proc.get())) {
    auto pid = str::parse_int(e->d_name);
    if (!pid || *pid <= 0) continue;
    std::string fd_dir = fmt::format("/proc/{}/fd", *pid);
    std::unique_ptr<DIR, int (*)(DIR*)> fds(::opendir(fd_dir.c_str()), ::closedir);
    if (!fds) continue;
    while (dirent* f = ::readdir(fds.get())) {
      if (f->d_name[0] == '.') continue;
      struct stat st {};
      if (::fstatat(::dirfd(fds.get()), f->d_name, &st, 0) == 0 && st.st_dev == dev && st.st_ino == ino) {
        found.push_back(pid_t(*pid));
        break;
      }
    }
  }
  return found;
}

// Postfix's logrotate: rename maillog_file to maillog_file.SUFFIX (the
// time per maillog_file_rotate_suffix), make every process let go of it,
// then compress it with maillog_file_compressor. There is no postlogd:
// each process appends to maillog_file itself and, at its next line (within
// a second), opens the new file if it can; the reload (SIGHUP, as Postfix's
// logrotate sends) retires the daemons, whose successors open the new file
// before they drop privileges, and makes the master open it. The old file
// is compressed only when no process has it open any more, so that no line
// is written into a file already compressed and removed.
int cmd_logrotate(const fs::path& dir) {
  auto cfg = load_or_die(dir);
  for (const char* name : {"maillog_file", "maillog_file_compressor", "maillog_file_rotate_suffix"})
    if (cfg.str(name).empty()) log::fatal("empty '{}' parameter value - logfile rotation failed", name);
  std::string file = cfg.str("maillog_file");
  if (file.rfind("/dev/", 0) == 0) log::fatal("not rotating '{}'", file);
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&now, &tm);
  char suffix[256];
  std::size_t n = std::strftime(suffix, sizeof suffix, cfg.str("maillog_file_rotate_suffix").c_str(), &tm);
  if (n == 0 || std::string_view(suffix, n).find('/') != std::string_view::npos)
    log::fatal("logfile '{}' rotation failed: maillog_file_rotate_suffix gives an empty suffix or one with '/'",
               file);
  std::string rotated = file + "." + std::string(suffix, n);
  struct stat old {};
  if (::lstat(file.c_str(), &old) != 0) log::fatal("logfile '{}' rotation failed: {}", file, std::strerror(errno));
  if (!S_ISREG(old.st_mode)) log::fatal("logfile '{}' rotation failed: not a regular file", file);
  // Never over an earlier rotation's file (two rotations in one suffix
  // period would otherwise lose the first).
  if (::renameat2(AT_FDCWD, file.c_str(), AT_FDCWD, rotated.c_str(), RENAME_NOREPLACE) != 0)
    log::fatal("logfile '{}' rotation failed: rename to {}: {}", file, rotated, std::strerror(errno));
  auto master = running_master(cfg);
  if (master && ::kill(*master, SIGHUP) != 0)
    log::fatal("logfile '{}' rotation failed: kill {}: {}", file, *master, std::strerror(errno));
  // Daemons finish their current clients first; 30 s is the master's drain.
  std::vector<pid_t> holders;
  (void)wait_until(
      [&] {
        holders = processes_holding(old.st_dev, old.st_ino);
        std::erase_if(holders, [&](pid_t p) { return !writes_maillog(p, master, cfg); });
        return holders.empty();
      },
      std::chrono::seconds(35));
  if (!holders.empty()) {
    std::string list;
    for (pid_t p : holders) {
      std::string comm;
      std::ifstream in(fmt::format("/proc/{}/comm", p));
      std::getline(in, comm);
      list += fmt::format("{}{}{}", list.empty() ? "" : ", ", p, comm.empty() ? "" : " (" + comm + ")");
    }
    log::warning("not compressing {}: still open in process(es) {}; compress it later", rotated, list);
    return 0;
  }
  auto st = tool::run_program({cfg.str("maillog_file_compressor"), rotated});
  if (!st || *st != 0)
    log::fatal("logfile '{}' rotation failed: {}", file,
               !st ? st.error().message
                   : fmt::format("{} {} exit status {}", cfg.str("maillog_file_compressor"), rotated, *st));
  return 0;
}

int cmd_check(const fs::path& dir) {
  auto cfg = load_or_die(dir);
  auto problems = tool::check_instance(cfg);
  int errors = 0;
  for (auto& p : problems) {
    if (p.rfind("warning: ", 0) == 0) {
      log::warning("{}", p.substr(9));
    } else {
      log::error("{}", p);
      errors++;
    }
  }
  return errors ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  log::Settings log_settings;
  log_settings.mirror_stderr = true;
  log::init("postern", log_settings);
  fs::path dir = ::getenv("MAIL_CONFIG") ? ::getenv("MAIL_CONFIG") : paths::kConfigDir;
  int verbose = 0;
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; ++i) {
    std::string_view a = argv[i];
    if (a == "-c" && i + 1 < argc) {
      dir = argv[++i];
    } else if (a == "-v") {
      verbose++;
    } else {
      usage();
    }
  }
  if (i >= argc) usage();
  std::string_view cmd = argv[i++];
  // Logs go to stderr only; the mail log is the daemons'.
  log::init("postern", log::Settings{.syslog_name = "", .maillog_file = "/dev/null", .mirror_stderr = true});
  if (cmd == "init") {
    int port = 2525;
    if (i + 1 < argc && std::string_view(argv[i]) == "-p") {
      auto p = str::parse_int(argv[i + 1]);
      if (!p || *p < 1 || *p > 65535) log::fatal("bad port: {}", argv[i + 1]);
      port = int(*p);
      i += 2;
    }
    if (i != argc) usage();
    if (auto st = tool::init_instance(dir, port); !st) log::fatal("{}", st.error().message);
    auto cfg = load_or_die(dir);
    prepare_queue(cfg);
    return 0;
  }
  if (i != argc) usage();
  if (cmd == "start") return cmd_start(dir, false, verbose);
  if (cmd == "start-fg") return cmd_start(dir, true, verbose);
  if (cmd == "stop") return cmd_stop(dir);
  if (cmd == "reload") return cmd_reload(dir);
  if (cmd == "status") return cmd_status(dir);
  if (cmd == "check") return cmd_check(dir);
  if (cmd == "abort") return cmd_abort(dir);
  if (cmd == "flush") return cmd_flush(dir);
  if (cmd == "logrotate") return cmd_logrotate(dir);
  if (cmd == "set-permissions") {
    auto cfg = load_or_die(dir);
    prepare_queue(cfg);
    return 0;
  }
  usage();
}
