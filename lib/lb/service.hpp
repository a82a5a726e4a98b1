// A service and a real server as every layer describes them: one identity type, one
// parameter type and one health type, embedded wherever a service or an RS appears
// (the configuration model, snapshot specs and tables, status views), so a new
// parameter is one member here and every copy, comparison and view carries it.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string_view>

#include "lb/sched.hpp"
#include "net/addr.hpp"

namespace drfwd::lb {

constexpr uint16_t kNoPort = 0xffff;

// One of a port's interfaces: untagged (vlan 0), or an 802.1Q VLAN interface (1-4094).
// Frames are received on one and leave through one; each has its own address (DIP), ARP
// and kernel exception interface.
// A port number alone converts to its untagged interface.
struct Iface {
  uint16_t port = 0;
  uint16_t vlan = 0;
  constexpr Iface(uint16_t p = 0, uint16_t v = 0) : port(p), vlan(v) {}  // NOLINT: implicit on purpose
  auto operator<=>(const Iface&) const = default;
};

// What identifies a service: the VIP, the protocol (net::kProtoTcp / kProtoUdp), the port.
struct ServiceKey {
  net::IpAddr vip;  // IPv4 or IPv6; its real servers are of the same family
  uint8_t proto = 0;
  uint16_t port = 0;
  auto operator<=>(const ServiceKey&) const = default;
};

// How a service schedules: everything the data path needs besides its real servers.
struct ServiceParams {
  Sched sched = Sched::kWrr;
  uint32_t persist = 0;       // seconds; 0 = no persistence
  uint8_t persist_mask = 32;  // prefix length applied to the client address
  uint32_t mh_size = kDefaultMaglevSize;
  uint32_t flags = 0;         // kFlag*
  // keepalived's quorum: the service is up while the summed weight of its healthy real
  // servers (sorry servers aside) is at least `quorum`, with `hysteresis` either side
  // (0: no quorum). Below it: its VIP route is withdrawn, a sorry server takes over.
  uint32_t quorum = 0;
  uint32_t hysteresis = 0;
  bool inhibit = false;       // its RSs' default on failure: keep their connections (see RsState)
  bool operator==(const ServiceParams&) const = default;
};

// A real server's connection thresholds (ipvsadm -x/-y, IPVS's u_threshold and
// l_threshold); 0 = none. With an upper threshold, an RS whose connections (active and
// inactive, not templates) reach it is overloaded: it takes no new connections until
// they fall below the lower threshold (none: below 3/4 of the upper one).
struct RsThresholds {
  uint32_t upper = 0;
  uint32_t lower = 0;
  bool operator==(const RsThresholds&) const = default;
};
constexpr uint32_t kMaxThreshold = 0x7fffffff;  // as ipvsadm's (INT_MAX)

// A real server's health as the checks see it. Only kDown keeps traffic away: an RS
// starts up (as under keepalived) and an unchecked one is always up.
enum class Health : uint8_t { kUnchecked, kUp, kDown };
constexpr bool is_healthy(Health h) { return h != Health::kDown; }

constexpr std::string_view health_name(Health h) {
  switch (h) {
    case Health::kUnchecked: return "unchecked";
    case Health::kUp: return "up";
    case Health::kDown: return "down";
  }
  return "?";
}

// What decides whether an RS takes traffic: the one rule, used by the snapshot the
// workers forward with and by every view that counts usable servers.
struct RsState {
  uint32_t weight = 1;          // 0: drain (existing connections stay, no new ones)
  Health health = Health::kUnchecked;
  std::optional<net::Mac> mac;  // static or resolved neighbour, if any
  uint16_t port = kNoPort;      // egress port, if known
  uint16_t vlan = 0;            // and the VLAN it is reached on there (0: untagged)
  // On failure (down), keep its existing connections as if its weight were 0
  // (keepalived's inhibit_on_failure) instead of rescheduling them elsewhere.
  bool inhibit = false;
  // A sorry server: takes new connections only while the service's real servers cannot
  // (see ServiceSpec::sorry_mode).
  bool sorry = false;
  bool operator==(const RsState&) const = default;
  bool healthy() const { return is_healthy(health); }
  bool resolved() const { return mac.has_value() && port != kNoPort; }
  // Existing connections may keep using it.
  bool reachable() const { return (healthy() || inhibit) && resolved(); }
  // It may take new connections (the service decides whether it does: a sorry server
  // only in sorry mode).
  bool accepting() const { return weight > 0 && healthy() && resolved(); }
};

}  // namespace drfwd::lb
