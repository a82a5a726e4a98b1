// The director's kernel side besides frames: the addresses on drfwd's kernel
// interfaces (a VRRP daemon adds and removes VIPs there: vip-arp kernel) and the VIP
// routes drfwd keeps for a routing daemon (vip-routes). Over rtnetlink; nothing waits.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <vector>

#include "control/director.hpp"
#include "control/netlink.hpp"

namespace drfwd::control {

class KernelState {
 public:
  // ifindex: every kernel interface's index and the interface it stands for. Throws
  // std::runtime_error.
  explicit KernelState(std::map<int, lb::Iface> ifindex);
  // VLAN devices came or went.
  void set_interfaces(std::map<int, lb::Iface> ifindex);

  // Reads address changes and tells the director what each kernel interface holds.
  void poll(Director& d, double now);
  // Brings the kernel's VIP routes to `routes` in `table` (none: removes them all).
  // A route the kernel refused is tried again a second later.
  void sync(const std::vector<Director::VipRoute>& routes, std::optional<uint32_t> table, double now);
  // At stop: removes every route drfwd added (on SIGKILL the kernel does: they go with
  // the interfaces).
  void withdraw_all();
  size_t routes() const { return installed_.size(); }
  // The kernel dropped the routes through `at`'s kernel interface (its IPv6 was turned
  // off and on): forgotten, so the next sync puts them back.
  void forget_routes(lb::Iface at);

 private:
  struct Route {
    net::IpAddr vip;
    int ifindex;
    uint32_t table;
    auto operator<=>(const Route&) const = default;
  };
  void dump();
  void send(bool add, const Route& r);
  void apply(const netlink::AddrEvent& ev, std::map<int, std::set<net::IpAddr>>& into) const;

  netlink::Socket sock_;
  std::map<int, lb::Iface> ifindex_;               // kernel interface -> drfwd interface
  std::map<int, std::set<net::IpAddr>> addrs_;        // by ifindex
  std::optional<uint32_t> dump_seq_;               // a dump under way
  bool redump_ = false;                            // interfaces changed during it: dump again
  std::map<int, std::set<net::IpAddr>> dumped_;
  std::set<Route> installed_;                      // added, and not refused
  std::map<uint32_t, std::pair<bool, Route>> pending_;  // by sequence number: add?, route
  double retry_at_ = 0;
  bool refused_ = false;
};

}  // namespace drfwd::control
