// command_fuzz.cpp - libFuzzer target for parse_command().
//
// Invariants checked: parsing never crashes; a rejection formats into wire
// text whose every line starts with the reply code (no injected lines); an
// accepted bracketed MAIL FROM / RCPT TO survives format -> parse unchanged
// (unless re-encoding makes ORCPT longer than RFC 3461 allows).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "smtp/command.h"
#include "smtp/reply.h"
#include "smtp/xtext.h"

using namespace postern::smtp;

namespace {

void check_reply_wire(const Reply& r) {
  std::string wire = format_reply(r);
  std::size_t start = 0;
  while (start < wire.size()) {
    std::size_t e = wire.find("\r\n", start);
    if (e == std::string::npos) std::abort();
    std::string_view line(wire.data() + start, e - start);
    if (line.size() < 3 || line.size() + 2 > kMaxReplyLine) std::abort();
    if (line.find_first_of("\r\n") != std::string_view::npos) std::abort();
    if (std::string_view(wire.data(), 3) != line.substr(0, 3)) std::abort();
    start = e + 2;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  CommandOptions o;
  std::uint8_t flags = data[0];
  o.strict_rfc821_envelopes = flags & 1;
  o.check_utf8 = flags & 2;
  o.dsn = flags & 4;
  o.smtputf8 = flags & 8;
  o.auth = flags & 16;
  o.binarymime = flags & 32;
  std::string_view line(reinterpret_cast<const char*>(data + 1), size - 1);

  auto r = parse_command(line, o);
  if (!r.ok()) {
    check_reply_wire(r.error().reply);
    return 0;
  }
  const Command& c = *r;
  if (c.verb == Verb::Mail && c.mail().path.bracketed) {
    auto text = format_mail_from(c.mail());
    if (!text.ok()) std::abort();
    CommandOptions all = o;
    all.auth = all.binarymime = all.dsn = all.smtputf8 = true;
    all.check_utf8 = false;
    auto back = parse_command(*text, all);
    if (!back.ok() || !(back->mail() == c.mail())) std::abort();
  }
  // Re-encoding can push ORCPT past the 500-byte limit the parser enforces
  // (8-bit bytes become +HH); such a recipient cannot round-trip.
  const bool orcpt_fits = c.verb != Verb::Rcpt ||
                          c.rcpt().orcpt_type.size() + 1 + xtext_encode(c.rcpt().orcpt).size() <= 500;
  if (c.verb == Verb::Rcpt && c.rcpt().path.bracketed && orcpt_fits) {
    auto text = format_rcpt_to(c.rcpt());
    if (!text.ok()) std::abort();
    CommandOptions all = o;
    all.dsn = true;
    all.check_utf8 = false;
    auto back = parse_command(*text, all);
    if (!back.ok() || !(back->rcpt() == c.rcpt())) std::abort();
  }
  return 0;
}
