// rewriter.cpp - the trivial-rewrite adapter with its built-in fallback
// (see rewriter.h). Logs the fallback warning once per process.
#include "cleanup/rewriter.h"

#include <sys/stat.h>

#include <atomic>
#include <cerrno>

#include "log/log.h"
#include "rewrite/client.h"

namespace postern::cleanup {

namespace {
std::atomic<bool> warned_fallback{false};
}  // namespace

asio::awaitable<Result<std::string>> ServiceRewriter::rewrite(std::string_view rule, std::string_view address) {
  // Copies: the caller's views must not be needed after a suspension.
  std::string r(rule), a(address);
  if (a.empty()) co_return a;  // the null sender stays null
  auto out = co_await client_.rewrite(r, a);
  if (out) co_return out;
  struct stat st {};
  if (::stat(fallback_.socket.c_str(), &st) != 0 && errno == ENOENT) {
    if (!warned_fallback.exchange(true))
      log::warning("rewrite service {} not available: using built-in rewriting (append @$myorigin)",
                   fallback_.socket.string());
    co_return fallback_.append_at_myorigin ? append_myorigin(a, fallback_.myorigin) : a;
  }
  co_return out;
}

}  // namespace postern::cleanup
