// The director's decisions, without EAL: the running configuration, what the control
// core has learned about the real servers (neighbour MACs, health), which ARP to answer
// and which VIPs to announce, and the snapshots the workers get. Time comes in as a
// parameter and frames go out as values, so every decision is unit-tested.
//
// Configuration changes arrive as batches, applied whole or not at all (a single
// command is a batch of one). An accepted batch is published as one snapshot; a refused
// one changes nothing, the snapshot included.
#pragma once

#include <cstdint>
#include <memory>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "control/announcer.hpp"
#include "control/health.hpp"
#include "control/neighbours.hpp"
#include "control/rs_stats.hpp"
#include "control/snapshot_sink.hpp"
#include "lb/counters.hpp"
#include "net/arp.hpp"

namespace drfwd::control {

struct DirectorSetup {
  std::vector<net::Mac> port_macs;  // by port id
  uint32_t workers = 1;
  bool health_checks = true;        // false (no kernel interfaces): every RS unchecked, always up
  NeighConfig neigh;
  unsigned announce_count = 3;      // gratuitous ARPs per VIP and interface
  double announce_interval = 1.0;   // seconds between them
};

#define DRFWD_DIRECTOR_COUNTERS(X)                                         \
  X(health_changes, kCounter, "real servers that went up or down")       \
  X(checks_skipped, kCounter, "exec check probes not run: 64 commands running already") \
  X(publishes, kCounter, "snapshots published to the workers")

DRFWD_COUNTERS(DirectorCounters, kDirectorFields, DRFWD_DIRECTOR_COUNTERS);

// What a batch did: every command applied, or none (the first refusal says why).
struct BatchResult {
  bool ok = true;
  size_t refused = 0;                 // the index of the refused command (the last one when
                                      // the batch's snapshot could not be built)
  std::string error;                  // why (a ConfigError's message)
  std::string usage;                  // its valid form, if any
  std::vector<std::string> summaries; // one per command applied: "added service tcp ..."
  std::vector<lb::Iface> addressed;   // interfaces whose address (DIP) changed, made or gone: the kernel's to follow
};

// What to do with an NDP frame (a neighbor solicitation or advertisement) received on an
// interface: the same choices as for ARP.
struct NdpDecision {
  enum class Action : uint8_t { kToKernel, kReply, kConflict };
  Action action = Action::kToKernel;
  net::Ndp reply;
  net::Mac known;
};

// What to do with an ARP frame received on an interface.
struct ArpDecision {
  enum class Action : uint8_t {
    kToKernel,  // the kernel's business: requests for the DIP, replies to its requests
    kReply,     // a request for a VIP this interface serves: send `reply`
    kConflict,  // claims a real server's address for another MAC: dropped
  };
  Action action = Action::kToKernel;
  net::Arp reply;
  net::Mac known;  // kConflict: the MAC drfwd holds for the address
};

class Director {
 public:
  // workers: each worker's array of per-RS counters (for RsStats); prober: runs the
  // health probes (SocketProber in drfwd, a fake in tests).
  Director(config::Model model, DirectorSetup setup, SnapshotSink& sink, std::vector<const lb::RsCounters*> workers,
           std::unique_ptr<Prober> prober);

  // The first snapshot, resolution and checks, the VIP announcements.
  void start(double now);
  // Applies the batch to a copy of the model and builds its snapshot; only if both
  // succeed does the copy become the model and the snapshot go to the workers.
  BatchResult apply(std::span<const config::Command> batch, double now);

  // An ARP frame (parsed) received on interface `at`: learns from it, decides what to do.
  ArpDecision on_arp(lb::Iface at, const net::Arp& a, double now);
  // A neighbor solicitation or advertisement (parsed and validated) received on `at`.
  NdpDecision on_ndp(lb::Iface at, const net::Ndp& n, double now);

  struct Tick {
    std::vector<ArpOut> requests;       // resolution requests due (IPv4)
    std::vector<ArpOut> announcements;  // gratuitous ARPs due
    std::vector<NdpOut> requests6;      // neighbor solicitations due (IPv6)
    std::vector<NdpOut> announcements6; // unsolicited neighbor advertisements due
  };
  // The periodic work of one control round: resolution and health-check state, which
  // VIPs are claimed (ARP, announcements, routes), a snapshot if anything the workers
  // use changed, reclaiming snapshots and slots the workers have left behind, RS rates
  // once a second.
  Tick tick(double now);

  // The addresses now on interface `at`'s kernel side (with vip-arp kernel, a VRRP
  // daemon there decides which VIPs this director claims).
  void set_kernel_addresses(lb::Iface at, std::set<net::IpAddr> addresses, double now);

  // A VIP route drfwd keeps in the kernel (vip-routes): VIP/32 through the kernel
  // interface of `at`, the first interface that serves the VIP.
  struct VipRoute {
    net::IpAddr vip;
    lb::Iface at;
    auto operator<=>(const VipRoute&) const = default;
  };
  // The routes the kernel should hold now (empty with vip-routes off): every VIP that
  // has converged and has a real server taking new connections.
  const std::vector<VipRoute>& routes() const { return routes_; }
  // Whether this director claims `vip` on `at`: answers ARP for it and announces it.
  bool claimed(lb::Iface at, const net::IpAddr& vip) const { return announcer_.claimed(at, vip); }
  // ARP the kernel interface sends out of `at` that speaks for a VIP this director does
  // not claim there (keepalived's gratuitous ARP on becoming master before drfwd has
  // converged, or the kernel answering for a VIP it holds): drfwd alone speaks for its
  // VIPs, so such ARP is not sent.
  bool withholds(lb::Iface at, const net::Arp& a) const {
    return vip_since_.count(net::IpAddr(a.spa)) != 0 && !claimed(at, a.spa);
  }
  // The same for IPv6: an advertisement the kernel sends for a VIP not claimed there.
  bool withholds(lb::Iface at, const net::Ndp& n) const {
    const net::IpAddr t(n.target);
    return n.type == net::kNdpNeighborAdvert && !n.target.is_v4_mapped() && vip_since_.count(t) != 0 && !claimed(at, t);
  }
  // Whether the VIP's real servers have all been resolved and checked once (or the
  // hold-down passed) since it appeared: only then is it claimed in kernel mode or routed.
  bool converged(const net::IpAddr& vip) const { return converged_.count(vip) != 0; }
  // Every VIP has converged: this director sees its real servers as its peers do.
  bool all_converged() const { return converged_.size() == vip_since_.size(); }

  const config::Model& model() const { return model_; }
  const NeighbourTable& neighbours() const { return neigh_; }
  const HealthChecker& health() const { return health_; }
  const RsStats& rs_stats() const { return rs_stats_; }
  RsStats& rs_stats() { return rs_stats_; }
  const DirectorCounters& counters() const { return counters_; }
  const DirectorSetup& setup() const { return setup_; }
  const SnapshotSink& sink() const { return sink_; }
  // The service as the workers see it now: its real servers' weight, health, MAC,
  // egress port, and whether it is below its quorum.
  lb::ServiceSpec service_state(const config::Service& s) const { return config::service_spec(model_, runtime_, s); }
  // One real server of the model as the workers see it now.
  lb::RsSpec rs_state(const config::RealServer& r) const;
  // The MAC drfwd holds for a neighbour: static, else resolved; none if neither.
  std::optional<net::Mac> known_mac(const net::IpAddr& ip) const { return config::neighbour_mac(model_, runtime_, ip); }
  // A VIP is answered on the interfaces (untagged or VLAN) whose subnet holds it, or on
  // every interface if none does.
  bool serves(lb::Iface at, const net::IpAddr& vip) const;
  std::optional<net::Ipv4> dip(lb::Iface at) const;
  // drfwd's own IPv6 address on an interface for neighbor discovery: the port's
  // link-local address (EUI-64 from its MAC).
  net::Ipv6 link_local(lb::Iface at) const;
  // Every interface: each port's untagged one, then the VLAN interfaces, in order.
  std::vector<lb::Iface> interfaces() const;

 private:
  void publish(const config::Model& m);
  std::shared_ptr<const lb::Snapshot> build(const config::Model& m) const;
  void refresh_targets(double now);
  void refresh_claims(double now);
  bool ready(const net::IpAddr& vip) const;  // every RS resolved and checked once
  void refresh_routes();
  void log_neigh_events();
  // Recomputes which services of `m` are below their quorum; returns the changes (for
  // the log, once the model they are about is the running one).
  std::vector<std::string> settle_quorum(const config::Model& m);
  static void log_quorum(const std::vector<std::string>& changes);

  config::Model model_;
  DirectorSetup setup_;
  SnapshotSink& sink_;
  config::Runtime runtime_;
  NeighbourTable neigh_;
  HealthChecker health_;
  RsStats rs_stats_;
  Announcer announcer_;
  DirectorCounters counters_;
  bool need_publish_ = false;
  double last_rates_ = -1;
  std::map<lb::Iface, std::set<net::IpAddr>> kernel_addrs_;  // by interface
  std::map<net::IpAddr, double> vip_since_;                 // when each VIP appeared
  std::set<net::IpAddr> converged_;
  std::vector<VipRoute> routes_;
  std::map<uint32_t, uint32_t> quorum_known_;  // service slot -> gen, for services with a quorum
  std::set<uint32_t> quorum_lost_;             // service slots below quorum
};

}  // namespace drfwd::control
