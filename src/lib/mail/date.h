// date.h - RFC 5322 Date: values and Postfix-style Message-ID values.
//
// mail_date() formats a time like Postfix's mail_date():
//   "Mon, 23 Nov 2026 17:32:24 +0000 (UTC)"
// in the local time zone (TZ / /etc/localtime), with a numeric UTC offset and
// the zone abbreviation as a comment. Day and month names are English
// whatever the locale; the day of month has two digits (RFC 5322 recommends a
// single space where FWS appears, which is what newer Postfix releases do).
//
// make_message_id() returns "<YYYYMMDDhhmmss.QUEUEID@myhostname>" with the
// time in UTC, as Postfix's cleanup does for a message without Message-ID.
//
// Reads no parameters (callers pass myhostname); logs nothing.
#pragma once

#include <ctime>
#include <string>
#include <string_view>

namespace postern::mail {

// Local time zone.
std::string mail_date(std::time_t when);

// Explicit zone: `utc_offset_seconds` east of UTC (clamped to +-24 hours,
// printed as +hhmm/-hhmm rounded towards zero to whole minutes) and the zone
// abbreviation for the trailing comment (only [A-Za-z0-9+-] are kept; no
// comment when nothing is left).
std::string format_mail_date(std::time_t when, long utc_offset_seconds, std::string_view zone_name);

// "<20261123173224.3F2A1C0D2@mail.example.com>". Bytes that may not appear
// in a msg-id (anything but letters, digits, '.' and "!#$%&'*+-/=?^_`{|}~")
// are replaced with '?' and an empty queue ID or hostname becomes "unknown",
// so the result can never break the header it is put in.
std::string make_message_id(std::time_t when, std::string_view queue_id, std::string_view myhostname);

}  // namespace postern::mail
