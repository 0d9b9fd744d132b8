// request_file.h - the queue file a delivery request names, opened the way
// the agents that copy the message into mailboxes (local, virtual) need it.
//
// open_request_file() finds the file in its queue (hash levels included),
// opens it read-only and checks every record, content included, before any
// delivery starts: a mailbox, command or file must never get a message cut
// short by a bad record found half-way, and the workers that copy it rely
// on this and do not walk the content again (worker.h). It then reads the
// Delivered-To: values once, for loop detection (delivered_to.h).
//
// A failure is the Outcome that defers every recipient of the request
// (4.3.0; a content read error as read_error_outcome() says). Reads no
// parameters. Logs a warning for a file that cannot be read.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "deliver/outcome.h"
#include "queue/reader.h"

namespace postern::deliver {

struct RequestFile {
  queue::QueueFileReader reader;
  std::vector<std::string> delivered_to;  // lowercased Delivered-To: values
};

Attempt<RequestFile> open_request_file(const std::filesystem::path& queue_dir, std::string_view queue_name,
                                       std::string_view queue_id);

}  // namespace postern::deliver
