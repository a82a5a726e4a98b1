// Gratuitous ARP for VIPs: when a VIP appears (at start, or added later) it is
// announced on each port that serves it, `count` times, `interval` seconds apart, so
// switches and neighbours learn where it lives. Plain C++: time in, announcements out.
#pragma once

#include <cstdint>
#include <set>
#include <vector>

#include "net/addr.hpp"

namespace drfwd::control {

class Announcer {
 public:
  struct Due {
    uint16_t port;
    net::Ipv4 vip;
  };

  Announcer(unsigned count, double interval) : count_(count), interval_(interval) {}

  // The VIPs now configured and, for each, the ports that serve it (serves(port, vip)).
  // New VIPs are scheduled from `now`; VIPs that went away are no longer announced.
  template <class Serves>
  void set_vips(const std::set<net::Ipv4>& vips, uint16_t ports, Serves&& serves, double now) {
    for (net::Ipv4 vip : vips)
      if (!vips_.count(vip))
        for (uint16_t p = 0; p < ports; ++p)
          if (serves(p, vip)) pending_.push_back({now, p, vip, count_});
    std::erase_if(pending_, [&](const Pending& a) { return !vips.count(a.vip); });
    vips_ = vips;
  }

  // Announcements due at `now` (each one sent once; the next follows `interval` later).
  std::vector<Due> due(double now);

  const std::set<net::Ipv4>& vips() const { return vips_; }
  bool is_vip(net::Ipv4 a) const { return vips_.count(a) != 0; }

 private:
  struct Pending {
    double when;
    uint16_t port;
    net::Ipv4 vip;
    unsigned left;
  };
  unsigned count_;
  double interval_;
  std::set<net::Ipv4> vips_;  // announced (and answered) so far
  std::vector<Pending> pending_;
};

}  // namespace drfwd::control
