// anvil_client.cpp - smtpd's client of the anvil service (see anvil_client.h).
#include "smtpd/anvil_client.h"

#include "log/log.h"

namespace postern::smtpd {

namespace proto = ipc::proto;
using Clock = std::chrono::steady_clock;

// Bounds the queue: beyond it (a stuck anvil and a flood of sessions), new
// requests are not queued and their sessions go unlimited.
constexpr std::size_t kMaxQueue = 10000;

AnvilClient::AnvilClient(asio::io_context& io, std::filesystem::path socket, std::chrono::milliseconds timeout)
    : io_(io), path_(std::move(socket)), timeout_(timeout) {}

void AnvilClient::failed(std::string_view why) {
  if (sock_) {
    error_code ignored;
    sock_->close(ignored);
    sock_.reset();
  }
  retry_after_ = Clock::now() + kRetryDelay;
  if (!warned_) {
    log::warning("anvil service {}: {}: carrying on without connection limits", path_.string(), why);
    warned_ = true;
  }
}

void AnvilClient::enqueue(Job job) {
  queue_.push_back(std::move(job));
  if (!working_) {
    working_ = true;
    asio::co_spawn(io_, work(), asio::detached);
  }
}

asio::awaitable<std::optional<AnvilClient::Counts>> AnvilClient::count(proto::AnvilOp op, std::string service,
                                                                       std::string client) {
  if (Clock::now() < retry_after_ || queue_.size() >= kMaxQueue) co_return std::nullopt;
  auto w = std::make_shared<Waiter>(io_);
  // A safety net only: the worker always finishes a job within about two
  // timeouts (connect retry included).
  w->timer.expires_after(timeout_ * 3);
  Job job;
  job.request.request = op;
  job.request.service = std::move(service);
  job.request.client = std::move(client);
  job.waiter = w;
  enqueue(std::move(job));
  if (!w->done) {
    error_code ec;
    co_await w->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return w->result;
}

void AnvilClient::disconnect(std::string service, std::string client, std::uint64_t generation) {
  if (generation != generation_ || !sock_ || queue_.size() >= kMaxQueue) return;
  Job job;
  job.request.request = proto::AnvilOp::Disconnect;
  job.request.service = std::move(service);
  job.request.client = std::move(client);
  job.generation = generation;
  enqueue(std::move(job));
}

// One request, one reply on the current connection; a fresh one when
// there is none. A failure on a reused connection (anvil restarted) is
// retried once on a fresh one: anvil forgot the old connection's counts,
// so nothing is counted twice.
asio::awaitable<Result<std::string>> AnvilClient::exchange(const std::string& payload) {
  for (int attempt = 0;; ++attempt) {
    bool reused = sock_.has_value();
    if (!sock_) {
      sock_.emplace(io_);
      error_code ec;
      sock_->open(asio::local::stream_protocol(), ec);
      if (!ec) sock_->non_blocking(true, ec);
      if (!ec) sock_->connect(asio::local::stream_protocol::endpoint(path_.string()), ec);
      if (ec) {
        sock_.reset();
        co_return Error{"connect: " + ec.message(), ec.value()};
      }
      ++generation_;
    }
    Result<ipc::Frame> frame = make_error("not sent");
    Status st = co_await ipc::write_frame(*sock_, payload, {}, timeout_);
    if (st) {
      frame = co_await ipc::read_frame(*sock_, {}, timeout_);
    } else {
      frame = st.take_error();
    }
    if (frame) co_return std::move(frame->payload);
    error_code ignored;
    sock_->close(ignored);
    sock_.reset();
    if (!reused || attempt > 0) co_return frame.take_error();
  }
}

asio::awaitable<void> AnvilClient::work() {
  while (!queue_.empty()) {
    Job job = std::move(queue_.front());
    queue_.pop_front();
    // Counting requests have a waiter; a disconnect has none.
    const bool is_count = job.waiter != nullptr;
    if (!is_count && (job.generation != generation_ || !sock_)) continue;  // anvil already forgot it
    if (is_count && Clock::now() < retry_after_) {
      job.waiter->done = true;
      job.waiter->timer.cancel();
      continue;
    }
    std::optional<Counts> result;
    auto payload = ipc::encode(job.request);
    if (!payload) {
      // A client address or service name anvil would reject: no limit for it.
      log::warning("anvil request for {}:{}: {}", job.request.service, job.request.client, payload.error().message);
    } else {
      auto reply = co_await exchange(*payload);
      if (!reply) {
        failed(reply.error().message);
      } else if (is_count) {
        auto counts = ipc::decode<proto::AnvilReply>(*reply);
        if (counts) {
          result = Counts{counts->count, counts->rate, generation_};
          warned_ = false;
        } else if (auto refusal = proto::refusal(*reply)) {
          // Table full: anvil stays connected and already warned.
          log::debug("anvil refused {}:{}: {}", job.request.service, job.request.client, refusal->message);
        } else {
          failed(counts.error().message);
        }
      }
    }
    if (job.waiter) {
      job.waiter->result = result;
      job.waiter->done = true;
      job.waiter->timer.cancel();
    }
  }
  working_ = false;
}

}  // namespace postern::smtpd
