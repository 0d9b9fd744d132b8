// wire_test.cpp - message encoding and structural parsing (wire.h, frame.h).
#include "ipc/wire.h"

#include <gtest/gtest.h>

#include "ipc/frame.h"
#include "ipc/test_bytes.h"

using namespace postern;
using namespace postern::ipc;
using namespace postern::ipc::wire_bytes;

namespace {

Message sample() {
  Message m;
  m.type = "sample_1";
  m.attributes.push_back({"s", std::string("he\0llo\r\n", 8)});
  m.attributes.push_back({"empty", std::string()});
  m.attributes.push_back({"i", std::int64_t{-42}});
  m.attributes.push_back({"zero", std::int64_t{0}});
  m.attributes.push_back({"big", std::numeric_limits<std::int64_t>::max()});
  m.attributes.push_back({"small", std::numeric_limits<std::int64_t>::min()});
  m.attributes.push_back({"l", std::vector<std::string>{"a", "", std::string("\0\xff", 2)}});
  m.attributes.push_back({"nil", std::vector<std::string>{}});
  return m;
}

// The error text of a parse that must fail.
std::string parse_error(std::string_view payload, const ParseLimits& limits = {}) {
  auto m = parse_message(payload, limits);
  EXPECT_FALSE(m.ok()) << "accepted a malformed payload of " << payload.size() << " bytes";
  return m.ok() ? std::string() : m.error().message;
}

}  // namespace

TEST(Wire, RoundTripEveryType) {
  auto bytes = encode_message(sample());
  ASSERT_TRUE(bytes.ok()) << bytes.error().message;
  auto back = parse_message(*bytes);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, sample());
  // Re-encoding is byte-identical: one spelling per message.
  EXPECT_EQ(*encode_message(*back), *bytes);
}

TEST(Wire, ExactLayout) {
  Writer w("t");
  w.add_string("a", "xy");
  w.add_int("n", -7);
  w.add_list("l", {"p", ""});
  auto bytes = std::move(w).finish();
  ASSERT_TRUE(bytes.ok());
  std::string want = head("t", 3) + attr("a", 'S', "xy") + attr("n", 'I', "-7") +
                     attr("l", 'L', item("p") + item(""));
  EXPECT_EQ(*bytes, want);
  EXPECT_EQ(bytes->substr(0, 5), std::string("\x01\x01t\x00\x03", 5));
}

// The example in docs/ipc.md, section 2.
TEST(Wire, DocumentedExample) {
  Writer w("status");
  w.add_int("status", 0);
  w.add_string("reason", "ok");
  auto frame = make_frame(*std::move(w).finish());
  ASSERT_TRUE(frame.ok());
  const unsigned char want[] = {0x00, 0x00, 0x00, 0x25, 0x01, 0x06, 0x73, 0x74, 0x61, 0x74, 0x75, 0x73, 0x00, 0x02,
                                0x06, 0x73, 0x74, 0x61, 0x74, 0x75, 0x73, 0x49, 0x00, 0x00, 0x00, 0x01, 0x30, 0x06,
                                0x72, 0x65, 0x61, 0x73, 0x6f, 0x6e, 0x53, 0x00, 0x00, 0x00, 0x02, 0x6f, 0x6b};
  EXPECT_EQ(*frame, std::string(reinterpret_cast<const char*>(want), sizeof(want)));
}

TEST(Wire, EmptyMessage) {
  Message m{"ping", {}};
  auto bytes = encode_message(m);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, head("ping", 0));
  EXPECT_EQ(*parse_message(*bytes), m);
}

TEST(Wire, WriterRejectsBadNames) {
  for (std::string_view bad : {"", "Upper", "has-dash", "sp ace", "x.y", "a23456789012345678901234567890123"}) {
    Writer w("ok");
    w.add_string(bad, "v");
    EXPECT_FALSE(std::move(w).finish().ok()) << bad;
    Writer t(bad);
    EXPECT_FALSE(std::move(t).finish().ok()) << bad;
  }
  Writer w("ok");
  w.add_string("a2345678901234567890123456789012", "32 bytes is fine");
  EXPECT_TRUE(std::move(w).finish().ok());
}

TEST(Wire, WriterRejectsDuplicate) {
  Writer w("ok");
  w.add_string("a", "1");
  w.add_int("a", 2);
  auto r = std::move(w).finish();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("duplicate"), std::string::npos);
}

TEST(Wire, RejectsVersionAndTruncatedHeader) {
  EXPECT_NE(parse_error("").find("empty"), std::string::npos);
  EXPECT_NE(parse_error(head("t", 0, 2)).find("version 2"), std::string::npos);
  EXPECT_NE(parse_error(head("t", 0, 0)).find("version"), std::string::npos);
  parse_error(std::string("\x01", 1));                 // no type length
  parse_error(std::string("\x01\x05" "ab", 4));        // type shorter than announced
  parse_error(std::string("\x01\x01t", 3));            // no count
  parse_error(std::string("\x01\x01t\x00", 4));        // half a count
  parse_error(head("", 0));                            // empty type name
  parse_error(head("Bad", 0));                         // upper case
}

TEST(Wire, RejectsTruncatedAttributes) {
  std::string full = head("t", 1) + attr("name", 'S', "value");
  ASSERT_TRUE(parse_message(full).ok());
  for (std::size_t cut = head("t", 1).size(); cut < full.size(); ++cut)
    parse_error(full.substr(0, cut));
  // Count promises more attributes than present.
  EXPECT_NE(parse_error(head("t", 2) + attr("a", 'S', "")).find("truncated"), std::string::npos);
}

TEST(Wire, RejectsTrailingBytes) {
  std::string ok = head("t", 1) + attr("a", 'S', "x");
  EXPECT_NE(parse_error(ok + "z").find("trailing"), std::string::npos);
  EXPECT_NE(parse_error(head("t", 0) + std::string(1, '\0')).find("trailing"), std::string::npos);
}

TEST(Wire, RejectsDuplicateAndBadAttributeNames) {
  EXPECT_NE(parse_error(head("t", 2) + attr("a", 'S', "1") + attr("a", 'S', "2")).find("duplicate"),
            std::string::npos);
  parse_error(head("t", 1) + attr("A", 'S', "1"));
  parse_error(head("t", 1) + attr("", 'S', "1"));
  parse_error(head("t", 1) + attr(std::string("a\0", 2), 'S', "1"));
  parse_error(head("t", 1) + attr(std::string(33, 'a'), 'S', "1"));
}

TEST(Wire, RejectsUnknownTag) {
  EXPECT_NE(parse_error(head("t", 1) + attr("a", 'X', "1")).find("unknown type"), std::string::npos);
  parse_error(head("t", 1) + attr("a", 's', "1"));
}

TEST(Wire, IntegerSyntaxIsStrict) {
  for (std::string_view bad : {"", "-", "+1", " 1", "1 ", "01", "-0", "00", "1x", "0x10", "1e3", "--1",
                               "9223372036854775808", "-9223372036854775809", "99999999999999999999",
                               "123456789012345678901"}) {
    EXPECT_FALSE(parse_wire_int(bad).ok()) << bad;
    parse_error(head("t", 1) + attr("i", 'I', bad));
  }
  EXPECT_EQ(*parse_wire_int("0"), 0);
  EXPECT_EQ(*parse_wire_int("-1"), -1);
  EXPECT_EQ(*parse_wire_int("9223372036854775807"), std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(*parse_wire_int("-9223372036854775808"), std::numeric_limits<std::int64_t>::min());
}

TEST(Wire, ListStructure) {
  auto m = parse_message(head("t", 1) + attr("l", 'L', item("x") + item("")));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(std::get<std::vector<std::string>>(m->attributes[0].value), (std::vector<std::string>{"x", ""}));
  // An item running past the attribute's value, or a partial item length.
  parse_error(head("t", 1) + attr("l", 'L', u32(5) + "abc"));
  parse_error(head("t", 1) + attr("l", 'L', item("x") + std::string("\0\0", 2)));
}

TEST(Wire, GenericLimits) {
  std::string three = head("t", 3) + attr("a", 'S', "") + attr("b", 'S', "") + attr("c", 'S', "");
  EXPECT_TRUE(parse_message(three, {.max_attributes = 3}).ok());
  EXPECT_NE(parse_error(three, {.max_attributes = 2}).find("limit"), std::string::npos);
  std::string list = head("t", 1) + attr("l", 'L', item("") + item("") + item(""));
  EXPECT_TRUE(parse_message(list, {.max_list_items = 3}).ok());
  EXPECT_NE(parse_error(list, {.max_list_items = 2}).find("list items"), std::string::npos);
}

TEST(Wire, HostileLengthDoesNotAllocate) {
  // A 4 GiB value length in a tiny payload is a truncation error, not an allocation.
  parse_error(head("t", 1) + u8(1) + "a" + "S" + u32(0xffffffff) + "x");
  parse_error(head("t", 65535));
}

TEST(Wire, PeekType) {
  EXPECT_EQ(*peek_type(head("status", 0)), "status");
  EXPECT_FALSE(peek_type(head("status", 0, 9)).ok());
  EXPECT_FALSE(peek_type("").ok());
}

TEST(Frame, HeaderIsBigEndian) {
  auto h = frame_header(0x01020304);
  EXPECT_EQ(std::string(h.data(), 4), "\x01\x02\x03\x04");
  auto f = make_frame("abc");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(*f, std::string("\0\0\0\3abc", 7));
}

TEST(Frame, LimitBoundary) {
  FrameLimits limits{.max_payload = 100};
  EXPECT_EQ(*parse_frame_header(u32(100), limits), 100u);
  EXPECT_FALSE(parse_frame_header(u32(101), limits).ok());
  EXPECT_FALSE(parse_frame_header(u32(0), limits).ok());
  EXPECT_FALSE(parse_frame_header("abc", limits).ok());
  EXPECT_TRUE(make_frame(std::string(100, 'x'), limits).ok());
  EXPECT_FALSE(make_frame(std::string(101, 'x'), limits).ok());
  EXPECT_FALSE(make_frame("", limits).ok());
  // Default: 1 MiB exactly.
  EXPECT_TRUE(parse_frame_header(u32(1 << 20)).ok());
  EXPECT_FALSE(parse_frame_header(u32((1 << 20) + 1)).ok());
  EXPECT_FALSE(parse_frame_header(u32(0xffffffff)).ok());
}

TEST(Frame, LimitIsClamped) {
  EXPECT_EQ(FrameLimits{.max_payload = 0}.effective_max(), 1u);
  EXPECT_EQ(FrameLimits{.max_payload = std::size_t{1} << 40}.effective_max(), kMaxPayloadCeiling);
  EXPECT_FALSE(parse_frame_header(u32(kMaxPayloadCeiling + 1), {.max_payload = std::size_t{1} << 40}).ok());
}
