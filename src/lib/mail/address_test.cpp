// address_test.cpp - RFC 5321 path parsing, quoting, routing tricks, extensions.
#include "mail/address.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

using namespace postern::mail;

namespace {

Address parse_ok(std::string_view text, const PathOptions& o = {}) {
  auto r = parse_smtp_path(text, o);
  EXPECT_TRUE(r.ok()) << "input: " << text << " error: " << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : Address{};
}

void expect_bad(std::string_view text, const PathOptions& o = {}) {
  auto r = parse_smtp_path(text, o);
  EXPECT_FALSE(r.ok()) << "accepted: " << text;
}

PathOptions utf8() {
  PathOptions o;
  o.smtputf8 = true;
  return o;
}

}  // namespace

TEST(Path, SimpleAddress) {
  Address a = parse_ok("user@example.com");
  EXPECT_EQ(a.local, "user");
  EXPECT_EQ(a.domain, "example.com");
  EXPECT_TRUE(a.route.empty());
  EXPECT_EQ(a.to_internal(), "user@example.com");
  EXPECT_EQ(a.to_external(), "user@example.com");
  EXPECT_FALSE(a.has_routing_tricks());
}

TEST(Path, NullSenderOnlyWhenAllowed) {
  expect_bad("");
  PathOptions o;
  o.allow_null = true;
  Address a = parse_ok("", o);
  EXPECT_TRUE(a.is_null());
  EXPECT_EQ(a.to_internal(), "");
  EXPECT_EQ(a.to_external(), "");
}

TEST(Path, QuotedLocalPartIsUnquotedInternally) {
  Address a = parse_ok("\"john doe\"@example.com");
  EXPECT_EQ(a.local, "john doe");
  EXPECT_EQ(a.to_internal(), "john doe@example.com");
  EXPECT_EQ(a.to_external(), "\"john doe\"@example.com");

  Address b = parse_ok(R"("a\"b\\c"@example.com)");
  EXPECT_EQ(b.local, "a\"b\\c");
  EXPECT_EQ(b.to_external(), R"("a\"b\\c"@example.com)");

  // Quoting that is not needed disappears in external form.
  Address c = parse_ok("\"plain\"@example.com");
  EXPECT_EQ(c.local, "plain");
  EXPECT_EQ(c.to_external(), "plain@example.com");

  Address d = parse_ok("\"\"@example.com");
  EXPECT_EQ(d.local, "");
  EXPECT_EQ(d.to_external(), "\"\"@example.com");
}

TEST(Path, MalformedQuoting) {
  expect_bad("\"unterminated@example.com");
  expect_bad("\"a\\");
  expect_bad("\"ab\"c@example.com");
  expect_bad("a\"b\"@example.com");
  expect_bad("\"a\"\"b\"@example.com");
}

TEST(Path, SourceRouteIsReported) {
  Address a = parse_ok("@relay1.example,@relay2.example:user@host.example");
  EXPECT_EQ(a.route, "@relay1.example,@relay2.example");
  EXPECT_EQ(a.local, "user");
  EXPECT_EQ(a.domain, "host.example");
  EXPECT_TRUE(a.has_routing_tricks().has(RoutingTrick::kSourceRoute));
  EXPECT_EQ(a.to_internal(), "@relay1.example,@relay2.example:user@host.example");

  Address lit = parse_ok("@[192.0.2.1]:user@host.example");
  EXPECT_EQ(lit.route, "@[192.0.2.1]");

  PathOptions no_routes;
  no_routes.allow_source_route = false;
  expect_bad("@relay.example:user@host.example", no_routes);

  expect_bad("@relay.example");             // no ':'
  expect_bad("@relay.example,user@host");   // second element is not @domain
  expect_bad("@:user@host.example");        // empty route domain
  expect_bad("@-bad.example:user@host.example");
  expect_bad("@relay.example:user");        // route without a mailbox domain
  expect_bad("@relay.example,:user@host.example");
}

TEST(Path, AddressLiterals) {
  EXPECT_EQ(parse_ok("u@[192.0.2.1]").domain, "[192.0.2.1]");
  EXPECT_EQ(parse_ok("u@[IPv6:2001:db8::1]").domain, "[IPv6:2001:db8::1]");
  EXPECT_EQ(parse_ok("u@[ipv6:::1]").domain, "[ipv6:::1]");
  parse_ok("u@[IPv6:::ffff:192.0.2.1]");
  parse_ok("u@[IPv6:1:2:3:4:5:6:7:8]");
  parse_ok("u@[IPv6:1:2:3:4:5:6:192.0.2.1]");
  parse_ok("u@[IPv6:1::]");
  expect_bad("u@[192.0.2]");
  expect_bad("u@[192.0.2.256]");
  expect_bad("u@[192.0.2.1.5]");
  expect_bad("u@[1234.0.2.1]");
  expect_bad("u@[192.0.2.1");
  expect_bad("u@192.0.2.1]");
  expect_bad("u@[]");
  expect_bad("u@[IPv6:1:2:3:4:5:6:7:8:9]");
  expect_bad("u@[IPv6:1:2:3:4:5:6:7]");
  expect_bad("u@[IPv6:1::2::3]");
  expect_bad("u@[IPv6:12345::1]");
  expect_bad("u@[IPv6:1:2:3:4:5:6:7:192.0.2.1]");
  expect_bad("u@[IPv6:192.0.2.1]");
  expect_bad("u@[IPv6::1]");
  expect_bad("u@[IPv6:1:]");
  expect_bad("u@[IPv6:g::1]");
  expect_bad("u@[x-tag:content]");   // general address literals are refused, like Postfix
  expect_bad("u@[192.0.2.1]x");
}

TEST(Path, DomainSyntax) {
  parse_ok("u@localhost");
  parse_ok("u@a-b.example");
  parse_ok("u@under_score.example");  // tolerated, like Postfix's valid_hostname()
  parse_ok("u@123.example");
  parse_ok("u@" + std::string(63, 'a') + ".example");
  expect_bad("u@" + std::string(64, 'a') + ".example");
  expect_bad("u@-a.example");
  expect_bad("u@a-.example");
  expect_bad("u@a..example");
  expect_bad("u@.example");
  expect_bad("u@example..");
  expect_bad("u@192.0.2.1");  // numeric: must be a literal
  expect_bad("u@123");
  expect_bad("u@exa mple.com");
  expect_bad("u@exa,mple.com");
  expect_bad("u@example.com>");
  expect_bad("u@");
  expect_bad("u@@example.com");
  expect_bad("u@a@example.com");
}

TEST(Path, TrailingDotInDomain) {
  EXPECT_EQ(parse_ok("u@example.com.").domain, "example.com");
  expect_bad("u@example.com.", PathOptions::rfc5321_strict());
  expect_bad("u@.");
}

TEST(Path, EightBitNeedsSmtputf8) {
  expect_bad("j\xc3\xb6rg@example.com");
  Address a = parse_ok("j\xc3\xb6rg@b\xc3\xbc" "cher.example", utf8());
  EXPECT_EQ(a.local, "j\xc3\xb6rg");
  EXPECT_EQ(a.domain, "b\xc3\xbc" "cher.example");
  EXPECT_EQ(a.to_external(), "j\xc3\xb6rg@b\xc3\xbc" "cher.example");
  // Malformed UTF-8 is refused even with SMTPUTF8.
  expect_bad("\xff@example.com", utf8());
  expect_bad("\xc3@example.com", utf8());
  expect_bad("\xc0\xaf@example.com", utf8());       // overlong '/'
  expect_bad("\xed\xa0\x80@example.com", utf8());   // surrogate
  expect_bad("\xf4\x90\x80\x80@example.com", utf8());  // above U+10FFFF
  // smtputf8_enable = no: 8-bit clean pass-through.
  PathOptions raw;
  raw.allow_raw_8bit = true;
  EXPECT_EQ(parse_ok("\xff\xfe@example.com", raw).local, "\xff\xfe");
  EXPECT_TRUE(has_8bit("a\x80"));
  EXPECT_FALSE(has_8bit("abc"));
}

TEST(Path, ControlCharactersAlwaysRejected) {
  for (std::string bad : {std::string("us\r\ner@example.com"), std::string("us\ner@example.com"),
                          std::string("a\tb@example.com"), std::string("a\x7f@example.com"),
                          std::string("\"a\rb\"@example.com"), std::string("\"a\\\nb\"@example.com"),
                          std::string("u@exam\rple.com"), std::string("a\0b@example.com", 15)}) {
    expect_bad(bad);
    expect_bad(bad, utf8());
  }
}

TEST(Path, LenientLocalPartsLikePostfix) {
  EXPECT_EQ(parse_ok("a..b@example.com").local, "a..b");
  EXPECT_EQ(parse_ok(".a@example.com").local, ".a");
  EXPECT_EQ(parse_ok("a.@example.com").local, "a.");
  EXPECT_EQ(parse_ok("\"a\".\"b\"@example.com").local, "a.b");
  EXPECT_EQ(parse_ok("a.\"b c\"@example.com").local, "a.b c");
  // Relayed in quoted form.
  EXPECT_EQ(parse_ok("a.@example.com").to_external(), "\"a.\"@example.com");

  PathOptions strict = PathOptions::rfc5321_strict();
  expect_bad("a..b@example.com", strict);
  expect_bad(".a@example.com", strict);
  expect_bad("a.@example.com", strict);
  expect_bad("\"a\".\"b\"@example.com", strict);
  EXPECT_EQ(parse_ok("\"a..b\"@example.com", strict).local, "a..b");
  EXPECT_EQ(parse_ok("first.last@example.com", strict).local, "first.last");
}

TEST(Path, InvalidLocalPartCharacters) {
  for (const char* bad : {"a,b@example.com", "a b@example.com", "a<b@example.com", "a>b@example.com",
                          "a(b)@example.com", "a[b]@example.com", "a:b@example.com", "a;b@example.com",
                          "a\\b@example.com", "@example.com", ".", "a b", "<user@example.com>"}) {
    expect_bad(bad);
  }
  // RFC 5322 atext specials are fine unquoted.
  EXPECT_EQ(parse_ok("!#$%&'*+-/=?^_`{|}~@example.com").local, "!#$%&'*+-/=?^_`{|}~");
}

TEST(Path, AddressWithoutDomain) {
  Address a = parse_ok("user");
  EXPECT_EQ(a.local, "user");
  EXPECT_FALSE(a.has_domain());
  EXPECT_EQ(a.to_internal(), "user");
  PathOptions strict = PathOptions::rfc5321_strict();
  expect_bad("user", strict);
  EXPECT_EQ(parse_ok("Postmaster", strict).local, "Postmaster");
  expect_bad("\"\"");
}

TEST(Path, LengthLimitsAreParameters) {
  std::string long_local(100, 'x');
  parse_ok(long_local + "@example.com");  // Postfix does not enforce 64
  PathOptions strict = PathOptions::rfc5321_strict();
  expect_bad(long_local + "@example.com", strict);
  parse_ok(std::string(64, 'x') + "@example.com", strict);
  expect_bad(std::string(65, 'x') + "@example.com", strict);

  // Path limit counts the angle brackets: 254 bytes inside = 256.
  std::string domain = std::string(63, 'd') + "." + std::string(63, 'd') + "." + std::string(63, 'd');
  std::string local(254 - 1 - domain.size(), 'l');
  PathOptions path_only;
  path_only.max_path = 256;
  parse_ok(local + "@" + domain, path_only);
  expect_bad(local + "l@" + domain, path_only);

  PathOptions dom;
  dom.max_domain = 10;
  parse_ok("u@ab.example", dom);
  expect_bad("u@abcdef.example", dom);

  expect_bad(std::string(kMaxPathBytes, 'a') + "@example.com");
}

TEST(Quote, MatchesPostfixQuote822Local) {
  struct Case {
    std::string internal, external;
  };
  std::vector<Case> cases = {
      {"user", "user"},
      {"first.last", "first.last"},
      {"john doe", "\"john doe\""},
      {"", "\"\""},
      {"a..b", "\"a..b\""},
      {".a", "\".a\""},
      {"a.", "\"a.\""},
      {"a\"b", "\"a\\\"b\""},
      {"a\\b", "\"a\\\\b\""},
      {"user@host", "\"user@host\""},
      {"a\rb", "\"a\\\rb\""},
      {"a\tb", "\"a\tb\""},
      {"j\xc3\xb6rg", "j\xc3\xb6rg"},  // 8-bit clean
      {"a%b!c", "a%b!c"},
      {"a(b)", "\"a(b)\""},
      {"a,b", "\"a,b\""},
      {"a[b]", "\"a[b]\""},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(quote_local(c.internal), c.external) << c.internal;
    EXPECT_EQ(unquote_local(c.external), c.internal) << c.external;
  }
}

TEST(Quote, UnquoteIsLenient) {
  EXPECT_EQ(unquote_local("\"john\" doe"), "john doe");
  EXPECT_EQ(unquote_local("abc\\"), "abc");
  EXPECT_EQ(unquote_local("\"unbalanced"), "unbalanced");
  EXPECT_EQ(unquote_local("a\\\"b"), "a\"b");
}

TEST(Quote, RoundTripForArbitraryBytes) {
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> len(0, 24), byte(0, 255);
  for (int i = 0; i < 5000; ++i) {
    std::string s(static_cast<std::size_t>(len(rng)), '\0');
    for (auto& c : s) c = static_cast<char>(byte(rng));
    ASSERT_EQ(unquote_local(quote_local(s)), s);
    // Quoting is idempotent on the internal form.
    ASSERT_EQ(quote_local(unquote_local(quote_local(s))), quote_local(s));
  }
}

TEST(Path, ExternalFormReparsesToTheSameAddress) {
  for (const char* in : {"user@example.com", "\"john doe\"@example.com", "a..b@example.com",
                         "\"a\\\"b\"@example.com", "@r.example:u@h.example", "postmaster",
                         "\"us@er\"@example.com", "u@[IPv6:2001:db8::1]", "\"\"@example.com"}) {
    Address a = parse_ok(in);
    Address b = parse_ok(a.to_external());
    EXPECT_EQ(a, b) << in;
  }
}

TEST(RoutingTricks, DetectionMatrix) {
  struct Case {
    const char* path;
    unsigned bits;
    const char* text;
  };
  using T = RoutingTrick;
  auto b = [](std::initializer_list<T> ts) {
    unsigned v = 0;
    for (T t : ts) v |= static_cast<unsigned>(t);
    return v;
  };
  std::vector<Case> cases = {
      {"user@example.com", 0, "none"},
      {"user%host@example.com", b({T::kPercentHack}), "percent-hack"},
      {"host!user@example.com", b({T::kBangPath}), "bang-path"},
      {"\"user@host\"@example.com", b({T::kQuotedAt}), "quoted-at"},
      {"@relay.example:user@example.com", b({T::kSourceRoute}), "source-route"},
      {"a!b%c@example.com", b({T::kPercentHack, T::kBangPath}), "percent-hack,bang-path"},
      {"\"a@b%c\"@example.com", b({T::kPercentHack, T::kQuotedAt}), "percent-hack,quoted-at"},
      {"@r.example:\"h!u@x\"@example.com", b({T::kBangPath, T::kQuotedAt, T::kSourceRoute}),
       "bang-path,quoted-at,source-route"},
      {"user%host", b({T::kPercentHack}), "percent-hack"},
      {"user+ext@example.com", 0, "none"},
  };
  for (const auto& c : cases) {
    Address a = parse_ok(c.path);
    EXPECT_EQ(a.has_routing_tricks().bits(), c.bits) << c.path;
    EXPECT_EQ(a.has_routing_tricks().to_string(), c.text) << c.path;
    EXPECT_EQ(static_cast<bool>(a.has_routing_tricks()), c.bits != 0) << c.path;
  }
}

TEST(AddressForms, FromInternal) {
  Address a = Address::from_internal("user@host@example.com");
  EXPECT_EQ(a.local, "user@host");
  EXPECT_EQ(a.domain, "example.com");
  EXPECT_EQ(a.to_external(), "\"user@host\"@example.com");

  Address r = Address::from_internal("@a,@b:u@h");
  EXPECT_EQ(r.route, "@a,@b");
  EXPECT_EQ(r.local, "u");
  EXPECT_EQ(r.domain, "h");
  EXPECT_EQ(r.to_internal(), "@a,@b:u@h");

  EXPECT_TRUE(Address::from_internal("").is_null());
  Address bare = Address::from_internal("john doe");
  EXPECT_EQ(bare.local, "john doe");
  EXPECT_EQ(bare.to_external(), "\"john doe\"");
}

TEST(AddressForms, DomainCase) {
  Address a = parse_ok("User@Example.COM");
  EXPECT_EQ(a.domain, "Example.COM");
  EXPECT_EQ(a.lower_domain(), "example.com");
  EXPECT_TRUE(a.same_domain("EXAMPLE.com"));
  EXPECT_FALSE(a.same_domain("example.org"));
  EXPECT_EQ(a.local, "User");  // local parts keep their case
}

TEST(Hostname, Checks) {
  EXPECT_TRUE(is_valid_hostname("mail.example.com"));
  EXPECT_FALSE(is_valid_hostname(""));
  EXPECT_FALSE(is_valid_hostname("a..b"));
  EXPECT_FALSE(is_valid_hostname("b\xc3\xbc" "cher.example"));
  EXPECT_TRUE(is_valid_hostname("b\xc3\xbc" "cher.example", true));
  std::string label(63, 'a');
  EXPECT_TRUE(is_valid_hostname(label + "." + label + "." + label + "." + std::string(61, 'a')));  // 253
  EXPECT_FALSE(is_valid_hostname(label + "." + label + "." + label + "." + label + ".b"));       // 257
  EXPECT_TRUE(is_valid_ipv4("0.0.0.0"));
  EXPECT_FALSE(is_valid_ipv4("1.2.3.4."));
  EXPECT_FALSE(is_valid_ipv4(".1.2.3.4"));
  EXPECT_FALSE(is_valid_ipv4("1.2.3.-4"));
  EXPECT_TRUE(is_valid_ipv6("::"));
  EXPECT_TRUE(is_valid_ipv6("fe80::1"));
  EXPECT_FALSE(is_valid_ipv6(":::"));
  EXPECT_FALSE(is_valid_ipv6(""));
  EXPECT_TRUE(is_valid_address_literal("[IPV6:fe80::1]"));
  EXPECT_FALSE(is_valid_address_literal("[IPv6:]"));
}

TEST(Extension, SplitsAtFirstDelimiterOfSeveral) {
  auto s = split_extension("user+foo", "+");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->base, "user");
  EXPECT_EQ(s->extension, "foo");
  EXPECT_EQ(s->delimiter, '+');

  // Several delimiters: the first one that occurs in the local part wins.
  auto m = split_extension("a-b+c", "+-");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->base, "a");
  EXPECT_EQ(m->extension, "b+c");
  EXPECT_EQ(m->delimiter, '-');

  auto e = split_extension("user+", "+");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->extension, "");

  EXPECT_FALSE(split_extension("user", "+"));
  EXPECT_FALSE(split_extension("+foo", "+"));
  EXPECT_FALSE(split_extension("user+foo", ""));
  EXPECT_FALSE(split_extension("", "+"));
}

TEST(Extension, ReservedNamesAreNotSplit) {
  EXPECT_FALSE(split_extension("MAILER-DAEMON", "-"));
  EXPECT_FALSE(split_extension("Postmaster", "+-"));
  EXPECT_FALSE(split_extension("double-bounce", "-"));
  ExtensionOptions custom;
  custom.double_bounce_sender = "bounce-x";
  EXPECT_FALSE(split_extension("bounce-x", "-", custom));
  EXPECT_TRUE(split_extension("double-bounce", "-", custom));

  EXPECT_FALSE(split_extension("owner-list", "-"));
  EXPECT_FALSE(split_extension("list-request", "-"));
  EXPECT_FALSE(split_extension("list-REQUEST", "+-"));
  // owner_request_special only matters when '-' is a delimiter.
  EXPECT_TRUE(split_extension("owner-list+x", "+"));
  ExtensionOptions plain;
  plain.owner_request_special = false;
  auto s = split_extension("owner-list", "-", plain);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->base, "owner");
  EXPECT_FALSE(split_extension("x-request", "-"));
  auto r = split_extension("x-requests", "-");  // not a -request suffix
  ASSERT_TRUE(r);
  EXPECT_EQ(r->extension, "requests");
}

// Found by fuzz_address: a lenient local part just under the cap whose
// quoted form is over it. An accepted address always parses back from its
// external form.
TEST(Address, AcceptedAddressesFitTheCapWhenQuoted) {
  PathOptions o;
  o.lenient_local = true;
  o.allow_bare_local = true;
  const std::string over = "a.." + std::string(kMaxPathBytes - 4, 'b');   // 4095 bytes, 4097 quoted
  const std::string fits = "a.." + std::string(kMaxPathBytes - 5, 'b');   // 4094 bytes, 4096 quoted
  auto r = parse_smtp_path(over, o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "address too long (4097 bytes when quoted)");
  auto a = parse_smtp_path(fits, o);
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->to_external().size(), kMaxPathBytes);
  auto back = parse_smtp_path(a->to_external(), o);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, *a);
}

TEST(CanonicalIpText, FormsAndOneSpelling) {
  EXPECT_EQ(canonical_ip_text("[127.0.0.1]"), "127.0.0.1");
  EXPECT_EQ(canonical_ip_text("[IPv6:0:0:0:0:0:0:0:1]"), "::1");
  EXPECT_EQ(canonical_ip_text("[ipv6:::1]"), "::1");
  EXPECT_EQ(canonical_ip_text("10.0.0.1"), std::nullopt);
  EXPECT_EQ(canonical_ip_text("10.0.0.1", true), "10.0.0.1");
  EXPECT_EQ(canonical_ip_text("[1.2.3]"), std::nullopt);
  EXPECT_EQ(canonical_ip_text("[]"), std::nullopt);
  // proxy_interfaces entries, as smtpd and trivial-rewrite both take them.
  EXPECT_EQ(canonical_ip_text("2001:DB8:0::1", true), "2001:db8::1");
  EXPECT_EQ(canonical_ip_text("[192.0.2.1]", true), "192.0.2.1");
  EXPECT_EQ(canonical_ip_text("mx.example.com", true), std::nullopt);
}
