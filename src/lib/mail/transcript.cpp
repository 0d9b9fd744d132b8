#include "mail/transcript.h"

#include <fmt/format.h>

#include "base/strings.h"
#include "mail/date.h"

namespace postern::mail {

namespace {
// The classes each program reports; smtpd's bounce covers a message refused
// for its size (Postfix's smtpd does the same), the client's protocol a
// reply out of protocol (Postfix's smtp_check_code()).
bool reports_any(TranscriptRole role, Problems p) {
  if (role != TranscriptRole::kSmtpServer) return p.has(Problem::kProtocol);
  for (Problem c : {Problem::kBounce, Problem::kData, Problem::kPolicy, Problem::kProtocol, Problem::kResource,
                    Problem::kSoftware})
    if (p.has(c)) return true;
  return false;
}

std::string_view role_text(TranscriptRole role) {
  switch (role) {
    case TranscriptRole::kSmtpServer: return "SMTP server";
    case TranscriptRole::kSmtpClient: return "SMTP client";
    case TranscriptRole::kLmtpClient: return "LMTP client";
  }
  return "SMTP server";
}
}  // namespace

Transcript::Transcript(Problems notify, TranscriptRole role, std::size_t max_bytes)
    : notify_(notify), role_(role), enabled_(reports_any(role, notify)), max_bytes_(max_bytes) {}

void Transcript::add(std::string_view direction, std::string_view line) {
  if (!enabled_) return;
  // Each line is one command or reply line, which the reader and the reply
  // formatter already bound; the total is bounded here.
  if (text_.size() + direction.size() + line.size() + 1 > max_bytes_) {
    ++dropped_;
    return;
  }
  text_ += direction;
  text_ += line;
  text_ += '\n';
  ++lines_;
}

void Transcript::add_wire(std::string_view direction, std::string_view wire) {
  if (!enabled_) return;
  while (!wire.empty()) {
    std::size_t end = wire.find("\r\n");
    add(direction, wire.substr(0, end));
    if (end == std::string_view::npos) break;
    wire.remove_prefix(end + 2);
  }
}

void Transcript::reset() {
  text_.clear();
  lines_ = 0;
  dropped_ = 0;
  problems_.clear();
}

std::vector<std::string> wrap_line(std::string_view line, std::size_t width, std::size_t indent) {
  std::vector<std::string> out;
  if (indent >= width) indent = 0;
  std::size_t room = width;
  std::string prefix;
  do {
    std::string_view piece = line;
    if (piece.size() > room) {
      // The last space that keeps the piece within the room; none: cut.
      std::size_t cut = line.rfind(' ', room);
      if (cut == std::string_view::npos || cut == 0) cut = room;
      piece = line.substr(0, cut);
    }
    out.push_back(prefix + std::string(piece));
    line.remove_prefix(piece.size());
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    prefix.assign(indent, ' ');
    room = width - indent;
  } while (!line.empty());
  return out;
}

std::string compose_notice(const Transcript& t, const NoticeFields& f) {
  std::string m;
  m.reserve(t.text().size() + t.text().size() / 8 + 1024);
  m += fmt::format("From: Mail Delivery System <MAILER-DAEMON@{}>\n", f.myhostname);
  m += fmt::format("To: Postmaster <{}>\n", str::printable(f.to, 256));
  m += fmt::format("Subject: {} {}: errors from {}\n", f.mail_name, role_text(t.role()), str::printable(f.peer, 512));
  m += fmt::format("Date: {}\n", mail::mail_date(f.now));
  m += fmt::format("Message-ID: {}\n", mail::make_message_id(f.now, f.queue_id, f.myhostname));
  m += "Auto-Submitted: auto-generated\n";
  m += "MIME-Version: 1.0\n";
  m += "Content-Type: text/plain; charset=us-ascii\n";
  m += "Content-Transfer-Encoding: 7bit\n";
  m += "\n";
  // The client's notice says what it is about: the server's answers.
  if (t.role() != TranscriptRole::kSmtpServer)
    m += fmt::format("Unexpected response from {}.\n\n", str::printable(f.peer, 512));
  m += "Transcript of session follows.\n\n";
  // What the peer sent is untrusted: printable ASCII only, and every line
  // starts with a space, so none of it can look like a header or a
  // mailbox's "From " line.
  std::string_view rest = t.text();
  while (!rest.empty()) {
    std::size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    for (const auto& piece : wrap_line(str::printable(line, line.size()), kNoticeWidth, kNoticeIndent))
      m += " " + piece + "\n";
    if (nl == std::string_view::npos) break;
    rest.remove_prefix(nl + 1);
  }
  if (t.dropped() > 0) m += fmt::format(" ... {} more lines not kept\n", t.dropped());
  m += "\n";
  if (!f.reason.empty()) m += fmt::format("Session aborted, reason: {}\n", f.reason);
  m += "\nFor other details, see the local mail logfile\n";
  return m;
}

}  // namespace postern::mail
