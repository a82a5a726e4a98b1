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

struct NicCounters {
  uint64_t ipackets = 0, opackets = 0, ibytes = 0, obytes = 0;
  uint64_t imissed = 0, ierrors = 0, oerrors = 0, rx_nombuf = 0;
};

struct PortTotals {
  NicCounters nic;
  lb::PortCounters sw;  // summed over workers
  uint64_t dropped() const;
};

struct WorkerTotals {
  unsigned lcore = 0;
  lb::PortCounters sw;  // summed over ports
  uint64_t conn_new = 0, conn_resched = 0, conn_expired = 0, conn_evicted = 0;
  uint64_t tmpl_new = 0, frag_forwarded = 0, icmp_forwarded = 0, polls = 0, busy_polls = 0, idle_sleeps = 0;
  uint64_t conns_in_use = 0;
  uint64_t exc_limited[lb::kExcClasses] = {};  // by lb::ExcClass: other, arp, server
  uint64_t busy_loop_hist[lb::kLoopHistBuckets] = {};
  uint64_t busy_loop_max = 0;  // TSC cycles
  uint64_t new_snapshot_hist[lb::kLoopHistBuckets] = {};
  uint64_t new_snapshot_max = 0;
  uint64_t dropped() const;
};

struct Totals {
  double seconds = 0;  // monotonic time of the reading
  std::vector<PortTotals> ports;
  std::vector<WorkerTotals> workers;
};

void add(lb::PortCounters& into, const lb::PortCounters& from);

Totals collect(const std::vector<PortInfo>& ports, const std::vector<std::unique_ptr<Worker>>& workers);

// Per port, in dpdk-testpmd's wording ("RX-packets:", "Rx-pps:"), plus drfwd's lines
// (forwarded, to control, drops by reason). `prev` gives the rates; null: no rates.
std::string format_port_stats(const std::vector<PortInfo>& ports, const Totals& cur, const Totals* prev);

}  // namespace drfwd::dp
