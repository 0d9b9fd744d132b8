// heap.h - the heap of a daemon that the master restarts every max_use
// clients.
//
// Two things make a short life's heap expensive:
//   - glibc gives the top of the heap back once 128 KiB of it is free (and
//     serves blocks of 128 KiB or more with their own mmap), so every burst
//     of clients grew the heap again, paying a page fault per page plus a
//     TLB shootdown for each shrink (about 1.5% of the local flow's CPU in
//     smtpd's brk() shrinks alone). keep_heap_for_process_life() keeps what
//     the process took until it exits (at most max_use clients or max_idle
//     seconds later).
//   - every first touch of a heap page is a page fault, and a fault can be
//     dear on virtual machines: on the benchmark VM of the time 10-14 us per
//     page, against 0.7-0.9 us per page when madvise(MADV_POPULATE_WRITE)
//     maps a whole range in one call (a later VM: 0.7-1 us against 0.3-0.6,
//     so the gain there is small). A multi-client daemon touches most of its
//     first MiB of heap within its first clients (smtpd 0.9 MiB and cleanup
//     0.75 MiB of heap pages in the benchmark's local flow, about 200 faults
//     per process life, restarted every 100 clients; cleanup's grew to
//     1.3-1.5 MiB since), so premap_heap() maps that much at start in one
//     call.
// Long-lived servers (qmgr) keep glibc's defaults: they should return what a
// spike took.
//
// Reads no parameters. Logs nothing.
#pragma once

#include <cstddef>

namespace postern::server {

// mallopt: blocks under 1 MiB come from the heap, and the heap shrinks only
// once 32 MiB of its top is free.
void keep_heap_for_process_life();

// The heap memory that premap_heap() maps for a multi-client daemon.
inline constexpr std::size_t kPremappedHeap = 960 * 1024;

// Grows the heap by at least `bytes` (which must stay under the mmap
// threshold set above) and maps those pages now, so that the allocations
// that reuse them take no page faults. Returns the bytes mapped: 0 where
// the kernel has no MADV_POPULATE_WRITE (before Linux 5.14) or the memory
// is not there; nothing else changes then.
std::size_t premap_heap(std::size_t bytes);

}  // namespace postern::server
