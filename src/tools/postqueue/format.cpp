// format.cpp - see format.h.
#include "format.h"

#include <time.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace postern::postqueue {

namespace {

// Terminal-safe: control characters (and DEL) become '?'.
std::string safe(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = '?';
  }
  return out;
}

std::string arrival(std::int64_t when) {
  time_t t = static_cast<time_t>(when);
  struct tm tm {};
  char buf[64];
  if (!::localtime_r(&t, &tm) || !::asctime_r(&tm, buf)) return "??";
  return std::string(buf, 20);  // "Tue Dec  1 22:40:01 " (asctime's first 20)
}


}  // namespace

void MailqPrinter::entry(const ipc::proto::ShowqEntry& e, std::string& out) {
  // Postfix's two layouts: the ID column, the size column, the date (20
  // characters with a trailing blank, or 19 and a separating blank).
  const std::size_t id_width = o_.long_ids ? 17 : 11, size_width = o_.long_ids ? 8 : 7;
  const std::size_t date_width = o_.long_ids ? 19 : 20;
  const std::size_t indent = id_width + 1 + size_width + 1 + date_width + 1;
  if (count_ == 0) {
    if (o_.long_ids)
      out += "----Queue ID----- --Size-- ---Arrival Time---- --Sender/Recipient------\n";
    else
      out += "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n";
  } else {
    out += "\n";
  }
  ++count_;
  size_ += e.message_size;
  std::string id = e.queue_id;
  if (e.queue_name == "active") id += '*';
  if (e.queue_name == "hold") id += '!';
  if (e.forced_expire) id += '#';
  out += fmt::format("{:<{}} {:>{}} {:{}.{}} {}\n", id, id_width, e.message_size, size_width,
                     arrival(e.arrival_time), date_width, date_width,
                     e.sender.empty() ? safe(o_.null_sender) : safe(e.sender));
  const std::string pad(indent, ' ');
  // Recipients with a reason first, the reason printed when it changes.
  const std::string* last = nullptr;
  for (std::size_t i = 0; i < e.recipients.size(); ++i) {
    if (i >= e.reasons.size() || e.reasons[i].empty()) continue;
    if (!last || *last != e.reasons[i]) {
      std::string r = safe(e.reasons[i]);
      std::size_t rpad = r.size() < 76 ? 76 - r.size() : 0;
      out += fmt::format("{:{}}({})\n", "", rpad, r);
      last = &e.reasons[i];
    }
    out += pad + safe(e.recipients[i]) + "\n";
  }
  for (std::size_t i = 0; i < e.recipients.size(); ++i) {
    if (i < e.reasons.size() && !e.reasons[i].empty()) continue;
    out += pad + safe(e.recipients[i]) + "\n";
  }
  if (e.recipients_omitted > 0) out += fmt::format("{}(and {} more recipients)\n", pad, e.recipients_omitted);
}

void MailqPrinter::finish(std::string& out) const {
  if (count_ == 0) {
    out += "Mail queue is empty\n";
    return;
  }
  out += fmt::format("\n-- {} Kbytes in {} Request{}.\n", size_ / 1024, count_, count_ == 1 ? "" : "s");
}

namespace {

// One JSON string, invalid UTF-8 replaced.
std::string jstr(std::string_view s) {
  return nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::string json_line(const ipc::proto::ShowqEntry& e, const FormatOptions& o) {
  // Written by hand for Postfix's spacing (", " and ": "), which scripts
  // that grep the output may rely on; nlohmann dumps compactly.
  std::string out = fmt::format(
      "{{\"queue_name\": {}, \"queue_id\": {}, \"arrival_time\": {}, \"message_size\": {}, "
      "\"forced_expire\": {}, \"sender\": {}, \"recipients\": [",
      jstr(e.queue_name), jstr(e.queue_id), e.arrival_time, e.message_size, e.forced_expire ? "true" : "false",
      jstr(e.sender.empty() ? std::string_view(o.null_sender) : std::string_view(e.sender)));
  for (std::size_t i = 0; i < e.recipients.size(); ++i) {
    if (i > 0) out += ", ";
    out += "{\"address\": " + jstr(e.recipients[i]);
    if (i < e.reasons.size() && !e.reasons[i].empty()) out += ", \"delay_reason\": " + jstr(e.reasons[i]);
    out += "}";
  }
  out += "]}\n";
  return out;
}

}  // namespace postern::postqueue
