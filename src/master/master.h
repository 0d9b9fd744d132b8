// master.h - the resident master: services, children, timers, reload.
//
// One Master per configuration directory. It owns every listener, forks
// a service's program when work arrives and no idle child can take it (up
// to maxproc), learns which children are idle from the status pipe, wakes
// trigger services on their timers, replaces children that die, throttles
// services whose children die before doing any work, re-reads both
// configuration files on SIGHUP without dropping listeners, and on SIGTERM
// stops every child before it exits.
//
// Parameters: daemon_directory, queue_directory, default_process_limit,
// service_throttle_time, import_environment, inet_interfaces,
// inet_protocols.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "aio/asio.h"
#include "config/config.h"
#include "config/master_cf.h"
#include "master/listener.h"
#include "server/status.h"

namespace postern::master {

struct Service;

struct Child {
  pid_t pid = 0;
  Service* service = nullptr;  // null once the child is retired
  bool available = true;
  bool retiring = false;  // said it serves its last client (max_use)
  int uses = 0;
};

struct Service {
  config::MasterService entry;
  std::vector<Listener> listeners;
  // Copies of the listener descriptors, and the descriptors through which
  // the event loop watches them. A watcher is registered with the loop only
  // while the master waits for demand (update_watch()): registered, every
  // new connection would wake the master, though a child accepts it.
  std::vector<UniqueFd> watch_fds;
  std::vector<std::unique_ptr<asio::posix::stream_descriptor>> watchers;
  UniqueFd status_read;
  UniqueFd status_write;
  std::unique_ptr<asio::posix::stream_descriptor> status;
  std::string status_buf;
  std::unique_ptr<asio::steady_timer> wakeup;
  std::unique_ptr<asio::steady_timer> unthrottle;
  std::map<pid_t, Child*> children;
  int available = 0;
  bool watching = false;
  bool used = false;          // for the `?` wakeup flag
  bool throttled = false;
  std::chrono::steady_clock::time_point limit_warned{};
  std::vector<std::chrono::steady_clock::time_point> recent_crashes;
  int maxproc = 0;            // 0 = no limit
  std::string program;        // absolute path

  std::size_t total() const { return children.size(); }
};

class Master {
 public:
  Master(std::filesystem::path config_dir, config::Config cfg, std::vector<config::MasterService> services);
  ~Master();

  // Opens all listeners. An error here is fatal at start.
  Status open_all();
  // Runs until SIGTERM/SIGINT; returns the exit status.
  int run();

 private:
  Status setup_service(Service& s);
  void start_service(Service& s);
  void update_watch(Service& s);
  void unwatch(Service& s);
  void on_listener_ready(Service& s, const error_code& ec);
  void spawn(Service& s);
  void read_status(Service& s);
  void handle_status(Service& s, pid_t pid, server::ChildState state);
  void warn_if_at_limit(Service& s);
  void schedule_wakeup(Service& s, std::chrono::seconds delay);
  void wake(Service& s);
  void reap();
  void on_child_exit(pid_t pid, int status);
  void throttle(Service& s);
  void reload();
  void stop();
  void retire_children(Service& s, bool removed);
  void watch_signals();
  std::vector<char*> build_env();

  std::filesystem::path config_dir_;
  config::Config cfg_;
  std::vector<config::MasterService> entries_;
  std::vector<std::unique_ptr<Service>> services_;
  std::vector<std::unique_ptr<Service>> graveyard_;  // retired by reload; freed at the next
  std::map<pid_t, std::unique_ptr<Child>> children_;
  asio::io_context io_;
  asio::signal_set signals_;
  UniqueFd alive_read_, alive_write_;
  UniqueFd flow_read_, flow_write_;  // in_flow_delay tokens (server/flow.h)
  std::vector<std::string> env_strings_;
  bool stopping_ = false;
  std::unique_ptr<asio::steady_timer> stop_timer_;
};

}  // namespace postern::master
