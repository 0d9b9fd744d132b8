#include "mail/notify.h"

#include <array>

#include "base/strings.h"

namespace postern::mail {

namespace {
constexpr std::array<std::pair<Problem, std::string_view>, 8> kNames{{
    {Problem::kBounce, "bounce"},
    {Problem::k2Bounce, "2bounce"},
    {Problem::kData, "data"},
    {Problem::kDelay, "delay"},
    {Problem::kPolicy, "policy"},
    {Problem::kProtocol, "protocol"},
    {Problem::kResource, "resource"},
    {Problem::kSoftware, "software"},
}};
}  // namespace

std::string_view problem_name(Problem p) {
  for (const auto& [problem, name] : kNames)
    if (problem == p) return name;
  return "unknown";
}

Result<Problems> Problems::parse(const std::vector<std::string>& names) {
  Problems out;
  for (const auto& n : names) {
    bool known = false;
    for (const auto& [problem, name] : kNames) {
      if (str::iequals(n, name)) {
        out.add(problem);
        known = true;
      }
    }
    if (!known) return make_error("notify_classes: unknown class \"{}\"", str::printable(n, 64));
  }
  return out;
}

std::string qualify_with_origin(std::string_view addr, std::string_view origin) {
  if (addr.find('@') != std::string_view::npos || origin.empty()) return std::string(addr);
  return std::string(addr) + "@" + std::string(origin);
}

}  // namespace postern::mail
