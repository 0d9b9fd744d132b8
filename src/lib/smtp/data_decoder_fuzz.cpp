// data_decoder_fuzz.cpp - libFuzzer target for DataDecoder, BdatDecoder and DataEncoder.
//
// The first bytes choose the line limit and the chunk sizes; the rest is the
// client's byte stream. Invariants checked:
//   - the data ends exactly after the first CR LF "." CR LF (start of data
//     counting as after CR LF), never anywhere else, and only once;
//   - output is bounded: no piece longer than the line limit, never more
//     output bytes than input bytes;
//   - decoded content re-encoded with DataEncoder decodes to the same pieces
//     (stray CRs become spaces on the way);
//   - BdatDecoder takes exactly the announced chunk bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "smtp/data.h"

using namespace postern::smtp;

namespace {

using Pieces = std::vector<std::pair<std::string, bool>>;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const std::size_t max_line = 1 + data[0] % 64;
  const std::uint8_t chunk_seed = data[1];
  const bool binary = data[2] & 1;
  std::string_view in(reinterpret_cast<const char*>(data + 3), size - 3);

  // Where the data must end.
  std::string v = "\r\n" + std::string(in);
  std::size_t p = v.find("\r\n.\r\n");
  const std::size_t want_end = p == std::string::npos ? std::string::npos : p + 3;

  DataDecoder d(max_line);
  Pieces pieces;
  std::size_t out_bytes = 0;
  LineSink sink = [&](std::string_view piece, bool continued) {
    if (piece.size() > max_line) std::abort();
    if (d.done()) std::abort();  // nothing after the end of data
    out_bytes += piece.size();
    pieces.emplace_back(std::string(piece), continued);
  };
  std::size_t pos = 0, consumed = 0, step = 0;
  while (pos < in.size()) {
    std::size_t len = 1 + (chunk_seed + step * 7) % 17;
    ++step;
    std::string_view chunk = in.substr(pos, len);
    std::size_t n = d.feed(chunk, sink);
    if (n > chunk.size()) std::abort();
    consumed += n;
    if (!d.done() && n != chunk.size()) std::abort();
    pos += chunk.size();
    if (d.done()) break;
  }
  if (want_end == std::string::npos) {
    if (d.done() || consumed != in.size()) std::abort();
  } else {
    if (!d.done() || consumed != want_end || d.wire_bytes() != consumed) std::abort();
    if (d.feed("\r\n.\r\n", sink) != 0) std::abort();  // one end of data per DATA
  }
  if (out_bytes > consumed) std::abort();

  if (d.done()) {
    // Re-encode and decode again: same pieces, with stray CR turned into SP.
    DataEncoder e;
    std::string wire;
    for (const auto& [piece, continued] : pieces) e.put(piece, continued, wire);
    e.finish(wire);
    DataDecoder again(max_line);
    Pieces round;
    std::size_t n = again.feed(wire, [&](std::string_view piece, bool continued) {
      round.emplace_back(std::string(piece), continued);
    });
    if (!again.done() || n != wire.size()) std::abort();
    Pieces want = pieces;
    for (auto& [piece, c] : want)
      for (auto& ch : piece)
        if (ch == '\r') ch = ' ';
    if (round != want) std::abort();
  }

  // The same bytes as BDAT chunks.
  BdatDecoder b(max_line, binary);
  std::size_t bdat_out = 0;
  LineSink bsink = [&](std::string_view piece, bool) {
    if (piece.size() > max_line) std::abort();
    bdat_out += piece.size();
  };
  pos = 0;
  step = 0;
  while (pos < in.size()) {
    std::size_t len = (chunk_seed * 3 + step * 11) % 23;
    ++step;
    len = std::min(len, in.size() - pos);
    bool last = pos + len == in.size();
    if (!b.begin_chunk(len, last).ok()) std::abort();
    std::string_view rest = in.substr(pos);
    std::size_t n = b.feed(rest, bsink);
    if (n != len) std::abort();
    pos += n;
  }
  if (!in.empty() && !b.done()) std::abort();
  if (b.message_bytes() != in.size()) std::abort();
  if (bdat_out > in.size()) std::abort();
  return 0;
}
