// trigger.cpp - send and parse wake-up requests (see trigger.h).
//
// Reads no parameters. Logs a warning for unknown request bytes.
#include "ipc/trigger.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include "base/strings.h"
#include "base/unique_fd.h"
#include "ipc/unix_socket.h"
#include "log/log.h"

namespace postern::ipc {

std::string trigger_bytes(const TriggerRequest& r) {
  std::string out;
  if (r.flush_dead) out.push_back(kTriggerFlushDead);
  if (r.scan_all) out.push_back(kTriggerScanAll);
  if (r.scan_deferred) out.push_back(kTriggerScanDeferred);
  if (r.scan_incoming) out.push_back(kTriggerScanIncoming);
  if (r.wakeup) out.push_back(kTriggerWakeup);
  return out;
}

TriggerRequest parse_trigger(std::string_view bytes, std::string_view service) {
  TriggerRequest r;
  std::string unknown;  // hex of the first few unknown bytes, for the log
  for (char c : bytes.substr(0, kMaxTriggerBytes)) {
    switch (c) {
      case kTriggerWakeup: r.wakeup = true; break;
      case kTriggerScanIncoming: r.scan_incoming = true; break;
      case kTriggerScanDeferred: r.scan_deferred = true; break;
      case kTriggerScanAll: r.scan_all = true; break;
      case kTriggerFlushDead: r.flush_dead = true; break;
      default:
        if (++r.ignored <= 8) unknown += fmt::format(" 0x{:02x}", static_cast<unsigned char>(c));
    }
  }
  if (r.ignored > 0)
    log::warning("{}: ignoring {} unknown trigger request byte{}:{}{}", service, r.ignored,
                 r.ignored == 1 ? "" : "s", unknown, r.ignored > 8 ? " ..." : "");
  return r;
}

namespace {

// "trigger <path>: <error>", keeping errno for callers that look at it.
Error with_path(const std::string& path, Error e) {
  e.message = fmt::format("trigger {}: {}", path, e.message);
  return e;
}

// A FIFO write of at most PIPE_BUF bytes is atomic: all or nothing.
static_assert(kMaxTriggerBytes <= PIPE_BUF);

Status trigger_fifo(const std::string& path, std::string_view bytes, Clock::time_point deadline) {
  // O_NONBLOCK: open fails with ENXIO instead of waiting for a reader.
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fd) {
    if (errno == ENXIO) return make_error("trigger {}: no process is reading the FIFO", path);
    return sys_error("trigger {}: open", path);
  }
  for (;;) {
    ssize_t n = ::write(fd.get(), bytes.data(), bytes.size());
    if (n == static_cast<ssize_t>(bytes.size())) return {};
    if (n >= 0) return make_error("trigger {}: short write", path);
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return sys_error("trigger {}: write", path);
    // FIFO full: the service has plenty of wake-ups pending. Wait a little.
    auto now = Clock::now();
    if (now >= deadline) return make_error("trigger {}: timeout (FIFO full)", path);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
    pollfd p{fd.get(), POLLOUT, 0};
    ::poll(&p, 1, static_cast<int>(std::min<long long>(ms + 1, 100)));
  }
}

Status trigger_socket(const std::string& path, std::string_view bytes, Clock::time_point deadline) {
  auto fd = connect_unix(path, SOCK_STREAM, deadline);
  if (!fd && fd.error().sys_errno == EPROTOTYPE) {
    // master.cf type unix-dgram: one datagram is one request.
    fd = connect_unix(path, SOCK_DGRAM, deadline);
  }
  if (!fd) return with_path(path, fd.take_error());
  if (auto st = write_all(fd->get(), bytes, deadline); !st) return with_path(path, st.take_error());
  // Closing sends EOF after the bytes; the service reads both. We do not
  // wait for it to do so.
  return {};
}

}  // namespace

Status trigger(const std::string& path, std::string_view bytes, std::chrono::milliseconds timeout) {
  if (bytes.empty() || bytes.size() > kMaxTriggerBytes)
    return make_error("trigger {}: request of {} bytes (must be 1..{})", path, bytes.size(), kMaxTriggerBytes);
  auto deadline = Clock::now() + timeout;
  struct stat st {};
  if (::stat(path.c_str(), &st) < 0) return sys_error("trigger {}", path);
  if (S_ISFIFO(st.st_mode)) return trigger_fifo(path, bytes, deadline);
  if (S_ISSOCK(st.st_mode)) return trigger_socket(path, bytes, deadline);
  return make_error("trigger {}: not a socket or FIFO", path);
}

}  // namespace postern::ipc
