// pipe.h - the pipe(8) delivery agent's service attributes and command
// line expansion (Postfix's pipe(8)).
//
// master.cf, as in Postfix:
//   dovecot unix - n n - - pipe flags=DRhu user=vmail:vmail
//     argv=/usr/lib/dovecot/deliver -f ${sender} -d ${recipient}
//
// Attributes (before argv=, which comes last):
//   user=NAME[:GROUP]   the command's identity (never root, never
//                       mail_owner; spawn/attributes.h)
//   flags=...           B blank line after the message, D Delivered-To:,
//                       F From_ line, O X-Original-To:, R Return-Path:,
//                       X final delivery (accepted; the status is "sent"
//                       either way), h fold recipient domains (and
//                       ${domain}, ${nexthop}) to lower case, u fold
//                       recipient local parts (and ${user}, ${mailbox},
//                       ${extension}) to lower case, q quote addresses in
//                       their external form, . dot-stuff lines, > quote
//                       "From " lines as ">From "
//   size=BYTES          larger messages bounce (5.2.3)
//   eol=STRING          line terminator (\r\n escapes allowed; default \n)
//   directory=PATH      working directory (default: the queue directory)
//   null_sender=TEXT    ${sender} for the null sender (default MAILER-DAEMON)
//   umask=OCTAL         the command's file creation mask (default 077, the
//                       mask Postfix's commands inherit from its master)
// Anything else is a configuration error: the agent does not start.
//
// Macros in argv: ${sender}, ${recipient}, ${original_recipient},
// ${user} (local part without extension), ${extension}, ${mailbox} (local
// part), ${domain}, ${nexthop}, ${queue_id}, ${size}, ${client_address},
// ${client_hostname}, ${client_helo}, ${client_protocol}, ${client_port},
// ${sasl_method}, ${sasl_username}, ${sasl_sender}; also $name. An
// argument with a per-recipient macro (recipient, original_recipient,
// user, extension, mailbox, domain) is repeated once per recipient, as in
// Postfix; the others appear once. Each expansion is one argv element: no
// shell ever sees an address. An unknown macro is a configuration error.
//
// Reads: recipient_delimiter (through expand()'s caller). Logs nothing.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "deliver/copy.h"

namespace postern::pipe {

struct Flags {
  bool blank = false, delivered_to = false, from_line = false, original_to = false, return_path = false,
       final_delivery = false, fold_host = false, fold_user = false, quote = false, dot = false, quote_from = false;
};

struct Settings {
  Flags flags;
  std::optional<std::uint64_t> size_limit;
  std::string eol = "\n";
  std::string directory;  // empty: the queue directory
  std::string null_sender = "MAILER-DAEMON";
  mode_t umask = 077;
  std::vector<std::string> argv;  // unexpanded

  // From spawn::Attributes::extra and argv; checks every macro name.
  static Result<Settings> from_attributes(const std::map<std::string, std::string>& extra,
                                          const std::vector<std::string>& argv);
  deliver::CopyOptions copy_options() const;
};

// The attribute names pipe accepts besides user= and argv=.
inline constexpr std::string_view kAttributeNames[] = {"flags", "size", "eol", "directory", "null_sender", "umask"};

struct Recipient {
  std::string address;            // internal form
  std::string original;           // original recipient; empty: unknown
};

struct MessageInfo {
  std::string sender;  // internal form; empty: null sender
  std::string nexthop, queue_id;
  std::uint64_t size = 0;
  std::map<std::string, std::string> client;  // client_address, client_hostname, ... sasl_username
};

// The command line for one run over `rcpts` (at least one).
std::vector<std::string> expand(const Settings& s, const MessageInfo& m, const std::vector<Recipient>& rcpts,
                                std::string_view recipient_delimiter);

}  // namespace postern::pipe
