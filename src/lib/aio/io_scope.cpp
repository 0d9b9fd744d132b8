// io_scope.cpp - see io_scope.h. An io_context service is shut down when
// the context is destroyed; services added later are shut down earlier,
// and this one is added before any I/O object it protects, so it runs
// while the reactor and the other services still work.
#include "aio/io_scope.h"

#include <vector>

namespace postern::aio {

namespace {

class ShutdownHooks : public asio::execution_context::service {
 public:
  using key_type = ShutdownHooks;
  static inline asio::execution_context::id id;
  explicit ShutdownHooks(asio::execution_context& ctx) : service(ctx) {}
  void shutdown() override {
    auto hooks = std::move(hooks_);
    hooks_.clear();
    for (auto& h : hooks) h();
  }
  std::vector<std::function<void()>> hooks_;
};

}  // namespace

void at_io_shutdown(asio::io_context& io, std::function<void()> f) {
  asio::use_service<ShutdownHooks>(io).hooks_.push_back(std::move(f));
}

}  // namespace postern::aio
