// listener.h - opening the sockets and fifos the master owns.
//
// The master opens every listener itself (so that privileged ports and
// socket files are created before any daemon runs), keeps them across
// reloads when the service is unchanged, and hands them to children on
// fixed descriptors.
//
//   inet   "port", "host:port", "[ipv6]:port", or a service name; without a
//          host, one socket per address in inet_interfaces
//   unix   queue_directory/{private,public}/NAME (mode 0666; access is
//          controlled by the directory: private 0700, public 0710)
//   fifo   queue_directory/{private,public}/NAME, opened read-write so that
//          it never reports EOF
// unix-dgram and pass services are refused with an error.
//
// Parameters: inet_interfaces, inet_protocols, queue_directory.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "config/config.h"
#include "config/master_cf.h"

namespace postern::master {

struct Listener {
  UniqueFd fd;
  std::string description;      // "127.0.0.1:2525" or a path
  std::filesystem::path path;   // unix/fifo only
};

Result<std::vector<Listener>> open_listeners(const config::MasterService& svc, const config::Config& cfg);

// Where a unix or fifo service's endpoint lives.
std::filesystem::path endpoint_path(const config::MasterService& svc, const config::Config& cfg);

}  // namespace postern::master
