#include "console/telemetry.hpp"

#include <rte_telemetry.h>

#include <string>

namespace drfwd::console {

std::mutex Telemetry::mu_;
TelemetryData Telemetry::data_;

namespace {

// A dict keyed by position ("0", "1", ...) of one dict per item: DPDK allows only
// [A-Za-z0-9_/] in keys (and no dicts in arrays), so addresses are values. At most
// what one reply holds (256 entries).
template <class T, class Fill>
void positional(rte_tel_data* d, const std::vector<T>& items, Fill&& fill) {
  rte_tel_data_start_dict(d);
  unsigned i = 0;
  for (const T& item : items) {
    rte_tel_data* c = rte_tel_data_alloc();
    if (!c) break;
    rte_tel_data_start_dict(c);
    fill(c, item);
    if (rte_tel_data_add_dict_container(d, std::to_string(i++).c_str(), c, 0) != 0) {
      rte_tel_data_free(c);
      break;
    }
  }
}

}  // namespace

struct TelemetryCallbacks {
  static int vips(const char*, const char*, rte_tel_data* d) {
    std::lock_guard<std::mutex> g(Telemetry::mu_);
    positional(d, Telemetry::data_.vips, [](rte_tel_data* c, const TelemetryData::Vip& v) {
      rte_tel_data_add_dict_string(c, "service", v.name.c_str());
      rte_tel_data_add_dict_string(c, "sched", v.sched.c_str());
      rte_tel_data_add_dict_u64(c, "persist", v.persist);
      rte_tel_data_add_dict_u64(c, "real_servers", v.rs);
      rte_tel_data_add_dict_u64(c, "real_servers_up", v.rs_up);
      rte_tel_data_add_dict_u64(c, "conns", v.conns);
      rte_tel_data_add_dict_u64(c, "packets", v.packets);
      rte_tel_data_add_dict_u64(c, "bytes", v.bytes);
    });
    return 0;
  }
  static int rs(const char*, const char*, rte_tel_data* d) {
    std::lock_guard<std::mutex> g(Telemetry::mu_);
    positional(d, Telemetry::data_.rs, [](rte_tel_data* c, const TelemetryData::Rs& r) {
      rte_tel_data_add_dict_string(c, "service", r.service.c_str());
      rte_tel_data_add_dict_string(c, "ip", r.ip.c_str());
      rte_tel_data_add_dict_u64(c, "weight", r.weight);
      rte_tel_data_add_dict_string(c, "health", r.health.c_str());
      rte_tel_data_add_dict_string(c, "neighbour", r.neigh.c_str());
      rte_tel_data_add_dict_string(c, "mac", r.mac.c_str());
      for (const auto& f : lb::kRsGaugeFields)
        rte_tel_data_add_dict_int(c, std::string(f.name).c_str(), static_cast<int>(r.counters.*f.member));
      for (const auto& f : lb::kRsCounterFields)
        rte_tel_data_add_dict_u64(c, std::string(f.name).c_str(), r.counters.*f.member);
      rte_tel_data_add_dict_u64(c, "pps", r.pps);
    });
    return 0;
  }
  static int stats(const char*, const char*, rte_tel_data* d) {
    std::lock_guard<std::mutex> g(Telemetry::mu_);
    rte_tel_data_start_dict(d);
    for (const auto& [k, v] : Telemetry::data_.stats) rte_tel_data_add_dict_u64(d, k.c_str(), v);
    return 0;
  }
};

bool Telemetry::install() {
  static bool done = false;
  if (done) return true;
  bool ok = rte_telemetry_register_cmd("/drfwd/vips", TelemetryCallbacks::vips,
                                       "Services: scheduler, persistence, real servers up, counters") == 0;
  ok &= rte_telemetry_register_cmd("/drfwd/rs", TelemetryCallbacks::rs,
                                   "Real servers: weight, health, neighbour, connections, counters, pps") == 0;
  ok &= rte_telemetry_register_cmd("/drfwd/stats", TelemetryCallbacks::stats,
                                   "Totals: received, forwarded, dropped by reason, connections") == 0;
  done = ok;
  return ok;
}

void Telemetry::update(TelemetryData data) {
  std::lock_guard<std::mutex> g(mu_);
  data_ = std::move(data);
}

}  // namespace drfwd::console
