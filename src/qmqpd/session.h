// session.h - one QMQP client (Postfix's qmqpd(8)): who may send, the
// request read within bounds, the message handed to cleanup, one reply.
//
// A connection carries one message. The client's name is looked up
// (the hosts file, then PTR and forward confirmation through the resolver,
// as smtpd does); a client that qmqpd_authorized_clients does not list gets
// "D... is not authorized to use this service" before anything is read. An
// authorized client's message gets a cleanup queue file at once (logged as
// "ID: client=name[addr]"), its sender and recipients are passed on as they
// arrive, the message (held in memory: QMQP sends it first, cleanup needs
// it last) follows after a Received: header "with QMQP", and the reply
// comes when cleanup has made the file durable:
//   K Ok: queued as ID        the queue file is complete and fsynced
//   Z Error: ...              try again later (cleanup's 4xx, no cleanup,
//                             a table lookup failure, a VERP request)
//   D Error: ...              cleanup's 5xx (too large, too many hops,
//                             header_checks REJECT, no recipients), a client
//                             not authorized, a malformed request
// soft_bounce turns D into Z. Every negative reply waits qmqpd_error_delay
// first. Nothing is queued unless the whole request arrived: a client that
// goes away or stalls past qmqpd_timeout leaves no file.
//
// Postern has no VERP: a sender "prefix@origin-@[]" (qmail's VERP request,
// which Postfix's qmqpd honours) is refused with Z, so the message stays
// with the client, and a warning is logged.
//
// Parameters: qmqpd_authorized_clients, qmqpd_timeout, qmqpd_error_delay,
// qmqpd_client_port_logging, message_size_limit, line_length_limit,
// empty_address_recipient, soft_bounce, myhostname, mail_name,
// content_filter, receive_override_options, parent_domain_matches_subdomains,
// dns_resolver_address, ipc_timeout, cleanup_service_name, queue_directory.
// Logs (Postfix's shapes): "connect from name[addr]", "ID: client=name[addr]",
// "warning: ID: name[addr]: Error: ..." for a negative reply to a request,
// "ID: name[addr]: lost connection while receiving ..." (or "read/write
// timeout", "netstring format error"), "disconnect from name[addr]".
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>

#include "aio/asio.h"
#include "base/result.h"
#include "config/config.h"
#include "dns/hosts_file.h"
#include "dns/resolver.h"
#include "maps/match_list.h"
#include "server/skeleton.h"
#include "submit/cleanup_proto.h"

namespace postern::qmqpd {

// With message_size_limit = 0 (no limit), the message qmqpd holds in memory
// is still bounded by this.
inline constexpr std::size_t kUnlimitedMessageCap = 512u << 20;
// The recipients' netstrings may add this much to the request beyond the
// message's bound (about a million addresses).
inline constexpr std::size_t kRecipientBytes = 64u << 20;
// The client name's PTR query and its forward check, per try (as smtpd's).
inline constexpr std::chrono::milliseconds kNameTryTimeout{2000};

struct Settings {
  std::chrono::seconds timeout{300};
  std::chrono::seconds error_delay{1};
  std::chrono::seconds ipc_timeout{3600};
  bool port_logging = false;
  bool soft_bounce = false;
  std::size_t message_limit = 0;  // bytes of the message netstring
  std::size_t address_limit = 0;  // bytes of each address netstring
  std::string empty_address_recipient;
  std::string myhostname;
  std::string mail_name;
  submit::Receiving receiving;  // content_filter and receive_override_options
  std::string dns_resolver_address;
  std::filesystem::path cleanup_socket;

  static Result<Settings> from_config(const config::Config& cfg);
};

// What every session of a process shares.
struct Shared {
  Settings settings;
  maps::MatchList authorized;  // qmqpd_authorized_clients
  std::unique_ptr<dns::HostsFile> hosts;
  std::unique_ptr<dns::Resolver> dns;
};

// Opens the qmqpd_authorized_clients list (before the privilege drop).
Result<maps::MatchList> open_authorized_clients(const config::Config& cfg);

asio::awaitable<void> serve_session(server::Context& ctx, Shared& sh, server::Socket sock);

}  // namespace postern::qmqpd
