// content_test_support.h - for the unit tests: a message given as queue
// file pieces, through OutputChecks and ContentEncoder, as DATA text.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "content.h"
#include "output_checks.h"

namespace postern::smtp_client::testing {

struct Piece {
  std::string data;
  bool complete = true;  // false: the line goes on in the next piece
};

inline std::vector<Piece> lines(std::initializer_list<std::string> l) {
  std::vector<Piece> out;
  for (const auto& s : l) out.push_back({s, true});
  return out;
}

// The DATA text (dot-stuffed, CRLF, the final dot) that `checks` make of
// `pieces`; `line_limit` as smtp_line_length_limit. When the encoder stops,
// what it had and `*failed` = checks_failed().
inline std::string encode(OutputChecks& checks, const std::vector<Piece>& pieces, bool* failed = nullptr,
                          std::size_t line_limit = 0) {
  std::size_t i = 0;
  ContentEncoder enc(
      [&](queue::ContentPiece& out) -> Result<bool> {
        if (i >= pieces.size()) return false;
        out.data = pieces[i].data;
        out.complete = pieces[i].complete;
        ++i;
        return true;
      },
      line_limit, &checks);
  std::string out;
  for (bool more = true; more;) {
    auto r = enc.fill(out, 1 << 20);
    if (!r) {
      if (failed) *failed = enc.checks_failed();
      return out;
    }
    more = *r;
  }
  return out;
}

}  // namespace postern::smtp_client::testing
