// message.h - one message on its way into the incoming queue.
//
// A Message owns the queue file writer from cleanup_open to the commit and
// turns the submission protocol's pieces into queue file records:
//
//   envelope()   sender: trivial-rewrite "local" rule, then (unless
//                kNoAddressMappings) sender_canonical_maps, canonical_maps,
//                masquerading; the size/arrival/sender records and the
//                session attributes (client, helo, protocol, SASL, BODY=,
//                SMTPUTF8, DSN ENVID/RET, rewrite context, origin).
//   recipient()  recipient: rewrite, recipient_canonical_maps,
//                canonical_maps, masquerading (if configured), then
//                virtual_alias_maps expansion and duplicate removal; each
//                result is one R record with the original address kept
//                (enable_original_recipient) and the DSN details. A
//                NOTIFY=SUCCESS recipient that virtual_alias_maps turned
//                into other addresses is remembered for one "expanded"
//                notice (expanded_notices(); the session has it written to
//                the trace log before the commit) and its members get the
//                NOTIFY without SUCCESS, as Postfix's cleanup does. With
//                kAutoBcc, sender_bcc_maps (for the mapped sender) and
//                recipient_bcc_maps (for each mapped recipient) name copy
//                addresses; they and always_bcc are added by finish() as
//                extracted recipients with NOTIFY=NEVER.
//   content()    the message text, streamed: lines are cut at "\n" across
//                frames; header lines are assembled by mail::HeaderParser
//                (bounded by header_size_limit), body lines go straight to
//                the file, long ones in line_length_limit pieces, so memory
//                stays bounded whatever the message size. Per header:
//                Received: counting (hopcount_limit), message-id logging,
//                sendmail -t recipient collection, message_drop_headers
//                (Bcc: etc.), and header address rewriting for clients
//                that local_header_rewrite_clients names. At the end of the
//                header section, for local submissions (or
//                always_add_missing_headers), missing (Resent-)From:,
//                Date:, Message-ID: and the undisclosed_recipients_header.
//   finish()     the rest: last line, extracted recipients (sendmail -t)
//                in the extracted segment, the recipient count check, and
//                QueueFileWriter::finish_write(); with the end flag kHold
//                (smtpd's HOLD action) the file then moves to the hold
//                queue. The caller then commits (or, for kDiscard, drops
//                the file).
//
// The first problem decides the outcome (error()); from then on input is
// read and ignored, and the queue file is removed at once, so an
// over-sized message does not keep filling the disk. Limits: message size
// counts the envelope records plus the content with LF line ends
// (message_size_limit: 552 5.3.4); hop count (554 5.4.0); lookup and
// rewriting failures defer (451 4.x.x).
//
// Logs: "ID: message-id=<...>" (and resent-message-id), "warning: ID:
// message rejected: hopcount exceeded", "warning: ID: message rejected:
// message size exceeds message_size_limit", and table/rewrite problems.
#pragma once

#include <bitset>
#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "aio/asio.h"
#include "base/result.h"
#include "cleanup/address_map.h"
#include "cleanup/checks.h"
#include "cleanup/rewriter.h"
#include "cleanup/settings.h"
#include "mail/header.h"
#include "mail/mime.h"
#include "queue/writer.h"
#include "submit/cleanup_proto.h"

namespace postern::cleanup {

// Verdicts (Postfix's cleanup_stat_detail wording).
MappingError protocol_error();     // 451 4.3.0 internal protocol error
MappingError write_error();        // 451 4.3.0 queue file write error
MappingError size_error();         // 552 5.3.4 message file too big
MappingError hops_error();         // 554 5.4.0 too many hops
MappingError no_recipients_error();// 550 5.1.0 no recipients specified

class Message {
 public:
  struct Deps {
    const CleanupSettings& settings;
    AddressMapper& mapper;
    Rewriter& rewriter;
    ContentChecks* checks = nullptr;  // header/body checks; null: none
  };

  // Creates the queue file in incoming/ (the queue ID exists from now on).
  // The queue root is settings.queue_directory unless `queue_root` is given
  // (after chroot it is "/").
  static Result<std::unique_ptr<Message>> create(Deps deps, std::int64_t flags, std::string origin,
                                                 const std::filesystem::path& queue_root);

  const std::string& queue_id() const { return id_; }
  const std::optional<MappingError>& error() const { return error_; }

  asio::awaitable<void> envelope(submit::CleanupEnvelope env);
  asio::awaitable<void> recipient(submit::CleanupRecipient rcpt);
  asio::awaitable<void> content(std::string_view data);
  // Completes the file (not yet durable). Returns the verdict if the
  // message is refused; otherwise writer() is ready for the Committer.
  // `end_flags`: cleanup_end's submit::end_flag bits.
  // `content_filter`: one chosen while the recipients were given
  // (cleanup_end); a FILTER action of the checks wins over it.
  // `redirect` likewise (smtpd's REDIRECT; a REDIRECT action wins).
  asio::awaitable<std::optional<MappingError>> finish(std::int64_t end_flags = 0,
                                                      std::optional<std::string> content_filter = std::nullopt,
                                                      std::optional<std::string> redirect = std::nullopt);

  std::shared_ptr<queue::QueueFileWriter> writer() const { return writer_; }
  std::size_t recipient_count() const { return nrcpt_; }
  // A DISCARD action matched: the client is told "queued", the file goes.
  bool discarded() const { return discard_; }
  // Recipients that virtual alias expansion turned into others while they
  // asked for NOTIFY=SUCCESS: each gets a 2.0.0 "alias expanded" trace
  // entry, action "expanded" (address before the expansion, its ORCPT,
  // NOTIFY and original address).
  const std::vector<queue::RecipientFields>& expanded_notices() const { return expanded_; }

 private:
  Message(Deps deps, std::int64_t flags, std::string origin, std::shared_ptr<queue::QueueFileWriter> w);

  bool failed() const { return error_.has_value(); }
  void fail(MappingError e);
  bool check_write(const Status& st);

  asio::awaitable<std::optional<std::string>> rewrite_address(std::string_view rule, std::string_view address);
  asio::awaitable<void> add_recipient(std::string address, std::string orcpt, unsigned notify, bool extracted,
                                      std::string original);

  // Content.
  asio::awaitable<void> take(std::string_view piece, bool complete);
  asio::awaitable<void> header_line(std::string_view line, bool probe_only);
  asio::awaitable<void> handle_header(mail::Header h);
  asio::awaitable<void> end_of_headers(bool write_separator);
  asio::awaitable<std::string> rewrite_header_value(const mail::Header& h);
  void body_text(std::string_view piece, bool complete);
  void write_line(std::string_view line);     // a complete line, split into pieces
  void write_partial(std::string_view piece);
  bool size_ok(std::size_t more);
  void log_message_id(std::string_view label, std::string_view value);

  // Content inspection (checks.h). inspect() applies the first answer of
  // class `c` for `text`: false when the header or line is to be dropped
  // (IGNORE, REJECT, an unsupported action); a REPLACE puts its text in
  // `replacement`; PREPEND writes its line at once.
  bool inspect(CheckClass c, std::string_view context, const std::string& text,
               std::optional<std::string>& replacement);
  // A header of any section through its checks; false: drop it. A
  // REPLACE that is a valid header takes its place in `h`.
  bool inspect_header(mail::Header& h, CheckClass c);
  void log_action(std::string_view action, std::string_view context, std::string_view text, std::string_view extra);
  void write_text_lines(std::string_view text);  // "\n"-separated, one record each
  // Body text when body lines are inspected (inspecting_body_).
  void inspect_body_text(std::string_view piece, bool complete);
  // One body line (or the first bytes of a longer one: whole = false)
  // through the MIME scanner and the checks, written unless dropped.
  // True when it was written as a body line (so the rest of a long line
  // follows it).
  bool body_line(std::string_view line, bool whole);
  void part_header(mail::Header h, mail::MimeSection section);
  // Creates mime_ when bodies are inspected with MIME processing on; false
  // when there is none to feed.
  bool start_mime_scan();
  // A strict MIME check failed (mail/mime.h): logged, the message refused
  // with 5.6.0 as Postfix does.
  void mime_reject(const mail::MimeProblem& p);
  bool filter_characters(std::string_view& data);
  std::string from_header_value(std::string_view address) const;

  Deps deps_;
  std::int64_t flags_;
  std::string origin_;
  std::shared_ptr<queue::QueueFileWriter> writer_;
  std::filesystem::path queue_root_;  // what the writer was created under
  std::string id_;
  std::optional<MappingError> error_;

  // Envelope.
  bool have_envelope_ = false;
  std::string sender_;  // after rewriting and mapping
  std::string full_name_;
  unsigned extract_notify_ = 0;  // NOTIFY of recipients extracted from the header (sendmail -t -N)
  std::time_t arrival_ = 0;
  std::string header_context_;  // "local", "remote" or "" (no header rewriting)
  std::size_t nrcpt_ = 0;
  DuplicateFilter dups_;

  // Content.
  bool content_started_ = false;
  std::uint64_t envelope_bytes_ = 0;
  std::uint64_t content_bytes_ = 0;
  std::string line_;             // the current line so far (bounded)
  bool in_headers_ = true;
  bool discard_rest_ = false;    // rest of an over-long header line is dropped
  bool partial_open_ = false;    // pieces of the current body line were written
  mail::HeaderParser parser_;
  std::int64_t hops_ = 0;
  std::bitset<64> seen_;         // HeaderKind values seen
  bool resent_ = false;
  bool logged_message_id_ = false;
  std::vector<std::string> extract_plain_;   // To/Cc/Bcc addresses (sendmail -t)
  std::vector<std::string> extract_resent_;  // Resent-To/-Cc/-Bcc addresses

  // Content inspection.
  ContentChecks* checks_ = nullptr;  // deps_.checks, except for bounces
  // message_reject_characters / message_strip_characters apply (not to
  // bounces, nor with no_header_body_checks, as in Postfix).
  bool filter_chars_ = false;
  std::string stripped_;  // a content frame without the stripped characters
  bool inspecting_body_ = false;     // MIME part headers or body lines are inspected
  // strict_* MIME checks apply (not to bounces, nor without MIME
  // processing); 8-bit headers are allowed in SMTPUTF8 mail (RFC 6532).
  bool strict_mime_ = false;
  // BODY=8BITMIME was declared; a Content-Transfer-Encoding header said
  // 8bit or binary (detect_8bit_encoding_header), so the queue file gets
  // encoding=8bit after the content.
  bool declared_8bit_ = false;
  bool found_8bit_ = false;
  // A header (the message's or, when the MIME structure is followed, a
  // part's) has 8-bit bytes that are valid UTF-8: utf8_headers=yes after
  // the content.
  bool utf8_header_ = false;
  // cleanup_flag::kAutoUtf8 and UTF-8 in the sender, a recipient or a
  // header: the message becomes SMTPUTF8 mail (smtputf8=yes after the
  // content), as Postfix's CLEANUP_FLAG_AUTOUTF8.
  bool auto_utf8_ = false;
  // found_8bit_ from a header the checks let through; utf8_header_ and
  // auto_utf8_ from a header as it is written into the queue file.
  void note_transfer_encoding(const mail::Header& h);
  void note_utf8_header(std::string_view text);
  bool smtputf8_ = false;
  bool checks_done_ = false;         // after REJECT, DISCARD, REDIRECT or PASS nothing more is inspected
  bool discard_ = false;
  bool hold_ = false;
  // Automatic BCC addresses (always_bcc, sender_bcc_maps,
  // recipient_bcc_maps), added as recipients by finish(), each once, in
  // the order they came. No cap, as in Postfix: there are at most two more
  // than recipients, and a cap silently lost archive copies.
  std::vector<std::string> auto_bcc_;
  std::unordered_set<std::string> auto_bcc_seen_;
  bool adding_bcc_ = false;  // the copies themselves get no copies
  std::vector<queue::RecipientFields> expanded_;  // see expanded_notices()
  bool auto_bcc() const {
    return (flags_ & submit::cleanup_flag::kAutoBcc) &&
           !(flags_ & (submit::cleanup_flag::kNoAddressMappings | submit::cleanup_flag::kBounce));
  }
  void add_auto_bcc(std::string address);
  std::optional<std::string> filter_;    // a FILTER action's transport:destination
  std::optional<std::string> redirect_;  // a REDIRECT action's user@domain
  std::string client_ = "local";     // "name[addr]" for the action log lines
  std::string helo_, protocol_, last_rcpt_;
  std::optional<mail::MimeScanner> mime_;
  std::size_t part_body_bytes_ = 0;  // inspected in the current part (body_checks_size_limit)
  bool long_rest_ = false;           // the rest of a line longer than the inspection cap follows
  bool long_rest_written_ = false;   // ...and its beginning was written as body
};

}  // namespace postern::cleanup
