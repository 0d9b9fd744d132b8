// proxymap.h - the lookup table proxy (proxymap), asked by chrooted daemons
// for proxy:type:name tables.
//
// Socket: queue_directory/private/$proxymap_service_name (master.cf
// "proxymap unix - - n - - proxymap": not chrooted, so that it reaches what
// a jail cannot, such as the system's passwd database).
//
// A client keeps one connection per process and sends requests one at a
// time:
//
//   client                                          proxymap
//   proxymap_request {request=open, table, fold_fix, fold_mul}    ->
//                                                   <-  proxymap_reply {status, fixed}
//   proxymap_request {request=lookup, table, fold_fix, fold_mul, key} ->
//                                                   <-  proxymap_reply {status, value}
//
// `table` is "type:name" without the proxy: prefix; it must be listed (as
// proxy:type:name) in proxy_read_maps, or the status is deny. status: ok
// (found; `value`), notfound, retry (the table could not answer: the caller
// defers), deny (not in proxy_read_maps), bad (a table that cannot be
// opened). A malformed request is refused and its connection closed.
// `fixed` tells the client whether the table
// takes fixed-string keys (address searches then try the partial keys).
//
// Reads no parameters, logs nothing.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <tuple>

#include "base/result.h"
#include "ipc/schema.h"

namespace postern::ipc::proto {

// A table spec and a key are bounded like the ones main.cf and an address
// can hold. A value leaves room below the frame limit (1 MiB) for the rest
// of the reply, so that proxymap can answer "retry" for a longer one
// instead of failing to send its reply.
inline constexpr std::size_t kProxymapMaxTable = 4096;
inline constexpr std::size_t kProxymapMaxKey = 4096;
inline constexpr std::size_t kProxymapMaxValue = 1000 * 1000;

enum class ProxymapOp { Open, Lookup };
inline constexpr EnumName<ProxymapOp> kProxymapOpNames[] = {
    {"open", ProxymapOp::Open},
    {"lookup", ProxymapOp::Lookup},
};
constexpr std::span<const EnumName<ProxymapOp>> ipc_enum_names(ProxymapOp) { return kProxymapOpNames; }

enum class ProxymapStatus { Ok, NotFound, Retry, Deny, Bad };
inline constexpr EnumName<ProxymapStatus> kProxymapStatusNames[] = {
    {"ok", ProxymapStatus::Ok},       {"notfound", ProxymapStatus::NotFound}, {"retry", ProxymapStatus::Retry},
    {"deny", ProxymapStatus::Deny},   {"bad", ProxymapStatus::Bad},
};
constexpr std::span<const EnumName<ProxymapStatus>> ipc_enum_names(ProxymapStatus) { return kProxymapStatusNames; }

struct ProxymapRequest {
  static constexpr std::string_view kType = "proxymap_request";

  ProxymapOp request = ProxymapOp::Lookup;
  std::string table;
  bool fold_fix = true;
  bool fold_mul = false;
  std::string key;

  static constexpr auto fields() {
    return std::tuple{
        field("request", &ProxymapRequest::request, {.max_len = 16}),
        field("table", &ProxymapRequest::table, {.max_len = kProxymapMaxTable, .single_line = true}),
        field("fold_fix", &ProxymapRequest::fold_fix),
        field("fold_mul", &ProxymapRequest::fold_mul),
        field("key", &ProxymapRequest::key, {.max_len = kProxymapMaxKey}),
    };
  }
  Status check() const {
    if (table.find(':') == std::string::npos) return make_error("table {} is not type:name", table);
    return {};
  }
  bool operator==(const ProxymapRequest&) const = default;
};

struct ProxymapReply {
  static constexpr std::string_view kType = "proxymap_reply";

  ProxymapStatus status = ProxymapStatus::Ok;
  bool fixed = true;
  std::string value;

  static constexpr auto fields() {
    return std::tuple{
        field("status", &ProxymapReply::status, {.max_len = 16}),
        field("fixed", &ProxymapReply::fixed),
        field("value", &ProxymapReply::value, {.max_len = kProxymapMaxValue}),
    };
  }
  bool operator==(const ProxymapReply&) const = default;
};

}  // namespace postern::ipc::proto
