// address_map.cpp - canonical mapping, masquerading, virtual alias
// expansion and duplicate removal (see address_map.h).
//
// Logs: "warning: ID: unreasonable virtual_alias_maps map nesting for ADDR
// -- message not accepted, try again later" (and "... expansion size ..."),
// "warning: ID: virtual_alias_maps result too long ... (skipped)", and
// "warning: ID: TITLE map lookup problem for ADDR -- message not accepted,
// try again later", in Postfix's words.
#include "cleanup/address_map.h"

#include <unordered_set>

#include "base/strings.h"
#include "log/log.h"
#include "mail/address.h"
#include "mail/address_list.h"

namespace postern::cleanup {

std::string append_myorigin(std::string_view address, std::string_view myorigin) {
  if (address.empty() || address.find('@') != std::string_view::npos || myorigin.empty())
    return std::string(address);
  return std::string(address) + "@" + std::string(myorigin);
}

Result<unsigned> parse_classes(std::string_view param, const std::vector<std::string>& names) {
  unsigned bits = 0;
  for (const auto& n : names) {
    std::string l = str::lower(n);
    if (l == "envelope_sender")
      bits |= addr_class::kEnvelopeSender;
    else if (l == "envelope_recipient")
      bits |= addr_class::kEnvelopeRecipient;
    else if (l == "header_sender")
      bits |= addr_class::kHeaderSender;
    else if (l == "header_recipient")
      bits |= addr_class::kHeaderRecipient;
    else
      return make_error("{}: unknown address class \"{}\"", param, str::printable(n, 64));
  }
  return bits;
}

namespace {

std::string_view local_part(std::string_view address) {
  auto at = address.rfind('@');
  return at == std::string_view::npos ? address : address.substr(0, at);
}

}  // namespace

AddressMapper::AddressMapper(MapperOptions options, maps::MapList canonical, maps::MapList sender_canonical,
                             maps::MapList recipient_canonical, maps::MapList virtual_alias)
    : opts_(std::move(options)),
      canonical_(std::move(canonical)),
      sender_canonical_(std::move(sender_canonical)),
      recipient_canonical_(std::move(recipient_canonical)),
      virtual_(std::move(virtual_alias)) {}

// One table list, one address: the first address of the result, with
// "@domain" results keeping the local part and unmatched extensions put back.
// Postfix's cleanup_map11: the result is looked up again, so that
// "a -> b, b -> c" gives c, until an address is not found or maps to
// itself; ten steps without either is a table loop, and the message is
// not accepted (try again later) rather than sent somewhere arbitrary.
Result<std::string> AddressMapper::canonical(maps::MapList& list, std::string_view address, std::string_view id) {
  constexpr int kMaxCanonicalSteps = 10;
  std::string a(address);
  for (int step = 0; step < kMaxCanonicalSteps; ++step) {
    auto hit = maps::map_address(list, a, opts_.search, opts_.propagate_canonical);
    if (!hit) {
      log::warning("{}: {} map lookup problem for {} -- message not accepted, try again later", id, list.title(),
                   str::printable(a, 256));
      return hit.take_error();
    }
    if (!*hit) return a;
    std::string r = std::move(**hit);
    if (r.find('@') == std::string::npos && opts_.qualify) r = opts_.qualify(r);
    if (str::iequals(r, a)) return r;
    a = std::move(r);
  }
  log::warning("{}: unreasonable {} map nesting for {} -- message not accepted, try again later", id, list.title(),
               str::printable(a, 256));
  return make_error("unreasonable {} map nesting", list.title());
}

void AddressMapper::set_bcc_maps(maps::MapList sender_bcc, maps::MapList recipient_bcc) {
  sender_bcc_ = std::move(sender_bcc);
  recipient_bcc_ = std::move(recipient_bcc);
}

Result<std::optional<std::string>> AddressMapper::bcc(maps::MapList& list, std::string_view address,
                                                      std::string_view id) {
  if (list.empty() || address.empty()) return std::optional<std::string>();
  auto hit = maps::find_address(list, address, opts_.search);
  if (!hit) {
    log::warning("{}: {} map lookup problem for {} -- message not accepted, try again later", id, list.title(),
                 str::printable(address, 256));
    return hit.take_error();
  }
  if (!*hit) return std::optional<std::string>();
  auto results = maps::result_addresses((*hit)->value);
  if (results.empty() || results.front().empty() || results.front().front() == '@')
    return std::optional<std::string>();
  std::string r = std::move(results.front());
  if (r.find('@') == std::string::npos && opts_.qualify) r = opts_.qualify(r);
  return std::optional<std::string>(std::move(r));
}

Result<std::optional<std::string>> AddressMapper::sender_bcc(std::string_view address, std::string_view id) {
  return bcc(sender_bcc_, address, id);
}

Result<std::optional<std::string>> AddressMapper::recipient_bcc(std::string_view address, std::string_view id) {
  return bcc(recipient_bcc_, address, id);
}

Result<std::string> AddressMapper::map_sender(std::string_view address, unsigned cls, std::string_view id) {
  std::string a(address);
  if (a.empty()) return a;  // the null sender is never mapped
  if (opts_.sender_canonical_classes & cls) {
    auto r = canonical(sender_canonical_, a, id);
    if (!r) return r;
    a = std::move(*r);
  }
  if (opts_.canonical_classes & cls) {
    auto r = canonical(canonical_, a, id);
    if (!r) return r;
    a = std::move(*r);
  }
  if (opts_.masquerade_classes & cls) {
    auto m = masquerade(a, id);
    if (!m) return m;
    a = std::move(*m);
  }
  return a;
}

Result<std::string> AddressMapper::map_recipient(std::string_view address, unsigned cls, std::string_view id) {
  std::string a(address);
  if (a.empty()) return a;
  if (opts_.recipient_canonical_classes & cls) {
    auto r = canonical(recipient_canonical_, a, id);
    if (!r) return r;
    a = std::move(*r);
  }
  if (opts_.canonical_classes & cls) {
    auto r = canonical(canonical_, a, id);
    if (!r) return r;
    a = std::move(*r);
  }
  if (opts_.masquerade_classes & cls) {
    auto m = masquerade(a, id);
    if (!m) return m;
    a = std::move(*m);
  }
  return a;
}

Result<std::string> AddressMapper::masquerade(std::string_view address, std::string_view id) const {
  auto at = address.rfind('@');
  if (at == std::string_view::npos || opts_.masquerade_domains.empty()) return std::string(address);
  std::string_view local = address.substr(0, at);
  std::string domain = str::lower(address.substr(at + 1));
  if (opts_.masquerade_exceptions && !opts_.masquerade_exceptions->empty()) {
    auto hit = opts_.masquerade_exceptions->match(local);
    if (!hit) {
      log::warning("{}: masquerade_exceptions lookup problem for {} -- message not accepted, try again later", id,
                   str::printable(local, 256));
      return hit.take_error();
    }
    if (*hit) return std::string(address);
  }
  // Postfix's cleanup_masquerade_external(): the first entry that is the
  // domain itself, or a parent of it, decides. The domain itself (listed
  // with or without "!") and a "!" parent leave the address alone; a plain
  // parent replaces the domain.
  for (const auto& entry : opts_.masquerade_domains) {
    bool negate = !entry.empty() && entry.front() == '!';
    std::string masq = str::lower(negate ? std::string_view(entry).substr(1) : std::string_view(entry));
    if (!masq.empty() && masq.back() == '.') masq.pop_back();
    if (masq.empty()) continue;
    if (domain == masq) return std::string(address);
    if (domain.size() > masq.size() && domain.compare(domain.size() - masq.size(), masq.size(), masq) == 0 &&
        domain[domain.size() - masq.size() - 1] == '.')
      return negate ? std::string(address) : std::string(local) + "@" + masq;
  }
  return std::string(address);
}

// Postfix's cleanup_map1n: the list starts with the recipient; each entry
// is replaced by its first expansion (the rest are appended) and looked up
// again until it is not found. Only an address that expanded into itself
// ("a -> a, b") is remembered, and kept as it is when met again; any other
// address is expanded wherever it appears, so two aliases sharing a
// member both reach its final addresses (duplicates are removed later),
// and a loop ("a -> b", "b -> a") runs into virtual_alias_recursion_limit
// and defers the message. `count` per entry is the nesting depth.
std::optional<MappingError> AddressMapper::expand_virtual(std::string_view address, std::string_view id,
                                                          std::vector<std::string>& out) {
  out.clear();
  out.emplace_back(address);
  if (virtual_.empty()) return std::nullopt;
  std::unordered_set<std::string> expanded_into_itself;
  auto seen = [&](const std::string& a) { return expanded_into_itself.count(str::lower(a)) != 0; };
  const std::string title = virtual_.title().empty() ? "virtual_alias_maps" : virtual_.title();
  auto defer = [&](std::string why) {
    log::warning("{}: {} for {} -- message not accepted, try again later", id, why, str::printable(address, 256));
    return MappingError{451, "4.6.0", "Alias expansion error"};
  };

  for (std::size_t arg = 0; arg < out.size(); ++arg) {
    if (out.size() > opts_.virtual_expansion_limit)
      return defer(fmt::format("unreasonable {} map expansion size", title));
    for (std::size_t count = 0;; ++count) {
      if (seen(out[arg])) break;
      if (count >= opts_.virtual_recursion_limit)
        return defer(fmt::format("unreasonable {} map nesting", title));
      auto hit = maps::find_address(virtual_, out[arg], opts_.search);
      if (!hit) return defer(fmt::format("{} map lookup problem", title));
      if (!*hit) break;
      std::string lhs = out[arg];
      std::string lhs_local(local_part(lhs));
      auto results = maps::result_addresses((*hit)->value);
      bool replaced = false;
      for (auto& r : results) {
        if (!r.empty() && r.front() == '@') r = lhs_local + r;
        if (opts_.propagate_virtual && !(*hit)->extension.empty()) r = maps::add_extension(r, (*hit)->extension);
        if (r.find('@') == std::string::npos && opts_.qualify) r = opts_.qualify(r);
        if (r.size() > opts_.virtual_address_length_limit) {
          // The whole message waits, as in Postfix: dropping the one
          // recipient would lose its mail without a word to anyone.
          log::warning("{}: unreasonable {} result {}... -- message not accepted, try again later", id, title,
                       str::printable(r, 300));
          return MappingError{451, "4.6.0", "Alias expansion error"};
        }
        // "a -> a, b": the address may expand into itself once.
        if (str::iequals(r, lhs)) expanded_into_itself.insert(str::lower(lhs));
        if (!replaced) {
          out[arg] = std::move(r);
          replaced = true;
        } else {
          out.push_back(std::move(r));
        }
      }
      if (!replaced) {
        // Every result was unusable: the recipient cannot be expanded.
        return defer(fmt::format("{} map expansion produced no usable address", title));
      }
      if (out.size() > opts_.virtual_expansion_limit)
        return defer(fmt::format("unreasonable {} map expansion size", title));
    }
  }
  return std::nullopt;
}

bool DuplicateFilter::first(std::string_view address, std::string_view original, unsigned notify,
                            std::string_view orcpt) {
  // Case-folded, as Postfix's filter (been_here with BH_FLAG_FOLD):
  // User@example.com and user@example.com get one delivery.
  std::string key =
      str::lower(by_original_ ? fmt::format("{}\n{}\n{}\n{}", orcpt, notify, original, address) : std::string(address));
  if (seen_.count(key)) return false;
  if (limit_ == 0 || seen_.size() < limit_) seen_.insert(std::move(key));
  return true;
}

}  // namespace postern::cleanup
