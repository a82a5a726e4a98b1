// Resolution of real servers' MAC addresses by ARP, done by the control core.
// Plain C++ (no EAL): time is passed in, ARP frames in and out are values.
//
// Only a reply to a request drfwd has outstanding updates an entry: unsolicited ARP,
// gratuitous ARP, and a second, different reply to the same request change nothing
// (they are counted as ignored), so a host on the segment cannot redirect an RS's
// traffic just by announcing itself.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string_view>
#include <vector>

#include "net/addr.hpp"
#include "net/arp.hpp"

namespace drfwd::control {

enum class NeighState : uint8_t {
  kIncomplete,  // resolving, no MAC yet
  kReachable,   // MAC confirmed recently
  kProbe,       // MAC due for confirmation, requests sent, still used
  kFailed,      // unanswered: no MAC, the RS gets no traffic; retried slowly
};
std::string_view neigh_state_name(NeighState s);

struct NeighTarget {
  net::Ipv4 ip;
  uint16_t port = 0;     // where the RS is reached
  net::Ipv4 src;         // our address on that port (the DIP), 0.0.0.0 if none
  net::Mac port_mac;     // our MAC on that port
  bool operator==(const NeighTarget&) const = default;
};

struct NeighConfig {
  double reachable_time = 30;  // seconds before a confirmed MAC is confirmed again
  double retrans_time = 1;     // seconds between requests while resolving or probing
  unsigned max_probes = 3;     // unanswered requests before the neighbour is unreachable
  double failed_retry = 5;     // seconds between requests while unreachable
};

struct ArpOut {
  uint16_t port = 0;
  net::Arp arp;
};

class NeighbourTable {
 public:
  struct Entry {
    NeighTarget target;
    NeighState state = NeighState::kIncomplete;
    std::optional<net::Mac> mac;
    double confirmed = 0;     // time of the last accepted reply
    double next = 0;          // time of the next request or state change
    unsigned probes = 0;      // requests sent in this round
    bool outstanding = false; // a request is waiting for its reply
  };
  struct TickResult {
    std::vector<ArpOut> send;
    bool changed = false;  // a usable MAC disappeared
    std::vector<net::Ipv4> lost;  // whose (for the log)
  };

  explicit NeighbourTable(NeighConfig cfg = {}) : cfg_(cfg) {}

  // The neighbours to resolve. Unchanged targets keep their state; new ones start
  // resolving at `now`. Returns true if a usable MAC went away with a removed target.
  bool set_targets(const std::vector<NeighTarget>& targets, double now);

  // Requests due at `now`, and whether a MAC became unusable.
  TickResult tick(double now);

  // An ARP frame received on `port`. Returns true if a usable MAC appeared or changed.
  bool on_arp(uint16_t port, const net::Arp& a, double now);

  std::optional<net::Mac> mac(net::Ipv4 ip) const;
  const std::map<net::Ipv4, Entry>& entries() const { return entries_; }
  uint64_t ignored() const { return ignored_; }
  uint64_t requests_sent() const { return requests_; }
  const NeighConfig& config() const { return cfg_; }

 private:
  net::Arp request(const Entry& e, bool unicast) const;

  NeighConfig cfg_;
  std::map<net::Ipv4, Entry> entries_;
  uint64_t ignored_ = 0;
  uint64_t requests_ = 0;
};

}  // namespace drfwd::control
