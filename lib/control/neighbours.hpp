// Resolution of real servers' MAC addresses by ARP (IPv4) and Neighbor Discovery (IPv6),
// done by the control core: one state machine for both families, only the messages differ.
// Plain C++ (no EAL): time is passed in, ARP frames in and out are values.
//
// Only a reply to a request drfwd has outstanding updates an entry: unsolicited ARP
// and gratuitous ARP change nothing (they are counted as ignored), so a host on the
// segment cannot redirect an RS's traffic just by announcing itself. Nor by racing the
// server's own answer:
// - a known MAC is replaced only when it stops answering for a whole probe round and
//   exactly one other MAC answers in its place (a new NIC, a moved address); while the
//   known MAC answers, other answers are a conflict and are not used;
// - when two MACs answer the requests that first resolve a server (within
//   retrans_time of the first answer), neither is trusted: the entry fails and is
//   retried later, so no traffic goes to a MAC that may be an impostor's.
// Conflicts are counted and reported as events for the log.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "lb/counters.hpp"
#include "lb/service.hpp"
#include "net/addr.hpp"
#include "net/arp.hpp"
#include "net/ndp.hpp"

namespace drfwd::control {

enum class NeighState : uint8_t {
  kIncomplete,  // resolving, no MAC yet
  kReachable,   // MAC confirmed recently
  kProbe,       // MAC due for confirmation, requests sent, still used
  kFailed,      // unanswered: no MAC, the RS gets no traffic; retried slowly
};
std::string_view neigh_state_name(NeighState s);

struct NeighTarget {
  net::IpAddr ip;
  uint16_t port = 0;     // where the RS is reached
  uint16_t vlan = 0;     // and on which of its interfaces (0: untagged)
  net::IpAddr src;       // our address of that family on that interface: the DIP (IPv4:
                         // 0.0.0.0 if none), for IPv6 the DIP or the port's link-local address
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
  uint16_t vlan = 0;  // sent tagged with this VLAN (0: untagged)
};
struct NdpOut {
  uint16_t port = 0;
  net::Ndp ndp;
  uint16_t vlan = 0;
};

// What the log should say about a neighbour, beyond resolution and loss.
struct NeighEvent {
  enum class Kind : uint8_t {
    kConflictKept,     // another MAC answered while the known one did: the known MAC kept
    kConflictDropped,  // two MACs answered a first resolution: neither used
    kMoved,            // the known MAC stopped answering, one other did: it is used now
  };
  Kind kind;
  net::IpAddr ip;
  net::Mac mac;    // kept / the first answer / the old MAC
  net::Mac other;  // the other answer / the new MAC
};

#define DRFWD_NEIGH_COUNTERS(X)                                                                  \
  X(arp_ignored, kCounter, "ARP that answered no request of drfwd's (unsolicited, gratuitous): unused") \
  X(neigh_conflicts, kCounter, "a second MAC answering for a real server")

DRFWD_COUNTERS(NeighCounters, kNeighFields, DRFWD_NEIGH_COUNTERS);

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
    double guard_until = 0;   // after a first resolution: another MAC answering is a conflict
    std::optional<net::Mac> candidate;  // another MAC that answered this probe round
    bool candidates = false;  // more than one other MAC answered this round
  };
  struct TickResult {
    std::vector<ArpOut> send;    // ARP requests (IPv4 neighbours)
    std::vector<NdpOut> send6;   // neighbor solicitations (IPv6 neighbours)
    bool changed = false;  // a usable MAC disappeared or was replaced
    std::vector<net::IpAddr> lost;  // whose disappeared (for the log)
  };

  explicit NeighbourTable(NeighConfig cfg = {}) : cfg_(cfg) {}

  // The neighbours to resolve. Unchanged targets keep their state; new ones start
  // resolving at `now`. Returns true if a usable MAC went away with a removed target.
  bool set_targets(const std::vector<NeighTarget>& targets, double now);

  // Requests due at `now`, and whether a MAC became unusable.
  TickResult tick(double now);

  // An ARP frame received on interface `at`. Returns true if a usable MAC appeared,
  // changed or went away (a conflict).
  bool on_arp(lb::Iface at, const net::Arp& a, double now);
  // A neighbor advertisement: the same rules (only a solicited answer to drfwd's own
  // solicitation, on the RS's interface, to drfwd's MAC, teaches a MAC).
  bool on_ndp(lb::Iface at, const net::Ndp& n, double now);

  // Conflicts and MAC moves since the last call, oldest first.
  std::vector<NeighEvent> take_events() { return std::exchange(events_, {}); }

  std::optional<net::Mac> mac(const net::IpAddr& ip) const;
  const std::map<net::IpAddr, Entry>& entries() const { return entries_; }
  const NeighCounters& counters() const { return counters_; }
  uint64_t ignored() const { return counters_.arp_ignored; }
  uint64_t conflicts() const { return counters_.neigh_conflicts; }
  const NeighConfig& config() const { return cfg_; }

 private:
  // What an answer looked like, whichever the protocol.
  struct Answer {
    net::IpAddr ip;     // whose address
    net::Mac mac;       // at which MAC
    bool shaped;        // a reply on the RS's interface to drfwd's request
  };
  bool on_answer(const Answer& a, double now);
  void ask(Entry& e, double now, bool unicast, double wait, TickResult& r);
  void fail(Entry& e, double now);
  // Ends a probe round: the candidate, if it was the only other answer, replaces the MAC.
  bool end_round(Entry& e, double now);

  NeighConfig cfg_;
  std::map<net::IpAddr, Entry> entries_;
  std::vector<NeighEvent> events_;
  NeighCounters counters_;
};

}  // namespace drfwd::control
