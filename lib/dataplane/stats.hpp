// Reading and presenting counters: NIC counters from ethdev, drfwd's own from the
// workers (summed on read, never written from here).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/port.hpp"
#include "dataplane/worker.hpp"
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

struct NicCounters {
#define DRFWD_MEMBER(name, ethdev, help) uint64_t name = 0;
  DRFWD_NIC_COUNTERS(DRFWD_MEMBER)
#undef DRFWD_MEMBER
};

inline constexpr lb::CounterField<NicCounters> kNicFields[] = {
#define DRFWD_FIELD(name, ethdev, help) {#name, &NicCounters::name, lb::CounterKind::kCounter, help},
    DRFWD_NIC_COUNTERS(DRFWD_FIELD)
#undef DRFWD_FIELD
};

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
void subtract(Totals& a, const Totals& b);

Totals collect(const std::vector<PortInfo>& ports, const std::vector<std::unique_ptr<Worker>>& workers);

// Per port, in dpdk-testpmd's wording ("RX-packets:", "Rx-pps:"), plus drfwd's lines
// (forwarded, to control, drops by reason). `prev` gives the rates; null: no rates.
std::string format_port_stats(const std::vector<PortInfo>& ports, const Totals& cur, const Totals* prev);

}  // namespace drfwd::dp
