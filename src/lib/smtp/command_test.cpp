// command_test.cpp - parse_command(): verbs, MAIL/RCPT parameters, every rejection.
#include "smtp/command.h"

#include <gtest/gtest.h>

#include <string>

namespace postern::smtp {
namespace {

Command ok(std::string_view line, const CommandOptions& o = {}) {
  auto r = parse_command(line, o);
  EXPECT_TRUE(r.ok()) << "line: " << line << " -> " << (r.ok() ? "" : r.error().reply.to_string());
  if (!r.ok()) return Command{};
  return *r;
}

// The reply ("501 5.5.4 text") a rejected line gets.
std::string rejected(std::string_view line, const CommandOptions& o = {}) {
  auto r = parse_command(line, o);
  EXPECT_FALSE(r.ok()) << "line unexpectedly accepted: " << line;
  if (r.ok()) return "accepted";
  return r.error().reply.to_string();
}

TEST(Command, VerbsAreCaseInsensitive) {
  EXPECT_EQ(ok("helo example.com").verb, Verb::Helo);
  EXPECT_EQ(ok("EhLo example.com").verb, Verb::Ehlo);
  EXPECT_EQ(ok("noop").verb, Verb::Noop);
  EXPECT_EQ(ok("Quit").verb, Verb::Quit);
  EXPECT_EQ(ok("data").verb, Verb::Data);
  EXPECT_EQ(ok("rset").verb, Verb::Rset);
  EXPECT_EQ(ok("starttls").verb, Verb::Starttls);
  EXPECT_EQ(ok("help").verb, Verb::Help);
  EXPECT_EQ(ok("vrfy postmaster").verb, Verb::Vrfy);
  EXPECT_EQ(ok("expn staff").verb, Verb::Expn);
  EXPECT_EQ(ok("etrn example.com").verb, Verb::Etrn);
  EXPECT_EQ(ok("bdat 10").verb, Verb::Bdat);
  EXPECT_EQ(ok("auth plain").verb, Verb::Auth);
  EXPECT_EQ(ok("xclient NAME=x").verb, Verb::Xclient);
  EXPECT_EQ(ok("xforward NAME=x").verb, Verb::Xforward);
  EXPECT_EQ(ok("mail from:<>").verb, Verb::Mail);
  EXPECT_EQ(ok("rcpt to:<a@b>").verb, Verb::Rcpt);
}

TEST(Command, VerbNames) {
  EXPECT_EQ(verb_name(Verb::Mail), "MAIL");
  EXPECT_EQ(verb_name(Verb::Starttls), "STARTTLS");
  EXPECT_EQ(verb_name(Verb::Unknown), "UNKNOWN");
}

TEST(Command, UnknownVerbKeepsTextAndArguments) {
  Command c = ok("XYZZY  plugh  ");
  EXPECT_EQ(c.verb, Verb::Unknown);
  EXPECT_EQ(c.verb_text, "XYZZY");
  EXPECT_EQ(c.args, "plugh");
  EXPECT_FALSE(c.looks_like_header());
  // A verb that merely starts like a known one is unknown.
  EXPECT_EQ(ok("MAILFROM:<a@b>").verb, Verb::Unknown);
  EXPECT_EQ(ok("HELOX a").verb, Verb::Unknown);
}

TEST(Command, HeaderLookingVerb) {
  EXPECT_TRUE(ok("Subject: hello").looks_like_header());
  EXPECT_TRUE(ok("From: a@b").looks_like_header());
  EXPECT_FALSE(ok(": x").looks_like_header());
  EXPECT_FALSE(ok("MAIL FROM:<a@b>").looks_like_header());
}

TEST(Command, LeadingAndRepeatedBlanksAreTolerated) {
  Command c = ok("  \tMAIL \t FROM:<a@b>   SIZE=10  ");
  EXPECT_EQ(c.verb, Verb::Mail);
  EXPECT_EQ(c.mail().path.text, "a@b");
  EXPECT_EQ(c.mail().size, 10u);
}

TEST(Command, FramingDamageIsRejected) {
  using namespace std::string_literals;
  EXPECT_EQ(rejected("NOOP\0x"s), "500 5.5.2 Error: bad syntax");
  EXPECT_EQ(rejected("MAIL FROM:<a\0@b>"s), "500 5.5.2 Error: bad syntax");
  EXPECT_EQ(rejected("\0"s), "500 5.5.2 Error: bad syntax");
  EXPECT_EQ(rejected("NOOP\nQUIT"), "500 5.5.2 Error: bad syntax");
  EXPECT_EQ(rejected("NOOP\r"), "501 5.5.2 Error: bare <CR> received");
  EXPECT_EQ(rejected("MAIL FROM:<a@b>\rRCPT TO:<c@d>"), "501 5.5.2 Error: bare <CR> received");
  EXPECT_EQ(rejected("\rHELO x"), "501 5.5.2 Error: bare <CR> received");
  EXPECT_EQ(rejected(""), "500 5.5.2 Error: bad syntax");
  EXPECT_EQ(rejected("   \t "), "500 5.5.2 Error: bad syntax");
}

TEST(Command, Utf8) {
  Command c = ok("MAIL FROM:<j\xc3\xb6rg@b\xc3\xbc.example> SMTPUTF8");
  EXPECT_EQ(c.mail().path.text, "j\xc3\xb6rg@b\xc3\xbc.example");
  EXPECT_TRUE(c.mail().smtputf8);
  EXPECT_EQ(rejected("MAIL FROM:<j\xf6rg@b>"), "500 5.5.2 Error: bad UTF-8 syntax");
  EXPECT_EQ(rejected("HELO \xc0\xaf"), "500 5.5.2 Error: bad UTF-8 syntax");      // overlong
  EXPECT_EQ(rejected("HELO \xed\xa0\x80"), "500 5.5.2 Error: bad UTF-8 syntax");  // surrogate
  EXPECT_EQ(rejected("HELO \xe2\x82"), "500 5.5.2 Error: bad UTF-8 syntax");      // truncated
  CommandOptions raw;
  raw.check_utf8 = false;  // smtputf8_enable = no: 8-bit bytes pass through
  EXPECT_EQ(ok("MAIL FROM:<j\xf6rg@b>", raw).mail().path.text, "j\xf6rg@b");
}

TEST(Command, HeloEhlo) {
  EXPECT_EQ(ok("HELO mail.example.com").helo().domain, "mail.example.com");
  EXPECT_EQ(ok("EHLO [192.0.2.1]").helo().domain, "[192.0.2.1]");
  EXPECT_EQ(ok("HELO  two \t words ").helo().domain, "two words");
  EXPECT_EQ(rejected("HELO"), "501 Syntax: HELO hostname");
  EXPECT_EQ(rejected("EHLO   "), "501 Syntax: EHLO hostname");
  auto r = parse_command("EHLO");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().reply.enhanced.empty());  // no enhanced codes before EHLO succeeded
  EXPECT_FALSE(r.error().disconnect);
}

TEST(Command, MailFromPathForms) {
  EXPECT_EQ(ok("MAIL FROM:<user@example.com>").mail().path, (Path{"user@example.com", true}));
  EXPECT_EQ(ok("mail from: <user@example.com>").mail().path.text, "user@example.com");
  EXPECT_EQ(ok("MAIL FROM:\t<user@example.com>").mail().path.text, "user@example.com");
  EXPECT_TRUE(ok("MAIL FROM:<>").mail().path.is_null());
  EXPECT_TRUE(ok("MAIL FROM: <> SIZE=0").mail().path.is_null());
  // Quoted local parts may contain '>' and blanks; escapes do not end the path.
  EXPECT_EQ(ok("MAIL FROM:<\"a>b c\"@example.com>").mail().path.text, "\"a>b c\"@example.com");
  EXPECT_EQ(ok("MAIL FROM:<\"a\\\"> b\"@example.com>").mail().path.text, "\"a\\\"> b\"@example.com");
  // Source routes are returned raw for the address parser.
  EXPECT_EQ(ok("MAIL FROM:<@a,@b:user@c>").mail().path.text, "@a,@b:user@c");
  // Without brackets (Postfix default strict_rfc821_envelopes = no).
  Path bare = ok("MAIL FROM:user@example.com SIZE=5").mail().path;
  EXPECT_EQ(bare.text, "user@example.com");
  EXPECT_FALSE(bare.bracketed);
  EXPECT_FALSE(bare.is_null());
}

TEST(Command, MailFromSyntaxErrors) {
  const std::string syntax = "501 5.5.4 Syntax: MAIL FROM:<address>";
  EXPECT_EQ(rejected("MAIL"), syntax);
  EXPECT_EQ(rejected("MAIL FROM"), syntax);
  EXPECT_EQ(rejected("MAIL FROM:"), syntax);
  EXPECT_EQ(rejected("MAIL FROM:   "), syntax);
  EXPECT_EQ(rejected("MAIL FROM <a@b>"), syntax);
  EXPECT_EQ(rejected("MAIL FROM : <a@b>"), syntax);
  EXPECT_EQ(rejected("MAIL TO:<a@b>"), syntax);
  EXPECT_EQ(rejected("MAIL <a@b>"), syntax);
  const std::string bad = "501 5.1.7 Bad sender address syntax";
  EXPECT_EQ(rejected("MAIL FROM:<a@b"), bad);
  EXPECT_EQ(rejected("MAIL FROM:<\"a@b>"), bad);  // quote never closed
  EXPECT_EQ(rejected("MAIL FROM:<a@b>SIZE=10"), bad);
  EXPECT_EQ(rejected("MAIL FROM:<<a@b>>"), bad);
  CommandOptions strict;
  strict.strict_rfc821_envelopes = true;
  EXPECT_EQ(rejected("MAIL FROM:a@b", strict), bad);
  EXPECT_EQ(ok("MAIL FROM:<a@b>", strict).mail().path.text, "a@b");
}

TEST(Command, MailFromParameters) {
  CommandOptions o;
  o.auth = true;
  o.binarymime = true;
  Command c = ok("MAIL FROM:<a@b> SIZE=12345 BODY=8BITMIME RET=HDRS ENVID=QQ314159+2Bx SMTPUTF8 "
                 "AUTH=e+3Dmc2@example.com",
                 o);
  const MailFrom& m = c.mail();
  EXPECT_EQ(m.size, 12345u);
  EXPECT_EQ(m.body, Body::EightBitMime);
  EXPECT_EQ(m.ret, Ret::Hdrs);
  EXPECT_EQ(m.envid, "QQ314159+x");
  EXPECT_TRUE(m.smtputf8);
  EXPECT_EQ(m.auth, "e=mc2@example.com");

  EXPECT_EQ(ok("MAIL FROM:<a@b> body=7bit ret=full").mail().body, Body::SevenBit);
  EXPECT_EQ(ok("MAIL FROM:<a@b> body=7bit ret=full").mail().ret, Ret::Full);
  EXPECT_EQ(ok("MAIL FROM:<a@b> BODY=BINARYMIME", o).mail().body, Body::BinaryMime);
  EXPECT_EQ(ok("MAIL FROM:<a@b> AUTH=<>", o).mail().auth, "<>");
  EXPECT_EQ(ok("MAIL FROM:<a@b> SIZE=0").mail().size, 0u);
  EXPECT_EQ(ok("MAIL FROM:<a@b> SIZE=9223372036854775807").mail().size, 9223372036854775807ull);

  MailFrom none = ok("MAIL FROM:<a@b>").mail();
  EXPECT_FALSE(none.size);
  EXPECT_EQ(none.body, Body::Unspecified);
  EXPECT_EQ(none.ret, Ret::Unspecified);
  EXPECT_FALSE(none.envid);
  EXPECT_FALSE(none.smtputf8);
  EXPECT_FALSE(none.auth);
}

TEST(Command, MailFromBadParameters) {
  CommandOptions o;
  o.auth = true;
  // SIZE
  EXPECT_EQ(rejected("MAIL FROM:<a@b> SIZE="), "501 5.5.4 Bad message size syntax");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> SIZE"), "501 5.5.4 Bad message size syntax");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> SIZE=-1"), "501 5.5.4 Bad message size syntax");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> SIZE=+1"), "501 5.5.4 Bad message size syntax");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> SIZE=1k"), "501 5.5.4 Bad message size syntax");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> SIZE=1 SIZE=2"), "501 5.5.4 Bad message size syntax");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> SIZE=9223372036854775808"),
            "552 5.3.4 Message size exceeds file system imposed limit");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> SIZE=123456789012345678901234567890"),
            "552 5.3.4 Message size exceeds file system imposed limit");
  // BODY
  EXPECT_EQ(rejected("MAIL FROM:<a@b> BODY=8BIT"), "501 5.5.4 Bad BODY parameter syntax");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> BODY="), "501 5.5.4 Bad BODY parameter syntax");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> BODY"), "501 5.5.4 Bad BODY parameter syntax");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> BODY=7BIT BODY=7BIT"), "501 5.5.4 Bad BODY parameter syntax");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> BODY=BINARYMIME"), "555 5.5.4 Unsupported option: BODY=BINARYMIME");
  // RET
  EXPECT_EQ(rejected("MAIL FROM:<a@b> RET=ALL"), "501 5.5.4 Bad RET parameter syntax");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> RET"), "501 5.5.4 Bad RET parameter syntax");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> RET=FULL RET=HDRS"), "501 5.5.4 Bad RET parameter syntax");
  // ENVID
  EXPECT_EQ(rejected("MAIL FROM:<a@b> ENVID=abc+0D+0Ax"), "501 5.5.4 Bad ENVID parameter syntax");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> ENVID=abc+00"), "501 5.5.4 Bad ENVID parameter syntax");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> ENVID=abc+0A"), "501 5.5.4 Bad ENVID parameter syntax");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> ENVID=abc+C3+A9"), "501 5.5.4 Bad ENVID parameter syntax");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> ENVID=abc+4"), "501 5.5.4 Bad ENVID parameter syntax");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> ENVID=abc+XY"), "501 5.5.4 Bad ENVID parameter syntax");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> ENVID="), "501 5.5.4 Bad ENVID parameter syntax");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> ENVID=a ENVID=b"), "501 5.5.4 Bad ENVID parameter syntax");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> ENVID=" + std::string(101, 'x')),
            "501 5.5.4 Bad ENVID parameter syntax");
  EXPECT_EQ(ok("MAIL FROM:<a@b> ENVID=" + std::string(100, 'x')).mail().envid->size(), 100u);
  EXPECT_EQ(ok("MAIL FROM:<a@b> ENVID=a+20b").mail().envid, "a b");  // SP is printable
  // SMTPUTF8
  EXPECT_EQ(rejected("MAIL FROM:<a@b> SMTPUTF8=yes"), "501 5.5.4 Bad SMTPUTF8 parameter syntax");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> SMTPUTF8 SMTPUTF8"), "501 5.5.4 Bad SMTPUTF8 parameter syntax");
  // AUTH
  EXPECT_EQ(rejected("MAIL FROM:<a@b> AUTH=<>"), "503 5.7.4 Error: authentication disabled");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> AUTH=<> AUTH=<>", o), "503 5.5.4 Error: multiple AUTH= options");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> AUTH=a+0Db", o), "501 5.5.4 Bad AUTH parameter syntax");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> AUTH=a+00b", o), "501 5.5.4 Bad AUTH parameter syntax");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> AUTH", o), "501 5.5.4 Bad AUTH parameter syntax");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> AUTH=+zz", o), "501 5.5.4 Bad AUTH parameter syntax");
  // Unknown and malformed parameters
  EXPECT_EQ(rejected("MAIL FROM:<a@b> XFOO=1"), "555 5.5.4 Unsupported option: XFOO=1");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> NOTIFY=NEVER"), "555 5.5.4 Unsupported option: NOTIFY=NEVER");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> XVERP"), "555 5.5.4 Unsupported option: XVERP");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> =1"), "501 5.5.4 Error: bad parameter syntax");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> -X=1"), "501 5.5.4 Error: bad parameter syntax");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> X_Y=1"), "501 5.5.4 Error: bad parameter syntax");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> XFOO="), "501 5.5.4 Error: bad parameter syntax");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> XFOO=a=b"), "501 5.5.4 Error: bad parameter syntax");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> (comment)"), "501 5.5.4 Error: bad parameter syntax");
}

TEST(Command, MailFromDisabledExtensions) {
  CommandOptions o;
  o.dsn = false;
  o.smtputf8 = false;
  EXPECT_EQ(rejected("MAIL FROM:<a@b> RET=FULL", o), "501 5.7.1 DSN support is disabled");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> ENVID=x", o), "501 5.7.1 DSN support is disabled");
  EXPECT_EQ(rejected("MAIL FROM:<a@b> SMTPUTF8", o), "555 5.5.4 Unsupported option: SMTPUTF8");
  EXPECT_EQ(ok("MAIL FROM:<a@b> BODY=8BITMIME SIZE=1", o).mail().body, Body::EightBitMime);
}

TEST(Command, RcptTo) {
  Command c = ok("RCPT TO:<user@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;user+2Bx@example.com");
  const RcptTo& r = c.rcpt();
  EXPECT_EQ(r.path.text, "user@example.com");
  EXPECT_EQ(r.notify, kNotifySuccess | kNotifyFailure);
  EXPECT_EQ(r.orcpt_type, "rfc822");
  EXPECT_EQ(r.orcpt, "user+x@example.com");

  EXPECT_EQ(ok("rcpt to: <a@b> notify=never").rcpt().notify, kNotifyNever);
  EXPECT_EQ(ok("RCPT TO:<a@b> NOTIFY=delay,Success,FAILURE").rcpt().notify,
            kNotifySuccess | kNotifyFailure | kNotifyDelay);
  EXPECT_EQ(ok("RCPT TO:<a@b> ORCPT=RFC822;a@b").rcpt().orcpt_type, "rfc822");
  EXPECT_EQ(ok("RCPT TO:<a@b> ORCPT=utf-8;j\\x{00F6}rg@b").rcpt().orcpt, "j\\x{00F6}rg@b");
  EXPECT_EQ(ok("RCPT TO:<Postmaster>").rcpt().path.text, "Postmaster");
  EXPECT_EQ(ok("RCPT TO:a@b").rcpt().path.bracketed, false);
  RcptTo plain = ok("RCPT TO:<a@b>").rcpt();
  EXPECT_EQ(plain.notify, 0);
  EXPECT_TRUE(plain.orcpt_type.empty());
  EXPECT_TRUE(plain.orcpt.empty());
}

TEST(Command, RcptToErrors) {
  const std::string syntax = "501 5.5.4 Syntax: RCPT TO:<address>";
  EXPECT_EQ(rejected("RCPT"), syntax);
  EXPECT_EQ(rejected("RCPT TO"), syntax);
  EXPECT_EQ(rejected("RCPT TO:"), syntax);
  EXPECT_EQ(rejected("RCPT FROM:<a@b>"), syntax);
  const std::string bad = "501 5.1.3 Bad recipient address syntax";
  EXPECT_EQ(rejected("RCPT TO:<>"), bad);
  EXPECT_EQ(rejected("RCPT TO:<a@b"), bad);
  EXPECT_EQ(rejected("RCPT TO:<a@b>NOTIFY=NEVER"), bad);

  const std::string notify = "501 5.5.4 Error: Bad NOTIFY parameter syntax";
  EXPECT_EQ(rejected("RCPT TO:<a@b> NOTIFY=NEVER,SUCCESS"), notify);
  EXPECT_EQ(rejected("RCPT TO:<a@b> NOTIFY=FAILURE,NEVER"), notify);
  EXPECT_EQ(rejected("RCPT TO:<a@b> NOTIFY=SUCCESS,,DELAY"), notify);
  EXPECT_EQ(rejected("RCPT TO:<a@b> NOTIFY=SUCCESS,"), notify);
  EXPECT_EQ(rejected("RCPT TO:<a@b> NOTIFY=ALWAYS"), notify);
  EXPECT_EQ(rejected("RCPT TO:<a@b> NOTIFY="), notify);
  EXPECT_EQ(rejected("RCPT TO:<a@b> NOTIFY"), notify);
  EXPECT_EQ(rejected("RCPT TO:<a@b> NOTIFY=NEVER NOTIFY=NEVER"), notify);

  const std::string orcpt = "501 5.5.4 Error: Bad ORCPT parameter syntax";
  EXPECT_EQ(rejected("RCPT TO:<a@b> ORCPT=a@b"), orcpt);           // no type
  EXPECT_EQ(rejected("RCPT TO:<a@b> ORCPT=;a@b"), orcpt);          // empty type
  EXPECT_EQ(rejected("RCPT TO:<a@b> ORCPT=rfc822;"), orcpt);       // empty address
  EXPECT_EQ(rejected("RCPT TO:<a@b> ORCPT=rfc(822);a@b"), orcpt);  // type not an atom
  EXPECT_EQ(rejected("RCPT TO:<a@b> ORCPT=rfc822;a+0D+0A@b"), orcpt);
  EXPECT_EQ(rejected("RCPT TO:<a@b> ORCPT=rfc822;a+00@b"), orcpt);
  EXPECT_EQ(rejected("RCPT TO:<a@b> ORCPT=rfc822;a+1@b"), orcpt);
  EXPECT_EQ(rejected("RCPT TO:<a@b> ORCPT=rfc822;a@b ORCPT=rfc822;a@b"), orcpt);
  EXPECT_EQ(rejected("RCPT TO:<a@b> ORCPT=rfc822;" + std::string(494, 'a')), orcpt);  // 501 > 500
  EXPECT_EQ(ok("RCPT TO:<a@b> ORCPT=rfc822;" + std::string(493, 'a')).rcpt().orcpt.size(), 493u);

  EXPECT_EQ(rejected("RCPT TO:<a@b> SIZE=1"), "555 5.5.4 Unsupported option: SIZE=1");
  EXPECT_EQ(rejected("RCPT TO:<a@b> X=1=2"), "501 5.5.4 Error: bad parameter syntax");
  CommandOptions nodsn;
  nodsn.dsn = false;
  EXPECT_EQ(rejected("RCPT TO:<a@b> NOTIFY=NEVER", nodsn), "501 5.7.1 DSN support is disabled");
  EXPECT_EQ(rejected("RCPT TO:<a@b> ORCPT=rfc822;a@b", nodsn), "501 5.7.1 DSN support is disabled");
}

TEST(Command, ArgumentlessCommands) {
  EXPECT_EQ(rejected("DATA x"), "501 5.5.4 Syntax: DATA");
  EXPECT_EQ(rejected("RSET now"), "501 5.5.4 Syntax: RSET");
  EXPECT_EQ(rejected("STARTTLS please"), "501 5.5.4 Syntax: STARTTLS");
  EXPECT_EQ(ok("DATA  ").verb, Verb::Data);
  // Postfix does not check QUIT's syntax; NOOP and HELP take anything.
  EXPECT_EQ(ok("QUIT now").verb, Verb::Quit);
  EXPECT_EQ(ok("NOOP hello there").args, "hello there");
  EXPECT_EQ(ok("HELP MAIL").args, "MAIL");
}

TEST(Command, VrfyExpnEtrn) {
  EXPECT_EQ(ok("VRFY <postmaster>").argument().text, "<postmaster>");
  Argument a = ok("VRFY j\xc3\xb6rg SMTPUTF8").argument();
  EXPECT_EQ(a.text, "j\xc3\xb6rg");
  EXPECT_TRUE(a.smtputf8);
  EXPECT_EQ(ok("VRFY SMTPUTF8").argument().text, "SMTPUTF8");  // sole word is the argument
  EXPECT_FALSE(ok("VRFY SMTPUTF8").argument().smtputf8);
  EXPECT_EQ(ok("EXPN staff list").argument().text, "staff list");
  EXPECT_EQ(ok("ETRN @example.com").argument().text, "@example.com");
  EXPECT_EQ(rejected("VRFY"), "501 5.5.4 Syntax: VRFY address");
  EXPECT_EQ(rejected("EXPN "), "501 5.5.4 Syntax: EXPN address");
  EXPECT_EQ(rejected("ETRN"), "501 5.5.4 Syntax: ETRN domain");
}

TEST(Command, Bdat) {
  EXPECT_EQ(ok("BDAT 0 LAST").bdat().size, 0u);
  EXPECT_TRUE(ok("BDAT 0 LAST").bdat().last);
  EXPECT_TRUE(ok("bdat 100 last").bdat().last);
  EXPECT_FALSE(ok("BDAT 100").bdat().last);
  EXPECT_EQ(ok("BDAT  9223372036854775807 ").bdat().size, 9223372036854775807ull);
  for (const char* bad : {"BDAT", "BDAT x", "BDAT -1", "BDAT +1", "BDAT 1 FIRST", "BDAT 1 LAST x",
                          "BDAT 9223372036854775808", "BDAT 1e3", "BDAT LAST"}) {
    auto r = parse_command(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().reply.to_string(), "521 5.5.4 Syntax: BDAT count [LAST]") << bad;
    EXPECT_TRUE(r.error().disconnect) << bad;  // the chunk length is unknown: cannot resync
  }
}

TEST(Command, Auth) {
  Auth a = ok("AUTH plain dGVzdAB0ZXN0AHRlc3Q=").auth();
  EXPECT_EQ(a.mechanism, "PLAIN");
  EXPECT_EQ(a.initial_response, "dGVzdAB0ZXN0AHRlc3Q=");
  EXPECT_FALSE(ok("AUTH LOGIN").auth().initial_response);
  EXPECT_EQ(ok("AUTH SCRAM-SHA-256 =").auth().mechanism, "SCRAM-SHA-256");
  EXPECT_EQ(ok("AUTH X_OAUTH2").auth().mechanism, "X_OAUTH2");
  const std::string syntax = "501 5.5.4 Syntax: AUTH mechanism";
  EXPECT_EQ(rejected("AUTH"), syntax);
  EXPECT_EQ(rejected("AUTH PLAIN a b"), syntax);
  EXPECT_EQ(rejected("AUTH PL/AIN"), syntax);
  EXPECT_EQ(rejected("AUTH " + std::string(21, 'A')), syntax);
}

TEST(Command, XclientXforward) {
  Attributes a = ok("XCLIENT name=mail.example.com ADDR=192.0.2.1 LOGIN=a+2Bb HELO=").attributes();
  ASSERT_EQ(a.items.size(), 4u);
  EXPECT_EQ(a.items[0], (std::pair<std::string, std::string>{"NAME", "mail.example.com"}));
  EXPECT_EQ(a.items[1].second, "192.0.2.1");
  EXPECT_EQ(a.items[2].second, "a+b");
  EXPECT_EQ(a.items[3].second, "");
  EXPECT_EQ(ok("XFORWARD REVERSE_NAME=x").attributes().items[0].first, "REVERSE_NAME");
  EXPECT_EQ(rejected("XCLIENT"), "501 5.5.4 Syntax: XCLIENT attribute=value...");
  EXPECT_EQ(rejected("XFORWARD"), "501 5.5.4 Syntax: XFORWARD attribute=value...");
  EXPECT_EQ(rejected("XCLIENT NAME"), "501 5.5.4 Error: attribute=value expected");
  EXPECT_EQ(rejected("XCLIENT =x"), "501 5.5.4 Error: attribute=value expected");
  EXPECT_EQ(rejected("XCLIENT NA.ME=x"), "501 5.5.4 Error: attribute=value expected");
  EXPECT_EQ(rejected("XCLIENT NAME=a+0Db"), "501 5.5.4 Error: bad XCLIENT attribute value");
  EXPECT_EQ(rejected("XCLIENT NAME=a+Zb"), "501 5.5.4 Error: bad XCLIENT attribute value");
}

TEST(Command, ErrorsCarryReasonsAndKeepTheSession) {
  auto r = parse_command("MAIL FROM:<a@b> SIZE=x");
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(r.error().reason.empty());
  EXPECT_FALSE(r.error().disconnect);
}

TEST(Command, FormatMailFromRoundTrips) {
  MailFrom m;
  m.path.text = "\"odd user\"@example.com";
  m.size = 4096;
  m.body = Body::EightBitMime;
  m.ret = Ret::Full;
  m.envid = "id+with=odd chars";
  m.smtputf8 = true;
  m.auth = "<>";
  auto line = format_mail_from(m);
  ASSERT_TRUE(line.ok());
  EXPECT_EQ(*line,
            "MAIL FROM:<\"odd user\"@example.com> SIZE=4096 BODY=8BITMIME RET=FULL "
            "ENVID=id+2Bwith+3Dodd+20chars SMTPUTF8 AUTH=<>");
  CommandOptions o;
  o.auth = true;
  auto back = parse_command(*line, o);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->mail(), m);

  MailFrom null;
  EXPECT_EQ(*format_mail_from(null), "MAIL FROM:<>");
  null.path.text = "a\r\nRCPT TO:<x@y>";
  EXPECT_FALSE(format_mail_from(null).ok());
}

TEST(Command, FormatRcptToRoundTrips) {
  RcptTo r;
  r.path.text = "user@example.com";
  r.notify = kNotifySuccess | kNotifyDelay;
  r.orcpt_type = "rfc822";
  r.orcpt = "User+Tag@Example.COM";
  auto line = format_rcpt_to(r);
  ASSERT_TRUE(line.ok());
  EXPECT_EQ(*line, "RCPT TO:<user@example.com> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;User+2BTag@Example.COM");
  auto back = parse_command(*line);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->rcpt(), r);

  RcptTo never;
  never.path.text = "a@b";
  never.notify = kNotifyNever;
  EXPECT_EQ(*format_rcpt_to(never), "RCPT TO:<a@b> NOTIFY=NEVER");
  never.orcpt = "x@y";  // address without a type
  EXPECT_FALSE(format_rcpt_to(never).ok());
  never.orcpt_type = "rfc 822";
  EXPECT_FALSE(format_rcpt_to(never).ok());
  RcptTo nul;
  nul.path.text = std::string("a\0b", 3);
  EXPECT_FALSE(format_rcpt_to(nul).ok());
}

TEST(Command, NotifyToString) {
  EXPECT_EQ(notify_to_string(0), "");
  EXPECT_EQ(notify_to_string(kNotifyNever), "NEVER");
  EXPECT_EQ(notify_to_string(kNotifyFailure), "FAILURE");
  EXPECT_EQ(notify_to_string(kNotifySuccess | kNotifyFailure | kNotifyDelay), "SUCCESS,FAILURE,DELAY");
}

}  // namespace
}  // namespace postern::smtp
