// dnsbl.cpp - see dnsbl.h.
#include "smtpd/dnsbl.h"

#include "base/attr_expand.h"
#include "base/strings.h"
#include "dns/name.h"
#include "smtpd/access.h"

namespace postern::smtpd::dnsbl {

namespace {

Result<int> octet(std::string_view s, std::string_view spec) {
  auto v = str::parse_uint(s);
  if (!v || *v > 255)
    return make_error("bad DNS list result filter \"{}\": \"{}\" is not a number from 0 to 255", str::printable(spec),
                      str::printable(s));
  return static_cast<int>(*v);
}

// "N" or "[N;N..M;...]" into the set of allowed values.
Result<std::bitset<256>> octet_set(std::string_view part, std::string_view spec) {
  std::bitset<256> set;
  if (part.size() >= 2 && part.front() == '[' && part.back() == ']') {
    for (const auto& item : str::split(part.substr(1, part.size() - 2), ";")) {
      auto dots = item.find("..");
      auto lo = octet(item.substr(0, dots), spec);
      if (!lo) return lo.error();
      int hi = *lo;
      if (dots != std::string::npos) {
        auto h = octet(std::string_view(item).substr(dots + 2), spec);
        if (!h) return h.error();
        hi = *h;
      }
      if (hi < *lo) return make_error("bad DNS list result filter \"{}\": empty range", str::printable(spec));
      for (int v = *lo; v <= hi; ++v) set.set(static_cast<std::size_t>(v));
    }
    return set;
  }
  auto v = octet(part, spec);
  if (!v) return v.error();
  set.set(static_cast<std::size_t>(*v));
  return set;
}

}  // namespace

Result<List> List::parse(std::string_view spec) {
  List l;
  auto eq = spec.find('=');
  auto name = dns::normalize_hostname(spec.substr(0, eq));
  if (!name) return make_error("bad DNS list domain \"{}\": {}", str::printable(spec), name.error().message);
  l.domain = std::move(*name);
  if (eq == std::string_view::npos) return l;
  // Split at the dots outside brackets.
  std::vector<std::string_view> parts;
  std::string_view f = spec.substr(eq + 1);
  std::size_t start = 0;
  int depth = 0;
  for (std::size_t i = 0; i <= f.size(); ++i) {
    if (i < f.size() && f[i] == '[') ++depth;
    if (i < f.size() && f[i] == ']') --depth;
    if (i == f.size() || (f[i] == '.' && depth == 0)) {
      parts.push_back(f.substr(start, i - start));
      start = i + 1;
    }
  }
  if (parts.size() != 4)
    return make_error("bad DNS list result filter \"{}\": expected d.d.d.d", str::printable(spec));
  std::array<std::bitset<256>, 4> filter;
  for (std::size_t i = 0; i < 4; ++i) {
    auto s = octet_set(parts[i], spec);
    if (!s) return s.error();
    filter[i] = *s;
  }
  l.filter = filter;
  return l;
}

bool List::listed(const std::vector<asio::ip::address>& addrs) const {
  for (const auto& a : addrs) {
    if (!a.is_v4()) continue;
    if (!filter) return true;
    auto b = a.to_v4().to_bytes();
    bool all = true;
    for (std::size_t i = 0; i < 4; ++i) all = all && (*filter)[i].test(b[i]);
    if (all) return true;
  }
  return false;
}

std::string join_reasons(const std::vector<std::string>& txt) {
  std::string out;
  for (const auto& t : txt) {
    if (!out.empty()) {
      if (out.size() + 3 >= kMaxReasonLength) break;
      out += " / ";
    }
    out.append(t, 0, kMaxReasonLength - out.size());
    if (out.size() >= kMaxReasonLength) break;
  }
  return out;
}

Result<smtp::Reply> build_reply(std::string_view templ, const ReplyAttributes& a) {
  std::string client = a.client_name + "[" + a.client_address + "]";
  auto x = expand_attributes(templ, {{"rbl_code", &a.rbl_code},
                                     {"rbl_domain", &a.rbl_domain},
                                     {"rbl_reason", &a.rbl_reason},
                                     {"rbl_txt", &a.rbl_reason},
                                     {"rbl_what", &a.rbl_what},
                                     {"rbl_class", &a.rbl_class},
                                     {"client", &client},
                                     {"client_address", &a.client_address},
                                     {"client_name", &a.client_name},
                                     {"reverse_client_name", &a.reverse_client_name},
                                     {"helo_name", &a.helo_name},
                                     {"sender", &a.sender},
                                     {"recipient", &a.recipient}});
  if (!x) return x.error();
  std::string_view t = x->text;
  auto code = t.size() >= 4 && t[3] == ' ' ? str::parse_uint(t.substr(0, 3)) : std::nullopt;
  if (!code || *code < 400 || *code > 599)
    return make_error("DNS list reply \"{}\" does not start with a 4xx or 5xx code", str::printable(t, 100));
  if (!smtp::valid_reply_code(static_cast<int>(*code)))
    return make_error("DNS list reply code {} is not valid", *code);
  t = str::trim(t.substr(4));
  std::string dsn = fmt::format("{}.7.1", *code / 100);
  // An enhanced status code may open the text; its class follows the code.
  auto sp = t.find(' ');
  if (smtp::valid_enhanced_code(t.substr(0, sp))) {
    dsn = std::string(t.substr(0, sp));
    dsn[0] = static_cast<char>('0' + *code / 100);
    t = sp == std::string_view::npos ? std::string_view() : str::trim(t.substr(sp));
  }
  std::string text = access::reply_text(t, access::kMaxReplyBytes - 4 - dsn.size() - 1);
  return smtp::Reply(static_cast<int>(*code), dsn, text.empty() ? std::string("Service unavailable") : text);
}

std::string Need::key(Type type, std::string_view name) {
  switch (type) {
    case kListed:
    case kTxt: return std::string(name);
    case kMx: return "mx:" + std::string(name);
    case kNs: return "ns:" + std::string(name);
    case kAddresses: return "addr:" + std::string(name);
  }
  return std::string(name);
}

std::string Need::key() const { return key(type, name); }

}  // namespace postern::smtpd::dnsbl
