// address_search.cpp - see address_search.h (Postfix's mail_addr_find()).
//
// Logs nothing itself; table errors are logged by MapList.
#include "maps/address_search.h"

#include "base/strings.h"
#include "mail/address_list.h"

namespace postern::maps {

std::optional<StrippedAddress> strip_extension(std::string_view address, std::string_view delimiters,
                                               std::string_view double_bounce_sender) {
  if (delimiters.empty() || address.find_first_of(delimiters) == std::string_view::npos) return std::nullopt;
  auto at = address.rfind('@');
  std::string_view local = at == std::string_view::npos ? address : address.substr(0, at);
  std::string_view domain = at == std::string_view::npos ? std::string_view{} : address.substr(at);
  // Never split these, whatever the delimiter.
  if (str::iequals(local, "postmaster") || str::iequals(local, "MAILER-DAEMON") ||
      str::iequals(local, double_bounce_sender))
    return std::nullopt;
  // Backwards compatibility: owner-foo and foo-request keep their dash.
  if (delimiters.find('-') != std::string_view::npos) {
    if (str::istarts_with(local, "owner-")) return std::nullopt;
    if (local.size() > 8 && str::iequals(local.substr(local.size() - 8), "-request")) return std::nullopt;
  }
  auto pos = local.find_first_of(delimiters);
  if (pos == 0 || pos == std::string_view::npos) return std::nullopt;
  StrippedAddress out;
  out.address = std::string(local.substr(0, pos)) + std::string(domain);
  out.extension = std::string(local.substr(pos));
  return out;
}

Result<std::optional<AddressMatch>> find_address(MapList& maps, std::string_view address,
                                                 const AddressSearchOptions& opts) {
  using Found = std::optional<AddressMatch>;
  auto stripped = strip_extension(address, opts.recipient_delimiter, opts.double_bounce_sender);

  auto hit = [](std::string value, std::string_view key, std::string ext) {
    return Found(AddressMatch{std::move(value), std::string(key), std::move(ext)});
  };

  // 1 and 2: user+ext@domain (every table), user@domain (fixed tables).
  auto r = maps.lookup(address, false);
  if (!r) return r.take_error();
  if (*r) return hit(std::move(**r), address, {});
  if (stripped) {
    r = maps.lookup(stripped->address, true);
    if (!r) return r.take_error();
    if (*r) return hit(std::move(**r), stripped->address, stripped->extension);
  }

  auto at = address.rfind('@');
  if (at == std::string_view::npos) return Found();
  std::string_view domain = address.substr(at + 1);

  // 3 and 4: user+ext, user, for local domains.
  bool local = false;
  if (opts.is_local) {
    auto l = opts.is_local(domain);
    if (!l) return l.take_error();
    local = *l;
  }
  if (local) {
    std::string_view user = address.substr(0, at);
    r = maps.lookup(user, true);
    if (!r) return r.take_error();
    if (*r) return hit(std::move(**r), user, {});
    if (stripped) {
      std::string bare = stripped->address.substr(0, stripped->address.rfind('@'));
      r = maps.lookup(bare, true);
      if (!r) return r.take_error();
      if (*r) return hit(std::move(**r), bare, stripped->extension);
    }
  }

  // 5: @domain.
  std::string_view at_domain = address.substr(at);
  r = maps.lookup(at_domain, true);
  if (!r) return r.take_error();
  if (*r) return hit(std::move(**r), at_domain, {});
  return Found();
}

std::string add_extension(std::string_view address, std::string_view extension) {
  auto at = address.rfind('@');
  if (at == std::string_view::npos) return std::string(address) + std::string(extension);
  return std::string(address.substr(0, at)) + std::string(extension) + std::string(address.substr(at));
}

std::vector<std::string> result_addresses(std::string_view value) {
  std::vector<std::string> out;
  auto list = mail::parse_address_list(value);
  if (list && !list->addresses.empty()) {
    for (auto& a : list->addresses) out.push_back(a.address.to_internal());
    return out;
  }
  auto t = str::trim(value);
  if (!t.empty()) out.emplace_back(t);
  return out;
}

Result<std::optional<std::string>> map_address(MapList& maps, std::string_view address,
                                               const AddressSearchOptions& opts, bool propagate_extension) {
  if (maps.empty() || address.empty()) return std::optional<std::string>();
  auto hit = find_address(maps, address, opts);
  if (!hit) return hit.take_error();
  if (!*hit) return std::optional<std::string>();
  auto results = result_addresses((*hit)->value);
  if (results.empty()) return std::optional<std::string>();
  std::string r = std::move(results.front());
  if (!r.empty() && r.front() == '@') {
    auto at = address.rfind('@');
    r = std::string(at == std::string_view::npos ? address : address.substr(0, at)) + r;
  }
  if (propagate_extension && !(*hit)->extension.empty()) r = add_extension(r, (*hit)->extension);
  return std::optional<std::string>(std::move(r));
}

}  // namespace postern::maps
