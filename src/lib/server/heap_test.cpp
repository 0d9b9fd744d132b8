#include "server/heap.h"

#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include <gtest/gtest.h>

using namespace postern::server;

namespace {

long minor_faults() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return ru.ru_minflt;
}

// Minor faults taken while writing one byte per page of [p, p + n).
long faults_touching(char* p, std::size_t n) {
  const long page = ::sysconf(_SC_PAGESIZE);
  long before = minor_faults();
  for (std::size_t i = 0; i < n; i += static_cast<std::size_t>(page)) p[i] = 1;
  return minor_faults() - before;
}

}  // namespace

// The method first: a fresh anonymous mapping takes a fault per page
// touched, so the count below can tell premapped memory from fresh memory.
TEST(Heap, FreshPagesFaultOncePerPage) {
  const std::size_t n = 64 * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  void* m = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(m, MAP_FAILED);
  EXPECT_GE(faults_touching(static_cast<char*>(m), n), 32);
  ::munmap(m, n);
}

// Allocations after premap_heap() reuse its pages: writing them takes
// (almost) no faults, although the heap had to grow for them.
TEST(Heap, PremappedHeapTakesNoFaults) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer's allocator is not glibc's heap";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  GTEST_SKIP() << "AddressSanitizer's allocator is not glibc's heap";
#endif
#endif
  keep_heap_for_process_life();
  void* brk_before = ::sbrk(0);
  std::size_t mapped = premap_heap(kPremappedHeap);
  if (mapped == 0) GTEST_SKIP() << "no MADV_POPULATE_WRITE on this kernel";
  EXPECT_GE(mapped, kPremappedHeap - 2 * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)));
  // The heap grew: these pages were never touched before premap_heap().
  EXPECT_GT(static_cast<char*>(::sbrk(0)), static_cast<char*>(brk_before));
  const std::size_t n = kPremappedHeap / 2;
  char* p = static_cast<char*>(std::malloc(n));
  ASSERT_NE(p, nullptr);
  EXPECT_LE(faults_touching(p, n), 4);
  std::free(p);
}

// A request too small to hold a whole page maps nothing and fails nothing.
TEST(Heap, NothingToMap) {
  EXPECT_EQ(premap_heap(0), 0u);
}
