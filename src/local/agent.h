// agent.h - local(8): one delivery request in, one verdict per recipient out.
//
// Agent::handle() opens the queue file named in the request (read-only),
// reads the Delivered-To: headers once, runs the Engine for every request
// recipient against the SystemBackend, logs one Postfix status line per
// final destination ("ID: to=<bob@example.com>, orig_to=<list@example.com>,
// relay=local, delay=0.1, delays=0.01/0/0/0.09, dsn=2.0.0, status=sent
// (delivered to mailbox)") and returns the DeliveryReply.
//
// Privileges: the agent process keeps root as its real and saved uid
// (master.cf unpriv = n), works as mail_owner (server/mailbox_agent.h) and
// never touches a user's files itself. Every mailbox, Maildir, /file delivery and
// every read of a .forward or :include: file runs in a worker process that
// first dropped to the user for good (setgroups with the user's groups,
// setgid, setuid, then a check that setuid(0) fails) and answers over a
// socket pair (deliver/worker.h); commands run through deliver::run_shell_command(),
// whose child does the same drop. Why a separate process rather than
// Postfix's seteuid() round trips: with seteuid the process keeps a saved
// uid of 0 while it parses user files and writes user mailboxes, so any
// memory-safety bug there is a root compromise, and a forgotten or failed
// switch back leaves later deliveries with the wrong identity. A process
// that drops irrevocably confines a bug to the user it already runs as, and
// the parent's identity never changes. The agent keeps one worker per
// identity for its lifetime, so the cost is one fork per user and agent
// process rather than one per delivery (a fork per delivery halved local
// delivery throughput on a two-core machine).
//
// The one exception: mbox delivery into a mail_spool_directory that is not
// world-writable and sticky (Debian's 2775 root:mail) must create the file
// and its dot lock as root. That worker takes root back for good (all its
// uids and gids 0, no way to mail_owner) but opens only through
// safe_open (no symlinks, no hard links, regular files, owned by the
// recipient when strict_mailbox_ownership) and chowns what it creates.
//
// Parameters: alias_maps, forward_path, mailbox_command, mailbox_command_maps, home_mailbox,
// mail_spool_directory, mailbox_delivery_lock, mailbox_size_limit,
// strict_mailbox_ownership, deliver_lock_attempts, deliver_lock_delay,
// stale_lock_time, prepend_delivered_header, allow_mail_to_commands,
// allow_mail_to_files, default_privs, command_time_limit,
// command_expansion_filter, command_execution_directory,
// execution_directory_expansion_filter, forward_expansion_filter, export_environment,
// local_command_shell, recipient_delimiter, luser_relay, mailbox_transport,
// mailbox_transport_maps, fallback_transport, fallback_transport_maps,
// owner_request_special, expand_owner_alias, myorigin, mydestination,
// myhostname, queue_directory, cleanup_service_name, ipc_timeout, soft_bounce,
// local_delivery_status_filter, require_home_directory, biff.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "config/config.h"
#include "deliver/lock.h"
#include "engine.h"
#include "ipc/proto/deliver.h"
#include "maps/table.h"

namespace postern::local {

struct Settings {
  EngineSettings engine;
  std::filesystem::path queue_dir;
  std::string alias_maps;
  std::string mailbox_transport_maps;
  std::string fallback_transport_maps;
  std::string mail_spool_directory;
  std::string home_mailbox;
  std::string mailbox_command;
  std::string mailbox_command_maps;  // per-user mailbox_command (key: the login name)
  deliver::LockMethods locks;
  deliver::LockParams lock_params;
  std::uint64_t mailbox_size_limit = 0;
  bool strict_ownership = true;
  bool biff = true;  // comsat notice after each mailbox (mbox) delivery
  bool delivered_command = true, delivered_file = true, delivered_forward = true;
  std::chrono::seconds command_time_limit{1000};
  std::vector<std::string> export_environment;
  std::string command_expansion_filter;
  std::string command_execution_directory;  // template ($home, $user...), expanded per delivery
  std::string execution_directory_filter;   // execution_directory_expansion_filter
  std::vector<std::string> shell{"/bin/sh", "-c"};
  std::string default_privs = "nobody";
  std::string myhostname;
  std::filesystem::path cleanup_socket;
  std::int64_t forward_flags = 0;  // cleanup_flag::kAutoUtf8 for the "forward" class
  std::chrono::seconds ipc_timeout{3600};
  bool soft_bounce = false;  // bounces reported as deferrals (deliver::report_outcome())
  std::string status_filter;  // local_delivery_status_filter (deliver/status_filter.h)
  // This agent's master.cf service: never a transport to hand on to, and
  // the relay= of its status lines, as in Postfix ("local2" for a second
  // instance). Empty: "local".
  std::string service_name;
  const std::string& relay() const {
    static const std::string kDefault = "local";
    return service_name.empty() ? kDefault : service_name;
  }

  static Result<Settings> from_config(const config::Config& cfg);
};

class Agent {
 public:
  static Result<std::unique_ptr<Agent>> create(Settings settings);
  ~Agent();
  ipc::proto::DeliveryReply handle(const ipc::proto::DeliveryRequest& request);
  // True when an alias table changed since it was opened (the daemon then retires).
  bool tables_changed() const;

 private:
  struct Impl;
  explicit Agent(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace postern::local
