// delivered_to.cpp - see delivered_to.h.
#include "deliver/delivered_to.h"

#include "base/strings.h"

namespace postern::deliver {

Result<std::vector<std::string>> delivered_to_values(ContentReader& content, std::size_t max_headers) {
  std::vector<std::string> found;
  std::string current;  // the header being unfolded, when it is a Delivered-To
  bool in_delivered = false;
  std::size_t headers = 0;
  bool line_start = true;
  auto flush = [&] {
    if (in_delivered) found.push_back(str::lower(str::trim(current)));
    in_delivered = false;
    current.clear();
  };
  LinePiece piece;
  for (;;) {
    auto more = content(piece);
    if (!more) return more.take_error();
    if (!*more) break;
    std::string_view d = piece.data;
    if (line_start) {
      if (d.empty() && piece.complete) break;  // end of headers
      if (!d.empty() && (d[0] == ' ' || d[0] == '\t')) {
        if (in_delivered && current.size() < 4096) current.append(" ").append(str::trim(d));
      } else {
        flush();
        if (++headers > max_headers) break;
        auto colon = d.find(':');
        if (colon == std::string_view::npos) break;  // not a header: the body started
        if (str::lower(str::trim(d.substr(0, colon))) == "delivered-to") {
          in_delivered = true;
          current = std::string(d.substr(colon + 1, 4096));
        }
      }
    } else if (in_delivered && current.size() < 4096) {
      current.append(d.substr(0, 4096));
    }
    line_start = piece.complete;
  }
  flush();
  return found;
}

}  // namespace postern::deliver
