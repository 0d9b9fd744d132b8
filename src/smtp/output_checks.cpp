// output_checks.cpp - see output_checks.h.
#include "output_checks.h"

#include <fmt/format.h>

#include "base/strings.h"
#include "log/log.h"

namespace postern::smtp_client {

using maps::CheckAction;
using maps::CheckClass;

OutputChecks::OutputChecks(maps::ContentChecks* checks, GenericMaps* generic, std::string queue_id,
                           mail::MimeOptions mime, bool downgrade)
    : checks_(checks),
      generic_(generic),
      queue_id_(std::move(queue_id)),
      limit_(std::max<std::size_t>(1, mime.header_size_limit)),
      primary_(mail::HeaderParserOptions{mime.header_size_limit}),
      downgrade_(downgrade) {
  if (downgrade_) {
    // Postfix's MIME_OPT_REPORT_NESTING: deeper structure cannot be converted.
    mime.report_nesting = true;
    mime_.emplace(mime);
  } else if (checks_ && checks_->needs_body()) {
    mime_.emplace(mime);
  }
}

void OutputChecks::body_out(std::string_view text, bool continued, const Emit& emit) {
  if (!encode_) {
    emit(text, continued);
    return;
  }
  qp_.put(text, !continued, [&](std::string_view line) { emit(line, false); });
}

void OutputChecks::add_encoding(std::string_view value, const Emit& emit) {
  emit(fmt::format("Content-Transfer-Encoding: {}", value), false);
}

Status OutputChecks::check_mime() {
  if (!downgrade_ || !mime_ || !mime_->problem() || mime_->problem()->error != mail::MimeError::kNesting) return {};
  mime_problem_ = mime_->problem();
  return make_error("{}", mail::mime_error_text(mime_problem_->error));
}

Status OutputChecks::take(std::string_view piece, bool continued, const Emit& emit) {
  if (cut_) {
    // The rest of a line whose head was judged already.
    if (rest_ == Rest::kPass) body_out(piece, continued, emit);
    if (!continued) {
      cut_ = false;
      rest_ = Rest::kPass;
    }
    return {};
  }
  const std::size_t room = limit_ - line_.size();
  if (piece.size() <= room) {
    line_.append(piece);
    if (continued) return {};
    std::string line = std::move(line_);
    line_.clear();
    return whole_line(line, false, emit);
  }
  // Longer than any line is judged: the head decides for the whole line.
  line_.append(piece.substr(0, room));
  std::string head = std::move(line_);
  line_.clear();
  cut_ = true;
  rest_ = Rest::kPass;
  if (auto st = whole_line(head, true, emit); !st) return st;
  if (rest_ == Rest::kPass) body_out(piece.substr(room), continued, emit);
  if (!continued) {
    cut_ = false;
    rest_ = Rest::kPass;
  }
  return {};
}

Status OutputChecks::whole_line(std::string_view line, bool cut, const Emit& emit) {
  if (!in_headers_) return body_line(line, cut, emit);
  auto step = primary_.feed(line);
  if (step.header) {
    if (auto st = primary_header(*step.header, emit); !st) return st;
  }
  if (step.end_of_headers) {
    in_headers_ = false;
    if (downgrade_ && mime_->eight_bit_domain()) add_encoding(mime_->downgrade_encoding(), emit);
  }
  if (step.body_line) return body_line(line, cut, emit);
  if (step.end_of_headers) {
    emit(line, false);  // the empty line after the headers
    return {};
  }
  // A header line: the parser holds it until the header is complete (a cut
  // one goes out as the parser keeps it, at header_size_limit).
  if (cut) rest_ = Rest::kDrop;
  return {};
}

Status OutputChecks::primary_header(const mail::Header& h, const Emit& emit) {
  if (h.kind == mail::HeaderKind::kContentType && mime_) mime_->primary_content_type(h.value);
  if (h.kind == mail::HeaderKind::kContentTransferEncoding && downgrade_) {
    mime_->primary_transfer_encoding(h.value);
    if (mime_->eight_bit_domain()) return {};  // replaced at the end of the section
  }
  const bool mime = (mail::header_flags(h.kind) & mail::header_flag::kMime) != 0;
  return header(h, mime ? CheckClass::kMimeHeader : CheckClass::kHeader, true, emit);
}

CheckClass OutputChecks::part_class(const mail::Header& h, mail::MimeSection s) const {
  // As Postfix's header_body_checks: a MIME header anywhere is a MIME one.
  if (mail::header_flags(h.kind) & mail::header_flag::kMime) return CheckClass::kMimeHeader;
  return s == mail::MimeSection::kNested ? CheckClass::kNestedHeader : CheckClass::kMimeHeader;
}

Status OutputChecks::body_line(std::string_view line, bool cut, const Emit& emit) {
  encode_ = false;
  if (mime_) {
    auto step = mime_->feed(line);
    if (auto st = check_mime(); !st) return st;
    if (step.header && !(downgrade_ && step.drop_header)) {
      if (auto st = header(*step.header, part_class(*step.header, step.section), false, emit); !st) return st;
    }
    if (downgrade_ && !step.add_encoding.empty()) add_encoding(step.add_encoding, emit);
    if (!step.body_line) {
      if (line.empty()) emit(line, false);  // the empty line after a part's headers
      else if (cut) rest_ = Rest::kDrop;    // a part header line, held by the scanner
      return {};
    }
    encode_ = downgrade_ && step.encode;
  }
  if (!has(CheckClass::kBody)) {
    body_out(line, cut, emit);
    return {};
  }
  std::string prepend;
  auto r = act(CheckClass::kBody, std::string(line), prepend);
  if (!r) return r.take_error();
  if (!prepend.empty()) emit(prepend, false);
  if (!*r) {
    body_out(line, cut, emit);
    return {};
  }
  if (!(*r)->empty()) body_out(**r, false, emit);
  if (cut) rest_ = Rest::kDrop;
  return {};
}

Status OutputChecks::header(const mail::Header& h, CheckClass c, bool primary, const Emit& emit) {
  std::string text = h.text();
  std::string prepend;
  auto r = act(c, text, prepend);
  if (!r) return r.take_error();
  if (!prepend.empty()) emit(prepend, false);
  if (*r && (*r)->empty()) return {};
  if (!*r && primary && generic_) {
    auto value = generic_->header_value(h, queue_id_);
    if (!value) return value.take_error();
    if (*value) text = h.name + ":" + **value;
  }
  std::string_view out = *r ? std::string_view(**r) : std::string_view(text);
  // Folding as written: one output line per "\n".
  for (;;) {
    std::size_t nl = out.find('\n');
    emit(out.substr(0, nl), false);
    if (nl == std::string_view::npos) break;
    out.remove_prefix(nl + 1);
  }
  return {};
}

Result<std::optional<std::string>> OutputChecks::act(CheckClass c, const std::string& text, std::string& prepend) {
  if (!has(c)) return std::optional<std::string>();
  auto v = checks_->lookup(c, text);
  if (!v) {
    log::warning("{}: {} lookup error for \"{}\": {}", queue_id_, checks_->name(c), str::printable(text, 60),
                 v.error().message);
    return make_error("{} lookup error", checks_->name(c));
  }
  if (!*v) return std::optional<std::string>();
  const CheckAction a = maps::parse_check_action(**v);
  const bool is_header = c != CheckClass::kBody;
  const std::string_view where = is_header ? "header" : "body";
  // Postfix's smtp shape: "ID: warning: header Subject: x: text".
  auto note = [&](std::string_view action) {
    if (a.text.empty())
      log::info("{}: {}: {} {}", queue_id_, action, where, str::printable(text, 60));
    else
      log::info("{}: {}: {} {}: {}", queue_id_, action, where, str::printable(text, 60), str::printable(a.text, 200));
  };
  // REPLACE and PREPEND text for a header must be a header.
  auto header_text_ok = [&](std::string_view action) {
    if (!is_header || mail::header_name_length(a.text) > 0) return true;
    log::warning("bad {} header text \"{}\" in {} map -- need \"headername: headervalue\"", action,
                 str::printable(a.text, 200), checks_->name(c));
    return false;
  };
  using K = CheckAction::Kind;
  switch (a.kind) {
    case K::kNone: return std::optional<std::string>();
    case K::kIgnore: return std::optional<std::string>(std::string());
    case K::kStrip: note("strip"); return std::optional<std::string>(std::string());
    case K::kWarn: note("warning"); return std::optional<std::string>();
    case K::kInfo: note("info"); return std::optional<std::string>();
    case K::kReplace:
      if (!header_text_ok("REPLACE")) return std::optional<std::string>();
      note("replace");
      return std::optional<std::string>(a.text);
    case K::kPrepend:
      if (header_text_ok("PREPEND")) {
        note("prepend");
        prepend = a.text;
      }
      return std::optional<std::string>();
    default:
      if ((a.word == "REPLACE" || a.word == "PREPEND") && a.text.empty())
        log::warning("{} action without text in {} map", a.word, checks_->name(c));
      else
        log::warning("unsupported command in {} map: {}", checks_->name(c), str::printable(a.word, 64));
      return std::optional<std::string>();
  }
}

Status OutputChecks::finish(const Emit& emit) {
  if (!line_.empty()) {
    // A last line without its end (not written so by cleanup).
    std::string line = std::move(line_);
    line_.clear();
    if (auto st = whole_line(line, false, emit); !st) return st;
  }
  if (encode_ && qp_.pending()) qp_.put({}, true, [&](std::string_view l) { emit(l, false); });
  encode_ = false;
  if (in_headers_) {
    in_headers_ = false;
    if (auto h = primary_.finish()) {
      if (auto st = primary_header(*h, emit); !st) return st;
    }
    if (downgrade_ && mime_->eight_bit_domain()) add_encoding(mime_->downgrade_encoding(), emit);
    return {};
  }
  if (mime_) {
    auto step = mime_->finish();
    if (auto st = check_mime(); !st) return st;
    if (step && step->header && !(downgrade_ && step->drop_header)) {
      if (auto st = header(*step->header, part_class(*step->header, step->section), false, emit); !st) return st;
    }
    if (downgrade_ && step && !step->add_encoding.empty()) add_encoding(step->add_encoding, emit);
  }
  return {};
}

}  // namespace postern::smtp_client
