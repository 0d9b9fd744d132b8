// worker.h - identity workers for the privileged delivery agents (local(8),
// virtual(8)): long-lived, privilege-dropped children that do the file work
// of deliveries.
//
// Every read of a user's .forward or :include: file and every write into a
// mailbox, Maildir or /file happens in a process that has become the
// recipient (or the alias owner, or default_privs; for virtual, the
// virtual_uid_maps/virtual_gid_maps identity) for good: setgroups, setgid,
// setuid, and a check that setuid(0) now fails. src/local/agent.h explains
// why a separate process rather than Postfix's seteuid() round trips.
//
// Forking one such process per delivery cost more than the delivery itself
// on small machines (page-table copies, copy-on-write faults, teardown), so
// the agent keeps one worker per identity for its own lifetime (at most
// max_use requests, then the master replaces it) and hands it tasks:
//
//   agent  -> worker   [fds channel]  one datagram, the queue file descriptor
//                                     attached (SCM_RIGHTS) when the task needs
//                                     the message content
//   agent  -> worker   [ctl channel]  delivery_task   {kind, paths, envelope, ...}
//   worker -> agent    [ctl channel]  delivery_result {dsn, errno, text, payload}
//
// ctl is a stream socketpair carrying ipc frames (ipc/client.h); fds is a
// SOCK_SEQPACKET socketpair, so a closed agent reads as end of file. A
// worker only ever serves the one identity it dropped to, so what one task
// leaves in its memory is that identity's own data. It keeps no descriptor
// from the agent except its two channels and the log (file or syslog
// socket), exits when the agent closes the channels, and is killed when the
// agent has to forget it (pool full, a broken channel, a task past its time
// limit).
//
// Tasks are retried on a fresh worker only when the request could not be
// sent; once a worker has the task, a lost answer means "try again later"
// (4.3.0), never "delivered".
//
// Reads no parameters (the agent passes the time limit). Logs warnings
// about workers that cannot be started or die. The task kinds and what they
// do are the agent's (the Executor); this file only carries them.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "base/unique_fd.h"
#include "deliver/command.h"
#include "deliver/outcome.h"
#include "ipc/client.h"
#include "ipc/schema.h"
#include "queue/queue_file.h"
#include "queue/reader.h"

namespace postern::deliver {

// What a worker reports: the outcome and, for file reads, the text.
struct ChildResult {
  Outcome outcome;
  std::string payload;
};

// The largest payload a task returns (a .forward or :include: file).
inline constexpr std::size_t kMaxChildPayload = 1 << 20;

// One unit of file work. `kind` names what to do; the other fields are its
// arguments (unused ones stay empty).
struct Task {
  static constexpr std::string_view kType = "delivery_task";

  std::string kind;                  // the agent's task kinds (local: forward, include, maildir, mbox, file)
  std::string queue_id;              // names the content descriptor in messages
  std::vector<std::string> paths;    // the file(s) to read or deliver to
  std::string sender;                // envelope for the copy
  std::string original_recipient;
  std::string delivered_to;
  std::string user_name;             // the mailbox owner (messages, ownership checks)
  std::int64_t user_uid = 0;
  std::int64_t user_gid = 0;
  bool flag = false;                 // kind-specific (mbox: dot lock may fail)

  static constexpr auto fields() {
    using ipc::field;
    return std::tuple{
        field("kind", &Task::kind, {.max_len = 16, .single_line = true}),
        field("queue_id", &Task::queue_id, {.max_len = 64, .single_line = true}),
        field("paths", &Task::paths, {.max_len = 4096, .single_line = true, .max_items = 64}),
        field("sender", &Task::sender, {.max_len = queue::kMaxEnvelopeRecord}),
        field("original_recipient", &Task::original_recipient, {.max_len = queue::kMaxEnvelopeRecord}),
        field("delivered_to", &Task::delivered_to, {.max_len = queue::kMaxEnvelopeRecord}),
        field("user_name", &Task::user_name, {.max_len = 256, .single_line = true}),
        field("user_uid", &Task::user_uid, {.min = 0, .max = 0xffffffffLL}),
        field("user_gid", &Task::user_gid, {.min = 0, .max = 0xffffffffLL}),
        field("flag", &Task::flag),
    };
  }
};

struct TaskResult {
  static constexpr std::string_view kType = "delivery_result";

  std::string dsn;
  std::int64_t sys_errno = 0;
  std::string text;
  std::string payload;

  static constexpr auto fields() {
    using ipc::field;
    return std::tuple{
        field("dsn", &TaskResult::dsn, {.max_len = 16, .single_line = true}),
        field("sys_errno", &TaskResult::sys_errno, {.min = 0, .max = 4095}),
        field("text", &TaskResult::text, {.max_len = 8192}),
        field("payload", &TaskResult::payload, {.max_len = kMaxChildPayload + 64}),
    };
  }
};

// Who a worker runs as: nothing (keep the agent's identity) or a user with
// their supplementary groups.
struct Identity {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;  // for the group list; empty: just gid
};

// Supplementary groups of `id` (getgrouplist), as credentials to drop to.
Credentials credentials_of(const Identity& id);

class WorkerPool {
 public:
  // `execute` runs inside the worker, after the drop; `reader` is the queue
  // file the agent passed, or nullptr.
  using Executor = std::function<ChildResult(const Task&, const queue::QueueFileReader* reader)>;

  // `agent` names the agent in the channels' error messages ("local").
  WorkerPool(Executor execute, std::chrono::seconds time_limit, std::size_t max_workers = 8,
             std::string agent = "local");
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Runs `task` as `as` (nullopt: the agent's own identity, also when the
  // agent is not root), with `queue_fd` (the open queue file, -1: none).
  ChildResult run(const std::optional<Identity>& as, const Task& task, int queue_fd);

  std::size_t size() const { return workers_.size(); }

 private:
  struct Worker {
    std::string key;
    pid_t pid = -1;
    std::optional<ipc::Client> ctl;
    UniqueFd fds;
    std::uint64_t last_use = 0;
  };

  Worker* find_or_start(const std::optional<Identity>& as, const std::string& key, std::string& why);
  void forget(std::size_t index);

  Executor execute_;
  std::chrono::seconds time_limit_;
  std::string agent_;
  std::size_t max_workers_;
  std::vector<Worker> workers_;
  std::uint64_t clock_ = 0;
};

}  // namespace postern::deliver
