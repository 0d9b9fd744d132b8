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
// Reads no parameters, logs nothing (the checks log their actions).
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "base/result.h"
#include "queue/reader.h"
#include "smtp/data.h"
#include "output_checks.h"

namespace postern::smtp_client {

// Next content piece: true and `out` set, false at the end, or an error.
using PieceSource = std::function<Result<bool>(queue::ContentPiece& out)>;

class ContentEncoder {
 public:
  // `line_limit`: smtp_line_length_limit (smtp::DataEncoder), 0: none.
  // `checks`: smtp_*_checks applied on the way out (output_checks.h);
  // null: the content goes out as stored.
  explicit ContentEncoder(PieceSource src, std::size_t line_limit = 0, OutputChecks* checks = nullptr)
      : src_(std::move(src)), enc_(line_limit), checks_(checks) {}

  // Append wire bytes to `out` until it holds at least `target` bytes or the
  // content is exhausted. Returns true when more is to come, false once the
  // final ".\r\n" has been appended.
  Result<bool> fill(std::string& out, std::size_t target);

  bool done() const { return done_; }
  // fill() failed because a checks table could not be asked (not because
  // the queue file could not be read).
  bool checks_failed() const { return checks_failed_; }

 private:
  PieceSource src_;
  smtp::DataEncoder enc_;
  OutputChecks* checks_;
  bool done_ = false;
  bool checks_failed_ = false;
};

}  // namespace postern::smtp_client
