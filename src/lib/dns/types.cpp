// types.cpp - see types.h.
#include "dns/types.h"

#include "base/strings.h"

namespace postern::dns {

std::string_view to_string(Outcome o) {
  switch (o) {
    case Outcome::Ok: return "ok";
    case Outcome::NoData: return "no data";
    case Outcome::NotFound: return "not found";
    case Outcome::NullMx: return "null MX";
    case Outcome::TempFail: return "temporary failure";
    case Outcome::Invalid: return "invalid";
  }
  return "?";
}

std::string_view to_string(RrType t) {
  switch (t) {
    case RrType::A: return "A";
    case RrType::NS: return "NS";
    case RrType::PTR: return "PTR";
    case RrType::MX: return "MX";
    case RrType::TXT: return "TXT";
    case RrType::AAAA: return "AAAA";
    case RrType::TLSA: return "TLSA";
  }
  return "?";
}

Result<Families> parse_families(std::string_view text) {
  bool v4 = false, v6 = false;
  auto words = str::split(text);
  if (words.empty()) return make_error("empty address family list");
  for (const auto& w : words) {
    if (str::iequals(w, "all")) {
      v4 = v6 = true;
    } else if (str::iequals(w, "ipv4")) {
      v4 = true;
    } else if (str::iequals(w, "ipv6")) {
      v6 = true;
    } else {
      return make_error("unknown address family \"{}\" (want ipv4, ipv6 or all)", str::printable(w, 40));
    }
  }
  if (v4 && v6) return Families::All;
  return v4 ? Families::Ipv4 : Families::Ipv6;
}

}  // namespace postern::dns
