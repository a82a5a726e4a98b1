// Prometheus' text exposition format (version 0.0.4) of every counter drfwd keeps: what
// --metrics serves at /metrics. Rendered from the same data as show rs, show stats,
// ipvsadm -L --stats and the --stats-json document, and generated from the same field
// tables (lb/counters.hpp, dp::kNicFields, the control side's lists): a counter added to
// a table appears here without an edit. Names and labels of node_exporter's IPVS
// collector (node_ipvs_*) are kept under drfwd_ipvs_*; the rest is drfwd_*. Pure
// functions of plain data: unit-tested without EAL.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "console/stats_views.hpp"
#include "control/status.hpp"
#include "control/sync.hpp"
#include "dataplane/port.hpp"
#include "dataplane/totals.hpp"

namespace drfwd::console {

struct MetricsInputs {
  const std::vector<dp::PortInfo>& ports;
  const dp::Totals& totals;  // since start (never less `clear stats`: counters only grow)
  const ControlReading& control;
  const std::vector<control::ServiceStatus>& services;
  const control::SyncCounters* sync = nullptr;  // none: no sync daemon
  std::vector<uint64_t> conn_capacity;          // per worker: IPv4 and IPv6 table entries
  double tsc_hz = 1;
};

inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// The whole /metrics body.
std::string render_metrics(const MetricsInputs& in);

// A label value as the format wants it: backslash, double quote and newline escaped.
std::string escape_label_value(std::string_view v);
// HELP text: backslash and newline escaped.
std::string escape_help(std::string_view v);

}  // namespace drfwd::console
