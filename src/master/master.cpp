// master.cpp - see master.h.
#include "master/master.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "base/strings.h"
#include "log/log.h"
#include "postern/paths.h"
#include "server/status.h"

extern char** environ;

namespace postern::master {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kCrashWindow = std::chrono::seconds(10);
constexpr std::size_t kCrashBurst = 5;
constexpr auto kRestartWakeup = std::chrono::seconds(1);  // after an abnormal exit
constexpr auto kStopGrace = std::chrono::seconds(5);

Result<std::pair<UniqueFd, UniqueFd>> make_pipe(bool nonblocking_write) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return sys_error("pipe");
  if (nonblocking_write) ::fcntl(p[1], F_SETFL, ::fcntl(p[1], F_GETFL) | O_NONBLOCK);
  return std::pair{UniqueFd(p[0]), UniqueFd(p[1])};
}

// Writes a wake-up request to a unix socket or fifo without ever blocking
// the master: a service that cannot take it now will be woken next time.
void send_trigger(const std::filesystem::path& path, config::ServiceType type, std::string_view bytes) {
  if (type == config::ServiceType::Fifo) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
    if (!fd) {
      log::warning("wakeup {}: {}", path.string(), std::strerror(errno));
      return;
    }
    if (::write(fd.get(), bytes.data(), bytes.size()) < 0 && errno != EAGAIN)
      log::warning("wakeup {}: {}", path.string(), std::strerror(errno));
    return;
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::strncpy(sun.sun_path, path.c_str(), sizeof sun.sun_path - 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0) {
    if (errno != EAGAIN) log::warning("wakeup {}: {}", path.string(), std::strerror(errno));
    return;
  }
  if (::send(fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL) < 0)
    log::warning("wakeup {}: {}", path.string(), std::strerror(errno));
}

bool same_endpoint(const config::MasterService& a, const config::MasterService& b) {
  return a.name == b.name && a.type == b.type && a.private_service == b.private_service;
}

}  // namespace

Master::Master(std::filesystem::path config_dir, config::Config cfg, std::vector<config::MasterService> services)
    : config_dir_(std::move(config_dir)), cfg_(std::move(cfg)), entries_(std::move(services)),
      signals_(io_, SIGTERM, SIGINT, SIGHUP) {
  signals_.add(SIGCHLD);
}

Master::~Master() {
  // The services' descriptors belong to io_, which is destroyed before
  // them (member order); the watchers must also not close the copies that
  // watch_fds owns.
  for (auto* list : {&services_, &graveyard_}) {
    for (auto& s : *list) unwatch(*s);
    list->clear();
  }
}

Status Master::open_all() {
  auto alive = make_pipe(false);
  if (!alive) return alive.take_error();
  alive_read_ = std::move(alive->first);
  alive_write_ = std::move(alive->second);
  // The flow pipe lives as long as the master, across reloads, so that the
  // tokens qmgr put in survive restarts of cleanup and qmgr. Both ends
  // non-blocking: a full pipe or an empty one is an answer, not a wait.
  int flow[2];
  if (::pipe2(flow, O_CLOEXEC | O_NONBLOCK) != 0) return sys_error("pipe");
  flow_read_.reset(flow[0]);
  flow_write_.reset(flow[1]);
  for (auto& e : entries_) {
    auto s = std::make_unique<Service>();
    s->entry = e;
    auto l = open_listeners(e, cfg_);
    if (!l) return make_error("{}, line {}: {}", e.file, e.line, l.error().message);
    s->listeners = std::move(*l);
    services_.push_back(std::move(s));
  }
  return {};
}

Status Master::setup_service(Service& s) {
  const auto& e = s.entry;
  s.maxproc = e.maxproc ? *e.maxproc : int(cfg_.integer("default_process_limit"));
  s.program = e.command.find('/') != std::string::npos
                  ? e.command
                  : (std::filesystem::path(cfg_.str("daemon_directory")) / e.command).string();
  if (::access(s.program.c_str(), X_OK) != 0)
    log::warning("{}, line {}: service {}: cannot execute {}: {}", e.file, e.line, e.name, s.program,
                 std::strerror(errno));
  auto p = make_pipe(true);
  if (!p) return p.take_error();
  s.status_read = std::move(p->first);
  s.status_write = std::move(p->second);
  s.status = std::make_unique<asio::posix::stream_descriptor>(io_, ::dup(s.status_read.get()));
  s.watchers.clear();
  s.watch_fds.clear();
  for (auto& l : s.listeners) {
    UniqueFd d(::fcntl(l.fd.get(), F_DUPFD_CLOEXEC, 3));
    if (!d) return sys_error("dup listener");
    s.watch_fds.push_back(std::move(d));
    s.watchers.push_back(std::make_unique<asio::posix::stream_descriptor>(io_));
  }
  return {};
}

void Master::start_service(Service& s) {
  if (auto st = setup_service(s); !st) {
    log::error("service {}: {}", s.entry.name, st.error().message);
    return;
  }
  read_status(s);
  if (s.entry.wakeup > 0) {
    if (s.entry.type != config::ServiceType::Unix && s.entry.type != config::ServiceType::Fifo) {
      log::warning("{}, line {}: wakeup is supported for unix and fifo services only", s.entry.file, s.entry.line);
    } else {
      s.wakeup = std::make_unique<asio::steady_timer>(io_);
      // Like Postfix, trigger services start right away unless `?` says to
      // wait until the service has been used.
      schedule_wakeup(s, s.entry.wakeup_if_used ? std::chrono::seconds(s.entry.wakeup) : std::chrono::seconds(0));
    }
  }
  update_watch(s);
}

void Master::update_watch(Service& s) {
  bool want = !stopping_ && !s.throttled && s.available == 0 && !s.watchers.empty() &&
              (s.maxproc == 0 || int(s.total()) < s.maxproc);
  if (want == s.watching) return;
  if (!want) {
    unwatch(s);
    return;
  }
  s.watching = true;
  // Registering reports a connection already waiting, so none is missed
  // between the last child going busy and this.
  for (std::size_t i = 0; i < s.watchers.size(); ++i) {
    error_code ec;
    s.watchers[i]->assign(s.watch_fds[i].get(), ec);
    if (ec) {
      log::warning("service {}: cannot watch listener: {}", s.entry.name, ec.message());
      continue;
    }
    s.watchers[i]->async_wait(asio::posix::descriptor_base::wait_read, [this, &s](const error_code& ec) {
      if (ec) return;  // cancelled: `s` may already be retired
      on_listener_ready(s, ec);
    });
  }
}

// Takes the listeners out of the event loop (their waits end cancelled);
// the copies in watch_fds stay open for the next watch.
void Master::unwatch(Service& s) {
  s.watching = false;
  for (auto& w : s.watchers)
    if (w->is_open()) (void)w->release();
}

void Master::on_listener_ready(Service& s, const error_code&) {
  if (!s.watching) return;
  unwatch(s);
  if (!stopping_ && !s.throttled && s.available == 0 && (s.maxproc == 0 || int(s.total()) < s.maxproc)) spawn(s);
  update_watch(s);
}

std::vector<char*> Master::build_env() {
  env_strings_.clear();
  for (auto& item : cfg_.list("import_environment")) {
    auto eq = item.find('=');
    if (eq != std::string::npos) {
      env_strings_.push_back(item);
    } else if (const char* v = ::getenv(item.c_str())) {
      env_strings_.push_back(item + "=" + v);
    }
  }
  std::vector<char*> env;
  for (auto& s : env_strings_) env.push_back(s.data());
  env.push_back(nullptr);
  return env;
}

void Master::spawn(Service& s) {
  const auto& e = s.entry;
  std::vector<std::string> args = {s.program, "-c", config_dir_.string(), "-n", e.name, "-t",
                                   std::string(config::to_string(e.type)), "-s", std::to_string(s.listeners.size())};
  if (e.chroot) args.push_back("-C");
  if (!e.unprivileged) args.push_back("-P");
  args.insert(args.end(), e.args.begin(), e.args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp = build_env();
  // Descriptor -> number in the child: status pipe 3, master-alive pipe 4,
  // flow pipe 5 and 6 (cleanup reads tokens, qmgr reads and writes them;
  // no other daemon gets either end), listeners from 7 (server/status.h).
  std::vector<std::pair<int, int>> fds = {{s.status_write.get(), server::kStatusFd},
                                          {alive_read_.get(), server::kMasterAliveFd}};
  const std::string prog = std::filesystem::path(s.program).filename().string();
  if (prog == "cleanup" || prog == "qmgr") fds.emplace_back(flow_read_.get(), server::kFlowReadFd);
  if (prog == "qmgr") fds.emplace_back(flow_write_.get(), server::kFlowWriteFd);
  for (std::size_t i = 0; i < s.listeners.size(); ++i)
    fds.emplace_back(s.listeners[i].fd.get(), server::kListenFdBase + int(i));

  // posix_spawn (a vfork-style clone in glibc) rather than fork(): no copy
  // of the master's page tables and no copy-on-write faults in the master
  // afterwards; busy services restart children every max_use clients, so
  // this is on the mail path. The child gets its descriptors at the numbers
  // above: they are first duplicated out of the way (close-on-exec, >= 256)
  // so that the dup2 into 3.. cannot clobber a source; everything above the
  // listeners is closed.
  std::vector<UniqueFd> high;
  for (const auto& [fd, target] : fds) {
    high.emplace_back(::fcntl(fd, F_DUPFD_CLOEXEC, 256));
    if (!high.back()) {
      log::warning("fcntl F_DUPFD: {}", std::strerror(errno));
      throttle(s);
      return;
    }
  }
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  ::posix_spawn_file_actions_init(&fa);
  ::posix_spawnattr_init(&attr);
  int err = 0;
  for (std::size_t i = 0; i < high.size() && err == 0; ++i)
    err = ::posix_spawn_file_actions_adddup2(&fa, high[i].get(), fds[i].second);
  // The flow numbers a daemon did not get are closed, so that nothing else
  // sits there when its skeleton looks for the flow pipe (flow.h).
  for (int n : {server::kFlowReadFd, server::kFlowWriteFd}) {
    bool given = false;
    for (const auto& f : fds) given |= f.second == n;
    if (!given && err == 0) err = ::posix_spawn_file_actions_addclose(&fa, n);
  }
  if (err == 0)
    err = ::posix_spawn_file_actions_addclosefrom_np(&fa, server::kListenFdBase + int(s.listeners.size()));
  // Every signal at its default in the child, whatever the master ignores
  // (SIGPIPE) or inherited. It is also the cheap request: glibc's spawn
  // child walks all 64 signals, and for one not named here it asks for the
  // disposition before setting it, two system calls instead of one.
  sigset_t none, dfl;
  sigemptyset(&none);
  sigfillset(&dfl);
  if (err == 0) err = ::posix_spawnattr_setsigmask(&attr, &none);
  if (err == 0) err = ::posix_spawnattr_setsigdefault(&attr, &dfl);
  if (err == 0) err = ::posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  if (err == 0) err = ::posix_spawn(&pid, argv[0], &fa, &attr, argv.data(), envp.data());
  ::posix_spawn_file_actions_destroy(&fa);
  ::posix_spawnattr_destroy(&attr);
  if (err != 0) {
    log::warning("cannot start {}: {}", s.program, std::strerror(err));
    throttle(s);
    return;
  }
  auto c = std::make_unique<Child>();
  c->pid = pid;
  c->service = &s;
  c->available = true;  // a new child will accept right away (as in Postfix)
  s.children[pid] = c.get();
  s.available++;
  children_[pid] = std::move(c);
  log::debug("spawned {} pid {}", s.program, pid);
}

void Master::read_status(Service& s) {
  auto buf = std::make_shared<std::array<std::uint8_t, 512>>();
  s.status->async_read_some(asio::buffer(*buf), [this, &s, buf](const error_code& ec, std::size_t n) {
    if (ec) return;  // closed on reload/stop
    s.status_buf.append(reinterpret_cast<const char*>(buf->data()), n);
    while (s.status_buf.size() >= server::kStatusMessageSize) {
      auto m = server::decode_status(reinterpret_cast<const std::uint8_t*>(s.status_buf.data()),
                                     server::kStatusMessageSize);
      s.status_buf.erase(0, server::kStatusMessageSize);
      if (!m) {
        log::warning("service {}: malformed status message; resynchronising", s.entry.name);
        s.status_buf.clear();
        break;
      }
      handle_status(s, m->pid, m->state);
    }
    // Checked once per batch, not per message: a Multi server says busy
    // then available for its first client (so the master counts it as
    // used), and that pair must not read as "every process is busy".
    warn_if_at_limit(s);
    read_status(s);
  });
}

void Master::handle_status(Service& s, pid_t pid, server::ChildState state) {
  auto it = s.children.find(pid);
  if (it == s.children.end()) return;  // a retired child, or not ours
  Child& c = *it->second;
  bool available = state == server::ChildState::Available;
  if (c.available != available) {
    c.available = available;
    if (available) {
      s.available++;
    } else {
      s.available--;
      c.uses++;
      s.used = true;
    }
  }
  // A child that took its last client (max_use) is as good as gone. Its
  // replacement starts now, while that client is served, rather than when
  // the next client is already waiting in the listen queue: a start costs
  // milliseconds (exec, dynamic linking, configuration), and a busy service
  // restarts every max_use clients. Same conditions as a start on demand;
  // the retiring child still counts towards maxproc until it exits.
  if (state == server::ChildState::Retiring && !c.retiring) {
    c.retiring = true;
    if (!stopping_ && !s.throttled && s.available == 0 && (s.maxproc == 0 || int(s.total()) < s.maxproc)) {
      log::debug("service {}: pid {} retiring; starting its replacement", s.entry.name, pid);
      spawn(s);
    }
  }
  update_watch(s);
}

// Postfix's rule: only network services with more than one process are
// worth the warning. Internal services (qmgr, pickup, anvil with one
// process, or any unix-socket service) are busy at their limit by design.
void Master::warn_if_at_limit(Service& s) {
  if (s.entry.type == config::ServiceType::Inet && s.maxproc > 1 && s.available == 0 &&
      int(s.total()) >= s.maxproc) {
    auto now = Clock::now();
    if (now - s.limit_warned > std::chrono::minutes(1)) {
      s.limit_warned = now;
      log::warning("service \"{}\" has reached its process limit \"{}\": new clients may experience noticeable delays",
                   s.entry.name, s.maxproc);
    }
  }
}

void Master::schedule_wakeup(Service& s, std::chrono::seconds delay) {
  s.wakeup->expires_after(delay);
  s.wakeup->async_wait([this, &s](const error_code& ec) {
    if (ec) return;
    wake(s);
    schedule_wakeup(s, std::chrono::seconds(s.entry.wakeup));
  });
}

void Master::wake(Service& s) {
  if (stopping_ || (s.entry.wakeup_if_used && !s.used)) return;
  send_trigger(endpoint_path(s.entry, cfg_), s.entry.type, "W");
}

void Master::reap() {
  int status = 0;
  pid_t pid;
  while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) on_child_exit(pid, status);
  if (stopping_ && children_.empty()) io_.stop();
}

void Master::on_child_exit(pid_t pid, int status) {
  auto it = children_.find(pid);
  if (it == children_.end()) return;
  std::unique_ptr<Child> c = std::move(it->second);
  children_.erase(it);
  bool abnormal = WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0);
  Service* s = c->service;
  std::string program = s ? s->program : std::string("child");
  if (abnormal && !stopping_) {
    if (WIFSIGNALED(status))
      log::warning("process {} pid {} killed by signal {}{}", program, pid, WTERMSIG(status),
                   // The daemons' watchdog (server/skeleton.cpp): its event loop was blocked.
                   WTERMSIG(status) == SIGALRM ? " (watchdog timeout)" : "");
    else
      log::warning("process {} pid {} exit status {}", program, pid, WEXITSTATUS(status));
  }
  if (!s) return;
  s->children.erase(pid);
  if (c->available) s->available--;
  if (abnormal && !stopping_) {
    auto now = Clock::now();
    std::erase_if(s->recent_crashes, [&](auto t) { return now - t > kCrashWindow; });
    s->recent_crashes.push_back(now);
    if (c->uses == 0) {
      log::warning("{}: bad command startup -- throttling", program);
      throttle(*s);
    } else if (s->recent_crashes.size() >= kCrashBurst) {
      log::warning("{}: {} abnormal exits in {} seconds -- throttling", program, s->recent_crashes.size(),
                   kCrashWindow.count());
      throttle(*s);
    }
    // A service with a wakeup timer (qmgr, pickup) is persistent work: its
    // replacement should not wait a whole wakeup period (300 s for qmgr)
    // for the next trigger. The early trigger waits in the endpoint while
    // the service is throttled.
    if (s->wakeup) schedule_wakeup(*s, kRestartWakeup);
  }
  update_watch(*s);
}

void Master::throttle(Service& s) {
  if (s.throttled) return;
  s.throttled = true;
  update_watch(s);
  s.unthrottle = std::make_unique<asio::steady_timer>(io_, cfg_.time("service_throttle_time"));
  s.unthrottle->async_wait([this, &s](const error_code& ec) {
    if (ec) return;
    s.throttled = false;
    s.recent_crashes.clear();
    update_watch(s);
  });
}

void Master::retire_children(Service& s, bool removed) {
  // A service that stays: SIGHUP, finish the current clients however long
  // their protocol lets them take, then exit (server/skeleton.cpp). One
  // removed from master.cf: SIGTERM, "terminated immediately" as Postfix's
  // master(8) puts it (a drain of at most 30 seconds here).
  for (auto& [pid, c] : s.children) {
    c->service = nullptr;
    ::kill(pid, removed ? SIGTERM : SIGHUP);
  }
  s.children.clear();
  s.available = 0;
}

void Master::reload() {
  auto cfg = config::Config::load(config_dir_);
  if (!cfg) {
    log::error("reload: {}; keeping the old configuration", cfg.error().message);
    return;
  }
  auto entries = config::load_master_cf(config_dir_);
  if (!entries) {
    log::error("reload: {}; keeping the old configuration", entries.error().message);
    return;
  }
  if (auto st = config::remove_disabled_services(*entries, cfg->list("master_service_disable")); !st) {
    log::error("reload: {}; keeping the old configuration", st.error().message);
    return;
  }
  // The log settings may have changed, and `postern logrotate` reloads so
  // that the master opens the new maillog_file now, not at its next check.
  log::init("master", log::Settings{.syslog_name = cfg->str("syslog_name"), .facility = cfg->str("syslog_facility"),
                                    .maillog_file = cfg->str("maillog_file"), .mirror_stderr = false});
  for (auto& w : cfg->warnings()) log::warning("{}", w);
  config::drop_postlog_services(*entries);
  std::vector<std::unique_ptr<Service>> next;
  for (auto& e : *entries) {
    auto s = std::make_unique<Service>();
    s->entry = e;
    // An unchanged endpoint keeps its listener: no connection is refused
    // while the configuration changes.
    for (auto& old : services_) {
      if (old && same_endpoint(old->entry, e) && !old->listeners.empty()) {
        s->listeners = std::move(old->listeners);
        old->listeners.clear();
        break;
      }
    }
    next.push_back(std::move(s));
  }
  // The endpoints of services that are gone close now (clients are refused
  // instead of waiting on a socket nobody serves; Postfix's
  // master_stop_service()), before new ones open, which may want the same
  // port under another name.
  for (auto& old : services_)
    if (old) old->listeners.clear();
  for (auto it = next.begin(); it != next.end();) {
    auto& s = **it;
    if (s.listeners.empty()) {
      auto l = open_listeners(s.entry, *cfg);
      if (!l) {
        log::error("reload: {}, line {}: {}; service not started", s.entry.file, s.entry.line, l.error().message);
        it = next.erase(it);
        continue;
      }
      s.listeners = std::move(*l);
    }
    ++it;
  }
  // Every running child finishes its current work and exits; new children
  // start with the new configuration.
  for (auto& old : services_) {
    unwatch(*old);
    old->watch_fds.clear();
    if (old->status) {
      error_code ec;
      old->status->close(ec);
    }
    if (old->wakeup) old->wakeup->cancel();
    if (old->unthrottle) old->unthrottle->cancel();
    bool kept = std::any_of(entries->begin(), entries->end(),
                            [&](const config::MasterService& e) { return same_endpoint(old->entry, e); });
    retire_children(*old, !kept);
  }
  graveyard_.clear();  // services retired by the previous reload
  for (auto& old : services_) graveyard_.push_back(std::move(old));
  cfg_ = std::move(*cfg);
  entries_ = std::move(*entries);
  services_ = std::move(next);
  log::info("reload -- version {}, configuration {}", paths::kVersion, config_dir_.string());
  for (auto& s : services_) start_service(*s);
}

void Master::stop() {
  if (stopping_) return;
  stopping_ = true;
  for (auto& s : services_) {
    unwatch(*s);
    s->watch_fds.clear();
    s->listeners.clear();
    if (s->wakeup) s->wakeup->cancel();
    if (s->unthrottle) s->unthrottle->cancel();
  }
  for (auto& [pid, c] : children_) ::kill(pid, SIGTERM);
  alive_write_.reset();  // children also see the master going away
  if (children_.empty()) {
    io_.stop();
    return;
  }
  stop_timer_ = std::make_unique<asio::steady_timer>(io_, kStopGrace);
  stop_timer_->async_wait([this](const error_code& ec) {
    if (ec) return;
    for (auto& [pid, c] : children_) ::kill(pid, SIGKILL);
    stop_timer_->expires_after(kStopGrace);
    stop_timer_->async_wait([this](const error_code& ec2) {
      if (!ec2) io_.stop();
    });
  });
}

void Master::watch_signals() {
  signals_.async_wait([this](const error_code& ec, int sig) {
    if (ec) return;
    switch (sig) {
      case SIGCHLD:
        reap();
        break;
      case SIGHUP:
        if (!stopping_) reload();
        break;
      default:
        log::info("terminating on signal {}", sig);
        stop();
        break;
    }
    watch_signals();
  });
}

int Master::run() {
  watch_signals();
  for (auto& s : services_) start_service(*s);
  io_.run();
  reap();
  return 0;
}

}  // namespace postern::master
