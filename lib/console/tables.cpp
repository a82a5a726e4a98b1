#include "console/tables.hpp"

#include <cinttypes>

#include "config/values.hpp"
#include "console/text.hpp"

namespace drfwd::console {

using control::ConnStatus;
using control::RsStatus;
using control::ServiceStatus;

std::string check_text(const ServiceStatus& s) {
  return describe(s.check, s.key.port) + (s.checks_off ? " (off: no kernel interfaces)" : "");
}

std::string format_vips(const std::vector<ServiceStatus>& services) {
  if (services.empty()) return "no services\n";
  std::string out = cformat("%-22s %-5s %-6s %-9s %-12s %-10s %s\n", "VIP:PORT", "PROTO", "SCHED", "PERSIST", "RS UP/ALL",
                            "ANNOUNCED", "CHECK");
  for (const ServiceStatus& s : services) {
    size_t up = 0;
    for (const RsStatus& r : s.rs) up += r.takes_new;
    const lb::ServiceParams& p = s.params;
    std::string persist = p.persist ? std::to_string(p.persist) + "s" : "-";
    if (p.persist && p.persist_mask != s.key.vip.max_len()) persist += "/" + std::to_string(p.persist_mask);
    std::string sched = std::string(lb::sched_name(p.sched));
    if (lb::sched_uses_maglev(p.sched) && p.mh_size != lb::kDefaultMaglevSize) sched += "/" + std::to_string(p.mh_size);
    // How the VIP is claimed: ARP (answered and announced here), a route in the kernel
    // (for a routing daemon), both, or neither (a backup, or not converged yet).
    const std::string claim = s.key.vip.is_v4() ? "arp" : "ndp";  // how the VIP is answered and announced
    const std::string announced = s.arp_claimed && s.routed ? claim + ",route" : s.arp_claimed ? claim : s.routed ? "route" : "no";
    out += cformat("%-22s %-5s %-6s %-9s %-12s %-10s %s\n", addr_port(s.key.vip, s.key.port, true).c_str(),
                   std::string(config::proto_name(s.key.proto)).c_str(), sched.c_str(), persist.c_str(),
                   (std::to_string(up) + "/" + std::to_string(s.rs.size())).c_str(), announced.c_str(),
                   check_text(s).c_str());
  }
  return out;
}

std::string format_rs(const std::vector<ServiceStatus>& services) {
  if (services.empty()) return "no services\n";
  std::string out;
  for (const ServiceStatus& s : services) {
    out += config::to_string(s.key) + " " + std::string(lb::sched_name(s.params.sched)) + "  check " + check_text(s);
    if (s.params.quorum)
      out += "  quorum " + std::to_string(s.params.quorum) + "/" + std::to_string(s.params.hysteresis) +
             (s.below_quorum ? " LOST" : " held");
    if (s.sorry_mode) out += "  SORRY SERVER IN USE";
    out += "\n";
    if (s.rs.empty()) {
      out += "  (no real servers)\n";
      continue;
    }
    out += cformat("  %-17s %6s %-9s %-10s %-17s %8s %8s %10s %12s %9s %11s\n", "RS", "WEIGHT", "HEALTH", "NEIGH",
                   "MAC", "ACTIVE", "INACTIVE", "PACKETS", "BYTES", "PPS", "BPS");
    for (const RsStatus& r : s.rs) {
      out += cformat("  %-17s %6u %-9s %-10s %-17s %8" PRId64 " %8" PRId64 " %10" PRIu64 " %12" PRIu64 " %9.0f %11.0f\n",
                     net::to_string(r.ip).c_str(), r.weight, std::string(lb::health_name(r.health)).c_str(),
                     std::string(control::neigh_status_name(r.neigh)).c_str(),
                     r.mac ? net::to_string(*r.mac).c_str() : "-", r.counters.active, r.counters.inactive,
                     r.counters.packets, r.counters.bytes, r.pps, r.bps);
      if (r.health == lb::Health::kDown && !r.health_detail.empty()) out += "      last check: " + r.health_detail + "\n";
      if (r.sorry) out += std::string("      sorry server: ") + (r.takes_new ? "taking new connections" : "standby") + "\n";
      if (r.inhibit && r.health == lb::Health::kDown) out += "      down, inhibited: keeps its connections\n";
    }
  }
  return out;
}

std::string format_conns(const std::vector<ConnStatus>& conns, uint64_t in_use, uint32_t limit) {
  std::string out =
      cformat("%-4s %-21s %-21s %-21s %-12s %s\n", "PRO", "CLIENT", "VIRTUAL", "REAL SERVER", "STATE", "EXPIRES");
  for (const ConnStatus& c : conns)
    out += cformat("%-4s %-21s %-21s %-21s %-12s %us\n", proto_upper(c.proto).c_str(),
                   addr_port(c.client, c.cport, true).c_str(), addr_port(c.vip, c.vport, true).c_str(),
                   addr_port(c.rs, c.rport, true).c_str(), std::string(conn_state_text(c.state)).c_str(), c.expires);
  out += cformat("%zu shown", conns.size());
  if (conns.size() >= limit) out += " (limit " + std::to_string(limit) + ")";
  out += cformat(", %" PRIu64 " entries in the connection tables\n", in_use);
  return out;
}

// VLAN-TAGS: who takes 802.1Q tags out and puts them in (the NIC, or the workers).
std::string format_ports(const std::vector<PortRow>& ports) {
  std::string out = cformat("%-4s %-16s %-14s %-17s %-18s %-6s %-5s %-4s %-5s %-9s %s\n", "PORT", "NAME", "DRIVER",
                            "MAC", "ADDRESS", "QUEUES", "MTU", "RSS", "LINK", "VLAN-TAGS", "KERNEL-IF");
  for (const PortRow& p : ports) {
    const std::string tags = std::string(p.info.vlan_strip ? "nic" : "sw") + "/" + (p.info.vlan_insert ? "nic" : "sw");
    out += cformat("%-4u %-16s %-14s %-17s %-18s %-6zu %-5u %-4s %-5s %-9s %s\n", p.info.id, p.info.name.c_str(),
                   p.info.driver.c_str(), net::to_string(p.info.mac).c_str(),
                   p.address ? net::to_string(*p.address).c_str() : "-", p.queues, unsigned{p.info.mtu},
                   p.info.rss ? "on" : "off", p.link_up ? "up" : "down", tags.c_str(),
                   p.kernel_if.empty() ? "-" : p.kernel_if.c_str());
    for (const VlanRow& v : p.vlans)
      out += cformat("%-4s %-16s %-14s %-17s %-18s %-6s %-5s %-4s %-5s %-9s %s\n", "", ("vlan " + std::to_string(v.vid)).c_str(),
                     "", "", net::to_string(v.address).c_str(), "", "", "", "", "",
                     v.kernel_if.empty() ? "-" : v.kernel_if.c_str());
  }
  return out;
}

std::string format_neigh(const std::vector<control::NeighbourStatus>& neighbours) {
  std::string out = cformat("%-16s %-4s %-4s %-17s %s\n", "ADDRESS", "PORT", "VLAN", "MAC", "STATE");
  for (const control::NeighbourStatus& n : neighbours)
    out += cformat("%-16s %-4s %-4s %-17s %s\n", net::to_string(n.ip).c_str(),
                   n.port ? std::to_string(*n.port).c_str() : "-", n.vlan ? std::to_string(n.vlan).c_str() : "-",
                   n.mac ? net::to_string(*n.mac).c_str() : "-", std::string(control::neigh_status_name(n.state)).c_str());
  return out;
}

}  // namespace drfwd::console
