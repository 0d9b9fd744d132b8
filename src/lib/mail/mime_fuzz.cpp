// mime_fuzz.cpp - libFuzzer target for MimeScanner and parse_content_type.
//
// The input is split into lines at '\n'. The first line is the primary
// Content-Type value, the rest is fed to a MimeScanner with small limits
// (header_size_limit 128, mime_nesting_limit 5, mime_boundary_length_limit
// 12), so that truncation, the nesting limit and the boundary limit are all
// within reach of short inputs. Invariants:
//  - no part or attached-message header exceeds the limit (unless its name
//    alone does), and each one is a well-formed header (name, kind);
//  - a line that is not a body line is header text: empty, a header line or
//    a continuation;
//  - with a primary type that is neither multipart nor message, every line
//    is a body line and no header is reported;
//  - finish() is callable once the lines are in, a second finish() has
//    nothing, and later lines are plain body lines;
//  - parse_content_type of every Content-Type value and of every line gives
//    lower-case token type and subtype, and no subtype without a type.
//  - the downgrade marks are consistent: a dropped header is a
//    Content-Transfer-Encoding one, an added encoding is "7bit" or
//    "quoted-printable", only body lines are encoded, and their
//    quoted-printable form is lines of at most 76 printable ASCII bytes
//    (or TAB).
// Memory stays bounded by the limits; ASan's RSS and leak checks watch that.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "mail/header.h"
#include "mail/mime.h"
#include "mail/quoted_printable.h"

using namespace postern::mail;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void check_content_type(std::string_view value) {
  ContentType ct = parse_content_type(value);
  for (char c : ct.type) check(c > 0x20 && c < 0x7f && !(c >= 'A' && c <= 'Z'));
  for (char c : ct.subtype) check(c > 0x20 && c < 0x7f && !(c >= 'A' && c <= 'Z'));
  check(!ct.type.empty() || (ct.subtype.empty() && ct.boundary.empty()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::size_t first_nl = in.find('\n');
  std::string_view primary = in.substr(0, first_nl);
  check_content_type(primary);
  ContentType pct = parse_content_type(primary);
  const bool plain = pct.type != "multipart" && pct.type != "message";

  MimeOptions o;
  o.header_size_limit = 128;
  o.nesting_limit = 5;
  o.boundary_length_limit = 12;
  MimeScanner m(o);
  m.primary_content_type(primary);

  QuotedPrintableEncoder qp;
  auto on_marks = [&](const MimeStep& s, std::string_view line) {
    check(!s.drop_header || (s.header && s.header->kind == HeaderKind::kContentTransferEncoding));
    check(s.add_encoding.empty() || s.add_encoding == "7bit" || s.add_encoding == "quoted-printable");
    check(!s.encode || s.body_line);
    if (!s.encode) return;
    qp.put(line, true, [&](std::string_view out) {
      check(out.size() <= 76);
      for (char c : out) check(c == '\t' || (c >= 0x20 && c < 0x7f));
    });
  };
  auto on_header = [&](const MimeStep& s) {
    check(!plain);
    const Header& h = *s.header;
    std::string text = h.text();
    check(text.size() <= o.header_size_limit || text.size() == h.name.size() + 1);
    check(header_name_length(text) == h.name.size());
    check(classify_header(h.name) == h.kind);
    if (h.kind == HeaderKind::kContentType) check_content_type(h.value);
  };

  std::size_t start = first_nl == std::string_view::npos ? in.size() + 1 : first_nl + 1;
  while (start <= in.size()) {
    std::size_t nl = in.find('\n', start);
    std::size_t len = nl == std::string_view::npos ? std::string_view::npos : nl - start;
    std::string_view line = in.substr(start, len);
    MimeStep s = m.feed(line);
    if (s.header) on_header(s);
    on_marks(s, line);
    if (plain) check(s.body_line);
    if (!s.body_line) {
      check(line.empty() || line[0] == ' ' || line[0] == '\t' || header_name_length(line) > 0);
    }
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  if (auto s = m.finish()) {
    check(s->header.has_value() || !s->add_encoding.empty());
    if (s->header) on_header(*s);
    on_marks(*s, "");
  }
  check(!m.finish());
  MimeStep after = m.feed("--");
  check(after.body_line && !after.header);
  return 0;
}
