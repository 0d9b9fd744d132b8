// format.h - postqueue's two listing formats, one message at a time.
//
// MailqPrinter writes Sendmail/Postfix `mailq` output (postqueue -p):
//
//   -Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------
//   3F2A1C0D2*      512 Tue Dec  1 22:40:01  alice@example.com
//                                            bob@example.net
//
//   4B7E2A0C1      1024 Tue Dec  1 22:41:07  MAILER-DAEMON
//                        (connect to mx.example.org[192.0.2.1]:25: Connection refused)
//                                            carol@example.org
//
//   -- 1 Kbytes in 2 Requests.
//
// The ID is followed by `*` for a message in the active queue or `!` for
// one on hold, then `#` when postsuper -e/-f marked it for expiration; the
// time is the arrival time in local time (asctime's first 20 characters);
// the null sender prints as $empty_address_recipient (MAILER-DAEMON).
// With enable_long_queue_ids the columns are Postfix's long layout:
//
//   ----Queue ID----- --Size-- ---Arrival Time---- --Sender/Recipient------
//   4jjp7P3GNwz1g7lP*      259 Mon Dec  7 16:52:49 alice@example.org
//                                                  erin@example.org
//
// Recipients with
// a delay reason come first, each distinct reason printed once, right
// aligned before the recipients it applies to, as Postfix does. An empty
// queue prints "Mail queue is empty". Kbytes are the sum of message sizes
// divided by 1024, rounded down.
//
// json_line() writes postqueue -j output: one JSON object per line with
// Postfix's fields (queue_name, queue_id, arrival_time, message_size,
// forced_expire, sender, recipients: [{address, delay_reason?}]), spaced
// as Postfix's (`{"queue_name": "deferred", "queue_id": ...}`), the null
// sender as $empty_address_recipient. Bytes that are not UTF-8 are
// replaced (U+FFFD) so every line parses.
//
// Addresses come from the queue, i.e. from anyone on the network: control
// characters are shown as '?' in the mailq format so a listing cannot
// rewrite an administrator's terminal.
#pragma once

#include <cstdint>
#include <string>

#include "ipc/proto/showq.h"

namespace postern::postqueue {

struct FormatOptions {
  std::string null_sender = "MAILER-DAEMON";  // empty_address_recipient
  bool long_ids = false;                      // enable_long_queue_ids: the long layout
};

class MailqPrinter {
 public:
  MailqPrinter() = default;
  explicit MailqPrinter(FormatOptions o) : o_(std::move(o)) {}
  // Appends the text for one message to `out`.
  void entry(const ipc::proto::ShowqEntry& e, std::string& out);
  // The footer (or "Mail queue is empty").
  void finish(std::string& out) const;

 private:
  FormatOptions o_;
  std::int64_t count_ = 0;
  std::int64_t size_ = 0;
};

// One line (with "\n") for one message.
std::string json_line(const ipc::proto::ShowqEntry& e, const FormatOptions& o = {});

}  // namespace postern::postqueue
