// hosts_file.h - names of addresses from the host's own hosts file.
//
// Postfix's smtpd names a client with getnameinfo(), which on nearly every
// system asks /etc/hosts before DNS ("hosts: files dns"): 127.0.0.1 is
// "localhost" without a query. Postern's resolver never reads the hosts
// file (mail routing must not depend on it), so smtpd consults this table
// first for the client name, and only then asks DNS. Besides matching
// Postfix, it keeps a slow or distant name server from delaying every
// local client's greeting.
//
// Loaded once, before the privilege drop and any chroot. Hostile input is
// harmless: the file is read up to kMaxHostsFile bytes, at most
// kMaxHostsEntries addresses are kept, names that are not plain host names
// are ignored. A missing or unreadable file is an empty table.
//
// Reads no parameters, logs nothing.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace postern::dns {

inline constexpr std::size_t kMaxHostsFile = 1 << 20;
inline constexpr std::size_t kMaxHostsEntries = 10000;

class HostsFile {
 public:
  static HostsFile load(const std::filesystem::path& path = "/etc/hosts");
  static HostsFile parse(std::string_view text);

  // The first name listed for `address` (IPv4 or IPv6 text in any valid
  // spelling), or nullopt.
  std::optional<std::string> name_of(std::string_view address) const;
  std::size_t size() const { return names_.size(); }

 private:
  std::unordered_map<std::string, std::string> names_;  // canonical address -> name
};

}  // namespace postern::dns
