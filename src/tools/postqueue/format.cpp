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

constexpr std::string_view kIndent = "                                         ";  // 41 columns

}  // namespace

void MailqPrinter::entry(const ipc::proto::ShowqEntry& e, std::string& out) {
  if (count_ == 0)
    out += fmt::format("{:<11} {:>7} {:<20} {}\n", "-Queue ID-", "--Size--", "----Arrival Time----",
                       "-Sender/Recipient-------");
  else
    out += "\n";
  ++count_;
  size_ += e.message_size;
  char status = e.queue_name == "active" ? '*' : e.queue_name == "hold" ? '!' : ' ';
  std::string id = e.queue_id + status;
  out += fmt::format("{:<11} {:>7} {:20.20} {}\n", id, e.message_size, arrival(e.arrival_time),
                     e.sender.empty() ? std::string("MAILER-DAEMON") : safe(e.sender));
  // Recipients with a reason first, the reason printed when it changes.
  const std::string* last = nullptr;
  for (std::size_t i = 0; i < e.recipients.size(); ++i) {
    if (i >= e.reasons.size() || e.reasons[i].empty()) continue;
    if (!last || *last != e.reasons[i]) {
      std::string r = safe(e.reasons[i]);
      std::size_t pad = r.size() < 76 ? 76 - r.size() : 0;
      out += fmt::format("{:{}}({})\n", "", pad, r);
      last = &e.reasons[i];
    }
    out += fmt::format("{}{}\n", kIndent, safe(e.recipients[i]));
  }
  for (std::size_t i = 0; i < e.recipients.size(); ++i) {
    if (i < e.reasons.size() && !e.reasons[i].empty()) continue;
    out += fmt::format("{}{}\n", kIndent, safe(e.recipients[i]));
  }
  if (e.recipients_omitted > 0)
    out += fmt::format("{}(and {} more recipients)\n", kIndent, e.recipients_omitted);
}

void MailqPrinter::finish(std::string& out) const {
  if (count_ == 0) {
    out += "Mail queue is empty\n";
    return;
  }
  out += fmt::format("\n-- {} Kbytes in {} Request{}.\n", size_ / 1024, count_, count_ == 1 ? "" : "s");
}

std::string json_line(const ipc::proto::ShowqEntry& e) {
  nlohmann::ordered_json j;
  j["queue_name"] = e.queue_name;
  j["queue_id"] = e.queue_id;
  j["arrival_time"] = e.arrival_time;
  j["message_size"] = e.message_size;
  j["forced_expire"] = e.forced_expire;
  j["sender"] = e.sender;
  auto rcpts = nlohmann::ordered_json::array();
  for (std::size_t i = 0; i < e.recipients.size(); ++i) {
    nlohmann::ordered_json r;
    r["address"] = e.recipients[i];
    if (i < e.reasons.size() && !e.reasons[i].empty()) r["delay_reason"] = e.reasons[i];
    rcpts.push_back(std::move(r));
  }
  j["recipients"] = std::move(rcpts);
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

}  // namespace postern::postqueue
