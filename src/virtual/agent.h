// agent.h - virtual(8): one delivery request in, one verdict per recipient out.
//
// Agent::handle() opens the queue file named in the request (read-only,
// every record checked), reads its Delivered-To: headers once, and for each
// recipient:
//
//   1. loop check: a Delivered-To: header equal to the recipient (any case)
//      bounces "5.4.6 mail forwarding loop for ADDR";
//   2. Resolver::resolve() (mailbox.h): virtual_mailbox_maps,
//      virtual_uid_maps, virtual_gid_maps; unknown users bounce 5.1.1,
//      table and configuration errors defer;
//   3. the file work runs in a worker process that became the table's
//      uid/gid for good (deliver/worker.h; supplementary groups: just the
//      gid, as Postfix's set_eugid() does) and writes the Maildir or mbox
//      file (mailbox.h store()), with Return-Path:, X-Original-To: and
//      Delivered-To: prepended.
//
// It logs one Postfix status line per recipient ("ID: to=<bob@example.com>,
// relay=virtual, delay=0.1, delays=0.01/0/0/0.09, dsn=2.0.0, status=sent
// (delivered to maildir)") and returns one dsn/text/relay per recipient.
//
// Privileges: the agent stays root (master.cf unpriv = n) but never touches
// a mailbox itself; the worker refuses to deliver as root. Tables are
// opened by create(), which the daemon calls before the skeleton's
// privilege handling; when a table file changes the daemon retires after
// the request (tables_changed()).
//
// Parameters: virtual_mailbox_base, virtual_mailbox_maps, virtual_uid_maps,
// virtual_gid_maps, virtual_minimum_uid, virtual_mailbox_lock,
// virtual_mailbox_limit, recipient_delimiter, deliver_lock_attempts,
// deliver_lock_delay, stale_lock_time, myhostname, queue_directory,
// ipc_timeout, soft_bounce, virtual_delivery_status_filter.
// Logs: the status lines; warnings for table errors and configuration
// errors in table results (mailbox.h), and for unreadable queue files.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "base/result.h"
#include "config/config.h"
#include "deliver/lock.h"
#include "ipc/proto/deliver.h"

namespace postern::virt {

struct Settings {
  std::filesystem::path queue_dir;
  std::string mailbox_base;
  std::string mailbox_maps;
  std::string uid_maps;
  std::string gid_maps;
  std::int64_t minimum_uid = 100;
  deliver::LockMethods locks;
  deliver::LockParams lock_params;
  std::uint64_t mailbox_limit = 0;
  std::string recipient_delimiter;
  std::string myhostname;
  std::chrono::seconds ipc_timeout{3600};
  bool soft_bounce = false;  // bounces reported as deferrals (deliver::report_outcome())
  std::string status_filter;  // virtual_delivery_status_filter (deliver/status_filter.h)
  // This agent's master.cf service: the relay= of its status lines, as in
  // Postfix ("virtual2" for a second instance). Empty: "virtual".
  std::string service_name;
  const std::string& relay() const {
    static const std::string kDefault = "virtual";
    return service_name.empty() ? kDefault : service_name;
  }

  // Fails when virtual_mailbox_base is empty or relative, or
  // virtual_mailbox_lock does not parse.
  static Result<Settings> from_config(const config::Config& cfg);
};

class Agent {
 public:
  static Result<std::unique_ptr<Agent>> create(Settings settings);
  ~Agent();
  ipc::proto::DeliveryReply handle(const ipc::proto::DeliveryRequest& request);
  // True when a table changed since it was opened (the daemon then retires).
  bool tables_changed() const;

 private:
  struct Impl;
  explicit Agent(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace postern::virt
