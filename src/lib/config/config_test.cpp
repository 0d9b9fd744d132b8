// config_test.cpp - main.cf parsing, expansion, validation, overrides.
#include "config/config.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "config/host_info.h"
#include "config/registry.h"

using namespace postern::config;
using namespace std::chrono_literals;

namespace {

Config load(std::string_view text) {
  auto c = Config::from_text(text);
  EXPECT_TRUE(c) << c.error().message;
  if (!c) return *Config::from_text("");
  return std::move(*c);
}

std::string error_of(std::string_view text) {
  auto c = Config::from_text(text);
  EXPECT_FALSE(c) << "accepted: " << text;
  return c ? std::string() : c.error().message;
}

std::string val(const Config& c, std::string_view name) { return c.get(name).value_or("<none>"); }

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

}  // namespace

// ---- syntax ----------------------------------------------------------------

TEST(MainCf, NameValueWithOrWithoutSpaces) {
  auto c = load("relayhost=[mx.example.com]:587\nmyorigin   =   example.com   \nrecipient_delimiter =\n");
  EXPECT_EQ(val(c, "relayhost"), "[mx.example.com]:587");
  EXPECT_EQ(val(c, "myorigin"), "example.com");
  EXPECT_EQ(val(c, "recipient_delimiter"), "");
  EXPECT_TRUE(c.is_set("recipient_delimiter"));
  EXPECT_EQ(c.line_of("myorigin"), 2);
}

TEST(MainCf, ContinuationLinesJoinWithOneSpace) {
  auto c = load(
      "mydestination = a,\n"
      "    b,\n"
      "\tc\n"
      "# a comment inside does not end the value\n"
      "\n"
      "  d\n"
      "relayhost = x\n");
  EXPECT_EQ(c.raw("mydestination"), "a, b, c d");
  EXPECT_EQ(val(c, "relayhost"), "x");
  EXPECT_EQ(c.line_of("mydestination"), 1);
  EXPECT_EQ(c.line_of("relayhost"), 7);
}

TEST(MainCf, CommentsBlankLinesAndCrlf) {
  auto c = load("# comment\n   # indented comment\n\n \t \nbiff = no\r\nrelayhost = a # not a comment\r\n");
  EXPECT_EQ(val(c, "biff"), "no");
  EXPECT_EQ(val(c, "relayhost"), "a # not a comment");
  EXPECT_TRUE(c.warnings().empty());
}

TEST(MainCf, LastDefinitionWins) {
  auto c = load("relayhost = a\nrelayhost = b\n");
  EXPECT_EQ(val(c, "relayhost"), "b");
  EXPECT_EQ(c.line_of("relayhost"), 2);
}

TEST(MainCf, MalformedLinesNameFileAndLine) {
  auto e = error_of("biff = no\nthis line has no equals sign\n");
  EXPECT_TRUE(contains(e, "main.cf, line 2")) << e;
  EXPECT_TRUE(contains(e, "missing \"=\"")) << e;
  e = error_of("\n\n= value\n");
  EXPECT_TRUE(contains(e, "main.cf, line 3")) << e;
  e = error_of("two words = value\n");
  EXPECT_TRUE(contains(e, "bad parameter name")) << e;
  e = error_of(std::string_view("biff = n\0o\n", 11));
  EXPECT_TRUE(contains(e, "NUL")) << e;
  auto c = Config::from_text("junk\n", "/etc/postern/main.cf");
  ASSERT_FALSE(c);
  EXPECT_TRUE(contains(c.error().message, "/etc/postern/main.cf, line 1")) << c.error().message;
}

TEST(MainCf, OrphanContinuationIsAWarning) {
  auto c = load("  indented first line\nbiff = no\n");
  ASSERT_EQ(c.warnings().size(), 1u);
  EXPECT_TRUE(contains(c.warnings()[0], "main.cf:1:")) << c.warnings()[0];
}

TEST(MainCf, UnknownNamesWarnButStayGettable) {
  auto c = load("biff = no\nmy_typo = 5\nmy_class = reject\nsmtpd_recipient_restrictions = $my_class\n");
  ASSERT_EQ(c.warnings().size(), 1u);
  EXPECT_EQ(c.warnings()[0], "main.cf:2: unknown parameter name: my_typo");
  EXPECT_EQ(val(c, "my_typo"), "5");
  EXPECT_EQ(val(c, "smtpd_recipient_restrictions"), "reject");
  EXPECT_FALSE(c.get("never_mentioned"));
  EXPECT_FALSE(c.raw("never_mentioned"));
  EXPECT_EQ(c.explicit_names(), (std::vector<std::string>{"biff", "my_class", "my_typo",
                                                         "smtpd_recipient_restrictions"}));
}

// ---- expansion -----------------------------------------------------------

TEST(Expand, PlainBracedAndParenthesized) {
  auto c = load("myhostname = mail.example.com\na = [$myhostname] [${myhostname}] [$(myhostname)]\n");
  EXPECT_EQ(val(c, "a"), "[mail.example.com] [mail.example.com] [mail.example.com]");
  EXPECT_EQ(c.raw("a"), "[$myhostname] [${myhostname}] [$(myhostname)]");
}

TEST(Expand, RecursiveAndDefaults) {
  auto c = load("myhostname = mx.example.org\n");
  EXPECT_EQ(val(c, "myorigin"), "mx.example.org");
  EXPECT_EQ(val(c, "mydomain"), "example.org");
  EXPECT_EQ(val(c, "mydestination"), "mx.example.org, localhost.example.org, localhost");
  EXPECT_EQ(val(c, "smtpd_banner"), "mx.example.org ESMTP Postern");
  EXPECT_EQ(val(c, "local_transport"), "local:mx.example.org");
}

TEST(Expand, UndefinedIsEmptyAndDollarDollarIsLiteral) {
  auto c = load("a = x${undefined_thing}y$undefined_too\nb = cost $$5 and $${x}\n");
  EXPECT_EQ(val(c, "a"), "xy");
  EXPECT_EQ(val(c, "b"), "cost $5 and ${x}");
}

TEST(Expand, ConditionalForms) {
  auto c = load(
      "full = yes\n"
      "empty =\n"
      "q1 = [${full?set}] [${empty?set}] [${nothing?set}]\n"
      "q2 = [${full:unset}] [${empty:unset}] [${nothing:unset}]\n"
      "q3 = [${full?{set}}] [${empty?{set}}] [${full:{unset}}] [${empty:{unset}}]\n"
      "q4 = [${full?{yes}:{no}}] [${empty?{yes}:{no}}] [${full ? { spaced } : {x}}]\n"
      "q5 = ${full?value:with colon}\n"
      "q6 = ${full?{$full/$full}}\n");
  EXPECT_EQ(val(c, "q1"), "[set] [] []");
  EXPECT_EQ(val(c, "q2"), "[] [unset] [unset]");
  EXPECT_EQ(val(c, "q3"), "[set] [] [] [unset]");
  EXPECT_EQ(val(c, "q4"), "[yes] [no] [spaced]");
  EXPECT_EQ(val(c, "q5"), "value:with colon");
  EXPECT_EQ(val(c, "q6"), "yes/yes");
}

TEST(Expand, ConditionOnExpandedValue) {
  // The test looks at the expanded value: a reference to an empty parameter
  // counts as empty.
  auto c = load("e =\nr = $e\nq = ${r?nonempty}${r:empty}\n");
  EXPECT_EQ(val(c, "q"), "empty");
}

TEST(Expand, UnselectedBranchIsNotExpanded) {
  auto c = load("full = yes\nq = ${full:$this_would_loop}\nthis_would_loop = $q\n");
  EXPECT_EQ(val(c, "q"), "");
}

TEST(Expand, Relational) {
  auto c = load(
      "level = 3.6\n"
      "n = 10\n"
      "a = ${{$level} == {3.6} ? {same} : {diff}}\n"
      "b = ${{$level} != {3.6} ? {diff} : {same}}\n"
      "c = ${{$n} < {9} ? {less} : {notless}}\n"
      "d = ${{$n} >= {10} ? {ge}}\n"
      "e = ${{$n} > {10} : {notgreater}}\n"
      "f = ${{$n} <= {10}?{le}:{gt}}\n");
  EXPECT_EQ(val(c, "a"), "same");
  EXPECT_EQ(val(c, "b"), "same");
  EXPECT_EQ(val(c, "c"), "notless");
  EXPECT_EQ(val(c, "d"), "ge");
  EXPECT_EQ(val(c, "e"), "notgreater");
  EXPECT_EQ(val(c, "f"), "le");
  auto e = error_of("x = ${{abc} < {1} ? {y}}\n");
  EXPECT_TRUE(contains(e, "non-numeric")) << e;
  e = error_of("x = ${{a} = {b} ? {y}}\n");
  EXPECT_TRUE(contains(e, "relational operator")) << e;
  e = error_of("x = ${{a} == {b} {y}}\n");
  EXPECT_TRUE(contains(e, "main.cf, line 1")) << e;
}

TEST(Expand, SyntaxErrors) {
  struct Case {
    const char* text;
    const char* part;
  } cases[] = {
      {"x = price $\n", "at the end"},
      {"x = a$-b\n", "bad parameter reference"},
      {"x = ${name\n", "missing \"}\""},
      {"x = $(name\n", "missing \")\""},
      {"x = ${}\n", "bad parameter name"},
      {"x = ${na-me}\n", "bad character after parameter name"},
      {"x = ${name?{a}junk}\n", "unexpected text"},
      {"x = ${name?{a}:{b}\n", "missing"},
  };
  for (const auto& k : cases) {
    auto e = error_of(k.text);
    EXPECT_TRUE(contains(e, k.part)) << k.text << " -> " << e;
    EXPECT_TRUE(contains(e, "main.cf, line 1: parameter x:")) << e;
  }
}

TEST(Expand, LoopsAreErrorsNamingTheParameter) {
  auto e = error_of("biff = no\na = $b\nb = x${a}\n");
  EXPECT_TRUE(contains(e, "main.cf, line 2: parameter a: reference loop: $a -> $b -> $a")) << e;
  e = error_of("self = $self\n");
  EXPECT_TRUE(contains(e, "parameter self: reference loop")) << e;
  e = error_of("a = ${b?x}\nb = ${a:y}\n");
  EXPECT_TRUE(contains(e, "reference loop")) << e;
  // A loop through a registered default.
  e = error_of("myhostname = $smtpd_banner\n");
  EXPECT_TRUE(contains(e, "reference loop")) << e;
}

TEST(Expand, ExponentialGrowthIsBounded) {
  std::string text = "a0 = xxxxxxxxxxxxxxxx\n";
  for (int i = 1; i <= 40; ++i) text += "a" + std::to_string(i) + " = $a" + std::to_string(i - 1) + "$a" +
                                        std::to_string(i - 1) + "\n";
  auto e = error_of(text);
  EXPECT_TRUE(contains(e, "longer than")) << e;
  // Empty leaves: memoization keeps this linear.
  text = "b0 =\n";
  for (int i = 1; i <= 60; ++i) text += "b" + std::to_string(i) + " = $b" + std::to_string(i - 1) + "$b" +
                                        std::to_string(i - 1) + "\n";
  auto c = load(text);
  EXPECT_EQ(val(c, "b60"), "");
}

TEST(Expand, DeepChainsAndNestingAreBounded) {
  std::string text;
  for (int i = 0; i < 500; ++i) text += "c" + std::to_string(i) + " = $c" + std::to_string(i + 1) + "\n";
  auto e = error_of(text);
  EXPECT_TRUE(contains(e, "nested too deeply")) << e;
  std::string deep = "x = ";
  for (int i = 0; i < 5000; ++i) deep += "${y?{";
  deep += "z";
  for (int i = 0; i < 5000; ++i) deep += "}}";
  deep += "\ny = 1\n";
  e = error_of(deep);
  EXPECT_TRUE(contains(e, "nested too deeply")) << e;
}

TEST(Expand, FreeFunctionAndMacroNames) {
  auto c = load("myhostname = h.example\n");
  auto r = expand(c, "helo $myhostname ${mail_name}");
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "helo h.example Postern");
  EXPECT_FALSE(expand(c, "${broken"));
  EXPECT_EQ(macro_names("$a ${b?$c} $(d) $$e ${{$f} == {x} ? {y}} $a"),
            (std::vector<std::string>{"a", "b", "c", "d", "f"}));
}

TEST(Expand, RawParametersAreNotExpanded) {
  auto c = load("mailbox_command = /usr/bin/procmail -a \"$EXTENSION\"\n");
  EXPECT_EQ(val(c, "mailbox_command"), "/usr/bin/procmail -a \"$EXTENSION\"");
  EXPECT_TRUE(contains(val(c, "forward_path"), "$home/.forward"));
}

// ---- validation -----------------------------------------------------------

TEST(Validate, NumbersSizesAndBounds) {
  auto e = error_of("biff = no\nmessage_size_limit = foo\n");
  EXPECT_EQ(e, "main.cf, line 2: bad numerical value for parameter message_size_limit: foo");
  EXPECT_TRUE(contains(error_of("message_size_limit = 10M\n"), "bad numerical value"));
  EXPECT_TRUE(contains(error_of("default_process_limit = 0\n"), "minimum 1"));
  EXPECT_TRUE(contains(error_of("hash_queue_depth = 6\n"), "maximum 5"));
  EXPECT_TRUE(contains(error_of("smtpd_recipient_limit = 99999999999\n"), "maximum"));
  EXPECT_TRUE(contains(error_of("smtpd_recipient_limit = -5\n"), "minimum"));
  auto c = load("message_size_limit = 52428800\nsmtpd_recipient_limit = 200\n");
  EXPECT_EQ(c.size("message_size_limit"), 52428800);
  EXPECT_EQ(c.integer("smtpd_recipient_limit"), 200);
}

TEST(Validate, Booleans) {
  auto c = load("biff = NO\ndisable_vrfy_command = Yes\n");
  EXPECT_FALSE(c.boolean("biff"));
  EXPECT_TRUE(c.boolean("disable_vrfy_command"));
  auto e = error_of("biff = maybe\n");
  EXPECT_TRUE(contains(e, "main.cf, line 1: bad boolean value for parameter biff: maybe")) << e;
  EXPECT_TRUE(contains(error_of("biff = true\n"), "bad boolean"));
}

TEST(Validate, Times) {
  auto c = load("ipc_timeout = 5m\nmaximal_queue_lifetime = 2\nbounce_queue_lifetime = 12h\nmax_idle = 30\n");
  EXPECT_EQ(c.time("ipc_timeout"), 300s);
  EXPECT_EQ(c.time("maximal_queue_lifetime"), std::chrono::seconds(2 * 86400));  // default unit d
  EXPECT_EQ(c.time("bounce_queue_lifetime"), 12h);
  EXPECT_EQ(c.time("max_idle"), 30s);
  EXPECT_EQ(c.time("delay_warning_time"), 0s);
  auto e = error_of("\nipc_timeout = 5 minutes\n");
  EXPECT_TRUE(contains(e, "main.cf, line 2: bad time value for parameter ipc_timeout: 5 minutes")) << e;
  EXPECT_TRUE(contains(error_of("ipc_timeout = 0\n"), "minimum 1"));
  EXPECT_TRUE(contains(error_of("in_flow_delay = 11s\n"), "maximum 10"));
}

TEST(Validate, ListsAndStrings) {
  auto c = load("mynetworks = 127.0.0.0/8, [::1]/128\n  10.0.0.0/8\nsmtpd_banner = anything at all\n");
  EXPECT_EQ(c.list("mynetworks"), (std::vector<std::string>{"127.0.0.0/8", "[::1]/128", "10.0.0.0/8"}));
  EXPECT_EQ(c.str("smtpd_banner"), "anything at all");
  EXPECT_TRUE(contains(error_of("smtpd_recipient_restrictions = check_policy_service { inet:x\n"), "unbalanced"));
}

TEST(Validate, ExpandedValuesAreChecked) {
  auto e = error_of("max_use = $my_count\nmy_count = lots\n");
  EXPECT_TRUE(contains(e, "main.cf, line 1: bad numerical value for parameter max_use: lots")) << e;
  auto c = load("my_count = 7\nmax_use = $my_count\n");
  EXPECT_EQ(c.integer("max_use"), 7);
  // A registered default that uses a bad explicit value: the explicit line is reported first.
  e = error_of("\n\ndefault_destination_concurrency_limit = x\n");
  EXPECT_TRUE(contains(e, "main.cf, line 3")) << e;
}

TEST(Validate, PerTransportParameters) {
  auto c = load("default_destination_concurrency_limit = 7\nrelay_destination_concurrency_limit = 3\n");
  EXPECT_EQ(c.integer("smtp_destination_concurrency_limit"), 7);
  EXPECT_EQ(c.integer("relay_destination_concurrency_limit"), 3);
  EXPECT_EQ(c.time("pipe_time_limit"), 1000s);
  EXPECT_TRUE(c.warnings().empty());
  auto e = error_of("smtp_destination_concurrency_limit = many\n");
  EXPECT_TRUE(contains(e, "bad numerical value for parameter smtp_destination_concurrency_limit: many")) << e;
}

// ---- overrides ------------------------------------------------------------

TEST(Overrides, TakePrecedenceAndPropagate) {
  auto c = load("myhostname = a.example.com\nsmtpd_tls_security_level = may\n");
  ASSERT_TRUE(c.set_override("smtpd_tls_security_level", "none"));
  ASSERT_TRUE(c.set_override("myhostname", "b.example.com"));
  EXPECT_EQ(val(c, "smtpd_tls_security_level"), "none");
  EXPECT_EQ(val(c, "smtpd_banner"), "b.example.com ESMTP Postern");
  EXPECT_EQ(c.raw("myhostname"), "b.example.com");
  ASSERT_TRUE(c.set_override("smtpd_client_restrictions", "$mua_client_restrictions"));
  EXPECT_TRUE(c.is_set("smtpd_client_restrictions"));
}

TEST(Overrides, ValidatedAndRolledBack) {
  auto c = load("my_limit = 5\nmax_use = $my_limit\n");
  auto st = c.set_override("max_use", "abc", "master.cf, line 12");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message, "master.cf, line 12: bad numerical value for parameter max_use: abc");
  EXPECT_EQ(c.integer("max_use"), 5);
  // Breaking a parameter that another one uses is caught too.
  st = c.set_override("my_limit", "x");
  ASSERT_FALSE(st);
  EXPECT_TRUE(contains(st.error().message, "bad numerical value for parameter max_use: x")) << st.error().message;
  EXPECT_EQ(c.integer("max_use"), 5);
  EXPECT_FALSE(c.is_set("max_use") && c.raw("max_use") == "abc");
  EXPECT_FALSE(c.set_override("bad name", "1"));
  EXPECT_FALSE(c.set_override("biff", "yes\nno"));
  st = c.set_override("biff", "perhaps");
  ASSERT_FALSE(st);
  EXPECT_TRUE(contains(st.error().message, "-o biff=perhaps: bad boolean value")) << st.error().message;
  ASSERT_TRUE(c.set_override("max_use", "9"));
  EXPECT_EQ(c.integer("max_use"), 9);
  EXPECT_FALSE(c.set_override("myhostname", "$smtpd_banner"));  // loop
  EXPECT_TRUE(c.get("myhostname"));
}

TEST(Overrides, BatchValidatedOnceAndAllOrNothing) {
  auto c = load("my_limit = 5\nmax_use = $my_limit\n");
  // Later entries may refer to earlier ones; the final state is validated.
  ASSERT_TRUE(c.set_overrides({{"service_name", "smtp", "daemon start"},
                               {"syslog_name", "postern/$service_name", "master.cf -o"},
                               {"my_limit", "7"}}));
  EXPECT_EQ(val(c, "syslog_name"), "postern/smtp");
  EXPECT_EQ(c.integer("max_use"), 7);
  // One bad entry: nothing of the batch is applied.
  auto st = c.set_overrides({{"my_limit", "8"}, {"biff", "perhaps"}});
  ASSERT_FALSE(st);
  EXPECT_TRUE(contains(st.error().message, "-o biff=perhaps: bad boolean value")) << st.error().message;
  EXPECT_EQ(c.integer("max_use"), 7);
  EXPECT_FALSE(c.set_overrides({{"bad name", "1"}}));
  EXPECT_FALSE(c.set_overrides({{"biff", "yes\nno"}}));
  st = c.set_overrides({{"max_use", "abc", "master.cf, line 3"}});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message, "master.cf, line 3: bad numerical value for parameter max_use: abc");
  EXPECT_EQ(c.integer("max_use"), 7);
  EXPECT_TRUE(c.set_overrides({}));
}

// ---- computed defaults, files ---------------------------------------------

TEST(Computed, MydomainFromMyhostname) {
  EXPECT_EQ(val(load("myhostname = mx.mail.example.com\n"), "mydomain"), "mail.example.com");
  EXPECT_EQ(val(load("myhostname = host.example\n"), "mydomain"), "localdomain");
  // mydomain refers back to myhostname: the computation falls back, no loop error.
  auto c = load("myhostname = mail.$mydomain\n");
  EXPECT_TRUE(contains(val(c, "myhostname"), "mail."));
  std::string sys = host::local_hostname();
  if (!sys.empty() && sys.find('.') == std::string::npos) {
    EXPECT_EQ(val(load("mydomain = example.net\n"), "myhostname"), sys + ".example.net");
  }
}

TEST(Computed, MynetworksFollowsStyle) {
  auto c = load("inet_interfaces = 127.0.0.1\ninet_protocols = ipv4\n");
  EXPECT_EQ(val(c, "mynetworks"), "127.0.0.1/32");
  EXPECT_FALSE(c.is_set("mynetworks"));
  c = load("inet_interfaces = loopback-only\ninet_protocols = all\nmynetworks_style = subnet\n");
  EXPECT_EQ(val(c, "mynetworks"), "127.0.0.0/8 [::1]/128");
  c = load("inet_interfaces = loopback-only\ninet_protocols = ipv4\nmynetworks_style = class\n");
  EXPECT_EQ(val(c, "mynetworks"), "127.0.0.0/8");
  host::InterfaceAddress a;
  a.family = AF_INET;
  a.addr = {192, 168, 7, 9};
  a.mask = {255, 255, 255, 0};
  EXPECT_EQ(host::mynetworks({a}, host::MaskStyle::Subnet), "192.168.7.0/24");
  EXPECT_EQ(host::mynetworks({a}, host::MaskStyle::Class), "192.168.7.0/24");
  EXPECT_EQ(host::mynetworks({a, a}, host::MaskStyle::Host), "192.168.7.9/32");
}

TEST(Files, LoadAndConfigDirectory) {
  char tmpl[] = "/tmp/postern-config-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::filesystem::path dir(tmpl);
  auto missing = Config::load(dir);
  ASSERT_FALSE(missing);
  EXPECT_TRUE(contains(missing.error().message, (dir / "main.cf").string())) << missing.error().message;
  std::ofstream(dir / "main.cf") << "biff = no\nmessage_size_limit = x\n";
  auto bad = Config::load(dir);
  ASSERT_FALSE(bad);
  EXPECT_TRUE(contains(bad.error().message, (dir / "main.cf").string() + ", line 2")) << bad.error().message;
  std::ofstream(dir / "main.cf") << "biff = no\nalias_maps = hash:$config_directory/aliases\n";
  auto ok = Config::load(dir);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->get("config_directory"), dir.string());
  EXPECT_EQ(ok->get("alias_maps"), "hash:" + dir.string() + "/aliases");
  EXPECT_FALSE(ok->is_set("config_directory"));
  std::filesystem::remove_all(dir);
}

// A daemon start reads main.cf without validating it and validates once,
// with its overrides; a bad main.cf must still be refused, naming its line.
TEST(Files, UnvalidatedLoadIsValidatedByTheOverrides) {
  char tmpl[] = "/tmp/postern-config-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::filesystem::path dir(tmpl);
  std::ofstream(dir / "main.cf") << "biff = no\nmessage_size_limit = x\n";
  auto bad = Config::load_unvalidated(dir);
  ASSERT_TRUE(bad) << bad.error().message;
  auto st = bad->set_overrides({{"service_name", "smtp", "daemon start"}});
  ASSERT_FALSE(st);
  EXPECT_TRUE(contains(st.error().message, (dir / "main.cf").string() + ", line 2")) << st.error().message;
  EXPECT_FALSE(bad->set_overrides({}));  // an empty list validates too
  std::ofstream(dir / "main.cf") << "biff = no\nmax_use = 7\n";
  auto ok = Config::load_unvalidated(dir);
  ASSERT_TRUE(ok) << ok.error().message;
  ASSERT_TRUE(ok->set_overrides({{"service_name", "smtp", "daemon start"}, {"max_use", "9", "-o"}}));
  EXPECT_EQ(ok->integer("max_use"), 9);
  EXPECT_EQ(ok->get("config_directory"), dir.string());
  std::filesystem::remove_all(dir);
}

TEST(MainCf, DebianStyleFileLoadsWithoutWarnings) {
  auto c = load(R"(# See /usr/share/postfix/main.cf.dist for a commented, more complete version
smtpd_banner = $myhostname ESMTP $mail_name (Debian/GNU)
biff = no
append_dot_mydomain = no
readme_directory = no
compatibility_level = 3.6
smtpd_tls_cert_file=/etc/ssl/certs/ssl-cert-snakeoil.pem
smtpd_tls_key_file=/etc/ssl/private/ssl-cert-snakeoil.key
smtpd_tls_security_level=may
smtp_tls_CApath=/etc/ssl/certs
smtp_tls_security_level=may
smtp_tls_session_cache_database = btree:${data_directory}/smtp_scache
smtpd_relay_restrictions = permit_mynetworks permit_sasl_authenticated defer_unauth_destination
myhostname = debian.example.org
alias_maps = hash:/etc/aliases
alias_database = hash:/etc/aliases
myorigin = /etc/mailname
mydestination = $myhostname, debian, localhost.localdomain, localhost
relayhost =
mynetworks = 127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128
mailbox_size_limit = 0
recipient_delimiter = +
inet_interfaces = all
inet_protocols = all
)");
  EXPECT_TRUE(c.warnings().empty()) << c.warnings()[0];
  EXPECT_EQ(val(c, "smtpd_banner"), "debian.example.org ESMTP Postern (Debian/GNU)");
  EXPECT_TRUE(c.get("smtp_tls_session_cache_database")->ends_with("/smtp_scache"));
  EXPECT_EQ(c.size("mailbox_size_limit"), 0);
  EXPECT_EQ(c.list("mynetworks").size(), 3u);
}

TEST(Overrides, ServiceNameForSyslogName) {
  // The stock master.cf uses -o syslog_name=postfix/$service_name.
  auto c = load("");
  ASSERT_TRUE(c.set_override("service_name", "relay"));
  ASSERT_TRUE(c.set_override("syslog_name", "postfix/$service_name"));
  EXPECT_EQ(val(c, "syslog_name"), "postfix/relay");
}

// maillog_file must begin with one of maillog_file_prefixes (Postfix's
// guard against a typo that makes every process append to another file).
TEST(MainCf, MaillogFileMustMatchAPrefix) {
  load("maillog_file = /var/log/postern.log\n");
  load("maillog_file = /dev/stdout\n");
  load("maillog_file =\n");
  EXPECT_TRUE(contains(error_of("maillog_file = /etc/passwd\n"),
                       "parameter maillog_file: value \"/etc/passwd\" does not match any prefix in "
                       "maillog_file_prefixes (/var, /dev/stdout)"));
  EXPECT_TRUE(contains(error_of("maillog_file = /dev/stderr\n"), "does not match any prefix"));
  load("maillog_file = /srv/mail/log\nmaillog_file_prefixes = /srv/mail/, /var\n");
  load("base = /srv/x\nmaillog_file = $base/log\nmaillog_file_prefixes = $base/\n");
  EXPECT_TRUE(contains(error_of("maillog_file = /srv/other/log\nmaillog_file_prefixes = /srv/mail/\n"),
                       "/srv/other/log"));
}
