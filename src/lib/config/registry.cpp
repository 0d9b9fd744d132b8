// registry.cpp - the parameter table, per-transport templates, and typed
// value checks.
//
// Names and defaults follow Postfix's postconf(5) so that an existing main.cf
// means the same thing here; where Postfix's default depends on its
// compatibility_level we use the modern (level >= 2) value. Postern's own
// additions are marked as such in their description. Nothing here logs.
#include "config/registry.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <vector>

#include "base/strings.h"
#include "config/host_info.h"
#include "postern/paths.h"

namespace postern::config {
namespace {

constexpr std::int64_t kIntMax = 2147483647;  // Postfix "int" parameters are C ints

constexpr ParamDef S(std::string_view n, std::string_view d, std::string_view doc) {
  return ParamDef{n, Type::String, d, doc};
}
constexpr ParamDef L(std::string_view n, std::string_view d, std::string_view doc) {
  return ParamDef{n, Type::List, d, doc};
}
constexpr ParamDef B(std::string_view n, std::string_view d, std::string_view doc) {
  return ParamDef{n, Type::Bool, d, doc};
}
constexpr ParamDef I(std::string_view n, std::string_view d, std::string_view doc, std::int64_t min = 0,
                     std::int64_t max = kIntMax) {
  return ParamDef{n, Type::Int, d, doc, min, max};
}
constexpr ParamDef Z(std::string_view n, std::string_view d, std::string_view doc, std::int64_t min = 0) {
  return ParamDef{n, Type::Size, d, doc, min};
}
constexpr ParamDef T(std::string_view n, std::string_view d, std::string_view doc, std::int64_t min = 0,
                     char unit = 's', std::int64_t max = kIntMax) {
  return ParamDef{n, Type::Time, d, doc, min, max, unit};
}
// A default that comes from the build (compiled-in paths, version).
constexpr ParamDef BUILD(ParamDef p, std::string_view doc_default) {
  p.doc_default = doc_default;
  return p;
}
constexpr ParamDef RAW(ParamDef p) {
  p.raw = true;
  return p;
}
constexpr ParamDef COMPUTED(ParamDef p, ComputeFn f, std::string_view doc_default) {
  p.compute = f;
  p.doc_default = doc_default;
  return p;
}

// ---- computed defaults ----------------------------------------------------

std::string compute_myhostname(const ComputeEnv& env) {
  std::string h = host::local_hostname();
  if (h.empty()) h = "localhost";
  if (h.find('.') == std::string::npos) {
    // Postfix: an unqualified name is completed with $mydomain when that is
    // set explicitly, else with "localdomain".
    auto d = env.explicit_value("mydomain");
    h += ".";
    h += (d && !d->empty()) ? *d : std::string("localdomain");
  }
  return h;
}

std::string compute_mydomain(const ComputeEnv& env) {
  auto h = env.explicit_value("myhostname");
  std::string host = h ? *h : compute_myhostname(env);
  // Postfix: the host name minus its first label, but only when what remains
  // still has a dot; "host.example" gives "localdomain".
  auto dot = host.find('.');
  if (dot == std::string::npos || host.find('.', dot + 1) == std::string::npos) return "localdomain";
  return host.substr(dot + 1);
}

std::string compute_mynetworks(const ComputeEnv& env) {
  auto style = str::lower(str::trim(env.value("mynetworks_style").value_or("host")));
  auto interfaces = env.value("inet_interfaces").value_or("all");
  auto protocols = env.value("inet_protocols").value_or("all");
  host::MaskStyle ms = host::MaskStyle::Host;
  if (style == "subnet") ms = host::MaskStyle::Subnet;
  else if (style == "class") ms = host::MaskStyle::Class;
  return host::mynetworks(host::own_addresses(interfaces, protocols), ms);
}

// ---- the table ----------------------------------------------------------

// clang-format off
constexpr ParamDef kParams[] = {
  // Postern-specific.
  B("daemon_batch_scheduling", "yes", "Postern: the master and the daemons it starts run with the SCHED_BATCH scheduling policy: a process woken by another's request or status report does not preempt it while it is still working, which saves context switches under load."),
  S("dns_resolver_address", "", "Postern: host:port of the DNS server c-ares should use instead of resolv.conf; for tests."),
  T("dns_resolver_timeout", "5s", "Postern: time limit for one try of a DNS query by the smtp/lmtp client (c-ares doubles it on the second try).", 1, 's', 300),

  // Installation and identity.
  L("alternate_config_directories", "", "Other configuration directories that non-root users may select with -c or MAIL_CONFIG."),
  BUILD(S("command_directory", paths::kCommandDir, "Where the administrative commands (postconf, postqueue, ...) live."), "set at build time: SBINDIR, e.g. /usr/local/sbin"),
  S("compatibility_level", "3.6", "Accepted for compatibility with Postfix main.cf files; Postern always uses the modern defaults."),
  BUILD(S("config_directory", paths::kConfigDir, "Where main.cf and master.cf live; the directory actually read when -c or POSTERN_CONFIG_DIR selects another."), "set at build time: SYSCONFDIR/postern, e.g. /usr/local/etc/postern"),
  BUILD(S("daemon_directory", paths::kDaemonDir, "Where the daemon programs started by the master live."), "set at build time: LIBEXECDIR/postern, e.g. /usr/local/libexec/postern"),
  BUILD(S("data_directory", paths::kDataDir, "Writable directory for caches and random state owned by mail_owner."), "set at build time: LOCALSTATEDIR/lib/postern, e.g. /usr/local/var/lib/postern"),
  S("default_privs", "nobody", "Account used by the local delivery agent for deliveries to external files and commands when no other owner applies."),
  S("html_directory", "no", "Where HTML documentation is installed, or \"no\"."),
  S("mail_name", "Postern", "The mail system name shown in the SMTP greeting and in bounce messages."),
  S("mail_owner", "postern", "The unprivileged account that owns the queue and runs most daemons."),
  BUILD(S("mail_version", paths::kVersion, "The Postern version (informational, read-only in practice)."), "the Postern version"),
  S("mailq_path", "/usr/bin/mailq", "Path of the Sendmail-compatible mailq command."),
  S("manpage_directory", "/usr/share/man", "Where the manual pages are installed."),
  S("meta_directory", "$config_directory", "Where non-executable files shared between instances are kept."),
  L("multi_instance_directories", "", "Configuration directories of additional instances."),
  B("multi_instance_enable", "no", "Allow this instance to be started by a multi-instance manager."),
  S("multi_instance_group", "", "Optional group name of this instance."),
  S("multi_instance_name", "", "Optional name of this instance."),
  S("newaliases_path", "/usr/bin/newaliases", "Path of the Sendmail-compatible newaliases command."),
  S("process_id_directory", "pid", "Directory (relative to queue_directory) for process ID lock files."),
  BUILD(S("queue_directory", paths::kQueueDir, "Root of the mail queue."), "set at build time: LOCALSTATEDIR/spool/postern, e.g. /usr/local/var/spool/postern"),
  S("readme_directory", "no", "Where README files are installed, or \"no\"."),
  BUILD(S("sample_directory", paths::kConfigDir, "Where sample configuration files are installed (obsolete)."), "$config_directory at build time"),
  S("sendmail_path", "/usr/sbin/sendmail", "Path of the Sendmail-compatible sendmail command."),
  S("setgid_group", "postdrop", "Group that owns the maildrop queue and the public sockets; postdrop and postqueue run set-gid to it."),

  // Network identity and routing.
  S("default_transport", "smtp", "Transport (and optional next hop) for destinations that are not local, virtual or relay."),
  L("defer_transports", "", "Transports whose mail is deferred instead of delivered."),
  S("empty_address_default_transport_maps_lookup_key", "<>", "The sender_dependent_default_transport_maps key that stands for the null sender."),
  S("empty_address_recipient", "MAILER-DAEMON", "Recipient of mail that is addressed to the null address."),
  S("empty_address_relayhost_maps_lookup_key", "<>", "The sender_dependent_relayhost_maps key that stands for the null sender."),
  S("fallback_relay", "", "Obsolete name of smtp_fallback_relay."),
  S("fallback_transport", "", "Transport for local recipients that are not found in the UNIX passwd database."),
  L("fallback_transport_maps", "", "Per-recipient fallback_transport lookup tables."),
  L("inet_interfaces", "all", "Network interface addresses this mail system receives mail on (all, loopback-only, or a list)."),
  L("inet_protocols", "all", "Internet protocols to use: all, ipv4, ipv6, or ipv4, ipv6."),
  L("known_tcp_ports", "lmtp=24, smtp=25, smtps=submissions=465, submission=587",
    "Port numbers for service names, used before /etc/services (master.cf inet services)."),
  S("local_transport", "local:$myhostname", "Transport for recipients in $mydestination, $inet_interfaces or $proxy_interfaces."),
  L("mydestination", "$myhostname, localhost.$mydomain, localhost", "Domains delivered locally by $local_transport."),
  COMPUTED(S("mydomain", "", "The internet domain of this host; used in many other defaults."), compute_mydomain, "computed: $myhostname minus its first label, or \"localdomain\""),
  COMPUTED(S("myhostname", "", "Fully qualified name of this host."), compute_myhostname, "computed: the system host name, completed with $mydomain (or \".localdomain\") when it has no dot"),
  COMPUTED(L("mynetworks", "", "Trusted SMTP clients (networks, /file/name patterns, type:table); computed from mynetworks_style when not set."), compute_mynetworks, "computed: the addresses or networks of this host, per mynetworks_style"),
  S("mynetworks_style", "host", "How to compute the default mynetworks: host, subnet or class."),
  S("myorigin", "$myhostname", "Domain appended to locally posted unqualified addresses."),
  L("parent_domain_matches_subdomains", "debug_peer_list, fast_flush_domains, mynetworks, permit_mx_backup_networks, qmqpd_authorized_clients, relay_domains, smtpd_access_maps", "Features where a domain pattern also matches its subdomains."),
  L("permit_mx_backup_networks", "", "Networks for which permit_mx_backup accepts mail (restricts that feature)."),
  L("proxy_interfaces", "", "Addresses on which this host receives mail through a proxy or NAT."),
  L("relay_domains", "", "Domains (and subdomains) this host relays mail to; delivered with $relay_transport."),
  L("relay_recipient_maps", "", "Valid recipients in $relay_domains; others are rejected."),
  S("relay_transport", "relay", "Transport (and optional next hop) for $relay_domains."),
  S("relayhost", "", "Default next-hop for non-local mail, overriding MX lookups ([host]:port form suppresses MX)."),
  L("sender_dependent_default_transport_maps", "", "Per-sender override of default_transport."),
  L("sender_dependent_relayhost_maps", "", "Per-sender override of relayhost."),
  L("transport_maps", "", "Lookup tables that map recipient addresses or domains to transport:nexthop."),

  // Logging and notification.
  L("2bounce_notice_recipient", "postmaster", "Recipient of undeliverable bounce notices."),
  I("bounce_size_limit", "50000", "Maximal amount of original message text returned in a bounce.", 1),
  S("bounce_template_file", "", "Optional file with custom bounce message templates."),
  L("bounce_notice_recipient", "postmaster", "Recipient of postmaster notices about bounced mail (notify_classes bounce)."),
  I("debug_peer_level", "2", "Verbosity added for peers matching debug_peer_list.", 1),
  L("debug_peer_list", "", "Remote hosts for which logging verbosity is raised."),
  S("debugger_command", "", "Command run when a daemon is started with -D."),
  L("delay_notice_recipient", "postmaster", "Recipient of postmaster copies of delay notices."),
  I("delay_logging_resolution_limit", "2", "Digits after the decimal point in delay= log fields.", 0, 6),
  T("delay_warning_time", "0h", "Delay after which the sender is told that mail is still queued; 0 disables.", 0, 'h'),
  S("double_bounce_sender", "double-bounce", "Sender address of postmaster notices; mail to it is discarded."),
  L("error_notice_recipient", "postmaster", "Recipient of postmaster notices about software and resource problems."),
  S("info_log_address_format", "external", "Address format in informational logging: external or internal."),
  S("maillog_file", "", "Log to this file (or /dev/stdout) instead of syslog; empty means syslog. Every process appends itself and follows a rotated file within a second."),
  S("maillog_file_compressor", "gzip", "Program (no shell; found in PATH) that `postern logrotate` runs on the renamed maillog_file once no Postern process has it open."),
  L("maillog_file_prefixes", "/var, /dev/stdout", "maillog_file must begin with one of these strings (a guard against a typo that would append to another file); `postern init` adds its instance directory."),
  S("maillog_file_rotate_suffix", "%Y%m%d-%H%M%S", "strftime() format of the suffix `postern logrotate` appends to the renamed maillog_file (no '/')."),
  L("notify_classes", "resource, software", "Problem classes reported to the postmaster (bounce, 2bounce, data, delay, policy, protocol, resource, software)."),
  S("postlog_service_name", "postlog", "Name of the postlog service that writes maillog_file."),
  B("show_user_unknown_table_name", "yes", "Name the lookup table in \"User unknown\" replies."),
  B("smtpd_client_port_logging", "no", "Log the client port along with its address."),
  S("syslog_facility", "mail", "Syslog facility for log messages."),
  S("syslog_name", "postern", "Prefix of the syslog program name (\"postern/smtpd\")."),

  // Process management.
  T("application_event_drain_time", "100s", "How long the master waits for clients to disconnect on shutdown.", 0),
  RAW(S("command_expansion_filter", "1234567890!@%-_=+:,./abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "Characters allowed in $name expansions of command lines; others become underscores.")),
  B("daemon_table_open_error_is_fatal", "no", "Whether a lookup table that cannot be opened stops the daemon."),
  T("daemon_timeout", "18000s", "The daemons' watchdog: one request (a delivery, a lookup, a trigger) taking longer ends the process (\"watchdog timeout\"), and so does an event loop blocked that long (SIGALRM). qmgr waits this long for a delivery's reply.", 1),
  I("default_process_limit", "100", "Default number of processes per master.cf service (maxproc \"-\").", 1),
  L("export_environment", "TZ MAIL_CONFIG LANG", "Environment variables passed to external commands (name or name=value)."),
  I("fork_attempts", "5", "Attempts to fork() a process before giving up.", 1),
  T("fork_delay", "1s", "Delay between fork() attempts.", 1),
  L("import_environment", "MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ XAUTHORITY DISPLAY LANG=C POSTLOG_SERVICE POSTLOG_HOSTNAME", "Environment variables privileged processes keep from their parent (name or name=value)."),
  T("in_flow_delay", "1s", "Delay per message arrival when the queue manager is behind; 0 disables.", 0, 's', 10),
  T("ipc_idle", "5s", "Time after which a client closes an idle internal channel.", 1),
  T("ipc_timeout", "3600s", "Time limit for I/O on internal channels.", 1),
  T("ipc_ttl", "1000s", "Time after which a client closes an active internal channel.", 1),
  L("master_service_disable", "", "master.cf services (service/type) not to run."),
  T("max_idle", "100s", "Time a daemon waits for the next client before it exits.", 1),
  I("max_use", "100", "Clients a daemon serves before it exits.", 1),
  T("service_throttle_time", "60s", "How long the master waits before restarting a service that failed.", 1),
  S("stress", "", "Set by the master when a service is overloaded (read-only)."),
  S("service_name", "", "The master.cf service name of the running daemon, set at its start (read-only; for -o syslog_name=postfix/$service_name)."),
  S("process_name", "", "The program name of the running process, set at its start (read-only)."),
  S("process_id", "", "The process ID of the running process, set at its start (read-only)."),
  T("transport_retry_time", "60s", "Time between attempts to contact a broken delivery agent.", 1),
  T("trigger_timeout", "10s", "Time limit for sending a trigger to a daemon.", 1),

  // Queue.
  L("hash_queue_names", "deferred, defer", "Queue directories split into subdirectories by queue ID."),
  I("hash_queue_depth", "1", "Subdirectory levels for hashed queues.", 1, 5),
  B("enable_long_queue_ids", "no", "Use long, non-repeating queue IDs."),
  T("queue_run_delay", "300s", "Interval between deferred queue scans.", 1),
  T("minimal_backoff_time", "300s", "Minimal time between delivery attempts of a deferred message.", 1),
  T("maximal_backoff_time", "4000s", "Maximal time between delivery attempts of a deferred message.", 1),
  T("maximal_queue_lifetime", "5d", "Time after which an undeliverable message is returned; 0 means one attempt.", 0, 'd'),
  T("bounce_queue_lifetime", "5d", "maximal_queue_lifetime for bounce messages.", 0, 'd'),
  Z("queue_minfree", "0", "Free space smtpd leaves in the queue file system, besides room for twice the message size."),
  I("queue_file_attribute_count_limit", "100", "Maximal number of named attributes in a queue file.", 1),
  S("queue_service_name", "qmgr", "Name of the queue manager service."),
  T("qmgr_clog_warn_time", "300s", "Minimal interval between \"queue is clogged\" warnings; 0 disables.", 0),
  T("qmgr_daemon_timeout", "1000s", "qmgr's watchdog (as daemon_timeout for the other daemons): a wake-up handled for longer, or an event loop blocked that long, ends qmgr, which the master starts again.", 1),
  I("qmgr_fudge_factor", "100", "Percentage of delivery slots used by the scheduler for new mail.", 10, 100),
  T("qmgr_ipc_timeout", "60s", "Time limit for the queue manager on internal channels.", 1),
  I("qmgr_message_active_limit", "20000", "Maximal number of messages in the active queue.", 1),
  I("qmgr_message_recipient_limit", "20000", "Maximal number of in-memory recipients of all active messages.", 1),
  I("qmgr_message_recipient_minimum", "10", "Minimal number of in-memory recipients of any message.", 1),
  I("initial_destination_concurrency", "5", "Initial number of parallel deliveries to one destination.", 1),
  I("default_destination_concurrency_limit", "20", "Default maximal number of parallel deliveries to one destination.", 0),
  I("default_destination_recipient_limit", "50", "Default maximal number of recipients per delivery.", 0),
  I("default_destination_concurrency_failed_cohort_limit", "1", "Failed connections after which a destination is throttled.", 0),
  S("default_destination_concurrency_negative_feedback", "1/concurrency", "Concurrency decrease after a failed delivery."),
  S("default_destination_concurrency_positive_feedback", "1/concurrency", "Concurrency increase after a successful delivery."),
  T("default_destination_rate_delay", "0s", "Delay between deliveries to one destination; 0 disables.", 0),
  T("default_transport_rate_delay", "0s", "Delay between deliveries with one transport; 0 disables.", 0),
  I("default_delivery_slot_cost", "5", "How often the scheduler may preempt a message.", 0),
  I("default_delivery_slot_discount", "50", "Percentage of delivery slots not accounted for preemption.", 0, 100),
  I("default_delivery_slot_loan", "3", "Delivery slots loaned to a new message before preemption.", 0),
  I("default_extra_recipient_limit", "1000", "Recipients per transport read in addition to the in-memory ones.", 1),
  I("default_minimum_delivery_slots", "3", "Minimal delivery slots before preemption applies.", 0),
  T("default_recipient_refill_delay", "5s", "Delay before refilling recipients of a message.", 1),
  I("default_recipient_refill_limit", "100", "Recipients read per refill.", 1),
  I("default_recipient_limit", "20000", "Maximal in-memory recipients per transport.", 1),
  S("default_delivery_status_filter", "", "Optional filter that rewrites delivery status reports."),
  B("destination_concurrency_feedback_debug", "no", "Log the concurrency feedback computation."),
  I("duplicate_filter_limit", "1000", "Maximal number of addresses remembered for duplicate removal.", 0),
  B("confirm_delay_cleared", "no", "Tell the sender when a delayed message was finally delivered."),
  B("soft_bounce", "no", "Turn hard rejects and bounces into soft errors (for testing)."),
  S("flush_service_name", "flush", "Name of the fast flush service."),
  L("fast_flush_domains", "$relay_domains", "Domains eligible for per-destination logfiles (ETRN, sendmail -qR)."),
  T("fast_flush_purge_time", "7d", "Time after which an empty per-destination logfile is removed.", 1, 'd'),
  T("fast_flush_refresh_time", "12h", "Time after which a non-empty per-destination logfile is refreshed.", 1, 'h'),

  // Service names.
  S("address_verify_service_name", "verify", "Name of the address verification service."),
  S("anvil_service_name", "anvil", "Name of the connection rate limit service."),
  S("bounce_service_name", "bounce", "Name of the bounce service."),
  S("cleanup_service_name", "cleanup", "Name of the cleanup service."),
  S("defer_service_name", "defer", "Name of the defer service."),
  S("error_service_name", "error", "Name of the error delivery agent service."),
  S("pickup_service_name", "pickup", "Name of the pickup service."),
  S("proxymap_service_name", "proxymap", "Name of the read-only lookup table proxy service."),
  S("proxywrite_service_name", "proxywrite", "Name of the read-write lookup table proxy service."),
  S("rewrite_service_name", "rewrite", "Name of the address rewriting service."),
  S("scache_service_name", "scache", "Name of the connection cache service."),
  S("showq_service_name", "showq", "Name of the queue listing service."),
  S("tlsmgr_service_name", "tlsmgr", "Name of the TLS session cache manager service."),
  S("trace_service_name", "trace", "Name of the delivery trace service."),

  // Message limits and content.
  L("always_add_missing_headers", "no", "Add missing From:, To:, Date: and Message-ID: headers also to remote mail (yes/no)."),
  S("always_bcc", "", "Address that receives a copy of every message."),
  B("allow_min_user", "no", "Allow addresses that start with \"-\"."),
  B("allow_untrusted_routing", "no", "Forward mail with sender-specified routing (user@domain@domain)."),
  L("body_checks", "", "Lookup tables matched against body lines."),
  I("body_checks_size_limit", "51200", "Bytes of a body part inspected by body_checks.", 0),
  S("content_filter", "", "Transport:nexthop that receives all mail for filtering after the queue."),
  B("disable_mime_input_processing", "no", "Treat message bodies as plain text."),
  B("detect_8bit_encoding_header", "yes",
    "Take a Content-Transfer-Encoding of 8bit or binary as an 8BITMIME body (for the smtp client)."),
  B("disable_mime_output_conversion", "no", "Never convert 8BITMIME to 7BIT."),
  B("enable_original_recipient", "yes", "Keep the original recipient address in the queue file."),
  L("header_checks", "", "Lookup tables matched against primary message headers."),
  I("header_address_token_limit", "10240", "Maximal number of address tokens in a header.", 1),
  Z("header_size_limit", "102400", "Maximal size of one message header, in bytes.", 1),
  S("header_from_format", "standard", "Format of the From: header added by Postern: standard or obsolete."),
  I("hopcount_limit", "50", "Maximal number of Received: headers before a message is returned.", 1),
  L("internal_mail_filter_classes", "", "Kinds of internally generated mail to inspect with header/body checks and milters."),
  I("line_length_limit", "2048", "Lines longer than this are split into pieces of this size.", 1),
  L("message_drop_headers", "bcc, content-length, resent-bcc, return-path", "Headers removed from messages on arrival."),
  S("message_reject_characters", "", "Characters that cause a message to be rejected."),
  Z("message_size_limit", "10240000", "Maximal message size in bytes including envelope information; 0 means no limit."),
  S("message_strip_characters", "", "Characters removed from message content."),
  I("mime_boundary_length_limit", "2048", "Maximal MIME boundary string length.", 1),
  L("mime_header_checks", "$header_checks", "Lookup tables matched against MIME headers."),
  I("mime_nesting_limit", "100", "Maximal MIME multipart nesting.", 1),
  L("nested_header_checks", "$header_checks", "Lookup tables matched against headers of attached messages."),
  L("receive_override_options", "", "Switch off processing steps on receipt (no_address_mappings, no_header_body_checks, ...)."),
  L("recipient_bcc_maps", "", "Per-recipient automatic BCC addresses."),
  L("sender_bcc_maps", "", "Per-sender automatic BCC addresses."),
  B("strict_7bit_headers", "no", "Reject mail with 8-bit text in headers."),
  B("strict_8bitmime", "no", "Reject mail that violates 8BITMIME."),
  B("strict_8bitmime_body", "no", "Reject 8-bit bodies without 8BITMIME."),
  B("strict_mime_encoding_domain", "no", "Reject invalid Content-Transfer-Encoding values."),
  B("strict_rfc821_envelopes", "no", "Require <> around addresses in MAIL FROM and RCPT TO."),
  S("undisclosed_recipients_header", "", "Header added when a message has no To:/Cc:/Bcc:; empty adds nothing."),
  B("smtputf8_enable", "yes", "Support SMTPUTF8 (RFC 6531)."),
  L("smtputf8_autodetect_classes", "sendmail, verify", "Mail sources for which SMTPUTF8 is detected from the content."),
  B("strict_smtputf8", "no", "Require SMTPUTF8 for UTF-8 envelope addresses."),

  // Address rewriting.
  B("allow_percent_hack", "yes", "Rewrite user%domain into user@domain."),
  B("append_at_myorigin", "yes", "Append @$myorigin to locally posted unqualified addresses."),
  B("append_dot_mydomain", "no", "Append .$mydomain to user@host addresses."),
  L("canonical_classes", "envelope_sender, envelope_recipient, header_sender, header_recipient", "Addresses subject to canonical_maps."),
  L("canonical_maps", "", "Address mapping tables for sender and recipient addresses."),
  B("expand_owner_alias", "no", "Use the owner-alias expansion as sender of list mail."),
  S("local_header_rewrite_clients", "permit_inet_interfaces", "Clients whose headers are rewritten to the standard form."),
  L("masquerade_classes", "envelope_sender, header_sender, header_recipient", "Addresses subject to masquerading."),
  L("masquerade_domains", "", "Domains whose subdomains are stripped from addresses."),
  L("masquerade_exceptions", "", "Local parts exempt from masquerading."),
  B("owner_request_special", "yes", "Give owner-x and x-request addresses special treatment."),
  L("propagate_unmatched_extensions", "canonical, virtual", "Mappings that keep an address extension when the lookup used the base address."),
  L("recipient_canonical_classes", "envelope_recipient, header_recipient", "Addresses subject to recipient_canonical_maps."),
  L("recipient_canonical_maps", "", "Address mapping tables for recipient addresses."),
  S("recipient_delimiter", "", "Characters that separate a user name from an address extension (user+ext)."),
  S("remote_header_rewrite_domain", "", "Domain used to qualify addresses in headers from remote clients; empty disables rewriting."),
  B("resolve_dequoted_address", "yes", "Resolve addresses after removing quotes."),
  B("resolve_null_domain", "no", "Resolve user@ as a local address."),
  B("resolve_numeric_domain", "no", "Resolve user@ipaddress as local when the address is ours."),
  L("sender_canonical_classes", "envelope_sender, header_sender", "Addresses subject to sender_canonical_maps."),
  L("sender_canonical_maps", "", "Address mapping tables for sender addresses."),
  B("swap_bangpath", "yes", "Rewrite site!user into user@site."),

  // Virtual domains.
  S("virtual_transport", "virtual", "Transport for $virtual_mailbox_domains."),
  L("virtual_alias_domains", "$virtual_alias_maps", "Domains whose addresses are all aliases to elsewhere."),
  L("virtual_alias_maps", "$virtual_maps", "Alias tables that apply to all recipient domains."),
  I("virtual_alias_address_length_limit", "1000", "Maximal length of an address produced by virtual alias expansion.", 1),
  I("virtual_alias_expansion_limit", "1000", "Maximal number of addresses one virtual alias expansion may produce.", 1),
  I("virtual_alias_recursion_limit", "1000", "Maximal nesting depth of virtual alias expansion.", 1),
  S("virtual_mailbox_base", "", "Prefix of mailbox paths found by virtual_mailbox_maps."),
  L("virtual_mailbox_domains", "$virtual_mailbox_maps", "Domains delivered by the virtual delivery agent."),
  Z("virtual_mailbox_limit", "51200000", "Maximal size of a virtual mailbox file; 0 means no limit."),
  L("virtual_mailbox_lock", "fcntl, dotlock", "Locking method for virtual mailbox files."),
  L("virtual_mailbox_maps", "", "Valid virtual mailbox recipients and their mailbox paths."),
  L("virtual_maps", "", "Obsolete name of virtual_alias_maps."),
  L("virtual_gid_maps", "", "Group ID for each virtual mailbox recipient."),
  I("virtual_minimum_uid", "100", "Lowest user ID the virtual delivery agent accepts.", 1),
  L("virtual_uid_maps", "", "User ID for each virtual mailbox recipient."),

  // Local delivery.
  L("alias_database", "hash:/etc/aliases", "Alias databases built by newaliases."),
  L("alias_maps", "hash:/etc/aliases", "Alias tables used by the local delivery agent."),
  L("allow_mail_to_commands", "alias, forward", "Where delivery to |command is allowed (alias, forward, include)."),
  L("allow_mail_to_files", "alias, forward", "Where delivery to /file/name is allowed (alias, forward, include)."),
  B("biff", "yes", "Notify the comsat service of new mail."),
  T("command_time_limit", "1000s", "Time limit for delivery to an external command.", 1),
  RAW(S("command_execution_directory", "", "Working directory of local delivery to commands ($name expansions as for forward_path).")),
  RAW(S("execution_directory_expansion_filter", "1234567890!@%-_=+:,./abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "Characters allowed in $name expansions of command_execution_directory; others become underscores.")),
  RAW(S("forward_expansion_filter", "1234567890!@%-_=+:,./abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "Characters allowed in $name expansions of forward_path; others become underscores.")),
  RAW(L("forward_path", "$home/.forward${recipient_delimiter}${extension}, $home/.forward", "Where the local delivery agent looks for .forward files.")),
  S("home_mailbox", "", "Mailbox path relative to the home directory (ending in / for Maildir); empty means mail_spool_directory."),
  S("local_command_shell", "", "Shell for delivery to commands; empty runs simple commands directly and others with /bin/sh."),
  S("local_delivery_status_filter", "$default_delivery_status_filter", "Delivery status filter for the local delivery agent."),
  S("virtual_delivery_status_filter", "$default_delivery_status_filter", "Delivery status filter for the virtual delivery agent."),
  S("pipe_delivery_status_filter", "$default_delivery_status_filter", "Delivery status filter for the pipe delivery agent."),
  I("local_destination_concurrency_limit", "2", "Parallel deliveries to one local recipient.", 0),
  I("local_destination_recipient_limit", "1", "Recipients per local delivery.", 0),
  L("local_recipient_maps", "proxy:unix:passwd.byname $alias_maps", "Valid local recipients; empty accepts any local address."),
  RAW(S("luser_relay", "", "Destination for unknown local recipients.")),
  S("mail_spool_directory", "/var/mail", "Directory with UNIX-style mailboxes."),
  RAW(S("mailbox_command", "", "Command that delivers to a local mailbox instead of the built-in code.")),
  L("mailbox_command_maps", "", "Per-user mailbox_command."),
  L("mailbox_delivery_lock", "fcntl, dotlock", "Locking method for UNIX-style mailboxes."),
  Z("mailbox_size_limit", "51200000", "Maximal size of a mailbox or maildir file; 0 means no limit."),
  S("mailbox_transport", "", "Transport for local mailbox delivery."),
  L("mailbox_transport_maps", "", "Per-recipient mailbox_transport."),
  L("prepend_delivered_header", "command, file, forward", "Deliveries that add a Delivered-To: header."),
  B("require_home_directory", "no", "Require the recipient's home directory to exist."),
  T("stale_lock_time", "500s", "Age after which a dotlock file is removed.", 1),
  B("strict_mailbox_ownership", "yes", "Refuse delivery to a mailbox owned by another user."),
  I("deliver_lock_attempts", "20", "Attempts to lock a mailbox.", 1),
  T("deliver_lock_delay", "1s", "Delay between lock attempts.", 1),
  B("frozen_delivered_to", "yes", "Fix the Delivered-To: address at the start of local delivery."),

  // Reply codes.
  I("access_map_defer_code", "450", "Reply code for access map DEFER actions.", 400, 599),
  I("access_map_reject_code", "554", "Reply code for access map REJECT actions.", 400, 599),
  I("defer_code", "450", "Reply code for the defer restriction.", 400, 599),
  I("invalid_hostname_reject_code", "501", "Reply code for reject_invalid_helo_hostname.", 400, 599),
  I("maps_rbl_reject_code", "554", "Reply code for DNS blocklist rejections ($rbl_code).", 400, 599),
  RAW(S("default_rbl_reply",
    "$rbl_code Service unavailable; $rbl_class [$rbl_what] blocked using $rbl_domain${rbl_reason?; $rbl_reason}",
    "Reply template for reject_rbl_client and reject_rhsbl_* rejections.")),
  L("rbl_reply_maps", "", "Tables of reply templates by DNS list domain (default: default_rbl_reply)."),
  I("multi_recipient_bounce_reject_code", "550", "Reply code for reject_multi_recipient_bounce.", 400, 599),
  I("non_fqdn_reject_code", "504", "Reply code for non-FQDN rejections.", 400, 599),
  I("reject_code", "554", "Reply code for the reject restriction.", 400, 599),
  I("relay_domains_reject_code", "554", "Reply code for relay rejections.", 400, 599),
  I("plaintext_reject_code", "450", "Reply code for reject_plaintext_session.", 400, 599),
  I("unknown_address_reject_code", "450", "Reply code for unknown sender or recipient domains.", 400, 599),
  S("reject_tempfail_action", "defer_if_permit", "What a restriction does when it cannot decide for now (a DNS failure): defer_if_permit or defer."),
  S("unknown_address_tempfail_action", "$reject_tempfail_action", "reject_tempfail_action for reject_unknown_sender_domain and reject_unknown_recipient_domain."),
  S("unknown_helo_hostname_tempfail_action", "$reject_tempfail_action", "reject_tempfail_action for reject_unknown_helo_hostname."),
  I("unknown_client_reject_code", "450", "Reply code for clients without valid reverse DNS.", 400, 599),
  I("unknown_hostname_reject_code", "450", "Reply code for HELO names without DNS records.", 400, 599),
  I("unknown_local_recipient_reject_code", "550", "Reply code for unknown local recipients.", 400, 599),
  I("unknown_relay_recipient_reject_code", "550", "Reply code for unknown relay recipients.", 400, 599),
  I("unknown_virtual_alias_reject_code", "550", "Reply code for unknown virtual alias recipients.", 400, 599),
  I("unknown_virtual_mailbox_reject_code", "550", "Reply code for unknown virtual mailbox recipients.", 400, 599),
  I("unverified_recipient_reject_code", "450", "Reply code for recipients that fail address verification.", 400, 599),
  I("unverified_sender_reject_code", "450", "Reply code for senders that fail address verification.", 400, 599),

  // SMTP server.
  S("smtpd_banner", "$myhostname ESMTP $mail_name", "Text after the 220 code in the SMTP greeting."),
  T("smtpd_timeout", "300s", "Time limit for a client request or a reply write.", 1),
  T("smtpd_starttls_timeout", "300s", "Time limit for the TLS handshake.", 1),
  I("smtpd_recipient_limit", "1000", "Maximal recipients per message.", 1),
  I("smtpd_recipient_overshoot_limit", "1000", "Recipients beyond the limit that count as errors.", 1),
  I("smtpd_hard_error_limit", "20", "Errors after which the server disconnects.", 1),
  I("smtpd_soft_error_limit", "10", "Errors after which the server sleeps before each reply.", 1),
  T("smtpd_error_sleep_time", "1s", "Sleep before replies once the soft error limit is reached.", 0),
  I("smtpd_junk_command_limit", "100", "NOOP/VRFY/ETRN/RSET commands allowed before they count as errors.", 1),
  I("smtpd_history_flush_threshold", "100", "History lines after which HELO, EHLO, RSET or the end of a message mail the session transcript to the postmaster (notify_classes) and start a new one.", 1),
  I("smtpd_client_connection_count_limit", "50", "Simultaneous connections per client; 0 disables.", 0),
  I("smtpd_client_connection_rate_limit", "0", "Connections per client per anvil_rate_time_unit; 0 disables.", 0),
  I("smtpd_client_message_rate_limit", "0", "Messages per client per anvil_rate_time_unit; 0 disables.", 0),
  I("smtpd_client_recipient_rate_limit", "0", "Recipients per client per anvil_rate_time_unit; 0 disables.", 0),
  I("smtpd_client_new_tls_session_rate_limit", "0", "New TLS sessions per client per anvil_rate_time_unit; 0 disables.", 0),
  I("smtpd_client_auth_rate_limit", "0", "AUTH commands per client per anvil_rate_time_unit; 0 disables.", 0),
  L("smtpd_client_connection_limit_exceptions", "$mynetworks", "Older name of smtpd_client_event_limit_exceptions (which defaults to it)."),
  L("smtpd_client_event_limit_exceptions", "$smtpd_client_connection_limit_exceptions", "Clients exempt from the per-client connection, rate and event limits."),
  T("anvil_rate_time_unit", "60s", "Time unit of the per-client rate limits.", 1),
  T("anvil_status_update_time", "600s", "How often anvil logs its peak usage.", 1),
  L("smtpd_client_restrictions", "", "Restrictions applied on connect."),
  L("smtpd_helo_restrictions", "", "Restrictions applied to HELO/EHLO."),
  L("smtpd_sender_restrictions", "", "Restrictions applied to MAIL FROM."),
  L("smtpd_relay_restrictions", "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination", "Relay control restrictions for RCPT TO, evaluated before smtpd_recipient_restrictions."),
  L("smtpd_recipient_restrictions", "", "Spam-blocking restrictions for RCPT TO."),
  L("smtpd_data_restrictions", "", "Restrictions applied to DATA."),
  L("smtpd_end_of_data_restrictions", "", "Restrictions applied after the message content."),
  L("smtpd_etrn_restrictions", "", "Restrictions applied to ETRN."),
  L("smtpd_restriction_classes", "", "User-defined names for groups of restrictions."),
  L("smtpd_access_maps", "", "Obsolete; access tables are named in the restriction lists."),
  B("smtpd_delay_reject", "yes", "Postpone client, HELO and sender rejections until RCPT TO."),
  B("smtpd_helo_required", "no", "Require HELO or EHLO before MAIL FROM."),
  B("smtpd_reject_unlisted_recipient", "yes", "Reject recipients that are not known in their address class."),
  B("smtpd_reject_unlisted_sender", "no", "Reject senders that are not known in their address class."),
  S("smtpd_null_access_lookup_key", "<>", "Lookup key for the null sender in access tables."),
  S("smtpd_forbid_bare_newline", "normalize", "How to treat lines ending in bare LF (SMTP smuggling defence): normalize, yes, reject or no."),
  L("smtpd_forbid_bare_newline_exclusions", "$mynetworks", "Clients exempt from smtpd_forbid_bare_newline."),
  I("smtpd_forbid_bare_newline_reject_code", "550", "Reply code for smtpd_forbid_bare_newline = reject.", 400, 599),
  B("smtpd_forbid_unauth_pipelining", "yes", "Disconnect clients that pipeline commands before EHLO announces PIPELINING."),
  B("disable_vrfy_command", "no", "Disable the VRFY command."),
  L("smtpd_noop_commands", "", "Commands treated as NOOP."),
  L("smtpd_discard_ehlo_keywords", "", "EHLO keywords not announced."),
  L("smtpd_discard_ehlo_keyword_address_maps", "", "Per-client EHLO keywords not announced."),
  L("smtpd_authorized_xclient_hosts", "", "Clients allowed to use XCLIENT."),
  L("smtpd_authorized_xforward_hosts", "", "Clients allowed to use XFORWARD."),
  L("smtpd_authorized_verp_clients", "$authorized_verp_clients", "Clients allowed to request VERP."),
  L("authorized_verp_clients", "$mynetworks", "Clients allowed to request VERP (older name)."),
  B("smtpd_peername_lookup", "yes", "Look up the client name in DNS."),
  S("smtpd_command_filter", "", "Table that rewrites SMTP commands before they are parsed."),
  RAW(S("smtpd_expansion_filter", "\\t\\40!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\\\]^_`abcdefghijklmnopqrstuvwxyz{|}~", "Characters allowed in $name expansions of reply texts.")),
  L("smtpd_log_access_permit_actions", "", "Access table actions that are logged when they permit."),
  RAW(S("smtpd_reject_footer", "", "Text appended to 4xx/5xx replies.")),
  L("smtpd_reject_footer_maps", "", "Per-client smtpd_reject_footer."),
  S("smtpd_proxy_filter", "", "host:port of a before-queue content filter."),
  T("smtpd_proxy_timeout", "100s", "Time limit for the before-queue filter.", 1),
  L("smtpd_proxy_options", "", "Before-queue filter options (speed_adjust is refused)."),
  S("smtpd_proxy_ehlo", "$myhostname", "EHLO name sent to the before-queue filter."),
  S("smtpd_upstream_proxy_protocol", "", "Proxy protocol expected from an upstream proxy (haproxy) or empty."),
  T("smtpd_upstream_proxy_timeout", "5s", "Time limit for the proxy protocol header.", 1),
  B("smtpd_per_request_deadline", "no", "Apply smtpd_timeout to whole requests instead of single reads."),
  B("smtpd_per_record_deadline", "no", "Obsolete name of smtpd_per_request_deadline."),
  T("smtpd_policy_service_timeout", "100s", "Time limit for a policy server reply.", 1),
  T("smtpd_policy_service_max_idle", "300s", "Idle time after which a policy server connection is closed.", 1),
  T("smtpd_policy_service_max_ttl", "1000s", "Age after which a policy server connection is closed.", 1),
  I("smtpd_policy_service_request_limit", "0", "Requests per policy server connection (0: no limit).", 0),
  I("smtpd_policy_service_try_limit", "2", "Attempts to get an answer from a policy server.", 1),
  T("smtpd_policy_service_retry_delay", "1s", "Delay between policy server attempts.", 1),
  S("smtpd_policy_service_default_action", "451 4.3.5 Server configuration problem", "Action when a policy server gives no answer."),
  S("smtpd_policy_service_policy_context", "", "Text sent to policy servers as policy_context."),
  L("smtpd_sender_login_maps", "", "Which SASL login names may use which sender addresses."),
  L("smtpd_milters", "", "Milter applications for mail received with SMTP."),
  L("non_smtpd_milters", "", "Milter applications for mail not received with SMTP."),
  S("milter_macro_daemon_name", "$myhostname", "Value of the {daemon_name} macro sent to milters."),
  S("milter_macro_v", "$mail_name $mail_version", "Value of the {v} macro sent to milters."),
  S("milter_default_action", "tempfail", "What to do when a milter is unavailable: accept, reject, tempfail or quarantine."),
  I("milter_protocol", "6", "Milter protocol version.", 2, 6),
  T("milter_connect_timeout", "30s", "Time limit for connecting to a milter.", 1),
  T("milter_command_timeout", "30s", "Time limit for a milter command.", 1),
  T("milter_content_timeout", "300s", "Time limit for sending content to a milter.", 1),
  L("smtpd_dns_reply_filter", "", "Table that rewrites DNS replies seen by the SMTP server."),
  B("smtpd_sasl_auth_enable", "no", "Offer SASL authentication (AUTH)."),
  S("smtpd_sasl_type", "dovecot", "SASL implementation; Postern supports dovecot."),
  S("smtpd_sasl_path", "smtpd", "Socket path (relative to queue_directory) or name of the SASL server."),
  L("smtpd_sasl_security_options", "noanonymous", "SASL mechanism restrictions without TLS."),
  L("smtpd_sasl_tls_security_options", "$smtpd_sasl_security_options", "SASL mechanism restrictions with TLS."),
  S("smtpd_sasl_local_domain", "", "Realm of SASL users."),
  B("smtpd_sasl_authenticated_header", "no", "Record the SASL login name in the Received: header."),
  L("smtpd_sasl_exceptions_networks", "", "Clients to which AUTH is not offered."),
  B("broken_sasl_auth_clients", "no", "Also announce AUTH in the old AUTH=... form."),
  S("smtpd_tls_security_level", "", "TLS level: none, may (STARTTLS offered) or encrypt (required)."),
  B("smtpd_use_tls", "no", "Obsolete: offer STARTTLS (smtpd_tls_security_level = may)."),
  B("smtpd_enforce_tls", "no", "Obsolete: require STARTTLS (smtpd_tls_security_level = encrypt)."),
  B("smtpd_tls_auth_only", "no", "Offer AUTH only after STARTTLS."),
  S("smtpd_tls_cert_file", "", "Server certificate file (PEM)."),
  S("smtpd_tls_key_file", "$smtpd_tls_cert_file", "Server private key file (PEM)."),
  L("smtpd_tls_chain_files", "", "Files with private keys and certificate chains."),
  S("smtpd_tls_CAfile", "", "CA certificates for client certificate verification."),
  S("smtpd_tls_CApath", "", "Directory of CA certificates for client certificate verification."),
  I("smtpd_tls_loglevel", "0", "TLS logging verbosity (0-4).", 0, 4),
  B("smtpd_tls_received_header", "no", "Record TLS details in the Received: header."),
  L("smtpd_tls_protocols", ">=TLSv1", "TLS protocols offered with opportunistic TLS."),
  L("smtpd_tls_mandatory_protocols", ">=TLSv1", "TLS protocols offered with mandatory TLS."),
  S("smtpd_tls_ciphers", "medium", "Cipher grade with opportunistic TLS."),
  S("smtpd_tls_mandatory_ciphers", "medium", "Cipher grade with mandatory TLS."),
  L("smtpd_tls_exclude_ciphers", "", "Ciphers excluded with opportunistic TLS."),
  L("smtpd_tls_mandatory_exclude_ciphers", "", "Ciphers excluded with mandatory TLS."),
  S("smtpd_tls_session_cache_database", "", "TLS session cache table."),
  T("smtpd_tls_session_cache_timeout", "3600s", "Lifetime of cached TLS sessions.", 0),
  B("smtpd_tls_wrappermode", "no", "Start TLS immediately (port 465, submissions)."),
  B("smtpd_tls_ask_ccert", "no", "Ask clients for a certificate."),
  B("smtpd_tls_req_ccert", "no", "Require a verified client certificate."),
  I("smtpd_tls_ccert_verifydepth", "9", "Maximal client certificate chain depth.", 1),
  S("smtpd_tls_dh1024_param_file", "", "File with DH parameters."),
  S("smtpd_tls_eecdh_grade", "auto", "Elliptic curve selection."),
  S("smtpd_tls_fingerprint_digest", "sha256", "Digest for client certificate fingerprints."),
  B("smtpd_tls_always_issue_session_ids", "yes", "Issue TLS session IDs even without a session cache."),
  L("relay_clientcerts", "", "Client certificate fingerprints allowed to relay."),
  L("tls_server_sni_maps", "", "Per-SNI-name keys and certificates."),

  // QMQP server.
  L("qmqpd_authorized_clients", "", "Clients allowed to use the QMQP service."),
  B("qmqpd_client_port_logging", "no", "Log the client port in QMQP logging."),
  T("qmqpd_error_delay", "1s", "Delay before replying to a QMQP client after an error.", 0),
  T("qmqpd_timeout", "300s", "Time limit for QMQP I/O.", 1),

  // SMTP and LMTP clients.
  I("smtp_mx_address_limit", "5", "Maximal MX and A addresses tried per delivery; 0 means no limit.", 0),
  I("smtp_mx_session_limit", "2", "Maximal SMTP sessions per delivery; 0 means no limit.", 0),
  L("smtp_fallback_relay", "$fallback_relay", "Relays tried when the destination cannot be reached."),
  T("smtp_connect_timeout", "30s", "Time limit for a TCP connection; 0 uses the system limit.", 0),
  T("smtp_helo_timeout", "300s", "Time limit for the greeting and the HELO/EHLO reply.", 1),
  T("smtp_mail_timeout", "300s", "Time limit for the MAIL FROM reply.", 1),
  T("smtp_rcpt_timeout", "300s", "Time limit for a RCPT TO reply.", 1),
  T("smtp_data_init_timeout", "120s", "Time limit for the DATA reply.", 1),
  T("smtp_data_xfer_timeout", "180s", "Time limit for sending message content.", 1),
  T("smtp_data_done_timeout", "600s", "Time limit for the reply to the final \".\".", 1),
  T("smtp_quit_timeout", "300s", "Time limit for the QUIT reply.", 1),
  T("smtp_rset_timeout", "20s", "Time limit for the RSET reply.", 1),
  T("smtp_starttls_timeout", "300s", "Time limit for the TLS handshake.", 1),
  T("smtp_xforward_timeout", "300s", "Time limit for the XFORWARD reply.", 1),
  S("smtp_helo_name", "$myhostname", "Name sent in HELO/EHLO."),
  S("smtp_bind_address", "", "Local IPv4 address for outgoing connections."),
  S("smtp_bind_address6", "", "Local IPv6 address for outgoing connections."),
  L("smtp_host_lookup", "dns", "How to find server addresses: dns and/or native."),
  S("smtp_dns_support_level", "", "DNS features: disabled, enabled, dnssec (DNSSEC validation asked of the resolver, for DANE)."),
  L("smtp_dns_resolver_options", "", "Resolver options for SMTP client lookups."),
  B("smtp_skip_5xx_greeting", "yes", "Try the next server after a 5xx greeting."),
  B("smtp_always_send_ehlo", "yes", "Always send EHLO."),
  B("smtp_never_send_ehlo", "no", "Never send EHLO."),
  L("smtp_pix_workarounds", "disable_esmtp, delay_dotcrlf", "Workarounds for broken Cisco PIX firewalls."),
  I("smtp_line_length_limit", "998", "Content lines longer than this are broken, the rest behind a space; 0 disables.", 0),
  B("smtp_defer_if_no_mx_address_found", "no", "Defer mail when MX hosts have no address."),
  B("smtp_randomize_addresses", "yes", "Randomize the order of equal-preference MX addresses."),
  S("smtp_address_preference", "any", "Preferred address family: ipv4, ipv6 or any."),
  B("smtp_balance_inet_protocols", "yes", "Mix IPv4 and IPv6 addresses when trying servers."),
  S("smtp_address_verify_target", "rcpt", "How far address verification probes go: rcpt or data."),
  L("smtp_generic_maps", "", "Address rewriting for outgoing SMTP mail."),
  L("smtp_header_checks", "", "Header checks applied on output."),
  L("smtp_mime_header_checks", "", "MIME header checks applied on output."),
  L("smtp_nested_header_checks", "", "Nested header checks applied on output."),
  L("smtp_body_checks", "", "Body checks applied on output."),
  L("lmtp_header_checks", "", "Header checks applied on output by lmtp."),
  L("lmtp_mime_header_checks", "", "MIME header checks applied on output by lmtp."),
  L("lmtp_nested_header_checks", "", "Nested header checks applied on output by lmtp."),
  L("lmtp_body_checks", "", "Body checks applied on output by lmtp."),
  B("smtp_send_xforward_command", "no", "Send XFORWARD when the server supports it."),
  S("smtp_tcp_port", "smtp", "Default TCP port of the SMTP client."),
  S("smtp_delivery_status_filter", "$default_delivery_status_filter", "Delivery status filter for the SMTP client."),
  S("smtp_reply_filter", "", "Table that replaces SMTP server reply lines as they arrive (a last resort for broken servers)."),
  S("lmtp_reply_filter", "", "Table that replaces LMTP server reply lines as they arrive."),
  L("smtp_discard_ehlo_keywords", "", "EHLO keywords of servers that are ignored."),
  B("smtp_cname_overrides_servername", "no", "Use the CNAME target as the server name."),
  B("smtp_connection_cache_on_demand", "yes", "Cache connections to destinations with a backlog."),
  L("smtp_connection_cache_destinations", "", "Destinations whose connections are always cached."),
  B("lmtp_connection_cache_on_demand", "yes", "Cache LMTP connections to destinations with a backlog."),
  L("lmtp_connection_cache_destinations", "", "LMTP destinations whose connections are always cached."),
  B("smtp_tls_connection_reuse", "no", "Cache and reuse TLS-encrypted connections too (Postfix does it through tlsproxy)."),
  B("lmtp_tls_connection_reuse", "no", "Cache and reuse TLS-encrypted LMTP connections too."),
  T("lmtp_connection_cache_time_limit", "2s", "How long an idle cached LMTP connection is kept.", 1),
  T("lmtp_connection_reuse_time_limit", "300s", "Age after which a cached LMTP connection is not reused.", 1),
  I("lmtp_connection_reuse_count_limit", "0", "Uses after which a cached LMTP connection is not reused; 0 means no limit.", 0),
  T("smtp_connection_cache_time_limit", "2s", "How long an idle cached connection is kept.", 1),
  T("smtp_connection_reuse_time_limit", "300s", "Age after which a cached connection is not reused.", 1),
  I("smtp_connection_reuse_count_limit", "0", "Uses after which a cached connection is not reused; 0 means no limit.", 0),
  B("smtp_per_record_deadline", "no", "Apply time limits to whole records instead of single reads."),
  B("smtp_sasl_auth_enable", "no", "Authenticate to servers with SASL."),
  L("smtp_sasl_password_maps", "", "Per-destination SASL credentials."),
  L("smtp_sasl_security_options", "noplaintext, noanonymous", "SASL mechanism restrictions without TLS."),
  L("smtp_sasl_tls_security_options", "$smtp_sasl_security_options", "SASL mechanism restrictions with TLS."),
  L("smtp_sasl_mechanism_filter", "", "SASL mechanisms offered by servers that are considered."),
  B("smtp_sender_dependent_authentication", "no", "Look up SASL credentials by sender."),
  S("smtp_tls_security_level", "", "TLS level: none, may, encrypt, dane, dane-only, fingerprint, verify, secure."),
  B("smtp_use_tls", "no", "Obsolete: use STARTTLS when offered (smtp_tls_security_level = may)."),
  B("smtp_enforce_tls", "no", "Obsolete: require TLS (smtp_tls_security_level = encrypt)."),
  L("smtp_tls_policy_maps", "", "Per-destination TLS policy."),
  S("smtp_tls_cert_file", "", "Client certificate file (PEM)."),
  S("smtp_tls_key_file", "$smtp_tls_cert_file", "Client private key file (PEM)."),
  L("smtp_tls_chain_files", "", "Files with client keys and certificate chains."),
  S("smtp_tls_CAfile", "", "CA certificates for server verification."),
  S("smtp_tls_CApath", "", "Directory of CA certificates for server verification."),
  I("smtp_tls_loglevel", "0", "TLS logging verbosity (0-4).", 0, 4),
  L("smtp_tls_protocols", ">=TLSv1", "TLS protocols with opportunistic TLS."),
  L("smtp_tls_mandatory_protocols", ">=TLSv1", "TLS protocols with mandatory TLS."),
  S("smtp_tls_ciphers", "medium", "Cipher grade with opportunistic TLS."),
  S("smtp_tls_mandatory_ciphers", "medium", "Cipher grade with mandatory TLS."),
  L("smtp_tls_exclude_ciphers", "", "Ciphers excluded with opportunistic TLS."),
  L("smtp_tls_mandatory_exclude_ciphers", "", "Ciphers excluded with mandatory TLS."),
  S("smtp_tls_session_cache_database", "", "TLS session cache table."),
  T("smtp_tls_session_cache_timeout", "3600s", "Lifetime of cached TLS sessions.", 0),
  B("smtp_tls_note_starttls_offer", "no", "Log servers that offer STARTTLS when TLS is not used."),
  B("smtp_tls_wrappermode", "no", "Start TLS immediately (port 465)."),
  L("smtp_tls_verify_cert_match", "hostname", "Name checks for the verify level."),
  L("smtp_tls_secure_cert_match", "nexthop, dot-nexthop", "Name checks for the secure level."),
  I("smtp_tls_scert_verifydepth", "9", "Maximal server certificate chain depth.", 1),
  S("smtp_tls_servername", "", "SNI name sent to servers: empty, hostname, nexthop or a name."),
  S("smtp_tls_dane_insecure_mx_policy", "",
    "dane level, MX records not DNSSEC-validated: may, encrypt or dane (empty: dane when smtp_tls_security_level = dane, else may)."),
  S("smtp_tls_fingerprint_digest", "sha256", "Digest for server certificate fingerprints."),
  L("smtp_tls_fingerprint_cert_match", "", "Server certificate or public key fingerprints of the fingerprint level."),
  T("lmtp_connect_timeout", "0s", "Time limit for an LMTP connection; 0 uses the system limit.", 0),
  S("lmtp_lhlo_name", "$myhostname", "Name sent in LHLO."),
  T("lmtp_lhlo_timeout", "300s", "Time limit for the greeting and the LHLO reply.", 1),
  T("lmtp_mail_timeout", "300s", "Time limit for the MAIL FROM reply.", 1),
  T("lmtp_rcpt_timeout", "300s", "Time limit for a RCPT TO reply.", 1),
  T("lmtp_data_init_timeout", "120s", "Time limit for the DATA reply.", 1),
  T("lmtp_data_xfer_timeout", "180s", "Time limit for sending message content.", 1),
  T("lmtp_data_done_timeout", "600s", "Time limit for the replies to the final \".\".", 1),
  T("lmtp_quit_timeout", "300s", "Time limit for the QUIT reply.", 1),
  T("lmtp_rset_timeout", "20s", "Time limit for the RSET reply.", 1),
  S("lmtp_tcp_port", "24", "Default TCP port of the LMTP client."),
  I("lmtp_line_length_limit", "998", "Content lines longer than this are broken, the rest behind a space; 0 disables.", 0),
  L("lmtp_host_lookup", "dns", "How to find LMTP server addresses: dns and/or native."),
  B("lmtp_assume_final", "no", "Treat a successful LMTP delivery as final (DSN)."),
  B("lmtp_sasl_auth_enable", "no", "Authenticate to LMTP servers with SASL."),
  L("lmtp_sasl_password_maps", "", "Per-destination LMTP SASL credentials."),
  L("lmtp_sasl_security_options", "noplaintext, noanonymous", "LMTP SASL mechanism restrictions without TLS."),
  L("lmtp_sasl_tls_security_options", "$lmtp_sasl_security_options", "LMTP SASL mechanism restrictions with TLS."),
  L("lmtp_sasl_mechanism_filter", "", "SASL mechanisms offered by LMTP servers that are considered."),
  B("lmtp_sender_dependent_authentication", "no", "Look up LMTP SASL credentials by sender."),
  S("lmtp_tls_security_level", "", "TLS level of the LMTP client: none, may, encrypt, verify, secure."),
  B("lmtp_use_tls", "no", "Obsolete: use STARTTLS when offered (lmtp_tls_security_level = may)."),
  B("lmtp_enforce_tls", "no", "Obsolete: require TLS (lmtp_tls_security_level = encrypt)."),
  T("lmtp_starttls_timeout", "300s", "Time limit for the LMTP client's TLS handshake.", 1),
  L("lmtp_tls_policy_maps", "", "Per-destination TLS policy of the LMTP client."),
  S("lmtp_tls_cert_file", "", "LMTP client certificate file (PEM)."),
  S("lmtp_tls_key_file", "$lmtp_tls_cert_file", "LMTP client private key file (PEM)."),
  L("lmtp_tls_chain_files", "", "Files with LMTP client keys and certificate chains."),
  S("lmtp_tls_CAfile", "", "CA certificates for LMTP server verification."),
  S("lmtp_tls_CApath", "", "Directory of CA certificates for LMTP server verification."),
  I("lmtp_tls_loglevel", "0", "LMTP client TLS logging verbosity (0-4).", 0, 4),
  L("lmtp_tls_protocols", ">=TLSv1", "LMTP TLS protocols with opportunistic TLS."),
  L("lmtp_tls_mandatory_protocols", ">=TLSv1", "LMTP TLS protocols with mandatory TLS."),
  S("lmtp_tls_ciphers", "medium", "LMTP cipher grade with opportunistic TLS."),
  S("lmtp_tls_mandatory_ciphers", "medium", "LMTP cipher grade with mandatory TLS."),
  L("lmtp_tls_exclude_ciphers", "", "Ciphers the LMTP client excludes with opportunistic TLS."),
  L("lmtp_tls_mandatory_exclude_ciphers", "", "Ciphers the LMTP client excludes with mandatory TLS."),
  B("lmtp_tls_wrappermode", "no", "Start TLS immediately on LMTP connections."),
  L("lmtp_tls_verify_cert_match", "hostname", "Name checks for the LMTP verify level."),
  L("lmtp_tls_secure_cert_match", "nexthop", "Name checks for the LMTP secure level."),
  S("lmtp_tls_fingerprint_digest", "sha256", "Digest for LMTP server certificate fingerprints."),
  L("lmtp_tls_fingerprint_cert_match", "", "LMTP server certificate or public key fingerprints of the fingerprint level."),
  S("lmtp_tls_servername", "", "SNI name sent to LMTP servers: empty, hostname, nexthop or a name."),
  T("lmtp_xforward_timeout", "300s", "Time limit for the LMTP XFORWARD reply.", 1),
  B("lmtp_send_xforward_command", "no", "Send XFORWARD to LMTP servers that support it."),
  S("lmtp_delivery_status_filter", "$default_delivery_status_filter", "Delivery status filter for the LMTP client."),
  B("disable_dns_lookups", "no", "Obsolete: use smtp_host_lookup = native instead."),
  S("dnssec_probe", "ns:.", "qtype:qname asked once when DNSSEC answers come without the AD bit; empty: never."),

  // Address verification.
  S("address_verify_map", "btree:$data_directory/verify_cache", "Persistent cache of address verification results."),
  S("address_verify_sender", "$double_bounce_sender", "Sender address of verification probes."),
  T("address_verify_sender_ttl", "0s", "Lifetime of a time-dependent probe sender address; 0 disables.", 0),
  B("address_verify_negative_cache", "yes", "Cache failed verification results."),
  T("address_verify_negative_expire_time", "3d", "Lifetime of failed results.", 1, 'd'),
  T("address_verify_negative_refresh_time", "3h", "Age after which failed results are refreshed.", 1, 'h'),
  T("address_verify_positive_expire_time", "31d", "Lifetime of successful results.", 1, 'd'),
  T("address_verify_positive_refresh_time", "7d", "Age after which successful results are refreshed.", 1, 'd'),
  I("address_verify_poll_count", "3", "Polls for a verification result before answering \"unknown\".", 1),
  T("address_verify_poll_delay", "3s", "Delay between polls.", 1),
  T("address_verify_cache_cleanup_interval", "12h", "Interval between cache cleanups; 0 disables.", 0, 's'),
  S("address_verify_default_transport", "$default_transport", "default_transport for probes."),
  S("address_verify_local_transport", "$local_transport", "local_transport for probes."),
  S("address_verify_relay_transport", "$relay_transport", "relay_transport for probes."),
  S("address_verify_virtual_transport", "$virtual_transport", "virtual_transport for probes."),
  S("address_verify_relayhost", "$relayhost", "relayhost for probes."),
  L("address_verify_transport_maps", "$transport_maps", "transport_maps for probes."),
  L("address_verify_sender_dependent_relayhost_maps", "$sender_dependent_relayhost_maps", "sender_dependent_relayhost_maps for probes."),

  // TLS library.
  S("tls_random_source", "dev:/dev/urandom", "Source of entropy for the TLS library."),
  I("tls_daemon_random_bytes", "32", "Bytes of entropy a daemon requests from tlsmgr.", 1),
  S("tls_high_cipherlist", "aNULL:-aNULL:HIGH:@STRENGTH", "OpenSSL cipher list of the high grade."),
  S("tls_medium_cipherlist", "aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH", "OpenSSL cipher list of the medium grade."),
  S("tls_low_cipherlist", "aNULL:-aNULL:HIGH:MEDIUM:LOW:+RC4:@STRENGTH", "OpenSSL cipher list of the low grade."),
  S("tls_export_cipherlist", "aNULL:-aNULL:HIGH:MEDIUM:LOW:EXPORT:+RC4:@STRENGTH", "OpenSSL cipher list of the export grade."),
  S("tls_null_cipherlist", "eNULL:!aNULL", "OpenSSL cipher list of the null grade."),
  B("tls_preempt_cipherlist", "no", "Prefer the server's cipher order."),
  L("tls_ssl_options", "", "Extra OpenSSL options."),
  B("tls_append_default_CA", "no", "Also trust the system CA store."),

  // Lookup tables.
  S("default_database_type", "hash", "Table type used by newaliases and postmap when none is given."),
  S("default_cache_db_type", "btree", "Table type of caches."),
  Z("berkeley_db_create_buffer_size", "16777216", "Berkeley DB buffer size when a table is built.", 1),
  Z("berkeley_db_read_buffer_size", "131072", "Berkeley DB buffer size when a table is read.", 1),
  Z("lmdb_map_size", "16777216", "Initial LMDB memory map size of an lmdb: table being written; doubled when the table fills it.", 65536),
  L("proxy_read_maps", "$local_recipient_maps $mydestination $virtual_alias_maps $virtual_alias_domains $virtual_mailbox_maps $virtual_mailbox_domains $relay_recipient_maps $relay_domains $canonical_maps $sender_canonical_maps $recipient_canonical_maps $relocated_maps $transport_maps $mynetworks $smtpd_sender_login_maps $sender_bcc_maps $recipient_bcc_maps $smtp_generic_maps $lmtp_generic_maps $alias_maps $smtpd_client_restrictions $smtpd_helo_restrictions $smtpd_sender_restrictions $smtpd_relay_restrictions $smtpd_recipient_restrictions $address_verify_sender_dependent_relayhost_maps $address_verify_transport_maps $fallback_transport_maps $mailbox_command_maps $mailbox_transport_maps $sender_dependent_default_transport_maps $sender_dependent_relayhost_maps", "Tables the proxymap service may open for reading."),
  L("proxy_write_maps", "$smtp_sasl_auth_cache_name $lmtp_sasl_auth_cache_name $address_verify_map $postscreen_cache_map", "Tables the proxywrite service may open for writing."),
  L("lmtp_generic_maps", "", "Address rewriting for outgoing LMTP mail."),
  S("smtp_sasl_auth_cache_name", "", "Cache of SASL authentication failures."),
  S("lmtp_sasl_auth_cache_name", "", "Cache of LMTP SASL authentication failures."),
  S("postscreen_cache_map", "btree:$data_directory/postscreen_cache", "postscreen's cache of client results."),
  L("relocated_maps", "", "Tables with new contact information for users who moved."),
  B("relocated_prefix_enable", "yes", "Prefix relocated replies with \"5.1.6 User has moved to\"."),

  // Command access.
  L("authorized_flush_users", "static:anyone", "Users allowed to flush the queue."),
  L("authorized_mailq_users", "static:anyone", "Users allowed to list the queue."),
  L("authorized_submit_users", "static:anyone", "Users allowed to submit mail with sendmail."),
  L("authorized_submit_users_default", "", "Unused placeholder kept for main.cf compatibility."),
  S("sendmail_fix_line_endings", "always", "How sendmail treats bare LF and CRLF input: always, strict or never."),
  B("enable_errors_to", "no", "Send bounces to Errors-To: addresses."),
  S("default_verp_delimiters", "+=", "Default VERP delimiter characters."),
  S("verp_delimiter_filter", "-=+", "Characters allowed as VERP delimiters."),
  B("disable_verp_bounces", "no", "Send one bounce per message instead of one per recipient with VERP."),
};
// clang-format on

// Per-transport templates, named as in postconf(5).
// clang-format off
constexpr ParamDef kTemplates[] = {
  I("transport_delivery_slot_cost", "$default_delivery_slot_cost", "Per-transport default_delivery_slot_cost.", 0),
  I("transport_delivery_slot_discount", "$default_delivery_slot_discount", "Per-transport default_delivery_slot_discount.", 0, 100),
  I("transport_delivery_slot_loan", "$default_delivery_slot_loan", "Per-transport default_delivery_slot_loan.", 0),
  I("transport_destination_concurrency_failed_cohort_limit", "$default_destination_concurrency_failed_cohort_limit", "Per-transport default_destination_concurrency_failed_cohort_limit.", 0),
  I("transport_destination_concurrency_limit", "$default_destination_concurrency_limit", "Per-transport default_destination_concurrency_limit.", 0),
  S("transport_destination_concurrency_negative_feedback", "$default_destination_concurrency_negative_feedback", "Per-transport default_destination_concurrency_negative_feedback."),
  S("transport_destination_concurrency_positive_feedback", "$default_destination_concurrency_positive_feedback", "Per-transport default_destination_concurrency_positive_feedback."),
  T("transport_destination_rate_delay", "$default_destination_rate_delay", "Per-transport default_destination_rate_delay.", 0),
  I("transport_destination_recipient_limit", "$default_destination_recipient_limit", "Per-transport default_destination_recipient_limit.", 0),
  I("transport_extra_recipient_limit", "$default_extra_recipient_limit", "Per-transport default_extra_recipient_limit.", 1),
  I("transport_initial_destination_concurrency", "$initial_destination_concurrency", "Per-transport initial_destination_concurrency.", 1),
  I("transport_minimum_delivery_slots", "$default_minimum_delivery_slots", "Per-transport default_minimum_delivery_slots.", 0),
  I("transport_recipient_limit", "$default_recipient_limit", "Per-transport default_recipient_limit.", 1),
  T("transport_recipient_refill_delay", "$default_recipient_refill_delay", "Per-transport default_recipient_refill_delay.", 1),
  I("transport_recipient_refill_limit", "$default_recipient_refill_limit", "Per-transport default_recipient_refill_limit.", 1),
  T("transport_time_limit", "$command_time_limit", "Per-transport time limit for one delivery (pipe, local commands).", 1),
  T("transport_transport_rate_delay", "$default_transport_rate_delay", "Per-transport default_transport_rate_delay.", 0),
};
// clang-format on

constexpr std::string_view kTemplatePrefix = "transport";

// Both tables are sorted by name when the program is compiled: a daemon
// start then neither copies nor indexes ~600 entries (a copy and a hash
// index cost every start some 25 freshly faulted pages), and find_param()
// is a binary search.
constexpr bool by_name(const ParamDef& a, const ParamDef& b) { return a.name < b.name; }

template <std::size_t N>
constexpr std::array<ParamDef, N> sorted_table(const ParamDef (&in)[N], bool templates) {
  std::array<ParamDef, N> v{};
  for (std::size_t i = 0; i < N; ++i) {
    v[i] = in[i];
    v[i].per_transport = templates;
  }
  std::sort(v.begin(), v.end(), by_name);
  return v;
}

template <std::size_t N>
constexpr bool names_unique(const std::array<ParamDef, N>& v) {
  for (std::size_t i = 1; i < N; ++i)
    if (v[i - 1].name == v[i].name) return false;
  return true;
}

constexpr auto kParamsSorted = sorted_table(kParams, false);
constexpr auto kTemplatesSorted = sorted_table(kTemplates, true);
static_assert(names_unique(kParamsSorted), "a parameter is registered twice");
static_assert(names_unique(kTemplatesSorted), "a transport template is registered twice");

// A master.cf service name as it appears in a per-transport parameter:
// Postfix takes any, and "dovecot_lda_time_limit" is as common as
// "dovecot-lda_time_limit".
bool transport_name_ok(std::string_view s) {
  if (s.empty() || s.size() > 100) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) return false;
  return true;
}

std::optional<std::int64_t> unit_seconds(char u) {
  switch (u) {
    case 's': return 1;
    case 'm': return 60;
    case 'h': return 3600;
    case 'd': return 86400;
    case 'w': return 604800;
  }
  return std::nullopt;
}

}  // namespace

std::string_view to_string(Type t) {
  switch (t) {
    case Type::String: return "string";
    case Type::Bool: return "boolean";
    case Type::Int: return "integer";
    case Type::Time: return "time";
    case Type::Size: return "size";
    case Type::List: return "list";
  }
  return "?";
}

std::span<const ParamDef> registry() { return kParamsSorted; }
std::span<const ParamDef> transport_templates() { return kTemplatesSorted; }

const ParamDef* find_param(std::string_view name) {
  auto it = std::lower_bound(kParamsSorted.begin(), kParamsSorted.end(), name,
                             [](const ParamDef& p, std::string_view n) { return p.name < n; });
  if (it != kParamsSorted.end() && it->name == name) return &*it;
  // "<transport>_<suffix>": the longest matching suffix wins, so that
  // "x_destination_recipient_limit" never reads as "x_destination" +
  // "_recipient_limit" (a transport name may contain "_").
  const ParamDef* best = nullptr;
  std::size_t best_len = 0;
  for (const auto& t : kTemplatesSorted) {
    std::string_view suffix = t.name.substr(kTemplatePrefix.size());  // "_destination_..."
    if (name.size() <= suffix.size() || name.substr(name.size() - suffix.size()) != suffix) continue;
    if (!transport_name_ok(name.substr(0, name.size() - suffix.size()))) continue;
    if (suffix.size() > best_len) {
      best = &t;
      best_len = suffix.size();
    }
  }
  return best;
}

std::string default_text(const ParamDef& def, const ComputeEnv* env) {
  if (def.compute) {
    struct Empty : ComputeEnv {
      std::optional<std::string> explicit_value(std::string_view) const override { return std::nullopt; }
      std::optional<std::string> value(std::string_view n) const override {
        const ParamDef* d = find_param(n);
        if (!d || d->compute) return std::nullopt;  // no defaults-of-computed chains without a config
        return std::string(d->default_value);
      }
    } empty;
    return def.compute(env ? *env : empty);
  }
  return std::string(def.default_value);
}

std::optional<bool> parse_bool(std::string_view s) {
  if (str::iequals(s, "yes")) return true;
  if (str::iequals(s, "no")) return false;
  return std::nullopt;
}

std::optional<std::int64_t> parse_time(std::string_view s, char default_unit) {
  if (s.empty()) return std::nullopt;
  std::int64_t mult = 0;
  std::string_view digits = s;
  char last = s.back();
  if (last < '0' || last > '9') {
    auto m = unit_seconds(last);
    if (!m) return std::nullopt;
    mult = *m;
    digits = s.substr(0, s.size() - 1);
  } else {
    auto m = unit_seconds(default_unit);
    if (!m) return std::nullopt;
    mult = *m;
  }
  auto n = str::parse_uint(digits);
  if (!n || *n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max() / mult)) return std::nullopt;
  return static_cast<std::int64_t>(*n) * mult;
}

std::vector<std::string> split_list(std::string_view s) {
  std::vector<std::string> out;
  auto is_sep = [](char c) { return c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_sep(s[i])) ++i;
    if (i >= s.size()) break;
    std::size_t b = i;
    // Separators inside braces do not count, wherever the group starts:
    // "{a b}" and "inline:{k=v, {k2=v w}}" are one element each.
    int depth = 0;
    for (; i < s.size() && (depth > 0 || !is_sep(s[i])); ++i) {
      if (s[i] == '{') ++depth;
      else if (s[i] == '}' && depth > 0) --depth;
    }
    out.emplace_back(s.substr(b, i - b));
  }
  return out;
}

std::string strip_braces(std::string_view s) {
  s = str::trim(s);
  if (s.size() >= 2 && s.front() == '{' && s.back() == '}') s = str::trim(s.substr(1, s.size() - 2));
  return std::string(s);
}

Status check_value(const ParamDef& def, std::string_view name, std::string_view value) {
  auto bounds = [&](std::int64_t v, std::string_view kind) -> Status {
    if (v < def.min)
      return make_error("invalid {} value for parameter {}: {} (minimum {})", kind, name, value, def.min);
    if (v > def.max)
      return make_error("invalid {} value for parameter {}: {} (maximum {})", kind, name, value, def.max);
    return {};
  };
  switch (def.type) {
    case Type::String:
      return {};
    case Type::List: {
      int depth = 0;
      for (char c : value) {
        if (c == '{') ++depth;
        else if (c == '}' && --depth < 0) break;
      }
      if (depth != 0) return make_error("unbalanced {{}} in value of parameter {}: {}", name, value);
      return {};
    }
    case Type::Bool:
      if (!parse_bool(value))
        return make_error("bad boolean value for parameter {}: {} (specify yes or no)", name, value);
      return {};
    case Type::Int:
    case Type::Size: {
      auto v = str::parse_int(value);
      if (!v) return make_error("bad numerical value for parameter {}: {}", name, value);
      return bounds(*v, "numerical");
    }
    case Type::Time: {
      auto v = parse_time(value, def.unit);
      if (!v) return make_error("bad time value for parameter {}: {}", name, value);
      return bounds(*v, "time");
    }
  }
  return {};
}

}  // namespace postern::config
