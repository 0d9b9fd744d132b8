// service.h - the bounce, defer and trace services: request handling.
//
// One program behind three sockets (ipc/proto/bounce.h has the protocol).
// The master.cf service name the process was started for decides which log
// directory its requests are about: $bounce_service_name -> bounce/,
// $defer_service_name -> defer/, $trace_service_name -> trace/.
//
//   append  appends one status-log entry per recipient and fsyncs
//   flush   bounce: non-delivery notice; trace: success notice; removes the
//           log once the notice is durable in the queue (defer: refused)
//   warn    defer only: delay notice; the log stays
//   remove  removes the log
//
// Notices are composed by dsn.h from the log and the original queue file
// (read bounded, bounce_size_limit) and submitted to cleanup with the null
// sender and the bounce flag. A message from the null sender is never
// bounced back: its failure goes once to 2bounce_notice_recipient, sent from
// $double_bounce_sender, and a failure of such a postmaster notice is
// dropped (as Postfix does), so bounces can never loop.
//
// Replies: 0 done; kStatusRetry when the log cannot be written or cleanup
// cannot take the notice (qmgr keeps the message and asks again);
// kStatusFail for requests that can never succeed (bad queue ID or queue
// name, an operation the service does not do, an unreadable original).
//
// Logs (Postfix's shapes):
//   ID: sender non-delivery notification: NEWID
//   ID: postmaster non-delivery notification: NEWID
//   ID: sender delay notification: NEWID
//   ID: sender delivery status notification: NEWID
//   warning: ID: ... (log/cleanup failures, refused requests)
//
// Parameters: queue_directory, hash_queue_names, hash_queue_depth,
// cleanup_service_name, bounce_service_name, defer_service_name,
// trace_service_name, myhostname, myorigin, bounce_size_limit,
// 2bounce_notice_recipient, double_bounce_sender, maximal_queue_lifetime,
// ipc_timeout, bounce_template_file (template.h; its text may name any
// main.cf parameter, and delay_warning_time_<unit> and
// maximal_queue_lifetime_<unit> with unit seconds, minutes, hours, days or
// weeks). A template file that cannot be read or parsed stops the service.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "aio/asio.h"
#include "base/result.h"
#include "config/config.h"
#include "ipc/proto/bounce.h"
#include "ipc/proto/status.h"
#include "queue/layout.h"
#include "template.h"

namespace postern::bounce {

struct Settings {
  std::filesystem::path queue_root;      // queue_directory ("/" after chroot)
  std::filesystem::path cleanup_socket;  // public/$cleanup_service_name
  std::int64_t autodetect = 0;           // cleanup_flag::kAutoUtf8 for the "bounce" class
  queue::HashConfig hash;
  std::chrono::seconds timeout{3600};    // ipc_timeout
  std::string myhostname;
  std::string myorigin;
  std::string mail_name = "Postern";     // the X-<mail_name>-* report fields
  std::size_t size_limit = 50000;        // bounce_size_limit
  std::vector<std::string> twobounce_recipients;
  std::vector<std::string> bounce_recipients;  // bounce_notice_recipient
  std::vector<std::string> delay_recipients;   // delay_notice_recipient
  // notify_classes: postmaster copies of bounces and delay notices, and
  // notices about undeliverable bounces (Postfix's default: none of them).
  bool notify_bounce = false, notify_2bounce = false, notify_delay = false;
  std::string double_bounce_sender;      // qualified with myorigin
  std::chrono::seconds max_queue_lifetime{5 * 86400};
  queue::QueueName log_queue = queue::QueueName::Bounce;  // from the service name
  // bounce_template_file, read and expanded at start (before the chroot);
  // a template missing there keeps the built-in text.
  Templates templates;

  static Result<Settings> from_config(const config::Config& cfg, std::string_view service);
};

// Handles one request; never throws.
asio::awaitable<ipc::proto::StatusReply> handle_request(asio::io_context& io, const Settings& s,
                                                        const ipc::proto::BounceRequest& req);

}  // namespace postern::bounce
