// bounce.h - the bounce, defer and trace services (one program, three sockets).
//
// Sockets: queue_directory/private/$bounce_service_name, $defer_service_name
// and $trace_service_name (master.cf "bounce", "defer", "trace", all running
// the bounce program). The service a request arrives on names the log it is
// about: bounce/ID (recipients that failed), defer/ID (recipients that are
// delayed) or trace/ID (recipients delivered, for NOTIFY=SUCCESS and
// sendmail -v). The log format is queue/status_log.h.
//
// One connection may carry many requests, one at a time; each is answered
// with a StatusReply (status.h): 0 done, kStatusRetry (try again later: disk
// full, cleanup unreachable), kStatusFail (refused: bad request).
//
//   op=append  queue_id recipients[] dsn[] text[] relay[] action
//       Append one entry per recipient to <service>/ID and fsync before the
//       reply. qmgr marks a bounced recipient done only after this
//       succeeded, so a crash never loses the reason for a bounce.
//   op=flush   queue_name queue_id
//       bounce: send the non-delivery notification (RFC 3464) for every
//         entry of bounce/ID to the message's sender, then remove the log.
//       trace: send the delivery (success) notification for the entries that
//         asked for it (NOTIFY=SUCCESS), then remove the log.
//       defer: refused (kStatusFail): expiry is handled by qmgr appending
//         to the bounce log.
//       The notification is submitted through cleanup with the null sender
//       and the original message (RET=FULL) or its headers (RET=HDRS, and
//       the default) read from queue_name/queue_id, so qmgr flushes before it
//       removes the queue file. A message whose sender is the null sender is
//       never bounced back: its failure goes once to 2bounce_notice_recipient.
//   op=warn    queue_name queue_id
//       defer only: send a delay notification for the entries of defer/ID
//       (NOTIFY unspecified or including DELAY); the log stays.
//   op=remove  queue_id
//       Remove <service>/ID if it exists (the message is gone).
//
// Reads no parameters, logs nothing.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "base/result.h"
#include "ipc/schema.h"
#include "queue/queue_file.h"

namespace postern::ipc::proto {

enum class BounceOp { Append, Flush, Warn, Remove };

inline constexpr EnumName<BounceOp> kBounceOpNames[] = {
    {"append", BounceOp::Append},
    {"flush", BounceOp::Flush},
    {"warn", BounceOp::Warn},
    {"remove", BounceOp::Remove},
};
constexpr std::span<const EnumName<BounceOp>> ipc_enum_names(BounceOp) { return kBounceOpNames; }

inline constexpr std::size_t kMaxBounceEntries = 1000;

struct BounceRequest {
  static constexpr std::string_view kType = "bounce_request";

  BounceOp op = BounceOp::Append;
  std::string queue_name;  // flush/warn: where the queue file is ("active", "deferred")
  std::string queue_id;
  // append only: parallel lists, one item per recipient. recipients[i] is
  // queue::encode_recipient() output; dsn "5.1.1"; text the diagnostic
  // ("host mx[1.2.3.4] said: 550 5.1.1 no such user"); relay "mx[1.2.3.4]:25"
  // or "none".
  std::vector<std::string> recipients;
  std::vector<std::string> dsn;
  std::vector<std::string> text;
  std::vector<std::string> relay;
  // append only: RFC 3464 action: "failed", "delayed", "delivered",
  // "relayed", "expanded". Empty for the other ops.
  std::string action;

  static constexpr auto fields() {
    return std::tuple{
        field("op", &BounceRequest::op, {.max_len = 16}),
        field("queue_name", &BounceRequest::queue_name, {.max_len = 32, .single_line = true}),
        field("queue_id", &BounceRequest::queue_id, {.max_len = 32, .single_line = true}),
        field("recipients", &BounceRequest::recipients,
              {.max_len = queue::kMaxEnvelopeRecord, .max_items = kMaxBounceEntries}),
        field("dsn", &BounceRequest::dsn, {.max_len = 16, .single_line = true, .max_items = kMaxBounceEntries}),
        field("text", &BounceRequest::text, {.max_len = 1024, .single_line = true, .max_items = kMaxBounceEntries}),
        field("relay", &BounceRequest::relay, {.max_len = 1024, .single_line = true, .max_items = kMaxBounceEntries}),
        field("action", &BounceRequest::action, {.max_len = 16, .single_line = true}),
    };
  }

  Status check() const {
    if (queue_id.empty()) return make_error("empty queue_id");
    if (op == BounceOp::Append) {
      if (recipients.empty()) return make_error("append without recipients");
      if (dsn.size() != recipients.size() || text.size() != recipients.size() || relay.size() != recipients.size())
        return make_error("recipients, dsn, text and relay lists differ in length");
      if (action != "failed" && action != "delayed" && action != "delivered" && action != "relayed" &&
          action != "expanded")
        return make_error("bad action");
      for (const auto& r : recipients) {
        auto d = queue::decode_recipient(r);
        if (!d) return make_error("bad recipient: {}", d.error().message);
      }
    } else {
      if (!recipients.empty() || !dsn.empty() || !text.empty() || !relay.empty() || !action.empty())
        return make_error("recipient data outside append");
      if ((op == BounceOp::Flush || op == BounceOp::Warn) && queue_name.empty())
        return make_error("flush/warn without queue_name");
    }
    return {};
  }
  bool operator==(const BounceRequest&) const = default;
};

// One status entry of an append (see BounceRequest).
struct BounceEntry {
  std::string recipient;  // queue::encode_recipient() output
  std::string dsn, text, relay;
};

// The append requests that carry `entries` for `queue_id`, at most
// kMaxBounceEntries each, to be sent in turn (qmgr's outcomes, pickup's
// refused submission, cleanup's "expanded" notices).
inline std::vector<BounceRequest> append_requests(std::string_view queue_id, std::string_view action,
                                                  std::vector<BounceEntry> entries) {
  std::vector<BounceRequest> out;
  for (std::size_t from = 0; from < entries.size(); from += kMaxBounceEntries) {
    BounceRequest req;
    req.op = BounceOp::Append;
    req.queue_id = std::string(queue_id);
    req.action = std::string(action);
    for (std::size_t k = from; k < entries.size() && k < from + kMaxBounceEntries; ++k) {
      req.recipients.push_back(std::move(entries[k].recipient));
      req.dsn.push_back(std::move(entries[k].dsn));
      req.text.push_back(std::move(entries[k].text));
      req.relay.push_back(std::move(entries[k].relay));
    }
    out.push_back(std::move(req));
  }
  return out;
}

}  // namespace postern::ipc::proto
