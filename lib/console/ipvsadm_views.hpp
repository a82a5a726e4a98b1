// ipvsadm's own layouts, from status data: -L / -l with its switches, -c, --timeout, -S.
// Pure functions: unit-tested line by line against ipvsadm's output.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/request.hpp"
#include "control/status.hpp"
#include "lb/conn_state.hpp"

namespace drfwd::console {

// ipvsadm -L / -l (and -c, --timeout). table_size: the connection table capacity,
// shown where IPVS shows its hash table size.
std::string ipvsadm_list(std::vector<control::ServiceStatus> services, const config::query::IpvsList& opts,
                         uint64_t table_size, const lb::Timeouts& timeouts,
                         const std::vector<control::ConnStatus>& conns);
// ipvsadm -S: the rules, one per line, that ipvsadm -R (or drfwdctl -R) restores.
std::string ipvsadm_save(std::vector<control::ServiceStatus> services, bool numeric);

}  // namespace drfwd::console
