// drfwd's own tables: show vips, show rs, show conns, show ports, show neigh. Pure
// functions of status data: unit-tested.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "control/status.hpp"
#include "dataplane/port.hpp"

namespace drfwd::console {

std::string format_vips(const std::vector<control::ServiceStatus>& services);
std::string format_rs(const std::vector<control::ServiceStatus>& services);
std::string format_conns(const std::vector<control::ConnStatus>& conns, uint64_t in_use, uint32_t limit);

struct VlanRow {
  uint16_t vid = 0;
  net::Prefix address;
  std::string kernel_if;  // empty: none
};
struct PortRow {
  dp::PortInfo info;
  std::optional<net::Prefix> address;
  size_t queues = 0;
  bool link_up = false;
  std::string kernel_if;  // empty: none
  std::vector<VlanRow> vlans;
};
std::string format_ports(const std::vector<PortRow>& ports);
std::string format_neigh(const std::vector<control::NeighbourStatus>& neighbours);

// The check column: the service's check, or that checks are off.
std::string check_text(const control::ServiceStatus& s);

}  // namespace drfwd::console
