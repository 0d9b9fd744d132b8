// proxy_settings.h - how this process opens proxy:type:name tables.
//
// Postfix sends every proxy: lookup to proxymap(8), above all so that a
// chrooted daemon can read tables outside its jail (local_recipient_maps =
// proxy:unix:passwd.byname in a chrooted smtpd). Postern does the same for
// a daemon that runs chrooted; a daemon that does not opens the table in
// its own process, which gives the same answers without a round trip to
// another process per lookup. Either way a daemon may open only the tables
// proxy_read_maps approves, as with Postfix.
//
// The server skeleton sets these before a daemon's pre_drop hook opens its
// tables (from_config); the maps library reads them when it opens a proxy:
// table. A process that never sets them (the commands, unit tests) opens
// proxy: tables in-process without the approval check.
//
// Reads (from_config): proxy_read_maps, proxymap_service_name, ipc_timeout.
// Logs nothing.
#pragma once

#include <chrono>
#include <set>
#include <string>
#include <string_view>

namespace postern::config {

class Config;

struct ProxySettings {
  bool configured = false;
  // Relative to the queue directory, the working directory of every daemon
  // before and after its chroot: "private/proxymap". Empty: in-process.
  std::string socket;
  std::chrono::milliseconds timeout{3600 * 1000};
  // "type:name" of every proxy:type:name item of proxy_read_maps.
  std::set<std::string, std::less<>> approved;

  static ProxySettings from_config(const Config& cfg, bool chrooted);
};

// proxy_read_maps' approved tables: each item that starts with "proxy:"
// (repeated prefixes removed) and still names a type, like Postfix's
// proxymap. Other items (tables not reached through proxy:, parameter text
// that is not a table) approve nothing.
std::set<std::string, std::less<>> approved_proxy_tables(std::string_view proxy_read_maps);

// `spec` without its leading "proxy:" prefixes ("proxy:proxy:a:b" -> "a:b").
std::string_view without_proxy_prefix(std::string_view spec);

// The process's settings (default: not configured).
ProxySettings& proxy_settings();

}  // namespace postern::config
