#include "dataplane/stats.hpp"

#include <rte_ethdev.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>

namespace drfwd::dp {

uint64_t PortTotals::dropped() const {
  uint64_t d = 0;
  for (uint64_t v : sw.drops) d += v;
  return d;
}

uint64_t WorkerTotals::dropped() const {
  uint64_t d = 0;
  for (uint64_t v : sw.drops) d += v;
  return d;
}

void add(lb::PortCounters& into, const lb::PortCounters& from) {
  into.rx_packets += lb::read(from.rx_packets);
  into.rx_bytes += lb::read(from.rx_bytes);
  into.tx_packets += lb::read(from.tx_packets);
  into.tx_bytes += lb::read(from.tx_bytes);
  into.to_control += lb::read(from.to_control);
  into.from_control += lb::read(from.from_control);
  for (int i = 0; i < net::kDropCount; ++i) into.drops[i] += lb::read(from.drops[i]);
}

Totals collect(const std::vector<PortInfo>& ports, const std::vector<std::unique_ptr<Worker>>& workers) {
  Totals t;
  t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  t.ports.resize(ports.size());
  for (size_t p = 0; p < ports.size(); ++p) {
    rte_eth_stats s;
    if (ports[p].started && rte_eth_stats_get(ports[p].id, &s) == 0) {
      NicCounters& n = t.ports[p].nic;
      n.ipackets = s.ipackets;
      n.opackets = s.opackets;
      n.ibytes = s.ibytes;
      n.obytes = s.obytes;
      n.imissed = s.imissed;
      n.ierrors = s.ierrors;
      n.oerrors = s.oerrors;
      n.rx_nombuf = s.rx_nombuf;
    }
  }
  for (const auto& w : workers) {
    const lb::WorkerCounters& c = w->counters();
    WorkerTotals wt;
    wt.lcore = w->lcore();
    for (size_t p = 0; p < ports.size(); ++p) {
      add(t.ports[p].sw, c.port[p]);
      add(wt.sw, c.port[p]);
    }
    wt.conn_new = lb::read(c.conn_new);
    wt.conn_resched = lb::read(c.conn_resched);
    wt.conn_expired = lb::read(c.conn_expired);
    wt.conn_evicted = lb::read(c.conn_evicted);
    wt.tmpl_new = lb::read(c.tmpl_new);
    wt.frag_forwarded = lb::read(c.frag_forwarded);
    wt.icmp_forwarded = lb::read(c.icmp_forwarded);
    wt.polls = lb::read(c.polls);
    wt.busy_polls = lb::read(c.busy_polls);
    wt.idle_sleeps = lb::read(c.idle_sleeps);
    wt.conns_in_use = lb::read(c.conns_in_use);
    for (int k = 0; k < lb::kExcClasses; ++k) wt.exc_limited[k] = lb::read(c.exc_limited[k]);
    for (int k = 0; k < lb::kLoopHistBuckets; ++k) wt.busy_loop_hist[k] = lb::read(c.busy_loop_hist[k]);
    wt.busy_loop_max = lb::read(c.busy_loop_max);
    for (int k = 0; k < lb::kLoopHistBuckets; ++k) wt.new_snapshot_hist[k] = lb::read(c.new_snapshot_hist[k]);
    wt.new_snapshot_max = lb::read(c.new_snapshot_max);
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
                  n.ipackets, n.imissed, n.ibytes);
    out += line;
    std::snprintf(line, sizeof line, "  RX-errors: %" PRIu64 "\n  RX-nombuf:  %-10" PRIu64 "\n", n.ierrors, n.rx_nombuf);
    out += line;
    std::snprintf(line, sizeof line, "  TX-packets: %-10" PRIu64 " TX-errors: %-10" PRIu64 " TX-bytes:  %" PRIu64 "\n",
                  n.opackets, n.oerrors, n.obytes);
    out += line;
    if (prev && dt > 0) {
      const NicCounters& o = prev->ports[p].nic;
      auto rate = [&](uint64_t a, uint64_t b) { return static_cast<uint64_t>((a >= b ? a - b : 0) / dt); };
      std::snprintf(line, sizeof line,
                    "\n  Throughput (since last show)\n  Rx-pps: %12" PRIu64 "          Rx-bps: %12" PRIu64
                    "\n  Tx-pps: %12" PRIu64 "          Tx-bps: %12" PRIu64 "\n",
                    rate(n.ipackets, o.ipackets), rate(n.ibytes, o.ibytes) * 8, rate(n.opackets, o.opackets),
                    rate(n.obytes, o.obytes) * 8);
      out += line;
    }
    std::snprintf(line, sizeof line,
                  "  Forwarded:  %-10" PRIu64 " To-control: %-10" PRIu64 " Dropped:  %" PRIu64 "\n",
                  sw.tx_packets, sw.to_control, cur.ports[p].dropped());
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
