#include "control/director.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

namespace drfwd::control {

Director::Director(config::Model model, DirectorSetup setup, SnapshotSink& sink,
                   std::vector<const lb::RsCounters*> workers, std::unique_ptr<Prober> prober)
    : model_(std::move(model)),
      setup_(std::move(setup)),
      sink_(sink),
      neigh_(setup_.neigh),
      health_(std::move(prober)),
      rs_stats_(std::move(workers)),
      announcer_(setup_.announce_count, setup_.announce_interval) {
  runtime_.workers = setup_.workers;
  runtime_.port_macs = setup_.port_macs;
  runtime_.learned_mac = [this](const net::IpAddr& ip) { return neigh_.mac(ip); };
  runtime_.health = [this](uint32_t slot) { return health_.health(slot); };
  runtime_.below_quorum = [this](uint32_t slot) { return quorum_lost_.count(slot) != 0; };
  runtime_.leftover = [this](uint32_t slot) { return rs_stats_.leftover(slot); };
}

// keepalived's rule, per service with a quorum: lost when the healthy real servers'
// summed weight falls below quorum - hysteresis (or to 0), regained at quorum +
// hysteresis; a new service starts on whichever side of the quorum it is.
std::vector<std::string> Director::settle_quorum(const config::Model& m) {
  std::set<uint32_t> lost;
  std::vector<std::string> changes;
  for (const config::Service& s : m.services()) {
    const lb::ServiceParams& p = s.params;
    if (p.quorum == 0) continue;
    const uint64_t w = config::service_spec(m, runtime_, s).live_weight();
    const auto known = quorum_known_.find(s.slot);
    const bool was_lost = quorum_lost_.count(s.slot) != 0;
    bool now_lost;
    if (known == quorum_known_.end() || known->second != s.gen)
      now_lost = w < p.quorum;
    else if (was_lost)
      now_lost = w < uint64_t{p.quorum} + p.hysteresis;
    else
      now_lost = w == 0 || w + p.hysteresis < p.quorum;
    if (now_lost) lost.insert(s.slot);
    const bool fresh = known == quorum_known_.end() || known->second != s.gen;
    if (fresh ? now_lost : now_lost != was_lost)
      changes.push_back("service " + config::to_string(s.key) + ": quorum " +
                        (fresh ? "not reached" : now_lost ? "lost" : "regained") + " (healthy weight " +
                        std::to_string(w) + ", quorum " + std::to_string(p.quorum) + " hysteresis " +
                        std::to_string(p.hysteresis) + ")");
  }
  quorum_known_.clear();
  for (const config::Service& s : m.services())
    if (s.params.quorum) quorum_known_[s.slot] = s.gen;
  quorum_lost_ = std::move(lost);
  return changes;
}

void Director::log_quorum(const std::vector<std::string>& changes) {
  for (const std::string& c : changes) spdlog::warn("{}", c);
}

std::optional<net::Ipv4> Director::dip(lb::Iface at) const {
  const auto a = model_.address(at);
  if (!a) return std::nullopt;
  return a->addr;
}

net::Ipv6 Director::link_local(lb::Iface at) const {
  return net::link_local(at.port < setup_.port_macs.size() ? setup_.port_macs[at.port] : net::Mac{});
}

bool Director::serves(lb::Iface at, const net::IpAddr& vip) const {
  bool any = false, here = false;
  model_.for_each_subnet_holding(vip, [&](lb::Iface i, int) {
    any = true;
    here = here || i == at;
  });
  return here || !any;
}

std::vector<lb::Iface> Director::interfaces() const {
  std::vector<lb::Iface> out;
  for (uint16_t p = 0; p < setup_.port_macs.size(); ++p) {
    out.push_back(lb::Iface{p, 0});
    for (const auto& [vid, prefix] : model_.vlan_interfaces(p)) out.push_back(lb::Iface{p, vid});
  }
  return out;
}

void Director::start(double now) {
  refresh_targets(now);
  log_quorum(settle_quorum(model_));
  sink_.publish(build(model_));
  ++counters_.publishes;
  refresh_claims(now);
}

std::shared_ptr<const lb::Snapshot> Director::build(const config::Model& m) const {
  return lb::build_snapshot(config::make_spec(m, runtime_), sink_.current());
}

void Director::publish(const config::Model& m) {
  log_quorum(settle_quorum(m));
  sink_.publish(build(m));
  ++counters_.publishes;
  need_publish_ = false;
}

BatchResult Director::apply(std::span<const config::Command> batch, double now) {
  BatchResult out;
  model_.reclaim_slots(sink_.seen());
  model_.set_epoch(sink_.published() + 1);  // the snapshot this batch goes out in
  config::Model next = model_;
  std::vector<std::pair<uint32_t, uint32_t>> new_slots;
  std::shared_ptr<const lb::Snapshot> snap;
  const auto quorum_known = quorum_known_;
  const auto quorum_lost = quorum_lost_;
  std::vector<std::string> quorum_changes;
  auto restore_quorum = [&] {  // a refused batch leaves the quorum state as it was
    quorum_known_ = quorum_known;
    quorum_lost_ = quorum_lost;
  };
  try {
    for (out.refused = 0; out.refused < batch.size(); ++out.refused) {
      config::Applied a = next.apply(batch[out.refused]);
      new_slots.insert(new_slots.end(), a.new_rs_slots.begin(), a.new_rs_slots.end());
      out.summaries.push_back(std::move(a.summary));
    }
    // A slot handed to a new RS counts from zero for it, from the snapshot below on: its
    // baseline is taken before that snapshot is built, which carries the gauges the former
    // occupants left (lb::RsSpec::leftover) to the schedulers that read counts. (A batch
    // refused after this leaves the slots free; a slot is rebased again when taken.)
    for (auto [slot, gen] : new_slots) rs_stats_.rebase(slot);
    quorum_changes = settle_quorum(next);
    snap = build(next);
  } catch (const config::ConfigError& e) {
    restore_quorum();
    return BatchResult{false, out.refused, e.what(), e.usage(), {}, {}};
  } catch (const std::exception& e) {  // memory, a bug
    restore_quorum();
    // Building the snapshot comes after the last command: it is the one named.
    const size_t at = std::min(out.refused, batch.empty() ? size_t{0} : batch.size() - 1);
    return BatchResult{false, at, std::string("internal error: ") + e.what(), {}, {}, {}};
  }
  std::set<lb::Iface> addressed;
  for (auto& [i, a] : next.addresses())
    if (model_.address(i) != a) addressed.insert(i);
  for (auto& [i, a] : model_.addresses())
    if (!next.address(i)) addressed.insert(i);
  for (auto& [i, a] : next.addresses6())
    if (model_.address6(i) != a) addressed.insert(i);
  for (auto& [i, a] : model_.addresses6())
    if (!next.address6(i)) addressed.insert(i);
  out.addressed.assign(addressed.begin(), addressed.end());
  model_ = std::move(next);
  need_publish_ = false;
  // New targets may reset what the snapshot was built with: a changed check restarts a
  // down RS as up (or unchecked), a neighbour no longer resolved takes its MAC away.
  // The workers get that with this batch, in its one snapshot.
  refresh_targets(now);
  // The quorums once more from where they were before the batch, with the health the
  // new targets start with (a server added `initial down` is not up meanwhile): one
  // transition per batch, from the right side of the hysteresis.
  const std::set<uint32_t> lost_in_build = quorum_lost_;
  quorum_known_ = quorum_known;
  quorum_lost_ = quorum_lost;
  quorum_changes = settle_quorum(model_);
  log_quorum(quorum_changes);
  if (quorum_lost_ != lost_in_build) need_publish_ = true;
  if (need_publish_) {
    try {
      snap = build(model_);
      need_publish_ = false;
    } catch (const std::exception& e) {  // memory: the batch's snapshot goes out now, the next tick's after
      spdlog::error("snapshot after new targets: {}", e.what());
    }
  }
  sink_.publish(std::move(snap));
  ++counters_.publishes;
  refresh_claims(now);
  return out;
}

// What to resolve and what to check, from the model: every RS without a static
// neighbour is resolved on the interface that reaches it; every RS is checked, from the
// DIP of that interface through its kernel interface (no kernel path: unchecked, always up).
void Director::refresh_targets(double now) {
  std::vector<NeighTarget> resolve;
  std::set<net::IpAddr> seen;
  std::vector<HealthTarget> checks;
  for (const config::Service& s : model_.services()) {
    for (const config::RealServer& r : s.rs) {
      const auto port = model_.egress(r.ip);
      // The interface's DIP of the RS's family: the source of resolution and checks.
      // Without one: no checks, and ARP from 0.0.0.0 or solicitations from the port's
      // link-local address.
      const std::optional<net::IpAddr> own = port ? model_.dip(*port, r.ip) : std::nullopt;
      const net::IpAddr src = own ? *own
                              : r.ip.is_v4() ? net::IpAddr(net::Ipv4{})
                                             : net::IpAddr(port ? link_local(*port) : net::Ipv6{});
      if (port && !model_.neighbours().count(r.ip) && seen.insert(r.ip).second && port->port < setup_.port_macs.size())
        resolve.push_back({r.ip, port->port, port->vlan, src, setup_.port_macs[port->port]});
      HealthTarget h;
      h.slot = r.slot;
      h.gen = r.gen;
      h.ip = r.ip;
      h.spec = model_.effective_check(s, r);
      h.port = h.spec.port ? h.spec.port : s.key.port;
      h.src = src;
      // An exec check's command needs no DIP or kernel path of drfwd's own.
      const bool exec = h.spec.kind == config::CheckKind::kExec;
      if (!setup_.health_checks || (!exec && (!port || !own))) h.spec.kind = config::CheckKind::kNone;
      h.name = config::to_string(s.key) + " -> " + net::to_string(r.ip);
      checks.push_back(std::move(h));
    }
  }
  if (neigh_.set_targets(resolve, now)) need_publish_ = true;
  if (health_.set_targets(checks, now)) need_publish_ = true;
}

lb::RsSpec Director::rs_state(const config::RealServer& r) const {
  for (const config::Service& s : model_.services())
    for (const config::RealServer& x : s.rs)
      if (x.slot == r.slot && x.gen == r.gen) return config::rs_spec(model_, runtime_, s, x);
  return config::rs_spec(model_, runtime_, config::Service{}, r);
}

bool Director::ready(const net::IpAddr& vip) const {
  for (const config::Service& s : model_.services()) {
    if (s.key.vip != vip) continue;
    for (const config::RealServer& r : s.rs) {
      // Resolved: a static neighbour, no port to resolve on, or an answer (or its absence
      // settled: failed) to drfwd's requests.
      if (!model_.neighbours().count(r.ip) && model_.egress(r.ip)) {
        const auto e = neigh_.entries().find(r.ip);
        if (e == neigh_.entries().end() || e->second.state == NeighState::kIncomplete) return false;
      }
      const HealthChecker::Status* h = health_.status(r.slot);
      if (h && h->checked && h->probes == 0) return false;  // its first check is still to come
    }
  }
  return true;
}

// Which (interface, VIP) pairs this director claims. Always: every VIP on every interface
// that serves it, from its appearance (drfwd's behaviour without redundancy). Kernel: only
// while the interface's kernel side holds the VIP, and once the VIP has converged, so a
// director taking over (or restarting) forwards with the same view as its peers.
void Director::refresh_claims(double now) {
  std::map<net::IpAddr, double> since;
  for (const config::Service& s : model_.services()) {
    const auto it = vip_since_.find(s.key.vip);
    since.emplace(s.key.vip, it == vip_since_.end() ? now : it->second);
  }
  vip_since_ = std::move(since);
  std::erase_if(converged_, [&](const net::IpAddr& v) { return !vip_since_.count(v); });
  const config::VipClaim& claim = model_.vip_claim();
  std::set<Announcer::Claim> claims;
  const std::vector<lb::Iface> ifaces = interfaces();
  for (const auto& [vip, appeared] : vip_since_) {
    if (!converged_.count(vip)) {
      const bool resolved = ready(vip);
      if (resolved || now - appeared >= claim.holddown) {
        converged_.insert(vip);
        spdlog::info("VIP {} converged ({})", net::to_string(vip),
                     resolved ? "its real servers resolved and checked" : "hold-down passed");
      }
    }
    for (const lb::Iface at : ifaces) {
      if (!serves(at, vip)) continue;
      const auto addrs = kernel_addrs_.find(at);
      const bool held = addrs != kernel_addrs_.end() && addrs->second.count(vip);
      if (claim.arp == config::VipArp::kAlways || (held && converged_.count(vip))) claims.insert({at, vip});
    }
  }
  // In kernel mode a claim follows a daemon's decision: log each change (in always mode
  // claims follow the configuration, whose changes are logged already).
  if (claim.arp == config::VipArp::kKernel) {
    for (const auto& [at, vip] : claims)
      if (!announcer_.claimed(at, vip))
        spdlog::info("VIP {} claimed on {}: its kernel interface holds it", net::to_string(vip), config::iface_name(at));
    for (const auto& [at, vip] : announcer_.claims())
      if (!claims.count({at, vip})) spdlog::info("VIP {} no longer claimed on {}", net::to_string(vip), config::iface_name(at));
  }
  announcer_.set_claims(claims, now);
  refresh_routes();
}

void Director::refresh_routes() {
  routes_.clear();
  if (!model_.vip_claim().route_table) return;
  std::set<net::IpAddr> usable;
  for (const config::Service& s : model_.services()) {
    const lb::ServiceSpec ss = service_state(s);
    const bool sorry = ss.sorry_mode();
    if (ss.below_quorum) continue;  // counts as down: withdrawn
    for (const lb::RsSpec& r : ss.rs)
      if (ss.takes_new(r, sorry)) usable.insert(s.key.vip);
  }
  const std::vector<lb::Iface> ifaces = interfaces();
  for (const net::IpAddr& vip : usable) {
    if (!converged_.count(vip)) continue;
    for (const lb::Iface at : ifaces)
      // An IPv6 route needs IPv6 on the kernel interface: one with an IPv6 DIP.
      if (serves(at, vip) && (vip.is_v4() || model_.address6(at))) {
        routes_.push_back({vip, at});
        break;
      }
  }
}

void Director::set_kernel_addresses(lb::Iface at, std::set<net::IpAddr> addresses, double now) {
  if (kernel_addrs_[at] == addresses) return;
  kernel_addrs_[at] = std::move(addresses);
  refresh_claims(now);
}

ArpDecision Director::on_arp(lb::Iface at, const net::Arp& a, double now) {
  if (neigh_.on_arp(at, a, now)) {
    need_publish_ = true;
    if (auto mac = neigh_.mac(a.spa))
      spdlog::info("neighbour {} is at {} (port {}{})", net::to_string(a.spa), net::to_string(*mac), at.port,
                   at.vlan ? " vlan " + std::to_string(at.vlan) : "");
  }
  log_neigh_events();
  // ARP that claims a real server's address for a MAC other than the one drfwd knows
  // (static, or resolved by its own solicited requests) goes no further: the kernel
  // would otherwise take it, and health checks, which leave from the kernel, would
  // follow the redirection. A real change of MAC reaches drfwd's table through its own
  // requests first (on_arp above), and passes from then on.
  if (auto known = known_mac(a.spa); known && *known != a.sha) return {ArpDecision::Action::kConflict, {}, *known};
  if (a.op == net::kArpRequest && announcer_.claimed(at, a.tpa) && at.port < setup_.port_macs.size())
    return {ArpDecision::Action::kReply, net::arp_reply(setup_.port_macs[at.port], a.tpa, a.sha, a.spa), {}};
  // Everything else is the kernel's business: requests for the DIP, replies to its own
  // requests. It answers only for its own address (arp_ignore=1).
  return {ArpDecision::Action::kToKernel, {}, {}};
}

NdpDecision Director::on_ndp(lb::Iface at, const net::Ndp& n, double now) {
  // An IPv4-mapped target (::ffff:a.b.c.d) is no IPv6 address of anyone's: as an IpAddr
  // it is the IPv4 address, whose VIP claims and neighbour belong to ARP. Not ours to
  // answer or learn from (the kernel interfaces ignore it too).
  if (n.target.is_v4_mapped()) return {NdpDecision::Action::kToKernel, {}, {}};
  if (neigh_.on_ndp(at, n, now)) {
    need_publish_ = true;
    if (auto mac = neigh_.mac(net::IpAddr(n.target)))
      spdlog::info("neighbour {} is at {} (port {}{})", net::to_string(n.target), net::to_string(*mac), at.port,
                   at.vlan ? " vlan " + std::to_string(at.vlan) : "");
  }
  log_neigh_events();
  // As for ARP: NDP naming another MAC for a real server's address goes no further. An
  // advertisement names it for its target, a solicitation for its source (the kernel
  // would learn the source link-layer address).
  const net::Ipv6& claimed = n.type == net::kNdpNeighborAdvert ? n.target : n.src;
  if (n.lladdr && !claimed.is_unspecified())
    if (auto known = known_mac(net::IpAddr(claimed)); known && *known != *n.lladdr)
      return {NdpDecision::Action::kConflict, {}, *known};
  if (n.type == net::kNdpNeighborSolicit && at.port < setup_.port_macs.size() &&
      (announcer_.claimed(at, net::IpAddr(n.target)) || n.target == link_local(at)))
    return {NdpDecision::Action::kReply, net::ndp_advert(setup_.port_macs[at.port], n.target, n), {}};
  return {NdpDecision::Action::kToKernel, {}, {}};
}

void Director::log_neigh_events() {
  for (const NeighEvent& ev : neigh_.take_events()) {
    const std::string ip = net::to_string(ev.ip), a = net::to_string(ev.mac), b = net::to_string(ev.other);
    switch (ev.kind) {
      case NeighEvent::Kind::kConflictKept:
        spdlog::warn("neighbour {}: {} answered for it besides {}: kept {} (another host claims the address?)", ip,
                     b, a, a);
        break;
      case NeighEvent::Kind::kConflictDropped:
        spdlog::warn("neighbour {}: both {} and {} answered: neither used, retried in {}s (another host claims the "
                     "address? a static `neigh add` decides)", ip, a, b, neigh_.config().failed_retry);
        break;
      case NeighEvent::Kind::kMoved:
        spdlog::warn("neighbour {}: moved from {} to {} ({} stopped answering)", ip, a, b, a);
        break;
    }
  }
}

Director::Tick Director::tick(double now) {
  Tick out;
  auto resolution = neigh_.tick(now);
  out.requests = std::move(resolution.send);
  out.requests6 = std::move(resolution.send6);
  if (resolution.changed) need_publish_ = true;
  for (const net::IpAddr& ip : resolution.lost)
    spdlog::warn("neighbour {}: no answer to {} {}, unreachable (no traffic until it answers)", net::to_string(ip),
                 neigh_.config().max_probes, ip.is_v4() ? "ARP requests" : "neighbor solicitations");
  log_neigh_events();
  for (const HealthChecker::Change& c : health_.run(now)) {
    ++counters_.health_changes;
    need_publish_ = true;
    if (c.up)
      spdlog::info("health: {} is up ({})", c.name, c.detail);
    else
      spdlog::warn("health: {} is down ({})", c.name, c.detail);
  }
  counters_.checks_skipped = health_.skipped();
  if (need_publish_) log_quorum(settle_quorum(model_));  // health moves quorums
  // Claims and routes follow usable servers (which change with what the workers get)
  // and convergence (which moves with time while a VIP waits for its hold-down).
  if (need_publish_ || converged_.size() < vip_since_.size()) refresh_claims(now);
  for (const Announcer::Due& d : announcer_.due(now))
    if (d.at.port < setup_.port_macs.size()) {
      if (d.vip.is_v4())
        out.announcements.push_back({d.at.port, net::arp_announce(setup_.port_macs[d.at.port], d.vip.v4()), d.at.vlan});
      else
        out.announcements6.push_back({d.at.port, net::ndp_announce(setup_.port_macs[d.at.port], d.vip.v6()), d.at.vlan});
    }
  if (need_publish_) publish(model_);
  sink_.reclaim();
  model_.reclaim_slots(sink_.seen());
  if (now - last_rates_ >= 1.0) {
    std::vector<uint32_t> slots;
    for (const config::Service& s : model_.services())
      for (const config::RealServer& r : s.rs) slots.push_back(r.slot);
    rs_stats_.sample(slots, now);
    last_rates_ = now;
  }
  return out;
}

}  // namespace drfwd::control
