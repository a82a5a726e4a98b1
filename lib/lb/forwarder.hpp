// The per-packet decision: Ethernet/IPv4/TCP/UDP in, verdict and rewritten Ethernet
// header out. One Forwarder per worker; it owns the worker's connection table and
// fragment cache and writes only that worker's counters. No allocation, no locks, no
// exceptions, no logging, no system calls.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <type_traits>
#include <vector>

#include "lb/counters.hpp"
#include "lb/flow_table.hpp"
#include "lb/handoff.hpp"
#include "lb/hash.hpp"
#include "lb/snapshot.hpp"
#include "net/checksum.hpp"
#include "net/parse.hpp"

namespace drfwd::lb {

// Frames per burst, everywhere: RX, the Forwarder, TX, the rings to and from the
// control core.
constexpr uint16_t kBurst = 32;

// Verdict and Frame are trivial so that per-burst arrays of them cost nothing to declare.

struct Verdict {
  enum class Action : uint8_t { kForward, kControl, kDrop };
  Action action;
  net::Drop drop;
  uint16_t port;  // egress port for kForward
  ExcClass exc;  // for kControl (no initialiser: Verdict stays trivial)
  uint8_t zero;   // always 0: two verdicts are equal exactly when their words are (word())
  uint16_t vlan;  // egress VLAN for kForward (0: untagged); the caller tags the frame
  uint64_t word() const {
    uint64_t w;
    std::memcpy(&w, this, 8);
    return w;
  }
};

static_assert(std::is_trivial_v<Verdict> && sizeof(Verdict) == 8);

// A frame as the data path sees it.
struct Frame {
  uint8_t* data;
  uint32_t seg_len;  // bytes at `data`
  uint32_t pkt_len;  // whole frame (multi-segment)
  uint16_t rx_port;
  uint16_t vlan;     // the VLAN it arrived on, its tag already taken out (0: untagged)
  net::IpCsum ip_csum;
};

// Remembers which RS took the first fragment of a datagram so the later fragments
// (which carry no ports) follow it. Direct-mapped: a new datagram may overwrite an
// old entry, which only costs that old datagram its remaining fragments. One per
// address family: Key is net::FlowKey or net::FlowKey6 (of which the addresses and the
// protocol identify the datagram with its id).
template <class Key>
class FragCache {
 public:
  static constexpr uint32_t kSize = 4096;
  static constexpr uint32_t kLifetime = 10;  // seconds

  struct Entry {
    Key key;  // addresses and protocol; ports zero
    uint32_t id = 0;
    uint8_t used = 0;
    uint32_t rs_slot = 0, rs_gen = 0;
    uint32_t born = 0;
  };

  void record(const Key& k, uint32_t id, uint32_t rs_slot, uint32_t rs_gen, uint32_t now) {
    const Key d = datagram(k);
    Entry& e = table_[slot(d, id)];
    e.key = d;
    e.id = id;
    e.used = 1;
    e.rs_slot = rs_slot;
    e.rs_gen = rs_gen;
    e.born = now;
  }
  const Entry* find(const Key& k, uint32_t id, uint32_t now) const {
    const Key d = datagram(k);
    const Entry& e = table_[slot(d, id)];
    if (!e.used || e.id != id || !(e.key == d) || now - e.born > kLifetime) return nullptr;
    return &e;
  }

 private:
  static Key datagram(const Key& k) {
    Key d = k;
    d.sport = d.dport = 0;
    d.kind = net::FlowKind::kConnection;
    d.pad = 0;
    return d;
  }
  static uint32_t slot(const Key& d, uint32_t id);
  Entry table_[kSize];
};

// A datagram's fragment identification: IPv4's 16-bit id, IPv6's fragment header's.
inline uint32_t datagram_id(const net::Parsed& p) { return p.ip_id; }
inline uint32_t datagram_id(const net::Parsed6& p) { return p.frag_id; }

class Forwarder {
 public:
  static constexpr uint32_t kMaxBurst = kBurst;  // process_burst takes at most this many
  // worker: this worker's index (where its round robin starts). rs_counters: an array
  // of kMaxRsSlots owned by the caller, which this Forwarder alone writes.
  // conns6_capacity: the IPv6 connection table's entries (128 bytes each), from mem6.
  static constexpr uint32_t kDefaultConns6 = 4096;
  Forwarder(uint32_t worker, FlowTable& conns, WorkerCounters& counters, RsCounters* rs_counters,
            uint32_t conns6_capacity = kDefaultConns6, FlowMemory mem6 = {});

  // Once per burst: the snapshot to use and the worker clock (seconds, monotonic).
  void begin(const Snapshot* snap, uint32_t now) {
    snap_ = snap;
    now_ = now;
    if (snap && snap->rs_count > rs_slots_seen_) rs_slots_seen_ = snap->rs_count;
  }
  const Snapshot* snapshot() const { return snap_; }

  // Every worker's RS counter array, this one's included, for the schedulers that read
  // connection counts (lc family, thresholds): an RS's count is the sum over workers,
  // read with relaxed loads, never written here. Before the first frame; the arrays
  // must outlive the Forwarder. Default: this worker's own array alone (one worker).
  void set_peers(std::span<const RsCounters* const> peers) { peers_.assign(peers.begin(), peers.end()); }

  Verdict process(const Frame& f);
  // The same for a burst (n <= kMaxBurst) received on one port, with the flow-table
  // prefetch staged across packets. Verdicts are identical to calling process() on
  // each frame in order.
  void process_burst(const Frame* frames, Verdict* out, uint32_t n);
  // The same when the caller knows whether any frame came on a VLAN (a vlan != 0) and has
  // prefetched the frames' data itself (the worker, which looks at every frame anyway).
  void process_burst(const Frame* frames, Verdict* out, uint32_t n, bool tagged);

  // Removes up to `budget` timed-out connections (of each family); returns how many.
  uint32_t expire(uint32_t budget);

  // ---- Connection synchronisation (only while the snapshot says sync.send)
  // What to announce since the last clear: TCP connections once established (a
  // handshake that never completes is not worth the other directors' memory: a SYN flood
  // costs no sync traffic), UDP flows and persistence templates when created, then every
  // state change, and each in use again every sync.refresh seconds. At most two records
  // per frame: a burst never fills it.
  static constexpr uint32_t kSyncOutMax = 2 * kMaxBurst;
  uint32_t sync_pending() const { return sync_n_; }
  const SyncRecord* sync_out() const { return sync_out_; }
  void sync_clear() { sync_n_ = 0; }

  // A record the other directors sent (validated by the control core against an earlier
  // snapshot): inserted, or, for an entry held here on the same RS, its state and
  // timeout taken. Never replaces a live entry bound to another RS, and never evicts one
  // of this worker's entries to make room (kTableFull).
  enum class Adopt : uint8_t { kApplied, kKeptLocal, kStale, kTableFull };
  Adopt adopt(const SyncRecord& r);
  // Announces entry `idx` again if it is live and was announced before (a bulk
  // re-announcement for a director that just started); false if not.
  bool reannounce(uint32_t idx);

  FlowTable& conns() { return conns_; }
  FlowTable6& conns6() { return *conns6_; }
  const FlowTable6& conns6() const { return *conns6_; }
  uint32_t now() const { return now_; }

 private:
  Verdict drop(PortCounters& pc, net::Drop d) {
    bump(pc.drops[static_cast<int>(d)]);
    return Verdict{Verdict::Action::kDrop, d, 0, ExcClass::kOther, 0, 0};
  }
  // Counted by the caller once the control core has the packet (its ring may be full).
  static Verdict to_control(ExcClass c) { return Verdict{Verdict::Action::kControl, net::Drop::kNone, 0, c, 0, 0}; }
  // What the first pass learns about a frame headed for a service (P: net::Parsed for
  // IPv4, net::Parsed6 for IPv6).
  template <class P>
  struct alignas(64) BasicPending {  // trivial: a burst's worth is declared per burst; a line each
    P parsed;
    const ServiceTable* svc;  // null: a non-first fragment, decided by the fragment cache
    uint64_t hash;
    uint32_t idx;
    const FlowBucket* bucket;  // the flow table's bucket of `hash` as pass 1 found it
  };
  using Pending = BasicPending<net::Parsed>;
  using Pending6 = BasicPending<net::Parsed6>;
  // The last service a frame of the burst was found to go to (never null once set), and
  // that frame's key as two words; the key of the last frame found to go to no service
  // (all ones: none yet: no frame on this path has protocol 255).
  struct ServiceMemo {
    alignas(16) uint64_t key[2] = {~0ull, ~0ull};
    const ServiceTable* svc = nullptr;
    uint64_t none[2] = {~0ull, ~0ull};
  };
  // IPv6's: the destination address (hi, lo), port and protocol (pp: port << 8 |
  // protocol; ~0: none yet).
  struct ServiceMemo6 {
    uint64_t hi = 0, lo = 0;
    uint32_t pp = ~0u;
    const ServiceTable* svc = nullptr;
  };
  // Everything that needs no per-worker state; returns true (and fills `pend`) when the
  // frame belongs to a service or is a fragment that may follow one (both decided in
  // order, after the lookups), otherwise sets `out`. An IPv6 frame: with `pend6` (the
  // burst), staged there as an IPv4 frame is in `pend` (classify6()); without (process()),
  // decided at once (ipv6()).
  bool classify(const Frame& f, Verdict& out, Pending& pend, Pending6* pend6 = nullptr);
  enum class Fast : uint8_t {
    kNo,    // for classify() (which also finds that no service has it)
    kYes,   // to the memo's service: `pend` filled
    kMiss,  // the memo holds another service: `pend` filled but for its service, which the
            // caller looks up (and notes in the memo)
  };
  // The common frame (a whole TCP/UDP datagram), checked and keyed with a few wide loads;
  // kNo: let classify() decide (it is the reference and handles every case).
  // kTagged: the burst has frames that came on a VLAN (each is checked against the
  // port's VLANs); a burst of untagged frames does without the check.
  template <bool kTagged>
  Fast fast_classify(const Frame& f, uint64_t port_mac48, ServiceMemo& memo, Pending& pend);
  template <bool kTagged>
  void process_burst(const Frame* frames, Verdict* out, uint32_t n);
  struct Classified {
    uint32_t fast;  // bit i: frame i from fast_classify (a whole TCP/UDP datagram to a service)
    uint32_t todo;  // bit i: frame i goes on to pass 3 (the others have their verdict)
    uint32_t look;  // bit i: frame i has a service: its connection is looked up in pass 2
    uint32_t v6;    // bit i: frame i (in todo) is IPv6: staged in the burst's Pending6
    uint32_t look6;  // the same as look, for those
    uint32_t fast6;  // bit i: frame i from fast_ipv6 (the same as fast, for IPv6)
  };
  template <bool kTagged>
  Classified classify_burst(const Frame* frames, Verdict* out, uint32_t n, Pending* pend, Pending6* pend6);
  template <bool kTagged>
  // (known, port_mac48: the burst's port, as classify_burst found them)
  void classify_rest(const Frame* frames, Verdict* out, uint32_t rest, Pending* pend, Pending6* pend6, bool known,
                     uint64_t port_mac48, Classified& c);
  void lookup_burst(Pending* pend, uint32_t look) const;
  void lookup_burst6(Pending6* pend, uint32_t look) const;
  // Pass 3's fast lane for either family (Pd: Pending or Pending6). kInView: every
  // connection's RS slot is below the snapshot's rs_count (no bound check per frame).
  template <bool kInView, class Pd>
  uint32_t fast_lane(const Frame* frames, Verdict* out, const Pd* pend, uint32_t lane);
  // Pass 3 for a frame pass 1 staged (seen: its table's mutations() before pass 3);
  // finish6: IPv6's, out of line.
  template <class Pd>
  Verdict finish(const Frame& f, PortCounters& pc, Pd& pd, uint64_t seen);
  Verdict finish6(const Frame& f, PortCounters& pc, Pending6& pd, uint64_t seen6);
  // A frame classify() staged, decided at once (process(), ipv6()).
  template <class Pd>
  Verdict decide(const Frame& f, PortCounters& pc, Pd& pd);
  // An IPv6 frame, decided whole at once: classify6(), then its connection (process()).
  Verdict ipv6(const Frame& f, PortCounters& pc, bool group);
  // classify() for an IPv6 frame (the general parser: the reference): true with `pend`
  // filled for a service or a later fragment, else `out` set.
  bool classify6(const Frame& f, Verdict& out, Pending6& pend, PortCounters& pc, bool group);
  // The common IPv6 frame (TCP or UDP right after the fixed header, a whole datagram, to
  // a service), checked and keyed with a few wide loads; true: `pend` filled as
  // classify6() fills it, false: let classify() decide. The burst path only: the
  // burst-equals-one-by-one tests hold the two together.
  template <bool kTagged>
  bool fast_ipv6(const Frame& f, uint64_t port_mac48, ServiceMemo6& memo, Pending6& pend);
  // The connection table, fragment cache of a key's family.
  FlowTable& table(const net::FlowKey&) { return conns_; }
  FlowTable6& table(const net::FlowKey6&) { return *conns6_; }
  FragCache<net::FlowKey>& frags(const net::FlowKey&) { return *frags_; }
  FragCache<net::FlowKey6>& frags(const net::FlowKey6&) { return *frags6_; }
  template <class Pd>
  Verdict connection(const Frame& f, PortCounters& pc, const Pd& pend);
  template <class Pd>
  Verdict schedule(const Frame& f, PortCounters& pc, const Pd& pend);  // cold path
  template <class P>
  Verdict fragment(const Frame& f, PortCounters& pc, const P& p);
  template <class Pd>
  Verdict icmp_error(const Frame& f, PortCounters& pc, const Pd& pend);  // cold path
  Verdict send(const Frame& f, uint32_t rs_slot);
  static Verdict send(const Frame& f, const RsView& rv, RsCounters& rc);

  bool bound_ok(uint32_t slot, uint32_t gen) const {
    return slot < snap_->rs_count && snap_->rs_view[slot].live_gen == gen;
  }
  static net::FlowKey template_key(const ServiceTable& svc, const net::FlowKey& k);
  static net::FlowKey6 template_key(const ServiceTable& svc, const net::FlowKey6& k);
  template <class Key>
  uint32_t pick(const ServiceTable& svc, const Key& k, uint64_t h);
  // pick() for a service whose choice reads connection counts (ServiceTable::by_counts).
  template <class Key>
  uint32_t pick_by_counts(const ServiceTable& svc, const Key& k, uint64_t h);  // cold path
  uint32_t least_connections(const ServiceTable& svc);
  // A candidate's connections over every worker, less the slot's leftover.
  ConnGauges conns_of(const ServiceTable::Candidate& c) const;
  // IPVS's overload flag, evaluated with the RS's connections now (see overload_).
  bool overloaded(const ServiceTable::Candidate& c, int64_t total);
  bool overloaded(const ServiceTable::Candidate& c) {
    const ConnGauges n = conns_of(c);
    return overloaded(c, n.active + n.inactive);
  }
  // After binding a new connection to RS `slot` of a service with thresholds.
  void note_bound(const ServiceTable& svc, uint32_t slot);  // cold path
  // Where an rr/wrr service's sequence continues for this worker.
  struct RrCursor;
  RrCursor& cursor(const ServiceTable& svc);
  // The position a hash scheduler (sh, hash, mh) takes in a table of n > 0 entries.
  template <class Key>
  static uint32_t hash_pos(const ServiceTable& svc, const Key& k, uint64_t h, uint32_t n);
  template <class Key>
  uint32_t pick_persistent(const ServiceTable& svc, const Key& k, uint64_t h, uint32_t& tmpl);
  // scheduled: counts a new connection to the RS (not for what another director scheduled).
  template <class Key>
  void bind(BasicFlowEntry<Key>& e, uint32_t slot, bool scheduled = true);
  template <class Key>
  void release(const BasicFlowEntry<Key>& e);
  template <class Key>
  void touch_template(const BasicFlowEntry<Key>& e, const ServiceTable& svc);
  template <class Key>
  void change_state(BasicFlowTable<Key>& t, uint32_t idx, ConnState next, uint32_t timeout);  // keeps the RS gauges
  void announce(FlowEntry& e);               // a sync record for e (if sync.send)
  void announce(FlowEntry6&) {}              // IPv6 connections are not synchronised (yet)
  // Worth the other directors' memory: announced before, or established, UDP, a template
  // (also when it was made before a sync master started). Half-open TCP is not.
  template <class Entry>
  static bool syncable(const Entry& e) {
    return e.announced || state_is_active(e.state) || e.key.is_template();
  }
  // Announces e again once its last announcement is sync.refresh old, or half its
  // timeout (a short persistence or UDP timeout must not run out on the others first).
  template <class Entry>
  void refresh(Entry& e) {
    if (__builtin_expect(snap_->sync.send, 0) && syncable(e)) {
      const uint32_t half = e.timeout > 2 ? e.timeout / 2 : 1;
      if (now_ - e.synced >= (snap_->sync.refresh < half ? snap_->sync.refresh : half)) announce(e);
    }
  }

  // Round robin walks a service's sequence from where this worker left it, as long as
  // the table is the one it was walking (its serial); a new table starts afresh at
  // this worker's share of the sequence. Indexed by service slot; this worker's alone.
  struct RrCursor {
    uint32_t table = 0;  // ServiceTable::serial (0: none yet)
    uint32_t pos = 0;
  };

  uint32_t worker_;
  std::unique_ptr<RrCursor[]> cursors_;
  // IPVS's overload flag, this worker's own copy, by RS slot: the upper threshold the RS
  // was found overloaded under, 0: not overloaded. Every worker evaluates the same
  // global counts with the same rule (hysteresis) when it schedules, so the copies
  // agree but for counts read a moment apart.
  std::unique_ptr<uint32_t[]> overload_;
  std::vector<const RsCounters*> peers_;
  FlowTable& conns_;
  WorkerCounters& counters_;
  RsCounters* rs_counters_;
  const Snapshot* snap_ = nullptr;
  uint32_t now_ = 0;
  // The most RS slots a snapshot given to begin() had: every connection's slot is below
  // (a connection is bound to a slot of the snapshot of the time, and sync's adopt()
  // checks the same). Snapshots never have fewer slots than the one before them
  // (build_snapshot), so it is the current snapshot's count but after a build without
  // its predecessor.
  uint32_t rs_slots_seen_ = 0;
  const net::Header20Test header20_{};  // the fast path's IPv4 header checksum test
  const uint64_t flow_hash_multiplier_ = kFlowHashMultiplier;  // (as data: see flow_hash())
  uint32_t expired_at_ = ~0u;  // the clock at expire()'s last look (see expire)
  bool expire_more_ = false;   // ... which ran out of budget
  uint64_t tail_moves_seen_ = 0;  // both tables' tail_moves() after it
  std::unique_ptr<FlowTable6> conns6_;
  std::unique_ptr<FragCache<net::FlowKey>> frags_;
  std::unique_ptr<FragCache<net::FlowKey6>> frags6_;
  uint32_t sync_n_ = 0;
  SyncRecord sync_out_[kSyncOutMax];
};

}  // namespace drfwd::lb
