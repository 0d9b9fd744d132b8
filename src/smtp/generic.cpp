// generic.cpp - see generic.h.
#include "generic.h"

#include "base/strings.h"
#include "log/log.h"
#include "mail/address_list.h"

namespace postern::smtp_client {

Result<std::unique_ptr<GenericMaps>> GenericMaps::open(std::string_view title, std::string_view list, Options o) {
  if (str::trim(list).empty()) return std::unique_ptr<GenericMaps>();
  auto ml = maps::MapList::open(title, list);
  if (!ml) return ml.take_error();
  return std::unique_ptr<GenericMaps>(new GenericMaps(std::move(*ml), std::move(o)));
}

GenericMaps::GenericMaps(maps::MapList maps, Options o) : maps_(std::move(maps)), opts_(std::move(o)) {
  search_.recipient_delimiter = opts_.recipient_delimiter;
  search_.is_local = [myorigin = opts_.myorigin, local = opts_.local_domains](std::string_view domain) -> Result<bool> {
    std::string d = str::lower(domain);
    if (!d.empty() && d.back() == '.') d.pop_back();
    if (d.empty()) return false;
    if (d == myorigin) return true;
    for (const auto& l : local)
      if (l == d) return true;
    return false;
  };
}

Result<std::string> GenericMaps::map(std::string_view address, std::string_view queue_id) {
  auto hit = maps::map_address(maps_, address, search_, opts_.propagate_extension);
  if (!hit) {
    log::warning("{}: {} lookup error for {}: {}", queue_id, maps_.title(), str::printable(address, 256),
                 hit.error().message);
    return hit.take_error();
  }
  return *hit ? std::move(**hit) : std::string(address);
}

Result<std::optional<std::string>> GenericMaps::header_value(const mail::Header& h, std::string_view queue_id) {
  if (!mail::is_address_header(h.kind)) return std::optional<std::string>();
  mail::AddressListOptions lo;
  lo.max_bytes = opts_.header_size_limit + 1;
  auto list = mail::parse_address_list(h.value, lo);
  if (!list || list->addresses.empty()) return std::optional<std::string>();
  std::vector<std::optional<mail::Address>> repl(list->addresses.size());
  bool changed = false;
  for (std::size_t i = 0; i < list->addresses.size(); ++i) {
    const auto& a = list->addresses[i];
    if (a.address.is_null()) continue;
    const std::string internal = a.address.to_internal();
    auto mapped = map(internal, queue_id);
    if (!mapped) return mapped.take_error();
    if (*mapped != internal) {
      repl[i] = mail::Address::from_internal(*mapped);
      changed = true;
    }
  }
  if (!changed) return std::optional<std::string>();
  const mail::HeaderAddress* base = list->addresses.data();
  return std::optional<std::string>(mail::rewrite_address_list(
      h.value, *list, [&](const mail::HeaderAddress& a) { return repl[static_cast<std::size_t>(&a - base)]; }));
}

}  // namespace postern::smtp_client
