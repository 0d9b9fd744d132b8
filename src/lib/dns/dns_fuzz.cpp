// dns_fuzz.cpp - libFuzzer target for everything in the DNS library that
// reads untrusted bytes: name server replies (MX, A, AAAA, PTR, NS, TXT, TLSA), next-hop
// strings from transport maps, host names and name server lists from
// configuration. The first input byte picks the parser.
#include <ares.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <string_view>

#include "dns/answer.h"
#include "dns/name.h"
#include "dns/nexthop.h"
#include "dns/resolver.h"

using namespace postern;
using namespace postern::dns;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  static std::mt19937_64 rng(1);
  std::uint8_t which = data[0];
  std::span<const unsigned char> msg(data + 1, size - 1);
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  static const auto v4 = *parse_ip("192.0.2.1");
  static const auto v6 = *parse_ip("2001:db8::1");
  switch (which % 11) {
    case 0: {
      auto r = parse_mx_answer("example.com", ARES_SUCCESS, msg, rng);
      if (r.ok() && (r.records.empty() || r.records.size() > kMaxMxRecords)) __builtin_trap();
      for (std::size_t i = 1; i < r.records.size(); ++i)
        if (r.records[i - 1].preference > r.records[i].preference) __builtin_trap();
      break;
    }
    case 1: {
      auto r = parse_address_answer("example.com", RrType::A, ARES_SUCCESS, msg);
      if (r.records.size() > kMaxAddressesPerFamily) __builtin_trap();
      for (auto& a : r.records)
        if (!a.is_v4()) __builtin_trap();
      break;
    }
    case 2: {
      auto r = parse_address_answer("example.com", RrType::AAAA, ARES_SUCCESS, msg);
      if (r.records.size() > kMaxAddressesPerFamily) __builtin_trap();
      for (auto& a : r.records)
        if (!a.is_v6()) __builtin_trap();
      break;
    }
    case 3: {
      auto r = parse_ptr_answer(which & 0x80 ? v6 : v4, ARES_SUCCESS, msg);
      if (r.records.size() > kMaxPtrNames) __builtin_trap();
      for (auto& n : r.records)
        if (!normalize_hostname(n).ok()) __builtin_trap();
      break;
    }
    case 4: {
      auto n = parse_nexthop(text);
      if (n.ok() && n->literal && n->mx_lookup) __builtin_trap();
      break;
    }
    case 5: {
      auto n = normalize_hostname(text);
      // Normalizing is idempotent.
      if (n.ok() && (!normalize_hostname(*n).ok() || *normalize_hostname(*n) != *n)) __builtin_trap();
      break;
    }
    case 6: {
      (void)normalize_server_list(text);
      (void)parse_port(text);
      break;
    }
    case 7: {
      if (auto ip = parse_ip(text)) (void)reverse_name(*ip);
      (void)parse_families(text);
      break;
    }
    case 9: {
      auto r = parse_ns_answer("example.com", ARES_SUCCESS, msg);
      if (r.records.size() > kMaxNsNames) __builtin_trap();
      for (auto& n : r.records)
        if (!normalize_hostname(n).ok()) __builtin_trap();
      break;
    }
    case 8: {
      auto r = parse_txt_answer("bl.example", ARES_SUCCESS, msg);
      if (r.records.size() > kMaxTxtRecords) __builtin_trap();
      for (auto& t : r.records) {
        if (t.size() > kMaxTxtLength) __builtin_trap();
        for (char c : t)
          if (c < 0x20 || c > 0x7e) __builtin_trap();
      }
      break;
    }
    case 10: {
      auto r = parse_tlsa_answer("_25._tcp.mx.example", ARES_SUCCESS, msg);
      if (r.records.size() > kMaxTlsaRecords || (r.ok() && r.records.empty())) __builtin_trap();
      for (auto& t : r.records)
        if (t.data.size() + 3 > msg.size()) __builtin_trap();
      (void)authentic_data(msg);
      break;
    }
  }
  return 0;
}
