// footer.h - smtpd_reject_footer and smtpd_reject_footer_maps: text added
// after every 4xx/5xx reply, as Postfix's smtp_reply_footer() adds it.
//
//   smtpd_reject_footer = For help call 555-0101, quoting $localtime and $client_address.
//   smtpd_reject_footer_maps = pcre:/etc/postern/footer.pcre
//
// - The footer template is the first answer of smtpd_reject_footer_maps
//   for the reply's one-line form ("550 5.1.1 <x@y>: Recipient address
//   rejected: ..."), else smtpd_reject_footer.
// - Its $name attributes: client_address, client_port, localtime (server
//   time, "Mmm dd hh:mm:ss"), server_name ($myhostname), and the attr_expand.h
//   forms (${name?text}, $$ ...). Each value's characters outside
//   smtpd_expansion_filter become '_'.
// - The two characters "\n" start a new reply line; the footer starts on a
//   line of its own unless the template begins with "\c", which joins it to
//   the reply's last line. Every line keeps the reply's code and enhanced
//   status code (smtp::format_reply()), so a footer cannot forge a reply.
// - A template that names an unknown attribute, or a table that fails,
//   leaves the reply as it is (with a warning): the footer is decoration,
//   the reply is what matters.
// The footer is not logged: "reject:" lines show the reply alone, as in
// Postfix.
//
// Parameters: smtpd_reject_footer, smtpd_reject_footer_maps,
// smtpd_expansion_filter, myhostname.
// Logs: warnings for footer templates that cannot be expanded and for table
// errors.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"
#include "config/config.h"
#include "maps/map_list.h"
#include "smtp/reply.h"

namespace postern::smtpd {

class ReplyFooter {
 public:
  static Result<ReplyFooter> from_config(const config::Config& cfg);

  // What the session knows for the $name attributes.
  struct Session {
    std::string_view client_address;
    std::string_view client_port;
  };

  bool empty() const { return text_.empty() && !maps_; }
  // `r` with the footer added when it is a 4xx or 5xx reply and a footer
  // applies; otherwise `r` unchanged.
  smtp::Reply apply(const smtp::Reply& r, const Session& s) const;

 private:
  std::string text_;                      // smtpd_reject_footer
  std::shared_ptr<maps::MapList> maps_;   // smtpd_reject_footer_maps (lookups are not const)
  std::string allowed_;                   // smtpd_expansion_filter, unescaped
  std::string server_name_;               // myhostname
};

}  // namespace postern::smtpd
