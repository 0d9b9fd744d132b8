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

Status check_transport_nexthop(std::string_view value, std::string_view what) {
  // Spaces may be part of a nexthop ("error:5.1.1 no such user").
  for (char c : value)
    if (static_cast<unsigned char>(c) < ' ' || c == 0x7f)
      return make_error("{} \"{}\": no control characters allowed", what, str::printable(value, 200));
  std::string_view transport = value.substr(0, value.find(':'));
  if (!valid_transport_name(transport))
    return make_error("{} \"{}\": \"{}\" is not a transport name", what, str::printable(value, 200),
                      str::printable(transport, 100));
  return {};
}

Status check_content_filter(std::string_view filter) {
  if (filter.find(' ') != std::string_view::npos)
    return make_error("content filter \"{}\": no spaces or control characters allowed", str::printable(filter, 200));
  return check_transport_nexthop(filter, "content filter");
}

}  // namespace postern::config
