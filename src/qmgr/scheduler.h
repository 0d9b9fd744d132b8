// scheduler.h - the queue manager's pure scheduling decisions.
//
// Nothing here touches files or sockets, so the unit tests can drive it
// with a fake clock:
//
//   backoff_delay()  how long a deferred message waits before the next
//                    attempt: its age, clamped to [minimal_backoff_time,
//                    maximal_backoff_time]. Because the age roughly doubles
//                    with every retry (age + age), the waits double too, as
//                    in Postfix.
//   Window           one destination's concurrency window: starts at
//                    initial_destination_concurrency, grows by 1/window per
//                    successful delivery (one whole step per cohort of
//                    `window` deliveries), shrinks by 1/window per failure,
//                    never exceeds the destination's concurrency limit, and
//                    marks the destination dead after
//                    <transport>_destination_concurrency_failed_cohort_limit
//                    consecutive failed cohorts while at concurrency 1 or
//                    more (0 disables the dead state). A dead destination
//                    takes no deliveries until revive() (timer or flush).
//   RoundRobin       a rotating cursor used to take turns between messages
//                    and destinations, so one big mailing list cannot starve
//                    small messages.
//
// Reads no parameters (the caller passes values), logs nothing.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace postern::qmgr {

using Seconds = std::chrono::seconds;

// The wait before the next attempt of a message of age `age`.
Seconds backoff_delay(Seconds age, Seconds minimal, Seconds maximal);

// True when a message that arrived `age` ago has outlived `lifetime`
// (0: a single delivery attempt, so any deferral expires).
bool expired(Seconds age, Seconds lifetime);

struct WindowLimits {
  int initial = 5;                // initial_destination_concurrency
  int limit = 20;                 // <transport>_destination_concurrency_limit; 0: no limit
  int failed_cohort_limit = 1;    // ..._concurrency_failed_cohort_limit; 0: never dead
};

class Window {
 public:
  explicit Window(WindowLimits l);

  // How many deliveries may run at once right now (0 when dead).
  int allowed() const;
  bool can_start(int running) const { return running < allowed(); }
  bool dead() const { return dead_; }
  double concurrency() const { return window_; }
  double failed_cohorts() const { return failed_cohorts_; }

  // Feedback from one finished delivery. Returns true when this failure
  // made the destination dead.
  void success();
  bool failure();
  // Forget the dead state and start again at the initial window.
  void revive();

 private:
  int cap(double w) const;
  WindowLimits l_;
  double window_;
  double failed_cohorts_ = 0;
  bool dead_ = false;
};

// Postfix's per-transport parameter lookup: "<transport>_<suffix>" when set,
// else the default parameter's value. `lookup(name)` returns the configured
// value text or an empty string for "not set".
template <class Lookup>
std::string per_transport(Lookup&& lookup, std::string_view transport, std::string_view suffix,
                          std::string_view default_name) {
  std::string specific = std::string(transport) + "_" + std::string(suffix);
  std::string v = lookup(specific);
  if (!v.empty()) return v;
  return lookup(std::string(default_name));
}

// Parses a non-negative decimal integer parameter value; `fallback` when it
// is not one (the registry validates registered names; per-transport names
// are free-form main.cf entries).
std::int64_t parse_count(std::string_view text, std::int64_t fallback);

// Parses a time parameter value ("1s", "2m", "3": seconds by default) as
// seconds; `fallback` when it is not one.
Seconds parse_delay(std::string_view text, Seconds fallback);

// A cursor over a sequence whose size changes: next(n) returns the index
// to serve next in [0, n) and advances, wrapping around.
class RoundRobin {
 public:
  std::size_t next(std::size_t n) {
    if (n == 0) return 0;
    std::size_t i = pos_ % n;
    pos_ = i + 1;
    return i;
  }

 private:
  std::size_t pos_ = 0;
};

}  // namespace postern::qmgr
