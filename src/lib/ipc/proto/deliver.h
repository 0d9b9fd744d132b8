// deliver.h - the delivery request qmgr sends to a delivery agent.
//
// Socket: queue_directory/private/<transport>, the master.cf service that
// trivial-rewrite (or transport_maps) named for the recipients: "local",
// "smtp", "relay", ... A connection carries one request and its reply at a
// time, and qmgr may send the next request on it once the reply is in:
//
//   qmgr  -> agent   delivery_request {queue id, next hop, recipients, ...}
//   agent -> qmgr    delivery_reply   {one dsn/text/relay per recipient, closing}
//   qmgr  -> agent   delivery_request ...                  (unless closing = 1)
//
// Reusing the connection spares each delivery a connect and accept, and the
// agent's busy/available reports to the master (docs/ipc.md). The agent
// says closing = 1 when it will not read another request (it retires after
// max_use deliveries, or stops); qmgr then lets the connection go.
//
// The agent opens the queue file itself (queue_directory/<queue_name>/<id>,
// read-only, with queue::QueueFileReader) for the sender, the DSN
// attributes and the content; the request carries what qmgr decided (the
// next hop, which recipients this agent gets, the times for the log's
// delays= field) so the agent never has to guess.
//
// The agent does the delivery, logs one Postfix-shaped status line per
// recipient ("ID: to=<...>, relay=..., delay=..., delays=a/b/c/d,
// dsn=2.0.0, status=sent (...)", deliver/status_log.h) and answers with the
// outcome of each recipient in request order. It never changes the queue
// file: qmgr alone marks recipients done, appends to the bounce/defer/trace
// logs (through the bounce service), moves and removes the file. The class
// digit of each dsn decides: 2 delivered, 4 try again later, 5 bounce.
//
// A connection that closes without a well-formed reply means "every
// recipient deferred" (4.3.0, the agent crashed or misbehaved): nothing is
// ever taken as delivered without the agent's word.
//
// Reads no parameters, logs nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "base/result.h"
#include "ipc/schema.h"
#include "queue/queue_file.h"

namespace postern::ipc::proto {

// Most recipients one request may carry (qmgr's per-transport
// <transport>_destination_recipient_limit is capped to this).
inline constexpr std::size_t kMaxDeliveryRecipients = 1000;

namespace delivery_flag {
inline constexpr std::int64_t kTrace = 1 << 0;    // sendmail -v / -bv style: report every recipient to trace
inline constexpr std::int64_t kRetry = 1 << 1;    // the message was deferred before (informational)
// On-demand connection caching (Postfix's DEL_REQ_FLAG_CONN_LOAD/STORE):
// qmgr sets them while a destination gets concurrent or back-to-back
// deliveries; smtp and lmtp then take a cached session for it (load) and
// keep theirs when done (store), if *_connection_cache_on_demand allows.
inline constexpr std::int64_t kConnLoad = 1 << 2;
inline constexpr std::int64_t kConnStore = 1 << 3;
inline constexpr std::int64_t kConnCache = kConnLoad | kConnStore;
inline constexpr std::int64_t kKnown = kTrace | kRetry | kConnCache;
}  // namespace delivery_flag

struct DeliveryRequest {
  static constexpr std::string_view kType = "delivery_request";

  std::string queue_name;  // "active" (a queue::QueueName spelling)
  std::string queue_id;    // the queue file's name
  std::string nexthop;     // from trivial-rewrite/transport_maps: domain, [host]:port, user name, ...
  std::int64_t flags = 0;  // delivery_flag bits
  // Microseconds since the epoch, for delays=a/b/c/d: when the message
  // arrived (queue file T record) and when qmgr moved it into the active
  // queue; the agent measures c and d itself.
  std::int64_t arrival_usec = 0;
  std::int64_t active_usec = 0;
  // Each item is a recipient as queue::encode_recipient() writes it: the
  // address to deliver to (after trivial-rewrite's resolve), the original
  // recipient, the DSN ORCPT and NOTIFY.
  std::vector<std::string> recipients;

  static constexpr auto fields() {
    return std::tuple{
        field("queue_name", &DeliveryRequest::queue_name, {.max_len = 32, .single_line = true}),
        field("queue_id", &DeliveryRequest::queue_id, {.max_len = 32, .single_line = true}),
        field("nexthop", &DeliveryRequest::nexthop, {.max_len = 1024, .single_line = true}),
        field("flags", &DeliveryRequest::flags, {.min = 0}),
        field("arrival_usec", &DeliveryRequest::arrival_usec, {.min = 0}),
        field("active_usec", &DeliveryRequest::active_usec, {.min = 0}),
        field("recipients", &DeliveryRequest::recipients,
              {.max_len = queue::kMaxEnvelopeRecord, .max_items = kMaxDeliveryRecipients}),
    };
  }

  Status check() const {
    if (flags & ~delivery_flag::kKnown) return make_error("undefined flag bits 0x{:x}", flags & ~delivery_flag::kKnown);
    if (recipients.empty()) return make_error("no recipients");
    for (const auto& r : recipients) {
      auto d = queue::decode_recipient(r);
      if (!d) return make_error("bad recipient: {}", d.error().message);
    }
    return {};
  }
  bool operator==(const DeliveryRequest&) const = default;
};

// One entry per request recipient, same order, in three parallel lists.
// DeliveryReply::action values.
inline constexpr std::string_view kSuccessDelivered = "delivered";
inline constexpr std::string_view kSuccessRelayed = "relayed";
inline constexpr std::string_view kSuccessNone = "none";
inline constexpr std::string_view kSuccessExpanded = "expanded";

struct DeliveryReply {
  static constexpr std::string_view kType = "delivery_reply";

  std::vector<std::string> dsn;    // RFC 3463 status: "2.0.0", "4.4.1", "5.1.1"
  std::vector<std::string> text;   // diagnostic for logs and DSNs ("250 2.0.0 Ok: queued as X",
                                   // "delivered to maildir"); may hold remote text: one line
  std::vector<std::string> relay;  // "mx.example.com[192.0.2.1]:25", "local", "none"
  // 1 when nothing reached the destination (connection refused, greeting
  // 4xx, DNS failure...): qmgr counts this against the destination's
  // concurrency cohort and may mark it dead. 0 when the destination talked.
  std::int64_t site_failure = 0;
  // 1: the agent closes the connection after this reply; 0: qmgr may send
  // the next request on it.
  std::int64_t closing = 0;
  // Per recipient, for a 2xx: the DSN action of its success notice
  // ("delivered": final delivery, the default when absent; "relayed":
  // handed to an MTA that does not speak DSN; "none": handed to one that
  // does and got NOTIFY, so that it, not we, says so; "expanded": local(8)
  // expanded an alias or .forward whose members get no success notice of
  // their own). Postfix's smtp(8) and local(8) rules.
  std::optional<std::vector<std::string>> action;

  static constexpr auto fields() {
    return std::tuple{
        field("dsn", &DeliveryReply::dsn, {.max_len = 16, .single_line = true, .max_items = kMaxDeliveryRecipients}),
        field("text", &DeliveryReply::text, {.max_len = 1024, .single_line = true, .max_items = kMaxDeliveryRecipients}),
        field("relay", &DeliveryReply::relay, {.max_len = 1024, .single_line = true, .max_items = kMaxDeliveryRecipients}),
        field("site_failure", &DeliveryReply::site_failure, {.min = 0, .max = 1}),
        field("closing", &DeliveryReply::closing, {.min = 0, .max = 1}),
        field("action", &DeliveryReply::action, {.max_len = 16, .single_line = true, .max_items = kMaxDeliveryRecipients}),
    };
  }

  Status check() const {
    if (dsn.size() != text.size() || dsn.size() != relay.size())
      return make_error("dsn, text and relay lists differ in length");
    if (action) {
      if (action->size() != dsn.size()) return make_error("action list differs in length");
      for (const auto& a : *action)
        if (a != kSuccessDelivered && a != kSuccessRelayed && a != kSuccessNone && a != kSuccessExpanded)
          return make_error("bad action");
    }
    for (const auto& d : dsn) {
      if (d.size() < 5 || (d[0] != '2' && d[0] != '4' && d[0] != '5') || d[1] != '.')
        return make_error("bad status code");
    }
    return {};
  }
  bool operator==(const DeliveryReply&) const = default;
};

}  // namespace postern::ipc::proto
