// registry_test.cpp - the parameter table, templates, typed value parsing.
#include "config/registry.h"

#include <gtest/gtest.h>

#include <set>

#include "config/config.h"

using namespace postern::config;

TEST(Registry, SortedUniqueAndDocumented) {
  auto r = registry();
  ASSERT_GT(r.size(), 300u);
  for (std::size_t i = 1; i < r.size(); ++i) EXPECT_LT(r[i - 1].name, r[i].name) << r[i].name;
  for (const auto& d : r) {
    EXPECT_FALSE(d.doc.empty()) << d.name;
    EXPECT_FALSE(d.per_transport) << d.name;
  }
  for (const auto& t : transport_templates()) {
    EXPECT_TRUE(t.per_transport);
    EXPECT_EQ(t.name.substr(0, 10), "transport_");
  }
}

TEST(Registry, HasTheParametersAdminsUse) {
  const char* names[] = {
      "config_directory", "queue_directory", "daemon_directory", "command_directory", "data_directory",
      "mail_owner", "setgid_group", "default_privs", "myhostname", "mydomain", "myorigin", "mydestination",
      "mynetworks", "mynetworks_style", "inet_interfaces", "inet_protocols", "relay_domains", "relayhost",
      "syslog_name", "syslog_facility", "maillog_file", "default_process_limit", "max_use", "max_idle",
      "ipc_timeout", "ipc_idle", "service_throttle_time", "hash_queue_names", "hash_queue_depth",
      "enable_long_queue_ids", "queue_run_delay", "minimal_backoff_time", "maximal_backoff_time",
      "maximal_queue_lifetime", "bounce_queue_lifetime", "delay_warning_time", "qmgr_message_active_limit",
      "qmgr_message_recipient_limit", "initial_destination_concurrency", "default_destination_concurrency_limit",
      "default_destination_recipient_limit", "default_destination_concurrency_failed_cohort_limit",
      "default_transport", "local_transport", "virtual_transport", "relay_transport", "transport_maps",
      "message_size_limit", "line_length_limit", "header_size_limit", "hopcount_limit", "smtpd_banner",
      "smtpd_timeout", "smtpd_recipient_limit", "smtpd_hard_error_limit", "smtpd_soft_error_limit",
      "smtpd_junk_command_limit", "smtpd_client_connection_count_limit", "smtpd_relay_restrictions",
      "smtpd_recipient_restrictions", "smtpd_forbid_bare_newline", "disable_vrfy_command", "local_recipient_maps",
      "alias_maps", "alias_database", "recipient_delimiter", "canonical_maps", "sender_canonical_maps",
      "recipient_canonical_maps", "masquerade_domains", "virtual_alias_maps", "virtual_alias_domains",
      "virtual_mailbox_domains", "virtual_mailbox_maps", "virtual_alias_expansion_limit",
      "virtual_alias_recursion_limit", "append_dot_mydomain", "swap_bangpath", "allow_percent_hack",
      "home_mailbox", "mail_spool_directory", "mailbox_command", "mailbox_size_limit", "mailbox_delivery_lock",
      "allow_mail_to_commands", "allow_mail_to_files", "luser_relay", "command_time_limit",
      "smtp_mx_address_limit", "smtp_mx_session_limit", "smtp_fallback_relay", "smtp_connect_timeout",
      "smtp_helo_timeout", "smtp_data_done_timeout", "2bounce_notice_recipient", "bounce_notice_recipient",
      "notify_classes", "process_id_directory", "mail_version", "mail_name", "debug_peer_level",
      "import_environment", "export_environment", "in_flow_delay", "biff", "sendmail_path", "newaliases_path",
      "mailq_path", "manpage_directory", "dns_resolver_address"};
  for (const char* n : names) EXPECT_NE(find_param(n), nullptr) << n;
}

TEST(Registry, PostfixDefaults) {
  auto dflt = [](std::string_view n) { return std::string(find_param(n)->default_value); };
  EXPECT_EQ(dflt("message_size_limit"), "10240000");
  EXPECT_EQ(dflt("mydestination"), "$myhostname, localhost.$mydomain, localhost");
  EXPECT_EQ(dflt("myorigin"), "$myhostname");
  EXPECT_EQ(dflt("smtpd_banner"), "$myhostname ESMTP $mail_name");
  EXPECT_EQ(dflt("maximal_queue_lifetime"), "5d");
  EXPECT_EQ(dflt("mail_owner"), "postern");
  EXPECT_EQ(dflt("setgid_group"), "postdrop");
  EXPECT_EQ(dflt("syslog_name"), "postern");
  EXPECT_EQ(dflt("dns_resolver_address"), "");
  EXPECT_EQ(find_param("maximal_queue_lifetime")->unit, 'd');
  EXPECT_EQ(find_param("max_idle")->type, Type::Time);
  EXPECT_EQ(find_param("biff")->type, Type::Bool);
  EXPECT_EQ(find_param("message_size_limit")->type, Type::Size);
  EXPECT_EQ(find_param("alias_maps")->type, Type::List);
  EXPECT_NE(find_param("myhostname")->compute, nullptr);
  EXPECT_TRUE(find_param("forward_path")->raw);
}

TEST(Registry, PerTransportTemplates) {
  const ParamDef* d = find_param("smtp_destination_concurrency_limit");
  ASSERT_NE(d, nullptr);
  EXPECT_TRUE(d->per_transport);
  EXPECT_EQ(d->default_value, "$default_destination_concurrency_limit");
  EXPECT_EQ(d->type, Type::Int);
  ASSERT_NE(find_param("smtp-amavis_destination_recipient_limit"), nullptr);
  EXPECT_EQ(find_param("relay_destination_recipient_limit")->default_value, "$default_destination_recipient_limit");
  EXPECT_EQ(find_param("dovecot_time_limit")->default_value, "$command_time_limit");
  // master.cf service names with "_" (Postfix takes any name).
  ASSERT_NE(find_param("dovecot_lda_time_limit"), nullptr);
  EXPECT_EQ(find_param("dovecot_lda_time_limit")->default_value, "$command_time_limit");
  ASSERT_NE(find_param("my_relay_destination_recipient_limit"), nullptr);
  EXPECT_EQ(find_param("my_relay_destination_recipient_limit")->name, find_param("x_destination_recipient_limit")->name);
  EXPECT_EQ(find_param("smtp_initial_destination_concurrency")->default_value, "$initial_destination_concurrency");
  EXPECT_EQ(find_param("lmtp_destination_concurrency_failed_cohort_limit")->default_value,
            "$default_destination_concurrency_failed_cohort_limit");
  // The longest suffix wins: this is destination_recipient_limit, not recipient_limit.
  EXPECT_EQ(find_param("x_destination_recipient_limit")->name, "transport_destination_recipient_limit");
  EXPECT_EQ(find_param("x_recipient_limit")->name, "transport_recipient_limit");
  // Exact names win over templates.
  EXPECT_EQ(find_param("local_destination_concurrency_limit")->default_value, "2");
  EXPECT_FALSE(find_param("local_destination_concurrency_limit")->per_transport);
  EXPECT_EQ(find_param("smtpd_recipient_limit")->default_value, "1000");
  // The transport part is [a-z0-9_-]+ (a master.cf service name).
  EXPECT_EQ(find_param("_destination_concurrency_limit"), nullptr);
  EXPECT_EQ(find_param("Smtp_destination_concurrency_limit"), nullptr);
  EXPECT_NE(find_param("a_b_destination_concurrency_limit"), nullptr);
  EXPECT_EQ(find_param("smtp_destination_concurency_limit"), nullptr);
  EXPECT_EQ(find_param("no_such_parameter"), nullptr);
}

TEST(Registry, ParseTime) {
  EXPECT_EQ(parse_time("10", 's'), 10);
  EXPECT_EQ(parse_time("10s", 'd'), 10);
  EXPECT_EQ(parse_time("5m", 's'), 300);
  EXPECT_EQ(parse_time("2h", 's'), 7200);
  EXPECT_EQ(parse_time("1d", 's'), 86400);
  EXPECT_EQ(parse_time("1w", 's'), 604800);
  EXPECT_EQ(parse_time("3", 'd'), 3 * 86400);
  EXPECT_EQ(parse_time("0", 'h'), 0);
  for (const char* bad : {"", "s", "10x", "-1", "1.5h", "1 h", " 1", "1hh", "1H", "5M", "99999999999999999999"})
    EXPECT_FALSE(parse_time(bad, 's')) << bad;
  EXPECT_FALSE(parse_time("9223372036854775807w", 's'));  // overflow after the unit
}

TEST(Registry, ParseBool) {
  EXPECT_EQ(parse_bool("yes"), true);
  EXPECT_EQ(parse_bool("YES"), true);
  EXPECT_EQ(parse_bool("No"), false);
  EXPECT_FALSE(parse_bool("true"));
  EXPECT_FALSE(parse_bool("1"));
  EXPECT_FALSE(parse_bool(""));
}

TEST(Registry, SplitList) {
  auto v = split_list(" a, b,,c\n\td ");
  ASSERT_EQ(v, (std::vector<std::string>{"a", "b", "c", "d"}));
  v = split_list("check_policy_service { inet:127.0.0.1:9998, timeout=10s }, permit");
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[1], "{ inet:127.0.0.1:9998, timeout=10s }");
  EXPECT_EQ(strip_braces(v[1]), "inet:127.0.0.1:9998, timeout=10s");
  EXPECT_EQ(strip_braces(" plain "), "plain");
  EXPECT_EQ(split_list("{ unterminated, x").size(), 1u);
  EXPECT_TRUE(split_list("").empty());
}

TEST(Registry, CheckValueMessages) {
  const ParamDef& m = *find_param("message_size_limit");
  EXPECT_TRUE(check_value(m, m.name, "0"));
  auto st = check_value(m, m.name, "foo");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message, "bad numerical value for parameter message_size_limit: foo");
  EXPECT_FALSE(check_value(m, m.name, "-1"));
  EXPECT_FALSE(check_value(m, m.name, "10k"));
  const ParamDef& depth = *find_param("hash_queue_depth");
  EXPECT_FALSE(check_value(depth, depth.name, "0"));
  EXPECT_FALSE(check_value(depth, depth.name, "6"));
  EXPECT_TRUE(check_value(depth, depth.name, "5"));
  const ParamDef& t = *find_param("ipc_timeout");
  EXPECT_TRUE(check_value(t, t.name, "1h"));
  EXPECT_FALSE(check_value(t, t.name, "0"));  // minimum 1s
  EXPECT_NE(check_value(t, t.name, "soon").error().message.find("bad time value for parameter ipc_timeout"),
            std::string::npos);
  const ParamDef& b = *find_param("biff");
  EXPECT_NE(check_value(b, b.name, "maybe").error().message.find("bad boolean value"), std::string::npos);
  const ParamDef& l = *find_param("smtpd_recipient_restrictions");
  EXPECT_FALSE(check_value(l, l.name, "check_policy_service { inet:x"));
  EXPECT_FALSE(check_value(l, l.name, "a } b {"));
  EXPECT_TRUE(check_value(l, l.name, "check_policy_service { inet:x }"));
}

TEST(Registry, AllDefaultsAreValid) {
  // An empty main.cf validates every default (computed ones included).
  auto c = Config::from_text("");
  ASSERT_TRUE(c) << c.error().message;
  for (const auto& d : registry()) EXPECT_TRUE(c->get(d.name)) << d.name;
}

TEST(Registry, ComputedDefaultsWithoutConfig) {
  std::string h = default_text(*find_param("myhostname"));
  EXPECT_NE(h.find('.'), std::string::npos);
  EXPECT_FALSE(default_text(*find_param("mydomain")).empty());
  EXPECT_EQ(default_text(*find_param("message_size_limit")), "10240000");
}

TEST(Registry, MarkdownListsEveryParameter) {
  std::string md = registry_markdown();
  for (const auto& d : registry()) EXPECT_NE(md.find("`" + std::string(d.name) + "`"), std::string::npos) << d.name;
  for (const auto& d : transport_templates())
    EXPECT_NE(md.find("`" + std::string(d.name) + "`"), std::string::npos) << d.name;
  // Build-dependent defaults are described, not printed, so the file is the
  // same for every build.
  auto row = md.substr(md.find("| `queue_directory` |"));
  row = row.substr(0, row.find('\n'));
  EXPECT_NE(row.find("*set at build time"), std::string::npos) << row;
}
