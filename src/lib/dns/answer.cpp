// answer.cpp - see answer.h.
#include "dns/answer.h"

#include <ares.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "base/strings.h"
#include "dns/name.h"

namespace postern::dns {

namespace {

// c-ares takes message lengths as int; DNS messages are at most 64 KiB, so a
// longer buffer is not a DNS message.
constexpr std::size_t kMaxMessage = 65535;

bool message_fits(std::span<const unsigned char> msg) { return !msg.empty() && msg.size() <= kMaxMessage; }

template <class T>
Answer<T> failed(std::string_view name, RrType type, Outcome o) {
  Answer<T> a;
  a.outcome = o;
  a.detail = describe(name, type, o);
  return a;
}

template <class T>
Answer<T> malformed(std::string_view name, RrType type) {
  Answer<T> a;
  a.outcome = Outcome::TempFail;
  a.detail = fmt::format("Name service error for name={} type={}: Malformed or unexpected name server reply",
                         str::printable(name, kMaxNameLength + 1), to_string(type));
  return a;
}

// A name taken from record data: valid, not numeric. On failure, why.
Result<std::string> data_hostname(const char* raw) {
  std::string_view s = raw ? std::string_view(raw) : std::string_view();
  auto n = normalize_hostname(s);
  if (!n) return n.take_error();
  if (is_numeric_hostname(*n)) return make_error("numeric domain name");
  return n;
}

struct FreeData {
  void operator()(void* p) const { ares_free_data(p); }
};
struct FreeHostent {
  void operator()(hostent* h) const { ares_free_hostent(h); }
};

}  // namespace

Outcome outcome_from_ares(int ares_status) {
  switch (ares_status) {
    case ARES_SUCCESS: return Outcome::Ok;
    case ARES_ENODATA: return Outcome::NoData;
    case ARES_ENOTFOUND: return Outcome::NotFound;
    case ARES_EBADNAME: return Outcome::Invalid;
    default: return Outcome::TempFail;
  }
}

std::string describe(std::string_view name, RrType type, Outcome o) {
  auto shown = str::printable(name, kMaxNameLength + 1);
  switch (o) {
    case Outcome::Ok: return {};
    case Outcome::NullMx: return fmt::format("Domain {} does not accept mail (nullMX)", shown);
    case Outcome::Invalid: return fmt::format("malformed domain name: {}", shown);
    default: break;
  }
  std::string_view why = o == Outcome::NotFound ? "Host not found"
                         : o == Outcome::NoData ? "Host found but no data record of requested type"
                                                : "Host not found, try again";
  return fmt::format("Name service error for name={} type={}: {}", shown, to_string(type), why);
}

MxResult parse_mx_answer(std::string_view qname, int ares_status, std::span<const unsigned char> msg,
                         std::mt19937_64& rng) {
  if (ares_status != ARES_SUCCESS) return failed<MxRecord>(qname, RrType::MX, outcome_from_ares(ares_status));
  if (!message_fits(msg)) return malformed<MxRecord>(qname, RrType::MX);
  ares_mx_reply* head = nullptr;
  int rc = ares_parse_mx_reply(msg.data(), static_cast<int>(msg.size()), &head);
  std::unique_ptr<ares_mx_reply, FreeData> guard(head);
  // An answer with records, none of them MX (a CNAME alone, say), is no MX.
  if (rc == ARES_ENODATA || (rc == ARES_SUCCESS && head == nullptr))
    return failed<MxRecord>(qname, RrType::MX, Outcome::NoData);
  if (rc != ARES_SUCCESS) return malformed<MxRecord>(qname, RrType::MX);

  MxResult out;
  std::size_t total = 0;
  bool has_root = false;
  for (auto* r = head; r; r = r->next) {
    ++total;
    // The root name "." expands to "": the RFC 7505 null MX marker.
    if (r->host == nullptr || r->host[0] == '\0' || std::string_view(r->host) == ".") {
      has_root = true;
      continue;
    }
    auto host = data_hostname(r->host);
    if (!host) {
      if (out.warning.empty())
        out.warning = fmt::format("{}: malformed domain name in resource data of MX record: {} ({})",
                                  str::printable(qname, kMaxNameLength + 1),
                                  str::printable(r->host, kMaxNameLength + 1), host.error().message);
      continue;
    }
    // The total is bounded by the message size; keep the vector bounded too.
    if (out.records.size() >= 4 * kMaxMxRecords) {
      out.capped = true;
      continue;
    }
    auto same = std::find_if(out.records.begin(), out.records.end(),
                             [&](const MxRecord& m) { return m.host == *host; });
    if (same != out.records.end()) {
      same->preference = std::min(same->preference, r->priority);
      continue;
    }
    out.records.push_back(MxRecord{r->priority, std::move(*host)});
  }

  if (has_root && total == 1) {
    // RFC 7505 says preference 0; a lone "." with another preference names
    // no deliverable host either, so it is treated the same way.
    MxResult n;
    n.outcome = Outcome::NullMx;
    n.detail = describe(qname, RrType::MX, Outcome::NullMx);
    return n;
  }
  if (has_root && out.warning.empty())
    out.warning = fmt::format("{}: null MX record mixed with other MX records; ignoring it",
                              str::printable(qname, kMaxNameLength + 1));
  if (out.records.empty()) {
    auto m = malformed<MxRecord>(qname, RrType::MX);
    m.warning = std::move(out.warning);
    return m;
  }
  // Random order among equal preferences: shuffle everything, then a stable
  // sort by preference keeps the shuffled order inside each preference.
  std::shuffle(out.records.begin(), out.records.end(), rng);
  std::stable_sort(out.records.begin(), out.records.end(),
                   [](const MxRecord& a, const MxRecord& b) { return a.preference < b.preference; });
  if (out.records.size() > kMaxMxRecords) {
    out.records.resize(kMaxMxRecords);
    out.capped = true;
  }
  out.outcome = Outcome::Ok;
  return out;
}

AddrResult parse_address_answer(std::string_view qname, RrType type, int ares_status,
                                std::span<const unsigned char> msg) {
  if (ares_status != ARES_SUCCESS) return failed<asio::ip::address>(qname, type, outcome_from_ares(ares_status));
  if (!message_fits(msg)) return malformed<asio::ip::address>(qname, type);
  // One slot more than we keep tells us whether the answer had more.
  constexpr int kSlots = static_cast<int>(kMaxAddressesPerFamily) + 1;
  AddrResult out;
  int n = kSlots;
  int rc;
  std::vector<asio::ip::address> found;
  if (type == RrType::A) {
    std::array<ares_addrttl, kSlots> ttls{};
    rc = ares_parse_a_reply(msg.data(), static_cast<int>(msg.size()), nullptr, ttls.data(), &n);
    if (rc == ARES_SUCCESS)
      for (int i = 0; i < n && i < kSlots; ++i) {
        asio::ip::address_v4::bytes_type b;
        static_assert(sizeof(b) == sizeof(ttls[i].ipaddr));
        std::memcpy(b.data(), &ttls[i].ipaddr, b.size());
        found.emplace_back(asio::ip::address_v4(b));
      }
  } else if (type == RrType::AAAA) {
    std::array<ares_addr6ttl, kSlots> ttls{};
    rc = ares_parse_aaaa_reply(msg.data(), static_cast<int>(msg.size()), nullptr, ttls.data(), &n);
    if (rc == ARES_SUCCESS)
      for (int i = 0; i < n && i < kSlots; ++i) {
        asio::ip::address_v6::bytes_type b;
        static_assert(sizeof(b) == sizeof(ttls[i].ip6addr));
        std::memcpy(b.data(), &ttls[i].ip6addr, b.size());
        found.emplace_back(asio::ip::address_v6(b));
      }
  } else {
    return failed<asio::ip::address>(qname, type, Outcome::Invalid);
  }
  if (rc == ARES_ENODATA || (rc == ARES_SUCCESS && found.empty()))
    return failed<asio::ip::address>(qname, type, Outcome::NoData);
  if (rc != ARES_SUCCESS) return malformed<asio::ip::address>(qname, type);
  for (auto& a : found) {
    if (std::find(out.records.begin(), out.records.end(), a) != out.records.end()) continue;
    if (out.records.size() >= kMaxAddressesPerFamily) {
      out.capped = true;
      break;
    }
    out.records.push_back(a);
  }
  out.outcome = Outcome::Ok;
  return out;
}

namespace {

// The host names a PTR or NS reply lists (c-ares puts every one in
// h_aliases, in answer order; h_name is one of them): validated like MX
// hosts, deduplicated, at most `cap`.
Answer<std::string> names_of(const hostent& he, std::string_view qname, RrType type, std::size_t cap) {
  std::vector<const char*> raw;
  if (he.h_aliases)
    for (char** p = he.h_aliases; *p; ++p) raw.push_back(*p);
  if (raw.empty() && he.h_name) raw.push_back(he.h_name);

  Answer<std::string> out;
  for (const char* r : raw) {
    auto name = data_hostname(r);
    if (!name) {
      if (out.warning.empty())
        out.warning = fmt::format("{}: malformed domain name in resource data of {} record: {} ({})", qname,
                                  to_string(type), str::printable(r, kMaxNameLength + 1), name.error().message);
      continue;
    }
    if (std::find(out.records.begin(), out.records.end(), *name) != out.records.end()) continue;
    if (out.records.size() >= cap) {
      out.capped = true;
      break;
    }
    out.records.push_back(std::move(*name));
  }
  if (out.records.empty()) {
    // The name exists and answered, but with nothing usable as a host name:
    // permanent, like no record at all.
    auto f = failed<std::string>(qname, type, Outcome::NoData);
    f.warning = std::move(out.warning);
    return f;
  }
  out.outcome = Outcome::Ok;
  return out;
}

}  // namespace

PtrResult parse_ptr_answer(const asio::ip::address& addr_in, int ares_status,
                           std::span<const unsigned char> msg) {
  auto addr = unmap(addr_in);
  auto qname = reverse_name(addr);
  if (ares_status != ARES_SUCCESS) return failed<std::string>(qname, RrType::PTR, outcome_from_ares(ares_status));
  if (!message_fits(msg)) return malformed<std::string>(qname, RrType::PTR);
  hostent* he = nullptr;
  int rc;
  if (addr.is_v4()) {
    auto b = addr.to_v4().to_bytes();
    rc = ares_parse_ptr_reply(msg.data(), static_cast<int>(msg.size()), b.data(), int(b.size()), AF_INET, &he);
  } else {
    auto b = addr.to_v6().to_bytes();
    rc = ares_parse_ptr_reply(msg.data(), static_cast<int>(msg.size()), b.data(), int(b.size()), AF_INET6, &he);
  }
  std::unique_ptr<hostent, FreeHostent> guard(he);
  if (rc == ARES_ENODATA) return failed<std::string>(qname, RrType::PTR, Outcome::NoData);
  if (rc != ARES_SUCCESS || he == nullptr) return malformed<std::string>(qname, RrType::PTR);
  return names_of(*he, qname, RrType::PTR, kMaxPtrNames);
}

Answer<std::string> parse_ns_answer(std::string_view qname, int ares_status, std::span<const unsigned char> msg) {
  if (ares_status != ARES_SUCCESS) return failed<std::string>(qname, RrType::NS, outcome_from_ares(ares_status));
  if (!message_fits(msg)) return malformed<std::string>(qname, RrType::NS);
  hostent* he = nullptr;
  int rc = ares_parse_ns_reply(msg.data(), static_cast<int>(msg.size()), &he);
  std::unique_ptr<hostent, FreeHostent> guard(he);
  if (rc == ARES_ENODATA) return failed<std::string>(qname, RrType::NS, Outcome::NoData);
  if (rc != ARES_SUCCESS || he == nullptr) return malformed<std::string>(qname, RrType::NS);
  return names_of(*he, qname, RrType::NS, kMaxNsNames);
}

TxtResult parse_txt_answer(std::string_view qname, int ares_status, std::span<const unsigned char> msg) {
  if (ares_status != ARES_SUCCESS) return failed<std::string>(qname, RrType::TXT, outcome_from_ares(ares_status));
  if (!message_fits(msg)) return malformed<std::string>(qname, RrType::TXT);
  ares_txt_ext* head = nullptr;
  int rc = ares_parse_txt_reply_ext(msg.data(), static_cast<int>(msg.size()), &head);
  std::unique_ptr<ares_txt_ext, void (*)(void*)> guard(head, ares_free_data);
  if (rc == ARES_ENODATA || (rc == ARES_SUCCESS && head == nullptr))
    return failed<std::string>(qname, RrType::TXT, Outcome::NoData);
  if (rc != ARES_SUCCESS) return malformed<std::string>(qname, RrType::TXT);
  TxtResult out;
  // A record is one or more character-strings; record_start marks the first.
  bool keep = false;
  for (auto* t = head; t; t = t->next) {
    if (t->record_start) {
      if (out.records.size() >= kMaxTxtRecords) {
        out.capped = true;
        break;
      }
      out.records.emplace_back();
      keep = true;
    }
    if (!keep) continue;  // (a continuation without a start: malformed list, skip)
    auto& text = out.records.back();
    for (std::size_t i = 0; i < t->length && text.size() < kMaxTxtLength; ++i) {
      unsigned char c = t->txt[i];
      text.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?');
    }
  }
  if (out.records.empty()) return failed<std::string>(qname, RrType::TXT, Outcome::NoData);
  out.outcome = Outcome::Ok;
  return out;
}

namespace {

// One resource record of a message's answer section: its owner (lower
// case, no trailing dot), type and where its data is.
struct RawRr {
  std::string owner;
  std::uint16_t type = 0;
  std::size_t rdata = 0, rdlength = 0;
};

std::uint16_t get16(std::span<const unsigned char> m, std::size_t at) {
  return static_cast<std::uint16_t>(m[at] << 8 | m[at + 1]);
}

// The (possibly compressed) name at `at`: its text and its length on the
// wire; nullopt when it is malformed or runs past the message.
std::optional<std::pair<std::string, std::size_t>> name_at(std::span<const unsigned char> m, std::size_t at) {
  if (at >= m.size()) return std::nullopt;
  char* raw = nullptr;
  long enclen = 0;
  if (ares_expand_name(m.data() + at, m.data(), static_cast<int>(m.size()), &raw, &enclen) != ARES_SUCCESS)
    return std::nullopt;
  std::unique_ptr<char, void (*)(void*)> guard(raw, ares_free_string);
  std::string name = str::lower(raw);
  if (!name.empty() && name.back() == '.') name.pop_back();
  return std::make_pair(std::move(name), static_cast<std::size_t>(enclen));
}

// The answer section, or nullopt when the message is malformed.
std::optional<std::vector<RawRr>> answer_records(std::span<const unsigned char> m) {
  if (m.size() < 12) return std::nullopt;
  std::size_t qd = get16(m, 4), an = get16(m, 6);
  std::size_t at = 12;
  for (std::size_t i = 0; i < qd; ++i) {
    auto n = name_at(m, at);
    if (!n || at + n->second + 4 > m.size()) return std::nullopt;
    at += n->second + 4;
  }
  std::vector<RawRr> out;
  for (std::size_t i = 0; i < an; ++i) {
    auto n = name_at(m, at);
    if (!n || at + n->second + 10 > m.size()) return std::nullopt;
    at += n->second;
    RawRr rr;
    rr.owner = std::move(n->first);
    rr.type = get16(m, at);
    rr.rdlength = get16(m, at + 8);
    rr.rdata = at + 10;
    if (rr.rdata + rr.rdlength > m.size()) return std::nullopt;
    at = rr.rdata + rr.rdlength;
    out.push_back(std::move(rr));
  }
  return out;
}

}  // namespace

TlsaResult parse_tlsa_answer(std::string_view qname_in, int ares_status, std::span<const unsigned char> msg) {
  if (ares_status != ARES_SUCCESS)
    return failed<TlsaRecord>(qname_in, RrType::TLSA, outcome_from_ares(ares_status));
  if (!message_fits(msg)) return malformed<TlsaRecord>(qname_in, RrType::TLSA);
  auto rrs = answer_records(msg);
  if (!rrs) return malformed<TlsaRecord>(qname_in, RrType::TLSA);
  // The records are those of the name the CNAME chain from qname ends at
  // (a bounded walk: a loop or a long chain ends it).
  std::string at = str::lower(qname_in);
  if (!at.empty() && at.back() == '.') at.pop_back();
  for (int hop = 0; hop < 8; ++hop) {
    auto c = std::find_if(rrs->begin(), rrs->end(), [&](const RawRr& r) { return r.type == 5 && r.owner == at; });
    if (c == rrs->end()) break;
    auto target = name_at(msg, c->rdata);
    if (!target || target->second > c->rdlength) return malformed<TlsaRecord>(qname_in, RrType::TLSA);
    at = std::move(target->first);
  }
  TlsaResult out;
  for (const auto& r : *rrs) {
    if (r.type != static_cast<std::uint16_t>(RrType::TLSA) || r.owner != at) continue;
    if (r.rdlength < 3) {
      if (out.warning.empty())
        out.warning = fmt::format("{}: malformed TLSA record: {} bytes of data",
                                  str::printable(qname_in, kMaxNameLength + 1), r.rdlength);
      continue;
    }
    if (out.records.size() >= kMaxTlsaRecords) {
      out.capped = true;
      break;
    }
    TlsaRecord t;
    t.usage = msg[r.rdata];
    t.selector = msg[r.rdata + 1];
    t.mtype = msg[r.rdata + 2];
    t.data.assign(reinterpret_cast<const char*>(msg.data() + r.rdata + 3), r.rdlength - 3);
    if (std::find(out.records.begin(), out.records.end(), t) == out.records.end()) out.records.push_back(std::move(t));
  }
  if (out.records.empty()) {
    auto f = failed<TlsaRecord>(qname_in, RrType::TLSA, Outcome::NoData);
    f.warning = std::move(out.warning);
    return f;
  }
  out.outcome = Outcome::Ok;
  return out;
}

bool authentic_data(std::span<const unsigned char> msg) { return msg.size() >= 4 && (msg[3] & 0x20) != 0; }

}  // namespace postern::dns
