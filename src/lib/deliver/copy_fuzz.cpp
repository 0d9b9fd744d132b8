// copy_fuzz.cpp - libFuzzer target for the parsers of untrusted bytes in this library:
// message formatting of arbitrary queue file pieces (no unquoted From_ line may
// reach a mailbox), command output interpretation (D.S.N prefixes, sanitizing)
// and lock method lists.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "deliver/command.h"
#include "deliver/copy.h"
#include "deliver/lock.h"
#include "deliver/outcome.h"

using namespace postern::deliver;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);

  // Command output: never crash, code class agrees with the disposition.
  Outcome o = command_outcome(1 << 8, false, "cmd", sanitize_command_output(in));
  if (o.dsn.empty() || (o.is_deferred() && o.dsn[0] != '4') || (o.is_bounced() && o.dsn[0] != '5'))
    std::abort();
  if (std::size_t n = dsn_prefix_length(in); n > 0 && !valid_dsn(in.substr(0, n))) std::abort();
  (void)LockMethods::parse(in);

  // Pieces: split at 0x00 bytes; a piece ending in 0x01 is "incomplete".
  std::vector<std::pair<std::string, bool>> pieces;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= in.size(); ++i) {
    if (i == in.size() || in[i] == '\0') {
      std::string piece(in.substr(start, i - start));
      bool complete = true;
      if (!piece.empty() && piece.back() == '\x01') {
        piece.pop_back();
        complete = false;
      }
      pieces.emplace_back(std::move(piece), complete);
      start = i + 1;
    }
  }
  std::size_t pos = 0;
  ContentReader reader = [&](LinePiece& p) -> postern::Result<bool> {
    if (pos >= pieces.size()) return false;
    p.data = pieces[pos].first;
    p.complete = pieces[pos].second;
    ++pos;
    return true;
  };
  CopyOptions opts = CopyOptions::mbox();
  opts.now = 0;
  MessageFormatter f(Envelope{std::string(in.substr(0, 40)), "", "x@y"}, opts, reader);
  std::string all, chunk;
  for (;;) {
    auto more = f.next(chunk);
    if (!more) std::abort();
    if (!*more) break;
    all += chunk;
  }
  // The only From_ line is the first one, and the message ends with "\n\n".
  std::size_t first_nl = all.find('\n');
  if (first_nl == std::string::npos || all.compare(0, 5, "From ") != 0) std::abort();
  if (all.find("\nFrom ", first_nl) != std::string::npos) std::abort();
  if (all.size() < 2 || all.compare(all.size() - 2, 2, "\n\n") != 0) std::abort();
  return 0;
}
