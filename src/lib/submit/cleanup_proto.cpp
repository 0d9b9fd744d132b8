// cleanup_proto.cpp - the checks of cleanup_proto.h that need code.
#include "submit/cleanup_proto.h"

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

Result<Receiving> receiving_settings(const config::Config& cfg) {
  Receiving r;
  r.content_filter = cfg.str("content_filter");
  if (!r.content_filter.empty())
    if (auto st = config::check_content_filter(r.content_filter); !st)
      return make_error("content_filter: {}", st.error().message);
  auto overrides = parse_receive_overrides(cfg.str("receive_override_options"));
  if (!overrides) return overrides.take_error();
  r.cleanup_flags = overrides->cleanup_flags;
  return r;
}

}  // namespace postern::submit
