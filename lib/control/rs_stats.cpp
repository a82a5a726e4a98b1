#include "control/rs_stats.hpp"

#include <algorithm>

namespace drfwd::control {

RsStats::RsStats(std::vector<const lb::RsCounters*> workers)
    : workers_(std::move(workers)), baseline_(lb::kMaxRsSlots) {}

lb::RsCounters RsStats::raw(uint32_t slot) const {
  lb::RsCounters t;
  for (const lb::RsCounters* w : workers_) lb::add(t, w[slot]);
  return t;
}

lb::RsCounters RsStats::totals(uint32_t slot) const {
  lb::RsCounters t = raw(slot);
  lb::subtract(t, baseline_[slot]);
  return t;
}

void RsStats::rebase(uint32_t slot) {
  baseline_[slot] = raw(slot);
  samples_.erase(slot);
}

void RsStats::zero(uint32_t slot) {
  const lb::RsCounters now = raw(slot);
  for (const auto& f : lb::kRsCounterFields) baseline_[slot].*f.member = now.*f.member;
  samples_.erase(slot);
}

void RsStats::sample(std::span<const uint32_t> slots, double now) {
  const double dt = last_sample_ >= 0 ? now - last_sample_ : 0;
  std::map<uint32_t, Sample> next;
  for (uint32_t slot : slots) {
    Sample s;
    s.last = totals(slot);
    if (auto it = samples_.find(slot); it != samples_.end() && dt > 0) {
      const lb::RsCounters& p = it->second.last;
      auto per_second = [dt](uint64_t a, uint64_t b) { return static_cast<double>(a - std::min(a, b)) / dt; };
      s.rate = {per_second(s.last.conns, p.conns), per_second(s.last.packets, p.packets),
                per_second(s.last.bytes, p.bytes) * 8};
    }
    next.emplace(slot, s);
  }
  samples_ = std::move(next);
  last_sample_ = now;
}

RsRate RsStats::rate(uint32_t slot) const {
  auto it = samples_.find(slot);
  return it == samples_.end() ? RsRate{} : it->second.rate;
}

}  // namespace drfwd::control
