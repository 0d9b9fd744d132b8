// unsupported.h - parameters whose feature Postern does not have.
//
// The registry knows every Postfix parameter name, so that a main.cf written
// for Postfix loads and `postconf` shows it. For most of those Postern lacks
// nothing that matters (a tuning knob of Postfix's own design, a path it does
// not use). For the ones below, a value that asks for the feature would be
// silently ignored otherwise, and the mail system would then do something
// the administrator ruled out: mail that bypasses a content filter or milter,
// plain-text SMTP where TLS was required, a bounce where soft_bounce asked
// for a retry, a local delivery where mailbox_transport named Dovecot. Such a
// value is refused when main.cf (or an -o override) is read, with the reason,
// so that Postern does not start rather than run without it. The "off" value
// of each (empty, no, 0, the default) stays accepted, as do the values that
// Postfix itself treats as best effort (smtp_tls_security_level = may).
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "base/result.h"

namespace postern::config {

struct Unsupported {
  enum class Refuse {
    kNonEmpty,  // any non-empty value (a list of tables, a transport, a filter)
    kYes,       // the boolean yes
    kNonZero,   // any number other than 0
    kValues,    // one of `values` (comma-separated, any case)
    kOther,     // anything but one of `values` (comma-separated, any case)
    kItems,     // a list with an element that is not one of `values` (a
                // restriction list naming a restriction Postern lacks)
  };
  std::string_view name;
  Refuse refuse;
  std::string_view values;
  // What Postern lacks, as the end of "Postern does not ...".
  std::string_view missing;
};

// The list, sorted by name.
std::span<const Unsupported> unsupported_parameters();

// The smtpd restrictions Postern has (lower case), for the restriction
// lists' entries here and for the smtpd policy, which evaluates exactly
// these (Policy.EveryListedRestrictionIsEvaluated checks that).
std::span<const std::string_view> smtpd_restrictions();
// Whether restriction `name` (lower case) takes a type:table argument, the
// next element of the list (check_client_access hash:/etc/postfix/access).
bool smtpd_restriction_takes_table(std::string_view name);
// Whether it takes a DNS list domain instead (reject_rbl_client zen.example,
// reject_rhsbl_sender dbl.example=127.0.1.[2..99]).
bool smtpd_restriction_takes_domain(std::string_view name);
// Whether it takes a policy server (check_policy_service inet:host:port,
// unix:private/policy, or a "{ server, name=value ... }" group).
bool smtpd_restriction_takes_server(std::string_view name);

// Parameters that are accepted in any valid value and have no effect (see
// unsupported.cpp for what they are), sorted. For the manual.
std::span<const std::string_view> ignored_parameters();

// nullptr when `name` is not in the list.
const Unsupported* find_unsupported(std::string_view name);

// An error when the expanded `value` of parameter `name` asks for a feature
// Postern does not have; fine for every other name and value. `entry` is
// the list entry when it differs from `name`: the template
// "transport_destination_rate_delay" for "smtp_destination_rate_delay".
// `classes`: the names smtpd_restriction_classes defines, accepted in
// restriction lists besides smtpd_restrictions().
Status check_supported(std::string_view name, std::string_view value, std::string_view entry = {},
                       std::span<const std::string> classes = {});

// A restriction class's definition (parameter `name`, named in
// smtpd_restriction_classes): a restriction list, checked as the smtpd_*
// lists are.
Status check_restriction_class(std::string_view name, std::string_view value, std::span<const std::string> classes);

// "a non-empty value", "yes", "encrypt, verify", ... for the manual.
std::string refused_values_text(const Unsupported& u);

}  // namespace postern::config
