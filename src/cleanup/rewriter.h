// rewriter.h - ask trivial-rewrite to put an address in canonical form.
//
// cleanup rewrites every envelope address (rule "local") and, for clients
// that local_header_rewrite_clients allows, every header address through
// the trivial-rewrite service: "user" -> "user@$myorigin", "user@host" ->
// "user@host.$mydomain", and so on.
//
// ServiceRewriter adapts the process-wide rewrite::AsyncClient (which
// caches answers and keeps connections to queue_directory/private/
// $rewrite_service_name open) to the Rewriter interface that Message uses;
// tests substitute their own Rewriter. When the service's socket does not
// exist at all - master.cf has no trivial-rewrite service - it falls back,
// with one warning per process, to the part of the local rule that matters
// most: append @$myorigin to an address without a domain
// (append_at_myorigin). Any other failure (refused, timeout, malformed
// reply, a table lookup failure in trivial-rewrite) is an error: the
// message is deferred, never queued with a half-rewritten address.
//
// Parameters (passed in): myorigin, append_at_myorigin.
// Logs: "warning: rewrite service ... not available: using built-in
// rewriting (append @$myorigin)", once per process.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "aio/asio.h"
#include "base/result.h"
#include "cleanup/address_map.h"  // append_myorigin()

namespace postern::rewrite {
class AsyncClient;
}

namespace postern::cleanup {

class Rewriter {
 public:
  virtual ~Rewriter() = default;
  // `rule` is "local" or "remote". The views are used before the first
  // suspension only.
  virtual asio::awaitable<Result<std::string>> rewrite(std::string_view rule, std::string_view address) = 0;
};

struct RewriteFallback {
  std::filesystem::path socket;  // queue_directory/private/rewrite
  std::string myorigin;
  bool append_at_myorigin = true;
};

class ServiceRewriter : public Rewriter {
 public:
  ServiceRewriter(rewrite::AsyncClient& client, const RewriteFallback& fallback)
      : client_(client), fallback_(fallback) {}

  asio::awaitable<Result<std::string>> rewrite(std::string_view rule, std::string_view address) override;

 private:
  rewrite::AsyncClient& client_;
  const RewriteFallback& fallback_;
};

}  // namespace postern::cleanup
