// Statistics as the operator reads them: show stats, the periodic block (--stats-period,
// in dpdk-testpmd's wording), the --stats-json document and the telemetry copy. Every
// counter comes from the field tables of its schema (lb/counters.hpp, dp::kNicFields,
// the control side's), so a counter added there appears here without an edit. Pure
// functions of plain data: unit-tested.
#pragma once

#include <string>
#include <vector>

#include "console/telemetry.hpp"
#include "control/director.hpp"
#include "control/neighbours.hpp"
#include "control/slow_path_counters.hpp"
#include "control/status.hpp"
#include "dataplane/port.hpp"
#include "dataplane/totals.hpp"

namespace drfwd::console {

// The control core's own counters, read together.
struct ControlReading {
  control::SlowPathCounters slow;
  control::DirectorCounters director;
  control::NeighCounters neigh;
};

// show stats: per port and per worker, since `clear stats` (`shown`), with `rates`
// (per second); then every worker counter by name, and the control core's.
std::string show_stats(const std::vector<dp::PortInfo>& ports, const dp::Totals& shown, const dp::Totals& rates,
                       const ControlReading& control);

// Per port, in dpdk-testpmd's wording ("RX-packets:", "Rx-pps:"), plus drfwd's lines
// (forwarded, to control, drops by reason). `prev` gives the rates; null: no rates.
std::string period_stats(const std::vector<dp::PortInfo>& ports, const dp::Totals& cur, const dp::Totals* prev);

struct JsonInputs {
  const std::vector<dp::PortInfo>& ports;
  const dp::Totals& totals;
  const ControlReading& control;
  const std::vector<control::NeighbourStatus>& neighbours;
  const std::vector<control::ServiceStatus>& services;
  double tsc_hz = 1;
};
// Every counter as one JSON document (the --stats-json file); extra_fields: more
// members, already JSON ("\"a\":1,\"b\":2"), appended to the top-level object.
std::string stats_json(const JsonInputs& in, const std::string& extra_fields = {});

// The copy DPDK telemetry serves (/drfwd/vips, /drfwd/rs, /drfwd/stats).
TelemetryData telemetry_data(const std::vector<control::ServiceStatus>& services, const dp::Totals& totals);

}  // namespace drfwd::console
