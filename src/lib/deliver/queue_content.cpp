// queue_content.cpp - see queue_content.h.
#include "deliver/queue_content.h"

#include <memory>

namespace postern::deliver {

ContentReader queue_content(const queue::QueueFileReader& reader) {
  auto cur = std::make_shared<queue::ContentCursor>(reader.content());
  return [cur](LinePiece& p) -> Result<bool> {
    queue::ContentPiece cp;
    auto more = cur->next(cp);
    if (!more) return more.take_error();
    if (!*more) return false;
    p.data = cp.data;
    p.complete = cp.complete;
    return true;
  };
}

}  // namespace postern::deliver
