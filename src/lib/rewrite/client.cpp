// client.cpp - trivial-rewrite clients and their answer cache; see client.h.
//
// Connecting to a Unix-domain socket never waits for the server to accept:
// the socket is non-blocking, and a full listen backlog (EAGAIN) is an error
// straight away, so a busy service costs nothing but the error.
#include "rewrite/client.h"

#include "ipc/async.h"
#include "ipc/schema.h"

namespace postern::rewrite {

namespace proto = ipc::proto;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------- cache

std::string Cache::key(proto::RewriteOp op, std::string_view rule_or_sender, bool has_sender,
                       std::string_view address) {
  std::string k;
  k.reserve(address.size() + rule_or_sender.size() + 4);
  k += static_cast<char>('0' + static_cast<int>(op));
  k += has_sender ? 'S' : '-';
  k += rule_or_sender;
  k += '\0';
  k += address;
  return k;
}

const Cache::Value* Cache::find(const std::string& key, Clock::time_point now) {
  auto it = map_.find(key);
  if (it == map_.end()) return nullptr;
  if (now >= it->second->expires) {
    lru_.erase(it->second);
    map_.erase(it);
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  return &it->second->value;
}

void Cache::put(std::string key, Value v, Clock::time_point now) {
  if (capacity_ == 0) return;
  if (auto it = map_.find(key); it != map_.end()) {
    lru_.erase(it->second);
    map_.erase(it);
  }
  while (map_.size() >= capacity_) {
    map_.erase(lru_.back().key);
    lru_.pop_back();
  }
  lru_.push_front(Entry{key, std::move(v), now + ttl_});
  map_.emplace(std::move(key), lru_.begin());
}

namespace {

proto::RewriteRequest make_request(proto::RewriteOp op, std::string_view address,
                                   std::optional<std::string_view> rule, std::optional<std::string_view> sender) {
  proto::RewriteRequest req;
  req.request = op;
  req.address = std::string(address);
  if (rule) req.rule = std::string(*rule);
  if (sender) req.sender = std::string(*sender);
  return req;
}

Resolved to_resolved(proto::ResolveReply r) {
  return Resolved{r.flags, std::move(r.transport), std::move(r.nexthop), std::move(r.recipient)};
}

Error with_service(const std::filesystem::path& path, const Error& e) {
  return Error{"trivial-rewrite " + path.string() + ": " + e.message, e.sys_errno};
}

}  // namespace

// ---------------------------------------------------------------- async

struct AsyncClient::Conn {
  explicit Conn(asio::io_context& io) : sock(io) {}
  ipc::LocalSocket sock;
  Clock::time_point last_used;
};

AsyncClient::AsyncClient(asio::io_context& io, std::filesystem::path socket, Options options)
    : io_(io), path_(std::move(socket)), options_(options), cache_(options.cache_size, options.cache_ttl) {}

AsyncClient::~AsyncClient() = default;

// Sends one request payload and returns the reply payload. A connection
// whose reply is not a rewrite_reply/resolve_reply (a refusal, a stranger)
// is not reused: the service closes after a refusal.
asio::awaitable<Result<std::string>> AsyncClient::exchange(std::string payload) {
  const auto deadline = Clock::now() + options_.timeout;
  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<Conn> c;
    bool reused = false;
    // The retry always takes a fresh connection: the other kept ones were
    // most likely made to the same server process, which closed them all
    // when it retired.
    while (attempt == 0 && !idle_.empty() && !c) {
      auto cand = std::move(idle_.back());
      idle_.pop_back();
      if (Clock::now() - cand->last_used <= options_.idle && cand->sock.is_open()) {
        c = std::move(cand);
        reused = true;
      }
    }
    if (!c) {
      c = std::make_unique<Conn>(io_);
      error_code ec;
      c->sock.open(asio::local::stream_protocol(), ec);
      if (!ec) c->sock.non_blocking(true, ec);
      if (!ec) c->sock.connect(asio::local::stream_protocol::endpoint(path_.string()), ec);
      if (ec) co_return Error{"trivial-rewrite " + path_.string() + ": connect: " + ec.message(), ec.value()};
      ++connects_;
    }
    auto remaining = deadline - Clock::now();
    if (remaining <= Clock::duration::zero())
      co_return make_error("trivial-rewrite {}: timeout", path_.string());
    // No co_await inside a conditional expression: GCC 12 destroys the
    // result twice (heap corruption, seen in this very function).
    Result<ipc::Frame> frame = make_error("not sent");
    Status st = co_await ipc::write_frame(c->sock, payload, {}, remaining);
    if (st) {
      frame = co_await ipc::read_frame(c->sock, {}, deadline - Clock::now());
    } else {
      frame = st.take_error();
    }
    if (!frame) {
      // A reused connection may have been closed by a retiring server; the
      // requests are idempotent, so one retry on a fresh one is safe. The
      // other kept connections go too (see above).
      if (reused && attempt == 0 && Clock::now() < deadline) {
        idle_.clear();
        continue;
      }
      co_return with_service(path_, frame.error());
    }
    auto type = ipc::peek_type(frame->payload);
    bool keep = type && (*type == proto::RewriteReply::kType || *type == proto::ResolveReply::kType);
    if (keep && idle_.size() < options_.max_idle_connections) {
      c->last_used = Clock::now();
      idle_.push_back(std::move(c));
    }
    co_return std::move(frame->payload);
  }
}

asio::awaitable<Result<std::string>> AsyncClient::rewrite(std::string_view rule, std::string_view address) {
  auto key = Cache::key(proto::RewriteOp::Rewrite, rule, false, address);
  if (auto* hit = cache_.find(key); hit && hit->rewritten) co_return *hit->rewritten;
  auto payload = ipc::encode(make_request(proto::RewriteOp::Rewrite, address, rule, std::nullopt));
  if (!payload) co_return payload.take_error();
  auto reply = co_await exchange(std::move(*payload));
  if (!reply) co_return reply.take_error();
  if (auto refusal = proto::refusal(*reply)) co_return with_service(path_, *refusal);
  auto msg = ipc::decode<proto::RewriteReply>(*reply);
  if (!msg) co_return with_service(path_, msg.error());
  if (msg->flags & proto::resolve_flag::kError)
    co_return make_error("trivial-rewrite {}: cannot rewrite address", path_.string());
  cache_.put(key, Cache::Value{msg->address, std::nullopt});
  co_return std::move(msg->address);
}

asio::awaitable<Result<Resolved>> AsyncClient::do_resolve(proto::RewriteOp op, std::string_view address,
                                                          std::optional<std::string_view> sender) {
  auto key = Cache::key(op, sender.value_or(""), sender.has_value(), address);
  if (auto* hit = cache_.find(key); hit && hit->resolved) co_return *hit->resolved;
  auto payload = ipc::encode(make_request(op, address, std::nullopt, sender));
  if (!payload) co_return payload.take_error();
  auto reply = co_await exchange(std::move(*payload));
  if (!reply) co_return reply.take_error();
  if (auto refusal = proto::refusal(*reply)) co_return with_service(path_, *refusal);
  auto msg = ipc::decode<proto::ResolveReply>(*reply);
  if (!msg) co_return with_service(path_, msg.error());
  Resolved r = to_resolved(std::move(*msg));
  if (!(r.flags & proto::resolve_flag::kFail)) cache_.put(key, Cache::Value{std::nullopt, r});
  co_return r;
}

asio::awaitable<Result<Resolved>> AsyncClient::resolve(std::string_view address,
                                                       std::optional<std::string_view> sender) {
  return do_resolve(proto::RewriteOp::Resolve, address, sender);
}

asio::awaitable<Result<Resolved>> AsyncClient::verify(std::string_view address,
                                                      std::optional<std::string_view> sender) {
  return do_resolve(proto::RewriteOp::Verify, address, sender);
}

// ---------------------------------------------------------------- blocking

Client::Client(std::filesystem::path socket, Options options)
    : path_(std::move(socket)), options_(options), cache_(options.cache_size, options.cache_ttl) {}

template <class Reply>
Result<Reply> Client::call(const proto::RewriteRequest& req) {
  const auto deadline = Clock::now() + options_.timeout;
  for (int attempt = 0;; ++attempt) {
    bool reused = conn_ && conn_->usable() && Clock::now() - last_used_ <= options_.idle;
    if (!reused) {
      conn_.reset();
      auto c = ipc::Client::connect(path_.string(), options_.timeout);
      if (!c) return with_service(path_, c.error());
      conn_.emplace(std::move(*c));
      ++connects_;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return make_error("trivial-rewrite {}: timeout", path_.string());
    auto r = conn_->call<Reply>(req, left);
    if (!r) {
      bool broken = !conn_->usable();
      if (broken) conn_.reset();
      if (broken && reused && attempt == 0 && Clock::now() < deadline) continue;
      return with_service(path_, r.error());
    }
    last_used_ = Clock::now();
    return r;
  }
}

Result<std::string> Client::rewrite(std::string_view rule, std::string_view address) {
  auto key = Cache::key(proto::RewriteOp::Rewrite, rule, false, address);
  if (auto* hit = cache_.find(key); hit && hit->rewritten) return *hit->rewritten;
  auto r = call<proto::RewriteReply>(make_request(proto::RewriteOp::Rewrite, address, rule, std::nullopt));
  if (!r) return r.take_error();
  if (r->flags & proto::resolve_flag::kError)
    return make_error("trivial-rewrite {}: cannot rewrite address", path_.string());
  cache_.put(key, Cache::Value{r->address, std::nullopt});
  return std::move(r->address);
}

Result<Resolved> Client::do_resolve(proto::RewriteOp op, std::string_view address,
                                    std::optional<std::string_view> sender) {
  auto key = Cache::key(op, sender.value_or(""), sender.has_value(), address);
  if (auto* hit = cache_.find(key); hit && hit->resolved) return *hit->resolved;
  auto r = call<proto::ResolveReply>(make_request(op, address, std::nullopt, sender));
  if (!r) return r.take_error();
  Resolved res = to_resolved(std::move(*r));
  if (!(res.flags & proto::resolve_flag::kFail)) cache_.put(key, Cache::Value{std::nullopt, res});
  return res;
}

Result<Resolved> Client::resolve(std::string_view address, std::optional<std::string_view> sender) {
  return do_resolve(proto::RewriteOp::Resolve, address, sender);
}

Result<Resolved> Client::verify(std::string_view address, std::optional<std::string_view> sender) {
  return do_resolve(proto::RewriteOp::Verify, address, sender);
}

}  // namespace postern::rewrite
