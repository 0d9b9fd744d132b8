// table.h - anvil's counting table: simultaneous connections and
// connection rates per (service, client).
//
// connect() counts one more open connection and one more event in the
// client's rate window; disconnect() counts one fewer. event() counts a
// MAIL FROM (Message), a RCPT TO (Recipient) or an AUTH (Auth) in the same
// window, each with a rate of its own. A rate window starts at the first request after
// the previous window ended (all three rates start again) and lasts
// anvil_rate_time_unit (Postfix's anvil does the same: a fixed window, not
// a sliding one). An entry is dropped once nothing is open and its window
// has ended, so the table holds only clients seen in the last time unit or
// still connected.
//
// Memory is bounded: at most max_entries entries. A connect for a new
// client when the table is full first drops stale entries; if none can go,
// it fails (the caller refuses the request and the smtpd applies no limit
// for that client). Entries with open connections are never evicted:
// forgetting them would let their count restart at zero.
//
// Statistics: the largest count, the largest rate and the largest table
// size since the last take_stats(), with when and for whom (anvil logs them
// every anvil_status_update_time).
//
// Reads no parameters, logs nothing (the caller does).
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "base/result.h"

namespace postern::anvil {

using Clock = std::chrono::steady_clock;

struct Counts {
  std::int64_t count = 0;
  std::int64_t rate = 0;
  bool operator==(const Counts&) const = default;
};

struct Peak {
  std::int64_t value = 0;
  std::string who;     // "service:client"
  std::time_t when = 0;  // wall clock
};

struct Stats {
  Peak count;
  Peak rate;
  Peak message;    // message (MAIL FROM) rate
  Peak recipient;  // recipient (RCPT TO) rate
  Peak auth;       // AUTH command rate
  Peak newtls;     // new TLS session rate
  Peak size;       // who is empty
};

enum class Event { Message, Recipient, Auth, NewTls };

class Table {
 public:
  Table(Clock::duration rate_unit, std::size_t max_entries);

  Result<Counts> connect(std::string_view service, std::string_view client, Clock::time_point now = Clock::now());
  // One more `e` in the window; returns that event's rate (the entry is
  // made when missing, and fails like connect() when the table is full).
  Result<std::int64_t> event(std::string_view service, std::string_view client, Event e,
                             Clock::time_point now = Clock::now());
  // `n` fewer open connections (a closing anvil connection gives back all
  // of its own at once). Unknown entries are left alone, and a count never
  // goes below zero (a late or duplicate disconnect).
  void disconnect(std::string_view service, std::string_view client, Clock::time_point now = Clock::now(),
                  std::int64_t n = 1);
  Counts lookup(std::string_view service, std::string_view client, Clock::time_point now = Clock::now()) const;
  // An event's rate in the current window, without counting one (0 for
  // an unknown client or an ended window).
  std::int64_t event_rate(std::string_view service, std::string_view client, Event e,
                          Clock::time_point now = Clock::now()) const;
  // Drops entries with nothing open whose window has ended; returns how many.
  std::size_t expire(Clock::time_point now = Clock::now());

  std::size_t size() const { return map_.size(); }
  std::size_t max_entries() const { return max_entries_; }
  Clock::duration rate_unit() const { return rate_unit_; }
  // Peaks since the last call; resets them.
  Stats take_stats();

 private:
  struct Entry {
    std::int64_t count = 0;
    std::int64_t rate = 0;
    std::int64_t messages = 0, recipients = 0, auths = 0, newtls = 0;  // in the window, like rate
    Clock::time_point window_start{};
  };
  static std::int64_t& counter(Entry& e, Event ev) {
    return ev == Event::Message ? e.messages : ev == Event::Recipient ? e.recipients : ev == Event::Auth ? e.auths
                                                                                                         : e.newtls;
  }
  using Key = std::pair<std::string, std::string>;
  using Map = std::map<Key, Entry, std::less<>>;
  // The entry for (service, client), made when missing, its window started
  // again when over; nullptr when the table is full.
  Map::iterator find_or_make(std::string_view service, std::string_view client, Clock::time_point now);
  bool window_over(const Entry& e, Clock::time_point now) const { return now - e.window_start >= rate_unit_; }
  static void raise(Peak& p, std::int64_t v, const Key* k);

  Clock::duration rate_unit_;
  std::size_t max_entries_;
  Map map_;
  Stats stats_;
};

}  // namespace postern::anvil
