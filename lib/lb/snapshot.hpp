// The read-only tables the workers forward with. The control core builds a Snapshot
// from a SnapshotSpec, publishes it with one atomic pointer store and frees the old
// one after an RCU grace period. A service whose scheduling inputs did not change
// keeps its table object: snapshots share it, nothing is rebuilt.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "lb/conn_state.hpp"
#include "lb/sched.hpp"
#include "lb/service.hpp"
#include "net/addr.hpp"
#include "net/drop.hpp"

namespace drfwd::lb {

constexpr uint32_t kMaxPorts = 32;
constexpr uint32_t kMaxRsSlots = 65536;
constexpr uint32_t kMaxServiceSlots = 65536;

// ---- Inputs (control side) ------------------------------------------------------------

// Connection gauges of an RS slot (RsCounters::active, inactive), summed over workers.
struct ConnGauges {
  int64_t active = 0;
  int64_t inactive = 0;
  bool operator==(const ConnGauges&) const = default;
};

// A real server as the snapshot needs it: its slot, address and the state that decides
// whether it takes traffic (RsState: weight, health, neighbour MAC, egress port).
struct RsSpec : RsState {
  uint32_t slot = 0;  // stable while the RS exists; reused with a new gen
  uint32_t gen = 0;
  net::IpAddr ip;
  RsThresholds thresholds;
  // What the slot's former occupants left in its gauges (summed over workers) when it
  // was handed to this RS. A connection counted for an older generation of the slot is
  // never subtracted again (release() skips a generation that is gone), so the gauges
  // keep it until the slot is reused and beyond; the control core takes the sums at
  // reuse as the slot's baseline (control::RsStats::rebase, before the first snapshot
  // with the new generation), and the schedulers that read counts (lc family,
  // thresholds) count this RS's connections as sum(workers) - leftover. Fixed for a
  // generation: once every worker has left the snapshots that named the old occupant
  // (slots are held back until then), nothing changes the old connections' share.
  ConnGauges leftover;
  bool operator==(const RsSpec&) const = default;
};

struct ServiceSpec {
  uint32_t slot = 0;
  uint32_t gen = 0;
  ServiceKey key;
  ServiceParams params;
  std::vector<RsSpec> rs;
  bool below_quorum = false;  // params.quorum > 0 and lost (the control core keeps its hysteresis)
  bool operator==(const ServiceSpec&) const = default;
  // Whether the sorry servers take the new connections instead of the real servers: no
  // real server accepts, or the quorum is lost and the service has a sorry server
  // (keepalived: below quorum without one, the real servers that are up keep serving).
  bool sorry_mode() const {
    bool any_sorry = false, real_accepting = false;
    for (const RsSpec& r : rs) {
      any_sorry |= r.sorry;
      real_accepting |= !r.sorry && r.accepting();
    }
    return any_sorry && (below_quorum || !real_accepting);
  }
  // Whether `r` (one of rs) takes new connections now.
  bool takes_new(const RsSpec& r, bool sorry_mode) const { return r.accepting() && r.sorry == sorry_mode; }
  // Healthy real servers' summed weight (sorry servers aside): what quorum counts.
  uint64_t live_weight() const {
    uint64_t w = 0;
    for (const RsSpec& r : rs)
      if (!r.sorry && r.healthy()) w += r.weight;
    return w;
  }
};

struct PortSpec {
  net::Mac mac;
  std::optional<net::Prefix> address;  // the director IP (DIP) of this port's untagged interface
  std::vector<std::pair<uint16_t, net::Prefix>> vlans;  // its VLAN interfaces: VID, address
  std::vector<net::Ipv6> dips6;  // the IPv6 addresses of its interfaces
};

// Connection synchronisation as the workers need it.
struct SyncSpec {
  bool send = false;         // a master daemon runs: announce connections
  uint32_t refresh = 60;     // seconds between announcements of a connection in use
  uint16_t port = 0;         // a backup daemon listens on this UDP port (0: none)
  uint32_t rate = 0;         // records per second all workers together hand over (0: none)
  bool operator==(const SyncSpec&) const = default;
};

struct SnapshotSpec {
  std::vector<ServiceSpec> services;
  std::vector<PortSpec> ports;
  Timeouts timeouts;
  uint32_t workers = 1;
  SyncSpec sync;
};

// ---- What the workers read ------------------------------------------------------------

// One per RS slot. A connection bound to (slot, gen) may keep using the RS while
// `reachable`; new connections also need `accepting` (weight > 0). A cache line each, as
// an RS's counters are: the data path finds both at slot * 64 from their arrays' starts.
struct alignas(64) RsView {
  static constexpr uint8_t kNoPort8 = 0xff;
  uint8_t l2[12] = {};      // the Ethernet addresses to write: RS MAC, then egress port MAC
  uint8_t port = kNoPort8;  // egress port (< kMaxPorts)
  uint8_t accepting = 0;
  uint16_t vlan = 0;        // egress VLAN (0: untagged)
  uint32_t gen = 0;
  uint32_t live_gen = 0;    // gen while reachable, else 0 (generations start at 1): one compare
  uint32_t ip_be = 0;
  uint32_t service = kNil32;
  // The verdict of a frame forwarded to this RS, as lb::Verdict's 8-byte word (forward,
  // no drop, `port`, exception class 0, `vlan`: forward_word()), made once here so the
  // data path copies it whole. (The Forwarder asserts Verdict's layout against it.)
  uint64_t forward = 0;
  static constexpr uint32_t kNil32 = 0xffffffffu;
  const uint8_t* mac() const { return l2; }
  static constexpr uint64_t forward_word(uint16_t port, uint16_t vlan) {
    return uint64_t{port} << 16 | uint64_t{vlan} << 48;
  }
};
static_assert(sizeof(RsView) == 64);

struct ServiceTable {
  ServiceSpec spec;  // what this table was built from: identity, parameters, real servers
  const ServiceParams& params() const { return spec.params; }
  // Tells a worker's round-robin cursor that the table changed: a new table starts the
  // cursor afresh. Unique per table built (wraps after 2^32 builds: a cursor may then
  // keep its position in a new table, which only moves where round robin resumes).
  uint32_t serial = 0;
  // derived for the data path
  uint32_t persist_mask_be = 0xffffffffu;         // IPv4 service: the client mask, network order
  uint64_t persist_mask6[2] = {~0ull, ~0ull};     // IPv6 service: the same as two words as loaded
  net::Drop empty_reason = net::Drop::kNoRs;  // why nothing is usable, when nothing is
  std::vector<uint32_t> usable;  // RS slots taking new connections, canonical order
  std::vector<uint16_t> table;   // rr/wrr/hash: sequence; sh/mh: Maglev table (index usable)
  // What the schedulers that read connection counts need of each usable RS (same index).
  struct Candidate {
    uint32_t slot = 0;
    uint32_t weight = 0;
    RsThresholds thresholds;
    ConnGauges leftover;  // RsSpec::leftover: not this RS's connections
  };
  std::vector<Candidate> candidates;
  bool any_threshold = false;  // a usable RS has an upper threshold
  // The choice reads connection counts (an lc-family scheduler, or thresholds): the
  // schedulers' common path tests this one flag and is otherwise as without them.
  bool by_counts = false;
  // Where worker `w` of `workers` starts walking an rr/wrr sequence: spread evenly.
  uint32_t start_for(uint32_t w, uint32_t workers) const {
    return static_cast<uint32_t>((uint64_t{w} * table.size()) / workers);
  }
};

struct PortView {
  uint8_t mac[6] = {};
  uint16_t pad = 0;
  uint64_t mac48 = 0;   // mac as loaded from a frame (load64 & kMac48), for one compare
};

struct Snapshot {
  uint64_t version = 0;
  uint32_t workers = 1;
  uint32_t n_ports = 0;
  std::array<PortView, kMaxPorts> ports{};
  Timeouts timeouts;
  SyncSpec sync;
  uint16_t sync_port_be = 0;  // sync.port in network order (0: none)
  std::vector<RsView> rs;  // by RS slot

  // Service index: open addressing on (vip, port, proto); key 0 is empty (VIP 0.0.0.0
  // is refused by the configuration).
  struct IndexSlot {
    uint64_t key = 0;
    const ServiceTable* svc = nullptr;
  };
  std::vector<IndexSlot> index;
  uint64_t index_mask = 0;
  uint32_t index_shift = 60;  // 64 - log2(index size)

  // Raw views of `rs` for the data path (set once the snapshot is built).
  const RsView* rs_view = nullptr;
  uint32_t rs_count = 0;

  std::vector<std::shared_ptr<const ServiceTable>> services;  // ownership, by spec order

  static uint64_t service_key(uint32_t vip_be, uint16_t port_be, uint8_t proto) {
    return uint64_t{vip_be} << 32 | uint64_t{port_be} << 16 | proto;
  }
  // Fibonacci hashing: one multiply, the top bits pick the slot.
  uint64_t index_slot(uint64_t key) const { return (key * 0x9e3779b97f4a7c15ULL) >> index_shift; }

  const ServiceTable* find(uint32_t vip_be, uint16_t port_be, uint8_t proto) const {
    const uint64_t key = service_key(vip_be, port_be, proto);
    const IndexSlot* ix = index.data();
    for (uint64_t i = index_slot(key);; i = (i + 1) & index_mask) {
      if (ix[i].key == key) return ix[i].svc;
      if (ix[i].key == 0) return nullptr;
    }
  }

  // IPv6 services: open addressing on (vip, port, proto) as loaded from the frame (two
  // 64-bit words of the address, then port << 8 | proto); svc null is empty.
  struct IndexSlot6 {
    uint64_t hi = 0, lo = 0;
    uint32_t port_proto = 0;
    const ServiceTable* svc = nullptr;
  };
  std::vector<IndexSlot6> index6;
  uint64_t index6_mask = 0;
  uint32_t index6_shift = 60;
  bool has_v6 = false;  // any IPv6 service
  static uint64_t service_hash6(uint64_t hi, uint64_t lo, uint32_t port_proto) {
    return (hi ^ (lo * 0x9e3779b97f4a7c15ULL) ^ (uint64_t{port_proto} << 40)) * 0xc4ceb9fe1a85ec53ULL;
  }
  // vip16: the destination address in the frame.
  const ServiceTable* find6(const uint8_t* vip16, uint16_t port_be, uint8_t proto) const {
    uint64_t hi, lo;
    __builtin_memcpy(&hi, vip16, 8);
    __builtin_memcpy(&lo, vip16 + 8, 8);
    const uint32_t pp = uint32_t{port_be} << 8 | proto;
    const IndexSlot6* ix = index6.data();
    for (uint64_t i = service_hash6(hi, lo, pp) >> index6_shift;; i = (i + 1) & index6_mask) {
      if (!ix[i].svc) return nullptr;
      if (ix[i].hi == hi && ix[i].lo == lo && ix[i].port_proto == pp) return ix[i].svc;
    }
  }

  // Real-server addresses (every configured RS, whatever its state): open addressing on
  // the address, 0 empty. For classifying frames to the control core.
  std::vector<uint32_t> servers;
  uint64_t servers_mask = 0;
  uint32_t servers_shift = 60;
  bool is_server(uint32_t addr_be) const {
    if (addr_be == 0) return false;
    const uint32_t* s = servers.data();
    for (uint64_t i = (uint64_t{addr_be} * 0x9e3779b97f4a7c15ULL) >> servers_shift;; i = (i + 1) & servers_mask) {
      if (s[i] == addr_be) return true;
      if (s[i] == 0) return false;
    }
  }

  // IPv6 real servers' addresses, sorted (the control-core classes: rare, not per packet
  // of a service).
  std::vector<net::Ipv6> servers6;
  bool is_server6(const uint8_t* a) const {
    size_t lo = 0, hi = servers6.size();
    while (lo < hi) {
      const size_t mid = (lo + hi) / 2;
      const int c = __builtin_memcmp(servers6[mid].bytes.data(), a, 16);
      if (c == 0) return true;
      if (c < 0) lo = mid + 1; else hi = mid;
    }
    return false;
  }

  // True for a destination the appliance owns itself (a DIP of any interface).
  std::vector<uint32_t> dips;  // network order
  bool is_local(uint32_t dst_be) const {
    for (uint32_t d : dips)
      if (d == dst_be) return true;
    return false;
  }

  // The same for IPv6 (the destination as in the frame).
  std::vector<net::Ipv6> dips6;
  bool is_local6(const uint8_t* dst) const {
    for (const net::Ipv6& d : dips6)
      if (__builtin_memcmp(d.bytes.data(), dst, 16) == 0) return true;
    return false;
  }

  // The VLANs each port has an interface for: 4096 bits per port (n_ports * 64 words).
  static constexpr uint32_t kVlanWords = 64;
  std::vector<uint64_t> vlans;
  uint32_t vlan_ports = 0;  // ports with at least one VLAN interface (bitmap)
  bool has_vlans(uint16_t port) const { return port < 32 && (vlan_ports >> port) & 1; }
  bool vlan_known(uint16_t port, uint16_t vid) const {
    return (vlans[port * kVlanWords + (vid >> 6)] >> (vid & 63)) & 1;
  }
};

// Builds a snapshot; reuses `prev`'s service tables whose spec is unchanged.
// Throws std::invalid_argument on an inconsistent spec (a configuration bug).
std::shared_ptr<Snapshot> build_snapshot(const SnapshotSpec& spec, const Snapshot* prev);

// A real server's identity in a Maglev table (sh, mh): the same on every director.
uint64_t backend_id(const net::IpAddr& ip, uint16_t port);

// The (unpublished) table for one service; exposed for tests.
std::shared_ptr<ServiceTable> build_service_table(const ServiceSpec& spec);

}  // namespace drfwd::lb
