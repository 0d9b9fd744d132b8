// status_line.cpp - see status_line.h.
#include "deliver/status_line.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

namespace postern::deliver {
namespace {

// Log-safe copy: control characters and bytes over 0x7e become '?', and the
// text is cut at 2000 bytes, so no remote text can split a log line.
std::string printable(std::string_view s) {
  std::string out;
  out.reserve(std::min<std::size_t>(s.size(), 2000));
  for (char c : s.substr(0, 2000)) {
    auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u > 0x7e) ? '?' : c;
  }
  return out;
}

std::int64_t span(std::int64_t from, std::int64_t to) { return (from > 0 && to > from) ? to - from : 0; }

}  // namespace

std::string format_delay(std::int64_t usec) {
  if (usec < 10'000) return "0";
  double sec = static_cast<double>(usec) / 1e6;
  if (sec >= 10) return fmt::format("{}", static_cast<std::int64_t>(sec));
  // Two significant digits at most, trailing zeros dropped (0.12, 1.2, 0.05).
  std::string s = sec >= 1 ? fmt::format("{:.1f}", sec) : fmt::format("{:.2f}", sec);
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

std::string format_status_line(const StatusLine& s) {
  std::int64_t done = s.done_usec > 0 ? s.done_usec : now_usec();
  std::int64_t start = s.agent_start_usec > 0 ? s.agent_start_usec : done;
  std::int64_t conn = s.connected_usec > 0 ? s.connected_usec : start;
  std::string out = fmt::format("{}: to=<{}>", s.queue_id, printable(s.recipient));
  if (!s.orig_recipient.empty() && s.orig_recipient != s.recipient)
    out += fmt::format(", orig_to=<{}>", printable(s.orig_recipient));
  out += fmt::format(", relay={}, delay={}, delays={}/{}/{}/{}, dsn={}, status={} ({})",
                     printable(s.relay.empty() ? "none" : s.relay), format_delay(span(s.arrival_usec, done)),
                     format_delay(span(s.arrival_usec, s.active_usec > 0 ? s.active_usec : start)),
                     format_delay(span(s.active_usec, start)), format_delay(span(start, conn)),
                     format_delay(span(conn, done)), printable(s.dsn), s.status, printable(s.text));
  return out;
}

std::int64_t now_usec() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace postern::deliver
