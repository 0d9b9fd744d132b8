// service.cpp - request dispatch for trivial-rewrite; see service.h.
#include "service.h"

#include "base/strings.h"
#include "log/log.h"

namespace postern::rewrite_service {

namespace proto = ipc::proto;

namespace {

bool fits_single_line(std::string_view s, std::size_t max) {
  return s.size() <= max && s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

}  // namespace

Result<Service> Service::create(const config::Config& cfg, std::optional<std::vector<std::string>> own) {
  auto normal = Resolver::create(cfg, Resolver::Mode::Normal, own);
  if (!normal) return normal.take_error();
  auto verify = Resolver::create(cfg, Resolver::Mode::Verify, own);
  if (!verify) return verify.take_error();
  return Service(RewriteContexts::from_config(cfg), std::move(*normal), std::move(*verify));
}

Reply Service::handle(const proto::RewriteRequest& req) {
  if (req.request == proto::RewriteOp::Rewrite) {
    const RewriteParams* params = nullptr;
    if (*req.rule == proto::kRuleLocal) params = &contexts_.local;
    else if (*req.rule == proto::kRuleRemote) params = &contexts_.remote;
    if (!params) {
      log::warning("unknown rewrite rule: {}", str::printable(*req.rule, 64));
      return proto::StatusReply{proto::kStatusFail, "unknown rewrite rule: " + str::printable(*req.rule, 64)};
    }
    proto::RewriteReply reply;
    reply.address = rewrite_address(*params, req.address);
    if (reply.address.size() > proto::kMaxAddressLength) {
      // Appending the domain made it too long for the protocol: hand the
      // address back unchanged and flagged rather than truncate it.
      reply.address = req.address;
      reply.flags = proto::resolve_flag::kError;
    }
    return reply;
  }
  auto& resolver = req.request == proto::RewriteOp::Verify ? verify_ : normal_;
  std::optional<std::string_view> sender;
  if (req.sender) sender = *req.sender;
  auto r = resolver.resolve(req.address, sender);
  if (r.recipient.size() > proto::kMaxAddressLength) {
    r.flags = (r.flags & ~proto::resolve_flag::kFinal) | proto::resolve_flag::kError;
    r.transport = "error";
    r.nexthop = "5.1.3 address too long";
    r.recipient = req.address;
  }
  if (!fits_single_line(r.transport, 256) || !fits_single_line(r.nexthop, 1024)) {
    log::warning("resolve {}: transport or next hop from the configuration is too long or has line breaks",
                 str::printable(req.address, 200));
    r.flags = (r.flags & ~proto::resolve_flag::kFinal) | proto::resolve_flag::kFail;
    r.transport.clear();
    r.nexthop = "4.3.5 bad transport or next hop in the configuration";
  }
  return r;
}

}  // namespace postern::rewrite_service
