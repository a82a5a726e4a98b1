// DPDK telemetry endpoints /drfwd/vips, /drfwd/rs and /drfwd/stats, readable with
// dpdk-telemetry.py. The callbacks run on DPDK's telemetry thread: they only read a copy
// the control core refreshes (update()), under a mutex that nothing on the forwarding
// path ever takes.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "lb/counters.hpp"

namespace drfwd::console {

struct TelemetryData {
  struct Vip {
    std::string name;  // "198.18.0.100:80/tcp"
    std::string sched;
    uint64_t persist = 0;
    uint64_t rs = 0;
    uint64_t rs_up = 0;
    uint64_t conns = 0, packets = 0, bytes = 0;
  };
  struct Rs {
    std::string service;  // "198.18.0.100:80/tcp"
    std::string ip;
    uint64_t weight = 0;
    std::string health, neigh, mac;
    lb::RsCounters counters;
    uint64_t pps = 0;
  };
  std::vector<Vip> vips;
  std::vector<Rs> rs;
  std::vector<std::pair<std::string, uint64_t>> stats;  // keys: [A-Za-z0-9_] only
};

class Telemetry {
 public:
  // Registers the endpoints (once per process). Returns false if telemetry is off.
  static bool install();
  static void update(TelemetryData data);

 private:
  static std::mutex mu_;
  static TelemetryData data_;
  friend struct TelemetryCallbacks;
};

}  // namespace drfwd::console
