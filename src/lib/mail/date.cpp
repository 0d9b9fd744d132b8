// date.cpp - see date.h.
//
// The calendar arithmetic is done here instead of with strftime(): strftime
// follows LC_TIME (day names must be English in mail headers) and gmtime()
// fails for times outside its range; this code has neither problem.
#include "mail/date.h"

#include <cstdint>

#include <fmt/format.h>

#include "mail/text.h"

namespace postern::mail {

namespace {

constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

struct Civil {
  std::int64_t year;
  unsigned month;  // 1..12
  unsigned day;    // 1..31
  unsigned weekday;  // 0 = Sunday
  unsigned hour, minute, second;
};

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// Days since 1970-01-01 -> proleptic Gregorian date (Howard Hinnant's
// civil_from_days algorithm).
Civil civil_from_seconds(std::int64_t t) {
  Civil c{};
  std::int64_t days = floor_div(t, 86400);
  std::int64_t secs = t - days * 86400;
  c.hour = static_cast<unsigned>(secs / 3600);
  c.minute = static_cast<unsigned>(secs % 3600 / 60);
  c.second = static_cast<unsigned>(secs % 60);
  c.weekday = static_cast<unsigned>(((days % 7) + 7 + 4) % 7);  // 1970-01-01 was a Thursday
  std::int64_t z = days + 719468;
  std::int64_t era = floor_div(z, 146097);
  std::int64_t doe = z - era * 146097;
  std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  std::int64_t y = yoe + era * 400;
  std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  std::int64_t mp = (5 * doy + 2) / 153;
  c.day = static_cast<unsigned>(doy - (153 * mp + 2) / 5 + 1);
  c.month = static_cast<unsigned>(mp < 10 ? mp + 3 : mp - 9);
  c.year = y + (c.month <= 2 ? 1 : 0);
  return c;
}

// Keep only characters that are harmless inside a "(...)" comment.
std::string clean_zone(std::string_view zone) {
  std::string out;
  for (unsigned char c : zone) {
    if (is_ascii_alnum(c) || c == '+' || c == '-') out.push_back(static_cast<char>(c));
    if (out.size() >= 32) break;
  }
  return out;
}

bool is_msgid_char(unsigned char c) {
  if (is_ascii_alnum(c)) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '/': case '=': case '?': case '^': case '_': case '`': case '{': case '|': case '}':
    case '~': case '.':
      return true;
    default:
      return false;
  }
}

std::string clean_msgid_part(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    out.push_back(is_msgid_char(c) ? static_cast<char>(c) : '?');
    if (out.size() >= 255) break;
  }
  return out.empty() ? std::string("unknown") : out;
}

}  // namespace

std::string format_mail_date(std::time_t when, long utc_offset_seconds, std::string_view zone_name) {
  constexpr long kDay = 24L * 3600L;
  if (utc_offset_seconds > kDay) utc_offset_seconds = kDay;
  if (utc_offset_seconds < -kDay) utc_offset_seconds = -kDay;
  std::int64_t local = 0;
  if (__builtin_add_overflow(static_cast<std::int64_t>(when), static_cast<std::int64_t>(utc_offset_seconds),
                             &local))
    local = static_cast<std::int64_t>(when);
  Civil c = civil_from_seconds(local);
  long offset_minutes = utc_offset_seconds / 60;  // rounds towards zero
  char sign = offset_minutes < 0 ? '-' : '+';
  long abs_minutes = offset_minutes < 0 ? -offset_minutes : offset_minutes;
  std::string out = fmt::format("{}, {:02} {} {:04} {:02}:{:02}:{:02} {}{:02}{:02}", kDays[c.weekday], c.day,
                                kMonths[c.month - 1], c.year, c.hour, c.minute, c.second, sign,
                                abs_minutes / 60, abs_minutes % 60);
  std::string zone = clean_zone(zone_name);
  if (!zone.empty()) out += fmt::format(" ({})", zone);
  return out;
}

std::string mail_date(std::time_t when) {
  std::tm tm{};
  if (localtime_r(&when, &tm) == nullptr) return format_mail_date(when, 0, "UTC");
  return format_mail_date(when, tm.tm_gmtoff, tm.tm_zone ? std::string_view(tm.tm_zone) : std::string_view());
}

std::string make_message_id(std::time_t when, std::string_view queue_id, std::string_view myhostname) {
  Civil c = civil_from_seconds(static_cast<std::int64_t>(when));
  return fmt::format("<{:04}{:02}{:02}{:02}{:02}{:02}.{}@{}>", c.year, c.month, c.day, c.hour, c.minute,
                     c.second, clean_msgid_part(queue_id), clean_msgid_part(myhostname));
}

}  // namespace postern::mail
