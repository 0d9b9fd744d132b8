// tls_policy.cpp - see tls_policy.h.
#include "tls_policy.h"

#include <fmt/format.h>

#include "base/strings.h"
#include "config/registry.h"
#include "mail/address.h"
#include "tls/protocols.h"

namespace postern::smtp_client {

Result<TlsDefaults> TlsDefaults::from_config(const config::Config& cfg, std::string_view prefix) {
  TlsDefaults d;
  const std::string p(prefix);
  d.protocols_may = cfg.str(p + "_tls_protocols");
  d.protocols_mandatory = cfg.str(p + "_tls_mandatory_protocols");
  d.grade_may = cfg.str(p + "_tls_ciphers");
  d.grade_mandatory = cfg.str(p + "_tls_mandatory_ciphers");
  d.exclude = cfg.list(p + "_tls_exclude_ciphers");
  d.exclude_mandatory = cfg.list(p + "_tls_mandatory_exclude_ciphers");
  d.verify_match = cfg.list(p + "_tls_verify_cert_match");
  d.secure_match = cfg.list(p + "_tls_secure_cert_match");
  d.fingerprint_match = cfg.list(p + "_tls_fingerprint_cert_match");
  d.digest = str::lower(str::trim(cfg.str(p + "_tls_fingerprint_digest")));
  d.grades = tls::CipherGrades::from_config(cfg);
  d.dnssec = prefix == "smtp" && str::lower(str::trim(cfg.str("smtp_dns_support_level"))) == "dnssec";
  d.servername_param = p + "_tls_servername";
  d.servername = std::string(str::trim(cfg.str(d.servername_param)));
  if (prefix == "smtp") {
    std::string mx = str::lower(str::trim(cfg.str("smtp_tls_dane_insecure_mx_policy")));
    if (mx.empty()) mx = str::lower(str::trim(cfg.str("smtp_tls_security_level"))) == "dane" ? "dane" : "may";
    if (mx == "may") d.insecure_mx_policy = tls::Level::kMay;
    else if (mx == "encrypt") d.insecure_mx_policy = tls::Level::kEncrypt;
    else if (mx == "dane") d.insecure_mx_policy = tls::Level::kDane;
    else
      return make_error("smtp_tls_dane_insecure_mx_policy = {}: want may, encrypt or dane", str::printable(mx, 40));
  }
  return d;
}

namespace {

// What a table entry may set; unset fields take main.cf's value.
struct Overrides {
  std::optional<std::string> grade, protocols;
  std::optional<std::vector<std::string>> exclude;
  std::vector<std::string> match;
  std::optional<std::string> servername;
};

// Postfix's rule for an SNI setting: one of the two special words, or a
// host name in A-label form (U-labels are not converted here).
Status check_servername(std::string_view v) {
  if (v.empty() || v == "hostname" || v == "nexthop") return {};
  if (!mail::is_valid_hostname(v)) return make_error("\"{}\" is not a valid host name", str::printable(v, 100));
  return {};
}

// Postfix's policy for a level: the grade and protocols of "may" or of
// the mandatory levels, main.cf's exclusions (or the entry's), and the
// NULL ciphers that a mandatory level never wants (eNULL: no encryption;
// aNULL: no certificate to verify).
Result<TlsPolicy> build(tls::Level level, const TlsDefaults& d, const Overrides& o) {
  TlsPolicy p;
  p.level = level;
  if (!p.enabled()) return p;
  // A DANE level is built as the mandatory level it becomes with usable
  // TLSA records, and carries the "may" settings for servers without.
  const bool dane = p.dane();
  if (dane) {
    if (!d.dnssec) return make_error("{} configured with dnssec lookups disabled", level == tls::Level::kDane ? "dane" : "dane-only");
    auto may = build(tls::Level::kMay, d, o);
    if (!may) return may.take_error();
    p.may_protocols = may->protocols;
    p.may_ciphers = std::move(may->ciphers);
    p.insecure_mx_policy = d.insecure_mx_policy;
  }
  p.servername = o.servername ? *o.servername : d.servername;
  if (auto st = check_servername(p.servername); !st)
    return make_error("{}: {}", o.servername ? "servername" : d.servername_param, st.error().message);
  const bool mandatory = p.mandatory() || dane;
  const std::string& proto_list = o.protocols ? *o.protocols : mandatory ? d.protocols_mandatory : d.protocols_may;
  auto protocols = tls::parse_protocols(proto_list);
  if (!protocols)
    return make_error("{}: {}", o.protocols ? "protocols" : mandatory ? "smtp_tls_mandatory_protocols" : "smtp_tls_protocols",
                      protocols.error().message);
  p.protocols = *protocols;
  std::vector<std::string> exclude;
  if (o.exclude) {
    exclude = *o.exclude;
  } else {
    exclude = d.exclude;
    if (mandatory) exclude.insert(exclude.end(), d.exclude_mandatory.begin(), d.exclude_mandatory.end());
  }
  if (level == tls::Level::kEncrypt || dane) exclude.push_back("eNULL");
  if (p.verifies() || level == tls::Level::kFingerprint || dane) exclude.push_back("aNULL");
  const std::string& grade = o.grade ? *o.grade : mandatory ? d.grade_mandatory : d.grade_may;
  auto ciphers = d.grades.list(grade, exclude);
  if (!ciphers)
    return make_error("{}: {}", o.grade ? "ciphers" : mandatory ? "smtp_tls_mandatory_ciphers" : "smtp_tls_ciphers",
                      ciphers.error().message);
  p.ciphers = std::move(*ciphers);
  if (level == tls::Level::kFingerprint) {
    // The entry's "match=" fingerprints, or main.cf's.
    const bool own = !o.match.empty();
    for (const auto& f : own ? o.match : d.fingerprint_match) {
      auto n = tls::normal_fingerprint(f);
      if (!n) return make_error("{}: {}", own ? "match" : "smtp_tls_fingerprint_cert_match", n.error().message);
      p.fingerprints.push_back(std::move(*n));
    }
    if (p.fingerprints.empty())
      return make_error("{}: no certificate could match", own ? "match" : "smtp_tls_fingerprint_cert_match");
    p.digest = d.digest;
  }
  if (p.verifies()) {
    p.cert_match = !o.match.empty() ? o.match : level == tls::Level::kVerify ? d.verify_match : d.secure_match;
    if (p.cert_match.empty())
      return make_error("{}: no name could match", o.match.empty() ? level == tls::Level::kVerify
                                                                         ? "smtp_tls_verify_cert_match"
                                                                         : "smtp_tls_secure_cert_match"
                                                                   : "match");
  }
  return p;
}

}  // namespace

Result<TlsPolicy> default_tls_policy(tls::Level level, const TlsDefaults& d) { return build(level, d, {}); }

Result<TlsPolicy> parse_tls_policy(std::string_view value, const TlsDefaults& d, std::vector<std::string>& warnings) {
  auto tokens = config::split_list(value);
  if (tokens.empty()) return make_error("invalid empty policy");
  const std::string word = str::lower(tokens[0]);
  tls::Level level;
  if (word == "none") level = tls::Level::kNone;
  else if (word == "may") level = tls::Level::kMay;
  else if (word == "encrypt") level = tls::Level::kEncrypt;
  else if (word == "verify") level = tls::Level::kVerify;
  else if (word == "secure") level = tls::Level::kSecure;
  else if (word == "fingerprint") level = tls::Level::kFingerprint;
  else if (word == "dane" && d.dnssec) level = tls::Level::kDane;
  else if (word == "dane-only" && d.dnssec) level = tls::Level::kDaneOnly;
  else if (word == "dane") {
    // Postfix without DNSSEC lookups does the same: DANE needs validated
    // TLSA records, and without DNSSEC a forged answer cannot be told apart.
    warnings.push_back("dane configured with dnssec lookups disabled: using \"may\"");
    level = tls::Level::kMay;
  } else if (word == "dane-only") {
    return make_error("dane-only configured with dnssec lookups disabled (smtp_dns_support_level = dnssec)");
  } else {
    return make_error("invalid security level \"{}\"", str::printable(tokens[0], 40));
  }
  if (level == tls::Level::kNone) {
    for (std::size_t i = 1; i < tokens.size(); ++i)
      warnings.push_back(fmt::format("ignoring attribute \"{}\" with TLS disabled", str::printable(tokens[i], 100)));
    return build(level, d, {});
  }
  Overrides o;
  for (std::size_t i = 1; i < tokens.size(); ++i) {
    const std::string tok = config::strip_braces(tokens[i]);
    auto eq = tok.find('=');
    if (eq == std::string::npos || eq == 0)
      return make_error("malformed attribute/value pair \"{}\"", str::printable(tok, 100));
    std::string name = str::lower(str::trim(std::string_view(tok).substr(0, eq)));
    std::string val(str::trim(std::string_view(tok).substr(eq + 1)));
    auto once = [&](auto& slot) -> Status {
      if (slot) return make_error("attribute \"{}\" is specified multiple times", name);
      return {};
    };
    if (name == "ciphers") {
      if (val.empty()) return make_error("attribute \"{}\" has empty value", name);
      if (auto st = once(o.grade); !st) return st.take_error();
      o.grade = val;
    } else if (name == "protocols") {
      if (auto st = once(o.protocols); !st) return st.take_error();
      o.protocols = val;
    } else if (name == "exclude") {
      if (auto st = once(o.exclude); !st) return st.take_error();
      o.exclude = str::split(val, ", \t:");
    } else if (name == "match") {
      if (val.empty()) return make_error("attribute \"{}\" has empty value", name);
      if (level == tls::Level::kFingerprint) {
        // Fingerprints hold ':' themselves; Postfix separates them by '|'.
        for (auto& m : str::split(val, "|")) o.match.push_back(std::string(str::trim(m)));
        continue;
      }
      if (level != tls::Level::kVerify && level != tls::Level::kSecure)
        return make_error("attribute \"match\" invalid at security level \"{}\"", word);
      for (auto& m : str::split(val, ":")) o.match.push_back(std::string(str::trim(m)));
    } else if (name == "servername") {
      if (val.empty()) return make_error("attribute \"{}\" has empty value", name);
      if (auto st = once(o.servername); !st) return st.take_error();
      o.servername = val;
    } else if (name == "tafile" || name == "connection_reuse" || name == "enable_rpk" ||
               name.starts_with("policy_") || name == "mx_host_pattern") {
      return make_error("attribute \"{}\" is not supported by Postern", name);
    } else {
      return make_error("invalid attribute name: \"{}\"", str::printable(name, 40));
    }
  }
  return build(level, d, o);
}

Result<std::optional<std::string>> find_tls_policy(maps::MapList& table, std::string_view hop) {
  auto found = table.lookup(hop);
  if (!found || *found) return found;
  // "[host]", "host:port" and the like name one destination exactly; only
  // a domain (a recipient's, or a transport's bare nexthop) has parents.
  if (hop.empty() || hop.find_first_of("[]:/") != std::string_view::npos) return found;
  for (auto dot = hop.find('.', 1); dot != std::string_view::npos; dot = hop.find('.', dot + 1)) {
    auto parent = table.lookup(hop.substr(dot));
    if (!parent || *parent) return parent;
  }
  return std::optional<std::string>();
}

std::string_view nexthop_domain(std::string_view hop) {
  if (hop.starts_with("unix:")) return {};  // an LMTP socket has no domain
  if (hop.starts_with("inet:")) hop.remove_prefix(5);  // an LMTP next hop
  if (!hop.empty() && hop.front() == '[') {
    auto close = hop.find(']');
    return hop.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1);
  }
  // "host:port"; a bare IPv6 address (more than one ':') stays whole.
  if (auto colon = hop.rfind(':'); colon != std::string_view::npos && hop.find(':') == colon) return hop.substr(0, colon);
  return hop;
}

std::string sni_name(const TlsPolicy& p, std::string_view host, std::string_view domain) {
  std::string_view name = p.servername;
  if (name == "hostname") name = host;
  else if (name == "nexthop") name = domain;
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);  // a DNS answer's root dot
  // RFC 6066 section 3: a host name, never a literal address, and only the
  // A-label form (a U-label next hop would need IDNA, which Postern lacks).
  // is_valid_hostname() refuses all three: an all-numeric name, a ':' and
  // non-ASCII bytes.
  if (name.empty() || !mail::is_valid_hostname(name)) return {};
  return std::string(name);
}

}  // namespace postern::smtp_client
