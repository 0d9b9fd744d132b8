// delivered_to.h - the Delivered-To: headers of a message, for loop detection.
//
// local(8) and virtual(8) bounce a message that already carries
// "Delivered-To: <the recipient>" (a mail forwarding loop), as Postfix's
// agents do. The header comes from the message: it is bounded (value
// length, header count) and malformed text never crashes.
//
// Reads no parameters, logs nothing.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "base/result.h"
#include "deliver/copy.h"

namespace postern::deliver {

// The values of Delivered-To: headers in the message header (up to the
// first empty line), unfolded, trimmed and lowercased. At most
// `max_headers` header lines are examined (Postfix looks at the first few
// hundred only); each value is cut at 4096 bytes.
Result<std::vector<std::string>> delivered_to_values(ContentReader& content, std::size_t max_headers = 1000);

}  // namespace postern::deliver
