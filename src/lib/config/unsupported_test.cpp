// unsupported_test.cpp - main.cf values that ask for a feature Postern lacks
// are refused when read; their "off" values load.
#include "config/unsupported.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "config/config.h"
#include "config/registry.h"

using namespace postern::config;

namespace {

std::string error_of(std::string_view text) {
  auto c = Config::from_text(text, "main.cf");
  EXPECT_FALSE(c) << "accepted: " << text;
  return c ? std::string() : c.error().message;
}

void loads(std::string_view text) {
  auto c = Config::from_text(text, "main.cf");
  EXPECT_TRUE(c) << text << ": " << (c ? "" : c.error().message);
}

}  // namespace

TEST(Unsupported, EveryNameIsARegisteredParameterWhoseDefaultIsAccepted) {
  ASSERT_FALSE(unsupported_parameters().empty());
  for (const auto& u : unsupported_parameters()) {
    const ParamDef* def = find_param(u.name);
    ASSERT_NE(def, nullptr) << u.name;
    EXPECT_EQ(find_unsupported(u.name), &u);
    // A default that refers to another parameter expands to that one's
    // default, which is the "off" value as well.
    if (macro_names(def->default_value).empty()) {
      EXPECT_TRUE(check_supported(u.name, def->default_value)) << u.name << " = " << def->default_value;
    }
  }
  EXPECT_EQ(find_unsupported("myhostname"), nullptr);
  EXPECT_EQ(find_unsupported("zzz_not_a_parameter"), nullptr);
}

// A parameter whose default uses a refused one ($smtpd_milters) would
// inherit the feature request; it must be on the list too, or the refusal
// would hide a value something does read.
TEST(Unsupported, ParametersThatDefaultToARefusedOneAreRefusedToo) {
  std::set<std::string_view> listed;
  for (const auto& u : unsupported_parameters()) listed.insert(u.name);
  for (const auto& def : registry()) {
    if (def.name == "proxy_read_maps") continue;  // a list of map names, not a feature
    for (const auto& m : macro_names(def.default_value))
      if (listed.count(m)) {
        EXPECT_TRUE(listed.count(def.name)) << def.name << " uses $" << m;
      }
  }
}

TEST(Unsupported, DefaultConfigurationLoads) { loads(""); }

TEST(Unsupported, MilterSettingsAreRefusedWithTheLine) {
  auto e = error_of("myhostname = mx.example\nsmtpd_milters = inet:127.0.0.1:8891\n");
  EXPECT_NE(e.find("main.cf, line 2"), std::string::npos) << e;
  EXPECT_NE(e.find("smtpd_milters = inet:127.0.0.1:8891"), std::string::npos) << e;
  EXPECT_NE(e.find("Postern does not have milters"), std::string::npos) << e;
  loads("smtpd_proxy_filter = 127.0.0.1:10024\n");  // smtpd/proxy.h
  EXPECT_NE(error_of("smtpd_milters = inet:127.0.0.1:8891\n").find("milters"), std::string::npos);
  EXPECT_NE(error_of("non_smtpd_milters = inet:127.0.0.1:8891\n").find("non_smtpd_milters"), std::string::npos);
  // The "off" values of the same parameters load; the checks are on.
  loads("smtpd_proxy_filter =\nsmtpd_milters =\nnon_smtpd_milters =\n");
  loads("smtp_header_checks = regexp:/etc/postfix/header_checks\n");
  // After-queue content filters and receive_override_options are supported.
  loads("content_filter = smtp-amavis:[127.0.0.1]:10024\nreceive_override_options = no_address_mappings\n");
  loads("header_checks = regexp:/etc/postfix/header_checks\nbody_checks = pcre:/etc/postfix/body_checks\n");
}

TEST(Unsupported, ValuesAreCheckedAfterExpansion) {
  EXPECT_FALSE(error_of("filter = inet:127.0.0.1:8891\nsmtpd_milters = $filter\n").empty());
  loads("filter =\nsmtpd_milters = $filter\n");
  // non_smtpd_milters is refused; set to an empty value through a
  // parameter it is off.
  loads("non_smtpd_milters = $smtpd_milters\n");
}

// smtpd and the smtp client have TLS (tls/context.h), the client with CA,
// fingerprint and DANE verification; the lmtp client has no DANE.
TEST(Unsupported, BestEffortTlsLevelsLoadRequiredOnesAreRefused) {
  loads("smtpd_tls_security_level = may\nsmtp_tls_security_level = may\nsmtpd_use_tls = yes\n");
  loads("smtpd_tls_security_level = none\nsmtp_tls_security_level = none\n");
  loads("smtpd_tls_security_level = encrypt\nsmtpd_enforce_tls = yes\nsmtpd_tls_wrappermode = yes\n");
  loads("smtp_tls_security_level = encrypt\nsmtp_enforce_tls = yes\nsmtp_tls_wrappermode = yes\n");
  loads("smtp_tls_security_level = verify\nsmtp_tls_CApath = /etc/ssl/certs\n");
  loads("smtp_tls_security_level = secure\n");
  loads("smtp_tls_security_level = dane\nsmtp_dns_support_level = dnssec\n");
  loads("smtp_tls_security_level = dane-only\nsmtp_dns_support_level = dnssec\n");
  loads("smtp_tls_security_level = fingerprint\nsmtp_tls_fingerprint_cert_match = AB:CD\n");
  loads("lmtp_tls_security_level = encrypt\nlmtp_tls_policy_maps = hash:/etc/postfix/lmtp_tls\n");
  auto e = error_of("lmtp_tls_security_level = dane\n");
  EXPECT_NE(e.find("Postern does not have DANE"), std::string::npos) << e;
  EXPECT_NE(e.find("a value other than dane"), std::string::npos) << e;
  // Client certificates (tls/context.h, smtpd's permit_tls_clientcerts).
  loads("smtpd_tls_ask_ccert = yes\nsmtpd_tls_req_ccert = yes\nrelay_clientcerts = hash:/etc/postfix/certs\n"
        "smtpd_relay_restrictions = permit_tls_clientcerts, permit_tls_all_clientcerts, "
        "check_ccert_access hash:/etc/postfix/ccerts, reject_unauth_destination\n");
  auto ce = error_of("smtpd_client_restrictions = check_ccert_access\n");
  EXPECT_NE(ce.find("without its type:table"), std::string::npos) << ce;
  loads("smtp_tls_policy_maps = hash:/etc/postfix/tls_policy\n");  // smtp/tls_policy.h
}

TEST(Unsupported, BooleansNumbersAndAllowedValues) {
  loads("strict_smtputf8 = yes\nsoft_bounce = yes\nsmtpd_client_message_rate_limit = 30\nauthorized_submit_users = static:anyone\n");
  loads("smtp_host_lookup = dns\n");
  EXPECT_NE(error_of("frozen_delivered_to = no\n").find("set it to yes"), std::string::npos);
  loads("strict_8bitmime = yes\nstrict_mime_encoding_domain = yes\n");  // cleanup's MIME checks
  loads("smtpd_client_new_tls_session_rate_limit = 10\n");  // smtpd, through anvil
  loads("authorized_submit_users = !www-data, static:anyone\n");
  loads("smtp_always_send_ehlo = no\n");  // smtp/client.h
  loads("smtp_host_lookup = native\ndisable_dns_lookups = yes\n");  // dns/nexthop.h
  loads("mailbox_command_maps = hash:/etc/postfix/commands\n");  // local(8) looks them up
  loads("mailbox_transport = lmtp:unix:private/dovecot-lmtp\n");
}

TEST(Unsupported, OverridesAreCheckedAndARefusedOneChangesNothing) {
  auto c = Config::from_text("", "main.cf");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->set_override("smtpd_milters", "", "-o"));
  auto st = c->set_override("smtpd_milters", "inet:127.0.0.1:8891", "-o");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("-o smtpd_milters=inet:127.0.0.1:8891"), std::string::npos)
      << st.error().message;
  EXPECT_EQ(c->str("smtpd_milters"), "");
}

TEST(Unsupported, ManualTextNamesTheRefusedValues) {
  EXPECT_EQ(refused_values_text(*find_unsupported("smtpd_milters")), "any non-empty value");
  EXPECT_EQ(refused_values_text(*find_unsupported("frozen_delivered_to")), "anything but yes");
  EXPECT_EQ(refused_values_text(*find_unsupported("lmtp_tls_security_level")), "dane, dane-only");
  EXPECT_EQ(refused_values_text(*find_unsupported("reject_tempfail_action")), "anything but defer_if_permit, defer");
}

TEST(Unsupported, IgnoredParametersAreRegisteredAndNotRefused) {
  ASSERT_FALSE(ignored_parameters().empty());
  for (auto name : ignored_parameters()) {
    EXPECT_NE(find_param(name), nullptr) << name;
    EXPECT_EQ(find_unsupported(name), nullptr) << name << " is both ignored and refused";
  }
  loads("in_flow_delay = 2s\nbiff = yes\nsmtpd_tls_loglevel = 1\n");
}

TEST(Unsupported, RateDelaysAreAccepted) {
  // qmgr paces deliveries (qmgr.h), per transport through the templates.
  loads("smtp_destination_rate_delay = 1s\ndefault_destination_rate_delay = 10\nrelay_transport_rate_delay = 2m\n");
}

TEST(Unsupported, RestrictionListsMayNameOnlyTheRestrictionsPosternHas) {
  // Debian's stock main.cf, and lists of the names smtpd evaluates.
  loads("smtpd_relay_restrictions = permit_mynetworks permit_sasl_authenticated defer_unauth_destination\n");
  loads("smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_pipelining,\n"
        "  reject_unauth_destination, reject_unlisted_recipient, permit\n");
  loads("smtpd_client_restrictions =\nsmtpd_helo_restrictions = permit\n");
  loads("smtpd_helo_restrictions = reject_invalid_helo_hostname, reject_non_fqdn_hostname,\n"
        "  check_helo_access hash:/etc/postfix/helo_access\n"
        "smtpd_sender_restrictions = reject_non_fqdn_sender check_sender_access inline:{a@b=REJECT}\n");
  // One unknown element refuses the whole list, named with its line.
  std::string e = error_of("myhostname = mx.example\n"
                           "smtpd_recipient_restrictions = permit_mynetworks,\n"
                           "  reject_unverified_recipient, reject_unauth_destination\n");
  EXPECT_NE(e.find("main.cf, line 2: parameter smtpd_recipient_restrictions = "), std::string::npos) << e;
  EXPECT_NE(e.find("does not have the smtpd restriction \"reject_unverified_recipient\"; remove it (Postern has: "
                   "permit, reject, defer, "),
            std::string::npos)
      << e;
  // A table argument is not a restriction name, but it must be there.
  e = error_of("smtpd_client_restrictions = check_client_access\n");
  EXPECT_NE(e.find("\"check_client_access (without its type:table)\""), std::string::npos) << e;
  e = error_of("smtpd_client_restrictions = check_client_access permit_mynetworks\n");
  EXPECT_NE(e.find("\"check_client_access (without its type:table)\""), std::string::npos) << e;
  // Through $name expansion and in -o overrides too.
  e = error_of("my_checks = reject_unverified_sender\nsmtpd_sender_restrictions = $my_checks\n");
  EXPECT_NE(e.find("\"reject_unverified_sender\""), std::string::npos) << e;
  e = error_of("smtpd_sender_restrictions = check_policy_service\n");
  EXPECT_NE(e.find("\"check_policy_service (without its inet:host:port or unix:path)\""), std::string::npos) << e;
  auto c = Config::from_text("", "main.cf");
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->set_override("smtpd_helo_restrictions", "reject_unverified_recipient"));
  EXPECT_TRUE(c->set_override("smtpd_helo_restrictions", "check_policy_service unix:private/policy"));
  EXPECT_TRUE(c->set_override("smtpd_helo_restrictions", "check_policy_service { inet:h:1, timeout=1s }"));
  EXPECT_TRUE(smtpd_restriction_takes_server("check_policy_service"));
  // DNS block lists take a domain, which is not a restriction name either.
  EXPECT_TRUE(c->set_override("smtpd_helo_restrictions", "reject_rhsbl_helo dbl.example=127.0.1.[2..99]"));
  EXPECT_TRUE(c->set_override("smtpd_client_restrictions", "reject_rbl_client zen.example, permit"));
  EXPECT_FALSE(c->set_override("smtpd_client_restrictions", "reject_rbl_client"));
  EXPECT_FALSE(c->set_override("smtpd_client_restrictions", "reject_rbl_client permit"));
  EXPECT_TRUE(smtpd_restriction_takes_domain("reject_rhsbl_sender"));
  EXPECT_FALSE(smtpd_restriction_takes_domain("check_sender_access"));
  EXPECT_TRUE(c->set_override("smtpd_helo_restrictions", "reject_invalid_helo_hostname"));
  EXPECT_EQ(refused_values_text(*find_unsupported("smtpd_client_restrictions"))
                .rfind("a restriction other than permit, reject, defer, defer_if_permit, defer_if_reject, permit_mynetworks", 0),
            0u);
  EXPECT_TRUE(smtpd_restriction_takes_table("check_recipient_access"));
  EXPECT_FALSE(smtpd_restriction_takes_table("reject_non_fqdn_recipient"));
  EXPECT_EQ(smtpd_restrictions().front(), "permit");
  EXPECT_EQ(smtpd_restrictions().back(), "warn_if_reject");
}

TEST(Unsupported, RestrictionClasses) {
  // A class is a main.cf parameter whose value is a restriction list; its
  // name may stand in the smtpd_* lists and in other classes.
  auto c = Config::from_text(
      "smtpd_restriction_classes = from_partners, Strict\n"
      "from_partners = check_sender_access inline:{a@b=OK}, Strict\n"
      "Strict = reject_non_fqdn_sender, reject\n"
      "smtpd_sender_restrictions = check_sender_access inline:{x@y=from_partners}, Strict\n",
      "main.cf");
  ASSERT_TRUE(c) << c.error().message;
  // No "unknown parameter name" warning for them.
  for (const auto& w : c->warnings()) EXPECT_EQ(w.find("unknown parameter"), std::string::npos) << w;
  // Not defined.
  std::string e = error_of("smtpd_restriction_classes = missing\n");
  EXPECT_NE(e.find("restriction class missing is not defined"), std::string::npos) << e;
  // A class's list is checked like the smtpd_* lists.
  e = error_of("smtpd_restriction_classes = odd\nodd = reject_unverified_recipient\n");
  EXPECT_NE(e.find("parameter odd = reject_unverified_recipient: Postern does not have the smtpd restriction "
                   "\"reject_unverified_recipient\""),
            std::string::npos)
      << e;
  // A known parameter cannot be a class.
  e = error_of("smtpd_restriction_classes = myhostname\n");
  EXPECT_NE(e.find("\"myhostname\" cannot name a restriction class"), std::string::npos) << e;
  // Without the class list, the name is an unknown restriction again.
  e = error_of("smtpd_sender_restrictions = Strict\nStrict = reject\n");
  EXPECT_NE(e.find("does not have the smtpd restriction \"Strict\""), std::string::npos) << e;
}
