// client.h - clients of the trivial-rewrite service (private/rewrite).
//
// cleanup, qmgr, smtpd and friends ask trivial-rewrite for every address
// they handle, often the same few domains over and over. Both clients here
// therefore cache answers: a small LRU (Options::cache_size entries, default
// 1000) whose entries expire after Options::cache_ttl (default 10 s, so that
// configuration changes take effect quickly). Only well-formed answers are
// cached, never answers flagged kFail (a table lookup failed: ask again).
//
//   rewrite::AsyncClient rw(io, queue_dir / "private/rewrite");
//   auto canon = co_await rw.rewrite("local", "joe");          // joe@example.com
//   auto where = co_await rw.resolve("joe@example.org");        // {kDefault, "smtp", "example.org", ...}
//
// AsyncClient keeps a few connections open (one per concurrent call, up to
// Options::max_idle_connections kept between calls; a connection idle for
// longer than Options::idle is closed before reuse), reconnects after any
// failure, and bounds every call with Options::timeout. A failure on a reused
// connection (the service may have retired it) is retried once on a fresh
// one. Client is the blocking equivalent for commands.
//
// Reads no parameters (callers pass ipc_timeout/ipc_idle in Options); logs
// nothing (errors are returned).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "aio/asio.h"
#include "base/result.h"
#include "ipc/client.h"
#include "ipc/proto/trivial_rewrite.h"

namespace postern::rewrite {

struct Resolved {
  std::int64_t flags = 0;  // ipc::proto::resolve_flag::k*
  std::string transport;
  std::string nexthop;
  std::string recipient;
  bool operator==(const Resolved&) const = default;
};

struct Options {
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};  // per call, connect included
  std::chrono::milliseconds idle{std::chrono::seconds(5)};      // ipc_idle
  std::size_t cache_size = 1000;                                // 0 disables the cache
  std::chrono::milliseconds cache_ttl{std::chrono::seconds(10)};
  std::size_t max_idle_connections = 4;
};

// The answer cache shared by both clients. Keys include the request kind
// and rule/sender, so different questions never share an entry.
class Cache {
 public:
  using Clock = std::chrono::steady_clock;
  struct Value {
    std::optional<std::string> rewritten;
    std::optional<Resolved> resolved;
  };
  Cache(std::size_t capacity, Clock::duration ttl) : capacity_(capacity), ttl_(ttl) {}

  static std::string key(ipc::proto::RewriteOp op, std::string_view rule_or_sender, bool has_sender,
                         std::string_view address);
  const Value* find(const std::string& key, Clock::time_point now = Clock::now());
  void put(std::string key, Value v, Clock::time_point now = Clock::now());
  std::size_t size() const { return map_.size(); }
  void clear() {
    lru_.clear();
    map_.clear();
  }

 private:
  struct Entry {
    std::string key;
    Value value;
    Clock::time_point expires;
  };
  std::size_t capacity_;
  Clock::duration ttl_;
  std::list<Entry> lru_;  // front: most recently used
  std::unordered_map<std::string, std::list<Entry>::iterator> map_;
};

class AsyncClient {
 public:
  AsyncClient(asio::io_context& io, std::filesystem::path socket, Options options = {});
  ~AsyncClient();
  AsyncClient(const AsyncClient&) = delete;
  AsyncClient& operator=(const AsyncClient&) = delete;

  // rule: "local" or "remote".
  asio::awaitable<Result<std::string>> rewrite(std::string_view rule, std::string_view address);
  asio::awaitable<Result<Resolved>> resolve(std::string_view address,
                                            std::optional<std::string_view> sender = {});
  // Like resolve(), as address verification probes are routed.
  asio::awaitable<Result<Resolved>> verify(std::string_view address,
                                           std::optional<std::string_view> sender = {});

  Cache& cache() { return cache_; }
  // Connections made so far (tests: reuse and reconnection).
  std::size_t connects() const { return connects_; }

 private:
  struct Conn;
  asio::awaitable<Result<std::string>> exchange(std::string payload);
  asio::awaitable<Result<Resolved>> do_resolve(ipc::proto::RewriteOp op, std::string_view address,
                                               std::optional<std::string_view> sender);

  asio::io_context& io_;
  std::filesystem::path path_;
  Options options_;
  Cache cache_;
  std::vector<std::unique_ptr<Conn>> idle_;
  std::size_t connects_ = 0;
};

class Client {
 public:
  explicit Client(std::filesystem::path socket, Options options = {});

  Result<std::string> rewrite(std::string_view rule, std::string_view address);
  Result<Resolved> resolve(std::string_view address, std::optional<std::string_view> sender = {});
  Result<Resolved> verify(std::string_view address, std::optional<std::string_view> sender = {});

  Cache& cache() { return cache_; }
  std::size_t connects() const { return connects_; }

 private:
  template <class Reply>
  Result<Reply> call(const ipc::proto::RewriteRequest& req);
  Result<Resolved> do_resolve(ipc::proto::RewriteOp op, std::string_view address,
                              std::optional<std::string_view> sender);

  std::filesystem::path path_;
  Options options_;
  Cache cache_;
  std::optional<ipc::Client> conn_;
  std::chrono::steady_clock::time_point last_used_{};
  std::size_t connects_ = 0;
};

}  // namespace postern::rewrite
