// miss_cache.h - names a name service did not know a moment ago.
//
// unix:passwd.byname is asked for "user@domain" before "user" on every
// recipient check of a local address (Postfix's lookup order for
// local_recipient_maps), and that name is almost never an account. With
// Debian's default nsswitch.conf ("passwd: files systemd") every name the
// files do not know then costs the systemd module some 60 system calls
// (userdb directory probes): more than all of the rest of smtpd's work
// for a message. So a "no such entry" answer is remembered for a second,
// as nscd would remember it. Found entries are never remembered: a removed
// account is noticed at once, a created one within kTtl. Errors are not
// answers and are not remembered either.
//
// Bounded: at most kMaxEntries names; when full, expired names are dropped,
// and if none has expired, all of them. Thread-safe.
//
// Reads no parameters. Logs nothing.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

namespace postern::maps {

class MissCache {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kTtl{1000};
  static constexpr std::size_t kMaxEntries = 256;

  explicit MissCache(std::function<Clock::time_point()> now = Clock::now) : now_(std::move(now)) {}

  // True when `key` was added less than kTtl ago.
  bool recent(const std::string& key);
  void add(const std::string& key);
  std::size_t size();

 private:
  std::function<Clock::time_point()> now_;
  std::mutex mu_;
  std::unordered_map<std::string, Clock::time_point> until_;
};

}  // namespace postern::maps
