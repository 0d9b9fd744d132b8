// transport.cpp - see transport.h.
#include "config/transport.h"

#include "base/strings.h"

namespace postern::config {

bool valid_transport_name(std::string_view t) {
  if (t.empty() || t.size() > 100 || t.front() == '.') return false;
  for (char c : t)
    if (c == '/' || c == ':' || static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return false;
  return true;
}

Status check_content_filter(std::string_view filter) {
  for (char c : filter)
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f)
      return make_error("content filter \"{}\": no spaces or control characters allowed", str::printable(filter, 200));
  std::string_view transport = filter.substr(0, filter.find(':'));
  if (!valid_transport_name(transport))
    return make_error("content filter \"{}\": \"{}\" is not a transport name", str::printable(filter, 200),
                      str::printable(transport, 100));
  return {};
}

}  // namespace postern::config
