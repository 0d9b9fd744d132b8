// listing.cpp - see listing.h.
#include "listing.h"

#include <sys/stat.h>

#include <cerrno>
#include <unordered_map>

#include "queue/queue_file.h"
#include "queue/reader.h"
#include "queue/status_log.h"
#include "queue/update.h"

namespace postern::showq {

namespace {

// recipient -> the reason of its latest "delayed" entry in defer/ID.
std::unordered_map<std::string, std::string> defer_reasons(const ListOptions& o, const queue::QueueId& id) {
  std::unordered_map<std::string, std::string> out;
  auto log = queue::read_status_log(queue::queue_path(o.queue_root, queue::QueueName::Defer, id, o.hash));
  if (!log) return out;  // usually ENOENT: no log yet
  for (auto& e : log->entries) {
    if (e.action != "delayed" && e.action != "failed") continue;
    std::string reason = e.reason.empty() ? e.status : e.reason;
    if (reason.size() > ipc::proto::kShowqMaxReason) reason.resize(ipc::proto::kShowqMaxReason);
    out[e.recipient] = std::move(reason);
  }
  return out;
}

}  // namespace

Result<ipc::proto::ShowqEntry> describe(const ListOptions& o, queue::QueueName q, const queue::QueueEntry& e) {
  // The content is never needed for a listing: skip walking it.
  // The listing shows at most kShowqMaxRecipients pending recipients and
  // counts the rest: no more are kept in memory.
  queue::ReadOptions ro{.require_ready = true,
                        .verify_content = false,
                        .writable = false,
                        .max_recipients = ipc::proto::kShowqMaxRecipients,
                        .pending_only = true};
  auto msg = queue::read_queue_file(e.path, ro);
  if (!msg) return msg.take_error();
  ipc::proto::ShowqEntry out;
  out.queue_name = std::string(queue::to_string(q));
  out.queue_id = e.id.str();
  out.arrival_time = msg->arrival_sec < 0 ? 0 : msg->arrival_sec;
  out.message_size = static_cast<std::int64_t>(msg->size.content_size);
  out.sender = msg->sender;
  // The mark postsuper -e/-f sets; read after the file, so a file that
  // vanished in between is simply not marked.
  if (struct stat st {}; ::lstat(e.path.c_str(), &st) == 0) out.forced_expire = queue::is_force_expired_mode(st.st_mode);
  // A message in any queue may have a defer log: one released from hold,
  // or being retried in active/ right now (Postfix's showq looks too).
  std::unordered_map<std::string, std::string> reasons = defer_reasons(o, e.id);
  std::size_t bytes = 0;
  for (const auto& r : msg->recipients) {
    if (r.done) continue;
    const std::string& addr = r.fields.address;
    std::string reason;
    if (auto it = reasons.find(addr); it != reasons.end()) reason = it->second;
    if (out.recipients.size() >= ipc::proto::kShowqMaxRecipients ||
        bytes + addr.size() + reason.size() > ipc::proto::kShowqMaxRecipientBytes) {
      ++out.recipients_omitted;
      continue;
    }
    bytes += addr.size() + reason.size() + 8;
    out.recipients.push_back(addr);
    out.reasons.push_back(std::move(reason));
  }
  out.recipients_omitted += static_cast<decltype(out.recipients_omitted)>(msg->recipients_not_kept);
  return out;
}

Result<ListStats> list_queues(const ListOptions& o, const std::function<bool(ipc::proto::ShowqEntry&)>& sink) {
  ListStats stats;
  for (auto q : kListedQueues) {
    queue::QueueScanner scanner(o.queue_root, q, o.hash);
    for (;;) {
      auto next = scanner.next();
      if (!next) {
        // A queue directory that does not exist (yet) is an empty queue.
        if (next.error().sys_errno == ENOENT) break;
        return next.take_error();
      }
      if (!*next) break;
      auto entry = describe(o, q, **next);
      if (!entry) {
        ++stats.skipped;
        continue;
      }
      stats.size += entry->message_size;
      ++stats.messages;
      if (!sink(*entry)) return make_error("listing aborted by the client");
    }
  }
  return stats;
}

}  // namespace postern::showq
