// agent_pool.cpp - see agent_pool.h.
#include "agent_pool.h"

#include <sys/socket.h>

#include <cerrno>

namespace postern::qmgr {

namespace fs = std::filesystem;
using error_code = boost::system::error_code;
using Clock = std::chrono::steady_clock;


namespace {

// An idle agent sends nothing: readable means it closed the connection
// (EOF or a reset), or broke the protocol. Either way it is not reusable.
bool still_open(LocalSocket& sock) {
  char b;
  ssize_t n = ::recv(sock.native_handle(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

AgentPool::AgentPool(asio::io_context& io, fs::path private_dir)
    : io_(io), private_dir_(std::move(private_dir)), timer_(io) {}

Result<AgentPool::Lease> AgentPool::acquire(const std::string& transport) {
  if (auto it = idle_.find(transport); it != idle_.end()) {
    auto& v = it->second;
    while (!v.empty()) {
      Idle c = std::move(v.back());
      v.pop_back();
      if (still_open(c.sock)) {
        if (v.empty()) idle_.erase(it);
        return Lease{std::move(c.sock), true};
      }
    }
    idle_.erase(it);
  }
  return connect(transport);
}

Result<AgentPool::Lease> AgentPool::connect(const std::string& transport) {
  Lease l{LocalSocket(io_), false};
  if (auto st = connect_local(l.sock, private_dir_ / transport); !st) return st.take_error();
  return l;
}

void AgentPool::release(const std::string& transport, LocalSocket sock) {
  idle_[transport].push_back(Idle{std::move(sock), Clock::now()});
  arm_timer();
}

void AgentPool::arm_timer() {
  if (timer_armed_) return;
  timer_armed_ = true;
  timer_.expires_after(kIdleLimit);
  timer_.async_wait([this](const error_code& ec) {
    timer_armed_ = false;
    if (ec) return;
    expire();
  });
}

void AgentPool::expire() {
  const auto cutoff = Clock::now() - kIdleLimit;
  for (auto it = idle_.begin(); it != idle_.end();) {
    auto& v = it->second;
    std::size_t old = 0;
    while (old < v.size() && v[old].since <= cutoff) ++old;
    v.erase(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(old));  // closes them
    it = v.empty() ? idle_.erase(it) : std::next(it);
  }
  if (!idle_.empty()) arm_timer();
}

}  // namespace postern::qmgr
