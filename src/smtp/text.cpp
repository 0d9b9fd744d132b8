// text.cpp - see text.h.
#include "text.h"

#include <fmt/format.h>

#include "mail/address.h"
#include "smtp/xtext.h"

namespace postern::smtp_client {

std::string_view request_name(Stage s) {
  switch (s) {
    case Stage::Greeting: return "initial greeting";
    case Stage::Ehlo: return "EHLO command";
    case Stage::Helo: return "HELO command";
    case Stage::Lhlo: return "LHLO command";
    case Stage::Starttls: return "STARTTLS command";
    case Stage::Xforward: return "XFORWARD command";
    case Stage::Mail: return "MAIL FROM command";
    case Stage::Rcpt: return "RCPT TO command";
    case Stage::Data: return "DATA command";
    case Stage::Content: return "end of DATA command";
    case Stage::EndOfData: return "end of DATA command";
    case Stage::Rset: return "RSET command";
    case Stage::Quit: return "QUIT command";
  }
  return "command";
}

std::string_view stage_activity(Stage s) {
  switch (s) {
    case Stage::Greeting: return "receiving the initial server greeting";
    case Stage::Ehlo: return "performing the EHLO handshake";
    case Stage::Helo: return "performing the HELO handshake";
    case Stage::Lhlo: return "performing the LHLO handshake";
    case Stage::Starttls: return "sending STARTTLS";
    case Stage::Xforward: return "sending XFORWARD";
    case Stage::Mail: return "sending MAIL FROM";
    case Stage::Rcpt: return "sending RCPT TO";
    case Stage::Data: return "sending DATA command";
    case Stage::Content: return "sending message body";
    case Stage::EndOfData: return "sending end of data -- message may be sent more than once";
    case Stage::Rset: return "sending RSET";
    case Stage::Quit: return "sending QUIT";
  }
  return "talking";
}

std::string reply_dsn(const smtp::Reply& r) {
  if (!r.enhanced.empty() && r.enhanced[0] == static_cast<char>('0' + r.klass())) return r.enhanced;
  int k = r.klass();
  if (k != 2 && k != 4 && k != 5) k = 4;  // 1xx/3xx where a final reply belongs: retry later
  return fmt::format("{}.0.0", k);
}

std::string said_text(std::string_view host, const smtp::Reply& r, Stage s) {
  return fmt::format("host {} said: {} (in reply to {})", host, r.to_string(), request_name(s));
}

std::string refused_text(std::string_view host, const smtp::Reply& r) {
  return fmt::format("host {} refused to talk to me: {}", host, r.to_string());
}

std::string timeout_text(std::string_view host, Stage s) {
  return fmt::format("conversation with {} timed out while {}", host, stage_activity(s));
}

std::string lost_text(std::string_view host, Stage s) {
  return fmt::format("lost connection with {} while {}", host, stage_activity(s));
}

std::string malformed_text(std::string_view host, Stage s, std::string_view why) {
  return fmt::format("malformed or oversized reply from {} while {}: {}", host, stage_activity(s), why);
}

std::string local_data_text(std::string_view host) {
  return fmt::format("local data error while talking to {}", host);
}

std::string connect_text(std::string_view host_port, std::string_view reason) {
  return fmt::format("connect to {}: {}", host_port, reason);
}

deliver::Outcome reply_outcome(std::string_view host, const smtp::Reply& r, Stage s) {
  std::string dsn = reply_dsn(r);
  switch (r.klass()) {
    case 2: return deliver::Outcome::sent(r.to_string(), dsn);
    case 5: return deliver::Outcome::bounced(dsn, said_text(host, r, s));
    default: return deliver::Outcome::deferred(dsn, said_text(host, r, s));
  }
}

namespace {

// Envelope addresses are kept in internal (unquoted) form; the wire needs the
// local part quoted where it is not a dot-string.
std::string external(std::string_view addr) {
  if (addr.empty()) return {};
  auto at = addr.rfind('@');
  if (at == std::string_view::npos) return mail::quote_local(addr);
  return mail::quote_local(addr.substr(0, at)) + std::string(addr.substr(at));
}

}  // namespace

std::string mail_command(std::string_view sender, const MailParams& p) {
  std::string out = fmt::format("MAIL FROM:<{}>", external(sender));
  if (p.size) out += fmt::format(" SIZE={}", *p.size);
  if (p.eight_bit) out += " BODY=8BITMIME";
  else if (p.seven_bit) out += " BODY=7BIT";
  if (p.smtputf8) out += " SMTPUTF8";
  if (p.ret) out += *p.ret == queue::DsnRet::Full ? " RET=FULL" : " RET=HDRS";
  // The queue file keeps ENVID in its xtext form (as received); anything
  // that is not valid xtext is encoded so it cannot break the command line.
  if (!p.envid.empty()) out += " ENVID=" + (smtp::xtext_decode(p.envid) ? p.envid : smtp::xtext_encode(p.envid));
  out += "\r\n";
  return out;
}

std::string rcpt_command(const queue::RecipientFields& r, bool dsn) {
  std::string out = fmt::format("RCPT TO:<{}>", external(r.address));
  if (dsn) {
    if (r.notify != queue::kNotifyNone) out += " NOTIFY=" + queue::notify_to_string(r.notify);
    if (!r.orcpt.empty()) {
      out += " ORCPT=" + r.orcpt;  // stored as received: addr-type;xtext
    } else if (!r.orig_rcpt.empty()) {
      out += " ORCPT=rfc822;" + smtp::xtext_encode(external(r.orig_rcpt));
    }
  }
  out += "\r\n";
  return out;
}

bool needs_utf8(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80) return true;
  return false;
}

}  // namespace postern::smtp_client
