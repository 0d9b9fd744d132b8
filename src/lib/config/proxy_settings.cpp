// proxy_settings.cpp - see proxy_settings.h.
#include "config/proxy_settings.h"

#include "config/config.h"
#include "config/registry.h"

namespace postern::config {

namespace {
constexpr std::string_view kPrefix = "proxy:";
}  // namespace

std::string_view without_proxy_prefix(std::string_view spec) {
  while (spec.starts_with(kPrefix)) spec.remove_prefix(kPrefix.size());
  return spec;
}

std::set<std::string, std::less<>> approved_proxy_tables(std::string_view proxy_read_maps) {
  std::set<std::string, std::less<>> out;
  for (const auto& item : split_list(proxy_read_maps)) {
    if (!std::string_view(item).starts_with(kPrefix)) continue;
    std::string_view t = without_proxy_prefix(item);
    if (t.find(':') != std::string_view::npos) out.emplace(t);
  }
  return out;
}

ProxySettings ProxySettings::from_config(const Config& cfg, bool chrooted) {
  ProxySettings s;
  s.configured = true;
  if (chrooted) s.socket = "private/" + cfg.str("proxymap_service_name");
  s.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.time("ipc_timeout"));
  s.approved = approved_proxy_tables(cfg.str("proxy_read_maps"));
  return s;
}

ProxySettings& proxy_settings() {
  static ProxySettings s;
  return s;
}

}  // namespace postern::config
