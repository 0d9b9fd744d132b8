// rewrite.cpp - address rewriting rules; see rewrite.h.
#include "rewrite.h"

namespace postern::rewrite_service {

RewriteContexts RewriteContexts::from_config(const config::Config& cfg) {
  RewriteContexts c;
  c.local.origin = cfg.str("myorigin");
  c.local.domain = cfg.str("mydomain");
  c.local.append_at_origin = cfg.boolean("append_at_myorigin");
  c.local.append_dot_domain = cfg.boolean("append_dot_mydomain");
  c.local.swap_bangpath = cfg.boolean("swap_bangpath");
  c.local.percent_hack = cfg.boolean("allow_percent_hack");
  c.remote = c.local;
  c.remote.origin = cfg.str("remote_header_rewrite_domain");
  c.remote.domain = c.remote.origin;
  return c;
}

std::string rewrite_address(const RewriteParams& p, std::string_view address) {
  std::string s(address);
  if (s.empty() || s == "@") return {};

  // Source routes are obsolete (RFC 5321 section 4.1.2 says to ignore them).
  if (s[0] == '@') {
    auto colon = s.find(':');
    if (colon != std::string::npos && colon + 1 < s.size()) s.erase(0, colon + 1);
  }

  if (s.find('@') == std::string::npos) {
    std::size_t bang = p.swap_bangpath ? s.find('!') : std::string::npos;
    std::size_t pct = p.percent_hack ? s.rfind('%') : std::string::npos;
    if (bang != std::string::npos) {
      s = s.substr(bang + 1) + "@" + s.substr(0, bang);
    } else if (pct != std::string::npos) {
      s[pct] = '@';
    } else if (p.append_at_origin && !p.origin.empty()) {
      s += "@";
      s += p.origin;
    }
  }

  if (p.append_dot_domain && !p.domain.empty()) {
    auto at = s.rfind('@');
    if (at != std::string::npos && at + 1 < s.size() && s[at + 1] != '[' &&
        s.find('.', at + 1) == std::string::npos) {
      s += ".";
      s += p.domain;
    }
  }

  // A trailing dot (absolute domain name) is not part of the canonical form;
  // "..", "@." are bogus and left alone so that diagnostics show them.
  if (s.size() >= 2 && s.back() == '.' && s[s.size() - 2] != '.' && s[s.size() - 2] != '@') s.pop_back();
  return s;
}

}  // namespace postern::rewrite_service
