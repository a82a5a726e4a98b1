// Counter totals as the control side reads them: each port's NIC and drfwd counters,
// each worker's. Plain data (no DPDK): the views render it, tests build it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "lb/counters.hpp"

namespace drfwd::dp {

// What ethdev counts for a port (rte_eth_stats), under the names every view uses.
#define DRFWD_NIC_COUNTERS(X)                                                       \
  X(rx_packets, ipackets, "frames the NIC received")                                \
  X(rx_bytes, ibytes, "bytes the NIC received")                                     \
  X(rx_missed, imissed, "frames the NIC dropped because the RX queue was full")     \
  X(rx_errors, ierrors, "erroneous frames received")                                \
  X(rx_nombuf, rx_nombuf, "RX mbuf allocation failures")                            \
  X(tx_packets, opackets, "frames the NIC sent")                                    \
  X(tx_bytes, obytes, "bytes the NIC sent")                                         \
  X(tx_errors, oerrors, "frames the NIC failed to send")

// (The ethdev member stands where the other lists have the kind: all are counters.)
#define DRFWD_NIC_COUNTER(name, ethdev, help) DRFWD_COUNTER_MEMBER(name, kCounter, help)
#define DRFWD_NIC_FIELD(name, ethdev, help) DRFWD_COUNTER_FIELD(name, kCounter, help)
struct NicCounters {
  DRFWD_NIC_COUNTERS(DRFWD_NIC_COUNTER)
};
#define DRFWD_COUNTER_TYPE NicCounters
inline constexpr lb::CounterField<NicCounters> kNicFields[] = {DRFWD_NIC_COUNTERS(DRFWD_NIC_FIELD)};
#undef DRFWD_COUNTER_TYPE

struct PortTotals {
  NicCounters nic;
  lb::PortCounters sw;  // summed over workers
};

struct WorkerTotals {
  unsigned lcore = 0;
  lb::PortCounters sw;  // summed over ports
  lb::WorkerScalars w;
};

struct Totals {
  double seconds = 0;  // monotonic time of the reading
  std::vector<PortTotals> ports;
  std::vector<WorkerTotals> workers;
};

// a -= b, counters only (what `clear stats` keeps as its baseline).
inline void subtract(Totals& a, const Totals& b) {
  for (size_t p = 0; p < a.ports.size() && p < b.ports.size(); ++p) {
    lb::subtract(a.ports[p].sw, b.ports[p].sw);
    NicCounters& n = a.ports[p].nic;
    for (const auto& f : kNicFields) n.*f.member -= std::min(n.*f.member, b.ports[p].nic.*f.member);
  }
  for (size_t w = 0; w < a.workers.size() && w < b.workers.size(); ++w) {
    lb::subtract(a.workers[w].sw, b.workers[w].sw);
    lb::subtract(a.workers[w].w, b.workers[w].w);
  }
}

}  // namespace drfwd::dp
