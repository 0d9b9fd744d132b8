// content_checks.cpp - see content_checks.h.
#include "maps/content_checks.h"

#include "base/strings.h"

namespace postern::maps {

CheckAction parse_check_action(std::string_view value) {
  CheckAction a;
  value = str::trim(value);
  std::size_t end = value.find_first_of(" \t");
  std::string word = str::lower(value.substr(0, end));
  std::string_view rest = end == std::string_view::npos ? std::string_view() : str::trim(value.substr(end));
  for (auto& c : word) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  a.word = word;
  a.text = std::string(rest);
  using K = CheckAction::Kind;
  if (word == "REJECT") a.kind = K::kReject;
  else if (word == "DISCARD") a.kind = K::kDiscard;
  else if (word == "HOLD") a.kind = K::kHold;
  else if (word == "IGNORE") a.kind = K::kIgnore;
  else if (word == "STRIP") a.kind = K::kStrip;
  else if (word == "PASS") a.kind = K::kPass;
  else if (word == "REPLACE") a.kind = rest.empty() ? K::kUnknown : K::kReplace;
  else if (word == "PREPEND") a.kind = rest.empty() ? K::kUnknown : K::kPrepend;
  else if (word == "WARN") a.kind = K::kWarn;
  else if (word == "INFO") a.kind = K::kInfo;
  else if (word == "DUNNO" || word == "OK") a.kind = K::kNone;
  else if (word == "FILTER") a.kind = rest.empty() ? K::kUnknown : K::kFilter;
  else if (word == "REDIRECT") a.kind = rest.empty() ? K::kUnknown : K::kRedirect;
  else if (word == "BCC") a.kind = rest.empty() ? K::kUnknown : K::kBcc;
  else a.kind = K::kUnknown;
  return a;
}

Result<std::unique_ptr<ContentChecks>> ContentChecks::open(const std::array<List, 4>& lists) {
  bool any = false;
  for (const auto& l : lists) any = any || !str::trim(l.value).empty();
  if (!any) return std::unique_ptr<ContentChecks>();
  auto c = std::make_unique<ContentChecks>();
  for (std::size_t i = 0; i < lists.size(); ++i) {
    c->names_[i] = std::string(lists[i].name);
    if (str::trim(lists[i].value).empty()) continue;
    auto ml = maps::MapList::open(lists[i].name, lists[i].value);
    if (!ml) return ml.take_error();
    c->lists_[i] = std::move(*ml);
  }
  return c;
}

Result<std::optional<std::string>> ContentChecks::lookup(CheckClass c, std::string_view text) {
  maps::MapList& l = lists_[static_cast<std::size_t>(c)];
  if (l.empty()) return std::optional<std::string>();
  return l.lookup(text);
}

}  // namespace postern::maps
