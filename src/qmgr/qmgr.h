// qmgr.h - the queue manager: incoming/deferred -> active -> delivery agents.
//
// One resident process (master.cf "qmgr unix n - n 300 1 qmgr"), a trigger
// server. QueueManager keeps the active queue in memory and is driven by
// wake-ups (ipc/trigger.h letters), its own queue_run_delay timer and the
// completion of deliveries. Everything runs on one Asio thread.
//
// Life of a message:
//   1. A scan finds it in incoming/ (ready mark set; unready files are left
//      alone) or in deferred/ (file mtime <= now, the next-retry time; the
//      A trigger ignores times). It is renamed into active/ while fewer than
//      qmgr_message_active_limit messages and qmgr_message_recipient_limit
//      recipients are in memory. On start everything left in active/ (a
//      crash) is renamed back to incoming/ first.
//   2. The file is read and validated (envelope only). A corrupt file goes
//      to corrupt/ with a warning; the scan goes on. Its pending recipients
//      are read in slices (slice_size(): what the recipient limit leaves,
//      at least qmgr_message_recipient_minimum, at most 5,000), each a
//      Message of its own sharing a Shared: when the newest slice is half
//      finished the next is read (read_ahead_if_due()); a slice leaves
//      memory when its last job has ended, its finished recipients marked.
//   3. Each pending recipient of the slice is resolved through trivial-rewrite
//      (rewrite/client.h; kFail: deferred, kError: bounced, and so is an
//      address that starts with '-' unless allow_min_user; a transport in
//      defer_transports: deferred, "4.3.2 deferred transport", unless the
//      message was taken by a flush: postqueue -f, sendmail -q), and grouped by
//      (transport, next hop) into jobs of at most
//      <transport>_destination_recipient_limit recipients. A transport with
//      recipient limit 1 (local) is scheduled per recipient, as Postfix does.
//   4. The scheduler starts jobs round-robin over destinations and, within a
//      destination, over messages, within the destination's concurrency
//      window (scheduler.h) and the transport's process limit. Each job is
//      one delivery_request to private/<transport> (ipc/proto/deliver.h).
//      A started job opens a lane (deliver()): its connection carries the
//      destination's next jobs while the window keeps it, with the next
//      request sent ahead of the current reply when the window is full.
//   5. Replies: 2xx done (trace append when NOTIFY=SUCCESS), 5xx bounce
//      append then done, 4xx defer append. A bounce append that fails keeps
//      the recipient deferred, so no bounce is ever lost.
//   6. When a slice has no job left: expired deferrals become bounces
//      (status=expired). When it was the last one in memory and none is
//      left in the file: a bounce log is flushed; with deferrals left (any
//      slice's, or a slice that could not be read) the
//      finished recipients are marked done, a due delay warning is sent, and
//      the file moves to deferred/ with mtime = now + backoff; otherwise the
//      trace log is flushed, the defer log removed, and the file unlinked.
//
// Parameters (Settings): queue_directory, hash_queue_names, hash_queue_depth,
// qmgr_message_active_limit, qmgr_message_recipient_limit,
// qmgr_message_recipient_minimum, queue_run_delay,
// minimal_backoff_time, maximal_backoff_time, maximal_queue_lifetime,
// bounce_queue_lifetime, delay_warning_time, transport_retry_time,
// ipc_timeout, daemon_timeout (the wait for a delivery's reply),
// qmgr_ipc_timeout, rewrite_service_name, bounce_service_name,
// defer_service_name, trace_service_name, defer_transports, allow_min_user,
// initial_destination_concurrency,
// default_process_limit (and master.cf maxproc per transport), in_flow_delay,
// default_destination_concurrency_limit,
// default_destination_recipient_limit,
// default_destination_concurrency_failed_cohort_limit,
// default_destination_rate_delay, default_transport_rate_delay and the
// per-transport <transport>_destination_{concurrency_limit,recipient_limit,
// concurrency_failed_cohort_limit,rate_delay}, <transport>_transport_rate_delay.
//
// Rate delays, as in Postfix: with <transport>_destination_rate_delay > 0
// a destination (a domain, or a recipient when the recipient limit is 1)
// gets one delivery at a time and then waits that long before the next;
// with <transport>_transport_rate_delay > 0 the same holds for the whole
// transport. The waits live in this process only (a restart forgets them).
//
// Logs: "ID: from=<s>, size=N, nrcpt=N (queue active)", "ID: removed",
// status lines for recipients qmgr itself defers, bounces or expires,
// "ID: from=<s>, status=expired, returned to sender", warnings for corrupt
// files and unreachable services.
#pragma once

#include <chrono>
#include <cstdint>
#include <sys/types.h>

#include <deque>
#include <filesystem>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent_pool.h"
#include "aio/asio.h"
#include "base/result.h"
#include "config/config.h"
#include "ipc/proto/bounce.h"
#include "ipc/proto/deliver.h"
#include "ipc/trigger.h"
#include "queue/layout.h"
#include "queue/recycle.h"
#include "queue/queue_file.h"
#include "rewrite/client.h"
#include "scheduler.h"

namespace postern::qmgr {

struct Settings {
  std::filesystem::path queue_root;
  queue::HashConfig hash;
  std::size_t active_limit = 20000;
  std::size_t recipient_limit = 20000;   // qmgr_message_recipient_limit: in memory, all messages
  std::size_t recipient_minimum = 10;    // qmgr_message_recipient_minimum: a slice's least size
  Seconds queue_run_delay{300};
  Seconds min_backoff{300};
  Seconds max_backoff{4000};
  Seconds max_lifetime{5 * 86400};
  Seconds bounce_lifetime{5 * 86400};
  Seconds delay_warning{0};
  Seconds transport_retry{60};
  std::chrono::milliseconds request_timeout{3600 * 1000};     // ipc_timeout: sending a delivery request
  // daemon_timeout: the longest qmgr waits for an agent's reply. Postfix's
  // qmgr waits for as long as the agent lives, which its watchdog ends at
  // daemon_timeout; giving up sooner (a long transfer) would defer a
  // delivery the agent may still finish, and so send it twice.
  std::chrono::milliseconds delivery_timeout{18000 * 1000};
  std::chrono::milliseconds service_timeout{60 * 1000};     // qmgr_ipc_timeout: rewrite, bounce
  std::string rewrite_service = "rewrite";
  std::string bounce_service = "bounce";
  std::string defer_service = "defer";
  std::string trace_service = "trace";
  std::string myhostname = "localhost";  // a content filter's default nexthop
  std::string double_bounce_sender = "double-bounce";  // local mail to it is discarded
  QueueNameOptions queue_names;  // per-recipient queues ignore address extensions
  bool soft_bounce = false;  // qmgr's own bounces and expiry keep the mail queued
  std::set<std::string, std::less<>> defer_transports;  // delivered only on a flush
  bool allow_min_user = false;  // recipients may start with '-'; else they bounce (5.1.3)
  int initial_concurrency = 5;
  int process_limit = 100;
  bool in_flow = true;  // in_flow_delay > 0: keep cleanup's tokens (server/flow.h)
  // master.cf maxproc of each unix service (a transport's process limit
  // caps its concurrency); services not listed use process_limit.
  std::map<std::string, int> service_process_limits;
  // Value of a parameter by name ("" when neither set nor registered), for
  // the per-transport names that main.cf may invent.
  std::function<std::string(const std::string&)> lookup;

  static Result<Settings> from_config(const config::Config& cfg);
};

class QueueManager {
 public:
  QueueManager(asio::io_context& io, Settings s);
  ~QueueManager();

  // Crash recovery (active -> incoming), first scans, the periodic timer.
  void start();
  // One wake-up request (trigger bytes already parsed).
  void trigger(const ipc::TriggerRequest& r);

  // For tests and debug logs.
  std::size_t active_count() const { return active_.size(); }  // messages, not slices

 private:
  enum class RcptState { Pending, Done, Bounced, Deferred };
  struct RcptResult {
    RcptState state = RcptState::Pending;
    std::string dsn, text, relay;
  };
  // What the slices of one activation of a queue file share. Each slice
  // is a Message of its own (its recipients, their results, its jobs), so
  // that a finished slice leaves memory while later ones are delivered.
  struct Shared {
    std::uint64_t more_at = 0;     // record offset of the next unread pending recipient; 0: none left
    std::size_t parts = 0;         // slices in memory
    std::uint64_t serials = 0;     // slices read so far
    std::uint64_t newest = 0;      // the serial of the slice read last: the next is read off it
    std::size_t deferred = 0;      // recipients that finished slices left deferred
    bool redirected = false;       // the redirect address took its one recipient
    bool expiry_logged = false;    // "returned to sender" is logged once
    std::optional<Error> read_error;  // a later slice could not be read: the message stays
    queue::QueueMessage header;       // the envelope without recipients, for the later slices
  };
  struct Message {
    std::string id;
    std::filesystem::path path;  // in active/
    // The file's identity, to find it again in hold/ when postsuper -h
    // moved it there while its deliveries ran (see locate()).
    dev_t dev = 0;
    ino_t ino = 0;
    queue::QueueMessage env;
    std::int64_t active_usec = 0;
    bool from_deferred = false;
    bool flush = false;  // taken by a flush (scan all, F, unthrottle mark): defer_transports deliver too
    // The unthrottle mark (postqueue -i): the dead destinations and
    // transports of its recipients are revived before they are queued.
    bool unthrottle = false;
    // postsuper -e/-f set the expire mark (queue/update.h): no delivery,
    // every pending recipient goes back to the sender (force_expire()).
    bool force_expired = false;
    bool resolving = true;
    std::size_t outstanding = 0;  // jobs not yet completed
    std::size_t in_memory = 0;    // recipients counted against recipient_limit
    // env.recipients is one slice of the file's pending recipients.
    std::size_t unfinished = 0;   // of them, not yet delivered, bounced or deferred
    std::uint64_t serial = 0;     // 1 for the first slice of an activation
    std::shared_ptr<Shared> shared;
    std::vector<RcptResult> results;  // one per env.recipients entry
  };
  struct Job {
    std::shared_ptr<Message> msg;
    std::string transport;
    std::string nexthop;
    std::string dest_key;              // scheduling queue (transport + destination)
    std::vector<std::size_t> rcpts;    // indices into msg->env.recipients
    std::vector<std::string> encoded;  // request recipients, same order
  };
  struct Outcome {
    std::string dsn, text, relay;
    // For a 2xx: the success notice's DSN action (DeliveryReply::action);
    // empty: "delivered".
    std::string action = {};
  };
  struct Destination {
    std::string transport;
    Window window;
    int running = 0;
    std::chrono::steady_clock::time_point dead_until{};
    std::string dead_reason;
    // <transport>_destination_rate_delay: no delivery starts before this.
    std::chrono::steady_clock::time_point next_start{};
    // Round-robin over messages: each holds that message's queued jobs.
    std::list<std::pair<std::string, std::deque<Job>>> rr;
    ConnCache conn_cache;  // on-demand connection caching (delivery_flag::kConn*)
    explicit Destination(WindowLimits l) : window(l) {}
  };
  struct Transport {
    int running = 0;
    int limit = 100;
    std::size_t recipient_limit = 50;
    WindowLimits window;
    std::chrono::steady_clock::time_point dead_until{};
    std::string dead_reason;
    // <transport>_destination_rate_delay (then one delivery at a time per
    // destination) and <transport>_transport_rate_delay (one at a time for
    // the transport): the pause after each delivery before the next.
    Seconds dest_rate_delay{0}, rate_delay{0};
    std::chrono::steady_clock::time_point next_start{};
    bool paced() const { return dest_rate_delay.count() > 0 || rate_delay.count() > 0; }
  };

  // Scans (synchronous file system work, posted so triggers return at once).
  void request_scan(bool incoming, bool deferred, bool all);
  void run_scans();
  void recover_active();
  // flush: what the scan takes is delivered in spite of defer_transports.
  void scan_queue(queue::QueueName q, bool ignore_time, bool flush);
  bool has_room() const;
  // How many pending recipients the next read of a message may take:
  // what qmgr_message_recipient_limit leaves, at least
  // qmgr_message_recipient_minimum, at most 5,000; half of that while
  // other messages wait for room.
  std::size_t slice_size() const;
  // The next slice of m's file, read once m (the newest slice) is half
  // finished, so that deliveries go on while a slice's last ones run.
  void read_ahead_if_due(const std::shared_ptr<Message>& m);
  void read_slice(const std::shared_ptr<Message>& from);
  void activate(const queue::QueueEntry& e, queue::QueueName from, bool flush);
  void park(const std::filesystem::path& path, const std::string& id, Seconds delay);
  void to_corrupt(const std::filesystem::path& path, const std::string& id, const Error& why);

  // Resolution, one message at a time (bounded connections to rewrite).
  void admit(std::shared_ptr<Message> m);
  asio::awaitable<void> resolver_loop();
  asio::awaitable<void> resolve_message(std::shared_ptr<Message> m);

  // Scheduling and delivery.
  Transport& transport(const std::string& name);
  // at_head: before every other job of the destination.
  void enqueue(Job job, bool at_head = false);
  void schedule();
  void fail_queued(Destination& d, const std::string& dsn, const std::string& text);
  // The destination's next job, taking turns between its messages.
  std::optional<Job> pop_job(Destination& d);
  // A job the agent never read, back at the head of its destination.
  void requeue(Job job);
  // The next job for the lane of destination `key`, if the lane may carry
  // one (pipelined: sent before the current reply is in).
  std::optional<Job> take_for_lane(const std::string& key, bool pipelined);
  void end_lane(const std::string& key, const std::string& tname);
  // After a delivery of a rate-delayed transport or destination: when the
  // next may start, and a timer that schedules it then.
  void pace(const std::string& key, const std::string& tname);
  // `key`: the job's destination, whose state decides the connection
  // caching flags.
  ipc::proto::DeliveryRequest delivery_request(const Job& job, const std::string& key);
  // A lane to the job's destination (qmgr.cpp explains).
  asio::awaitable<void> deliver(Job first);
  asio::awaitable<void> complete_job(Job job, std::vector<Outcome> outcomes, bool qmgr_logs);
  asio::awaitable<void> finalize(std::shared_ptr<Message> m);
  asio::awaitable<void> force_expire(std::shared_ptr<Message> m);
  void forget(const std::shared_ptr<Message>& m);
  bool has_log(queue::QueueName q, const queue::QueueId& id) const;
  void mark_finished(Message& m, bool sync = true);
  // Where the message's file is now: its path in active/, or in hold/ when
  // postsuper -h moved it there meanwhile (the same inode); nullopt when it
  // is gone (postsuper -d). What qmgr finished must be marked in the held
  // file, or a release would deliver it again.
  std::optional<std::filesystem::path> locate(const Message& m) const;
  asio::awaitable<bool> flush_notice(const std::string& service, std::string_view what, const Message& m);

  // Services.
  asio::awaitable<Status> bounce_call(const std::string& service, ipc::proto::BounceRequest req);
  asio::awaitable<Status> append(const std::string& service, const Message& m, const std::vector<std::size_t>& idx,
                                 const std::vector<Outcome>& outcomes, const std::string& action);
  void log_status(const Message& m, std::size_t i, const Outcome& o, std::string_view status);

  asio::awaitable<void> timer_loop();

  asio::io_context& io_;
  Settings s_;
  rewrite::AsyncClient rw_;
  std::set<std::string, std::less<>> active_;  // IDs of the messages in active/ (their slices hold themselves)
  std::size_t in_memory_rcpts_ = 0;
  std::deque<std::shared_ptr<Message>> resolve_queue_;
  bool resolver_running_ = false;
  std::map<std::string, Destination> dests_;
  std::map<std::string, Transport> transports_;
  RoundRobin dest_rr_;
  bool scan_posted_ = false;
  bool want_incoming_ = false, want_deferred_ = false, want_all_ = false;
  bool want_flush_ = false;  // trigger F: the next scans' messages ignore defer_transports (Postfix)
  bool incoming_backlog_ = false, deferred_backlog_ = false, deferred_backlog_all_ = false;
  std::size_t fed_incoming_ = 0;  // taken from incoming/ since the last token refill
  asio::steady_timer timer_;
  // Finished files kept for cleanup to reuse, at most this many at a time.
  static constexpr std::size_t kRecycleCap = 1000;
  queue::Recycler recycler_;
  // Requests a lane may have outstanding at its agent (deliver()).
  static constexpr std::size_t kLaneDepth = 2;
  // Connections to delivery agents between deliveries.
  AgentPool agents_;
};

}  // namespace postern::qmgr
