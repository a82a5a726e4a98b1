// What the operator interface shows, as plain data the control side fills in from the
// director and the workers; the console renders it (text, ipvsadm's layouts, JSON,
// telemetry). No text here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/check.hpp"
#include "config/model.hpp"
#include "lb/counters.hpp"
#include "lb/snapshot.hpp"

namespace drfwd::control {

class Director;

// Where drfwd has a real server's MAC from.
enum class NeighStatus : uint8_t { kNone, kStatic, kIncomplete, kReachable, kProbe, kFailed };
std::string_view neigh_status_name(NeighStatus s);

// A real server as the operator sees it: what decides its traffic (lb::RsSpec: weight,
// health, neighbour MAC, egress port; accepting() is the one "usable" rule), the last
// check's result, where its MAC comes from, its counters and their rates.
struct RsStatus : lb::RsSpec {
  std::string health_detail;  // last probe result
  NeighStatus neigh = NeighStatus::kStatic;
  lb::RsCounters counters;    // summed over workers
  double cps = 0, pps = 0, bps = 0;  // over the last second
  bool takes_new = false;     // new connections go to it now (a sorry server: only in sorry mode)
};

struct ServiceStatus {
  lb::ServiceKey key;
  lb::ServiceParams params;
  config::CheckSpec check;  // the service's effective check (a real server may override it)
  bool checks_off = false;  // no kernel interfaces: nothing is checked
  bool arp_claimed = false; // this director answers ARP for the VIP (on some port)
  bool routed = false;      // the VIP's route is in the kernel's table (vip-routes)
  bool below_quorum = false;  // quorum lost: counts as down
  bool sorry_mode = false;    // its sorry servers take the new connections
  std::vector<RsStatus> rs;
};

struct ConnStatus {
  uint8_t proto = 0;
  net::IpAddr client;
  uint16_t cport = 0;
  net::IpAddr vip;
  uint16_t vport = 0;
  net::IpAddr rs;
  uint16_t rport = 0;
  lb::ConnState state = lb::ConnState::kTcpNone;  // kTemplate: a persistence template
  uint32_t expires = 0;                           // seconds
};

// A neighbour drfwd knows: static (configured) or resolved by its own ARP requests or
// neighbor solicitations.
struct NeighbourStatus {
  net::IpAddr ip;
  std::optional<uint16_t> port;  // where it is reached, if known
  uint16_t vlan = 0;             // on which of the port's interfaces (0: untagged)
  std::optional<net::Mac> mac;
  NeighStatus state = NeighStatus::kStatic;
};

// What the configuration says of a service and its real servers (identity, parameters,
// weights), in the order configured; the rest is the caller's.
ServiceStatus status_of(const config::Service& s);

// Every service with its real servers' state, counters and rates.
std::vector<ServiceStatus> service_status(const Director& d);
// Static neighbours, then resolved ones.
std::vector<NeighbourStatus> neighbour_status(const Director& d);

}  // namespace drfwd::control
