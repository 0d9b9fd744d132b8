// content.cpp - see content.h.
#include "content.h"

namespace postern::smtp_client {

Result<bool> ContentEncoder::fill(std::string& out, std::size_t target) {
  if (done_) return false;
  queue::ContentPiece piece;
  const OutputChecks::Emit emit = [&](std::string_view data, bool continued) { enc_.put(data, continued, out); };
  while (out.size() < target) {
    auto more = src_(piece);
    if (!more) return more.take_error();
    if (!*more) {
      if (checks_) {
        if (auto st = checks_->finish(emit); !st) {
          checks_failed_ = true;
          return st.take_error();
        }
      }
      enc_.finish(out);
      done_ = true;
      return false;
    }
    if (!checks_) {
      enc_.put(piece.data, !piece.complete, out);
    } else if (auto st = checks_->take(piece.data, !piece.complete, emit); !st) {
      checks_failed_ = true;
      return st.take_error();
    }
  }
  return true;
}

}  // namespace postern::smtp_client
