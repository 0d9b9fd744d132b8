// anvil_client.h - smtpd's client of the anvil service (private/anvil).
//
// One per smtpd process, shared by all its sessions: one connection to
// anvil carries every session's requests, one at a time, in the order the
// sessions made them (a queue served by one worker coroutine). anvil counts
// per connection, so when the connection breaks (anvil restarted, this
// process exits) anvil forgets what this process had open; the client
// then starts a new "generation", and a session releases its count only
// into the generation that holds it.
//
//   auto c = co_await anvil.connect("smtp", "192.0.2.1");   // {count, rate, generation} or nullopt
//   auto m = co_await anvil.count(AnvilOp::Message, "smtp", "192.0.2.1");  // rate: this MAIL FROM's
//   ...
//   anvil.disconnect("smtp", "192.0.2.1", c->generation);    // queued, no wait
//
// nullopt means anvil did not answer (not running, not in master.cf, too
// slow, or refused): the caller applies no limit, as Postfix's smtpd does.
// The first failure after a success logs one warning; after a failure the
// client does not try again for kRetryDelay, so that an absent anvil costs
// sessions nothing.
//
// Reads no parameters (the caller passes the socket and the timeout);
// logs: warning: anvil service ...: carrying on without connection limits.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "aio/asio.h"
#include "ipc/async.h"
#include "ipc/proto/anvil.h"

namespace postern::smtpd {

class AnvilClient {
 public:
  static constexpr std::chrono::seconds kRetryDelay{10};

  struct Counts {
    std::int64_t count = 0;
    std::int64_t rate = 0;
    std::uint64_t generation = 0;
  };

  AnvilClient(asio::io_context& io, std::filesystem::path socket, std::chrono::milliseconds timeout);
  AnvilClient(const AnvilClient&) = delete;
  AnvilClient& operator=(const AnvilClient&) = delete;

  asio::awaitable<std::optional<Counts>> connect(std::string service, std::string client) {
    return count(ipc::proto::AnvilOp::Connect, std::move(service), std::move(client));
  }
  // Connect, Message or Recipient: counts one and returns the counts.
  asio::awaitable<std::optional<Counts>> count(ipc::proto::AnvilOp op, std::string service, std::string client);
  void disconnect(std::string service, std::string client, std::uint64_t generation);

  // Connections made so far (tests).
  std::uint64_t connects() const { return generation_; }

 private:
  struct Waiter {
    explicit Waiter(asio::io_context& io) : timer(io) {}
    asio::steady_timer timer;
    bool done = false;
    std::optional<Counts> result;
  };
  struct Job {
    ipc::proto::AnvilRequest request;
    std::uint64_t generation = 0;    // disconnect: the generation it belongs to
    std::shared_ptr<Waiter> waiter;  // connect: who waits for the answer
  };
  void enqueue(Job job);
  asio::awaitable<void> work();
  asio::awaitable<Result<std::string>> exchange(const std::string& payload);
  void failed(std::string_view why);

  asio::io_context& io_;
  std::filesystem::path path_;
  std::chrono::milliseconds timeout_;
  std::deque<Job> queue_;
  bool working_ = false;
  std::optional<ipc::LocalSocket> sock_;
  std::uint64_t generation_ = 0;
  std::chrono::steady_clock::time_point retry_after_{};
  bool warned_ = false;
};

}  // namespace postern::smtpd
