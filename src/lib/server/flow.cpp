// flow.cpp - see flow.h.
#include "server/flow.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "server/status.h"

namespace postern::server {

namespace {

// Set once by attach_flow_pipe(), before any other thread exists.
bool g_have_read = false;
bool g_have_write = false;

bool is_pipe(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

bool have_read() { return g_have_read; }
bool have_write() { return g_have_write; }

// Reads up to n bytes without blocking; the count read.
std::size_t drain(std::size_t n) {
  char buf[256];
  std::size_t got = 0;
  while (got < n) {
    ssize_t r = ::read(kFlowReadFd, buf, std::min(sizeof buf, n - got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<std::size_t>(r);
  }
  return got;
}

}  // namespace

void attach_flow_pipe() {
  g_have_read = is_pipe(kFlowReadFd);
  g_have_write = g_have_read && is_pipe(kFlowWriteFd);
}

bool take_token() {
  if (!have_read()) return true;
  char c;
  for (;;) {
    ssize_t r = ::read(kFlowReadFd, &c, 1);
    if (r < 0 && errno == EINTR) continue;
    return r == 1;
  }
}

std::optional<std::size_t> token_count() {
  if (!have_read()) return std::nullopt;
  int n = 0;
  if (::ioctl(kFlowReadFd, FIONREAD, &n) != 0 || n < 0) return std::nullopt;
  return static_cast<std::size_t>(n);
}

void replenish(std::size_t target, std::size_t fed, bool drained) {
  if (!have_write()) return;
  auto count = token_count();
  if (!count) return;
  if (*count > target) {
    drain(*count - target);
    return;
  }
  std::size_t add = drained ? target - *count : std::min(fed, target - *count);
  static const char zeros[256] = {};
  while (add > 0) {
    ssize_t w = ::write(kFlowWriteFd, zeros, std::min(sizeof zeros, add));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;  // full (EAGAIN): enough tokens for now
    add -= static_cast<std::size_t>(w);
  }
}

}  // namespace postern::server
