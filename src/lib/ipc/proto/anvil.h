// anvil.h - the connection count/rate service (anvil), asked by smtpd.
//
// Socket: queue_directory/private/$anvil_service_name (master.cf
// "anvil unix - - n - 1 anvil": one process, so its counts span every
// smtpd process).
//
// One connection per smtpd process carries many requests, one at a time:
//
//   client                                       anvil
//   anvil_request {request=connect, service, client}   ->
//                                                <-  anvil_reply {count, rate}
//   anvil_request {request=disconnect, service, client} ->
//                                                <-  status {0}
//   anvil_request {request=lookup, service, client}     ->
//                                                <-  anvil_reply {count, rate}
//   anvil_request {request=message, service, client}    ->   (a MAIL FROM)
//                                                <-  anvil_reply {count, rate}
//   anvil_request {request=recipient, service, client}  ->   (a RCPT TO)
//                                                <-  anvil_reply {count, rate}
//   anvil_request {request=auth, service, client}       ->   (an AUTH)
//                                                <-  anvil_reply {count, rate}
//
// `count` is the number of connections from `client` to `service` open now
// (the new one included); `rate` the connections in the current
// anvil_rate_time_unit window, or for message, recipient and auth the
// MAIL FROM, RCPT TO or AUTH commands counted in it (this one included). A connect that is not matched by a
// disconnect is released when the connection that made it closes (an
// smtpd process that dies gives its counts back). A request anvil cannot
// honour (table full, malformed) gets a status reply (status.h) with
// kStatusRetry or kStatusFail; the client then applies no limit.
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

inline constexpr std::string_view kAnvilService = "anvil";  // private/anvil

// A service name ("smtp", "submission", "127.0.0.1:2525") and a client
// address ("192.0.2.1", "2001:db8::1") are short; bound them tightly.
inline constexpr std::size_t kAnvilMaxService = 128;
inline constexpr std::size_t kAnvilMaxClient = 128;

// NewTls counts a new (not resumed) TLS session; NewTlsReport only reads
// that rate (Postfix's newtls and newtls_report).
enum class AnvilOp { Connect, Disconnect, Lookup, Message, Recipient, Auth, NewTls, NewTlsReport };

inline constexpr EnumName<AnvilOp> kAnvilOpNames[] = {
    {"connect", AnvilOp::Connect},
    {"disconnect", AnvilOp::Disconnect},
    {"lookup", AnvilOp::Lookup},
    {"message", AnvilOp::Message},
    {"recipient", AnvilOp::Recipient},
    {"auth", AnvilOp::Auth},
    {"newtls", AnvilOp::NewTls},
    {"newtls_report", AnvilOp::NewTlsReport},
};
constexpr std::span<const EnumName<AnvilOp>> ipc_enum_names(AnvilOp) { return kAnvilOpNames; }

struct AnvilRequest {
  static constexpr std::string_view kType = "anvil_request";

  AnvilOp request = AnvilOp::Connect;
  std::string service;
  std::string client;

  static constexpr auto fields() {
    return std::tuple{
        field("request", &AnvilRequest::request, {.max_len = 16}),
        field("service", &AnvilRequest::service, {.max_len = kAnvilMaxService, .single_line = true}),
        field("client", &AnvilRequest::client, {.max_len = kAnvilMaxClient, .single_line = true}),
    };
  }
  Status check() const {
    if (service.empty()) return make_error("empty service");
    if (client.empty()) return make_error("empty client");
    return {};
  }
  bool operator==(const AnvilRequest&) const = default;
};

struct AnvilReply {
  static constexpr std::string_view kType = "anvil_reply";

  std::int64_t count = 0;  // simultaneous connections now
  std::int64_t rate = 0;   // connections in the current rate window

  static constexpr auto fields() {
    return std::tuple{
        field("count", &AnvilReply::count, {.min = 0}),
        field("rate", &AnvilReply::rate, {.min = 0}),
    };
  }
  bool operator==(const AnvilReply&) const = default;
};

}  // namespace postern::ipc::proto
