// Accounting at exit, once the workers have stopped: every worker's connection table is
// structurally sound, every entry is bound to a real server, and each RS's connection
// gauges (active, inactive, persistence templates; summed over workers) equal the
// entries in the tables that point at it. Plain C++: unit-tested.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "control/rs_stats.hpp"
#include "lb/flow_table.hpp"

namespace drfwd::control {

// tables, tables6: the IPv4 and IPv6 tables by worker index. Returns what is wrong, one
// line each; empty when all is accounted for.
std::vector<std::string> conn_accounting(std::span<const lb::FlowTable* const> tables, const config::Model& model,
                                         const RsStats& stats, std::span<const lb::FlowTable6* const> tables6 = {});

}  // namespace drfwd::control
