// expand.cpp - see expand.h.
#include "expand.h"

#include <cctype>

#include "base/attr_expand.h"
#include "base/strings.h"

namespace postern::local {

std::string_view to_string(Origin o) {
  switch (o) {
    case Origin::Alias: return "alias";
    case Origin::Forward: return "forward";
    case Origin::Include: return "include";
  }
  return "?";
}

Result<AllowList> AllowList::parse(const std::vector<std::string>& words) {
  AllowList a;
  for (const auto& w : words) {
    auto l = str::lower(w);
    if (l == "alias") a.alias = true;
    else if (l == "forward") a.forward = true;
    else if (l == "include") a.include = true;
    else return make_error("unknown delivery origin \"{}\" (expected alias, forward, include)", str::printable(w));
  }
  return a;
}

bool AllowList::allows(Origin o) const {
  switch (o) {
    case Origin::Alias: return alias;
    case Origin::Forward: return forward;
    case Origin::Include: return include;
  }
  return false;
}

namespace {

class Splitter {
 public:
  explicit Splitter(std::string_view t) : t_(t) {}

  std::vector<std::string> run() {
    while (i_ < t_.size() && out_.size() + seg_.size() < kMaxDestinations) {
      char c = t_[i_];
      if (c == ',' || c == ';') {
        end_segment();
        ++i_;
      } else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        if (!item_.empty()) gap_ = true;
        ++i_;
      } else if (c == '(') {
        skip_comment();
      } else if (c == '"') {
        start_word(c);
        quoted();
      } else if (c == '<') {
        // "Phrase words <addr>": the phrase is not part of the address.
        item_.clear();
        seg_.clear();
        gap_ = false;
        ++i_;
        angle();
        finish();
      } else if (c == '>') {
        ++i_;  // stray: ignore
      } else {
        start_word(c);
        if (c == '\\' && i_ + 1 < t_.size()) {
          add(t_[i_ + 1]);
          i_ += 2;
        } else {
          add(c);
          ++i_;
        }
      }
    }
    end_segment();
    if (out_.size() > kMaxDestinations) out_.resize(kMaxDestinations);
    return std::move(out_);
  }

 private:
  // A word after white space starts a new item, except around '@' and
  // after ':' (":include: /path", "user @ domain" stay one item).
  void start_word(char c) {
    if (gap_ && !item_.empty() && item_.back() != '@' && item_.back() != ':' && c != '@') finish();
    gap_ = false;
  }
  void add(char c) {
    if (item_.size() < kMaxDestinationLength + 1) item_.push_back(c);
  }
  // Words of one comma-separated segment wait in seg_ until the segment
  // ends, because a later "<addr>" turns them into a display phrase.
  void finish() {
    if (!item_.empty() && item_.size() <= kMaxDestinationLength) seg_.push_back(item_);
    item_.clear();
    gap_ = false;
  }
  void end_segment() {
    finish();
    for (auto& s : seg_) out_.push_back(std::move(s));
    seg_.clear();
  }
  void quoted() {
    ++i_;  // opening quote
    while (i_ < t_.size() && t_[i_] != '"') {
      if (t_[i_] == '\\' && i_ + 1 < t_.size()) ++i_;
      add(t_[i_]);
      ++i_;
    }
    if (i_ < t_.size()) ++i_;  // closing quote (an unterminated one ends the text)
  }
  void skip_comment() {
    int depth = 0;
    while (i_ < t_.size()) {
      char c = t_[i_++];
      if (c == '\\' && i_ < t_.size()) {
        ++i_;
      } else if (c == '(') {
        ++depth;
      } else if (c == ')') {
        if (--depth == 0) break;
      }
    }
  }
  void angle() {
    while (i_ < t_.size() && t_[i_] != '>') {
      char c = t_[i_];
      if (c == '"') {
        quoted();
        continue;
      }
      if (c == '\\' && i_ + 1 < t_.size()) {
        add(t_[i_ + 1]);
        i_ += 2;
        continue;
      }
      if (c == '(') {
        skip_comment();
        continue;
      }
      if (c != ' ' && c != '\t' && c != '\r' && c != '\n') add(c);
      ++i_;
    }
    if (i_ < t_.size()) ++i_;
  }

  std::string_view t_;
  std::size_t i_ = 0;
  std::string item_;
  bool gap_ = false;
  std::vector<std::string> seg_;
  std::vector<std::string> out_;
};

bool istarts_with(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  return true;
}

}  // namespace

std::vector<std::string> split_destinations(std::string_view text) { return Splitter(text).run(); }

std::string strip_comment_lines(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    auto t = str::trim(line);
    if (!t.empty() && t[0] == '#') continue;
    out.append(line);
    out.push_back('\n');
  }
  return out;
}

Destination classify(std::string_view item) {
  if (istarts_with(item, ":include:")) {
    return {DestKind::Include, std::string(str::trim(item.substr(9)))};
  }
  if (!item.empty() && item[0] == '|') return {DestKind::Command, std::string(str::trim(item.substr(1)))};
  if (!item.empty() && item[0] == '/') return {DestKind::File, std::string(item)};
  return {DestKind::Address, std::string(item)};
}

Result<Expansion> expand_local(std::string_view t, const LocalVars& raw, std::string_view filter) {
  LocalVars censored;
  if (!filter.empty()) {
    censored = raw;
    for (auto* v : {&censored.user, &censored.home, &censored.shell, &censored.recipient, &censored.extension,
                    &censored.domain, &censored.local, &censored.recipient_delimiter})
      *v = str::censor(*v, filter);
  }
  const LocalVars& vars = filter.empty() ? raw : censored;
  auto r = expand_attributes(t, {{"user", &vars.user},
                                 {"home", &vars.home},
                                 {"shell", &vars.shell},
                                 {"recipient", &vars.recipient},
                                 {"extension", &vars.extension},
                                 {"domain", &vars.domain},
                                 {"local", &vars.local},
                                 {"recipient_delimiter", &vars.recipient_delimiter}});
  if (!r) return r.error();
  return Expansion{std::move(r->text), r->undefined};
}

LocalDomain split_address(std::string_view address) {
  auto at = address.rfind('@');
  if (at == std::string_view::npos) return {std::string(address), {}};
  return {std::string(address.substr(0, at)), std::string(address.substr(at + 1))};
}

}  // namespace postern::local
