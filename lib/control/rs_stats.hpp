// Per real-server counters as the operator sees them: the workers' per-slot counters
// summed, from the slot's baseline, and their rates over the last second. Plain C++
// over the workers' counter arrays (relaxed atomic reads): no EAL, unit-tested.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <vector>

#include "lb/counters.hpp"

namespace drfwd::control {

struct RsRate {
  double cps = 0, pps = 0, bps = 0;
};

class RsStats {
 public:
  // One array of lb::kMaxRsSlots counters per worker, owned by the worker.
  explicit RsStats(std::vector<const lb::RsCounters*> workers);

  // Summed over workers, less the slot's baseline.
  lb::RsCounters totals(uint32_t slot) const;
  // The slot was handed to a new real server: everything counts from zero for it (the
  // former occupant's counts, and the gauges its last connections left, are history).
  void rebase(uint32_t slot);
  // The gauges in the slot's baseline: what its former occupants' connections left in
  // the workers' arrays when it was handed to the RS it holds now (lb::RsSpec::leftover).
  lb::ConnGauges leftover(uint32_t slot) const { return {baseline_[slot].active, baseline_[slot].inactive}; }
  // clear stats / ipvsadm -Z: the counters count from zero; the gauges are state and stay.
  void zero(uint32_t slot);
  // Rates from the totals' change since the previous sample (call about once a second).
  void sample(std::span<const uint32_t> slots, double now);
  RsRate rate(uint32_t slot) const;

 private:
  lb::RsCounters raw(uint32_t slot) const;
  struct Sample {
    lb::RsCounters last;
    RsRate rate;
  };
  std::vector<const lb::RsCounters*> workers_;
  std::vector<lb::RsCounters> baseline_;  // by slot
  std::map<uint32_t, Sample> samples_;
  double last_sample_ = -1;
};

}  // namespace drfwd::control
