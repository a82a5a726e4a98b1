#include "control/status.hpp"

#include "control/director.hpp"

namespace drfwd::control {

std::string_view neigh_status_name(NeighStatus s) {
  switch (s) {
    case NeighStatus::kNone: return "none";
    case NeighStatus::kStatic: return "static";
    case NeighStatus::kIncomplete: return neigh_state_name(NeighState::kIncomplete);
    case NeighStatus::kReachable: return neigh_state_name(NeighState::kReachable);
    case NeighStatus::kProbe: return neigh_state_name(NeighState::kProbe);
    case NeighStatus::kFailed: return neigh_state_name(NeighState::kFailed);
  }
  return "?";
}

namespace {
NeighStatus from(NeighState s) {
  switch (s) {
    case NeighState::kIncomplete: return NeighStatus::kIncomplete;
    case NeighState::kReachable: return NeighStatus::kReachable;
    case NeighState::kProbe: return NeighStatus::kProbe;
    case NeighState::kFailed: return NeighStatus::kFailed;
  }
  return NeighStatus::kNone;
}
}  // namespace

ServiceStatus status_of(const config::Service& s) {
  ServiceStatus st;
  st.key = s.key;
  st.params = s.params;
  for (const config::RealServer& r : s.rs) {
    RsStatus rs;
    rs.slot = r.slot;
    rs.gen = r.gen;
    rs.ip = r.ip;
    rs.weight = r.weight;
    rs.thresholds = r.thresholds;
    st.rs.push_back(std::move(rs));
  }
  return st;
}

std::vector<ServiceStatus> service_status(const Director& d) {
  const config::Model& m = d.model();
  std::vector<ServiceStatus> out;
  for (const config::Service& s : m.services()) {
    ServiceStatus st = status_of(s);
    st.check = m.effective_check(s, config::RealServer{});
    st.checks_off = !d.setup().health_checks;
    for (const lb::Iface at : d.interfaces()) st.arp_claimed |= d.claimed(at, s.key.vip);
    for (const Director::VipRoute& r : d.routes()) st.routed |= r.vip == s.key.vip;
    const lb::ServiceSpec spec = d.service_state(s);
    st.below_quorum = spec.below_quorum;
    st.sorry_mode = spec.sorry_mode();
    for (size_t i = 0; i < s.rs.size(); ++i) {
      const config::RealServer& r = s.rs[i];
      RsStatus& rs = st.rs[i];
      static_cast<lb::RsSpec&>(rs) = spec.rs[i];
      rs.takes_new = spec.takes_new(spec.rs[i], st.sorry_mode);
      if (const HealthChecker::Status* h = d.health().status(r.slot)) rs.health_detail = h->last;
      if (m.neighbours().count(r.ip))
        rs.neigh = NeighStatus::kStatic;
      else if (auto e = d.neighbours().entries().find(r.ip); e != d.neighbours().entries().end())
        rs.neigh = from(e->second.state);
      else
        rs.neigh = NeighStatus::kNone;
      rs.counters = d.rs_stats().totals(r.slot);
      const RsRate rate = d.rs_stats().rate(r.slot);
      rs.cps = rate.cps;
      rs.pps = rate.pps;
      rs.bps = rate.bps;
    }
    out.push_back(std::move(st));
  }
  return out;
}

std::vector<NeighbourStatus> neighbour_status(const Director& d) {
  std::vector<NeighbourStatus> out;
  for (auto& [ip, n] : d.model().neighbours()) {
    const auto at = d.model().egress(ip);
    out.push_back({ip, at ? std::optional<uint16_t>(at->port) : std::nullopt, at ? at->vlan : uint16_t{0}, n.mac,
                   NeighStatus::kStatic});
  }
  for (auto& [ip, e] : d.neighbours().entries())
    out.push_back({ip, e.target.port, e.target.vlan, e.mac, from(e.state)});
  return out;
}

}  // namespace drfwd::control
