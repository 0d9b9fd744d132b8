// trivial_rewrite.h - the messages of the trivial-rewrite service.
//
// Socket: queue_directory/private/$rewrite_service_name (default
// "private/rewrite"). One connection may carry many requests, one at a
// time: the client sends a RewriteRequest and reads one reply before it
// sends the next.
//
//   request=rewrite  rule=local|remote  address=...
//     -> rewrite_reply: the address rewritten to canonical form
//        (append @$myorigin, masquerading, ...) in the named context.
//   request=resolve  address=...  [sender=...]
//   request=verify   address=...  [sender=...]
//     -> resolve_reply: where mail for the address goes: transport,
//        next hop and the recipient to hand to that transport. `verify`
//        resolves as address verification probes do (Postfix's
//        address_verify_* overrides). `sender` enables sender-dependent
//        routing (sender_dependent_relayhost_maps and friends).
//
// A request the service cannot parse gets a StatusReply (status.h) with
// kStatusFail, and the connection is closed.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>

#include "ipc/schema.h"

namespace postern::ipc::proto {

inline constexpr std::string_view kRewriteService = "rewrite";  // private/rewrite

inline constexpr std::size_t kMaxAddressLength = 4096;

enum class RewriteOp { Rewrite, Resolve, Verify };

inline constexpr EnumName<RewriteOp> kRewriteOpNames[] = {
    {"rewrite", RewriteOp::Rewrite},
    {"resolve", RewriteOp::Resolve},
    {"verify", RewriteOp::Verify},
};
constexpr std::span<const EnumName<RewriteOp>> ipc_enum_names(RewriteOp) { return kRewriteOpNames; }

// Rewriting contexts (Postfix's local and remote rewriting rules).
inline constexpr std::string_view kRuleLocal = "local";
inline constexpr std::string_view kRuleRemote = "remote";

struct RewriteRequest {
  static constexpr std::string_view kType = "trivial_rewrite_request";

  RewriteOp request = RewriteOp::Rewrite;
  std::optional<std::string> rule;    // rewrite only: rewriting context
  std::optional<std::string> sender;  // resolve/verify only: envelope sender
  std::string address;                // may be empty (the null sender)

  static constexpr auto fields() {
    return std::tuple{
        field("request", &RewriteRequest::request, {.max_len = 16}),
        field("rule", &RewriteRequest::rule, {.max_len = 64, .single_line = true}),
        field("sender", &RewriteRequest::sender, {.max_len = kMaxAddressLength}),
        field("address", &RewriteRequest::address, {.max_len = kMaxAddressLength}),
    };
  }

  // `rule` belongs to rewrite requests, `sender` to resolve requests.
  Status check() const {
    if (request == RewriteOp::Rewrite) {
      if (!rule) return make_error("rewrite request without rule");
      if (sender) return make_error("rewrite request with sender");
    } else if (rule) {
      return make_error("resolve request with rule");
    }
    return {};
  }
  bool operator==(const RewriteRequest&) const = default;
};

// Reply flags (bit values are Postern's own; names follow Postfix).
namespace resolve_flag {
inline constexpr std::int64_t kFinal = 1 << 0;    // the address resolved to its final form
inline constexpr std::int64_t kRouted = 1 << 1;   // source-routed address (user@a@b, @a:u@b)
inline constexpr std::int64_t kError = 1 << 2;    // bad address syntax or forbidden destination
inline constexpr std::int64_t kFail = 1 << 3;     // lookup failed: try again later
inline constexpr std::int64_t kLocal = 1 << 8;    // address class: mydestination / inet_interfaces
inline constexpr std::int64_t kAlias = 1 << 9;    // address class: virtual_alias_domains
inline constexpr std::int64_t kVirtual = 1 << 10;  // address class: virtual_mailbox_domains
inline constexpr std::int64_t kRelay = 1 << 11;   // address class: relay_domains
inline constexpr std::int64_t kDefault = 1 << 12;  // address class: everything else
inline constexpr std::int64_t kKnown =
    kFinal | kRouted | kError | kFail | kLocal | kAlias | kVirtual | kRelay | kDefault;

inline Status check(std::int64_t flags) {
  if (flags & ~kKnown) return make_error("undefined flag bits 0x{:x}", flags & ~kKnown);
  return {};
}
}  // namespace resolve_flag

struct RewriteReply {
  static constexpr std::string_view kType = "rewrite_reply";

  std::int64_t flags = 0;
  std::string address;

  static constexpr auto fields() {
    return std::tuple{
        field("flags", &RewriteReply::flags, {.min = 0}),
        field("address", &RewriteReply::address, {.max_len = kMaxAddressLength}),
    };
  }
  Status check() const { return resolve_flag::check(flags); }
  bool operator==(const RewriteReply&) const = default;
};

struct ResolveReply {
  static constexpr std::string_view kType = "resolve_reply";

  std::int64_t flags = 0;
  std::string transport;  // master.cf service name, e.g. "smtp", "local", "error"
  std::string nexthop;    // e.g. "example.com", "[10.0.0.1]:587", an error text for "error"
  std::string recipient;  // the address to give the transport

  static constexpr auto fields() {
    return std::tuple{
        field("flags", &ResolveReply::flags, {.min = 0}),
        field("transport", &ResolveReply::transport, {.max_len = 256, .single_line = true}),
        field("nexthop", &ResolveReply::nexthop, {.max_len = 1024, .single_line = true}),
        field("recipient", &ResolveReply::recipient, {.max_len = kMaxAddressLength}),
    };
  }
  Status check() const { return resolve_flag::check(flags); }
  bool operator==(const ResolveReply&) const = default;
};

}  // namespace postern::ipc::proto
