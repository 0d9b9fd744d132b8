// outcome.cpp - delivery outcomes, enhanced status codes and Postfix's errno mapping.
//
// Reads no parameters and logs nothing.
#include "deliver/outcome.h"

#include <cerrno>

namespace postern::deliver {

std::string_view to_string(Disposition d) {
  switch (d) {
    case Disposition::Sent:
      return "sent";
    case Disposition::Deferred:
      return "deferred";
    case Disposition::Bounced:
      return "bounced";
  }
  return "deferred";
}

Outcome Outcome::sent(std::string text, std::string dsn) {
  if (!valid_dsn(dsn) || dsn[0] != '2') dsn = "2.0.0";
  return Outcome{Disposition::Sent, std::move(dsn), std::move(text), 0};
}

Outcome Outcome::deferred(std::string dsn, std::string text, int err) {
  // A deferral must carry a 4.x.x code, whatever the caller computed, or the
  // DSN sent later would contradict what happened.
  if (!valid_dsn(dsn)) dsn = "4.0.0";
  dsn[0] = '4';
  return Outcome{Disposition::Deferred, std::move(dsn), std::move(text), err};
}

Outcome Outcome::bounced(std::string dsn, std::string text, int err) {
  if (!valid_dsn(dsn)) dsn = "5.0.0";
  dsn[0] = '5';
  return Outcome{Disposition::Bounced, std::move(dsn), std::move(text), err};
}

Reported report_outcome(const Outcome& o, bool soft_bounce) {
  if (soft_bounce && o.is_bounced()) return Reported{soften_dsn(o.dsn), "SOFTBOUNCE"};
  return Reported{o.dsn, to_string(o.result)};
}

std::string soften_dsn(std::string_view dsn) {
  std::string d(dsn);
  if (!d.empty() && d[0] == '5') d[0] = '4';
  return d;
}

Outcome Outcome::from_dsn(std::string_view dsn, std::string text, int err) {
  if (!valid_dsn(dsn)) return deferred("4.0.0", std::move(text), err);
  switch (dsn[0]) {
    case '2':
      return Outcome{Disposition::Sent, std::string(dsn), std::move(text), err};
    case '5':
      return bounced(std::string(dsn), std::move(text), err);
    default:
      return deferred(std::string(dsn), std::move(text), err);
  }
}

Outcome Outcome::from_errno(int err, std::string_view default_dsn, std::string text) {
  return from_dsn(mailbox_dsn(err, default_dsn), std::move(text), err);
}

Outcome& Outcome::prepend(std::string_view prefix) {
  text.insert(0, prefix);
  return *this;
}

std::string Outcome::to_string() const {
  std::string s(deliver::to_string(result));
  s += ' ';
  s += dsn;
  s += ' ';
  s += text;
  return s;
}

std::string mailbox_dsn(int err, std::string_view default_dsn) {
  if (err == EAGAIN || err == ESTALE) return "4.2.0";
  if (err == ENOSPC) return "4.3.0";
  if (err == EDQUOT || err == EFBIG) return "5.2.2";
  if (!valid_dsn(default_dsn)) return "4.0.0";
  return std::string(default_dsn);
}

namespace {

// Digits at `pos`: 1-3 of them, no leading zero unless the field is "0".
std::size_t digit_field(std::string_view text, std::size_t pos) {
  std::size_t n = 0;
  while (pos + n < text.size() && text[pos + n] >= '0' && text[pos + n] <= '9') ++n;
  if (n == 0 || n > 3 || (n > 1 && text[pos] == '0')) return 0;
  return n;
}

}  // namespace

std::size_t dsn_prefix_length(std::string_view text) {
  if (text.size() < 5) return 0;
  if (text[0] != '2' && text[0] != '4' && text[0] != '5') return 0;
  if (text[1] != '.') return 0;
  std::size_t pos = 2;
  std::size_t n = digit_field(text, pos);
  if (n == 0) return 0;
  pos += n;
  if (pos >= text.size() || text[pos] != '.') return 0;
  ++pos;
  n = digit_field(text, pos);
  if (n == 0) return 0;
  pos += n;
  if (pos < text.size() && text[pos] != ' ' && text[pos] != '\t' && text[pos] != '\r' && text[pos] != '\n')
    return 0;
  return pos;
}

bool valid_dsn(std::string_view dsn) { return !dsn.empty() && dsn_prefix_length(dsn) == dsn.size(); }

}  // namespace postern::deliver
