// heap.cpp - see heap.h.
#include "server/heap.h"

#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14; older kernels answer EINVAL
#endif

namespace postern::server {

void keep_heap_for_process_life() {
  ::mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
  ::mallopt(M_TRIM_THRESHOLD, 32 * 1024 * 1024);
  ::mallopt(M_TOP_PAD, 256 * 1024);
}

std::size_t premap_heap(std::size_t bytes) {
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  void* block = std::malloc(bytes);
  if (!block) return 0;
  // The block's whole pages. Freed right after, it goes back to the top of
  // the heap (keep_heap_for_process_life() keeps it there), where the next
  // allocations are carved from.
  auto first = (reinterpret_cast<std::uintptr_t>(block) + page - 1) & ~(page - 1);
  auto last = (reinterpret_cast<std::uintptr_t>(block) + bytes) & ~(page - 1);
  std::size_t mapped = 0;
  if (last > first && ::madvise(reinterpret_cast<void*>(first), last - first, MADV_POPULATE_WRITE) == 0)
    mapped = last - first;
  std::free(block);
  return mapped;
}

}  // namespace postern::server
