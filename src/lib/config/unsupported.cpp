// unsupported.cpp - see unsupported.h.
#include "config/unsupported.h"

#include <algorithm>
#include <array>
#include <vector>

#include "base/strings.h"
#include "config/registry.h"

namespace postern::config {
namespace {

using R = Unsupported::Refuse;

// Every name here is a registered parameter that no daemon reads (found by
// a search of src/ when the list was made; nothing checks it since) and
// that no default of a parameter outside the list refers to (checked by
// Unsupported.ParametersThatDefaultToARefusedOneAreRefusedToo). Sorted by
// name. The exceptions are the kItems entries and the *tempfail_action
// ones: smtpd reads those, and only a value it cannot act on is refused.
// The smtp client has DANE (smtp/dane.h); the lmtp client does not
// (no lmtp_dns_support_level).
constexpr std::string_view kTlsVerified = "dane,dane-only";
// Keep in step with smtpd::Policy::eval_list() (policy.cpp); a test there
// checks that it evaluates every name here.
constexpr std::string_view kRestrictions =
    "permit,reject,defer,defer_if_permit,defer_if_reject,permit_mynetworks,permit_sasl_authenticated,permit_inet_interfaces,"
    "reject_plaintext_session,permit_tls_clientcerts,"
    "permit_tls_all_clientcerts,check_ccert_access,reject_unauth_pipelining,"
    "reject_unauth_destination,defer_unauth_destination,permit_auth_destination,permit_mx_backup,reject_unlisted_recipient,"
    "reject_unlisted_sender,"
    "reject_invalid_helo_hostname,reject_invalid_hostname,reject_non_fqdn_helo_hostname,reject_non_fqdn_hostname,"
    "reject_non_fqdn_sender,reject_non_fqdn_recipient,reject_unknown_sender_domain,reject_unknown_recipient_domain,"
    "reject_unknown_helo_hostname,reject_unknown_client_hostname,reject_unknown_client,"
    "reject_unknown_reverse_client_hostname,"
    "check_client_access,check_helo_access,check_sender_access,check_recipient_access,"
    "check_reverse_client_hostname_access,check_sasl_access,"
    "check_client_mx_access,check_client_ns_access,check_client_a_access,check_reverse_client_hostname_mx_access,check_reverse_client_hostname_ns_access,"
    "check_reverse_client_hostname_a_access,check_helo_mx_access,check_helo_ns_access,check_helo_a_access,check_sender_mx_access,"
    "check_sender_ns_access,check_sender_a_access,check_recipient_mx_access,check_recipient_ns_access,check_recipient_a_access,"
    "reject_rbl_client,reject_rhsbl_client,reject_rhsbl_reverse_client,reject_rhsbl_helo,reject_rhsbl_sender,"
    "reject_rhsbl_recipient,permit_dnswl_client,permit_rhswl_client,reject_multi_recipient_bounce,"
    "check_policy_service,reject_sender_login_mismatch,reject_authenticated_sender_login_mismatch,"
    "reject_known_sender_login_mismatch,reject_unauthenticated_sender_login_mismatch,warn_if_reject";
// The ones above that take a type:table argument (the next list element).
constexpr std::string_view kTableRestrictions =
    "check_client_access,check_helo_access,check_sender_access,check_recipient_access,check_ccert_access,"
    "check_reverse_client_hostname_access,check_sasl_access,"
    "check_client_mx_access,check_client_ns_access,check_client_a_access,check_reverse_client_hostname_mx_access,check_reverse_client_hostname_ns_access,"
    "check_reverse_client_hostname_a_access,check_helo_mx_access,check_helo_ns_access,check_helo_a_access,check_sender_mx_access,"
    "check_sender_ns_access,check_sender_a_access,check_recipient_mx_access,check_recipient_ns_access,check_recipient_a_access";
// The ones that take a DNS block list domain (with an optional "=d.d.d.d"
// result filter) as the next list element.
constexpr std::string_view kDomainRestrictions =
    "reject_rbl_client,reject_rhsbl_client,reject_rhsbl_reverse_client,reject_rhsbl_helo,reject_rhsbl_sender,"
    "reject_rhsbl_recipient,permit_dnswl_client,permit_rhswl_client";
constexpr std::string_view kNoRestriction = "have other smtpd restrictions";
constexpr auto kList = std::to_array<Unsupported>({
    {"frozen_delivered_to", R::kOther, "yes", "update Delivered-To: while expanding aliases (frozen_delivered_to = no)"},
    {"lmtp_tls_security_level", R::kValues, kTlsVerified, "have DANE in the lmtp client"},
    {"non_smtpd_milters", R::kNonEmpty, "", "have milters"},
    {"reject_tempfail_action", R::kOther, "defer_if_permit,defer", "have other temporary-failure actions"},
    {"resolve_dequoted_address", R::kOther, "yes", "resolve quoted address forms as written (resolve_dequoted_address = no)"},
    {"smtpd_client_restrictions", R::kItems, kRestrictions, kNoRestriction},
    {"smtpd_data_restrictions", R::kItems, kRestrictions, kNoRestriction},
    {"smtpd_dns_reply_filter", R::kNonEmpty, "", "have reply filters"},
    {"smtpd_end_of_data_restrictions", R::kItems, kRestrictions, kNoRestriction},
    {"smtpd_helo_restrictions", R::kItems, kRestrictions, kNoRestriction},
    {"smtpd_milters", R::kNonEmpty, "", "have milters"},
    {"smtpd_recipient_restrictions", R::kItems, kRestrictions, kNoRestriction},
    {"smtpd_relay_restrictions", R::kItems, kRestrictions, kNoRestriction},
    {"smtpd_sender_restrictions", R::kItems, kRestrictions, kNoRestriction},
    {"unknown_address_tempfail_action", R::kOther, "defer_if_permit,defer", "have other temporary-failure actions"},
    {"unknown_helo_hostname_tempfail_action", R::kOther, "defer_if_permit,defer",
     "have other temporary-failure actions"},
});

// Accepted and ignored. Tuning knobs of Postfix's own design (delivery
// slots, concurrency feedback), paths and service names
// Postern does not use (flush, proxywrite, scache, tlsmgr, postlog),
// debugging aids (debug_peer_list, debugger_command), Cyrus SASL's realm and
// SASL credential caches, the secondary settings of features whose main
// switch is refused above (milters, address verification), and TLS details Postern leaves to OpenSSL's defaults (session
// caches, SNI, random sources, chain depth, DH parameters). None of them makes
// mail bypass a check or a filter, or go in plain text, when ignored.
// Sorted.
constexpr std::string_view kIgnored[] = {
    "address_verify_cache_cleanup_interval", "address_verify_map", "address_verify_negative_cache",
    "address_verify_negative_expire_time", "address_verify_negative_refresh_time", "address_verify_poll_count",
    "address_verify_poll_delay", "address_verify_positive_expire_time", "address_verify_positive_refresh_time",
    "address_verify_sender", "address_verify_sender_ttl", "address_verify_service_name",
    "application_event_drain_time", "authorized_submit_users_default", "authorized_verp_clients", "biff",
    "confirm_delay_cleared", "daemon_table_open_error_is_fatal", "data_directory",
    "debug_peer_level", "debug_peer_list", "debugger_command", "default_cache_db_type",
    "default_delivery_slot_cost", "default_delivery_slot_discount", "default_delivery_slot_loan",
    "default_extra_recipient_limit", "default_minimum_delivery_slots", "default_recipient_limit",
    "default_recipient_refill_delay", "default_recipient_refill_limit", "default_verp_delimiters",
    "delay_logging_resolution_limit", "destination_concurrency_feedback_debug",
    "disable_verp_bounces", "enable_errors_to",
    "error_service_name", "fast_flush_domains", "fast_flush_purge_time", "fast_flush_refresh_time",
    "flush_service_name", "fork_attempts", "fork_delay", "html_directory", "info_log_address_format",
    "internal_mail_filter_classes", "ipc_ttl", "lmtp_sasl_auth_cache_name",
    "mailq_path", "manpage_directory", "meta_directory", "milter_command_timeout", "milter_connect_timeout",
    "milter_content_timeout", "milter_default_action", "milter_macro_daemon_name", "milter_macro_v",
    "milter_protocol", "multi_instance_directories", "multi_instance_enable", "multi_instance_group",
    "multi_instance_name", "newaliases_path", "postlog_service_name",
    "postscreen_cache_map", "process_id_directory", "proxy_write_maps",
    "proxywrite_service_name", "qmgr_clog_warn_time",
    "qmgr_fudge_factor", "queue_file_attribute_count_limit",
    "readme_directory", "relocated_prefix_enable", "sample_directory",
    "scache_service_name", "sendmail_path", "smtp_address_verify_target", "smtp_cname_overrides_servername",
    "smtp_connection_cache_destinations", "smtp_connection_cache_on_demand", "smtp_dns_resolver_options",
    "smtp_per_record_deadline", "smtp_pix_workarounds", "smtp_sasl_auth_cache_name",
    "smtp_tls_note_starttls_offer", "smtp_tls_scert_verifydepth",
    "smtp_tls_session_cache_database", "smtp_tls_session_cache_timeout",
    "smtpd_access_maps", "smtpd_authorized_verp_clients",
    "smtpd_client_port_logging",
    "smtpd_discard_ehlo_keyword_address_maps", "smtpd_etrn_restrictions",
    "smtpd_log_access_permit_actions", "smtpd_noop_commands", "smtpd_per_record_deadline",
    "smtpd_per_request_deadline", "smtpd_recipient_overshoot_limit",
    "smtpd_sasl_local_domain", "smtpd_tls_always_issue_session_ids",
    "smtpd_tls_dh1024_param_file", "smtpd_tls_eecdh_grade",
    "smtpd_tls_session_cache_database", "smtpd_tls_session_cache_timeout",
    "stress", "tls_daemon_random_bytes", "tls_random_source",
    "tls_server_sni_maps", "tls_ssl_options", "tlsmgr_service_name", "transport_delivery_slot_cost",
    "transport_delivery_slot_discount", "transport_delivery_slot_loan",
    "transport_extra_recipient_limit",
    "transport_minimum_delivery_slots", "transport_recipient_limit", "transport_recipient_refill_delay",
    "transport_recipient_refill_limit", "transport_time_limit", "trigger_timeout",
    "unverified_recipient_reject_code", "unverified_sender_reject_code", "verp_delimiter_filter",
};

constexpr bool sorted_by_name() {
  for (std::size_t i = 1; i < kList.size(); ++i)
    if (!(kList[i - 1].name < kList[i].name)) return false;
  return true;
}
static_assert(sorted_by_name(), "keep kList sorted by name");
static_assert(std::is_sorted(std::begin(kIgnored), std::end(kIgnored)), "keep kIgnored sorted");

bool one_of(std::string_view value, std::string_view values) {
  for (const auto& v : str::split(values, ","))
    if (str::iequals(value, v)) return true;
  return false;
}

// The first element of the list `value` that is not one of `values`
// (empty when there is none). Restriction lists are split as smtpd splits
// them (Config::list(), split_list()): at commas and white space outside
// braces. The element after a
// restriction that takes a table is that table; one missing is reported as
// "NAME (without its type:table)".
std::string foreign_item(std::string_view value, std::string_view values, std::span<const std::string> classes = {}) {
  auto items = split_list(value);
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (std::find(classes.begin(), classes.end(), items[i]) != classes.end()) continue;
    if (!one_of(items[i], values)) return items[i];
    if (one_of(items[i], kTableRestrictions)) {
      if (i + 1 == items.size() || items[i + 1].find(':') == std::string::npos)
        return items[i] + " (without its type:table)";
      ++i;
    } else if (one_of(items[i], kDomainRestrictions)) {
      // The domain is checked in full (smtpd's policy) when smtpd starts.
      if (i + 1 == items.size() || items[i + 1].find(':') != std::string::npos ||
          one_of(items[i + 1], kRestrictions))
        return items[i] + " (without its DNS list domain)";
      ++i;
    } else if (str::iequals(items[i], "check_policy_service")) {
      // The server is checked in full (smtpd's policy) when smtpd starts.
      if (i + 1 == items.size() || items[i + 1].empty() ||
          (items[i + 1].front() != '{' && items[i + 1].rfind("inet:", 0) != 0 && items[i + 1].rfind("unix:", 0) != 0))
        return items[i] + " (without its inet:host:port or unix:path)";
      ++i;
    }
  }
  return {};
}

bool refused(const Unsupported& u, std::string_view value, std::span<const std::string> classes) {
  value = str::trim(value);
  switch (u.refuse) {
    case R::kNonEmpty: return !value.empty();
    case R::kYes: return str::iequals(value, "yes");
    case R::kNonZero: {
      // A count or a time ("0", "0s", "10", "1s"): any digit but 0 asks
      // for the feature, and so does anything that is not a number.
      std::string_view digits = value;
      if (!digits.empty() && std::string_view("smhdw").find(digits.back()) != std::string_view::npos)
        digits.remove_suffix(1);
      if (digits.empty()) return true;
      for (char c : digits)
        if (c != '0') return true;
      return false;
    }
    case R::kValues: return one_of(value, u.values);
    case R::kOther: return !one_of(value, u.values);
    case R::kItems: return !foreign_item(value, u.values, classes).empty();
  }
  return false;
}

std::string comma_list(std::string_view values) {
  std::string out;
  for (const auto& v : str::split(values, ",")) out += (out.empty() ? "" : ", ") + v;
  return out;
}

}  // namespace

std::span<const Unsupported> unsupported_parameters() { return kList; }

std::span<const std::string_view> smtpd_restrictions() {
  static const auto names = [] {
    std::vector<std::string_view> out;
    std::string_view rest = kRestrictions;
    while (!rest.empty()) {
      auto comma = rest.find(',');
      out.push_back(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
    return out;
  }();
  return names;
}

bool smtpd_restriction_takes_table(std::string_view name) { return one_of(name, kTableRestrictions); }
bool smtpd_restriction_takes_domain(std::string_view name) { return one_of(name, kDomainRestrictions); }
bool smtpd_restriction_takes_server(std::string_view name) { return str::iequals(name, "check_policy_service"); }

std::span<const std::string_view> ignored_parameters() { return kIgnored; }

const Unsupported* find_unsupported(std::string_view name) {
  auto it = std::lower_bound(kList.begin(), kList.end(), name,
                             [](const Unsupported& u, std::string_view n) { return u.name < n; });
  return it != kList.end() && it->name == name ? &*it : nullptr;
}

namespace {
Error foreign_restriction(std::string_view name, std::string_view value, std::string_view item) {
  return make_error("parameter {} = {}: Postern does not have the smtpd restriction \"{}\"; remove it "
                    "(Postern has: {}, and the classes named in smtpd_restriction_classes)",
                    name, str::printable(str::trim(value), 100), str::printable(item, 100),
                    comma_list(kRestrictions));
}
}  // namespace

Status check_restriction_class(std::string_view name, std::string_view value, std::span<const std::string> classes) {
  std::string bad = foreign_item(value, kRestrictions, classes);
  if (bad.empty()) return {};
  return foreign_restriction(name, value, bad);
}

Status check_supported(std::string_view name, std::string_view value, std::string_view entry,
                       std::span<const std::string> classes) {
  const Unsupported* u = find_unsupported(entry.empty() ? name : entry);
  if (!u || !refused(*u, value, classes)) return {};
  if (u->refuse == R::kItems) return foreign_restriction(name, value, foreign_item(value, u->values, classes));
  return make_error("parameter {} = {}: Postern does not {}; remove the setting or set it to {}", name,
                    str::printable(str::trim(value), 100), u->missing,
                    u->refuse == R::kOther ? std::string(u->values)
                    : u->refuse == R::kYes ? std::string("no")
                    : u->refuse == R::kNonZero ? std::string("0")
                    : u->refuse == R::kValues ? std::string("a value other than ") + refused_values_text(*u)
                                              : std::string("an empty value"));
}

std::string refused_values_text(const Unsupported& u) {
  auto list = comma_list;
  switch (u.refuse) {
    case R::kNonEmpty: return "any non-empty value";
    case R::kYes: return "yes";
    case R::kNonZero: return "any value other than 0";
    case R::kValues: return list(u.values);
    case R::kOther: return "anything but " + list(u.values);
    case R::kItems: return "a restriction other than " + list(u.values);
  }
  return {};
}

}  // namespace postern::config
