// trigger.h - wake-up requests for trigger services (qmgr, pickup, ...).
//
// A trigger is a few bytes, each one letter naming a request, written to a
// service's public endpoint, which is either a Unix-domain socket or a FIFO
// (master.cf type unix or fifo; trigger() finds out with stat()). The
// sender never waits for an answer and never blocks beyond its timeout, so
// sendmail/postqueue and the master cannot hang on a busy service.
//
// Request letters (Postfix's):
//   W  wakeup: look for new work as on the periodic timer
//      (pickup: scan maildrop; qmgr: scan the incoming queue)
//   I  qmgr: scan the incoming queue
//   D  qmgr: scan the deferred queue
//   A  qmgr: ignore queue file time stamps in the scans requested
//   F  qmgr: forget which transports/destinations are dead (flush)
// `postqueue -f` / `sendmail -q` send "FADI"; postdrop and cleanup send "W"
// to pickup and qmgr respectively.
//
// Receivers read at most kMaxTriggerBytes and parse them with
// parse_trigger(), which ignores (and logs) unknown bytes.
//
// Logs: "warning: <service>: ignoring unknown trigger request bytes ..."
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "base/result.h"

namespace postern::ipc {

inline constexpr char kTriggerWakeup = 'W';
inline constexpr char kTriggerScanIncoming = 'I';
inline constexpr char kTriggerScanDeferred = 'D';
inline constexpr char kTriggerScanAll = 'A';
inline constexpr char kTriggerFlushDead = 'F';

inline constexpr std::size_t kMaxTriggerBytes = 1024;
inline constexpr std::chrono::milliseconds kDefaultTriggerTimeout{1000};

struct TriggerRequest {
  bool wakeup = false;
  bool scan_incoming = false;
  bool scan_deferred = false;
  bool scan_all = false;
  bool flush_dead = false;
  std::size_t ignored = 0;  // unknown bytes seen (after parse_trigger)

  bool any() const { return wakeup || scan_incoming || scan_deferred || scan_all || flush_dead; }
  bool operator==(const TriggerRequest&) const = default;
};

// The bytes for a request, in the order F A D I W (only the flags set).
std::string trigger_bytes(const TriggerRequest& r);

// Typed flags from received bytes. Repeats are harmless; unknown bytes are
// counted in `ignored` and logged once per request as a warning naming
// `service`. At most kMaxTriggerBytes are examined.
TriggerRequest parse_trigger(std::string_view bytes, std::string_view service);

// Delivers `bytes` (1..kMaxTriggerBytes) to the trigger endpoint at `path`
// and closes it. Fails if the endpoint does not exist, is not a socket or
// FIFO, has no reader, or does not accept the bytes within `timeout`.
Status trigger(const std::string& path, std::string_view bytes,
               std::chrono::milliseconds timeout = kDefaultTriggerTimeout);

}  // namespace postern::ipc
