// queue_file.h - the queue file format: record types, limits, typed records.
//
// A queue file is a sequence of records, each
//
//   1 byte type | 4 bytes payload length, big-endian | payload
//
// in three segments closed by an end record (docs/queue-file.md has the
// full description and the reasons):
//
//   envelope   C (size, fixed width)  W (warning time, fixed width)
//              T (arrival time)  S (sender)  then A (attribute), R/D (recipient)
//   content    M (start)  then N (full line) / L (partial line piece)
//   extracted  X (start)  then A, R/D
//   end        E
//
// Marking a recipient delivered changes its type byte from R to D in place.
// Every payload in the envelope and extracted segments is free of NUL bytes
// and shorter than 64 KiB, so the two high bytes of each length field are
// the only NULs there; this is what lets mark_recipient_done() recognise a
// real record header at an offset without re-reading the whole file.
//
// This header holds the shared vocabulary (used by reader, writer, postcat);
// it reads no parameters and logs nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace postern::queue {

enum class RecordType : char {
  Size = 'C',       // fixed-width sizes and offsets, first record
  Warning = 'W',    // fixed-width delay-warning time, second record
  Time = 'T',       // arrival time "sec usec", third record
  Sender = 'S',     // envelope sender, fourth record; empty = null sender <>
  Attribute = 'A',  // name=value
  Recipient = 'R',  // recipient still to be delivered
  Done = 'D',       // recipient finished (R patched in place)
  Content = 'M',    // start of the content segment (empty payload)
  Line = 'N',       // a message line, or the last piece of a long one
  Partial = 'L',    // a piece of a long line; the next N/L record continues it
  Extracted = 'X',  // start of the extracted segment (empty payload)
  End = 'E',        // end of file (empty payload)
};

enum class Segment { Envelope, Content, Extracted, End };

std::string_view to_string(Segment s);
// Printable name of a record type ("recipient"), or nullopt when unknown.
std::optional<std::string_view> record_type_name(char type);

inline constexpr std::size_t kRecordHeaderSize = 5;
// Limits (payload bytes). Envelope fields must stay < 64 KiB (see above).
inline constexpr std::size_t kMaxAddressLength = 4096;  // sender, recipient, original recipient
inline constexpr std::size_t kMaxOrcptLength = 1024;    // DSN ORCPT addr-type;xtext
inline constexpr std::size_t kMaxAttrNameLength = 64;
inline constexpr std::size_t kMaxAttrValueLength = 8192;
inline constexpr std::size_t kMaxEnvelopeRecord = 16384;   // any envelope/extracted payload
inline constexpr std::size_t kMaxContentRecord = 1 << 20;  // one N/L piece (1 MiB)

// The size record payload: five right-aligned decimal fields of 15 digits,
// separated by one space, patched in place by the writer when it finishes.
inline constexpr std::size_t kSizeFieldWidth = 15;
inline constexpr std::size_t kSizeFields = 5;
inline constexpr std::size_t kSizePayloadLength = kSizeFields * kSizeFieldWidth + (kSizeFields - 1);
inline constexpr std::size_t kWarningPayloadLength = kSizeFieldWidth;
// Fixed positions: C at 0, W right after it.
inline constexpr std::uint64_t kSizeRecordOffset = 0;
inline constexpr std::uint64_t kWarningRecordOffset = kRecordHeaderSize + kSizePayloadLength;
inline constexpr std::uint64_t kFormatVersion = 1;

struct SizeRecord {
  std::uint64_t content_size = 0;      // message bytes with LF line ends (Postfix's message_size)
  std::uint64_t content_offset = 0;    // offset of the M record
  std::uint64_t recipient_count = 0;   // R and D records, both segments
  std::uint64_t extracted_offset = 0;  // offset of the X record
  std::uint64_t version = kFormatVersion;

  Result<std::string> encode() const;  // Error if a value needs more than 15 digits
  static Result<SizeRecord> decode(std::string_view payload);
};

// Largest value a fixed-width field (and the arrival time) can hold.
inline constexpr std::int64_t kMaxFixedValue = 999999999999999;
// Fixed-width warning payload; `when` must be in [0, kMaxFixedValue]
// (0 = no warning scheduled), Error otherwise.
Result<std::string> encode_warning(std::int64_t when);
Result<std::int64_t> decode_warning(std::string_view payload);

// DSN NOTIFY (RFC 3461) as a bit set; 0 = not specified.
enum DsnNotify : unsigned {
  kNotifyNone = 0,
  kNotifyNever = 1,
  kNotifySuccess = 2,
  kNotifyFailure = 4,
  kNotifyDelay = 8,
};
// "SUCCESS,DELAY" <-> bits (case-insensitive parse; NEVER is exclusive).
Result<unsigned> parse_notify(std::string_view text);
std::string notify_to_string(unsigned bits);

struct RecipientFields {
  std::string address;    // envelope recipient (after rewriting), never empty
  std::string orig_rcpt;  // address as first received, before rewriting/aliasing (empty: same)
  std::string orcpt;      // DSN ORCPT "addr-type;xtext" (empty: none)
  unsigned notify = kNotifyNone;
};

// Recipient payload: tagged, length-prefixed fields "<tag><len>:<bytes>",
// tags in this order: a (address, required), p (orig_rcpt), o (orcpt),
// n (notify, decimal bit set). Empty optional fields are omitted.
Result<std::string> encode_recipient(const RecipientFields& r);
Result<RecipientFields> decode_recipient(std::string_view payload);

// Envelope text (sender, attribute values): no NUL, CR or LF.
bool valid_envelope_text(std::string_view s);

// Attribute "name=value": name is [a-z0-9_]{1,64}; values of the names
// below are checked too. Unknown names are allowed (forward compatible).
namespace attr {
inline constexpr std::string_view kClientName = "client_name";
inline constexpr std::string_view kReverseClientName = "reverse_client_name";
inline constexpr std::string_view kClientAddress = "client_address";
inline constexpr std::string_view kClientPort = "client_port";
inline constexpr std::string_view kHeloName = "helo_name";
inline constexpr std::string_view kProtocol = "protocol_name";
inline constexpr std::string_view kSaslMethod = "sasl_method";
inline constexpr std::string_view kSaslUsername = "sasl_username";
inline constexpr std::string_view kSaslSender = "sasl_sender";
inline constexpr std::string_view kEncoding = "encoding";               // 7bit | 8bit | binary (BODY=)
inline constexpr std::string_view kSmtputf8 = "smtputf8";               // yes | no
// yes: a header has 8-bit bytes (Postfix's SMTPUTF8_FLAG_HEADER): mail that
// asked for SMTPUTF8 then needs a server that offers it.
inline constexpr std::string_view kUtf8Headers = "utf8_headers";        // yes | no
inline constexpr std::string_view kDsnEnvid = "dsn_envid";              // ENVID xtext
inline constexpr std::string_view kDsnRet = "dsn_ret";                  // FULL | HDRS
inline constexpr std::string_view kLogIdent = "log_ident";              // ID used in log lines
inline constexpr std::string_view kRewriteContext = "rewrite_context";  // local | remote
inline constexpr std::string_view kOrigin = "log_message_origin";       // e.g. localhost[127.0.0.1]
inline constexpr std::string_view kContentFilter = "content_filter";   // transport:nexthop; last one wins
inline constexpr std::string_view kRedirect = "redirect";               // user@domain; last one wins
}  // namespace attr

// True for the attributes with typed accessors in QueueMessage (encoding,
// smtputf8, utf8_headers, dsn_ret, dsn_envid): each may appear once per
// segment.
bool is_typed_attribute(std::string_view name);

struct Attribute {
  std::string name;
  std::string value;
};
// Encodes "name=value" after validation.
Result<std::string> encode_attribute(std::string_view name, std::string_view value);
Result<Attribute> decode_attribute(std::string_view payload);

enum class BodyEncoding { SevenBit, EightBit, Binary };
enum class DsnRet { Full, Headers };

struct Recipient {
  RecipientFields fields;
  bool done = false;
  std::uint64_t offset = 0;  // of its record: pass to mark_recipient_done()
  Segment segment = Segment::Envelope;
};

// Everything but the content, as read and validated by QueueFileReader.
struct QueueMessage {
  SizeRecord size;
  std::int64_t arrival_sec = 0;
  std::uint32_t arrival_usec = 0;
  std::int64_t warning_time = 0;                // 0: none
  std::string sender;                           // empty: null sender
  std::vector<Attribute> attributes;            // envelope segment, file order
  std::vector<Attribute> extracted_attributes;  // extracted segment, file order
  std::vector<Recipient> recipients;            // both segments, file order (see ReadOptions)
  std::uint64_t file_size = 0;
  // When ReadOptions::max_recipients left recipients out that the other
  // recipient options would have kept: how many, and the record offset of
  // the first of them (pass it as recipients_from to read the next slice).
  std::size_t recipients_not_kept = 0;
  std::uint64_t more_recipients_at = 0;  // 0: none left out

  // Typed views of well-known attributes (extracted segment wins).
  std::optional<BodyEncoding> encoding;
  std::optional<DsnRet> dsn_ret;
  std::string dsn_envid;
  bool smtputf8 = false;
  bool utf8_headers = false;

  // Last value of `name` (extracted segment first), or nullopt.
  std::optional<std::string_view> attribute(std::string_view name) const;
  std::size_t pending_recipients() const;
};

// Error classification: corrupt files carry sys_errno EBADMSG (qmgr moves
// them to the corrupt queue); incomplete files (no ready mark) carry EAGAIN.
bool is_corrupt(const Error& e);
bool is_not_ready(const Error& e);

}  // namespace postern::queue
