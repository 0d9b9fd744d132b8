// access_fuzz.cpp - fuzzes access(5) result parsing (access::parse_action).
// Table values are the admin's, but policy servers' answers (an external
// process on a socket) go through the same parser. The first byte picks what
// is being checked (client, HELO, sender, recipient); the rest is the result.
// Besides crashes, the invariants callers rely on are checked: every reply
// is a valid 4xx/5xx of one printable line within SMTP's length limit, and
// every action carries what its caller needs.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "config/transport.h"
#include "mail/header.h"
#include "smtp/reply.h"
#include "smtpd/access.h"

using namespace postern;
using namespace postern::smtpd::access;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

bool one_printable_line(const std::string& s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return false;
  return true;
}

void check_reply(const smtp::Reply& r) {
  check(r.code >= 400 && r.code <= 599 && smtp::valid_reply_code(r.code));
  check(r.enhanced.empty() || r.enhanced[0] == static_cast<char>('0' + r.code / 100));
  std::string line = r.to_string();
  check(line.size() <= 512 && one_printable_line(line));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > 4096) return 0;
  static const mail::Address sender = mail::Address::from_internal("s@example.net");
  static const mail::Address rcpt = mail::Address::from_internal("r@example.org");
  Kind kinds[] = {Kind::Client, Kind::Helo, Kind::Sender, Kind::Recipient, Kind::Ccert, Kind::ReverseClient, Kind::Sasl};
  Kind kind = kinds[data[0] % std::size(kinds)];
  Subject s;
  s.client_name = "client.example";
  s.client_addr = "192.0.2.1";
  s.helo = "helo.example";
  s.address = kind == Kind::Recipient ? &rcpt : &sender;
  s.address_text = kind == Kind::Recipient ? "r@example.org" : "s@example.net";
  s.ccert_fingerprint = "AA:BB";
  s.ccert_pkey_fingerprint = "CC:DD";
  s.ccert_cn = "client.example";
  std::string value(reinterpret_cast<const char*>(data + 1), size - 1);
  if (value.find('\n') != std::string::npos) return 0;  // table values and policy answers are one line
  Action a = parse_action(value, kind, s, Options{});
  switch (a.type) {
    case Action::Type::Reject:
    case Action::Type::DeferIfReject:
    case Action::Type::DeferIfPermit:
      check_reply(a.reply);
      break;
    case Action::Type::Hold:
    case Action::Type::Discard:
      check(!a.why.empty() && one_printable_line(a.why));
      break;
    case Action::Type::Bcc:
      check(a.address.find('@') != std::string::npos && one_printable_line(a.why));
      break;
    case Action::Type::Redirect:
      check(a.address.find('@') != std::string::npos && one_printable_line(a.why));
      break;
    case Action::Type::Filter:
      check(a.address.find(':') != std::string::npos && config::check_content_filter(a.address).ok() &&
            one_printable_line(a.why));
      break;
    case Action::Type::Prepend:
      check(mail::header_name_length(a.why) > 0);
      break;
    case Action::Type::Restrictions:
      check(!a.restrictions.empty());
      for (const auto& r : a.restrictions) check(!r.empty());
      break;
    case Action::Type::Permit:
    case Action::Type::Dunno:
    case Action::Type::Unsupported:
      break;
  }
  return 0;
}
