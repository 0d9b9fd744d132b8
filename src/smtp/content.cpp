// content.cpp - see content.h.
#include "content.h"

namespace postern::smtp_client {

Result<bool> ContentEncoder::fill(std::string& out, std::size_t target) {
  if (done_) return false;
  queue::ContentPiece piece;
  while (out.size() < target) {
    auto more = src_(piece);
    if (!more) return more.take_error();
    if (!*more) {
      enc_.finish(out);
      done_ = true;
      return false;
    }
    enc_.put(piece.data, !piece.complete, out);
  }
  return true;
}

}  // namespace postern::smtp_client
