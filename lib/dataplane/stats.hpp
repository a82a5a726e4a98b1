// Reading counters: NIC counters from ethdev, drfwd's own from the workers (summed on
// read, never written from here).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/port.hpp"
#include "dataplane/worker.hpp"
#include "dataplane/totals.hpp"
#include "lb/counters.hpp"

namespace drfwd::dp {

Totals collect(const std::vector<PortInfo>& ports, const std::vector<std::unique_ptr<Worker>>& workers);


}  // namespace drfwd::dp
