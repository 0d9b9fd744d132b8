// cleanup_proto.h - the submission protocol spoken to the cleanup service.
//
// Socket: queue_directory/public/$cleanup_service_name (master.cf
// "cleanup unix n - n - 0 cleanup"). Public, because pickup and the local
// submission paths reach it as well as smtpd.
//
// A connection submits one message, or several one after another: after a
// cleanup_result with keep_open that answered cleanup_end, the client may
// send the next cleanup_open (smtpd keeps such connections for its next
// message, submit::CleanupConnections). Client -> server, in this order:
//
//   cleanup_open      {flags, origin}
//                     <- cleanup_opened {queue_id}   (the ID is allocated at
//                        open so that smtpd can log "ID: client=..." early)
//   cleanup_envelope  {sender, optional session attributes}     exactly once
//   cleanup_recipient {address, orcpt?, notify}                 zero or more
//   cleanup_content   {data}                                    zero or more
//   cleanup_end       {}
//                     <- cleanup_result {status, dsn, reason, queue_id, keep_open?}
//
// Content is the message as lines each ending in "\n" (no CR), already
// dot-unstuffed, in frames of at most kMaxContentChunk bytes. Frame
// boundaries need not fall on line boundaries, and the sender need not split
// long lines: cleanup splits very long lines into continuation records. A
// last line without "\n" is taken as a complete line.
//
// Status 0 in cleanup_result means the queue file is complete and durable;
// anything else is an SMTP reply code (451, 452, 552, 554, ...) with its
// enhanced status code in `dsn` and a one-line reason, meant to be passed on
// to the SMTP client ("554 5.4.0 Error: too many hops").
//
// Errors: content problems (too large, too many hops) are remembered, the
// rest of the content is read and discarded, and the error is the
// cleanup_result after cleanup_end. Protocol violations and local failures
// may instead be answered at any point by a cleanup_result with a non-zero
// status, after which the server closes the connection; a client must be
// ready to find that reply whenever it writes (CleanupClient does this).
// Closing the connection before cleanup_end aborts: the incomplete queue
// file is removed.
//
// Reads no parameters, logs nothing.
#pragma once

#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>

#include "base/result.h"
#include "config/config.h"
#include "config/transport.h"
#include "ipc/schema.h"
#include "queue/queue_file.h"

namespace postern::submit {

// Service name (default of cleanup_service_name) and where its socket lives.
inline constexpr std::string_view kCleanupService = "cleanup";  // public/cleanup

// Largest data attribute of one cleanup_content message.
inline constexpr std::size_t kMaxContentChunk = 256 * 1024;
// Limits of envelope values (queue file limits: queue/queue_file.h).
inline constexpr std::size_t kMaxAddressLength = 4096;
inline constexpr std::size_t kMaxOrcptLength = 1024;
inline constexpr std::size_t kMaxAttributeLength = 1024;
inline constexpr std::size_t kMaxQueueIdLength = 32;

// cleanup_open flags.
namespace cleanup_flag {
// sendmail -t: add recipients from To:/Cc:/Bcc: (or Resent-To:/-Cc:/-Bcc:
// when the message has Resent- headers) to the envelope recipients.
inline constexpr std::int64_t kExtractRecipients = 1 << 0;
// Local submission (sendmail/pickup): add missing From:, Date:,
// Message-ID:, using the envelope's full_name for From:.
inline constexpr std::int64_t kLocalSubmission = 1 << 1;
// A delivery status notification (bounce daemon): never extract
// recipients, skip sender canonical/masquerading of the null sender.
inline constexpr std::int64_t kBounce = 1 << 2;
// Skip canonical_maps, masquerading and virtual_alias_maps (re-queueing
// with postsuper -r, mail that was already mapped once).
inline constexpr std::int64_t kNoAddressMappings = 1 << 3;
// Skip header_checks, mime_header_checks, nested_header_checks and
// body_checks (receive_override_options = no_header_body_checks: mail
// coming back from a content filter was inspected on its way in).
inline constexpr std::int64_t kNoHeaderBodyChecks = 1 << 4;
// Mail received from outside (smtpd, pickup, postsuper -r; Postfix's
// CLEANUP_FLAG_BCC_OK): add always_bcc, sender_bcc_maps and
// recipient_bcc_maps recipients. Not for bounces nor for mail local(8)
// forwards, which were copied when they came in.
inline constexpr std::int64_t kAutoBcc = 1 << 5;
// smtputf8_autodetect_classes named the sender's class (Postfix's
// CLEANUP_FLAG_AUTOUTF8): mail with UTF-8 in its sender, a recipient or a
// header is marked as SMTPUTF8 mail, as if the client had asked.
inline constexpr std::int64_t kAutoUtf8 = 1 << 6;
inline constexpr std::int64_t kKnown = kExtractRecipients | kLocalSubmission | kBounce | kNoAddressMappings |
                                       kNoHeaderBodyChecks | kAutoBcc | kAutoUtf8;
}  // namespace cleanup_flag

// cleanup_end flags: what smtpd's access restrictions decided for the whole
// message while its recipients were given (Postfix's CLEANUP_FLAG_HOLD and
// CLEANUP_FLAG_DISCARD, which smtpd sends with the later records).
namespace end_flag {
// Commit the file to the hold queue, where qmgr never looks (postsuper -H
// releases it).
inline constexpr std::int64_t kHold = 1 << 0;
// Answer "queued" and remove the file: the message is thrown away. Wins
// over kHold.
inline constexpr std::int64_t kDiscard = 1 << 1;
inline constexpr std::int64_t kKnown = kHold | kDiscard;
}  // namespace end_flag

// DSN NOTIFY bits of cleanup_recipient (the values of queue::DsnNotify).
namespace notify {
inline constexpr std::int64_t kNever = 1;
inline constexpr std::int64_t kSuccess = 2;
inline constexpr std::int64_t kFailure = 4;
inline constexpr std::int64_t kDelay = 8;
inline constexpr std::int64_t kAll = kNever | kSuccess | kFailure | kDelay;
}  // namespace notify

// receive_override_options (Postfix's input_transp), read by the programs
// that receive mail (smtpd, pickup) from their own configuration, so that a
// master.cf "-o" reaches one service only:
//   no_unknown_recipient_checks  smtpd accepts unknown recipients
//   no_address_mappings          cleanup_flag::kNoAddressMappings, and no
//                                kAutoBcc (Postfix: no automatic BCC either)
//   no_header_body_checks        cleanup_flag::kNoHeaderBodyChecks
//   no_milters                   accepted (Postern runs no milters)
// Names are separated by spaces or commas, in any case; any other name is
// an error, as in Postfix.
struct ReceiveOverrides {
  // The cleanup_open flags for mail received from outside: kAutoBcc unless
  // no_address_mappings, and the no_* flags asked for.
  std::int64_t cleanup_flags = cleanup_flag::kAutoBcc;
  bool no_unknown_recipient_checks = false;
};
Result<ReceiveOverrides> parse_receive_overrides(std::string_view value);

// What a program that receives mail from outside (smtpd, pickup,
// postsuper -r) tells cleanup, from its own configuration: its
// content_filter (checked: config/transport.h; empty: none), for
// CleanupEnvelope::content_filter, and the cleanup_open flags of its
// receive_override_options. Postfix's smtpd and pickup write their own
// content_filter into each message, so that "-o content_filter=" on the
// service a filter reinjects into keeps that mail from going round again.
// `source` is the program's class for smtputf8_autodetect_classes.
struct Receiving {
  std::string content_filter;
  std::int64_t cleanup_flags = cleanup_flag::kAutoBcc;
};
Result<Receiving> receiving_settings(const config::Config& cfg, std::string_view source);

// cleanup_flag::kAutoUtf8 when smtputf8_enable is on and
// smtputf8_autodetect_classes names `source` or "all", else 0. The classes
// are Postfix's: sendmail (pickup, postsuper -r), smtpd, qmqpd, forward
// (local's forwarding), bounce (delivery status notifications), notify
// (postmaster notices), verify; another name in the list is an error.
Result<std::int64_t> smtputf8_autodetect(const config::Config& cfg, std::string_view source);

struct CleanupOpen {
  static constexpr std::string_view kType = "cleanup_open";

  std::int64_t flags = 0;
  std::string origin;  // for logs: "localhost[127.0.0.1]", "local", "pickup"

  static constexpr auto fields() {
    return std::tuple{
        ipc::field("flags", &CleanupOpen::flags, {.min = 0, .max = cleanup_flag::kKnown}),
        ipc::field("origin", &CleanupOpen::origin, {.max_len = kMaxAttributeLength, .single_line = true}),
    };
  }
  Status check() const {
    if (flags & ~cleanup_flag::kKnown) return make_error("undefined flag bits 0x{:x}", flags & ~cleanup_flag::kKnown);
    return {};
  }
  bool operator==(const CleanupOpen&) const = default;
};

struct CleanupOpened {
  static constexpr std::string_view kType = "cleanup_opened";

  std::string queue_id;

  static constexpr auto fields() {
    return std::tuple{
        ipc::field("queue_id", &CleanupOpened::queue_id, {.max_len = kMaxQueueIdLength, .single_line = true}),
    };
  }
  bool operator==(const CleanupOpened&) const = default;
};

struct CleanupEnvelope {
  static constexpr std::string_view kType = "cleanup_envelope";

  std::string sender;  // internal form; empty: the null sender <>
  std::optional<std::string> full_name;      // local submissions: for the From: header
  std::optional<std::string> client_name;    // "mail.example.com" or "unknown"
  std::optional<std::string> client_addr;    // "192.0.2.1", "2001:db8::1"
  std::optional<std::string> client_port;    // "41234"
  std::optional<std::string> helo;           // HELO/EHLO argument
  std::optional<std::string> protocol;       // "ESMTP", "SMTP", "ESMTPSA", "QMQP", "sendmail"
  std::optional<std::string> sasl_method;    // "PLAIN"
  std::optional<std::string> sasl_username;  // "alice"
  std::optional<std::string> body;           // "7BIT" or "8BITMIME" (MAIL FROM BODY=)
  std::optional<bool> smtputf8;              // MAIL FROM SMTPUTF8
  std::optional<std::string> envid;          // DSN ENVID, xtext as received
  std::optional<std::string> ret;            // DSN RET: "FULL" or "HDRS"
  std::optional<std::string> log_ident;      // the ID to use in log lines, when not ours
  std::optional<std::int64_t> arrival_time;  // unix seconds; default: now
  // The receiving program's content_filter ("transport:nexthop",
  // config/transport.h): qmgr sends every recipient there instead of
  // resolving it.
  std::optional<std::string> content_filter;
  // sendmail -t -N: the NOTIFY bits (queue::DsnNotify) of the recipients
  // extracted from the header (cleanup_flag::kExtractRecipients).
  std::optional<std::int64_t> extract_notify;

  static constexpr auto fields() {
    constexpr ipc::Rules attr{.max_len = kMaxAttributeLength, .single_line = true};
    return std::tuple{
        ipc::field("sender", &CleanupEnvelope::sender, {.max_len = kMaxAddressLength, .single_line = true}),
        ipc::field("full_name", &CleanupEnvelope::full_name, attr),
        ipc::field("client_name", &CleanupEnvelope::client_name, attr),
        ipc::field("client_addr", &CleanupEnvelope::client_addr, attr),
        ipc::field("client_port", &CleanupEnvelope::client_port, {.max_len = 16, .single_line = true}),
        ipc::field("helo", &CleanupEnvelope::helo, attr),
        ipc::field("protocol", &CleanupEnvelope::protocol, {.max_len = 64, .single_line = true}),
        ipc::field("sasl_method", &CleanupEnvelope::sasl_method, {.max_len = 64, .single_line = true}),
        ipc::field("sasl_username", &CleanupEnvelope::sasl_username, attr),
        ipc::field("body", &CleanupEnvelope::body, {.max_len = 16, .single_line = true}),
        ipc::field("smtputf8", &CleanupEnvelope::smtputf8),
        ipc::field("envid", &CleanupEnvelope::envid, {.max_len = 512, .single_line = true}),
        ipc::field("ret", &CleanupEnvelope::ret, {.max_len = 8, .single_line = true}),
        ipc::field("log_ident", &CleanupEnvelope::log_ident, {.max_len = 64, .single_line = true}),
        ipc::field("arrival_time", &CleanupEnvelope::arrival_time, {.min = 0}),
        ipc::field("content_filter", &CleanupEnvelope::content_filter, {.max_len = 1024, .single_line = true}),
        ipc::field("extract_notify", &CleanupEnvelope::extract_notify, {.min = 1, .max = 15}),
    };
  }
  Status check() const {
    if (body && *body != "7BIT" && *body != "8BITMIME") return make_error("body must be 7BIT or 8BITMIME");
    if (ret && *ret != "FULL" && *ret != "HDRS") return make_error("ret must be FULL or HDRS");
    if (extract_notify && (*extract_notify & queue::kNotifyNever) && *extract_notify != queue::kNotifyNever)
      return make_error("extract_notify: NEVER goes alone");
    if (content_filter)
      if (auto st = config::check_content_filter(*content_filter); !st) return st;
    return {};
  }
  bool operator==(const CleanupEnvelope&) const = default;
};

struct CleanupRecipient {
  static constexpr std::string_view kType = "cleanup_recipient";

  std::string address;               // internal form, not empty
  std::optional<std::string> orcpt;  // DSN ORCPT "rfc822;user@example.com" (xtext as received)
  std::int64_t notify = 0;           // notify:: bits; 0 = not specified
  // The address as first received, when it was rewritten before this
  // submission (postsuper -r requeues keep it); absent: `address` is it.
  std::optional<std::string> orig_rcpt;

  static constexpr auto fields() {
    return std::tuple{
        ipc::field("address", &CleanupRecipient::address, {.max_len = kMaxAddressLength, .single_line = true}),
        ipc::field("orcpt", &CleanupRecipient::orcpt, {.max_len = kMaxOrcptLength, .single_line = true}),
        ipc::field("notify", &CleanupRecipient::notify, {.min = 0, .max = notify::kAll}),
        ipc::field("orig_rcpt", &CleanupRecipient::orig_rcpt, {.max_len = kMaxAddressLength, .single_line = true}),
    };
  }
  Status check() const {
    if (address.empty()) return make_error("empty recipient address");
    if ((notify & notify::kNever) && notify != notify::kNever)
      return make_error("NOTIFY=NEVER cannot be combined with other values");
    return {};
  }
  bool operator==(const CleanupRecipient&) const = default;
};

struct CleanupContent {
  static constexpr std::string_view kType = "cleanup_content";

  std::string data;  // message bytes, lines ending in "\n"

  static constexpr auto fields() {
    return std::tuple{ipc::field("data", &CleanupContent::data, {.max_len = kMaxContentChunk})};
  }
  bool operator==(const CleanupContent&) const = default;
};

struct CleanupEnd {
  static constexpr std::string_view kType = "cleanup_end";

  std::optional<std::int64_t> flags;  // end_flag:: bits (the range check allows no others); absent: 0
  // A content filter decided while the recipients were given (smtpd's
  // FILTER access action); overrides the envelope's.
  std::optional<std::string> content_filter;
  // smtpd's REDIRECT access action: the one address the message goes to
  // instead of its recipients (qmgr; queue attribute "redirect").
  std::optional<std::string> redirect;

  static constexpr auto fields() {
    return std::tuple{
        ipc::field("flags", &CleanupEnd::flags, {.min = 0, .max = end_flag::kKnown}),
        ipc::field("content_filter", &CleanupEnd::content_filter, {.max_len = 1024, .single_line = true}),
        ipc::field("redirect", &CleanupEnd::redirect, {.max_len = kMaxAddressLength, .single_line = true}),
    };
  }
  Status check() const {
    if (content_filter)
      if (auto st = config::check_content_filter(*content_filter); !st) return st;
    if (redirect && (redirect->empty() || redirect->find('@') == std::string::npos))
      return make_error("redirect needs user@domain");
    return {};
  }
  bool operator==(const CleanupEnd&) const = default;
};

struct CleanupResult {
  static constexpr std::string_view kType = "cleanup_result";

  std::int64_t status = 0;  // 0: queued; else an SMTP reply code
  std::string dsn;          // enhanced status code "2.0.0", "4.3.0", "5.3.4"
  std::string reason;       // one line, for the SMTP reply and logs
  std::string queue_id;     // empty when none was allocated
  // True: the service reads another cleanup_open on this connection.
  // Absent or false: it closes the connection after this result.
  std::optional<bool> keep_open;

  static constexpr auto fields() {
    return std::tuple{
        ipc::field("status", &CleanupResult::status, {.min = 0, .max = 599}),
        ipc::field("dsn", &CleanupResult::dsn, {.max_len = 16, .single_line = true}),
        ipc::field("reason", &CleanupResult::reason, {.max_len = 1024, .single_line = true}),
        ipc::field("queue_id", &CleanupResult::queue_id, {.max_len = kMaxQueueIdLength, .single_line = true}),
        ipc::field("keep_open", &CleanupResult::keep_open),
    };
  }
  Status check() const {
    if (status != 0 && (status < 400 || status > 599)) return make_error("status must be 0 or 400..599");
    return {};
  }
  bool ok() const { return status == 0; }
  bool operator==(const CleanupResult&) const = default;
};

// ipc::encode() checks each field's rules; the cross-field check() of a
// message runs only when it is decoded. Senders use this to learn about a
// bad message (an empty recipient, NOTIFY=NEVER,SUCCESS) before sending.
template <ipc::Schema T>
Result<std::string> encode_checked(const T& msg) {
  if constexpr (requires(const T& t) {
                  { t.check() } -> std::same_as<Status>;
                }) {
    if (auto st = msg.check(); !st) return make_error("message \"{}\": {}", T::kType, st.error().message);
  }
  return ipc::encode(msg);
}

}  // namespace postern::submit
