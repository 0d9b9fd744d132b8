// content.h - queue file content to DATA wire bytes, a bounded chunk at a time.
//
// The queue file keeps the message as line pieces (N records end a line, L
// records are pieces of a long line continued by the next record). The
// ContentEncoder pulls pieces from a source (in the daemon: the
// QueueFileReader's content cursor), joins long lines, ends every line with
// CRLF, doubles a leading dot (smtp::DataEncoder) and appends ".\r\n" after
// the last line, breaking lines longer than smtp_line_length_limit. fill() stops once the output reaches the target size, so a
// message of any size costs one chunk of memory plus one piece (<= 1 MiB).
//
// Reads no parameters, logs nothing.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "base/result.h"
#include "queue/reader.h"
#include "smtp/data.h"

namespace postern::smtp_client {

// Next content piece: true and `out` set, false at the end, or an error.
using PieceSource = std::function<Result<bool>(queue::ContentPiece& out)>;

class ContentEncoder {
 public:
  // `line_limit`: smtp_line_length_limit (smtp::DataEncoder), 0: none.
  explicit ContentEncoder(PieceSource src, std::size_t line_limit = 0)
      : src_(std::move(src)), enc_(line_limit) {}

  // Append wire bytes to `out` until it holds at least `target` bytes or the
  // content is exhausted. Returns true when more is to come, false once the
  // final ".\r\n" has been appended.
  Result<bool> fill(std::string& out, std::size_t target);

  bool done() const { return done_; }

 private:
  PieceSource src_;
  smtp::DataEncoder enc_;
  bool done_ = false;
};

}  // namespace postern::smtp_client
