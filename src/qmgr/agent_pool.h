// agent_pool.h - qmgr's idle connections to delivery agents, kept for reuse.
//
// A delivery agent answers a delivery_request and then waits for the next
// one on the same connection (ipc/proto/deliver.h). qmgr keeps the
// connection of each finished delivery here, per transport, and the next
// delivery to that transport takes it instead of connecting. That spares
// every delivery a connect and an accept, and, for a one-client-at-a-time
// agent (local), the agent's busy/available reports and the master's
// wake-ups for them.
//
// A kept connection holds an agent process (local) or one of its client
// slots (smtp), so it goes after kIdleLimit unused. The most recently used
// connection is taken first, so that a lull lets the others expire and
// their processes retire. A kept connection is checked before reuse: one
// the agent closed meanwhile (it retired, stopped for a reload, or died)
// is dropped, and the delivery connects anew.
//
// Reads no parameters, logs nothing.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "ipc/status_call.h"
#include "aio/asio.h"
#include "base/result.h"

namespace postern::qmgr {

using LocalSocket = asio::local::stream_protocol::socket;

using ipc::connect_local;  // ipc/status_call.h

class AgentPool {
 public:
  // Long enough to carry a steady flow (a delivery every few hundred
  // milliseconds keeps a connection), short enough that an idle agent
  // process is not held from retiring (max_idle is 100 s by default).
  static constexpr std::chrono::seconds kIdleLimit{2};

  struct Lease {
    LocalSocket sock;
    bool reused = false;  // a kept connection, not a new one
  };

  // private_dir: queue_directory/private, where the agents listen.
  AgentPool(asio::io_context& io, std::filesystem::path private_dir);

  // A kept connection to the transport that is still open, else a new one.
  Result<Lease> acquire(const std::string& transport);
  // A new connection, never a kept one.
  Result<Lease> connect(const std::string& transport);
  // Keeps the connection of a delivery whose agent answered and did not
  // say closing.
  void release(const std::string& transport, LocalSocket sock);

 private:
  struct Idle {
    LocalSocket sock;
    std::chrono::steady_clock::time_point since;
  };
  void arm_timer();
  void expire();

  asio::io_context& io_;
  std::filesystem::path private_dir_;
  std::map<std::string, std::vector<Idle>> idle_;  // oldest first
  asio::steady_timer timer_;
  bool timer_armed_ = false;
};

}  // namespace postern::qmgr
