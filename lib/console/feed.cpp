#include "console/feed.hpp"

#include <algorithm>

#include "config/values.hpp"

namespace drfwd::console {

TelemetryData telemetry_data(const control::Controller& c) {
  TelemetryData d;
  for (const config::ServiceStatus& s : c.service_status()) {
    TelemetryData::Vip v;
    v.name = config::addr_port(s.key.vip, s.key.port, true) + "/" + std::string(config::proto_name(s.key.proto));
    v.sched = std::string(lb::sched_name(s.params.sched));
    v.persist = s.params.persist;
    v.rs = s.rs.size();
    for (const config::RsStatus& r : s.rs) {
      v.rs_up += r.accepting();
      v.conns += r.conns;
      v.packets += r.packets;
      v.bytes += r.bytes;
      TelemetryData::Rs t;
      t.service = v.name;
      t.ip = net::to_string(r.ip);
      t.weight = r.weight;
      t.health = std::string(lb::health_name(r.health));
      t.neigh = r.neigh;
      t.mac = r.mac ? net::to_string(*r.mac) : "";
      t.active = r.active;
      t.inactive = r.inactive;
      t.conns = r.conns;
      t.packets = r.packets;
      t.bytes = r.bytes;
      t.pps = static_cast<uint64_t>(r.pps);
      d.rs.push_back(std::move(t));
    }
    d.vips.push_back(std::move(v));
  }
  const dp::Totals t = c.totals();
  lb::PortCounters all;
  for (const auto& p : t.ports) lb::add(all, p.sw);
  lb::WorkerScalars workers;
  for (const auto& w : t.workers) lb::add(workers, w.w);
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
