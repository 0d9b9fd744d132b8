// master_cf_fuzz.cpp - libFuzzer target: arbitrary bytes as master.cf.
//
// Besides "never crash", checks that the normalized form printed by
// postconf -M parses back to the same entry.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/master_cf.h"

using namespace postern::config;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto services = parse_master_cf(text);
  if (!services) return 0;
  for (const auto& s : *services) {
    (void)s.key();
    if (s.type == ServiceType::Inet && !parse_inet_service(s.name)) __builtin_trap();
    auto again = parse_master_cf(format_master_entry(s));
    if (!again || again->size() != 1) __builtin_trap();
    const auto& t = (*again)[0];
    if (t.key() != s.key() || t.args != s.args || t.overrides != s.overrides || t.command != s.command ||
        t.maxproc != s.maxproc || t.wakeup != s.wakeup || t.wakeup_if_used != s.wakeup_if_used ||
        t.private_service != s.private_service || t.unprivileged != s.unprivileged || t.chroot != s.chroot)
      __builtin_trap();
  }
  return 0;
}
