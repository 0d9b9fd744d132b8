// status_line.h - the one log line per recipient that Postfix log tools read.
//
//   3F2A1C0D2: to=<joe@example.com>, orig_to=<joe>, relay=mx.example.com[192.0.2.1]:25,
//     delay=1.2, delays=0.01/0.02/0.5/0.67, dsn=2.0.0, status=sent (250 2.0.0 Ok)
//
// (one line in the log). delay is the total time since arrival; delays are
// a = before the queue manager (arrival to active), b = in the queue manager
// (active until the agent took the request), c = connection setup (DNS,
// connect, greeting, EHLO), d = transmission. Times print like Postfix: up
// to two significant decimals below 10 s ("0.01", "1.2"), whole seconds
// above; a part below 0.01 s prints as "0".
//
// Every agent (local, smtp) and qmgr (for recipients it defers or bounces
// itself) build the line here, so the shape cannot drift. The recipient
// addresses and the text come from the network and tables: they are made
// printable first.
//
// Reads no parameters, logs nothing (the caller logs the line).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace postern::deliver {

struct StatusLine {
  std::string_view queue_id;
  std::string_view recipient;
  std::string_view orig_recipient;  // printed as orig_to=<...> when not empty and different
  std::string_view relay;           // "mx[1.2.3.4]:25", "local", "none"
  // Microseconds since the epoch; 0 for a stage that did not happen.
  std::int64_t arrival_usec = 0;
  std::int64_t active_usec = 0;
  std::int64_t agent_start_usec = 0;  // the agent took the request
  std::int64_t connected_usec = 0;    // connection set up / mailbox opened
  std::int64_t done_usec = 0;         // the outcome is known
  std::string_view dsn;               // "2.0.0"
  std::string_view status;            // sent | deferred | bounced | expired | undeliverable
  std::string_view text;              // the reason in parentheses
};

// Postfix's delay formatting (see above) for a duration in microseconds.
std::string format_delay(std::int64_t usec);

// The whole line, without the program tag.
std::string format_status_line(const StatusLine& s);

// Microseconds since the epoch, now.
std::int64_t now_usec();

}  // namespace postern::deliver
