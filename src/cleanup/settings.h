// settings.h - the main.cf parameters cleanup reads, as typed values.
//
// Built once per process (after main.cf and -o overrides are loaded) so the
// message code never parses configuration text.
//
// Parameters: queue_directory, hash_queue_names, hash_queue_depth,
// enable_long_queue_ids, hopcount_limit, message_size_limit,
// header_size_limit, header_address_token_limit, line_length_limit,
// duplicate_filter_limit, virtual_alias_expansion_limit,
// virtual_alias_recursion_limit, virtual_alias_address_length_limit,
// myhostname, myorigin, mydestination, inet_interfaces, inet_protocols,
// proxy_interfaces, mynetworks, recipient_delimiter, double_bounce_sender,
// canonical_maps, sender_canonical_maps, recipient_canonical_maps,
// canonical_classes, sender_canonical_classes, recipient_canonical_classes,
// masquerade_domains, masquerade_exceptions, masquerade_classes,
// virtual_alias_maps, propagate_unmatched_extensions, message_drop_headers,
// always_add_missing_headers, undisclosed_recipients_header,
// header_from_format, enable_original_recipient, ipc_timeout, in_flow_delay,
// delay_warning_time, rewrite_service_name, queue_service_name, trace_service_name, append_at_myorigin,
// local_header_rewrite_clients, remote_header_rewrite_domain,
// header_checks, mime_header_checks, nested_header_checks, body_checks,
// body_checks_size_limit, disable_mime_input_processing,
// mime_nesting_limit, mime_boundary_length_limit, strict_7bit_headers,
// strict_8bitmime, strict_8bitmime_body, strict_mime_encoding_domain,
// always_bcc, sender_bcc_maps,
// recipient_bcc_maps, message_reject_characters, message_strip_characters.
// Logs nothing but a warning when a mynetworks table cannot answer for
// local_header_rewrite_clients; errors name the parameter.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "cleanup/address_map.h"
#include "config/config.h"
#include "maps/network_list.h"
#include "queue/layout.h"
#include "queue/queue_id.h"

namespace postern::cleanup {

// One mynetworks-style network, for local_header_rewrite_clients.
struct Network {
  int family = 0;  // AF_INET or AF_INET6
  unsigned char addr[16] = {};
  int prefix = 0;
};
// "192.0.2.0/24", "[2001:db8::]/32", "2001:db8::/32", "192.0.2.1" (host).
Result<Network> parse_network(std::string_view text);
// Textual client address ("192.0.2.1", "2001:db8::1", "IPv6:..."), in `net`?
bool network_contains(const Network& net, std::string_view addr);

struct CleanupSettings {
  std::filesystem::path queue_directory;
  queue::HashConfig hash;
  queue::IdFormat id_format = queue::IdFormat::Short;

  std::int64_t hopcount_limit = 50;
  std::int64_t message_size_limit = 10240000;  // 0: no limit
  std::size_t header_size_limit = 102400;
  std::size_t header_address_token_limit = 10240;
  std::size_t line_length_limit = 2048;
  std::size_t duplicate_filter_limit = 1000;

  std::string myhostname;
  std::string myorigin;
  bool append_at_myorigin = true;
  std::vector<std::string> mydestination;  // lower case domains (table entries left out)

  std::set<std::string> drop_headers;  // message_drop_headers, lower case
  bool always_add_missing_headers = false;
  std::string undisclosed_recipients_header;
  bool obsolete_from_format = false;  // header_from_format = obsolete
  bool enable_original_recipient = true;

  std::chrono::seconds ipc_timeout{3600};
  std::chrono::seconds in_flow_delay{1};  // wait for a flow token (server/flow.h); 0: off
  std::chrono::seconds delay_warning_time{0};
  std::string rewrite_service_name = "rewrite";
  std::string queue_service_name = "qmgr";  // woken at public/$queue_service_name
  std::string trace_service_name = "trace";  // private/$trace_service_name: "expanded" notices
  // Not a parameter: how long a begun frame (and the first one) may take;
  // see session.h. Tests shorten it.
  std::chrono::seconds frame_timeout{60};

  // local_header_rewrite_clients, understood parts.
  bool rewrite_all_clients = false;        // static:all
  bool rewrite_inet_interfaces = false;    // permit_inet_interfaces
  bool rewrite_mynetworks = false;         // permit_mynetworks
  bool rewrite_sasl_authenticated = false; // permit_sasl_authenticated
  std::vector<Network> own_networks;       // inet_interfaces/proxy_interfaces addresses, plus loopback
  std::shared_ptr<maps::NetworkList> mynetworks;  // permit_mynetworks (shared: settings are copied)
  std::string remote_header_rewrite_domain;

  // Content inspection (checks.h): table lists as configured, empty: off.
  std::string header_checks, mime_header_checks, nested_header_checks, body_checks;
  std::size_t body_checks_size_limit = 51200;
  // message_reject_characters, message_strip_characters: the bytes, C
  // escapes (\0, \t, \ooo) resolved. A newline never matches (Postfix
  // looks at each line without its end), so it is left out.
  std::string reject_chars, strip_chars;
  bool mime_input_processing = true;  // !disable_mime_input_processing
  // detect_8bit_encoding_header: a Content-Transfer-Encoding of 8bit or
  // binary, in the message's or a part's headers, marks the body 8bit.
  bool detect_8bit_encoding_header = true;
  std::size_t mime_nesting_limit = 100;
  std::size_t mime_boundary_length_limit = 2048;
  // Postfix's strict MIME checks (strict_8bitmime turns on both 8-bit
  // ones): a message that fails one is rejected 5.6.0 (mail/mime.h).
  bool strict_7bit_headers = false, strict_8bitmime_body = false, strict_encoding_domain = false;
  bool strict_mime() const { return strict_7bit_headers || strict_8bitmime_body || strict_encoding_domain; }

  MapperOptions mapper;  // without tables and is_local (see open_mapper)
  std::string canonical_maps, sender_canonical_maps, recipient_canonical_maps, virtual_alias_maps;
  std::string sender_bcc_maps, recipient_bcc_maps;
  std::string always_bcc;  // one address, or empty

  static Result<CleanupSettings> from_config(const config::Config& cfg);

  // Is `domain` one of ours for the address search order (myorigin,
  // mydestination, [address] of inet_interfaces)?
  bool is_local_domain(std::string_view domain) const;

  // Header rewriting context for a message: "local", "remote" (with
  // remote_header_rewrite_domain) or "" (leave header addresses alone).
  // Mail without a client address (sendmail, pickup) is local.
  std::string header_rewrite_context(std::string_view client_addr, bool sasl_authenticated) const;
};

// Opens the tables and builds the mapper (before chroot, like Postfix).
Result<AddressMapper> open_mapper(const CleanupSettings& s);

}  // namespace postern::cleanup
