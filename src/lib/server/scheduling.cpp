// scheduling.cpp - see scheduling.h.
#include "server/scheduling.h"

#include <sched.h>

#include <cerrno>
#include <cstring>

#include "log/log.h"

namespace postern::server {

void apply_scheduling_policy(bool batch) {
  struct sched_param p {};
  if (::sched_setscheduler(0, batch ? SCHED_BATCH : SCHED_OTHER, &p) != 0)
    log::warning("cannot set the {} scheduling policy: {}", batch ? "SCHED_BATCH" : "SCHED_OTHER",
                 std::strerror(errno));
}

}  // namespace postern::server
