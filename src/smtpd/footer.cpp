// footer.cpp - see footer.h.
#include "smtpd/footer.h"

#include <ctime>

#include "base/attr_expand.h"
#include "base/strings.h"
#include "log/log.h"

namespace postern::smtpd {

namespace {

// Syslog's "Mmm dd hh:mm:ss", as Postfix's $localtime.
std::string local_time() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[32];
  std::size_t n = std::strftime(buf, sizeof buf, "%b %e %H:%M:%S", &tm);
  return std::string(buf, n);
}

}  // namespace

Result<ReplyFooter> ReplyFooter::from_config(const config::Config& cfg) {
  ReplyFooter f;
  f.text_ = cfg.raw("smtpd_reject_footer").value_or("");
  if (std::string list = cfg.str("smtpd_reject_footer_maps"); !str::trim(list).empty()) {
    // Opened before the chroot, as every table smtpd reads; one that cannot
    // be opened stops smtpd, as an access table does.
    auto ml = maps::MapList::open("smtpd_reject_footer_maps", list);
    if (!ml) return ml.error();
    f.maps_ = std::make_shared<maps::MapList>(std::move(*ml));
  }
  f.allowed_ = str::unescape(cfg.raw("smtpd_expansion_filter").value_or(""));
  f.server_name_ = cfg.str("myhostname");
  return f;
}

smtp::Reply ReplyFooter::apply(const smtp::Reply& r, const Session& s) const {
  if (r.code < 400 || r.code > 599 || empty()) return r;
  std::string templ = text_;
  if (maps_) {
    auto found = maps_->lookup(r.to_string());
    if (!found)
      log::warning("smtpd_reject_footer_maps: {}; using smtpd_reject_footer", found.error().message);
    else if (*found)
      templ = std::move(**found);
  }
  if (templ.empty()) return r;
  const std::string address = str::censor(s.client_address, allowed_);
  const std::string port = str::censor(s.client_port, allowed_);
  const std::string time = str::censor(local_time(), allowed_);
  const std::string server = str::censor(server_name_, allowed_);
  auto x = expand_attributes(templ, {{"client_address", &address},
                                     {"client_port", &port},
                                     {"localtime", &time},
                                     {"server_name", &server}});
  if (!x) {
    log::warning("smtpd_reject_footer: \"{}\": {}", str::printable(templ, 100), x.error().message);
    return r;
  }
  std::string_view t = x->text;
  const bool join = t.starts_with("\\c");
  if (join) t.remove_prefix(2);
  smtp::Reply out = r;
  for (std::size_t i = 0;; ++i) {
    const std::size_t nl = t.find("\\n");
    std::string_view piece = t.substr(0, nl);
    if (i == 0 && join && !out.lines.empty())
      out.lines.back() += piece;
    else
      out.lines.emplace_back(piece);
    if (nl == std::string_view::npos) break;
    t.remove_prefix(nl + 2);
  }
  return out;
}

}  // namespace postern::smtpd
