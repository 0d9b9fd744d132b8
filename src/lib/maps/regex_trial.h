// regex_trial.h - compiles a POSIX regular expression once in a child
// process under a CPU-time limit, before the table compiles it for real.
//
// Why: some pattern shapes make glibc's regcomp() take exponential time in
// a few bytes (see regex_bound.h), and no estimate short of regcomp's own
// algorithm predicts how long. A table line must not hang the daemon (or
// postmap) that loads it, so a pattern the estimate cannot vouch for
// (posix_regex_needs_trial) is compiled first where it can be stopped: in a
// forked child with an ITIMER_PROF timer. regcomp() is deterministic, so a
// pattern that compiled within the limit there compiles the same way here.
// Real patterns take microseconds; the limit is a thousand times that.
#pragma once

#include <chrono>
#include <string>

namespace postern::maps {

inline constexpr std::chrono::milliseconds kRegexTrialCpuLimit{250};

// Empty when regcomp(pattern, cflags) finished within `cpu_limit` of CPU
// time in a child process; otherwise the reason, in words fit for
// "regexp map FILE, line N: <reason>: skipping this rule". A pattern that
// could not be tried (no fork) is refused too: loading it untried could
// hang the caller.
std::string posix_regex_trial(const std::string& pattern, int cflags,
                              std::chrono::milliseconds cpu_limit = kRegexTrialCpuLimit);

}  // namespace postern::maps
