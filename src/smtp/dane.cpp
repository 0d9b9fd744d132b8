// dane.cpp - see dane.h.
#include "dane.h"

#include <fmt/format.h>

namespace postern::smtp_client {

bool usable_tlsa(const dns::TlsaRecord& r) {
  if (r.usage != 2 && r.usage != 3) return false;
  if (r.selector > 1) return false;
  switch (r.mtype) {
    case 0: return !r.data.empty();
    case 1: return r.data.size() == 32;
    case 2: return r.data.size() == 64;
    default: return false;
  }
}

namespace {

// What MX records that were not validated leave of "dane" (dane-only: all).
tls::Level insecure_mx_level(const TlsPolicy& p) {
  return p.level == tls::Level::kDaneOnly ? tls::Level::kDane : p.insecure_mx_policy;
}

}  // namespace

bool wants_tlsa(const TlsPolicy& p, const dns::Destination& d, bool insecure_mx) {
  return d.dnssec && !(insecure_mx && insecure_mx_level(p) == tls::Level::kMay);
}

DanePlan plan_dane(const TlsPolicy& p, const dns::Destination& d, const dns::TlsaResult* tlsa,
                   std::string_view nexthop_domain, bool insecure_mx) {
  const bool only = p.level == tls::Level::kDaneOnly;
  const tls::Level mx_level = insecure_mx ? insecure_mx_level(p) : tls::Level::kDane;
  const std::string where = fmt::format("{}:{}", d.host, d.port);
  DanePlan plan;
  auto defer = [&](std::string why) {
    plan.defer = deliver::Outcome::deferred("4.7.5", std::move(why));
    return plan;
  };
  // Opportunistic TLS with the "may" settings.
  auto may = [&] {
    TlsPolicy m = p;
    m.level = tls::Level::kMay;
    m.protocols = p.may_protocols;
    m.ciphers = p.may_ciphers;
    plan.policy = std::move(m);
    return plan;
  };
  if (!d.dnssec || tlsa == nullptr || mx_level == tls::Level::kMay) {
    if (only) return defer(fmt::format("no DNSSEC-validated address records for {} (dane-only)", d.host));
    return may();
  }
  if (tlsa->outcome == dns::Outcome::TempFail) return defer(fmt::format("TLSA lookup error for {}", where));
  if (!tlsa->authentic || !tlsa->ok()) {
    if (only)
      return defer(fmt::format("{} TLSA records for {} (dane-only)",
                               tlsa->authentic ? "no" : "no DNSSEC-validated", where));
    return may();
  }
  TlsPolicy a = p;
  a.insecure_mx = insecure_mx;
  if (mx_level == tls::Level::kEncrypt) {
    // The records say "TLS here"; names from unvalidated MX records cannot
    // say whom to authenticate.
    a.level = tls::Level::kEncrypt;
    plan.policy = std::move(a);
    return plan;
  }
  a.level = tls::Level::kDane;
  for (const auto& r : tlsa->records)
    if (usable_tlsa(r)) a.tlsa.push_back(r);
  if (a.tlsa.empty()) {
    if (only) return defer(fmt::format("no usable TLSA records for {} (dane-only)", where));
    // RFC 7672 2.2: the server said TLS; nothing can authenticate it.
    a.level = tls::Level::kEncrypt;
    plan.policy = std::move(a);
    return plan;
  }
  a.dane_names.push_back(d.host);
  if (d.preference && !insecure_mx && !nexthop_domain.empty() && nexthop_domain != d.host)
    a.dane_names.emplace_back(nexthop_domain);
  plan.policy = std::move(a);
  return plan;
}

}  // namespace postern::smtp_client
