// showq.h - the queue listing service (showq), spoken by postqueue -p / -j.
//
// Socket: queue_directory/public/$showq_service_name (master.cf
// "showq unix n - n - - showq"). Public, so that postqueue (set-gid
// setgid_group) can list the queue for users who cannot read it.
//
// One connection, one listing:
//
//   client                      showq
//   showq_request {}      ->
//                         <-    showq_entry {...}    zero or more, one per message
//                         <-    showq_end {messages, size, skipped}
//
// The server streams one entry per queue file as it reads it and never
// holds the whole queue, so 100,000 messages cost the same memory as one.
// Entries come queue by queue: maildrop, active, incoming, deferred, hold.
// A client that stops reading only stalls the server until its write
// deadline; closing the connection ends the listing. A malformed request
// is refused with a status reply (status.h).
//
// Recipients: the pending ones (not yet delivered), in file order, with a
// parallel list of reasons: the latest "delayed" reason from the message's
// defer log (queue/status_log.h) for that recipient, empty when there is
// none. A message with more recipients than fit in one frame lists the
// first ones and counts the rest in `recipients_omitted`.
//
// Reads no parameters, logs nothing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "base/result.h"
#include "ipc/schema.h"

namespace postern::ipc::proto {

// Bounds of one entry: at most this many recipients, and about this many
// bytes of addresses and reasons together (the frame limit is 1 MiB).
inline constexpr std::size_t kShowqMaxRecipients = 1000;
inline constexpr std::size_t kShowqMaxRecipientBytes = 512 * 1024;
inline constexpr std::size_t kShowqMaxReason = 1024;

struct ShowqRequest {
  static constexpr std::string_view kType = "showq_request";
  static constexpr auto fields() { return std::tuple{}; }
  bool operator==(const ShowqRequest&) const = default;
};

struct ShowqEntry {
  static constexpr std::string_view kType = "showq_entry";

  std::string queue_name;  // maildrop, incoming, active, deferred, hold
  std::string queue_id;
  std::int64_t arrival_time = 0;  // unix seconds
  std::int64_t message_size = 0;  // content bytes (queue file size for unreadable maildrop files)
  bool forced_expire = false;     // postsuper -e/-f marked it (queue/update.h)
  std::string sender;             // empty: the null sender
  std::vector<std::string> recipients;
  std::vector<std::string> reasons;  // parallel to recipients; "" = none
  std::int64_t recipients_omitted = 0;

  static constexpr auto fields() {
    return std::tuple{
        field("queue_name", &ShowqEntry::queue_name, {.max_len = 16, .single_line = true}),
        field("queue_id", &ShowqEntry::queue_id, {.max_len = 32, .single_line = true}),
        field("arrival_time", &ShowqEntry::arrival_time, {.min = 0}),
        field("message_size", &ShowqEntry::message_size, {.min = 0}),
        field("forced_expire", &ShowqEntry::forced_expire),
        field("sender", &ShowqEntry::sender, {.max_len = 4096, .single_line = true}),
        field("recipients", &ShowqEntry::recipients,
              {.max_len = 4096, .single_line = true, .max_items = kShowqMaxRecipients}),
        field("reasons", &ShowqEntry::reasons,
              {.max_len = kShowqMaxReason, .single_line = true, .max_items = kShowqMaxRecipients}),
        field("recipients_omitted", &ShowqEntry::recipients_omitted, {.min = 0}),
    };
  }
  Status check() const {
    if (reasons.size() != recipients.size()) return make_error("reasons and recipients differ in length");
    static constexpr std::string_view kQueues[] = {"maildrop", "incoming", "active", "deferred", "hold"};
    for (auto q : kQueues)
      if (queue_name == q) return {};
    return make_error("unknown queue name");
  }
  bool operator==(const ShowqEntry&) const = default;
};

struct ShowqEnd {
  static constexpr std::string_view kType = "showq_end";

  std::int64_t messages = 0;  // entries sent
  std::int64_t size = 0;      // sum of their message_size
  std::int64_t skipped = 0;   // files not listed (being written, vanished, damaged)

  static constexpr auto fields() {
    return std::tuple{
        field("messages", &ShowqEnd::messages, {.min = 0}),
        field("size", &ShowqEnd::size, {.min = 0}),
        field("skipped", &ShowqEnd::skipped, {.min = 0}),
    };
  }
  bool operator==(const ShowqEnd&) const = default;
};

}  // namespace postern::ipc::proto
