// sendmail.cpp - option parsing and message reading for sendmail(1). See sendmail.h.
#include "sendmail.h"

#include <cctype>

#include "base/strings.h"
#include "mail/address_list.h"
#include "mail/header.h"
#include "mail/received.h"
#include "queue/queue_file.h"

namespace postern::sendmail {

namespace {

// Options taking an argument (attached or as the next word), as Postfix's
// getopt string "B:C:F:GIL:N:O:R:UV:X:b:ce:f:h:imno:p:r:q:tvx".
bool takes_argument(char c) {
  switch (c) {
    case 'B': case 'C': case 'F': case 'L': case 'N': case 'O': case 'R': case 'V': case 'X':
    case 'b': case 'e': case 'f': case 'h': case 'o': case 'p': case 'r':
      return true;
    default:
      return false;
  }
}

Result<unsigned> parse_dsn_notify(std::string_view v) {
  // Sendmail's -N: "never" or a comma list of success, delay, failure.
  auto bits = queue::parse_notify(v);
  if (!bits) return make_error("-N {}: expected never or a list of success, delay, failure", v);
  return *bits;
}

bool valid_envid(std::string_view v) {
  if (v.empty() || v.size() > 100) return false;
  for (unsigned char c : v)
    if (c < 33 || c > 126) return false;
  return true;
}

}  // namespace

Result<std::string> parse_address(std::string_view text) {
  std::string_view t = str::trim(text);
  if (t.empty() || t == "<>") return std::string();
  if (t.size() > queue::kMaxAddressLength) return make_error("address too long");
  auto list = mail::parse_address_list(t);
  if (!list || list->malformed || list->addresses.size() != 1)
    return make_error("bad address syntax: {}", std::string(t));
  std::string a = list->addresses[0].address.to_internal();
  if (!queue::valid_envelope_text(a)) return make_error("bad address syntax: {}", std::string(t));
  return a;
}

Result<std::vector<std::string>> parse_recipient_arg(std::string_view text) {
  if (text.size() > 102400) return make_error("recipient argument too long");
  auto list = mail::parse_address_list(text);
  if (!list || list->malformed) return make_error("bad recipient address syntax: {}", std::string(text));
  std::vector<std::string> out;
  for (const auto& h : list->addresses) {
    std::string a = h.address.to_internal();
    if (a.empty() || a.size() > queue::kMaxAddressLength || !queue::valid_envelope_text(a))
      return make_error("bad recipient address: {}", std::string(text));
    out.push_back(std::move(a));
  }
  return out;
}

std::optional<std::string> default_full_name(const char* name_env, std::string_view gecos, std::string_view login) {
  if (name_env && *name_env) return std::string(name_env);
  std::string out;
  for (char c : gecos.substr(0, gecos.find(','))) {
    if (c == '&') {
      std::string l(login);
      if (!l.empty()) l[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(l[0])));
      out += l;
    } else {
      out.push_back(c);
    }
  }
  out = std::string(str::trim(out));
  if (out.empty()) return std::nullopt;
  return out;
}

LineEndings parse_line_endings(std::string_view v) {
  if (v == "strict") return LineEndings::Strict;
  if (v == "never") return LineEndings::Never;
  return LineEndings::Always;
}

Result<Options> parse_args(const std::vector<std::string>& args, std::string_view program) {
  Options o;
  if (program == "mailq") o.mode = Mode::ListQueue;
  if (program == "newaliases") o.mode = Mode::Newaliases;
  std::size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a.size() < 2 || a[0] != '-') break;
    // -q is special: optional attached argument only.
    if (a[1] == 'q') {
      std::string_view rest = std::string_view(a).substr(2);
      if (rest.empty()) {
        o.mode = Mode::FlushQueue;
      } else if (rest[0] == 'R' || rest[0] == 'I') {
        const char what = rest[0];
        rest.remove_prefix(1);
        if (rest.empty()) {
          if (++i >= args.size()) return make_error("specify: -q{}{}", what, what == 'R' ? "sitename" : "queueid");
          rest = args[i];
        }
        o.mode = what == 'R' ? Mode::FlushSite : Mode::FlushId;
        (what == 'R' ? o.flush_site : o.flush_id) = std::string(rest);
      } else if (std::isdigit(static_cast<unsigned char>(rest[0]))) {
        // -q<interval>: Postfix has no periodic queue runner to start.
        o.mode = Mode::Ignore;
      } else {
        return make_error("-q{} is not implemented", rest[0]);
      }
      continue;
    }
    // qmail's and old Postfix's VERP requests: "-V xy" and "-Vxy" (two
    // delimiter characters), now -XV. Postern has no VERP.
    if ((a == "-V" && i + 1 < args.size() && args[i + 1].size() == 2) || (a.rfind("-V", 0) == 0 && a.size() == 4))
      return make_error("{}: VERP (-XV) is not supported by Postern", a);
    for (std::size_t k = 1; k < a.size(); ++k) {
      char c = a[k];
      std::string val;
      if (takes_argument(c)) {
        if (k + 1 < a.size()) {
          val = a.substr(k + 1);
        } else {
          if (++i >= args.size()) return make_error("option -{} requires an argument", c);
          val = args[i];
        }
        k = a.size();  // the rest of the word was the argument
      }
      switch (c) {
        case 't': o.extract = true; break;
        case 'i': o.ignore_dots = true; break;
        case 'v': ++o.verbose; break;
        case 'G': case 'U': case 'c': case 'm': case 'x': break;  // accepted, no effect
        case 'n': return make_error("-n option not supported");
        case 'I': o.mode = Mode::Newaliases; break;
        case 'f': case 'r': {
          auto s = parse_address(val);
          if (!s) return make_error("-{} {}: {}", c, val, s.error().message);
          o.sender = *s;
          break;
        }
        case 'F':
          if (!queue::valid_envelope_text(val) || val.size() > 1000) return make_error("-F: bad full name");
          o.full_name = val;
          break;
        case 'C': o.config = val; break;
        case 'N': {
          // A bad value is ignored with a warning, as Postfix does.
          auto n = parse_dsn_notify(val);
          if (n) o.notify = *n;
          else o.warnings.push_back("bad -N option value -- ignored");
          break;
        }
        case 'R':
          // Sendmail's DSN RET. Postfix ignores -R (its "return limit"),
          // so any other value is ignored here too.
          if (str::iequals(val, "full")) o.ret = "FULL";
          else if (str::iequals(val, "hdrs")) o.ret = "HDRS";
          break;
        case 'V':
          if (valid_envid(val)) o.envid = val;
          else o.warnings.push_back(val.size() > 100 ? "too long -V option value -- ignored"
                                                     : "bad syntax in -V option value -- ignored");
          break;
        case 'B':
          if (str::iequals(val, "8bitmime")) o.body = "8bit";
          else if (str::iequals(val, "7bit")) o.body = "7bit";
          else return make_error("-B {}: expected 7bit or 8bitmime", val);
          break;
        case 'o':
          if (val == "i") {
            o.ignore_dots = true;
          } else if (!val.empty() && val[0] == 'A') {  // the alias database for -bi
            if (val.size() == 1) return make_error("-oA requires pathname");
            o.alias_database = val.substr(1);
          }
          break;  // every other -o option is Sendmail tuning: ignored
        case 'b':
          if (val == "m") o.mode = Mode::Deliver;
          else if (val == "s") o.mode = Mode::Smtp;
          else if (val == "p") o.mode = Mode::ListQueue;
          else if (val == "i") o.mode = Mode::Newaliases;
          else if (val == "h" || val == "H") o.mode = Mode::Ignore;  // host status: none to show or flush
          else if (val == "d" || val == "D")
            return make_error("-b{}: daemon mode is not supported; run \"postern start\" instead", val);
          else
            return make_error("-b{}: unsupported mode", val);
          break;
        case 'X':
          if (!val.empty() && val[0] == 'V') return make_error("-{}: VERP (-XV) is not supported by Postern", a);
          return make_error("unsupported: -X{}", val.empty() ? ' ' : val[0]);
        case 'e': case 'h': case 'p': case 'L': case 'O': break;  // accepted, ignored
        default: return make_error("unknown option -{}", c);
      }
    }
  }
  for (; i < args.size(); ++i) {
    auto r = parse_recipient_arg(args[i]);
    if (!r) return r.take_error();
    for (auto& x : *r) o.recipients.push_back(std::move(x));
  }
  if (o.mode == Mode::Deliver && !o.extract && o.recipients.empty())
    return make_error("no recipient addresses specified on the command line or via -t");
  if (o.extract && o.mode != Mode::Deliver) return make_error("-t can be used only in delivery mode");
  if (!o.recipients.empty()) {
    switch (o.mode) {
      case Mode::Smtp: return make_error("stand-alone mode requires no recipient");
      case Mode::ListQueue: return make_error("display queue mode requires no recipient");
      case Mode::FlushQueue: return make_error("flush queue mode requires no recipient");
      case Mode::FlushSite: return make_error("flush site requires no recipient");
      case Mode::FlushId: return make_error("flush queue_id requires no recipient");
      case Mode::Newaliases: return make_error("alias initialization mode requires no recipient");
      default: break;
    }
  }
  return o;
}

Status write_envelope(const Options& o, const std::string& sender, const std::optional<std::string>& full_name,
                      postdrop::StreamEncoder& enc) {
  if (auto st = enc.sender(sender); !st) return st;
  if (full_name)
    if (auto st = enc.attribute(postdrop::kAttrFullName, *full_name); !st) return st;
  if (o.extract)
    if (auto st = enc.attribute(postdrop::kAttrExtractRecipients, "yes"); !st) return st;
  // -N for the recipients cleanup takes from the header too (Postfix's
  // sendmail writes it before each of them).
  if (o.extract && o.notify)
    if (auto st = enc.attribute(postdrop::kAttrExtractNotify, std::to_string(o.notify)); !st) return st;
  if (o.mode == Mode::Smtp)
    if (auto st = enc.attribute(postdrop::kAttrSubmitProtocol, "esmtp"); !st) return st;
  if (o.envid)
    if (auto st = enc.attribute(queue::attr::kDsnEnvid, *o.envid); !st) return st;
  if (o.ret)
    if (auto st = enc.attribute(queue::attr::kDsnRet, *o.ret); !st) return st;
  if (o.body)
    if (auto st = enc.attribute(queue::attr::kEncoding, *o.body); !st) return st;
  for (const auto& r : o.recipients) {
    queue::RecipientFields f;
    f.address = r;
    f.notify = o.notify;
    if (auto st = enc.recipient(f); !st) return st;
  }
  return {};
}

bool HeaderRecipientScan::line(std::string_view text) {
  if (!current_.empty() && !text.empty() && (text[0] == ' ' || text[0] == '\t')) {
    if (current_.size() + text.size() > kMaxHeaderBytes) overlong_ = true;
    else current_.append(text);
    return true;
  }
  finish_header();
  if (text.empty()) return false;
  // A header: a name of printable characters other than ':', then ':'.
  auto colon = text.find(':');
  if (colon == 0 || colon == std::string_view::npos) return false;
  for (char c : text.substr(0, colon))
    if (c <= ' ' || c > '~') return false;
  current_.assign(text.substr(0, std::min(text.size(), kMaxHeaderBytes)));
  overlong_ = text.size() > kMaxHeaderBytes;
  return true;
}

void HeaderRecipientScan::finish_header() {
  if (current_.empty()) return;
  std::string header = std::move(current_);
  current_.clear();
  auto colon = header.find(':');
  const mail::HeaderKind kind = mail::classify_header(std::string_view(header).substr(0, colon));
  // Cleanup's rule: any Resent- header makes the Resent-To/-Cc/-Bcc the
  // recipients (Resent-From alone too).
  if (mail::header_flags(kind) & mail::header_flag::kResent) resent_seen_ = true;
  using K = mail::HeaderKind;
  const bool resent = kind == K::kResentTo || kind == K::kResentCc || kind == K::kResentBcc;
  if (!resent && kind != K::kTo && kind != K::kCc && kind != K::kBcc) return;
  bool& found = resent ? resent_ : plain_;
  // Too long to look into here (cleanup's header_size_limit may allow it):
  // assume it names someone, so that the check never refuses wrongly.
  if (overlong_) {
    found = true;
    return;
  }
  auto list = mail::parse_address_list(std::string_view(header).substr(colon + 1));
  if (!list) {
    found = true;  // cleanup has the last word on what it cannot parse either
    return;
  }
  for (const auto& a : list->addresses)
    if (!a.address.local.empty()) found = true;
}

bool HeaderRecipientScan::found() {
  finish_header();
  return resent_seen_ ? resent_ : plain_;
}

Status read_message(const ByteReader& in, const ReadOptions& o, postdrop::StreamEncoder& enc) {
  if (auto st = enc.begin_content(); !st) return st;
  std::string buf(64 * 1024, '\0');
  std::string line;       // current line (bounded: flushed as pieces when long)
  bool in_piece = false;  // part of the current line was already written
  bool first = true;
  bool skipping_from = true;  // still among the leading "From " lines
  bool strict_crlf = false;  // Strict: the first line decides
  // sendmail -t: the header is looked at until it ends.
  bool in_headers = static_cast<bool>(o.headers_done);
  HeaderRecipientScan scan;
  auto end_headers = [&]() -> Status {
    if (!in_headers) return {};
    in_headers = false;
    return o.headers_done(scan.found());
  };
  bool eof = false;
  std::size_t pos = 0, len = 0;
  auto finish_line = [&](bool had_lf) -> Result<bool> {  // true: stop (dot line)
    if (had_lf && !line.empty() && line.back() == '\r') {
      bool strip = o.endings == LineEndings::Always || (o.endings == LineEndings::Strict && strict_crlf);
      if (first && o.endings == LineEndings::Strict) {
        strict_crlf = true;
        strip = true;
      }
      // Every CR before the LF, as Postfix's sendmail strips them.
      if (strip)
        while (!line.empty() && line.back() == '\r') line.pop_back();
    }
    first = false;
    if (!in_piece) {
      if (!o.ignore_dots && line == ".") return true;
      // Leading mbox "From " lines (">From " too) are not part of the
      // message (Postfix skips them all).
      if (skipping_from && mail::is_mailbox_line(line)) {
        line.clear();
        return false;
      }
    }
    skipping_from = false;
    if (in_headers && (in_piece || !scan.line(line)))
      if (auto st = end_headers(); !st) return st.take_error();
    auto st = enc.line(line);
    line.clear();
    in_piece = false;
    if (!st) return st.take_error();
    return false;
  };
  while (!eof) {
    if (pos == len) {
      auto n = in(buf.data(), buf.size());
      if (!n) return n.take_error();
      if (*n == 0) {
        eof = true;
        break;
      }
      pos = 0;
      len = *n;
    }
    std::string_view chunk(buf.data() + pos, len - pos);
    std::size_t nl = chunk.find('\n');
    if (nl == std::string_view::npos) {
      line.append(chunk);
      pos = len;
    } else {
      line.append(chunk.substr(0, nl));
      pos += nl + 1;
      auto stop = finish_line(true);
      if (!stop) return stop.take_error();
      if (*stop) {
        if (auto st = end_headers(); !st) return st;
        return enc.end();
      }
    }
    // Keep memory bounded: a very long line goes out in pieces (keep one
    // byte back so a CR before the LF can still be recognised).
    if (line.size() > queue::kMaxContentRecord) {
      std::string keep = line.substr(line.size() - 1);
      line.pop_back();
      if (auto st = end_headers(); !st) return st;  // a line this long is no header
      if (auto st = enc.partial(line); !st) return st;
      in_piece = true;
      first = false;
      skipping_from = false;
      line = std::move(keep);
    }
  }
  if (!line.empty() || in_piece) {
    auto stop = finish_line(false);
    if (!stop) return stop.take_error();
  }
  if (auto st = end_headers(); !st) return st;
  return enc.end();
}

}  // namespace postern::sendmail
