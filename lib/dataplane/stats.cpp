#include "dataplane/stats.hpp"

#include <rte_ethdev.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <algorithm>

namespace drfwd::dp {

Totals collect(const std::vector<PortInfo>& ports, const std::vector<std::unique_ptr<Worker>>& workers) {
  Totals t;
  t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  t.ports.resize(ports.size());
  for (size_t p = 0; p < ports.size(); ++p) {
    rte_eth_stats s;
    if (ports[p].started && rte_eth_stats_get(ports[p].id, &s) == 0) {
      NicCounters& n = t.ports[p].nic;
#define DRFWD_COPY(name, ethdev, help) n.name = s.ethdev;
      DRFWD_NIC_COUNTERS(DRFWD_COPY)
#undef DRFWD_COPY
    }
  }
  for (const auto& w : workers) {
    const lb::WorkerCounters& c = w->counters();
    WorkerTotals wt;
    wt.lcore = w->lcore();
    for (size_t p = 0; p < ports.size(); ++p) {
      lb::add(t.ports[p].sw, c.port[p]);
      lb::add(wt.sw, c.port[p]);
    }
    lb::add(wt.w, c);
    t.workers.push_back(wt);
  }
  return t;
}

}  // namespace drfwd::dp
