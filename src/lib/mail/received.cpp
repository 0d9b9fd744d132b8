// received.cpp - see received.h.
#include "mail/received.h"

#include <fmt/format.h>

#include "mail/address.h"
#include "mail/date.h"
#include "mail/text.h"

namespace postern::mail {

namespace {

constexpr std::size_t kNameCap = 255;
constexpr std::size_t kAddrCap = 64;
constexpr std::size_t kCommentCap = 255;
constexpr std::size_t kRecipientCap = 1024;

// Host names and HELO arguments: printable ASCII with Postfix's neutered
// characters replaced, like smtpd does with printable() + NEUTER_CHARACTERS.
std::string clean_name(std::string_view s, std::string_view fallback) {
  std::string out;
  for (unsigned char c : s) {
    if (out.size() >= kNameCap) break;
    bool bad = c <= 0x20 || c >= 0x7f;
    switch (c) {
      case '<': case '>': case '(': case ')': case '\\': case '"': case ';': case '@':
        bad = true;
        break;
      default:
        break;
    }
    out.push_back(bad ? '?' : static_cast<char>(c));
  }
  return out.empty() ? std::string(fallback) : out;
}

// IP address text: hex digits, dots, colons, "IPv6:" tag, zone suffix.
std::string clean_addr(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (out.size() >= kAddrCap) break;
    bool ok = is_ascii_alnum(c) || c == '.' || c == ':' || c == '%' || c == '-' || c == '_';
    out.push_back(ok ? static_cast<char>(c) : '?');
  }
  return out.empty() ? std::string("unknown") : out;
}

// Text inside a (comment) or a "quoted string" inside one: no controls, no
// 8-bit, nothing that opens or closes a comment or quote, or escapes.
std::string clean_comment(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (out.size() >= kCommentCap) break;
    bool bad = c < 0x20 || c >= 0x7f || c == '(' || c == ')' || c == '\\' || c == '"';
    out.push_back(bad ? '?' : static_cast<char>(c));
  }
  return out;
}

std::string clean_queue_id(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (out.size() >= kNameCap) break;
    out.push_back(is_ascii_alnum(c) ? static_cast<char>(c) : '?');
  }
  return out;
}

// The recipient inside "for <...>": its external form with controls masked,
// 8-bit bytes kept only as valid UTF-8 (SMTPUTF8 addresses), and the domain
// restricted to hostname/literal characters so that '>' cannot end the
// angle brackets early.
std::string clean_recipient(const Address& a) {
  std::string text = quote_local(a.local);
  if (!a.domain.empty()) {
    text += '@';
    for (unsigned char c : a.domain) {
      bool ok = is_ascii_alnum(c) || c == '.' || c == '-' || c == '_' || c == '[' || c == ']' || c == ':' ||
                c >= 0x80;
      text.push_back(ok ? static_cast<char>(c) : '?');
    }
  }
  std::string out;
  for (std::size_t i = 0; i < text.size() && out.size() < kRecipientCap;) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      std::size_t n = utf8_sequence_length(text, i);
      if (n == 0) {
        out.push_back('?');
        ++i;
      } else {
        out.append(text, i, n);
        i += n;
      }
      continue;
    }
    out.push_back(is_ctl(c) ? '?' : static_cast<char>(c));
    ++i;
  }
  return out;
}

}  // namespace

std::string_view protocol_name(ReceivedProtocol p) {
  switch (p) {
    case ReceivedProtocol::kSmtp: return "SMTP";
    case ReceivedProtocol::kEsmtp: return "ESMTP";
    case ReceivedProtocol::kEsmtpa: return "ESMTPA";
    case ReceivedProtocol::kEsmtps: return "ESMTPS";
    case ReceivedProtocol::kEsmtpsa: return "ESMTPSA";
    case ReceivedProtocol::kUtf8smtp: return "UTF8SMTP";
    case ReceivedProtocol::kUtf8smtpa: return "UTF8SMTPA";
    case ReceivedProtocol::kUtf8smtps: return "UTF8SMTPS";
    case ReceivedProtocol::kUtf8smtpsa: return "UTF8SMTPSA";
    case ReceivedProtocol::kQmqp: return "QMQP";
  }
  return "SMTP";
}

ReceivedProtocol received_protocol(bool esmtp, bool tls, bool authenticated, bool smtputf8) {
  using P = ReceivedProtocol;
  if (!esmtp) return P::kSmtp;
  if (smtputf8) {
    if (tls && authenticated) return P::kUtf8smtpsa;
    if (tls) return P::kUtf8smtps;
    if (authenticated) return P::kUtf8smtpa;
    return P::kUtf8smtp;
  }
  if (tls && authenticated) return P::kEsmtpsa;
  if (tls) return P::kEsmtps;
  if (authenticated) return P::kEsmtpa;
  return P::kEsmtp;
}

std::string build_received(const ReceivedInfo& in) {
  std::string client_name = clean_name(in.client_name, "unknown");
  std::string helo = in.helo_name.empty() ? client_name : clean_name(in.helo_name, "unknown");
  // An IPv6 address carries its RFC 5321 tag, as Postfix's rfc_addr does;
  // callers may pass it with or without.
  std::string addr = clean_addr(in.client_addr);
  if (is_valid_ipv6(addr)) addr.insert(0, "IPv6:");
  std::string out = fmt::format("Received: from {} ({} [{}])", helo, client_name, addr);

  if (in.tls) {
    const ReceivedTls& t = *in.tls;
    out += fmt::format("\n\t(using {} with cipher {} ({}/{} bits))", clean_comment(t.protocol),
                       clean_comment(t.cipher), t.cipher_usebits, t.cipher_algbits);
    if (t.have_peer_cn) {
      out += fmt::format("\n\t(Client CN \"{}\", Issuer \"{}\" ({}))", clean_comment(t.peer_cn),
                         clean_comment(t.issuer_cn), t.peer_verified ? "verified OK" : "not verified");
    } else if (t.asked_client_cert) {
      out += "\n\t(Client did not present a certificate)";
    } else {
      out += "\n\t(No client certificate requested)";
    }
  }
  if (!in.sasl_username.empty())
    out += fmt::format("\n\t(Authenticated sender: {})", clean_comment(in.sasl_username));

  std::string by = fmt::format("\n\tby {} ({}) with {}", clean_name(in.myhostname, "localhost"),
                               clean_comment(in.mail_name), protocol_name(in.protocol));
  if (!in.queue_id.empty()) by += fmt::format(" id {}", clean_queue_id(in.queue_id));
  out += by;
  std::string date = mail_date(in.when);
  if (in.recipient != nullptr) {
    out += fmt::format("\n\tfor <{}>; {}", clean_recipient(*in.recipient), date);
  } else {
    out += ";\n\t";
    out += date;
  }
  return out;
}

std::string build_local_received(std::string_view myhostname, std::string_view mail_name, std::uint64_t uid,
                                 std::string_view queue_id, std::time_t when) {
  return fmt::format("Received: by {} ({}, from userid {})\n\tid {}; {}", clean_name(myhostname, "localhost"),
                     clean_comment(mail_name), uid, clean_queue_id(queue_id), mail_date(when));
}

bool is_mailbox_line(std::string_view line) {
  std::string_view after_quotes = line.substr(std::min(line.find_first_not_of('>'), line.size()));
  return after_quotes.starts_with("From ");
}

bool continues_header(std::string_view first_line) {
  return !first_line.empty() && (first_line[0] == ' ' || first_line[0] == '\t');
}

}  // namespace postern::mail
