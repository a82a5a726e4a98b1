// The running configuration as the control core holds it. Value type: a command is
// applied to a copy and the copy replaces the model only if the whole command was
// valid, so a refused command changes nothing.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/command.hpp"
#include "lb/conn_state.hpp"
#include "lb/snapshot.hpp"

namespace drfwd::config {

// Stable small integers for services and RSs (they index worker-side arrays). A
// released slot is reused with its generation bumped, so stale references to the old
// occupant are recognisable. Under a control core that publishes to workers, a released
// slot is also held back until every worker has moved past the snapshot that dropped it
// (epochs: see Model::set_epoch), so no worker still counting into the slot for the old
// occupant overlaps with the new one (the per-RS counters are baselined at reuse).
class SlotPool {
 public:
  explicit SlotPool(uint32_t limit) : limit_(limit) {}
  std::pair<uint32_t, uint32_t> take();  // slot, gen; throws ConfigError when exhausted
  // epoch 0: reusable at once; else reusable after reclaim(seen >= epoch).
  void give(uint32_t slot, uint64_t epoch);
  void reclaim(uint64_t seen);
  uint32_t limit() const { return limit_; }
  size_t held_back() const { return held_.size(); }

 private:
  uint32_t limit_;
  std::vector<uint32_t> gens_;
  std::vector<uint32_t> free_;
  std::vector<std::pair<uint32_t, uint64_t>> held_;  // slot, epoch
};

struct RealServer {
  net::IpAddr ip;
  uint32_t weight = 1;
  lb::RsThresholds thresholds;  // uthreshold, lthreshold (ipvsadm -x, -y)
  uint32_t slot = 0, gen = 0;
  CheckOverride check;  // this RS's own check settings
  std::optional<bool> inhibit;  // on failure keep its connections; none: the service's setting
  bool sorry = false;           // a sorry server (see lb::ServiceSpec::sorry_mode)
};

struct Service {
  ServiceKey key;
  lb::ServiceParams params;
  uint32_t slot = 0, gen = 0;
  CheckOverride check;         // the service's check settings
  std::vector<RealServer> rs;  // in the order added
  const RealServer* find(const net::IpAddr& ip) const;
};

struct Neighbour {
  net::Mac mac;
  std::optional<uint16_t> port;
  uint16_t vlan = 0;  // with port
  bool operator==(const Neighbour&) const = default;
};

// What a command changed, for the caller's log line and for deciding what to rebuild.
struct Applied {
  std::string summary;  // e.g. "added service tcp 198.18.0.10:80 (rr)"
  std::vector<std::pair<uint32_t, uint32_t>> new_rs_slots;  // (slot, gen) handed out
};

class Model {
 public:
  static constexpr lb::Sched kDefaultSched = lb::ServiceParams{}.sched;

  explicit Model(uint16_t num_ports = 1) : num_ports_(num_ports) {}

  // Validates and applies; throws ConfigError and leaves *this unchanged on error.
  Applied apply(const Command& c);

  static constexpr size_t kMaxVlanInterfaces = 1024;  // all ports together, without kernel interfaces

  uint16_t num_ports() const { return num_ports_; }
  // Every interface's address: a port's untagged one (vlan 0) and its VLAN interfaces
  // (which exist exactly while they have one).
  const std::map<lb::Iface, net::Prefix>& addresses() const { return addr_; }
  std::optional<net::Prefix> address(lb::Iface i) const {
    auto it = addr_.find(i);
    return it == addr_.end() ? std::nullopt : std::optional<net::Prefix>(it->second);
  }
  // Interfaces' IPv6 addresses (an interface has its IPv4 one first: a VLAN interface
  // exists while it has an IPv4 address).
  const std::map<lb::Iface, net::Prefix6>& addresses6() const { return addr6_; }
  std::optional<net::Prefix6> address6(lb::Iface i) const {
    auto it = addr6_.find(i);
    return it == addr6_.end() ? std::nullopt : std::optional<net::Prefix6>(it->second);
  }
  // The interfaces whose subnet (of ip's family) holds ip, with that subnet's length.
  template <class F>
  void for_each_subnet_holding(const net::IpAddr& ip, F&& f) const {
    if (ip.is_v4()) {
      for (auto& [i, p] : addr_)
        if (p.contains(ip.v4())) f(i, p.len);
    } else {
      for (auto& [i, p] : addr6_)
        if (p.contains(ip.v6())) f(i, p.len);
    }
  }
  // The interface's address (DIP) of `family`'s family, if it has one.
  std::optional<net::IpAddr> dip(lb::Iface at, const net::IpAddr& family) const {
    if (family.is_v4()) {
      const auto a = address(at);
      return a ? std::optional<net::IpAddr>(a->addr) : std::nullopt;
    }
    const auto a = address6(at);
    return a ? std::optional<net::IpAddr>(net::IpAddr(a->addr)) : std::nullopt;
  }
  // A port's VLAN interfaces, by VID: VID and address.
  std::vector<std::pair<uint16_t, net::Prefix>> vlan_interfaces(uint16_t port) const;
  const std::vector<Service>& services() const { return services_; }
  const std::map<net::IpAddr, Neighbour>& neighbours() const { return neigh_; }
  const lb::Timeouts& timeouts() const { return timeouts_; }
  const CheckOverride& check_defaults() const { return check_defaults_; }
  const VipClaim& vip_claim() const { return claim_; }
  const SyncSettings& sync() const { return sync_; }
  // Kernel interfaces are named <prefix><port id> (drfwd --kernel-ifname).
  void set_kernel_ifname(std::string prefix) { ifname_prefix_ = std::move(prefix); }
  // A model with this one's ports and kernel settings and no configuration: what a
  // reload reads the files into.
  Model blank() const {
    Model m(num_ports_);
    m.ifname_prefix_ = ifname_prefix_;
    m.kernel_ifs_ = kernel_ifs_;
    m.max_kernel_vlans_ = max_kernel_vlans_;
    return m;
  }
  // drfwd --no-kernel-interfaces: nothing that needs them (connection sync) is accepted.
  void set_kernel_interfaces(bool on) { kernel_ifs_ = on; }
  // With kernel interfaces, each VLAN interface takes a TAP, and DPDK has a fixed number
  // of port slots (RTE_MAX_ETHPORTS): drfwd says how many are left for them.
  void set_max_kernel_vlans(size_t n) { max_kernel_vlans_ = n; }
  size_t max_vlan_interfaces() const { return kernel_ifs_ ? std::min(max_kernel_vlans_, kMaxVlanInterfaces) : kMaxVlanInterfaces; }
  std::string kernel_ifname(uint16_t port) const { return ifname_prefix_ + std::to_string(port); }
  // A VLAN interface's: the VLAN device on its port's ("drfwd0.20").
  std::string kernel_ifname(lb::Iface i) const {
    return i.vlan ? kernel_ifname(i.port) + "." + std::to_string(i.vlan) : kernel_ifname(i.port);
  }
  // The check that applies to `r` in `s`: built-in defaults <- set check <- service <-
  // RS. A UDP service checks nothing unless the service or RS names a kind of check.
  CheckSpec effective_check(const Service& s, const RealServer& r) const;
  const Service* find(const ServiceKey& k) const;
  bool is_vip(const net::IpAddr& ip) const;
  bool is_dip(const net::IpAddr& ip) const;  // any interface's address
  std::optional<ServiceKey> rs_owner(const net::IpAddr& ip) const;  // a service it is a real server of
  std::optional<lb::Iface> dip_owner(const net::IpAddr& ip) const;  // the interface whose address it is

  // Slots released from now on are reusable once reclaim_slots(seen) reports that the
  // workers have seen snapshot `epoch` (the one that will carry this change). 0, the
  // default for a model with no workers (config checks, tests): reusable at once.
  void set_epoch(uint64_t epoch) { epoch_ = epoch; }
  void reclaim_slots(uint64_t seen);
  size_t slots_held_back() const { return svc_slots_.held_back() + rs_slots_.held_back(); }

  // The interface through which `ip` is reached: its static neighbour's, else the one
  // whose address prefix holds it (longest prefix over every interface of every port),
  // else the only port's untagged interface.
  std::optional<lb::Iface> egress(const net::IpAddr& ip) const;

 private:
  Applied apply_impl(const Command& c);
  // One per command (each throws ConfigError; apply() discards the copy then).
  Applied on(const cmd::PortAddress& c);
  Applied on(const cmd::VipAdd& c);
  Applied on(const cmd::VipEdit& c);
  Applied on(const cmd::VipDel& c);
  Applied on(const cmd::RsAdd& c);
  Applied on(const cmd::RsEdit& c);
  Applied on(const cmd::RsDel& c);
  Applied on(const cmd::NeighAdd& c);
  Applied on(const cmd::NeighDel& c);
  Applied on(const cmd::SetTimeouts& c);
  Applied on(const cmd::SetCheck& c);
  Applied on(const cmd::Clear& c);
  Applied on(const cmd::SetVipArp& c);
  Applied on(const cmd::SetVipRoutes& c);
  Applied on(const cmd::SetVipHolddown& c);
  Applied on(const cmd::SyncStart& c);
  Applied on(const cmd::SyncStop& c);
  Applied on(const cmd::SetSyncRate& c);
  Applied on(const cmd::SetSyncRefresh& c);
  Service* find_mut(const ServiceKey& k);
  Service& service_or_throw(const ServiceKey& k);
  std::vector<RealServer>::iterator rs_or_throw(Service& s, const net::IpAddr& ip);
  void check_new_dip(lb::Iface at, const net::IpAddr& a) const;
  void check_port(uint16_t port) const;
  void release(const Service& s);  // gives its slots and its RSs' back (after the epoch)
  static void set_options(Service& s, const ServiceOptions& o);
  static void set_on_failure(RealServer& r, OnFailure f);
  void check_service(const Service& s) const;

  uint16_t num_ports_;
  std::map<lb::Iface, net::Prefix> addr_;
  std::map<lb::Iface, net::Prefix6> addr6_;
  std::vector<Service> services_;
  std::map<net::IpAddr, Neighbour> neigh_;
  lb::Timeouts timeouts_;
  CheckOverride check_defaults_;
  VipClaim claim_;
  SyncSettings sync_;
  std::string ifname_prefix_ = "drfwd";
  bool kernel_ifs_ = true;
  size_t max_kernel_vlans_ = kMaxVlanInterfaces;
  SlotPool svc_slots_{lb::kMaxServiceSlots};
  SlotPool rs_slots_{lb::kMaxRsSlots};
  uint64_t epoch_ = 0;
};

// What the control core knows beyond the configuration: MACs learned by ARP and RS
// health. Empty functions mean "nothing learned" and "nothing checked".
struct Runtime {
  std::function<std::optional<net::Mac>(const net::IpAddr&)> learned_mac;
  std::function<lb::Health(uint32_t rs_slot)> health;
  std::function<bool(uint32_t svc_slot)> below_quorum;  // the control core's quorum state
  // What the slot's former occupants left in its connection gauges (lb::RsSpec::leftover).
  std::function<lb::ConnGauges(uint32_t rs_slot)> leftover;
  std::vector<net::Mac> port_macs;
  uint32_t workers = 1;
};

// "port 0", "port 0 vlan 20": an interface as messages and logs name it.
std::string iface_name(lb::Iface i);

lb::SnapshotSpec make_spec(const Model& m, const Runtime& rt);
// One service of the model as the workers see it (and as status views count it).
lb::ServiceSpec service_spec(const Model& m, const Runtime& rt, const Service& s);
// One of its real servers.
lb::RsSpec rs_spec(const Model& m, const Runtime& rt, const Service& s, const RealServer& r);

// The MAC drfwd uses for `ip`: its static neighbour entry, else the learned one.
std::optional<net::Mac> neighbour_mac(const Model& m, const Runtime& rt, const net::IpAddr& ip);

}  // namespace drfwd::config
