// master_cf_fuzz.cpp - libFuzzer target: arbitrary bytes as master.cf.
//
// Besides "never crash", checks that the normalized form printed by
// postconf -M, and the folded one postconf writes, parse back to the same
// entry.
#include <cstddef>
#include <cstdint>
#include <string>
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
    for (const std::string& form : {format_master_entry(s), format_master_entry_folded(s)}) {
      auto again = parse_master_cf(form);
      if (!again || again->size() != 1) __builtin_trap();
      const auto& t = (*again)[0];
      if (t.key() != s.key() || t.overrides != s.overrides || t.command != s.command || t.maxproc != s.maxproc ||
          t.wakeup != s.wakeup || t.wakeup_if_used != s.wakeup_if_used || t.private_service != s.private_service ||
          t.unprivileged != s.unprivileged || t.chroot != s.chroot)
        __builtin_trap();
      // The daemon's options come back one by one, with "-o" values as
      // "name=value" (Postfix's form); the command's own arguments after
      // them as they were; printing again gives the same.
      const auto so = scan_daemon_options(s.args), to = scan_daemon_options(t.args);
      if (s.args.size() - so.end != t.args.size() - to.end) __builtin_trap();
      for (std::size_t i = 0; so.end + i < s.args.size(); ++i)
        if (s.args[so.end + i] != t.args[to.end + i]) __builtin_trap();
      if (format_master_entry(t) != format_master_entry(s)) __builtin_trap();
    }
  }
  return 0;
}
