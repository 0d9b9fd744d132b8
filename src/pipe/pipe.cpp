// pipe.cpp - see pipe.h.
#include "pipe/pipe.h"

#include <algorithm>
#include <array>

#include "base/strings.h"
#include "mail/address.h"

namespace postern::pipe {
namespace {

constexpr std::array<std::string_view, 6> kPerRecipient = {"recipient", "original_recipient", "user",
                                                           "extension", "mailbox", "domain"};
constexpr std::array<std::string_view, 12> kPerMessage = {
    "sender",          "nexthop",     "queue_id",        "size",        "client_address", "client_hostname",
    "client_helo",     "client_port", "client_protocol", "sasl_method", "sasl_username",  "sasl_sender"};

bool per_recipient(std::string_view n) {
  return std::find(kPerRecipient.begin(), kPerRecipient.end(), n) != kPerRecipient.end();
}
bool known(std::string_view n) {
  return per_recipient(n) || std::find(kPerMessage.begin(), kPerMessage.end(), n) != kPerMessage.end();
}

// Calls on_macro(name) for each $name or ${name} in `arg`, and on_text for
// the text between; false when a macro is malformed.
template <class Text, class Macro>
bool scan(std::string_view arg, Text&& on_text, Macro&& on_macro) {
  std::size_t i = 0;
  while (i < arg.size()) {
    std::size_t d = arg.find('$', i);
    if (d == std::string_view::npos) {
      on_text(arg.substr(i));
      break;
    }
    on_text(arg.substr(i, d - i));
    if (d + 1 >= arg.size()) return false;
    std::string_view name;
    if (arg[d + 1] == '{' || arg[d + 1] == '(') {
      char close = arg[d + 1] == '{' ? '}' : ')';
      std::size_t e = arg.find(close, d + 2);
      if (e == std::string_view::npos) return false;
      name = arg.substr(d + 2, e - d - 2);
      i = e + 1;
    } else if (arg[d + 1] == '$') {
      on_text("$");
      i = d + 2;
      continue;
    } else {
      std::size_t e = d + 1;
      while (e < arg.size() && (std::isalnum(static_cast<unsigned char>(arg[e])) || arg[e] == '_')) ++e;
      name = arg.substr(d + 1, e - d - 1);
      i = e;
    }
    if (name.empty()) return false;
    on_macro(name);
  }
  return true;
}

std::string lower_if(std::string_view s, bool fold) { return fold ? str::lower(s) : std::string(s); }

}  // namespace

Result<Settings> Settings::from_attributes(const std::map<std::string, std::string>& extra,
                                           const std::vector<std::string>& argv) {
  Settings s;
  for (const auto& [name, value] : extra) {
    if (name == "flags") {
      for (char c : value) {
        switch (c) {
          case 'B': s.flags.blank = true; break;
          case 'D': s.flags.delivered_to = true; break;
          case 'F': s.flags.from_line = true; break;
          case 'O': s.flags.original_to = true; break;
          case 'R': s.flags.return_path = true; break;
          case 'X': s.flags.final_delivery = true; break;
          case 'h': s.flags.fold_host = true; break;
          case 'u': s.flags.fold_user = true; break;
          case 'q': s.flags.quote = true; break;
          case '.': s.flags.dot = true; break;
          case '>': s.flags.quote_from = true; break;
          default: return make_error("unknown flag: {} in flags={}", str::printable(std::string(1, c)), value);
        }
      }
    } else if (name == "size") {
      auto n = str::parse_uint(value);
      if (!n) return make_error("bad size= value: {}", str::printable(value, 64));
      // size=0 is no limit, as in Postfix.
      if (*n > 0) s.size_limit = *n;
    } else if (name == "eol") {
      // Postfix's unescape(): \a \b \f \n \r \t \v, \ddd octal, \\.
      s.eol = str::unescape(value);
      if (s.eol.empty()) return make_error("empty eol= value");
    } else if (name == "directory") {
      s.directory = value;
    } else if (name == "null_sender") {
      s.null_sender = value;
    } else if (name == "umask") {
      if (value.empty() || value.find_first_not_of("01234567") != std::string::npos || value.size() > 4)
        return make_error("bad umask= value: {}", str::printable(value, 64));
      s.umask = static_cast<mode_t>(std::stoul(value, nullptr, 8) & 0777);
    }
  }
  s.argv = argv;
  for (const auto& a : argv) {
    std::string bad;
    bool ok = scan(a, [](std::string_view) {}, [&](std::string_view n) {
      if (!known(n) && bad.empty()) bad = std::string(n);
    });
    if (!ok) return make_error("bad macro syntax in argv= element: {}", str::printable(a, 200));
    if (!bad.empty()) return make_error("unknown macro name: ${{{}}} in argv= element: {}", bad, str::printable(a, 200));
  }
  return s;
}

deliver::CopyOptions Settings::copy_options() const {
  deliver::CopyOptions o;
  o.from_line = flags.from_line;
  o.return_path = flags.return_path;
  o.original_recipient = flags.original_to;
  o.delivered_to = flags.delivered_to;
  o.quote_from = flags.quote_from;
  o.dot_stuff = flags.dot;
  o.blank_line = flags.blank;
  o.eol = eol;
  return o;
}

std::vector<std::string> expand(const Settings& s, const MessageInfo& m, const std::vector<Recipient>& rcpts,
                                std::string_view recipient_delimiter) {
  const Flags& f = s.flags;
  // An address with its local part and domain folded per flags u and h,
  // and in external (quoted) form with q.
  auto address = [&](std::string_view internal, bool fold = true) {
    auto at = internal.rfind('@');
    std::string local(internal.substr(0, at));
    std::string domain = at == std::string_view::npos ? std::string() : std::string(internal.substr(at + 1));
    std::string out = lower_if(local, fold && f.fold_user);
    if (at != std::string_view::npos) out += "@" + lower_if(domain, fold && f.fold_host);
    return f.quote ? deliver::external_address(out) : out;
  };
  auto message_value = [&](std::string_view n) -> std::string {
    // Flags h and u fold recipients only, as in Postfix.
    // A non-empty null_sender text is quoted (flag q) like an address.
    if (n == "sender")
      return m.sender.empty() ? (s.null_sender.empty() ? std::string() : address(s.null_sender, false))
                              : address(m.sender, false);
    if (n == "nexthop") return lower_if(m.nexthop, f.fold_host);
    if (n == "queue_id") return m.queue_id;
    if (n == "size") return std::to_string(m.size);
    auto it = m.client.find(std::string(n));
    return it == m.client.end() ? std::string() : it->second;
  };
  auto recipient_value = [&](std::string_view n, const Recipient& r) -> std::string {
    if (n == "recipient") return address(r.address);
    if (n == "original_recipient") return r.original.empty() ? address(r.address) : address(r.original);
    auto at = r.address.rfind('@');
    std::string_view local = std::string_view(r.address).substr(0, at);
    if (n == "domain") return at == std::string::npos ? std::string() : lower_if(r.address.substr(at + 1), f.fold_host);
    if (n == "mailbox") return lower_if(local, f.fold_user);
    auto split = mail::split_extension(local, recipient_delimiter);
    if (n == "user") return lower_if(split ? split->base : local, f.fold_user);
    if (n == "extension") return split ? lower_if(split->extension, f.fold_user) : std::string();
    return {};
  };
  std::vector<std::string> out;
  for (const auto& a : s.argv) {
    bool per = false;
    scan(a, [](std::string_view) {}, [&](std::string_view n) { per = per || per_recipient(n); });
    const std::size_t copies = per ? rcpts.size() : 1;
    for (std::size_t i = 0; i < copies; ++i) {
      std::string v;
      scan(a, [&](std::string_view t) { v += t; },
           [&](std::string_view n) { v += per_recipient(n) ? recipient_value(n, rcpts[i]) : message_value(n); });
      out.push_back(std::move(v));
    }
  }
  return out;
}

}  // namespace postern::pipe
