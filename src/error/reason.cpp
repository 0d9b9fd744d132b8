// reason.cpp - see reason.h.
#include "error/reason.h"

#include <string>

#include "base/strings.h"

namespace postern::error_agent {

Mode mode_for(bool discard_program, std::string_view service) {
  if (discard_program) return Mode::Discard;
  return service == "retry" ? Mode::Defer : Mode::Bounce;
}

deliver::Outcome outcome_for(Mode mode, std::string_view nexthop) {
  const char klass = mode == Mode::Discard ? '2' : mode == Mode::Defer ? '4' : '5';
  std::string dsn = std::string(1, klass) + ".0.0";
  std::string_view text = str::trim(nexthop);
  if (std::size_t n = deliver::dsn_prefix_length(text)) {
    dsn = std::string(text.substr(0, n));
    dsn[0] = klass;
    text = str::trim(text.substr(n));
  }
  std::string why = text.empty() ? (mode == Mode::Discard ? std::string("discarded")
                                                          : std::string("delivery refused by the mail system"))
                                 : str::printable(text, 900);
  return deliver::Outcome::from_dsn(dsn, std::move(why));
}

}  // namespace postern::error_agent
