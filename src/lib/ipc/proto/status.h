// status.h - the generic status reply every service may send.
//
// A service answers requests that need no data back (and any request it
// refuses) with this message. status 0 means success; other values are
// defined by the service's own header, with kStatusRetry and kStatusFail as
// the common meanings. `reason` is a short, single-line text for logs and
// bounce messages.
//
// Clients using ipc::Client::call<Reply>() get a "status" reply with a
// non-zero status back as an Error carrying the reason (see client.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>

#include "ipc/schema.h"

namespace postern::ipc::proto {

inline constexpr std::int64_t kStatusOk = 0;
inline constexpr std::int64_t kStatusRetry = 1;  // temporary: try again later
inline constexpr std::int64_t kStatusFail = 2;   // permanent: do not retry this request

struct StatusReply {
  static constexpr std::string_view kType = "status";

  std::int64_t status = kStatusOk;
  std::string reason;

  static constexpr auto fields() {
    return std::tuple{
        field("status", &StatusReply::status, {.min = 0, .max = 255}),
        field("reason", &StatusReply::reason, {.max_len = 1024, .single_line = true}),
    };
  }
  bool operator==(const StatusReply&) const = default;
};

// For a caller that expected some other reply: the Error that a "status"
// payload stands for (the service's refusal and reason; a malformed status
// message or a bare status 0 is an error too). nullopt when the payload is
// not a status message at all.
inline std::optional<Error> refusal(std::string_view payload) {
  auto type = peek_type(payload);
  if (!type || *type != StatusReply::kType) return std::nullopt;
  auto reply = decode<StatusReply>(payload);
  if (!reply) return make_error("malformed reply: {}", reply.error().message);
  if (reply->status == kStatusOk) return make_error("status reply without the requested data");
  return make_error("service refused request: status {}: {}", reply->status,
                    reply->reason.empty() ? "(no reason given)" : reply->reason);
}

}  // namespace postern::ipc::proto
