// scheduling.h - the scheduling policy of the master and its daemons
// (daemon_batch_scheduling).
//
// A message passes through five to seven processes (smtpd, cleanup,
// trivial-rewrite, qmgr, a delivery agent and its worker), and each hand-off
// wakes the next one; so does every status report to the master. Under the
// default policy the woken process preempts the one that woke it, mid-way
// through its work: smtpd, for one, is taken off the CPU about five times per
// message in the local benchmark flow, and a context switch is expensive (on
// virtual machines above all). SCHED_BATCH only changes that: a woken batch
// process waits for the CPU's current process to sleep or use up its slice
// (about a millisecond) unless another CPU is idle, and is otherwise
// scheduled as usual. An unprivileged process may choose it for itself, and
// switch back. Children (commands run by local and pipe) inherit it.
//
// Reads no parameters (the caller passes daemon_batch_scheduling). Logs a
// warning when the policy cannot be set.
#pragma once

namespace postern::server {

// SCHED_BATCH when `batch`, else the default policy (a child started by a
// batch master inherits batch, so "no" must undo it). Called by the
// skeleton for every daemon and by the master for itself.
void apply_scheduling_policy(bool batch);

}  // namespace postern::server
