// Gratuitous ARP (IPv4) and unsolicited neighbor advertisements (IPv6) for VIPs: when a VIP is claimed on an interface (it appears in the
// configuration, or, with vip-arp kernel, on the interface's kernel side), it is
// announced there `count` times, `interval` seconds apart, so switches and neighbours
// learn where it lives. Plain C++: time in, announcements out.
#pragma once

#include <cstdint>
#include <set>
#include <utility>
#include <vector>

#include "lb/service.hpp"
#include "net/addr.hpp"

namespace drfwd::control {

class Announcer {
 public:
  using Claim = std::pair<lb::Iface, net::IpAddr>;  // (interface, VIP)
  struct Due {
    lb::Iface at;
    net::IpAddr vip;
  };

  Announcer(unsigned count, double interval) : count_(count), interval_(interval) {}

  // The claims now. New ones are announced from `now`; those that went away are no
  // longer announced (nor answered).
  void set_claims(const std::set<Claim>& claims, double now);
  // Announcements due at `now` (each one sent once; the next follows `interval` later).
  std::vector<Due> due(double now);

  const std::set<Claim>& claims() const { return claims_; }
  bool claimed(lb::Iface at, const net::IpAddr& vip) const { return claims_.count({at, vip}) != 0; }

 private:
  struct Pending {
    double when;
    Claim claim;
    unsigned left;
  };
  unsigned count_;
  double interval_;
  std::set<Claim> claims_;
  std::vector<Pending> pending_;
};

}  // namespace drfwd::control
