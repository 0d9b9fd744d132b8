// template.cpp - see template.h.
#include "template.h"

#include <vector>

#include "base/strings.h"

namespace postern::bounce {

namespace {

bool ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80) return false;
  return true;
}

// Lines without their "\n" (a final line without one counts too).
std::vector<std::string_view> lines_of(std::string_view s) {
  std::vector<std::string_view> out;
  while (!s.empty()) {
    auto nl = s.find('\n');
    std::string_view l = s.substr(0, nl);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    out.push_back(l);
    if (nl == std::string_view::npos) break;
    s.remove_prefix(nl + 1);
  }
  return out;
}

}  // namespace

Result<Templates> parse_templates(std::string_view file, std::string_view name, const TemplateExpander& expand) {
  if (file.size() > kMaxTemplateFile) return make_error("{}: larger than {} bytes", name, kMaxTemplateFile);
  Templates out;
  const auto lines = lines_of(file);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::size_t lineno = i + 1;
    std::string_view l = str::trim(lines[i]);
    if (l.empty() || l.front() == '#') continue;
    auto eq = l.find('=');
    std::string_view key = eq == std::string_view::npos ? l : str::trim(l.substr(0, eq));
    std::string_view rest = eq == std::string_view::npos ? std::string_view() : str::trim(l.substr(eq + 1));
    // Without "name = <<WORD" the rest of the file cannot be read at all:
    // the one error Postfix's bounce(8) stops for too.
    if (eq == std::string_view::npos || !rest.starts_with("<<") || str::trim(rest.substr(2)).empty())
      return make_error("{}, line {}: expected \"name = <<EOF\", found \"{}\"", name, lineno, str::printable(l, 100));
    const std::string_view word = str::trim(rest.substr(2));
    std::optional<Template>* slot = key == "failure_template"   ? &out.failure
                                    : key == "delay_template"   ? &out.delay
                                    : key == "success_template" ? &out.success
                                    : key == "verify_template"  ? &out.verify
                                                                : nullptr;
    // The body, up to the terminator line.
    std::size_t end = i + 1;
    while (end < lines.size() && lines[end] != word) ++end;
    if (end == lines.size()) {
      // Everything after the opening line is this template's: nothing to
      // resume at. The built-in text stays.
      out.warnings.push_back(fmt::format("{}, line {}: {} has no \"{}\" line to end it -- ignoring this template",
                                         name, lineno, str::printable(key, 64), str::printable(word, 64)));
      break;
    }
    // From here on a problem costs this template only (Postfix: a warning,
    // and the built-in text): a typo must never stop bounces altogether.
    auto ignore = [&](std::string why) {
      out.warnings.push_back(fmt::format("{} -- ignoring this template", why));
      i = end;
    };
    if (!slot) {
      ignore(fmt::format("{}, line {}: unknown template \"{}\"", name, lineno, str::printable(key, 64)));
      continue;
    }
    Template t;
    std::size_t j = i + 1;
    bool bad = false;
    // Headers: "Name: value" lines up to the first empty one.
    for (; j < end && !bad; ++j) {
      std::string_view h = lines[j];
      if (h.empty()) {
        ++j;
        break;
      }
      auto colon = h.find(':');
      std::string_view hname = colon == std::string_view::npos ? std::string_view() : h.substr(0, colon);
      bool header_like = !hname.empty() && hname.find_first_of(" \t") == std::string_view::npos;
      if (!header_like) break;  // no headers: the text starts here
      std::string value(str::trim(h.substr(colon + 1)));
      if (!ascii(value)) {
        ignore(fmt::format("{}, line {}: template headers must be ASCII", name, j + 1));
        bad = true;
      } else if (str::iequals(hname, "Charset")) {
        if (value.empty() || value.find_first_of(" \t;\"") != std::string::npos) {
          ignore(fmt::format("{}, line {}: bad Charset: \"{}\"", name, j + 1, str::printable(value, 64)));
          bad = true;
        }
        t.charset = value;
      } else if (str::iequals(hname, "From")) {
        t.from = value;
      } else if (str::iequals(hname, "Subject")) {
        t.subject = value;
      } else if (str::iequals(hname, "Postmaster-Subject")) {
        t.postmaster_subject = value;
      } else {
        ignore(fmt::format("{}, line {}: unknown template header \"{}\"", name, j + 1, str::printable(hname, 64)));
        bad = true;
      }
    }
    if (bad) continue;
    std::string raw;
    for (; j < end; ++j) {
      raw.append(lines[j]);
      raw += '\n';
    }
    auto text = expand(raw);
    if (!text) {
      ignore(fmt::format("{}: {}: {}", name, key, text.error().message));
      continue;
    }
    t.text = std::move(*text);
    if (!ascii(t.text) && str::iequals(t.charset, "us-ascii")) {
      ignore(fmt::format("{}: {}: the text is not ASCII; give a Charset: that is a superset of US-ASCII", name,
                         key));
      continue;
    }
    // A template given twice: the later one counts, as in Postfix.
    *slot = std::move(t);
    i = end;
  }
  return out;
}

}  // namespace postern::bounce
