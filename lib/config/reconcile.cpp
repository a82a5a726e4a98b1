#include "config/reconcile.hpp"

#include <type_traits>

namespace drfwd::config {

namespace {

// A check given in full: replaces whatever the level held (check default + settings).
CheckOverride replacing(const CheckOverride& c) {
  CheckOverride r = c;
  r.reset = true;
  return r;
}

ServiceOptions options_of(const Service& s) {
  const lb::ServiceParams& p = s.params;
  ServiceOptions o;
  o.sched = p.sched;
  o.persist = p.persist;
  o.persist_mask = p.persist_mask;
  o.mh_size = p.mh_size;
  o.flags = p.flags;
  o.quorum = p.quorum;
  o.hysteresis = p.hysteresis;
  o.inhibit = p.inhibit;
  o.check = replacing(s.check);
  return o;
}

OnFailure on_failure_of(const RealServer& r) {
  return !r.inhibit ? OnFailure::kDefault : *r.inhibit ? OnFailure::kInhibit : OnFailure::kReschedule;
}

bool same_rs(const RealServer& a, const RealServer& b) {
  return a.weight == b.weight && a.thresholds.upper == b.thresholds.upper &&
         a.thresholds.lower == b.thresholds.lower && a.check == b.check && a.inhibit == b.inhibit &&
         a.sorry == b.sorry;
}

bool same_service_params(const Service& a, const Service& b) {
  const lb::ServiceParams &p = a.params, &q = b.params;
  return p.sched == q.sched && p.persist == q.persist && p.persist_mask == q.persist_mask &&
         p.mh_size == q.mh_size && p.flags == q.flags && p.quorum == q.quorum && p.hysteresis == q.hysteresis &&
         p.inhibit == q.inhibit && a.check == b.check;
}

bool same_neighbour(const Neighbour& a, const Neighbour& b) {
  return a.mac == b.mac && a.port == b.port && a.vlan == b.vlan;
}

cmd::SyncStart sync_start(const Model& m, SyncRole role, const SyncDaemonConf& d) {
  cmd::SyncStart c;
  c.role = role;
  c.interface = m.kernel_ifname(d.port);
  c.syncid = d.syncid;
  c.maxlen = d.maxlen;
  c.group = d.group;
  c.udp_port = d.udp_port;
  c.ttl = d.ttl;
  c.peers = d.peers;
  return c;
}

// An rs add or rs set that gives the real server every setting it has in `r`.
template <class C>
C rs_command(const Service& s, const RealServer& r) {
  C c;
  c.svc = s.key;
  c.rip = r.ip;
  c.weight = r.weight;
  c.check = replacing(r.check);
  c.uthreshold = r.thresholds.upper;  // both at once: the model checks lower <= upper after both
  c.lthreshold = r.thresholds.lower;
  c.on_failure = on_failure_of(r);
  if constexpr (std::is_same_v<C, cmd::RsAdd>) c.sorry = r.sorry;
  return c;
}

}  // namespace

std::vector<Command> reconcile(const Model& running, const Model& wanted) {
  std::vector<Command> out;
  using Remove = cmd::PortAddress::Remove;

  // 1. What goes: real servers (and those whose role changes), services, neighbours.
  for (const Service& s : running.services()) {
    const Service* w = wanted.find(s.key);
    if (!w) {
      out.push_back(cmd::VipDel{s.key});
      continue;
    }
    for (const RealServer& r : s.rs) {
      const RealServer* wr = w->find(r.ip);
      if (!wr || wr->sorry != r.sorry) out.push_back(cmd::RsDel{s.key, r.ip});
    }
  }
  for (auto& [ip, n] : running.neighbours())
    if (!wanted.neighbours().count(ip)) out.push_back(cmd::NeighDel{ip});
  // A sync daemon that goes or changes stops first (it holds its port's address).
  const SyncSettings &rs = running.sync(), &ws = wanted.sync();
  if (rs.master && rs.master != ws.master) out.push_back(cmd::SyncStop{SyncRole::kMaster});
  if (rs.backup && rs.backup != ws.backup) out.push_back(cmd::SyncStop{SyncRole::kBackup});

  // 2. Interface addresses: IPv6 ones that go, IPv4 ones that go (a VLAN interface with
  // them), IPv4 ones new or changed (a VLAN interface first exists by it), then IPv6.
  for (auto& [at, p] : running.addresses6())  // the IPv6 address goes, the IPv4 one stays (or never was)
    if (!wanted.address6(at) && (wanted.address(at) || !running.address(at)))
      out.push_back(cmd::PortAddress{at.port, at.vlan, {}, {}, Remove::kIpv6});
  for (auto& [at, p] : running.addresses())  // the IPv4 address goes: the IPv6 one with it unless it stays
    if (!wanted.address(at))
      out.push_back(cmd::PortAddress{at.port, at.vlan, {}, {},
                                     wanted.address6(at) && at.vlan == 0 ? Remove::kIpv4 : Remove::kAll});
  for (auto& [at, p] : wanted.addresses())
    if (running.address(at) != p) out.push_back(cmd::PortAddress{at.port, at.vlan, p, {}, Remove::kNone});
  for (auto& [at, p] : wanted.addresses6())
    if (running.address6(at) != p) out.push_back(cmd::PortAddress{at.port, at.vlan, {}, p, Remove::kNone});

  // 3. Settings.
  const lb::Timeouts &rt = running.timeouts(), &wt = wanted.timeouts();
  if (!(rt == wt)) out.push_back(cmd::SetTimeouts{wt.tcp(), wt.tcp_fin(), wt.udp()});
  if (running.check_defaults() != wanted.check_defaults())
    out.push_back(cmd::SetCheck{replacing(wanted.check_defaults())});
  const VipClaim &rc = running.vip_claim(), &wc = wanted.vip_claim();
  if (rc.arp != wc.arp) out.push_back(cmd::SetVipArp{wc.arp});
  if (rc.route_table != wc.route_table) out.push_back(cmd::SetVipRoutes{wc.route_table});
  if (rc.holddown != wc.holddown) out.push_back(cmd::SetVipHolddown{wc.holddown});
  if (rs.rate != ws.rate) out.push_back(cmd::SetSyncRate{ws.rate});
  if (rs.refresh != ws.refresh) out.push_back(cmd::SetSyncRefresh{ws.refresh});

  // 4. Neighbours new or changed (their VLAN interfaces exist by now).
  for (auto& [ip, n] : wanted.neighbours()) {
    auto it = running.neighbours().find(ip);
    if (it == running.neighbours().end() || !same_neighbour(it->second, n))
      out.push_back(cmd::NeighAdd{ip, n.mac, n.port, n.vlan});
  }

  // 5. Services and real servers: changed in place, or new.
  for (const Service& w : wanted.services()) {
    const Service* s = running.find(w.key);
    if (!s) {
      out.push_back(cmd::VipAdd{w.key, options_of(w)});
      for (const RealServer& r : w.rs) out.push_back(rs_command<cmd::RsAdd>(w, r));
      continue;
    }
    if (!same_service_params(*s, w)) out.push_back(cmd::VipEdit{w.key, options_of(w), false});
    for (const RealServer& wr : w.rs) {
      const RealServer* r = s->find(wr.ip);
      if (!r || r->sorry != wr.sorry) {
        out.push_back(rs_command<cmd::RsAdd>(w, wr));
      } else if (!same_rs(*r, wr)) {
        out.push_back(rs_command<cmd::RsEdit>(w, wr));
      }
    }
  }

  // 6. Sync daemons new or changed.
  if (ws.master && ws.master != rs.master) out.push_back(sync_start(wanted, SyncRole::kMaster, *ws.master));
  if (ws.backup && ws.backup != rs.backup) out.push_back(sync_start(wanted, SyncRole::kBackup, *ws.backup));
  return out;
}

}  // namespace drfwd::config
