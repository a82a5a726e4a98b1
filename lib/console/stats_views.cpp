#include "console/stats_views.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "console/json.hpp"
#include "config/values.hpp"
#include "console/text.hpp"

namespace drfwd::console {

namespace {

std::string drop_list(const lb::PortCounters& c) {
  std::string s;
  for (int d = 1; d < net::kDropCount; ++d)
    if (c.drops[d])
      s += (s.empty() ? "" : ", ") + std::string(net::drop_name(static_cast<net::Drop>(d))) + " " +
           std::to_string(c.drops[d]);
  return s.empty() ? "none" : s;
}

template <class S, size_t N>
void fields(JsonWriter& j, const S& s, const lb::CounterField<S> (&table)[N]) {
  for (const auto& f : table) j.field(f.name, s.*f.member);
}

void drops(JsonWriter& j, const lb::PortCounters& c) {
  j.key("drops").begin_object();
  for (int d = 1; d < net::kDropCount; ++d) j.field(net::drop_name(static_cast<net::Drop>(d)), c.drops[d]);
  j.end_object();
}

// The port and worker counters, then dropped, malformed and the drops by reason.
void port_counters(JsonWriter& j, const lb::PortCounters& c) {
  fields(j, c, lb::kPortFields);
  j.field("dropped", lb::dropped(c)).field("malformed", lb::malformed(c));
  drops(j, c);
}

void histograms(JsonWriter& j, const lb::WorkerScalars& w, double tsc_hz) {
  // Loop durations in TSC cycles, quarter octaves: element b counts durations d with
  // lb::loop_hist_bucket(d) == b, i.e. from 2^(b/4) (roughly); the longest in us.
  for (const lb::HistogramField& hf : lb::kWorkerHistograms) {
    const lb::LoopHistogram& h = w.*hf.member;
    j.field(std::string(hf.name) + "_max_us", static_cast<double>(h.max) * 1e6 / tsc_hz);
    int last = 0;
    for (int b = 0; b < lb::kLoopHistBuckets; ++b)
      if (h.buckets[b]) last = b + 1;
    j.key(std::string(hf.name) + "_cycles").begin_array();
    for (int b = 0; b < last; ++b) j.value(h.buckets[b]);
    j.end_array();
  }
}

void control_fields(JsonWriter& j, const ControlReading& c) {
  fields(j, c.slow, control::kSlowPathFields);
  fields(j, c.neigh, control::kNeighFields);
  fields(j, c.director, control::kDirectorFields);
}

void services_json(JsonWriter& j, const std::vector<control::ServiceStatus>& services) {
  j.key("services").begin_array();
  for (const control::ServiceStatus& s : services) {
    j.begin_object()
        .field("vip", net::to_string(s.key.vip))
        .field("proto", config::proto_name(s.key.proto))
        .field("port", uint64_t{s.key.port})
        .field("sched", lb::sched_name(s.params.sched))
        .field("persist", uint64_t{s.params.persist})
        .field("arp_claimed", s.arp_claimed)
        .field("routed", s.routed)
        .field("below_quorum", s.below_quorum)
        .field("sorry_mode", s.sorry_mode);
    j.key("real_servers").begin_array();
    for (const control::RsStatus& r : s.rs) {
      j.begin_object()
          .field("ip", net::to_string(r.ip))
          .field("weight", uint64_t{r.weight})
          .field("health", lb::health_name(r.health))
          .field("sorry", r.sorry)
          .field("takes_new", r.takes_new);
      fields(j, r.counters, lb::kRsCounterFields);
      for (const auto& f : lb::kRsGaugeFields) j.field(f.name, r.counters.*f.member);
      j.end_object();
    }
    j.end_array().end_object();
  }
  j.end_array();
}

}  // namespace

std::string show_stats(const std::vector<dp::PortInfo>& ports, const dp::Totals& shown, const dp::Totals& rates,
                       const ControlReading& control) {
  std::string out = cformat("%-4s %-16s %12s %10s %12s %10s %10s %10s %10s\n", "PORT", "NAME", "RECEIVED", "RX-PPS",
                            "FORWARDED", "TX-PPS", "TO-CTL", "DROPPED", "MALFORMED");
  for (size_t p = 0; p < shown.ports.size() && p < ports.size(); ++p) {
    const lb::PortCounters& sw = shown.ports[p].sw;
    const uint64_t rxpps = p < rates.ports.size() ? rates.ports[p].nic.rx_packets : 0;
    const uint64_t txpps = p < rates.ports.size() ? rates.ports[p].sw.forwarded : 0;
    out += cformat("%-4zu %-16s %12" PRIu64 " %10" PRIu64 " %12" PRIu64 " %10" PRIu64 " %10" PRIu64 " %10" PRIu64
                   " %10" PRIu64 "\n",
                   p, ports[p].name.c_str(), sw.received, rxpps, sw.forwarded, txpps, sw.to_control, lb::dropped(sw),
                   lb::malformed(sw));
    out += "     drops: " + drop_list(sw) + "\n";
  }
  out += cformat("\n%-6s %-5s %12s %10s %12s %10s %10s %10s %9s %9s %9s %6s\n", "WORKER", "LCORE", "RECEIVED",
                 "RX-PPS", "FORWARDED", "DROPPED", "CONNS", "NEW", "RESCHED", "EXPIRED", "EVICTED", "BUSY%");
  for (size_t w = 0; w < shown.workers.size(); ++w) {
    const dp::WorkerTotals& wt = shown.workers[w];
    const uint64_t rxpps = w < rates.workers.size() ? rates.workers[w].sw.received : 0;
    const double busy = wt.w.polls ? 100.0 * static_cast<double>(wt.w.busy_polls) / static_cast<double>(wt.w.polls) : 0;
    out += cformat("%-6zu %-5u %12" PRIu64 " %10" PRIu64 " %12" PRIu64 " %10" PRIu64 " %10" PRIu64 " %10" PRIu64
                   " %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %6.1f\n",
                   w, wt.lcore, wt.sw.received, rxpps, wt.sw.forwarded, lb::dropped(wt.sw), wt.w.conns_in_use,
                   wt.w.conn_new, wt.w.conn_resched, wt.w.conn_expired, wt.w.conn_evicted, busy);
  }
  // Every worker counter by name, one column per worker.
  out += cformat("\n%-26s", "WORKER COUNTERS");
  for (size_t w = 0; w < shown.workers.size(); ++w) out += cformat(" %12s", ("worker " + std::to_string(w)).c_str());
  out += "\n";
  for (const auto& f : lb::kWorkerFields) {
    out += cformat("%-26s", std::string(f.name).c_str());
    for (const dp::WorkerTotals& wt : shown.workers) out += cformat(" %12" PRIu64, wt.w.*f.member);
    out += "\n";
  }
  out += "\nCONTROL\n";
  auto line = [&](std::string_view name, uint64_t v) {
    out += cformat("%-26s %12" PRIu64 "\n", std::string(name).c_str(), v);
  };
  for (const auto& f : control::kSlowPathFields) line(f.name, control.slow.*f.member);
  for (const auto& f : control::kNeighFields) line(f.name, control.neigh.*f.member);
  for (const auto& f : control::kDirectorFields) line(f.name, control.director.*f.member);
  return out;
}

std::string period_stats(const std::vector<dp::PortInfo>& ports, const dp::Totals& cur, const dp::Totals* prev) {
  std::string out;
  char line[256];
  const double dt = prev ? cur.seconds - prev->seconds : 0;
  for (size_t p = 0; p < ports.size(); ++p) {
    const dp::NicCounters& n = cur.ports[p].nic;
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
      const dp::NicCounters& o = prev->ports[p].nic;
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

std::string stats_json(const JsonInputs& in, const std::string& extra_fields) {
  JsonWriter j;
  j.begin_object();
  j.field("version", DRFWD_VERSION);
  j.field("tsc_hz", static_cast<uint64_t>(in.tsc_hz));
  j.key("ports").begin_array();
  lb::PortCounters all;
  for (size_t p = 0; p < in.ports.size() && p < in.totals.ports.size(); ++p) {
    const dp::PortTotals& pt = in.totals.ports[p];
    lb::add(all, pt.sw);
    j.begin_object()
        .field("id", uint64_t{in.ports[p].id})
        .field("name", in.ports[p].name)
        .field("driver", in.ports[p].driver)
        .field("mac", net::to_string(in.ports[p].mac));
    fields(j, pt.nic, dp::kNicFields);
    port_counters(j, pt.sw);
    j.end_object();
  }
  j.end_array();

  j.key("workers").begin_array();
  for (const dp::WorkerTotals& w : in.totals.workers) {
    j.begin_object().field("lcore", uint64_t{w.lcore});
    fields(j, w.w, lb::kWorkerFields);
    histograms(j, w.w, in.tsc_hz);
    port_counters(j, w.sw);
    j.end_object();
  }
  j.end_array();

  j.key("totals").begin_object().field("exception_in", in.control.slow.exception_in);
  port_counters(j, all);
  j.end_object();

  j.key("control").begin_object();
  control_fields(j, in.control);
  j.end_object();

  j.key("neighbours").begin_array();
  for (const control::NeighbourStatus& n : in.neighbours)
    j.begin_object()
        .field("ip", net::to_string(n.ip))
        .field("port", n.port ? int64_t{*n.port} : int64_t{-1})
        .field("vlan", int64_t{n.vlan})
        .field("state", control::neigh_status_name(n.state))
        .field("mac", n.mac ? net::to_string(*n.mac) : std::string())
        .end_object();
  j.end_array();
  services_json(j, in.services);
  j.end_object();
  std::string out = j.str();
  out.pop_back();  // reopen the object for the caller's extra fields
  if (!extra_fields.empty()) out += "," + extra_fields;
  return out + "}\n";
}

TelemetryData telemetry_data(const std::vector<control::ServiceStatus>& services, const dp::Totals& totals) {
  TelemetryData d;
  for (const control::ServiceStatus& s : services) {
    TelemetryData::Vip v;
    v.name = addr_port(s.key.vip, s.key.port, true) + "/" + std::string(config::proto_name(s.key.proto));
    v.sched = std::string(lb::sched_name(s.params.sched));
    v.persist = s.params.persist;
    v.rs = s.rs.size();
    for (const control::RsStatus& r : s.rs) {
      v.rs_up += r.takes_new;
      v.conns += r.counters.conns;
      v.packets += r.counters.packets;
      v.bytes += r.counters.bytes;
      TelemetryData::Rs t;
      t.service = v.name;
      t.ip = net::to_string(r.ip);
      t.weight = r.weight;
      t.health = std::string(lb::health_name(r.health));
      t.neigh = std::string(control::neigh_status_name(r.neigh));
      t.mac = r.mac ? net::to_string(*r.mac) : "";
      t.counters = r.counters;
      t.pps = static_cast<uint64_t>(r.pps);
      d.rs.push_back(std::move(t));
    }
    d.vips.push_back(std::move(v));
  }
  lb::PortCounters all;
  for (const auto& p : totals.ports) lb::add(all, p.sw);
  lb::WorkerScalars workers;
  for (const auto& w : totals.workers) lb::add(workers, w.w);
  for (const auto& f : lb::kPortFields) d.stats.emplace_back(std::string(f.name), all.*f.member);
  d.stats.emplace_back("dropped", lb::dropped(all));
  d.stats.emplace_back("malformed", lb::malformed(all));
  for (const auto& f : lb::kWorkerFields) d.stats.emplace_back(std::string(f.name), workers.*f.member);
  for (int i = 1; i < net::kDropCount; ++i) {
    std::string key = "drop_" + std::string(net::drop_name(static_cast<net::Drop>(i)));
    std::replace(key.begin(), key.end(), '-', '_');
    d.stats.emplace_back(std::move(key), all.drops[i]);
  }
  return d;
}

}  // namespace drfwd::console
