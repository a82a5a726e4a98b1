// Counters written by exactly one worker and read (summed) by the control core.
// Writes are relaxed atomic stores of a plain increment: no locked instructions, no
// shared cache lines; reads are relaxed atomic loads, so a reader never sees a torn
// value. Resetting is done by the reader keeping a baseline, never by writing here.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "lb/snapshot.hpp"
#include "net/drop.hpp"

namespace drfwd::lb {

inline void bump(uint64_t& c, uint64_t n = 1) {
  std::atomic_ref<uint64_t>(c).store(c + n, std::memory_order_relaxed);
}
inline void bump(int64_t& c, int64_t n) {
  std::atomic_ref<int64_t>(c).store(c + n, std::memory_order_relaxed);
}
template <class T>
inline T read(const T& c) {
  return std::atomic_ref<T>(const_cast<T&>(c)).load(std::memory_order_relaxed);
}

// Frames for the control core come in classes, each rate-limited on its own (worker),
// so a flood of one kind cannot crowd out the others: above all, a flood at the DIP must
// not starve the health-check replies and ARP replies of the real servers.
enum class ExcClass : uint8_t {
  kOther,   // IPv4 to a DIP, broadcast and multicast IPv4 (0: what a Verdict{} holds)
  kArp,     // other ARP (clients resolving VIPs and DIPs)
  kServer,  // from a real server's address: health-check replies, its ARP
};
inline constexpr int kExcClasses = 3;

struct PortCounters {
  uint64_t rx_packets = 0;
  uint64_t rx_bytes = 0;
  uint64_t tx_packets = 0;  // forwarded out of this port (egress)
  uint64_t tx_bytes = 0;
  uint64_t to_control = 0;  // handed to the control core (received on this port)
  uint64_t from_control = 0;  // sent for the control core (ARP, kernel traffic) out of this port
  std::array<uint64_t, net::kDropCount> drops{};  // by reason, received on this port
};

inline constexpr int kLoopHistBuckets = 160;  // quarter octaves up to 2^40 cycles (minutes)

// Histogram bucket of a duration in cycles: four per power of two (the most significant
// bit and the two bits after it), so a bucket is at most 19% wide.
inline int loop_hist_bucket(uint64_t cycles) {
  const int msb = 63 - __builtin_clzll(cycles | 1);
  const int frac = msb >= 2 ? static_cast<int>((cycles >> (msb - 2)) & 3) : 0;
  const int b = msb * 4 + frac;
  return b < kLoopHistBuckets ? b : kLoopHistBuckets - 1;
}

struct alignas(64) WorkerCounters {
  std::array<PortCounters, kMaxPorts> port{};
  uint64_t conn_new = 0;        // connections scheduled
  uint64_t conn_resched = 0;    // connections moved off an RS that left or failed
  uint64_t conn_expired = 0;
  uint64_t conn_evicted = 0;    // removed to make room (table or bucket full)
  uint64_t tmpl_new = 0;        // persistence templates created
  uint64_t frag_forwarded = 0;  // non-first fragments sent after their first fragment
  uint64_t icmp_forwarded = 0;  // ICMP errors sent to the real server of their connection
  uint64_t polls = 0;           // loop iterations
  uint64_t busy_polls = 0;      // iterations that received something
  uint64_t idle_sleeps = 0;     // back-off sleeps taken
  uint64_t conns_in_use = 0;    // connection table occupancy (gauge, refreshed by the worker)
  uint64_t exc_limited[kExcClasses] = {};  // frames for the control core over the limit, by ExcClass
  // Duration of each loop iteration that received something (poll every port, process,
  // transmit), as a histogram (loop_hist_bucket); and the longest. A stall of the worker
  // (a slow burst after a table change, preemption) shows up here.
  uint64_t busy_loop_hist[kLoopHistBuckets] = {};
  uint64_t busy_loop_max = 0;
  // The same for the first busy iteration on each newly published snapshot: what a
  // configuration change costs the worker.
  uint64_t new_snapshot_hist[kLoopHistBuckets] = {};
  uint64_t new_snapshot_max = 0;
};

// Per RS slot. Gauges (active, inactive, persist) are this worker's share: they only
// sum to the RS's count across workers.
struct alignas(64) RsCounters {
  uint64_t packets = 0;
  uint64_t bytes = 0;
  uint64_t conns = 0;     // connections scheduled to this RS
  int64_t active = 0;     // ESTABLISHED TCP and UDP entries
  int64_t inactive = 0;   // other TCP states
  int64_t persist = 0;    // persistence templates pointing here
};

}  // namespace drfwd::lb
