// notify.h - notify_classes: which kinds of problem the postmaster is told of.
//
// Postfix's mail error classes. The bounce service mails the postmaster
// copies of notices (bounce, 2bounce, delay); smtpd mails a transcript of a
// session that had an error of a class in the list (data, policy, protocol,
// resource, software, and bounce for a message refused for its size).
// Parsed once per process; an unknown name is a configuration error.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace postern::mail {

enum class Problem : std::uint8_t {
  kBounce,    // mail that bounced, or (smtpd) a message refused for its size
  k2Bounce,   // a bounce that could not be returned
  kData,      // a table or other data could not be read (smtpd: Temporary lookup failure)
  kDelay,     // mail that was delayed
  kPolicy,    // a restriction refused a client request
  kProtocol,  // the client did not follow the protocol
  kResource,  // the queue file could not be written, the disk is full
  kSoftware,  // a configuration error or an internal one
};

// The class's name in notify_classes.
std::string_view problem_name(Problem p);

class Problems {
 public:
  // notify_classes' value, split into names (case does not matter).
  static Result<Problems> parse(const std::vector<std::string>& names);

  void add(Problem p) { bits_ |= bit(p); }
  bool has(Problem p) const { return (bits_ & bit(p)) != 0; }
  bool any() const { return bits_ != 0; }
  bool intersects(Problems other) const { return (bits_ & other.bits_) != 0; }
  void clear() { bits_ = 0; }

 private:
  static std::uint32_t bit(Problem p) { return 1u << static_cast<unsigned>(p); }
  std::uint32_t bits_ = 0;
};

// An address of a postmaster notice (double_bounce_sender) with "@origin"
// (myorigin) added when it has no domain, as cleanup would add it.
std::string qualify_with_origin(std::string_view addr, std::string_view origin);

}  // namespace postern::mail
