// master_cf_test.cpp - master.cf parsing, validation and normalized output.
#include "config/master_cf.h"

#include <gtest/gtest.h>

#include "config/config.h"

using namespace postern::config;

namespace {

const char* kPostfixLike = R"(#
# service type  private unpriv  chroot  wakeup  maxproc command + args
#               (yes)   (yes)   (no)    (never) (100)
# ==========================================================================
smtp      inet  n       -       y       -       -       smtpd
#submission inet n       -       y       -       -       smtpd
submission inet n       -       y       -       -       smtpd
  -o syslog_name=postfix/submission
  # a comment between option lines
  -o smtpd_tls_security_level=encrypt
  -o { smtpd_client_restrictions = permit_sasl_authenticated, reject }
pickup    unix  n       -       y       60      1       pickup
cleanup   unix  n       -       y       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       y       1000?   1       tlsmgr
127.0.0.1:10025 inet n  -       n       -       -       smtpd -v -oname_one=1
[::1]:2525 inet n       -       n       -       -       smtpd
postlog   unix-dgram n  -       n       -       1       postlogd
maildrop  unix  -       n       n       -       -       pipe
  flags=DRXhu user=vmail argv=/usr/bin/maildrop -d ${recipient} -o not_an_override=1
)";

std::string error_of(std::string_view text) {
  auto r = parse_master_cf(text);
  EXPECT_FALSE(r) << "accepted: " << text;
  return r ? std::string() : r.error().message;
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST(MasterCf, ParsesPostfixStyleFile) {
  auto r = parse_master_cf(kPostfixLike);
  ASSERT_TRUE(r) << r.error().message;
  const auto& s = *r;
  ASSERT_EQ(s.size(), 10u);

  EXPECT_EQ(s[0].key(), "smtp/inet");
  EXPECT_FALSE(s[0].private_service);
  EXPECT_TRUE(s[0].unprivileged);
  EXPECT_TRUE(s[0].chroot);
  EXPECT_EQ(s[0].wakeup, 0);
  EXPECT_FALSE(s[0].maxproc);
  EXPECT_EQ(s[0].command, "smtpd");
  EXPECT_TRUE(s[0].args.empty());
  EXPECT_EQ(s[0].line, 5);
  EXPECT_EQ(s[0].file, "master.cf");

  EXPECT_EQ(s[1].name, "submission");
  EXPECT_EQ(s[1].line, 7);
  ASSERT_EQ(s[1].overrides.size(), 3u);
  EXPECT_EQ(s[1].overrides[0], (std::pair<std::string, std::string>{"syslog_name", "postfix/submission"}));
  EXPECT_EQ(s[1].overrides[2],
            (std::pair<std::string, std::string>{"smtpd_client_restrictions", "permit_sasl_authenticated, reject"}));
  EXPECT_EQ(s[1].args, (std::vector<std::string>{"-o", "syslog_name=postfix/submission", "-o",
                                                  "smtpd_tls_security_level=encrypt", "-o",
                                                  "smtpd_client_restrictions = permit_sasl_authenticated, reject"}));

  EXPECT_EQ(s[2].wakeup, 60);
  EXPECT_EQ(s[2].maxproc, 1);
  EXPECT_FALSE(s[2].private_service);
  EXPECT_TRUE(s[5].private_service);  // "-" means y
  EXPECT_EQ(s[3].maxproc, 0);
  EXPECT_EQ(s[5].wakeup, 1000);
  EXPECT_TRUE(s[5].wakeup_if_used);
  EXPECT_EQ(s[6].key(), "127.0.0.1:10025/inet");
  EXPECT_EQ(s[6].overrides, (std::vector<std::pair<std::string, std::string>>{{"name_one", "1"}}));
  EXPECT_EQ(s[7].key(), "[::1]:2525/inet");
  EXPECT_EQ(s[8].type, ServiceType::UnixDgram);
  EXPECT_EQ(s[9].command, "pipe");
  EXPECT_FALSE(s[9].unprivileged);
  // Options stop at the first non-option, as getopt() in the daemon does.
  EXPECT_TRUE(s[9].overrides.empty());
  EXPECT_EQ(s[9].args.back(), "not_an_override=1");
}

TEST(MasterCf, OptionForms) {
  auto r = parse_master_cf("x unix - - n - - smtpd -v -o a=1 -ob=2 -vo c=3 -n name -o { d = 4 5 } -- -o e=5\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)[0].overrides,
            (std::vector<std::pair<std::string, std::string>>{{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4 5"}}));
  r = parse_master_cf("x unix - - n - - smtpd -o empty=\n");
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].overrides[0].second, "");
  // Options the daemons do not take are refused at start, not by every
  // process the master would start.
  r = parse_master_cf("x unix - - n - - smtpd -vD\n");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("option -D is not one Postern's daemons take"), std::string::npos)
      << r.error().message;
  EXPECT_FALSE(parse_master_cf("x unix - - n - - smtpd -S -o a=b\n"));
  EXPECT_TRUE(parse_master_cf("x unix - - n - - pipe flags=R argv=/bin/cat -D -S\n"));
}

TEST(MasterCf, ContinuationAndComments) {
  auto r = parse_master_cf("\n# c\nsmtp inet n - n - -\n  smtpd\n\t-o a=b\n\nqmgr unix n - n 300 1 qmgr\n");
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].command, "smtpd");
  EXPECT_EQ((*r)[0].line, 3);
  EXPECT_EQ((*r)[1].line, 7);
}

TEST(MasterCf, MalformedLinesNameFileAndLine) {
  struct Case {
    std::string text;
    const char* part;
  } cases[] = {
      {"smtp inet n - n - -\n", "missing command field"},
      {"smtp\n", "missing type field"},
      {"smtp tcp n - n - - smtpd\n", "bad transport type"},
      {"x unix yes - n - - smtpd\n", "bad private field"},
      {"x unix - N n - - smtpd\n", "bad unpriv field"},
      {"x unix - - 1 - - smtpd\n", "bad chroot field"},
      {"x unix - - n soon - smtpd\n", "bad wakeup field"},
      {"x unix - - n 5?? - smtpd\n", "bad wakeup field"},
      {"x unix - - n ? - smtpd\n", "bad wakeup field"},
      {"x unix - - n -5 - smtpd\n", "bad wakeup field"},
      {"x unix - - n - -1 smtpd\n", "bad maxproc field"},
      {"x unix - - n - many smtpd\n", "bad maxproc field"},
      {"x unix - - n - 99999999999 smtpd\n", "bad maxproc field"},
      {"smtp inet - - n - - smtpd\n", "inet service cannot be private"},
      {"smtp inet y - n - - smtpd\n", "inet service cannot be private"},
      {"99999 inet n - n - - smtpd\n", "bad port"},
      {"0 inet n - n - - smtpd\n", "bad port"},
      {"host: inet n - n - - smtpd\n", "bad port"},
      {"1:2:25 inet n - n - - smtpd\n", "bad IPv6 address"},
      {"[::1]25 inet n - n - - smtpd\n", "expected \":port\""},
      {"[::1 inet n - n - - smtpd\n", "missing \"]\""},
      {"[not-an-address]:25 inet n - n - - smtpd\n", "bad address"},
      {"bad/name unix - - n - - smtpd\n", "plain file name"},
      {".. fifo - - n - - smtpd\n", "plain file name"},
      {"x unix - - n - - smtpd -o\n", "without a value"},
      {"x unix - - n - - smtpd -o novalue\n", "needs name=value"},
      {"x unix - - n - - smtpd -o =v\n", "bad parameter name"},
      {"x unix - - n - - smtpd -o { a = b\n", "missing \"}\""},
      {"x unix - - n - - smtpd { a }b\n", "missing white space"},
  };
  for (const auto& k : cases) {
    auto e = error_of(k.text);
    EXPECT_TRUE(contains(e, "master.cf, line 1: ")) << k.text << " -> " << e;
    EXPECT_TRUE(contains(e, k.part)) << k.text << " -> " << e;
  }
  auto e = error_of(std::string_view("x unix - - n - - sm\0tpd\n", 24));
  EXPECT_TRUE(contains(e, "NUL")) << e;
  auto r = parse_master_cf("junk\n", "/etc/postern/master.cf");
  ASSERT_FALSE(r);
  EXPECT_TRUE(contains(r.error().message, "/etc/postern/master.cf, line 1")) << r.error().message;
}

TEST(MasterCf, WhatPostfixAcceptsWithAWarning) {
  // A service defined twice: the last entry counts, in the first one's
  // place (Postfix's master); text continued from nothing is skipped.
  std::vector<std::string> dups;
  auto r = parse_master_cf("  orphan continuation\nsmtp inet n - n - - smtpd\npickup unix n - n 60 1 pickup\n"
                           "smtp inet n - n - - smtpd -v\n",
                           "master.cf", &dups);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].name, "smtp");
  EXPECT_EQ((*r)[0].args, (std::vector<std::string>{"-v"}));
  EXPECT_EQ(dups, (std::vector<std::string>{"smtp/inet"}));
  // Braces inside a word (Postfix's mystrtokq()): one argument.
  r = parse_master_cf("x unix - - n - - smtpd -o smtpd_milter_maps=inline:{ 192.0.2.1=DISABLE }\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)[0].args, (std::vector<std::string>{"-o", "smtpd_milter_maps=inline:{ 192.0.2.1=DISABLE }"}));
  // The last colon separates the port, and the host may be left out.
  auto ep = parse_inet_service("::1:smtp");
  ASSERT_TRUE(ep) << ep.error().message;
  EXPECT_EQ(ep->host, "::1");
  EXPECT_EQ(ep->port, "smtp");
  ep = parse_inet_service(":2525");
  ASSERT_TRUE(ep) << ep.error().message;
  EXPECT_EQ(ep->host, "");
  EXPECT_EQ(ep->port, "2525");
  // postlog (Debian's stock master.cf) is dropped, other unix-dgram kept.
  r = parse_master_cf("postlog unix-dgram n - n - 1 postlogd\nother unix-dgram n - n - 1 otherd\n");
  ASSERT_TRUE(r) << r.error().message;
  drop_postlog_services(*r);
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].name, "other");
}

TEST(MasterCf, SameNameDifferentTypeIsNotADuplicate) {
  auto r = parse_master_cf("smtp inet n - n - - smtpd\nsmtp unix - - n - - smtp\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->size(), 2u);
}

TEST(MasterCf, InetServiceNames) {
  auto ep = parse_inet_service("smtp");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->host, "");
  EXPECT_EQ(ep->port, "smtp");
  ep = parse_inet_service("127.0.0.1:2525");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->host, "127.0.0.1");
  EXPECT_EQ(ep->port, "2525");
  ep = parse_inet_service("[fe80::1%eth0]:25");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->host, "fe80::1%eth0");
  ep = parse_inet_service("localhost:submission");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->host, "localhost");
  EXPECT_TRUE(parse_inet_service("65535"));
  for (const char* bad : {"", "65536", "-1", "a b:25", "host:", "[::1]", "[]:25", "host:por t", "_x"})
    EXPECT_FALSE(parse_inet_service(bad)) << bad;
}

TEST(MasterCf, NormalizedFormat) {
  auto r = parse_master_cf(
      "smtp inet n - y - - smtpd\n"
      "submission inet n - y - 10 smtpd\n  -o syslog_name=postfix/submission\n  -o { a = b c }\n"
      "x unix - - n - - pipe flags=R argv=/bin/echo { a b } ${sender}\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(format_master_entry((*r)[0]), "smtp       inet  n       -       y       -       -       smtpd");
  // Postfix's form: "{name=value}" after -o, "{a b}" elsewhere.
  EXPECT_EQ(format_master_entry((*r)[1]),
            "submission inet  n       -       y       -       10      smtpd -o syslog_name=postfix/submission "
            "-o {a=b c}");
  EXPECT_EQ(format_master_command((*r)[2]), "pipe flags=R argv=/bin/echo {a b} ${sender}");
  // The normalized form parses back to the same entry.
  for (std::size_t i : {1, 2}) {
    auto again = parse_master_cf(format_master_entry((*r)[i]));
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ((*again)[0].overrides, (*r)[i].overrides);
    EXPECT_EQ(format_master_entry((*again)[0]), format_master_entry((*r)[i]));
  }
  EXPECT_EQ((*r)[2].args, (std::vector<std::string>{"flags=R", "argv=/bin/echo", "a b", "${sender}"}));
}

TEST(MasterCf, AWordWithABraceBeforeItsBracedPartPrintsAsWritten) {
  // Found by fuzz_master_cf: "}{ x}" is one word (mystrtokq() keeps the
  // white space of a braced part inside a word); "{ }{ x} }" would not read
  // back, so it is printed as it was written. Words whose braced part
  // comes first keep Postfix's braces.
  auto r = parse_master_cf("x unix - - - - - cmd }{ x} inline:{ a b }\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)[0].args, (std::vector<std::string>{"}{ x}", "inline:{ a b }"}));
  EXPECT_EQ(format_master_command((*r)[0]), "cmd }{ x} { inline:{ a b } }");
  for (const std::string& form : {format_master_entry((*r)[0]), format_master_entry_folded((*r)[0])}) {
    auto again = parse_master_cf(form);
    ASSERT_TRUE(again) << form << ": " << again.error().message;
    EXPECT_EQ((*again)[0].args, (*r)[0].args) << form;
  }
}

TEST(MasterCf, PostfixStockFileParses) {
  const char* stock = R"(smtp      inet  n       -       y       -       -       smtpd
#smtp      inet  n       -       y       -       1       postscreen
#submission inet n       -       y       -       -       smtpd
#  -o syslog_name=postfix/submission
#  -o smtpd_tls_security_level=encrypt
pickup    unix  n       -       y       60      1       pickup
cleanup   unix  n       -       y       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       y       1000?   1       tlsmgr
rewrite   unix  -       -       y       -       -       trivial-rewrite
bounce    unix  -       -       y       -       0       bounce
defer     unix  -       -       y       -       0       bounce
trace     unix  -       -       y       -       0       bounce
verify    unix  -       -       y       -       1       verify
flush     unix  n       -       y       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       y       -       -       smtp
relay     unix  -       -       y       -       -       smtp
        -o syslog_name=postfix/$service_name
#       -o smtp_helo_timeout=5 -o smtp_connect_timeout=5
showq     unix  n       -       y       -       -       showq
error     unix  -       -       y       -       -       error
retry     unix  -       -       y       -       -       error
discard   unix  -       -       y       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       y       -       -       lmtp
anvil     unix  -       -       y       -       1       anvil
scache    unix  -       -       y       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
maildrop  unix  -       n       n       -       -       pipe
  flags=DRXhu user=vmail argv=/usr/bin/maildrop -d ${recipient}
uucp      unix  -       n       n       -       -       pipe
  flags=Fqhu user=uucp argv=uux -r -n -z -a$sender - $nexthop!rmail ($recipient)
)";
  auto r = parse_master_cf(stock);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->size(), 27u);
  const auto& relay = (*r)[14];
  EXPECT_EQ(relay.key(), "relay/unix");
  EXPECT_EQ(relay.overrides, (std::vector<std::pair<std::string, std::string>>{{"syslog_name",
                                                                                 "postfix/$service_name"}}));
  EXPECT_TRUE((*r)[26].overrides.empty());  // uux's -r -n -z belong to the pipe command line
}

TEST(ServiceOverrides, SetTheDaemonNamesThenTheOverrides) {
  auto cfg = Config::from_text("syslog_name = postern/$service_name\n", "main.cf");
  ASSERT_TRUE(cfg);
  ASSERT_TRUE(apply_service_overrides(*cfg, "submission", "smtpd", "42",
                                      {{"smtpd_helo_required", "yes"}, {"syslog_name", "$process_name-$process_id"}}));
  EXPECT_EQ(cfg->str("service_name"), "submission");
  EXPECT_TRUE(cfg->boolean("smtpd_helo_required"));
  EXPECT_EQ(cfg->str("syslog_name"), "smtpd-42");
}

TEST(ServiceOverrides, ARefusedOneNamesItselfAndChangesNothing) {
  auto cfg = Config::from_text("", "main.cf");
  ASSERT_TRUE(cfg);
  auto st = apply_service_overrides(*cfg, "25", "smtpd", "1",
                                    {{"smtpd_helo_required", "yes"},
                                     {"smtpd_recipient_restrictions", "reject_unverified_recipient"},
                                     {"message_size_limit", "1000"}});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message.rfind("-o smtpd_recipient_restrictions=reject_unverified_recipient: parameter "
                                     "smtpd_recipient_restrictions = ",
                                     0),
            0u)
      << st.error().message;
  EXPECT_FALSE(cfg->boolean("smtpd_helo_required"));
  EXPECT_NE(cfg->str("service_name"), "25");
  st = apply_service_overrides(*cfg, "25", "smtpd", "1", {{"message_size_limit", "lots"}});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message.rfind("-o message_size_limit=lots: ", 0), 0u) << st.error().message;
}

namespace {
std::vector<std::string> keys_left(const std::vector<std::string>& patterns) {
  auto s = postern::config::parse_master_cf(
      "smtp inet n - n - - smtpd\n"
      "127.0.0.1:2525 inet n - n - - smtpd\n"
      "pickup unix n - n 60 1 pickup\n"
      "cleanup unix n - n - 0 cleanup\n"
      "smtp unix - - n - - smtp\n");
  EXPECT_TRUE(s);
  auto st = postern::config::remove_disabled_services(*s, patterns);
  EXPECT_TRUE(st) << (st ? "" : st.error().message);
  std::vector<std::string> out;
  for (const auto& e : *s) out.push_back(e.key());
  return out;
}
}  // namespace

TEST(MasterCf, ServiceDisableByTypeAndByName) {
  using V = std::vector<std::string>;
  EXPECT_EQ(keys_left({}), (V{"smtp/inet", "127.0.0.1:2525/inet", "pickup/unix", "cleanup/unix", "smtp/unix"}));
  EXPECT_EQ(keys_left({"inet"}), (V{"pickup/unix", "cleanup/unix", "smtp/unix"}));
  EXPECT_EQ(keys_left({"smtp/inet"}), (V{"127.0.0.1:2525/inet", "pickup/unix", "cleanup/unix", "smtp/unix"}));
  // The first match decides: "!" keeps one of a disabled type.
  EXPECT_EQ(keys_left({"!127.0.0.1:2525/inet", "inet"}), (V{"127.0.0.1:2525/inet", "pickup/unix", "cleanup/unix",
                                                           "smtp/unix"}));
  EXPECT_EQ(keys_left({"inet", "!127.0.0.1:2525/inet"}), (V{"pickup/unix", "cleanup/unix", "smtp/unix"}));
  EXPECT_EQ(keys_left({"pickup/unix", "fifo"}), (V{"smtp/inet", "127.0.0.1:2525/inet", "cleanup/unix", "smtp/unix"}));
}

TEST(MasterCf, ServiceDisableRefusesUnknownTypes) {
  auto s = postern::config::parse_master_cf("smtp inet n - n - - smtpd\n");
  ASSERT_TRUE(s);
  for (const char* bad : {"inte", "smtp/tcp", "/inet", "all"}) {
    auto st = postern::config::remove_disabled_services(*s, {bad});
    EXPECT_FALSE(st) << bad;
    EXPECT_EQ(s->size(), 1u);
  }
}
