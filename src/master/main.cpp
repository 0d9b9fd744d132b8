// master - the resident Postern master process.
//
// Usage: master [-c config_dir] [-d] [-v]
//   -d  stay in the foreground (do not detach)
// Normally started by `postern start`. Reads main.cf and master.cf, takes
// the lock queue_directory/pid/master.pid (one master per configuration),
// opens every listener, detaches, and runs the services (see master.h).
// Logs "daemon started -- version V, configuration DIR" and, on the way
// out, "terminating on signal N".
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "base/unique_fd.h"
#include "config/config.h"
#include "config/master_cf.h"
#include "log/log.h"
#include "master/master.h"
#include "postern/paths.h"
#include "server/scheduling.h"
#include "security/privileges.h"

using namespace postern;

namespace {

// Holds the pid-file lock for the life of the master. flock() locks
// belong to the open file, so they survive the fork that detaches us.
UniqueFd lock_pid_file(const std::filesystem::path& pid_file) {
  UniqueFd fd(::open(pid_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!fd) log::fatal("open {}: {}", pid_file.string(), std::strerror(errno));
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) log::fatal("the Postern mail system is already running");
    log::fatal("lock {}: {}", pid_file.string(), std::strerror(errno));
  }
  return fd;
}

void write_pid(int fd) {
  std::string pid = fmt::format("{:>10}\n", ::getpid());
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) != ssize_t(pid.size()))
    log::warning("cannot write pid file: {}", std::strerror(errno));
}

void detach() {
  pid_t pid = ::fork();
  if (pid < 0) log::fatal("fork: {}", std::strerror(errno));
  if (pid > 0) ::_exit(0);
  ::setsid();
  int null = ::open("/dev/null", O_RDWR);
  if (null >= 0) {
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
    if (null > 2) ::close(null);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_dir = ::getenv("MAIL_CONFIG") ? ::getenv("MAIL_CONFIG") : paths::kConfigDir;
  bool foreground = false;
  int verbose = 0;
  int opt;
  while ((opt = ::getopt(argc, argv, "c:dv")) != -1) {
    switch (opt) {
      case 'c': config_dir = optarg; break;
      case 'd': foreground = true; break;
      case 'v': verbose++; break;
      default: log::init("master"); log::fatal("usage: master [-c config_dir] [-d] [-v]");
    }
  }
  log::Settings early;  // to stderr too, until main.cf says where the log goes
  early.mirror_stderr = true;
  log::init("master", early);
  ::umask(022);
  auto cfg = config::Config::load(config_dir);
  if (!cfg) log::fatal("{}", cfg.error().message);
  // Errors before detaching go to the terminal as well as the log; so do
  // master.cf's warnings (a duplicate entry, the postlog service).
  log::init("master", log::Settings{.syslog_name = cfg->str("syslog_name"), .facility = cfg->str("syslog_facility"),
                                    .maillog_file = cfg->str("maillog_file"), .mirror_stderr = !foreground});
  log::set_verbose(verbose);
  for (auto& w : cfg->warnings()) log::warning("{}", w);
  auto services = config::load_master_cf(config_dir);
  if (!services) log::fatal("{}", services.error().message);
  if (auto st = config::remove_disabled_services(*services, cfg->list("master_service_disable")); !st)
    log::fatal("{}", st.error().message);
  config::drop_postlog_services(*services);
  // Batch like its children (server/scheduling.h): each status report of a
  // busy child wakes the master, which would otherwise preempt the child.
  server::apply_scheduling_policy(cfg->boolean("daemon_batch_scheduling"));

  std::filesystem::path queue_dir = cfg->str("queue_directory");
  if (::chdir(queue_dir.c_str()) != 0) log::fatal("chdir {}: {}", queue_dir.string(), std::strerror(errno));
  UniqueFd lock = lock_pid_file(queue_dir / "pid" / "master.pid");

  master::Master m(config_dir, std::move(*cfg), std::move(*services));
  if (auto st = m.open_all(); !st) log::fatal("{}", st.error().message);
  if (!foreground) detach();
  write_pid(lock.get());
  if (auto cfg2 = config::Config::load(config_dir); cfg2) {
    log::init("master", log::Settings{.syslog_name = cfg2->str("syslog_name"),
                                      .facility = cfg2->str("syslog_facility"),
                                      .maillog_file = cfg2->str("maillog_file"), .mirror_stderr = false});
  }
  if (!security::running_as_root())
    log::info("running as uid {}, not root: privileges are not separated", ::getuid());
  log::info("daemon started -- version {}, configuration {}", paths::kVersion, config_dir);
  int rc = m.run();
  // An empty pid file says "not running" to whoever reads it next; the
  // lock itself goes with the process either way.
  if (::ftruncate(lock.get(), 0) != 0) log::warning("cannot empty the pid file: {}", std::strerror(errno));
  return rc;
}
