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
//                    initial_destination_concurrency, grows by the positive
//                    feedback per successful delivery (by default 1/window:
//                    one whole step per cohort of `window` deliveries),
//                    shrinks by the negative feedback per failure,
//                    never exceeds the destination's concurrency limit, and
//                    marks the destination dead after
//                    <transport>_destination_concurrency_failed_cohort_limit
//                    consecutive failed cohorts while at concurrency 1 or
//                    more (0 disables the dead state). A dead destination
//                    takes no deliveries until revive() (timer or flush).
//   RoundRobin       a rotating cursor used to take turns between messages
//                    and destinations, so one big mailing list cannot starve
//                    small messages.
//   queue_name()     which queue (concurrency window) a recipient joins.
//   ConnCache        on-demand connection caching for one destination.
//
// Reads no parameters (the caller passes values), logs nothing.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace postern::qmgr {

using Seconds = std::chrono::seconds;

struct QueueNameOptions {
  std::string recipient_delimiter;
  bool owner_request_special = true;
  std::string double_bounce_sender = "double-bounce";
};

// Postfix's qmgr_entry_select(): while a destination gets deliveries back
// to back (one finished less than a second before the next starts), the
// agent is asked to keep its connection for the next one and to take a
// kept one (load + store). Store stops when neither concurrent deliveries
// nor back-to-back ones are going on; load stays, so that the sessions
// still cached are used up rather than new connections made beside them.
// Not just concurrency: a burst no larger than the initial concurrency
// should not leave cached sessions behind.
class ConnCache {
 public:
  using Clock = std::chrono::steady_clock;
  // The flags (load, store) for a delivery that starts now; `busy` counts
  // the destination's deliveries in progress, this one included.
  struct Flags {
    bool load = false;
    bool store = false;
  };
  Flags select(int busy, Clock::time_point now);
  // A delivery to the destination finished.
  void done(Clock::time_point now) { last_done_ = now; }
  // A delivery finished so recently that the next would be back to back:
  // qmgr keeps the destination (and this state) while its queue is empty
  // for a moment, so that a steady stream of single messages still counts
  // as back to back (Postfix forgets an empty queue at once).
  bool recent(Clock::time_point now) const { return back_to_back(now); }

 private:
  bool back_to_back(Clock::time_point now) const;
  Flags flags_;
  Clock::time_point last_done_{};
};

// Postfix's qmgr_message_resolve(): a destination's queue is named after
// the next hop, in lower case. With a recipient limit of 1 (local(8) and
// its like) the concurrency limit is per recipient instead: the queue is
// named localpart@nexthop, the localpart without its extension, so that
// user+a and user+b share one. Not for error and retry, whose "next hop"
// is the reason text.
std::string queue_name(std::size_t recipient_limit, std::string_view transport, std::string_view nexthop,
                       std::string_view recipient, const QueueNameOptions& options);

// The wait before the next attempt of a message of age `age`.
Seconds backoff_delay(Seconds age, Seconds minimal, Seconds maximal);

// True when a message that arrived `age` ago has outlived `lifetime`
// (0: a single delivery attempt, so any deferral expires).
bool expired(Seconds age, Seconds lifetime);

// <transport>_destination_concurrency_{positive,negative}_feedback:
// "N" changes the window by N per delivery, "N/concurrency" by N divided
// by the current window (so that a whole cohort of `window` deliveries
// moves it by N); 0 <= N <= 1, as Postfix accepts.
struct Feedback {
  double amount = 1.0;
  bool per_concurrency = true;  // Postfix's default, "1/concurrency"
  double step(double window) const;
};
std::optional<Feedback> parse_feedback(std::string_view text);

struct WindowLimits {
  int initial = 5;                // <transport>_initial_destination_concurrency
  int limit = 20;                 // <transport>_destination_concurrency_limit; 0: no limit
  int failed_cohort_limit = 1;    // ..._concurrency_failed_cohort_limit; 0: never dead
  Feedback positive{}, negative{};  // ..._concurrency_{positive,negative}_feedback
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
