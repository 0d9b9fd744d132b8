// header_fuzz.cpp - libFuzzer target for HeaderParser and the address-list parser.
//
// The input is split into lines at '\n' and streamed through HeaderParser
// with a small header_size_limit (from the first byte). Invariants:
//  - no logical header exceeds the limit (unless its name alone does);
//  - nothing but body lines after the end of the header section;
//  - every header value parses as an address list without crashing, spans
//    are ordered and inside the value, an identity rewrite returns the
//    value unchanged, and a full rewrite parses again.
// The whole input is also parsed as one address list.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "mail/address_list.h"
#include "mail/header.h"

using namespace postern::mail;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void check_list(std::string_view value) {
  AddressListOptions o;
  o.max_bytes = 4096;
  o.max_tokens = 256;
  o.max_comment_depth = 8;
  auto r = parse_address_list(value, o);
  if (!r.ok()) return;
  std::size_t pos = 0;
  for (const auto& h : r->addresses) {
    check(h.begin >= pos && h.begin <= h.end && h.end <= value.size());
    pos = h.end;
    check(!h.address.is_null());
  }
  auto same = rewrite_address_list(value, *r, [](const HeaderAddress&) { return std::nullopt; });
  check(same == value);
  auto changed = rewrite_address_list(value, *r, [](const HeaderAddress& h) -> std::optional<Address> {
    Address a = h.address;
    a.domain = "example.com";
    return a;
  });
  (void)parse_address_list(changed, o);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::size_t limit = 16 + data[0] * 4;
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);

  check_list(in);

  HeaderParserOptions opts;
  opts.header_size_limit = limit;
  HeaderParser p(opts);
  bool ended = false;
  auto on_header = [&](const Header& h) {
    std::string text = h.text();
    check(text.size() <= limit || text.size() == h.name.size() + 1);
    check(header_name_length(text) == h.name.size());
    check(classify_header(h.name) == h.kind);
    check_list(h.value);
  };
  std::size_t start = 0;
  while (start <= in.size()) {
    std::size_t nl = in.find('\n', start);
    std::size_t len = nl == std::string_view::npos ? std::string_view::npos : nl - start;
    std::string_view line = in.substr(start, len);
    HeaderStep s = p.feed(line);
    if (s.header) on_header(*s.header);
    if (ended) check(s.body_line && !s.header && !s.end_of_headers);
    if (s.end_of_headers) {
      check(!ended);
      ended = true;
      check(s.missing_separator == !line.empty());
      check(s.body_line == !line.empty());
    }
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  if (auto h = p.finish()) {
    check(!ended);
    on_header(*h);
  }
  check(!p.in_headers());
  return 0;
}
