// The running configuration as the commands that rebuild it (show config, save config):
// the inverse of the grammar, checked by the unit tests and fuzz-grammar as a round trip.
#include "config/show_config.hpp"

#include "config/values.hpp"

namespace drfwd::config {

std::string model_to_commands(const Model& m) {
  std::string out = "# drfwd " DRFWD_VERSION " running configuration\n";
  for (auto& [at, prefix] : m.addresses())
    out += "port " + std::to_string(at.port) + (at.vlan ? " vlan " + std::to_string(at.vlan) : "") + " address " +
           net::to_string(prefix) + "\n";
  for (auto& [at, prefix] : m.addresses6())  // after the IPv4 ones: a VLAN interface exists by its IPv4 address
    out += "port " + std::to_string(at.port) + (at.vlan ? " vlan " + std::to_string(at.vlan) : "") + " address " +
           net::to_string(prefix) + "\n";
  const lb::Timeouts def;
  const lb::Timeouts& t = m.timeouts();
  if (!(t == def))
    out += "set timeout tcp " + std::to_string(t.tcp()) + " tcpfin " + std::to_string(t.tcp_fin()) + " udp " +
           std::to_string(t.udp()) + "\n";
  if (!m.check_defaults().empty()) out += "set check " + to_string(m.check_defaults()) + "\n";
  const VipClaim& claim = m.vip_claim();
  if (claim.arp != VipClaim{}.arp) out += "set vip-arp " + std::string(vip_arp_name(claim.arp)) + "\n";
  if (claim.route_table) out += "set vip-routes table " + std::to_string(*claim.route_table) + "\n";
  if (claim.holddown != VipClaim{}.holddown) out += "set vip-holddown " + std::to_string(claim.holddown) + "\n";
  const SyncSettings& sync = m.sync();
  if (sync.rate != SyncSettings{}.rate) out += "set sync-rate " + std::to_string(sync.rate) + "\n";
  if (sync.refresh != SyncSettings{}.refresh) out += "set sync-refresh " + std::to_string(sync.refresh) + "\n";
  if (sync.master) out += "sync start master " + sync_daemon_to_string(*sync.master, m.kernel_ifname(sync.master->port)) + "\n";
  if (sync.backup) out += "sync start backup " + sync_daemon_to_string(*sync.backup, m.kernel_ifname(sync.backup->port)) + "\n";
  for (auto& [ip, n] : m.neighbours())
    out += "neigh add " + net::to_string(ip) + " " + net::to_string(n.mac) +
           (n.port ? " port " + std::to_string(*n.port) : "") + (n.port && n.vlan ? " vlan " + std::to_string(n.vlan) : "") +
           "\n";
  for (const Service& s : m.services()) {
    const std::string key = net::to_string(s.key.vip) + " " + std::string(proto_name(s.key.proto)) + " " +
                            std::to_string(s.key.port);
    const lb::ServiceParams& p = s.params;
    out += "vip add " + key + " sched " + std::string(lb::sched_name(p.sched));
    if (p.persist) out += " persist " + std::to_string(p.persist);
    if (p.persist_mask != s.key.vip.max_len()) out += " netmask " + std::to_string(p.persist_mask);
    if (p.mh_size != lb::kDefaultMaglevSize) out += " mh-size " + std::to_string(p.mh_size);
    if (p.flags) out += " flags " + sched_flags_to_string(p.flags);
    if (p.quorum) out += " quorum " + std::to_string(p.quorum);
    if (p.hysteresis) out += " hysteresis " + std::to_string(p.hysteresis);
    if (p.inhibit) out += " on-failure inhibit";
    if (!s.check.empty()) out += " check " + to_string(s.check);
    out += "\n";
    for (const RealServer& r : s.rs) {
      out += "rs add " + key + " " + net::to_string(r.ip) + (r.sorry ? " sorry" : "") + " weight " +
             std::to_string(r.weight);
      if (r.thresholds.upper) out += " uthreshold " + std::to_string(r.thresholds.upper);
      if (r.thresholds.lower) out += " lthreshold " + std::to_string(r.thresholds.lower);
      if (r.inhibit) out += *r.inhibit ? " on-failure inhibit" : " on-failure reschedule";
      if (!r.check.empty()) out += " check " + to_string(r.check);
      out += "\n";
    }
  }
  return out;
}

}  // namespace drfwd::config
