// checks.cpp - see checks.h.
#include "cleanup/checks.h"

#include "base/strings.h"
#include "cleanup/settings.h"

namespace postern::cleanup {

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

Result<std::unique_ptr<ContentChecks>> ContentChecks::open(const CleanupSettings& s) {
  if (str::trim(s.header_checks).empty() && str::trim(s.mime_header_checks).empty() &&
      str::trim(s.nested_header_checks).empty() && str::trim(s.body_checks).empty())
    return std::unique_ptr<ContentChecks>();
  auto c = std::make_unique<ContentChecks>();
  const std::pair<const char*, std::pair<const std::string*, maps::MapList*>> lists[] = {
      {"header_checks", {&s.header_checks, &c->header_}},
      {"mime_header_checks", {&s.mime_header_checks, &c->mime_}},
      {"nested_header_checks", {&s.nested_header_checks, &c->nested_}},
      {"body_checks", {&s.body_checks, &c->body_}},
  };
  for (const auto& [name, what] : lists) {
    if (str::trim(*what.first).empty()) continue;
    auto ml = maps::MapList::open(name, *what.first);
    if (!ml) return ml.take_error();
    *what.second = std::move(*ml);
  }
  return c;
}

const maps::MapList& ContentChecks::list(CheckClass c) const {
  switch (c) {
    case CheckClass::kHeader: return header_;
    case CheckClass::kMimeHeader: return mime_;
    case CheckClass::kNestedHeader: return nested_;
    case CheckClass::kBody: return body_;
  }
  return body_;
}

maps::MapList& ContentChecks::list(CheckClass c) {
  return const_cast<maps::MapList&>(static_cast<const ContentChecks*>(this)->list(c));
}

Result<std::optional<std::string>> ContentChecks::lookup(CheckClass c, std::string_view text) {
  maps::MapList& l = list(c);
  if (l.empty()) return std::optional<std::string>();
  return l.lookup(text);
}

}  // namespace postern::cleanup
