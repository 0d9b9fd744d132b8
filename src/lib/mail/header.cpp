// header.cpp - see header.h.
#include "mail/header.h"

#include <array>

#include "base/strings.h"
#include "mail/text.h"

namespace postern::mail {

namespace {

using namespace header_flag;
constexpr unsigned kXRecipient = kRecipient | kExtract;

// Postfix's header_opts table plus Subject. Lookups are case-insensitive.
constexpr std::array<HeaderInfo, 32> kHeaders{{
    {"Apparently-To", HeaderKind::kApparentlyTo, kRecipient},
    {"Bcc", HeaderKind::kBcc, kXRecipient},
    {"Cc", HeaderKind::kCc, kXRecipient},
    {"Content-Description", HeaderKind::kContentDescription, kMime},
    {"Content-Disposition", HeaderKind::kContentDisposition, kMime},
    {"Content-ID", HeaderKind::kContentId, kMime},
    {"Content-Length", HeaderKind::kContentLength, 0},
    {"Content-Transfer-Encoding", HeaderKind::kContentTransferEncoding, kMime},
    {"Content-Type", HeaderKind::kContentType, kMime},
    {"Date", HeaderKind::kDate, 0},
    {"Delivered-To", HeaderKind::kDeliveredTo, 0},
    {"Disposition-Notification-To", HeaderKind::kDispositionNotificationTo, kSender},
    {"Errors-To", HeaderKind::kErrorsTo, kSender},
    {"From", HeaderKind::kFrom, kSender},
    {"Mail-Followup-To", HeaderKind::kMailFollowupTo, kSender},
    {"Message-ID", HeaderKind::kMessageId, 0},
    {"MIME-Version", HeaderKind::kMimeVersion, kMime},
    {"Received", HeaderKind::kReceived, 0},
    {"Reply-To", HeaderKind::kReplyTo, kSender},
    {"Resent-Bcc", HeaderKind::kResentBcc, kXRecipient | kResent},
    {"Resent-Cc", HeaderKind::kResentCc, kXRecipient | kResent},
    {"Resent-Date", HeaderKind::kResentDate, kResent},
    {"Resent-From", HeaderKind::kResentFrom, kSender | kResent},
    {"Resent-Message-ID", HeaderKind::kResentMessageId, kResent},
    {"Resent-Reply-To", HeaderKind::kResentReplyTo, kRecipient | kResent},
    {"Resent-Sender", HeaderKind::kResentSender, kSender | kResent},
    {"Resent-To", HeaderKind::kResentTo, kXRecipient | kResent},
    {"Return-Path", HeaderKind::kReturnPath, kSender},
    {"Return-Receipt-To", HeaderKind::kReturnReceiptTo, kSender},
    {"Sender", HeaderKind::kSender, kSender},
    {"Subject", HeaderKind::kSubject, 0},
    {"To", HeaderKind::kTo, kXRecipient},
}};

bool is_blank(char c) { return c == ' ' || c == '\t'; }

}  // namespace

const HeaderInfo* find_header(std::string_view name) {
  while (!name.empty() && is_blank(name.back())) name.remove_suffix(1);
  for (const auto& h : kHeaders)
    if (str::iequals(h.name, name)) return &h;
  return nullptr;
}

HeaderKind classify_header(std::string_view name) {
  const HeaderInfo* h = find_header(name);
  return h ? h->kind : HeaderKind::kOther;
}

std::string_view header_name(HeaderKind kind) {
  for (const auto& h : kHeaders)
    if (h.kind == kind) return h.name;
  return {};
}

unsigned header_flags(HeaderKind kind) {
  for (const auto& h : kHeaders)
    if (h.kind == kind) return h.flags;
  return 0;
}

std::size_t header_name_length(std::string_view line) {
  std::size_t len = 0;
  std::size_t i = 0;
  // Name: printable ASCII except ':'.
  while (i < line.size()) {
    unsigned char c = static_cast<unsigned char>(line[i]);
    if (c == ':' || c <= 0x20 || c >= 0x7f) break;
    ++len;
    ++i;
  }
  if (len == 0) return 0;
  // RFC 822 obsolete syntax: blanks between the name and the colon.
  while (i < line.size() && is_blank(line[i])) ++i;
  return (i < line.size() && line[i] == ':') ? len : 0;
}

std::string Header::text() const {
  std::string out;
  out.reserve(name.size() + 1 + value.size());
  out += name;
  out += ':';
  out += value;
  return out;
}

HeaderParser::HeaderParser(HeaderParserOptions options) : options_(options) {
  if (options_.header_size_limit == 0) options_.header_size_limit = 1;
}

void HeaderParser::append_text(std::string_view text) {
  if (has_8bit(text)) pending_.has_8bit = true;
  const std::size_t limit = options_.header_size_limit;
  if (pending_size_ >= limit) {
    if (!text.empty()) pending_.truncated = true;
    return;
  }
  std::size_t room = limit - pending_size_;
  if (text.size() > room) {
    text = text.substr(0, room);
    pending_.truncated = true;
  }
  pending_.value.append(text);
  pending_size_ += text.size();
}

std::optional<Header> HeaderParser::take_pending() {
  if (!have_pending_) return std::nullopt;
  have_pending_ = false;
  pending_size_ = 0;
  ++count_;
  Header out = std::move(pending_);
  pending_ = Header{};
  return out;
}

HeaderStep HeaderParser::feed(std::string_view line) {
  HeaderStep step;
  if (!in_headers_) {
    step.body_line = true;
    return step;
  }
  if (have_pending_ && !line.empty() && is_blank(line.front())) {
    // Folded continuation of the pending header. The "\n" is part of the
    // header's size, as in Postfix.
    append_text("\n");
    append_text(line);
    return step;
  }
  step.header = take_pending();
  if (std::size_t name_len = header_name_length(line); name_len > 0) {
    have_pending_ = true;
    pending_.name = std::string(line.substr(0, name_len));
    pending_.kind = classify_header(pending_.name);
    pending_size_ = name_len + 1;
    std::size_t colon = line.find(':', name_len);
    append_text(line.substr(colon + 1));
    return step;
  }
  // Not a header and not a continuation: the header section is over.
  in_headers_ = false;
  step.end_of_headers = true;
  if (!line.empty()) {
    step.missing_separator = true;
    step.body_line = true;
  }
  return step;
}

std::optional<Header> HeaderParser::finish() {
  in_headers_ = false;
  return take_pending();
}

}  // namespace postern::mail
