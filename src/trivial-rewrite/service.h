// service.h - the trivial-rewrite service: requests in, replies out.
//
// Service::handle() answers one decoded trivial_rewrite_request (rewrite,
// resolve, verify) without I/O, so tests can drive it directly; serve() runs
// one client connection: requests one at a time until the client closes,
// stays idle longer than max_idle (so the process can retire), or sends
// something malformed (logged as a warning, answered with a status reply
// kStatusFail, then the connection is closed).
//
// Parameters: those of rewrite.h and resolve.h, plus ipc_timeout (a request
// or reply that takes longer is abandoned) and max_idle. When a lookup table
// changes, the process finishes its clients and exits so that the master
// starts a fresh one with the new tables (Postfix does the same).
// Logs: warning on malformed requests and unknown rules; info when tables change.
#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "base/result.h"
#include "config/config.h"
#include "ipc/proto/status.h"
#include "ipc/proto/trivial_rewrite.h"
#include "resolve.h"
#include "rewrite.h"

namespace postern::server {
class Context;
}

namespace postern::rewrite_service {

using Reply = std::variant<ipc::proto::RewriteReply, ipc::proto::ResolveReply, ipc::proto::StatusReply>;

class Service {
 public:
  static Result<Service> create(const config::Config& cfg,
                                std::optional<std::vector<std::string>> own_addresses = std::nullopt);

  Reply handle(const ipc::proto::RewriteRequest& req);
  bool tables_changed() const { return normal_.changed() || verify_.changed(); }

 private:
  Service(RewriteContexts c, Resolver n, Resolver v)
      : contexts_(std::move(c)), normal_(std::move(n)), verify_(std::move(v)) {}
  RewriteContexts contexts_;
  Resolver normal_;
  Resolver verify_;
};

}  // namespace postern::rewrite_service
