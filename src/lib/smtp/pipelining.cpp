// pipelining.cpp - see pipelining.h.
#include "smtp/pipelining.h"

#include <fmt/format.h>

namespace postern::smtp {

bool ends_pipeline_group(Verb v) {
  switch (v) {
    case Verb::Helo:
    case Verb::Ehlo:
    case Verb::Data:
    case Verb::Vrfy:
    case Verb::Expn:
    case Verb::Noop:
    case Verb::Quit:
    case Verb::Starttls:
    case Verb::Auth:
    case Verb::Xclient:
    case Verb::Etrn:
      return true;
    case Verb::Mail:
    case Verb::Rcpt:
    case Verb::Bdat:
    case Verb::Rset:
    case Verb::Help:
    case Verb::Xforward:
    case Verb::Unknown:
      return false;
  }
  return false;
}

bool ends_pipeline_group(const Command& cmd) {
  // RFC 4954 section 4: AUTH with an initial response may be followed by
  // more commands in the same group (the client does not wait for 334).
  if (cmd.verb == Verb::Auth && std::holds_alternative<Auth>(cmd.detail) && cmd.auth().initial_response)
    return false;
  return ends_pipeline_group(cmd.verb);
}

bool improper_pipelining(const Command& cmd, bool pipelining_in_effect, std::size_t pending_bytes) {
  if (pending_bytes == 0 || cmd.verb == Verb::Quit) return false;
  return !pipelining_in_effect || ends_pipeline_group(cmd);
}

Reply sync_error_reply() { return Reply(554, "5.5.0", "Error: SMTP protocol synchronization"); }

std::string escape_for_log(std::string_view bytes, std::size_t max_input) {
  if (bytes.size() > max_input) bytes = bytes.substr(0, max_input);
  std::string out;
  out.reserve(bytes.size());
  for (char ch : bytes) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\a': out += "\\a"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\v': out += "\\v"; break;
      default:
        if (c >= 32 && c < 127) out.push_back(ch);
        else out += fmt::format("\\{:03o}", c);
    }
  }
  return out;
}

}  // namespace postern::smtp
