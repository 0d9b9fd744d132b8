// cleanup_proto.cpp - the checks of cleanup_proto.h that need code.
#include "submit/cleanup_proto.h"

#include <algorithm>
#include <iterator>

#include "base/strings.h"

namespace postern::submit {

Result<ReceiveOverrides> parse_receive_overrides(std::string_view value) {
  ReceiveOverrides o;
  for (const auto& raw : str::split(value, ", \t\r\n")) {
    if (raw.empty()) continue;
    std::string name = str::lower(raw);
    if (name == "no_unknown_recipient_checks") o.no_unknown_recipient_checks = true;
    else if (name == "no_address_mappings")
      o.cleanup_flags = (o.cleanup_flags | cleanup_flag::kNoAddressMappings) & ~cleanup_flag::kAutoBcc;
    else if (name == "no_header_body_checks") o.cleanup_flags |= cleanup_flag::kNoHeaderBodyChecks;
    else if (name == "no_milters") continue;
    else return make_error("receive_override_options: unknown value \"{}\"", str::printable(raw, 100));
  }
  return o;
}

Result<std::int64_t> smtputf8_autodetect(const config::Config& cfg, std::string_view source) {
  static constexpr std::string_view kClasses[] = {"all",    "bounce", "forward", "notify",
                                                  "qmqpd",  "sendmail", "smtpd", "verify"};
  bool named = false;
  for (const auto& raw : cfg.list("smtputf8_autodetect_classes")) {
    const std::string c = str::lower(raw);
    if (std::find(std::begin(kClasses), std::end(kClasses), c) == std::end(kClasses))
      return make_error("smtputf8_autodetect_classes: unknown mail source class \"{}\"", str::printable(raw, 100));
    if (c == "all" || c == source) named = true;
  }
  return named && cfg.boolean("smtputf8_enable") ? cleanup_flag::kAutoUtf8 : 0;
}

Result<Receiving> receiving_settings(const config::Config& cfg, std::string_view source) {
  Receiving r;
  r.content_filter = cfg.str("content_filter");
  if (!r.content_filter.empty())
    if (auto st = config::check_content_filter(r.content_filter); !st)
      return make_error("content_filter: {}", st.error().message);
  auto overrides = parse_receive_overrides(cfg.str("receive_override_options"));
  if (!overrides) return overrides.take_error();
  r.cleanup_flags = overrides->cleanup_flags;
  auto autodetect = smtputf8_autodetect(cfg, source);
  if (!autodetect) return autodetect.take_error();
  r.cleanup_flags |= *autodetect;
  return r;
}

}  // namespace postern::submit
