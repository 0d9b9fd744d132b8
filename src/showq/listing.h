// listing.h - walk the mail queues and describe each message, one at a time.
//
// Used by the showq daemon (which streams the entries to postqueue) and by
// postqueue itself when showq is unreachable and the caller may read the
// queue directly (root). Nothing here holds more than one message: the
// caller gets each entry through a callback and may send it on and forget
// it, so a queue of 100,000 messages is listed in bounded memory.
//
// What is listed, queue by queue (maildrop, active, incoming, deferred,
// hold, Postfix's order), for each name the scanner yields as a queue ID:
//   - the envelope, read with verify_content off (the content is never
//     read) and the ready mark required: a file without it is still being
//     written (or its writer died) and is skipped, as are files that
//     vanish under us (qmgr moved them) and damaged files;
//   - pending recipients only (done ones are finished business);
//   - for deferred messages, each recipient's latest "delayed" reason from
//     defer/ID (queue/status_log.h).
// Skipped files are counted, not reported one by one: a listing must not
// fail or flood because one file is odd.
//
// Reads no parameters (the caller passes them), logs nothing.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "base/result.h"
#include "ipc/proto/showq.h"
#include "queue/layout.h"

namespace postern::showq {

struct ListOptions {
  std::filesystem::path queue_root;  // queue_directory ("/" after chroot)
  queue::HashConfig hash;
};

struct ListStats {
  std::int64_t messages = 0;
  std::int64_t size = 0;
  std::int64_t skipped = 0;
};

// The queues listed, in order.
// Postfix's showq order.
inline constexpr queue::QueueName kListedQueues[] = {queue::QueueName::Maildrop, queue::QueueName::Active,
                                                     queue::QueueName::Incoming, queue::QueueName::Deferred,
                                                     queue::QueueName::Hold};

// Describes one queue file, or an Error when it cannot be listed (not
// ready, vanished, damaged): the caller counts it as skipped.
Result<ipc::proto::ShowqEntry> describe(const ListOptions& o, queue::QueueName q, const queue::QueueEntry& e);

// Calls `sink` for every listable message. A sink returning false stops
// the walk (the client went away); the result is then an Error. An Error
// also when a queue directory cannot be read at all.
Result<ListStats> list_queues(const ListOptions& o, const std::function<bool(ipc::proto::ShowqEntry&)>& sink);

}  // namespace postern::showq
