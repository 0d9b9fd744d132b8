// schema_test.cpp - declared messages: encode/decode and every rejection (schema.h, proto/).
#include "ipc/schema.h"

#include <gtest/gtest.h>

#include "ipc/proto/status.h"
#include "ipc/proto/trivial_rewrite.h"
#include "ipc/test_bytes.h"

using namespace postern;
using namespace postern::ipc;
using namespace postern::ipc::wire_bytes;

namespace schema_test {

enum class Color { Red, Green };
inline constexpr EnumName<Color> kColorNames[] = {{"red", Color::Red}, {"green", Color::Green}};
constexpr std::span<const EnumName<Color>> ipc_enum_names(Color) { return kColorNames; }

// One field of every supported kind.
struct Everything {
  static constexpr std::string_view kType = "everything";
  std::string text;
  std::string line;
  std::int64_t count = 0;
  std::int32_t small = 0;
  std::uint16_t port = 0;
  bool flag = false;
  Color color = Color::Red;
  std::vector<std::string> items;
  std::optional<std::string> note;
  std::optional<std::int64_t> maybe;

  static constexpr auto fields() {
    return std::tuple{
        field("text", &Everything::text, {.max_len = 8}),
        field("line", &Everything::line, {.max_len = 16, .single_line = true}),
        field("count", &Everything::count, {.min = -5, .max = 1000}),
        field("small", &Everything::small),
        field("port", &Everything::port),
        field("flag", &Everything::flag),
        field("color", &Everything::color),
        field("items", &Everything::items, {.max_len = 4, .single_line = true, .max_items = 3}),
        field("note", &Everything::note),
        field("maybe", &Everything::maybe),
    };
  }
  bool operator==(const Everything&) const = default;
};

// Cross-field rule via check().
struct Pair {
  static constexpr std::string_view kType = "pair";
  std::int64_t lo = 0;
  std::int64_t hi = 0;
  static constexpr auto fields() { return std::tuple{field("lo", &Pair::lo), field("hi", &Pair::hi)}; }
  Status check() const {
    if (lo > hi) return make_error("lo > hi");
    return {};
  }
};

}  // namespace schema_test

using schema_test::Color;
using schema_test::Everything;

namespace {

Everything full() {
  Everything e;
  e.text = std::string("a\0b\r\nc", 6);  // NUL/CR/LF allowed where not single_line
  e.line = "one line";
  e.count = -5;
  e.small = -2147483647 - 1;
  e.port = 65535;
  e.flag = true;
  e.color = Color::Green;
  e.items = {"x", "", "abcd"};
  e.note = "n";
  e.maybe = 0;
  return e;
}

// A wire message built from `full()` with one attribute replaced (or
// removed, when value is null), or one appended.
std::string variant_of(std::string_view name, char tag, const char* value, std::size_t value_len = 0) {
  Message m = *parse_message(*encode(full()));
  std::erase_if(m.attributes, [&](const Attribute& a) { return a.name == name; });
  std::string body;
  for (const auto& a : m.attributes) {
    Writer w("x");
    w.add(a.name, a.value);
    body += std::move(w).finish()->substr(head("x", 0).size());
  }
  std::size_t count = m.attributes.size();
  if (value) {
    body += attr(name, tag, std::string(value, value_len ? value_len : std::strlen(value)));
    ++count;
  }
  return head("everything", static_cast<std::uint16_t>(count)) + body;
}

std::string decode_error(std::string_view payload) {
  auto r = decode<Everything>(payload);
  EXPECT_FALSE(r.ok());
  return r.ok() ? std::string() : r.error().message;
}

bool contains(const std::string& s, std::string_view what) { return s.find(what) != std::string::npos; }

}  // namespace

TEST(Schema, RoundTripEveryKind) {
  auto bytes = encode(full());
  ASSERT_TRUE(bytes.ok()) << bytes.error().message;
  auto back = decode<Everything>(*bytes);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, full());
}

TEST(Schema, OptionalFieldsMayBeAbsent) {
  Everything e = full();
  e.note.reset();
  e.maybe.reset();
  auto bytes = encode(e);
  ASSERT_TRUE(bytes.ok());
  auto m = parse_message(*bytes);
  EXPECT_EQ(m->find("note"), nullptr);
  EXPECT_EQ(m->find("maybe"), nullptr);
  auto back = decode<Everything>(*bytes);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, e);
}

TEST(Schema, VariantHelperReproducesOriginal) {
  // Guard for the helper the rejection tests rely on.
  auto same = variant_of("line", 'S', "one line");
  EXPECT_TRUE(decode<Everything>(same).ok()) << decode_error(same);
}

TEST(Schema, RejectsWrongMessageType) {
  auto bytes = encode(proto::StatusReply{1, "x"});
  auto r = decode<Everything>(*bytes);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error().message, "expected message \"everything\", got \"status\""));
}

TEST(Schema, RejectsUnknownAttribute) {
  // Drop one optional so the count stays within the field count.
  Everything e = full();
  e.note.reset();
  Message m = *parse_message(*encode(e));
  m.attributes.push_back({"bogus", std::string("x")});
  auto err = decode<Everything>(*encode_message(m));
  ASSERT_FALSE(err.ok());
  EXPECT_TRUE(contains(err.error().message, "\"bogus\": unexpected attribute"));
}

TEST(Schema, RejectsExtraAttributesBeyondFieldCount) {
  Message m = *parse_message(*encode(full()));
  m.attributes.push_back({"bogus", std::string("x")});
  EXPECT_FALSE(decode<Everything>(*encode_message(m)).ok());
}

TEST(Schema, RejectsDuplicateAttribute) {
  Everything e = full();
  e.note.reset();
  std::string bytes = *encode(e);
  // Append a second "text" by hand and bump the count (the Writer refuses duplicates).
  Message m = *parse_message(bytes);
  std::string raw = head("everything", static_cast<std::uint16_t>(m.attributes.size() + 1)) +
                    bytes.substr(head("everything", 0).size()) + attr("text", 'S', "again");
  EXPECT_TRUE(contains(decode_error(raw), "duplicate"));
}

TEST(Schema, RejectsMissingRequired) {
  for (std::string_view name : {"text", "line", "count", "small", "port", "flag", "color", "items"}) {
    auto err = decode_error(variant_of(name, 'S', nullptr));
    EXPECT_TRUE(contains(err, "missing required attribute")) << name << ": " << err;
    EXPECT_TRUE(contains(err, std::string(name))) << err;
  }
}

TEST(Schema, RejectsWrongType) {
  EXPECT_TRUE(contains(decode_error(variant_of("count", 'S', "1")), "expected integer, got string"));
  EXPECT_TRUE(contains(decode_error(variant_of("text", 'I', "1")), "expected string, got integer"));
  EXPECT_TRUE(contains(decode_error(variant_of("items", 'S', "x")), "expected list, got string"));
  EXPECT_TRUE(contains(decode_error(variant_of("color", 'L', "")), "expected string, got list"));
  EXPECT_TRUE(contains(decode_error(variant_of("note", 'I', "3")), "expected string"));
}

TEST(Schema, LengthLimitBoundary) {
  EXPECT_TRUE(decode<Everything>(variant_of("text", 'S', "12345678")).ok());
  EXPECT_TRUE(contains(decode_error(variant_of("text", 'S', "123456789")), "9 bytes, limit is 8"));
  std::string four = item("abcd"), five = item("abcde");
  EXPECT_TRUE(decode<Everything>(variant_of("items", 'L', four.data(), four.size())).ok());
  EXPECT_TRUE(contains(decode_error(variant_of("items", 'L', five.data(), five.size())), "limit is 4"));
}

TEST(Schema, ListItemCountBoundary) {
  std::string three = item("a") + item("b") + item("c");
  std::string four = three + item("d");
  EXPECT_TRUE(decode<Everything>(variant_of("items", 'L', three.data(), three.size())).ok());
  EXPECT_TRUE(contains(decode_error(variant_of("items", 'L', four.data(), four.size())), "4 items, limit is 3"));
}

TEST(Schema, SingleLineRejectsNulCrLf) {
  for (std::string bad : {std::string("a\0b", 3), std::string("a\rb"), std::string("a\nb")}) {
    EXPECT_TRUE(contains(decode_error(variant_of("line", 'S', bad.data(), bad.size())), "NUL, CR or LF")) << bad;
    std::string it = item(bad);
    EXPECT_TRUE(contains(decode_error(variant_of("items", 'L', it.data(), it.size())), "NUL, CR or LF"));
  }
}

TEST(Schema, IntegerRanges) {
  EXPECT_TRUE(decode<Everything>(variant_of("count", 'I', "1000")).ok());
  EXPECT_TRUE(contains(decode_error(variant_of("count", 'I', "1001")), "not in [-5, 1000]"));
  EXPECT_TRUE(contains(decode_error(variant_of("count", 'I', "-6")), "not in"));
  // The C++ member's range applies too.
  EXPECT_TRUE(decode<Everything>(variant_of("small", 'I', "2147483647")).ok());
  EXPECT_FALSE(decode<Everything>(variant_of("small", 'I', "2147483648")).ok());
  EXPECT_FALSE(decode<Everything>(variant_of("small", 'I', "-2147483649")).ok());
  EXPECT_TRUE(decode<Everything>(variant_of("port", 'I', "65535")).ok());
  EXPECT_FALSE(decode<Everything>(variant_of("port", 'I', "65536")).ok());
  EXPECT_FALSE(decode<Everything>(variant_of("port", 'I', "-1")).ok());
  EXPECT_TRUE(decode<Everything>(variant_of("flag", 'I', "0")).ok());
  EXPECT_FALSE(decode<Everything>(variant_of("flag", 'I', "2")).ok());
  EXPECT_FALSE(decode<Everything>(variant_of("flag", 'I', "-1")).ok());
}

TEST(Schema, BadIntegerSyntax) {
  for (const char* bad : {"01", "+1", "1.0", "", "abc", "-0", "99999999999999999999"}) {
    auto err = decode_error(variant_of("count", 'I', bad));
    EXPECT_TRUE(contains(err, "integer")) << bad << ": " << err;
  }
}

TEST(Schema, EnumSpellings) {
  auto r = decode<Everything>(variant_of("color", 'S', "red"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->color, Color::Red);
  EXPECT_TRUE(contains(decode_error(variant_of("color", 'S', "Red")), "unknown value \"Red\""));
  EXPECT_TRUE(contains(decode_error(variant_of("color", 'S', "blue")), "unknown value"));
  Everything e = full();
  e.color = static_cast<Color>(7);
  EXPECT_FALSE(encode(e).ok());
}

TEST(Schema, RejectsTrailingBytesAndTruncation) {
  std::string bytes = *encode(full());
  EXPECT_TRUE(contains(decode_error(bytes + "x"), "trailing"));
  EXPECT_FALSE(decode<Everything>(bytes.substr(0, bytes.size() - 1)).ok());
}

TEST(Schema, EncodeAppliesTheSameRules) {
  Everything e = full();
  e.text = "123456789";
  EXPECT_FALSE(encode(e).ok());
  e = full();
  e.line = "two\nlines";
  EXPECT_FALSE(encode(e).ok());
  e = full();
  e.count = 1001;
  EXPECT_FALSE(encode(e).ok());
  e = full();
  e.items = {"a", "b", "c", "d"};
  EXPECT_FALSE(encode(e).ok());
}

TEST(Schema, CheckHookRuns) {
  EXPECT_TRUE(decode<schema_test::Pair>(*encode(schema_test::Pair{1, 2})).ok());
  auto r = decode<schema_test::Pair>(head("pair", 2) + attr("lo", 'I', "3") + attr("hi", 'I', "2"));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error().message, "lo > hi"));
}

// ------------------------------------------------------------- proto headers

TEST(Proto, StatusReplyRoundTrip) {
  proto::StatusReply s{proto::kStatusRetry, "queue file write error"};
  auto bytes = encode(s);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, head("status", 2) + attr("status", 'I', "1") + attr("reason", 'S', "queue file write error"));
  EXPECT_EQ(*decode<proto::StatusReply>(*bytes), s);
  EXPECT_FALSE(decode<proto::StatusReply>(head("status", 2) + attr("status", 'I', "256") + attr("reason", 'S', ""))
                   .ok());
  EXPECT_FALSE(
      decode<proto::StatusReply>(head("status", 2) + attr("status", 'I', "0") + attr("reason", 'S', "a\nb")).ok());
}

TEST(Proto, Refusal) {
  EXPECT_FALSE(proto::refusal(*encode(proto::ResolveReply{})).has_value());
  auto r = proto::refusal(*encode(proto::StatusReply{proto::kStatusFail, "bad request"}));
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(contains(r->message, "status 2: bad request"));
  EXPECT_TRUE(proto::refusal(*encode(proto::StatusReply{0, ""})).has_value());
  EXPECT_TRUE(contains(proto::refusal(head("status", 0))->message, "malformed"));
}

TEST(Proto, TrivialRewriteRequests) {
  using proto::RewriteOp;
  using proto::RewriteRequest;
  RewriteRequest rw{RewriteOp::Rewrite, std::string(proto::kRuleLocal), std::nullopt, "user"};
  auto bytes = encode(rw);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, head("trivial_rewrite_request", 3) + attr("request", 'S', "rewrite") +
                        attr("rule", 'S', "local") + attr("address", 'S', "user"));
  EXPECT_EQ(*decode<RewriteRequest>(*bytes), rw);

  RewriteRequest rs{RewriteOp::Resolve, std::nullopt, "sender@example.org", "rcpt@example.com"};
  EXPECT_EQ(*decode<RewriteRequest>(*encode(rs)), rs);
  RewriteRequest null_sender{RewriteOp::Verify, std::nullopt, std::nullopt, ""};
  EXPECT_EQ(*decode<RewriteRequest>(*encode(null_sender)), null_sender);

  // Cross-field rules.
  auto no_rule = head("trivial_rewrite_request", 2) + attr("request", 'S', "rewrite") + attr("address", 'S', "u");
  EXPECT_TRUE(contains(decode<RewriteRequest>(no_rule).error().message, "without rule"));
  auto rule_on_resolve = head("trivial_rewrite_request", 3) + attr("request", 'S', "resolve") +
                         attr("rule", 'S', "local") + attr("address", 'S', "u");
  EXPECT_FALSE(decode<RewriteRequest>(rule_on_resolve).ok());
  auto bad_op = head("trivial_rewrite_request", 2) + attr("request", 'S', "delete") + attr("address", 'S', "u");
  EXPECT_TRUE(contains(decode<RewriteRequest>(bad_op).error().message, "unknown value \"delete\""));
  // Address length limit.
  RewriteRequest huge{RewriteOp::Resolve, std::nullopt, std::nullopt, std::string(proto::kMaxAddressLength, 'a')};
  EXPECT_TRUE(decode<RewriteRequest>(*encode(huge)).ok());
  huge.address += 'a';
  EXPECT_FALSE(encode(huge).ok());
}

TEST(Proto, TrivialRewriteReplies) {
  namespace f = proto::resolve_flag;
  proto::ResolveReply r{f::kFinal | f::kRelay, "smtp", "[mx.example.com]:25", "rcpt@example.com"};
  EXPECT_EQ(*decode<proto::ResolveReply>(*encode(r)), r);
  proto::RewriteReply w{0, "user@example.org"};
  EXPECT_EQ(*decode<proto::RewriteReply>(*encode(w)), w);
  // Undefined flag bits and negative flags are rejected.
  auto odd = head("rewrite_reply", 2) + attr("flags", 'I', "16") + attr("address", 'S', "x");
  EXPECT_TRUE(contains(decode<proto::RewriteReply>(odd).error().message, "undefined flag bits 0x10"));
  auto neg = head("rewrite_reply", 2) + attr("flags", 'I', "-1") + attr("address", 'S', "x");
  EXPECT_FALSE(decode<proto::RewriteReply>(neg).ok());
  auto nl = head("resolve_reply", 4) + attr("flags", 'I', "0") + attr("transport", 'S', "smtp\n") +
            attr("nexthop", 'S', "") + attr("recipient", 'S', "");
  EXPECT_FALSE(decode<proto::ResolveReply>(nl).ok());
}
