// queue_content.h - a queue file's message content as the MessageFormatter
// reads it (copy.h), for the agents that copy a queued message (local, pipe).
//
// The content is read record by record from the file (queue::ContentCursor):
// nothing is held in memory beyond one record. Reads no parameters, logs
// nothing.
#pragma once

#include "deliver/copy.h"
#include "queue/reader.h"

namespace postern::deliver {

// `reader` must outlive the returned reader.
ContentReader queue_content(const queue::QueueFileReader& reader);

}  // namespace postern::deliver
