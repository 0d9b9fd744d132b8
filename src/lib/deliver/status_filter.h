// status_filter.h - default_delivery_status_filter and the per-agent
// smtp_, lmtp_, local_, virtual_ and pipe_delivery_status_filter (Postfix's):
// a last word on each recipient's final status.
//
// The tables are asked with "enhanced-status-code SPACE text" once per
// recipient, with the outcome the agent reports (its status line and its
// answer to qmgr); the first answer of the same shape replaces code and
// text. An answer must keep the kind of result: a success code (2.x.x)
// only for a success, a failure code (4.x.x, 5.x.x) only for a failure
// (4 and 5 may trade places: a deferral may become a bounce and the other
// way round); and the text must not be empty. Any other answer, or a table
// that cannot be asked, leaves the outcome as it was, with a warning.
//
// Example (Postfix's): turn a TLS refusal into a bounce
//   /^4(\.\d+\.\d+ TLS is required, but host \S+ refused to start TLS: .+)/ 5$1
//
// Reads no parameters (the agent passes its parameter's name and value).
#pragma once

#include <memory>
#include <string_view>

#include "base/result.h"
#include "deliver/outcome.h"
#include "maps/map_list.h"

namespace postern::deliver {

class StatusFilter {
 public:
  // Null when `list` is empty.
  static Result<std::unique_ptr<StatusFilter>> open(std::string_view param, std::string_view list);

  // `o` as the filter leaves it (warnings name `queue_id`).
  Outcome apply(const Outcome& o, std::string_view queue_id);

 private:
  explicit StatusFilter(maps::MapList maps) : maps_(std::move(maps)) {}
  maps::MapList maps_;
};

// apply() through a filter that may be null.
inline Outcome filter_status(StatusFilter* f, const Outcome& o, std::string_view queue_id) {
  return f ? f->apply(o, queue_id) : o;
}

}  // namespace postern::deliver
