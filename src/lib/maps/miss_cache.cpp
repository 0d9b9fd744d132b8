// miss_cache.cpp - see miss_cache.h.
#include "maps/miss_cache.h"

namespace postern::maps {

bool MissCache::recent(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = until_.find(key);
  if (it == until_.end()) return false;
  if (now_() < it->second) return true;
  until_.erase(it);
  return false;
}

void MissCache::add(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto now = now_();
  if (until_.size() >= kMaxEntries && !until_.count(key)) {
    std::erase_if(until_, [now](const auto& e) { return e.second <= now; });
    if (until_.size() >= kMaxEntries) until_.clear();
  }
  until_[key] = now + kTtl;
}

std::size_t MissCache::size() {
  std::lock_guard<std::mutex> lock(mu_);
  return until_.size();
}

}  // namespace postern::maps
