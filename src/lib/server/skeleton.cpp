// skeleton.cpp - see skeleton.h.
#include "server/skeleton.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>

#include "base/strings.h"
#include "config/master_cf.h"
#include "config/proxy_settings.h"
#include "log/log.h"
#include "security/privileges.h"
#include "server/flow.h"
#include "server/heap.h"
#include "server/scheduling.h"
#include "server/status.h"

namespace postern::server {
namespace {

struct Args {
  std::string config_dir;
  std::string service;
  std::string type = "unix";
  int listeners = 0;
  bool chroot = false;
  bool privileged_service = false;  // master.cf unpriv = n
  int verbose = 0;
  std::vector<std::pair<std::string, std::string>> overrides;
  std::vector<std::string> extra;
};

// getopt()'s way, as Postfix's daemons read theirs: flags may cluster
// ("-vv", "-vC") and a value may be joined ("-ox=y") or the next word.
Result<Args> parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string_view s = argv[i];
    if (s.size() >= 2 && s[0] == '-' && s != "--") {
      for (std::size_t k = 1; k < s.size(); ++k) {
        const char c = s[k];
        if (std::string_view("cntso").find(c) == std::string_view::npos) {
          if (c == 'v') a.verbose++;
          else if (c == 'C') a.chroot = true;
          else if (c == 'P') a.privileged_service = true;
          else return make_error("unexpected option -{} (in {})", c, s);
          continue;
        }
        std::string v;
        if (k + 1 < s.size()) v = std::string(s.substr(k + 1));
        else if (i + 1 < argc) v = argv[++i];
        else return make_error("option -{} needs a value", c);
        if (c == 'c') {
          a.config_dir = v;
        } else if (c == 'n') {
          a.service = v;
        } else if (c == 't') {
          a.type = v;
        } else if (c == 's') {
          auto n = str::parse_int(v);
          if (!n || *n < 0 || *n > 64) return make_error("bad listener count: {}", v);
          a.listeners = int(*n);
        } else {
          auto eq = v.find('=');
          if (eq == std::string::npos) return make_error("bad -o argument (want name=value): {}", v);
          a.overrides.emplace_back(std::string(str::trim(v.substr(0, eq))), std::string(str::trim(v.substr(eq + 1))));
        }
        break;  // the value ends the cluster
      }
    } else if (!s.empty() && s[0] != '-') {
      // Daemon-specific "name=value" arguments (e.g. pipe's argv=...).
      a.extra.emplace_back(s);
      // argv= is the last attribute (pipe(8), spawn(8)): the words after it
      // are the command's, options like "-u" included.
      if (str::istarts_with(s, "argv="))
        for (++i; i < argc; ++i) a.extra.emplace_back(argv[i]);
    } else {
      return make_error("unexpected argument: {}", s);
    }
  }
  return a;
}

void write_status(ChildState st) {
  static bool have_fd = ::fcntl(kStatusFd, F_GETFD) >= 0;
  if (!have_fd) return;
  auto b = encode_status({::getpid(), st});
  // A full pipe would mean the master is wedged; never block on it.
  ssize_t n = ::write(kStatusFd, b.data(), b.size());
  (void)n;
}

}  // namespace

std::string peer_text(const Socket& s) {
  error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return "unknown[unknown]";
  const sockaddr* sa = ep.data();
  char buf[INET6_ADDRSTRLEN] = {0};
  if (sa->sa_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof buf);
    return fmt::format("unknown[{}]", buf);
  }
  if (sa->sa_family == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof buf);
    return fmt::format("unknown[{}]", buf);
  }
  return "local";
}

// Runner holds the process's serving state: listeners, client counts, the
// idle timer, and the drain logic.
class Runner {
 public:
  Runner(Daemon d, Args a, config::Config& cfg)
      : d_(std::move(d)), args_(std::move(a)), cfg_(cfg), ctx_(cfg_, io_, args_.service, d_.name),
        idle_timer_(io_), capacity_(io_), watchdog_timer_(io_), signals_(io_, SIGTERM, SIGHUP), alive_(io_) {
    ctx_.stop_ = [this] { begin_stop("stop requested"); };
    ctx_.count_use_ = [this] {
      ++uses_;
      if (!d_.long_lived && max_use_ > 0 && uses_ >= max_use_) begin_stop("max_use reached");
    };
    ctx_.args_ = args_.extra;
    // maillog_file rotated, and this process (dropped to mail_owner,
    // perhaps chrooted) cannot open the new one: retire, so that the
    // master starts one that opens it before it drops (log.h).
    log::on_unreopenable([this] {
      asio::post(io_, [this] {
        log::info("maillog_file {} was rotated and this process cannot open it again; retiring",
                  cfg_.str("maillog_file"));
        begin_stop("maillog_file rotated");
      });
    });
  }
  ~Runner() { log::on_unreopenable(nullptr); }
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  int run() {
    adopt_listeners();
    // Before pre_drop opens the daemon's tables: a chrooted daemon reaches
    // its proxy: tables through proxymap (config/proxy_settings.h).
    config::proxy_settings() = config::ProxySettings::from_config(cfg_, args_.chroot);
    if (d_.pre_drop) {
      if (auto st = d_.pre_drop(ctx_); !st) log::fatal("{}", st.error().message);
    }
    drop_privileges();
    if (d_.post_drop) {
      if (auto st = d_.post_drop(ctx_); !st) log::fatal("{}", st.error().message);
    }
    max_use_ = cfg_.integer("max_use");
    max_idle_ = cfg_.time("max_idle");
    watch_signals();
    watch_master();
    start_watchdog();
    for (std::size_t i = 0; i < acceptors_.size(); ++i)
      asio::co_spawn(io_, accept_loop(i), asio::detached);
    for (std::size_t i = 0; i < fifos_.size(); ++i) asio::co_spawn(io_, fifo_loop(i), asio::detached);
    write_status(ChildState::Available);
    arm_idle_timer();
    io_.run();
    log::flush();
    return 0;
  }

 private:
  void adopt_listeners() {
    if (args_.listeners == 0) log::fatal("no listeners: this program is started by the postern master");
    for (int i = 0; i < args_.listeners; ++i) {
      int fd = kListenFdBase + i;
      struct stat st {};
      if (::fstat(fd, &st) != 0) log::fatal("listener descriptor {} is not open", fd);
      ::fcntl(fd, F_SETFD, FD_CLOEXEC);
      if (S_ISFIFO(st.st_mode)) {
        fifos_.push_back(std::make_unique<asio::posix::stream_descriptor>(io_, fd));
        continue;
      }
      if (!S_ISSOCK(st.st_mode)) log::fatal("listener descriptor {} is not a socket or fifo", fd);
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) log::fatal("getsockname: {}", std::strerror(errno));
      int proto = ss.ss_family == AF_UNIX ? 0 : IPPROTO_TCP;
      auto acc = std::make_unique<asio::basic_socket_acceptor<asio::generic::stream_protocol>>(io_);
      error_code ec;
      acc->assign(asio::generic::stream_protocol(ss.ss_family, proto), fd, ec);
      if (ec) log::fatal("cannot adopt listener {}: {}", fd, ec.message());
      acc->non_blocking(true, ec);
      acceptors_.push_back(std::move(acc));
    }
  }

  void drop_privileges() {
    if (!security::running_as_root()) {
      log::debug("running as uid {}: privileges are not separated", ::getuid());
      return;
    }
    if (d_.privileged && args_.privileged_service) {
      log::debug("privileged agent: keeping root to become recipients");
      return;
    }
    if (d_.privileged && !args_.privileged_service)
      log::fatal("service {}: {} is a privileged delivery agent; set unpriv = n in master.cf", args_.service, d_.name);
    auto owner = security::lookup_user(cfg_.str("mail_owner"));
    if (!owner) log::fatal("mail_owner: {}", owner.error().message);
    if (owner->uid == 0) log::fatal("mail_owner must not be root");
    if (args_.chroot) {
      if (auto st = security::enter_chroot(cfg_.str("queue_directory")); !st) log::fatal("{}", st.error().message);
      log::stop_following_rotation();  // maillog_file's path means nothing in here
    }
    // Only mail_owner's primary group, like Postfix (and cheaper: see
    // privileges.h); daemons need no supplementary groups.
    if (auto st = security::drop_privileges(*owner, false); !st) log::fatal("{}", st.error().message);
  }

  void watch_signals() {
    signals_.async_wait([this](const error_code& ec, int sig) {
      if (ec) return;
      // SIGHUP: the master reloaded and retires us. Our clients finish
      // at their own pace, bounded by the protocols' deadlines (a slow
      // upload is not cut off by a reload; Postfix lets old processes
      // "terminate as soon as is convenient"). SIGTERM: stop, with a
      // bounded drain.
      begin_stop(sig == SIGTERM ? "SIGTERM" : "SIGHUP", sig == SIGTERM);
      watch_signals();
    });
  }

  // The watchdog, two ways (Postfix has one, a SIGALRM per request):
  // - a request held longer than the watchdog time (Context::WatchedRequest)
  //   ends the process with "fatal: watchdog timeout", checked from the
  //   event loop every quarter of that time (at most every minute);
  // - each check re-arms alarm() for the whole time, so that a process
  //   whose event loop is blocked (a hung system call, a loop that does not
  //   end) is killed by SIGALRM, which the master logs as a signal death.
  // alarm() is per process and not inherited across fork(), so the local
  // agent's workers and pipe's commands are not affected.
  void start_watchdog() {
    watchdog_time_ = cfg_.time(d_.watchdog_parameter);
    if (watchdog_time_.count() <= 0) return;
    watchdog_tick();
  }

  void watchdog_tick() {
    using namespace std::chrono;
    auto now = steady_clock::now();
    if (!ctx_.requests_.empty() && now - ctx_.requests_.front() >= watchdog_time_)
      log::fatal("watchdog timeout: one request took longer than {}s ({})", watchdog_time_.count(),
                 d_.watchdog_parameter);
    ::alarm(static_cast<unsigned>(std::min<std::int64_t>(watchdog_time_.count(), 1'000'000'000)));
    auto period = std::clamp<milliseconds>(duration_cast<milliseconds>(watchdog_time_) / 4, milliseconds(250),
                                           milliseconds(60'000));
    watchdog_timer_.expires_after(period);
    watchdog_timer_.async_wait([this](const error_code& ec) {
      if (!ec) watchdog_tick();
    });
  }

  // EOF (or an error) on the master-alive pipe means the master is gone:
  // finish current clients, then exit, as Postfix daemons do.
  void watch_master() {
    if (::fcntl(kMasterAliveFd, F_GETFD) < 0) return;
    alive_.assign(kMasterAliveFd);
    alive_.async_wait(asio::posix::descriptor_base::wait_read, [this](const error_code& ec) {
      if (ec == asio::error::operation_aborted) return;
      begin_stop("master went away");
    });
  }

  void begin_stop(std::string_view why, bool bounded = true) {
    if (stopping_) return;
    stopping_ = true;
    ctx_.stopping_ = true;
    log::debug("stopping: {}", why);
    write_status(ChildState::Busy);  // never count us as available again
    for (Socket* s : ctx_.idle_) {
      error_code ec;
      s->cancel(ec);
    }
    for (auto& a : acceptors_) {
      error_code ec;
      a->close(ec);
    }
    for (auto& f : fifos_) {
      error_code ec;
      f->close(ec);
    }
    idle_timer_.cancel();
    capacity_.cancel();
    // Not io_.stop() at once: an accept may have completed in the kernel
    // with its handler still queued; stopping now would close that client's
    // socket unanswered (a reset). Queued handlers run first; a client
    // accepted that way is served, and client_done() stops the loop.
    asio::post(io_, [this] {
      if (active_ == 0) io_.stop();
    });
    if (active_ == 0 || !bounded) return;
    // Clients get a bounded time to finish; then we exit regardless. The
    // protocol guarantees that nothing unacknowledged is ours to lose.
    drain_ = std::make_unique<asio::steady_timer>(io_, std::chrono::seconds(30));
    drain_->async_wait([this](const error_code& ec) {
      if (!ec) io_.stop();
    });
  }

  bool have_capacity() const {
    std::size_t limit = d_.model == Model::Multi ? std::max<std::size_t>(1, d_.client_limit) : 1;
    return active_ < limit;
  }

  void arm_idle_timer() {
    if (d_.long_lived || max_idle_.count() <= 0 || active_ > 0 || stopping_) return;
    idle_timer_.expires_after(max_idle_);
    idle_timer_.async_wait([this](const error_code& ec) {
      if (!ec && active_ == 0) begin_stop("idle");
    });
  }

  void client_started() {
    ++active_;
    ++uses_;
    idle_timer_.cancel();
    bool retiring = !d_.long_lived && max_use_ > 0 && uses_ >= max_use_;
    // A process with room for more clients stays available. It still says
    // busy (then available) once, for its first client: the master counts
    // that as "used" (its throttle rule is death before any use). Doing so
    // for every client of a Multi server made the master see a moment with
    // no available process and start needless extra ones. A long-lived
    // server (qmgr, anvil) is its service's only process, so the master has
    // nothing to decide from its later busy/available changes: qmgr takes a
    // trigger per queued message, and each pair cost two writes here and a
    // wake-up of the master.
    if (retiring)
      write_status(ChildState::Retiring);
    else if (uses_ == 1 || (!have_capacity() && !d_.long_lived))
      write_status(ChildState::Busy);
    if (retiring) {
      begin_stop("max_use reached");
      return;
    }
    if (have_capacity() && uses_ == 1) write_status(ChildState::Available);
  }

  void client_done() {
    bool was_full = !have_capacity();
    --active_;
    if (stopping_) {
      if (active_ == 0) io_.stop();
      return;
    }
    if (was_full) {
      if (!d_.long_lived || uses_ == 1) write_status(ChildState::Available);
      capacity_.cancel();
    }
    arm_idle_timer();
  }

  asio::awaitable<void> wait_for_capacity() {
    while (!have_capacity() && !stopping_) {
      capacity_.expires_after(std::chrono::hours(24));
      error_code ec;
      co_await capacity_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }

  asio::awaitable<void> accept_loop(std::size_t i) {
    auto& acc = *acceptors_[i];
    while (!stopping_) {
      co_await wait_for_capacity();
      if (stopping_) break;
      error_code ec;
      Socket sock = co_await acc.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (ec == asio::error::operation_aborted || stopping_) break;
        // Another child took the connection, or a transient accept error.
        if (ec != asio::error::would_block && ec != asio::error::try_again)
          log::warning("accept: {}", ec.message());
        continue;
      }
      client_started();
      if (d_.model == Model::Trigger) {
        co_await serve_trigger(std::move(sock));
        client_done();
      } else if (d_.model == Model::Single) {
        co_await serve_one(std::move(sock));
        client_done();
      } else {
        asio::co_spawn(io_, serve_multi(std::move(sock)), asio::detached);
      }
    }
  }

  asio::awaitable<void> serve_one(Socket sock) {
    try {
      co_await d_.serve(ctx_, std::move(sock));
    } catch (const std::exception& e) {
      log::warning("{}: session aborted: {}", d_.name, e.what());
    }
  }

  asio::awaitable<void> serve_multi(Socket sock) {
    co_await serve_one(std::move(sock));
    client_done();
  }

  // A trigger client writes a few bytes and closes. Read what arrives
  // within a second, at most 1 KiB; never wait on a silent client.
  asio::awaitable<void> serve_trigger(Socket sock) {
    std::string buf(1024, '\0');
    std::size_t got = 0;
    asio::steady_timer deadline(io_, std::chrono::seconds(1));
    deadline.async_wait([&](const error_code& ec) {
      if (!ec) {
        error_code ignore;
        sock.cancel(ignore);
      }
    });
    while (got < buf.size()) {
      error_code ec;
      std::size_t n = co_await sock.async_read_some(asio::buffer(buf.data() + got, buf.size() - got),
                                                    asio::redirect_error(asio::use_awaitable, ec));
      got += n;
      if (ec) break;
    }
    deadline.cancel();
    buf.resize(got);
    co_await run_trigger(std::move(buf));
  }

  asio::awaitable<void> run_trigger(std::string bytes) {
    if (!d_.trigger) co_return;
    Context::WatchedRequest watched(ctx_);
    try {
      co_await d_.trigger(ctx_, std::move(bytes));
    } catch (const std::exception& e) {
      log::warning("{}: trigger aborted: {}", d_.name, e.what());
    }
  }

  // FIFO listeners (master.cf type fifo): the master keeps the FIFO open
  // for writing, so reads never see EOF; each read is one wake-up.
  asio::awaitable<void> fifo_loop(std::size_t i) {
    auto& f = *fifos_[i];
    std::string buf(1024, '\0');
    while (!stopping_) {
      error_code ec;
      std::size_t n = co_await f.async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
      client_started();
      co_await run_trigger(buf.substr(0, n));
      client_done();
    }
  }

  Daemon d_;
  Args args_;
  config::Config& cfg_;
  asio::io_context io_;
  Context ctx_;
  std::vector<std::unique_ptr<asio::basic_socket_acceptor<asio::generic::stream_protocol>>> acceptors_;
  std::vector<std::unique_ptr<asio::posix::stream_descriptor>> fifos_;
  asio::steady_timer idle_timer_;
  asio::steady_timer capacity_;
  asio::steady_timer watchdog_timer_;
  std::chrono::seconds watchdog_time_{0};
  asio::signal_set signals_;
  asio::posix::stream_descriptor alive_;
  std::unique_ptr<asio::steady_timer> drain_;
  std::size_t active_ = 0;
  std::int64_t uses_ = 0;
  std::int64_t max_use_ = 0;
  std::chrono::seconds max_idle_{0};
  bool stopping_ = false;
};

int run(int argc, char** argv, Daemon daemon) {
  // Before anything opens a descriptor that could land on 5 or 6.
  attach_flow_pipe();
  ::signal(SIGPIPE, SIG_IGN);
  // heap.h: why a short-lived daemon keeps its heap and premaps some.
  if (!daemon.long_lived) {
    keep_heap_for_process_life();
    if (daemon.model == Model::Multi) premap_heap(kPremappedHeap);
  }
  log::init(daemon.name, log::Settings{.syslog_name = "postern", .facility = "mail", .maillog_file = "",
                                       .mirror_stderr = ::isatty(2) != 0});
  auto args = parse_args(argc, argv);
  if (!args) log::fatal("{}", args.error().message);
  if (args->config_dir.empty()) log::fatal("no -c config_directory given");
  // Validated once, together with the overrides (Config::load_unvalidated).
  auto cfg = config::Config::load_unvalidated(args->config_dir);
  if (!cfg) log::fatal("{}", cfg.error().message);
  auto log_settings = [](const config::Config& c) {
    return log::Settings{.syslog_name = c.str("syslog_name"),
                         .facility = c.str("syslog_facility"),
                         .maillog_file = c.str("maillog_file"),
                         .mirror_stderr = false};
  };
  if (auto st = config::apply_service_overrides(*cfg, args->service, daemon.name, std::to_string(::getpid()),
                                                args->overrides);
      !st) {
    // main.cf on its own: if it is what is wrong, its own message. Else
    // log where main.cf sends the log, so that the administrator reads why
    // this service does not start (the master only logs the exit), not
    // syslog alone.
    auto plain = config::Config::load(args->config_dir);
    if (!plain) log::fatal("{}", plain.error().message);
    log::init(daemon.name, log_settings(*plain));
    log::fatal("service {}: {}", args->service, st.error().message);
  }
  log::init(daemon.name, log_settings(*cfg));
  log::set_verbose(args->verbose);
  apply_scheduling_policy(cfg->boolean("daemon_batch_scheduling"));
  Runner r(std::move(daemon), std::move(*args), *cfg);
  return r.run();
}

}  // namespace postern::server
