// scheduler.cpp - see scheduler.h.
#include "scheduler.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "base/strings.h"
#include "config/registry.h"
#include "mail/address.h"

namespace postern::qmgr {

Seconds backoff_delay(Seconds age, Seconds minimal, Seconds maximal) {
  if (maximal < minimal) maximal = minimal;
  if (age < minimal) return minimal;
  if (age > maximal) return maximal;
  return age;
}

std::string queue_name(std::size_t recipient_limit, std::string_view transport, std::string_view nexthop,
                       std::string_view recipient, const QueueNameOptions& options) {
  std::string name;
  if (recipient_limit == 1 && transport != "error" && transport != "retry") {
    std::string_view local = recipient;
    if (auto at = local.rfind('@'); at != std::string_view::npos) local = local.substr(0, at);
    mail::ExtensionOptions eo;
    eo.owner_request_special = options.owner_request_special;
    eo.double_bounce_sender = options.double_bounce_sender;
    if (auto split = mail::split_extension(local, options.recipient_delimiter, eo)) local = split->base;
    name.reserve(local.size() + 1 + nexthop.size());
    name.append(local).append(1, '@');
  }
  name.append(nexthop);
  return str::lower(name);
}

bool ConnCache::back_to_back(Clock::time_point now) const {
  return last_done_ != Clock::time_point{} && now - last_done_ <= std::chrono::seconds(1);
}

ConnCache::Flags ConnCache::select(int busy, Clock::time_point now) {
  if (!flags_.store) {
    if (back_to_back(now)) flags_.load = flags_.store = true;
  } else if (busy <= 1 && !back_to_back(now)) {
    flags_.store = false;
  }
  return flags_;
}

bool expired(Seconds age, Seconds lifetime) {
  if (lifetime.count() <= 0) return true;
  return age >= lifetime;
}

Window::Window(WindowLimits l) : l_(l) {
  if (l_.initial < 1) l_.initial = 1;
  if (l_.limit < 0) l_.limit = 0;
  if (l_.failed_cohort_limit < 0) l_.failed_cohort_limit = 0;
  window_ = l_.limit > 0 ? std::min(l_.initial, l_.limit) : l_.initial;
}

int Window::cap(double w) const {
  int n = static_cast<int>(std::floor(w + 1e-9));
  if (n < 1) n = 1;
  if (l_.limit > 0 && n > l_.limit) n = l_.limit;
  return n;
}

int Window::allowed() const { return dead_ ? 0 : cap(window_); }

double Feedback::step(double window) const {
  return per_concurrency ? amount / std::max(1.0, std::floor(window + 1e-9)) : amount;
}

std::optional<Feedback> parse_feedback(std::string_view text) {
  text = str::trim(text);
  Feedback f;
  f.per_concurrency = false;
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    if (str::trim(text.substr(slash + 1)) != "concurrency") return std::nullopt;
    f.per_concurrency = true;
    text = str::trim(text.substr(0, slash));
  }
  if (text.empty()) return std::nullopt;
  double v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || !(v >= 0.0 && v <= 1.0)) return std::nullopt;
  f.amount = v;
  return f;
}

void Window::success() {
  failed_cohorts_ = 0;
  // By default one whole step per cohort: `window` successes add 1.
  window_ += l_.positive.step(window_);
  if (l_.limit > 0 && window_ > l_.limit) window_ = l_.limit;
}

bool Window::failure() {
  // A failed cohort is `window` failures, whatever the feedback (Postfix
  // counts them the same way).
  double cohort_share = 1.0 / std::max(1.0, std::floor(window_ + 1e-9));
  window_ = std::max(1.0, window_ - l_.negative.step(window_));
  failed_cohorts_ += cohort_share;
  // Postfix counts failures in cohorts of `window` deliveries: at window 1
  // each failure is a whole failed cohort. Round to absorb float dust.
  if (l_.failed_cohort_limit > 0 && failed_cohorts_ + 1e-9 >= l_.failed_cohort_limit && !dead_) {
    dead_ = true;
    return true;
  }
  return false;
}

void Window::revive() {
  dead_ = false;
  failed_cohorts_ = 0;
  window_ = l_.limit > 0 ? std::min(l_.initial, l_.limit) : l_.initial;
}

std::int64_t parse_count(std::string_view text, std::int64_t fallback) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  if (text.empty()) return fallback;
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v < 0) return fallback;
  return v;
}

Seconds parse_delay(std::string_view text, Seconds fallback) {
  auto v = config::parse_time(str::trim(text), 's');
  return v && *v >= 0 ? Seconds(*v) : fallback;
}

}  // namespace postern::qmgr
