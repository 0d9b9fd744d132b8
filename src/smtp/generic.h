// generic.h - smtp_generic_maps (lmtp_generic_maps): Postfix's generic(5)
// address rewriting in the client, typically to turn addresses that are
// valid only here (user@localhost.localdomain) into ones valid outside.
//
// What is rewritten, as in Postfix: the envelope sender (not the null
// sender), every envelope recipient as sent in RCPT TO, and the addresses
// of the sender and recipient headers (From:, Sender:, Reply-To:, To:, Cc:,
// Resent-*, Return-Receipt-To:, Errors-To:, ...) of the primary message
// header, after smtp_header_checks. The queue file, the log lines
// (to=<...>) and DSN ORCPT values keep the original addresses.
//
// The table search order of generic(5): user@domain, then user (only when
// the domain is $myorigin or a name in $mydestination), then @domain, with
// recipient_delimiter extensions (maps/address_search.h). An "@domain"
// answer keeps the local part; "generic" in propagate_unmatched_extensions
// puts an unmatched extension back. A lookup that fails defers the
// delivery (local data error).
//
// Reads no parameters (the caller passes them).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "mail/header.h"
#include "maps/address_search.h"
#include "maps/map_list.h"

namespace postern::smtp_client {

class GenericMaps {
 public:
  struct Options {
    std::string recipient_delimiter;
    bool propagate_extension = false;          // "generic" in propagate_unmatched_extensions
    std::string myorigin;                      // lower case
    std::vector<std::string> local_domains;    // mydestination names, lower case
    std::size_t header_size_limit = 102400;
  };
  // Null when `list` is empty.
  static Result<std::unique_ptr<GenericMaps>> open(std::string_view title, std::string_view list, Options o);

  // One address in internal form: the mapped one, or unchanged. Errors are
  // lookup failures (logged with `queue_id`).
  Result<std::string> map(std::string_view address, std::string_view queue_id);
  // A primary header with its addresses mapped: the new value, or nullopt
  // when it is not an address header or nothing changed.
  Result<std::optional<std::string>> header_value(const mail::Header& h, std::string_view queue_id);

 private:
  GenericMaps(maps::MapList maps, Options o);
  maps::MapList maps_;
  Options opts_;
  maps::AddressSearchOptions search_;
};

}  // namespace postern::smtp_client
