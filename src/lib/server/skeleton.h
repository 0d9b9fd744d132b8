// skeleton.h - the one server skeleton every Postern daemon is built on.
//
// A daemon's main() fills in a Daemon description and calls run(). The
// skeleton then, in this order (it reads top to bottom as the security
// story of every daemon):
//   1. parses the master's arguments: -c config_dir -n service -t type
//      -s listeners [-C chroot] [-P privileged] [-v] [-o name=value]...
//   2. loads main.cf and applies -o overrides; opens the mail log
//   3. adopts the listeners the master passed on fds 7.. (see status.h;
//      5 and 6 are the mail flow pipe, server/flow.h)
//   4. runs the daemon's pre_drop hook (still root, if root)
//   5. chroots to queue_directory when master.cf says so, and drops to
//      mail_owner - unless the daemon is a privileged delivery agent and
//      master.cf marks the service unpriv=n
//   6. runs the post_drop hook, then the Asio event loop
// Serving models:
//   Single  - one client at a time (delivery agents)
//   Multi   - many clients at once in one process, at most client_limit
//   Trigger - wake-up requests (qmgr, pickup): a few bytes per connection
// The process reports available/busy to the master, retires after max_use
// clients (or requests: Context::count_use()) or max_idle idle seconds
// (unless long_lived), stops accepting on SIGTERM and exits when its clients
// are done, and exits when the master goes away.
//
// Parameters: max_use, max_idle, mail_owner, queue_directory, syslog_name,
// syslog_facility, maillog_file.
#pragma once

#include <chrono>
#include <functional>
#include <list>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "aio/asio.h"
#include "base/result.h"
#include "config/config.h"

namespace postern::server {

enum class Model { Single, Multi, Trigger };

using Socket = asio::generic::stream_protocol::socket;

class Context {
 public:
  Context(config::Config& cfg, asio::io_context& io, std::string service, std::string program)
      : cfg_(cfg), io_(io), service_(std::move(service)), program_(std::move(program)) {}
  const config::Config& cfg() const { return cfg_; }
  asio::io_context& io() { return io_; }
  const std::string& service() const { return service_; }
  const std::string& program() const { return program_; }
  // Daemon-specific master.cf arguments that are not flags ("name=value").
  const std::vector<std::string>& args() const { return args_; }
  // Stop accepting and exit once current clients are done.
  void request_stop() { if (stop_) stop_(); }
  // True once the process stops taking new work (SIGTERM, SIGHUP, the master
  // gone, max_use reached, request_stop()).
  bool stopping() const { return stopping_; }
  // A request after the first on a connection that carries many
  // (server/requests.h) counts as one more use towards max_use, as a new
  // connection would; at max_use the process starts to retire.
  void count_use() { if (count_use_) count_use_(); }
  // A connection waiting for its client's next request: on stop it is
  // cancelled, so that an idle client cannot hold the process (and its old
  // configuration, after a reload) for the 30 s drain.
  void idle_begin(Socket* s) { idle_.insert(s); }
  void idle_end(Socket* s) { idle_.erase(s); }

  // One request in progress, for the watchdog (Postfix's daemon_timeout):
  // a process that has worked on one request for longer than the daemon's
  // watchdog time logs "fatal: watchdog timeout" and exits, so that a hung
  // delivery cannot hold a process (and its client's wait) for ever.
  // Held by server/requests.h around each request and by the skeleton
  // around each trigger; other waits (an idle connection, a session
  // between commands) are bounded by their own deadlines.
  class WatchedRequest {
   public:
    explicit WatchedRequest(Context& ctx)
        : ctx_(ctx), it_(ctx.requests_.insert(ctx.requests_.end(), std::chrono::steady_clock::now())) {}
    ~WatchedRequest() { ctx_.requests_.erase(it_); }
    WatchedRequest(const WatchedRequest&) = delete;
    WatchedRequest& operator=(const WatchedRequest&) = delete;

   private:
    Context& ctx_;
    std::list<std::chrono::steady_clock::time_point>::iterator it_;
  };

 private:
  config::Config& cfg_;
  asio::io_context& io_;
  std::string service_;
  std::string program_;
  std::function<void()> stop_;
  std::function<void()> count_use_;
  std::vector<std::string> args_;
  std::set<Socket*> idle_;
  // Start times of the requests in progress, oldest first.
  std::list<std::chrono::steady_clock::time_point> requests_;
  bool stopping_ = false;
  friend class Runner;
};

struct Daemon {
  std::string name;                 // program name for logs: "smtpd"
  Model model = Model::Single;
  bool privileged = false;          // local, virtual, pipe, spawn
  bool long_lived = false;          // ignores max_use and max_idle; its service's only process (qmgr)
  std::size_t client_limit = 100;   // Multi: clients at once per process
  // The watchdog's time (Context::WatchedRequest): how long one request
  // may take, and how long the event loop may stay away (a blocked process
  // gets SIGALRM). qmgr's is qmgr_daemon_timeout, as in Postfix.
  std::string watchdog_parameter = "daemon_timeout";
  std::function<Status(Context&)> pre_drop;
  std::function<Status(Context&)> post_drop;
  // Single and Multi: one call per accepted connection.
  std::function<asio::awaitable<void>(Context&, Socket)> serve;
  // Trigger: one call per wake-up request (the bytes the client sent).
  std::function<asio::awaitable<void>(Context&, std::string)> trigger;
};

// Never returns on fatal errors (logs and exits 1). Returns the exit status.
int run(int argc, char** argv, Daemon daemon);

// "name[addr]" for a connected socket's peer, Postfix style; for Unix
// sockets "local".
std::string peer_text(const Socket& s);

}  // namespace postern::server
