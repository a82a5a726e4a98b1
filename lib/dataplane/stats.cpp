#include "dataplane/stats.hpp"

#include <rte_ethdev.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <algorithm>

namespace drfwd::dp {

void subtract(Totals& a, const Totals& b) {
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

std::string format_port_stats(const std::vector<PortInfo>& ports, const Totals& cur, const Totals* prev) {
  std::string out;
  char line[256];
  const double dt = prev ? cur.seconds - prev->seconds : 0;
  for (size_t p = 0; p < ports.size(); ++p) {
    const NicCounters& n = cur.ports[p].nic;
    const lb::PortCounters& sw = cur.ports[p].sw;
    std::snprintf(line, sizeof line,
                  "\n  ######################## NIC statistics for port %-2u #########################\n",
                  ports[p].id);
    out += line;
    std::snprintf(line, sizeof line, "  RX-packets: %-10" PRIu64 " RX-missed: %-10" PRIu64 " RX-bytes:  %" PRIu64 "\n",
                  n.rx_packets, n.rx_missed, n.rx_bytes);
    out += line;
    std::snprintf(line, sizeof line, "  RX-errors: %" PRIu64 "\n  RX-nombuf:  %-10" PRIu64 "\n", n.rx_errors, n.rx_nombuf);
    out += line;
    std::snprintf(line, sizeof line, "  TX-packets: %-10" PRIu64 " TX-errors: %-10" PRIu64 " TX-bytes:  %" PRIu64 "\n",
                  n.tx_packets, n.tx_errors, n.tx_bytes);
    out += line;
    if (prev && dt > 0) {
      const NicCounters& o = prev->ports[p].nic;
      auto rate = [&](uint64_t a, uint64_t b) { return static_cast<uint64_t>((a >= b ? a - b : 0) / dt); };
      std::snprintf(line, sizeof line,
                    "\n  Throughput (since last show)\n  Rx-pps: %12" PRIu64 "          Rx-bps: %12" PRIu64
                    "\n  Tx-pps: %12" PRIu64 "          Tx-bps: %12" PRIu64 "\n",
                    rate(n.rx_packets, o.rx_packets), rate(n.rx_bytes, o.rx_bytes) * 8,
                    rate(n.tx_packets, o.tx_packets), rate(n.tx_bytes, o.tx_bytes) * 8);
      out += line;
    }
    std::snprintf(line, sizeof line,
                  "  Forwarded:  %-10" PRIu64 " To-control: %-10" PRIu64 " Dropped:  %" PRIu64 "\n",
                  sw.forwarded, sw.to_control, lb::dropped(sw));
    out += line;
    std::string reasons;
    for (int d = 1; d < net::kDropCount; ++d)
      if (sw.drops[d])
        reasons += "  " + std::string(net::drop_name(static_cast<net::Drop>(d))) + ": " + std::to_string(sw.drops[d]);
    if (!reasons.empty()) out += "  Drops by reason:" + reasons + "\n";
    out += "  ############################################################################\n";
  }
  return out;
}

}  // namespace drfwd::dp
