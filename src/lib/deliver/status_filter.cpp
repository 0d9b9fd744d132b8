// status_filter.cpp - see status_filter.h.
#include "deliver/status_filter.h"

#include <fmt/format.h>

#include "base/strings.h"
#include "log/log.h"

namespace postern::deliver {

Result<std::unique_ptr<StatusFilter>> StatusFilter::open(std::string_view param, std::string_view list) {
  if (str::trim(list).empty()) return std::unique_ptr<StatusFilter>();
  auto ml = maps::MapList::open(param, list);
  if (!ml) return ml.take_error();
  return std::unique_ptr<StatusFilter>(new StatusFilter(std::move(*ml)));
}

Outcome StatusFilter::apply(const Outcome& o, std::string_view queue_id) {
  const std::string query = fmt::format("{} {}", o.dsn, o.text);
  auto found = maps_.lookup(query);
  if (!found) {
    log::warning("{}: {} lookup error for \"{}\": {}", queue_id, maps_.title(), str::printable(query, 200),
                 found.error().message);
    return o;
  }
  if (!*found) return o;
  const std::string& answer = **found;
  const std::size_t code = dsn_prefix_length(answer);
  std::string_view text = code ? str::trim(std::string_view(answer).substr(code)) : std::string_view();
  const bool was_success = o.is_sent();
  const bool is_success = code && answer[0] == '2';
  if (code == 0 || text.empty() || was_success != is_success) {
    log::warning("{}: {}: bad result \"{}\" for \"{}\" -- need \"x.y.z text\" of the same kind (success or failure)",
                 queue_id, maps_.title(), str::printable(answer, 200), str::printable(query, 200));
    return o;
  }
  Outcome out = Outcome::from_dsn(std::string_view(answer).substr(0, code), std::string(text), o.sys_errno);
  return out;
}

}  // namespace postern::deliver
