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
// config_dir defaults to $MAIL_CONFIG, then the compiled-in directory.
// Messages look like Postfix's: "postern: fatal: ..." on stderr, exit 1.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

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
               "init [-p port]|start|start-fg|stop|reload|status|check|set-permissions\n");
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

int cmd_stop(const fs::path& dir) {
  auto cfg = load_or_die(dir);
  auto pid = running_master(cfg);
  if (!pid) log::fatal("the Postern mail system is not running");
  std::printf("postern: stopping the Postern mail system\n");
  if (::kill(*pid, SIGTERM) != 0) log::fatal("kill {}: {}", *pid, std::strerror(errno));
  if (!wait_until([&] { return !running_master(cfg).has_value(); }, std::chrono::seconds(30)))
    log::fatal("the master (pid {}) did not stop", *pid);
  // The lock goes with the master's last destructors, a moment before the
  // process itself: "stopped" means gone, so wait for that too.
  (void)wait_until([&] { return ::kill(*pid, 0) != 0 && errno == ESRCH; }, std::chrono::seconds(5));
  return 0;
}

int cmd_reload(const fs::path& dir) {
  auto cfg = load_or_die(dir);
  // Refuse a broken configuration here too; the master would keep the old one.
  load_services_or_die(cfg, dir);
  auto pid = running_master(cfg);
  if (!pid) log::fatal("the Postern mail system is not running");
  std::printf("postern: refreshing the Postern mail system\n");
  if (::kill(*pid, SIGHUP) != 0) log::fatal("kill {}: {}", *pid, std::strerror(errno));
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
  if (cmd == "set-permissions") {
    auto cfg = load_or_die(dir);
    prepare_queue(cfg);
    return 0;
  }
  usage();
}
