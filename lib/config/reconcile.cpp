#include "config/reconcile.hpp"

#include <map>
#include <set>
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

// What rs set can change (not the slot, nor the role: see reconcile).
bool same_rs(const RealServer& a, const RealServer& b) {
  return a.weight == b.weight && a.thresholds == b.thresholds && a.check == b.check && a.inhibit == b.inhibit;
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

  // The interfaces' addresses, planned first: which must be taken away before the new
  // ones are set decides which neighbours and sync daemons step aside meanwhile. An
  // address goes when the files no longer give it, or when another interface is to have
  // it (a move: set in place, it would be refused as that interface's). A VLAN
  // interface exists by its IPv4 address: taking that takes the interface (its IPv6
  // address, and its static neighbours first); it is made again below if it stays.
  std::map<lb::Iface, net::Prefix> now4 = running.addresses();
  std::map<lb::Iface, net::Prefix6> now6 = running.addresses6();
  std::vector<Command> removals6, removals4;
  std::set<lb::Iface> unmade;  // VLAN interfaces taken away (for their neighbours)
  std::set<uint16_t> undipped;  // ports whose untagged IPv4 address is taken away (for sync)
  auto moves = [&](lb::Iface at, const net::IpAddr& a) {
    const auto owner = wanted.dip_owner(a);
    return owner && *owner != at;
  };
  for (auto& [at, p] : running.addresses()) {
    const auto w = wanted.address(at);
    if (w == p || (w && !moves(at, net::IpAddr(p.addr)))) continue;  // kept, or changed in place
    const bool keep6 = at.vlan == 0 && wanted.address6(at);
    removals4.push_back(cmd::PortAddress{at.port, at.vlan, {}, {}, keep6 ? Remove::kIpv4 : Remove::kAll});
    now4.erase(at);
    if (!keep6) now6.erase(at);
    if (at.vlan) unmade.insert(at);
    if (!at.vlan) undipped.insert(at.port);
  }
  for (auto& [at, p] : running.addresses6()) {
    if (!now6.count(at)) continue;  // gone with the IPv4 one
    const auto w = wanted.address6(at);
    if (w == p || (w && !moves(at, net::IpAddr(p.addr)))) continue;
    removals6.push_back(cmd::PortAddress{at.port, at.vlan, {}, {}, Remove::kIpv6});
    now6.erase(at);
  }

  // 1. What goes: real servers (and those whose role changes), services, neighbours that
  // go or change (or whose VLAN interface is taken away: added again in 4).
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
  std::set<net::IpAddr> renewed;  // deleted here although the files keep them
  for (auto& [ip, n] : running.neighbours()) {
    auto w = wanted.neighbours().find(ip);
    const bool unmoored = n.port && unmade.count(lb::Iface{*n.port, n.vlan});
    if (w == wanted.neighbours().end() || w->second != n || unmoored) {
      out.push_back(cmd::NeighDel{ip});
      renewed.insert(ip);
    }
  }
  // A sync daemon that goes or changes stops first, and one whose port's address is
  // taken away (it sends and listens on it) stops and starts again in 6.
  const SyncSettings &rs = running.sync(), &ws = wanted.sync();
  const bool restart_master = rs.master && (rs.master != ws.master || undipped.count(rs.master->port));
  const bool restart_backup = rs.backup && (rs.backup != ws.backup || undipped.count(rs.backup->port));
  if (restart_master) out.push_back(cmd::SyncStop{SyncRole::kMaster});
  if (restart_backup) out.push_back(cmd::SyncStop{SyncRole::kBackup});

  // 2. Interface addresses: those taken away (IPv6, then IPv4), then IPv4 ones new or
  // changed (a VLAN interface first exists by it), then IPv6 ones.
  out.insert(out.end(), removals6.begin(), removals6.end());
  out.insert(out.end(), removals4.begin(), removals4.end());
  for (auto& [at, p] : wanted.addresses()) {
    auto it = now4.find(at);
    if (it == now4.end() || it->second != p) out.push_back(cmd::PortAddress{at.port, at.vlan, p, {}, Remove::kNone});
  }
  for (auto& [at, p] : wanted.addresses6()) {
    auto it = now6.find(at);
    if (it == now6.end() || it->second != p) out.push_back(cmd::PortAddress{at.port, at.vlan, {}, p, Remove::kNone});
  }

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

  // 4. Neighbours new, changed or deleted in 1 (their VLAN interfaces exist by now).
  for (auto& [ip, n] : wanted.neighbours())
    if (!running.neighbours().count(ip) || renewed.count(ip)) out.push_back(cmd::NeighAdd{ip, n.mac, n.port, n.vlan});

  // 5. Services and real servers: changed in place, or new.
  for (const Service& w : wanted.services()) {
    const Service* s = running.find(w.key);
    if (!s) {
      out.push_back(cmd::VipAdd{w.key, options_of(w)});
      for (const RealServer& r : w.rs) out.push_back(rs_command<cmd::RsAdd>(w, r));
      continue;
    }
    if (s->params != w.params || s->check != w.check) out.push_back(cmd::VipEdit{w.key, options_of(w), false});
    for (const RealServer& wr : w.rs) {
      const RealServer* r = s->find(wr.ip);
      if (!r || r->sorry != wr.sorry) {
        out.push_back(rs_command<cmd::RsAdd>(w, wr));
      } else if (!same_rs(*r, wr)) {
        out.push_back(rs_command<cmd::RsEdit>(w, wr));
      }
    }
  }

  // 6. Sync daemons new, changed or stopped in 1.
  if (ws.master && (ws.master != rs.master || restart_master))
    out.push_back(sync_start(wanted, SyncRole::kMaster, *ws.master));
  if (ws.backup && (ws.backup != rs.backup || restart_backup))
    out.push_back(sync_start(wanted, SyncRole::kBackup, *ws.backup));
  return out;
}

}  // namespace drfwd::config
