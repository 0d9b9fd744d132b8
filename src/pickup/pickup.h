// pickup.h - the pickup daemon's work: move maildrop files into cleanup.
//
// On every wake-up pickup scans queue_directory/maildrop and, for each
// ready file, submits its envelope and content to the cleanup service
// (origin "pickup", flags kLocalSubmission, plus kExtractRecipients when
// sendmail -t asked for it) and removes the maildrop file only after cleanup
// has reported the new queue file durable. The files are written by
// postdrop on behalf of any local user, so every one is treated as hostile:
//   - symbolic links, non-regular files and names that are not queue IDs
//     are removed with a warning (removing a link never touches its target);
//   - files without the ready mark are skipped (a postdrop still writing);
//   - files with more than one link, or writable by group or others, and
//     files that fail the queue reader's validation, are moved to corrupt/
//     with a warning;
//   - only the attributes postdrop lets a submitter set are used (full
//     name, -t flag, DSN ENVID/RET, body type); anything else is ignored.
// A cleanup failure (unreachable, 4xx) leaves the file for the next
// wake-up; a permanent rejection (5xx) moves it to corrupt/ so it is kept
// for the administrator instead of looping.
//
// Logs (Postfix's shapes):
//   ID: uid=1000 from=<alice>                 (ID: the new queue ID from cleanup)
//   warning: maildrop/NAME: ...               (refused files)
//   warning: ID: uid=N from=<x>: cleanup ...  (submission failures)
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>

#include "aio/asio.h"
#include "config/config.h"
#include "queue/layout.h"

namespace postern::pickup {

struct Settings {
  std::filesystem::path queue_root;     // queue_directory ("/" after chroot)
  std::filesystem::path cleanup_socket; // public/$cleanup_service_name
  queue::HashConfig hash;               // hash_queue_names, hash_queue_depth
  std::chrono::seconds timeout{3600};   // ipc_timeout
  std::string content_filter;           // content_filter: added to every message
  std::int64_t cleanup_flags = 0;       // receive_override_options
  std::filesystem::path bounce_socket;  // private/$bounce_service_name
  bool soft_bounce = false;             // a rejected file stays in maildrop
  std::string myhostname;               // and mail_name: the Received: header
  std::string mail_name;

  // Parameters: queue_directory, cleanup_service_name, hash_queue_names,
  // hash_queue_depth, ipc_timeout, content_filter, receive_override_options,
  // bounce_service_name, soft_bounce, myhostname, mail_name.
  static Result<Settings> from_config(const config::Config& cfg);
};

struct ScanStats {
  std::size_t submitted = 0;  // handed to cleanup and removed
  std::size_t skipped = 0;    // not ready, vanished, or cleanup unavailable (retried later)
  std::size_t refused = 0;    // removed or moved to corrupt/
};

// One pass over maildrop.
asio::awaitable<ScanStats> scan_maildrop(asio::io_context& io, const Settings& s);

}  // namespace postern::pickup
