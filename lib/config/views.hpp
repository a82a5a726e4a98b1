// Text for operators, from plain data the control core fills in: ipvsadm's own layouts
// (-L with its switches, -S, -c) and drfwd's show commands; the running configuration as
// commands. Pure functions: unit-tested line by line.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "config/request.hpp"

namespace drfwd::config {

// A real server as the operator sees it: what decides its traffic (lb::RsSpec: weight,
// health, neighbour MAC, egress port; accepting() is the one "usable" rule), with the
// last check's result, the neighbour state and the counters.
struct RsStatus : lb::RsSpec {
  std::string health_detail;      // last probe result
  std::string neigh = "static";   // static, reachable, probe, incomplete, failed, none
  int64_t active = 0, inactive = 0, persist = 0;
  uint64_t conns = 0, packets = 0, bytes = 0;
  double cps = 0, pps = 0, bps = 0;  // over the last second
};

struct ServiceStatus {
  ServiceKey key;
  lb::ServiceParams params;
  std::string check;  // the effective check, e.g. "tcp :80 every 500ms, rise 2 fall 3"
  std::vector<RsStatus> rs;
};

struct ConnStatus {
  uint8_t proto = 0;
  net::Ipv4 client;
  uint16_t cport = 0;
  net::Ipv4 vip;
  uint16_t vport = 0;
  net::Ipv4 rs;
  uint16_t rport = 0;
  std::string state;    // ESTABLISHED, SYN_RECV, ..., UDP, TEMPLATE
  uint32_t expires = 0; // seconds
};

// What the configuration says of a service and its real servers (identity, scheduler,
// weights), in the order configured; health, neighbours and counters are the caller's.
ServiceStatus status_of(const Service& s);

// ipvsadm -L / -l (and -c, --timeout) in ipvsadm's layout. table_size: the connection
// table capacity, shown where IPVS shows its hash table size.
std::string ipvsadm_list(std::vector<ServiceStatus> services, const query::IpvsList& opts, uint64_t table_size,
                         const lb::Timeouts& timeouts, std::vector<ConnStatus> conns);
// ipvsadm -S: the rules, one per line, that ipvsadm -R (or drfwdctl -R) restores.
std::string ipvsadm_save(std::vector<ServiceStatus> services, bool numeric);

// drfwd's own tables.
std::string format_vips(const std::vector<ServiceStatus>& services);
std::string format_rs(const std::vector<ServiceStatus>& services);
std::string format_conns(const std::vector<ConnStatus>& conns, uint64_t in_use, uint32_t limit);

// The running configuration as commands that rebuild it exactly (show/save config).
std::string model_to_commands(const Model& m);

// "198.18.0.100:80" or, not numeric, "198.18.0.100:http" (addresses are never
// resolved: drfwd does no DNS).
std::string addr_port(net::Ipv4 a, uint16_t port, bool numeric);
std::string describe(const CheckSpec& c, uint16_t service_port);

}  // namespace drfwd::config
