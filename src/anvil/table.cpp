// table.cpp - anvil's counting table (see table.h).
#include "table.h"

#include <algorithm>

namespace postern::anvil {

Table::Table(Clock::duration rate_unit, std::size_t max_entries)
    : rate_unit_(std::max<Clock::duration>(rate_unit, std::chrono::seconds(1))),
      max_entries_(std::max<std::size_t>(1, max_entries)) {}

void Table::raise(Peak& p, std::int64_t v, const Key* k) {
  if (v <= p.value) return;
  p.value = v;
  p.who = k ? k->first + ":" + k->second : std::string();
  p.when = std::time(nullptr);
}

Table::Map::iterator Table::find_or_make(std::string_view service, std::string_view client, Clock::time_point now) {
  Key key{std::string(service), std::string(client)};
  auto it = map_.find(key);
  if (it == map_.end()) {
    if (map_.size() >= max_entries_ && expire(now) == 0) return map_.end();
    it = map_.emplace(std::move(key), Entry{.window_start = now}).first;
  }
  Entry& e = it->second;
  if (window_over(e, now)) {
    e.rate = e.messages = e.recipients = e.auths = e.newtls = 0;
    e.window_start = now;
  }
  return it;
}

Result<Counts> Table::connect(std::string_view service, std::string_view client, Clock::time_point now) {
  auto it = find_or_make(service, client, now);
  if (it == map_.end()) return make_error("table full ({} entries)", max_entries_);
  Entry& e = it->second;
  e.count++;
  e.rate++;
  raise(stats_.count, e.count, &it->first);
  raise(stats_.rate, e.rate, &it->first);
  raise(stats_.size, static_cast<std::int64_t>(map_.size()), nullptr);
  return Counts{e.count, e.rate};
}

Result<std::int64_t> Table::event(std::string_view service, std::string_view client, Event ev,
                                  Clock::time_point now) {
  auto it = find_or_make(service, client, now);
  if (it == map_.end()) return make_error("table full ({} entries)", max_entries_);
  Entry& e = it->second;
  std::int64_t& n = counter(e, ev);
  ++n;
  Peak& peak = ev == Event::Message     ? stats_.message
               : ev == Event::Recipient ? stats_.recipient
               : ev == Event::Auth      ? stats_.auth
                                        : stats_.newtls;
  raise(peak, n, &it->first);
  raise(stats_.size, static_cast<std::int64_t>(map_.size()), nullptr);
  return n;
}

void Table::disconnect(std::string_view service, std::string_view client, Clock::time_point now, std::int64_t n) {
  auto it = map_.find(Key{std::string(service), std::string(client)});
  if (it == map_.end() || it->second.count <= 0 || n <= 0) return;
  it->second.count = std::max<std::int64_t>(0, it->second.count - n);
  if (it->second.count == 0 && window_over(it->second, now)) map_.erase(it);
}

std::int64_t Table::event_rate(std::string_view service, std::string_view client, Event ev,
                              Clock::time_point now) const {
  auto it = map_.find(Key{std::string(service), std::string(client)});
  if (it == map_.end() || window_over(it->second, now)) return 0;
  Entry e = it->second;
  return counter(e, ev);
}

Counts Table::lookup(std::string_view service, std::string_view client, Clock::time_point now) const {
  auto it = map_.find(Key{std::string(service), std::string(client)});
  if (it == map_.end()) return {};
  return Counts{it->second.count, window_over(it->second, now) ? 0 : it->second.rate};
}

std::size_t Table::expire(Clock::time_point now) {
  std::size_t n = 0;
  for (auto it = map_.begin(); it != map_.end();) {
    if (it->second.count == 0 && window_over(it->second, now)) {
      it = map_.erase(it);
      n++;
    } else {
      ++it;
    }
  }
  return n;
}

Stats Table::take_stats() {
  Stats s = std::move(stats_);
  stats_ = Stats{};
  return s;
}

}  // namespace postern::anvil
