// unsupported.cpp - see unsupported.h.
#include "config/unsupported.h"

#include <algorithm>
#include <array>
#include <charconv>

#include "base/strings.h"

namespace postern::config {
namespace {

using R = Unsupported::Refuse;

// Every name here is a registered parameter that no daemon reads and no
// default of another parameter refers to (Registry tests check both halves
// that can be checked mechanically). Sorted by name.
constexpr std::string_view kTlsRequired = "encrypt,dane,dane-only,fingerprint,verify,secure";
constexpr auto kList = std::to_array<Unsupported>({
    {"always_bcc", R::kNonEmpty, "", "send copies of messages (always_bcc)"},
    {"authorized_flush_users", R::kOther, "static:anyone", "restrict who may flush the queue"},
    {"authorized_mailq_users", R::kOther, "static:anyone", "restrict who may list the queue"},
    {"authorized_submit_users", R::kOther, "static:anyone", "restrict who may submit mail with sendmail"},
    {"body_checks", R::kNonEmpty, "", "have body_checks"},
    {"content_filter", R::kNonEmpty, "", "have after-queue content filters"},
    {"default_delivery_status_filter", R::kNonEmpty, "", "have delivery status filters"},
    {"defer_transports", R::kNonEmpty, "", "hold back deliveries with defer_transports"},
    {"disable_dns_lookups", R::kYes, "", "deliver without DNS lookups"},
    {"fallback_transport", R::kNonEmpty, "", "hand unknown local recipients to a fallback transport"},
    {"fallback_transport_maps", R::kNonEmpty, "", "hand unknown local recipients to a fallback transport"},
    {"header_checks", R::kNonEmpty, "", "have header_checks"},
    {"lmtp_delivery_status_filter", R::kNonEmpty, "", "have delivery status filters"},
    {"lmtp_generic_maps", R::kNonEmpty, "", "rewrite addresses on output (generic maps)"},
    {"lmtp_sasl_auth_enable", R::kYes, "", "have SASL authentication"},
    {"lmtp_tls_security_level", R::kValues, kTlsRequired, "have TLS"},
    {"local_delivery_status_filter", R::kNonEmpty, "", "have delivery status filters"},
    {"mailbox_command_maps", R::kNonEmpty, "", "look up per-user mailbox commands"},
    {"mailbox_transport", R::kNonEmpty, "", "hand local mailbox delivery to another transport"},
    {"mailbox_transport_maps", R::kNonEmpty, "", "hand local mailbox delivery to another transport"},
    {"master_service_disable", R::kNonEmpty, "", "disable master.cf services with master_service_disable"},
    {"message_reject_characters", R::kNonEmpty, "", "reject messages by character"},
    {"message_strip_characters", R::kNonEmpty, "", "strip characters from messages"},
    {"mime_header_checks", R::kNonEmpty, "", "have header_checks"},
    {"nested_header_checks", R::kNonEmpty, "", "have header_checks"},
    {"non_smtpd_milters", R::kNonEmpty, "", "have milters"},
    {"receive_override_options", R::kNonEmpty, "", "have receive_override_options"},
    {"recipient_bcc_maps", R::kNonEmpty, "", "send copies of messages (recipient_bcc_maps)"},
    {"relay_recipient_maps", R::kNonEmpty, "", "check relay recipients against relay_recipient_maps"},
    {"relocated_maps", R::kNonEmpty, "", "have relocated_maps"},
    {"require_home_directory", R::kYes, "", "require home directories for local delivery"},
    {"sender_bcc_maps", R::kNonEmpty, "", "send copies of messages (sender_bcc_maps)"},
    {"smtp_bind_address", R::kNonEmpty, "", "choose the SMTP client's source address"},
    {"smtp_bind_address6", R::kNonEmpty, "", "choose the SMTP client's source address"},
    {"smtp_body_checks", R::kNonEmpty, "", "have body_checks"},
    {"smtp_defer_if_no_mx_address_found", R::kYes, "", "defer when no MX host has an address"},
    {"smtp_delivery_status_filter", R::kNonEmpty, "", "have delivery status filters"},
    {"smtp_dns_support_level", R::kValues, "disabled", "deliver without DNS lookups"},
    {"smtp_enforce_tls", R::kYes, "", "have TLS"},
    {"smtp_generic_maps", R::kNonEmpty, "", "rewrite addresses on output (generic maps)"},
    {"smtp_header_checks", R::kNonEmpty, "", "have header_checks"},
    {"smtp_host_lookup", R::kOther, "dns", "look up SMTP servers other than in the DNS"},
    {"smtp_mime_header_checks", R::kNonEmpty, "", "have header_checks"},
    {"smtp_nested_header_checks", R::kNonEmpty, "", "have header_checks"},
    {"smtp_reply_filter", R::kNonEmpty, "", "have reply filters"},
    {"smtp_sasl_auth_enable", R::kYes, "", "have SASL authentication"},
    {"smtp_sender_dependent_authentication", R::kYes, "", "have SASL authentication"},
    {"smtp_tls_policy_maps", R::kNonEmpty, "", "have TLS"},
    {"smtp_tls_security_level", R::kValues, kTlsRequired, "have TLS"},
    {"smtp_tls_wrappermode", R::kYes, "", "have TLS"},
    {"smtpd_client_message_rate_limit", R::kNonZero, "", "limit message rates per client"},
    {"smtpd_client_recipient_rate_limit", R::kNonZero, "", "limit recipient rates per client"},
    {"smtpd_command_filter", R::kNonEmpty, "", "have smtpd_command_filter"},
    {"smtpd_data_restrictions", R::kNonEmpty, "", "have smtpd_data_restrictions"},
    {"smtpd_dns_reply_filter", R::kNonEmpty, "", "have reply filters"},
    {"smtpd_end_of_data_restrictions", R::kNonEmpty, "", "have smtpd_end_of_data_restrictions"},
    {"smtpd_enforce_tls", R::kYes, "", "have TLS"},
    {"smtpd_milters", R::kNonEmpty, "", "have milters"},
    {"smtpd_proxy_filter", R::kNonEmpty, "", "have before-queue content filters"},
    {"smtpd_reject_unlisted_sender", R::kYes, "", "reject unlisted senders"},
    {"smtpd_restriction_classes", R::kNonEmpty, "", "have restriction classes"},
    {"smtpd_sasl_auth_enable", R::kYes, "", "have SASL authentication"},
    {"smtpd_tls_security_level", R::kValues, "encrypt", "have TLS"},
    {"smtpd_tls_wrappermode", R::kYes, "", "have TLS"},
    {"smtpd_upstream_proxy_protocol", R::kNonEmpty, "", "speak the haproxy protocol"},
    {"soft_bounce", R::kYes, "", "have soft_bounce"},
    {"strict_7bit_headers", R::kYes, "", "have strict MIME checks"},
    {"strict_8bitmime", R::kYes, "", "have strict MIME checks"},
    {"strict_8bitmime_body", R::kYes, "", "have strict MIME checks"},
    {"strict_mime_encoding_domain", R::kYes, "", "have strict MIME checks"},
    {"strict_smtputf8", R::kYes, "", "have strict SMTPUTF8 checks"},
});

constexpr bool sorted_by_name() {
  for (std::size_t i = 1; i < kList.size(); ++i)
    if (!(kList[i - 1].name < kList[i].name)) return false;
  return true;
}
static_assert(sorted_by_name(), "keep kList sorted by name");

bool one_of(std::string_view value, std::string_view values) {
  for (const auto& v : str::split(values, ","))
    if (str::iequals(value, v)) return true;
  return false;
}

bool refused(const Unsupported& u, std::string_view value) {
  value = str::trim(value);
  switch (u.refuse) {
    case R::kNonEmpty: return !value.empty();
    case R::kYes: return str::iequals(value, "yes");
    case R::kNonZero: {
      long long n = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      return ec != std::errc() || p != value.data() + value.size() || n != 0;
    }
    case R::kValues: return one_of(value, u.values);
    case R::kOther: return !one_of(value, u.values);
  }
  return false;
}

}  // namespace

std::span<const Unsupported> unsupported_parameters() { return kList; }

const Unsupported* find_unsupported(std::string_view name) {
  auto it = std::lower_bound(kList.begin(), kList.end(), name,
                             [](const Unsupported& u, std::string_view n) { return u.name < n; });
  return it != kList.end() && it->name == name ? &*it : nullptr;
}

Status check_supported(std::string_view name, std::string_view value) {
  const Unsupported* u = find_unsupported(name);
  if (!u || !refused(*u, value)) return {};
  return make_error("parameter {} = {}: Postern does not {}; remove the setting or set it to {}", name,
                    str::printable(str::trim(value), 100), u->missing,
                    u->refuse == R::kOther ? std::string(u->values)
                    : u->refuse == R::kYes ? std::string("no")
                    : u->refuse == R::kNonZero ? std::string("0")
                    : u->refuse == R::kValues ? std::string("a value other than ") + refused_values_text(*u)
                                              : std::string("an empty value"));
}

std::string refused_values_text(const Unsupported& u) {
  auto list = [](std::string_view values) {
    std::string out;
    for (const auto& v : str::split(values, ",")) out += (out.empty() ? "" : ", ") + v;
    return out;
  };
  switch (u.refuse) {
    case R::kNonEmpty: return "any non-empty value";
    case R::kYes: return "yes";
    case R::kNonZero: return "any value other than 0";
    case R::kValues: return list(u.values);
    case R::kOther: return "anything but " + list(u.values);
  }
  return {};
}

}  // namespace postern::config
