// The per-packet decision: Ethernet/IPv4/TCP/UDP in, verdict and rewritten Ethernet
// header out. One Forwarder per worker; it owns the worker's connection table and
// fragment cache and writes only that worker's counters. No allocation, no locks, no
// exceptions, no logging, no system calls.
#pragma once

#include <cstdint>
#include <memory>
#include <type_traits>

#include "lb/counters.hpp"
#include "lb/flow_table.hpp"
#include "lb/handoff.hpp"
#include "lb/snapshot.hpp"
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
  uint16_t vlan;  // egress VLAN for kForward (0: untagged); the caller tags the frame
};

static_assert(std::is_trivial_v<Verdict>);

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
// old entry, which only costs that old datagram its remaining fragments.
class FragCache {
 public:
  static constexpr uint32_t kSize = 4096;
  static constexpr uint32_t kLifetime = 10;  // seconds

  struct Entry {
    uint32_t src = 0, dst = 0;
    uint16_t id = 0;
    uint8_t proto = 0;
    uint8_t used = 0;
    uint32_t rs_slot = 0, rs_gen = 0;
    uint32_t born = 0;
  };

  void record(const net::Parsed& p, uint32_t rs_slot, uint32_t rs_gen, uint32_t now) {
    Entry& e = table_[slot(p)];
    e = Entry{p.key.src, p.key.dst, p.ip_id, p.key.proto, 1, rs_slot, rs_gen, now};
  }
  const Entry* find(const net::Parsed& p, uint32_t now) const {
    const Entry& e = table_[slot(p)];
    if (!e.used || e.src != p.key.src || e.dst != p.key.dst || e.id != p.ip_id ||
        e.proto != p.key.proto || now - e.born > kLifetime)
      return nullptr;
    return &e;
  }

 private:
  static uint32_t slot(const net::Parsed& p);
  Entry table_[kSize];
};

class Forwarder {
 public:
  static constexpr uint32_t kMaxBurst = kBurst;  // process_burst takes at most this many
  // worker: this worker's index (where its round robin starts). rs_counters: an array
  // of kMaxRsSlots owned by the caller.
  Forwarder(uint32_t worker, FlowTable& conns, WorkerCounters& counters, RsCounters* rs_counters);

  // Once per burst: the snapshot to use and the worker clock (seconds, monotonic).
  void begin(const Snapshot* snap, uint32_t now) {
    snap_ = snap;
    now_ = now;
  }
  const Snapshot* snapshot() const { return snap_; }

  Verdict process(const Frame& f);
  // The same for a burst (n <= kMaxBurst) received on one port, with the flow-table
  // prefetch staged across packets. Verdicts are identical to calling process() on
  // each frame in order.
  void process_burst(const Frame* frames, Verdict* out, uint32_t n);

  // Removes up to `budget` timed-out connections; returns how many.
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
  uint32_t now() const { return now_; }

 private:
  Verdict drop(PortCounters& pc, net::Drop d) {
    bump(pc.drops[static_cast<int>(d)]);
    return Verdict{Verdict::Action::kDrop, d, 0, ExcClass::kOther, 0};
  }
  // Counted by the caller once the control core has the packet (its ring may be full).
  static Verdict to_control(ExcClass c) { return Verdict{Verdict::Action::kControl, net::Drop::kNone, 0, c, 0}; }
  // What the first pass learns about a frame headed for a service.
  struct Pending {  // trivial: a burst's worth is declared per burst
    net::Parsed parsed;
    const ServiceTable* svc;  // null: a non-first fragment, decided by the fragment cache
    uint64_t hash;
    uint32_t idx;
  };
  // Everything that needs no per-worker state; returns true (and fills `pend`) when the
  // frame belongs to a service or is a fragment that may follow one (both decided in
  // order, after the lookups), otherwise sets `out`.
  bool classify(const Frame& f, Verdict& out, Pending& pend);
  // The common frame, checked and keyed with a few wide loads; false: let classify()
  // decide (it is the reference and handles every case).
  // kTagged: the burst has frames that came on a VLAN (each is checked against the
  // port's VLANs); a burst of untagged frames does without the check.
  template <bool kTagged>
  bool fast_classify(const Frame& f, uint64_t port_mac48, Pending& pend);
  template <bool kTagged>
  void process_burst(const Frame* frames, Verdict* out, uint32_t n);
  Verdict connection(const Frame& f, PortCounters& pc, const Pending& pend);
  Verdict schedule(const Frame& f, PortCounters& pc, const Pending& pend);  // cold path
  Verdict fragment(const Frame& f, PortCounters& pc, const net::Parsed& p);
  Verdict icmp_error(const Frame& f, PortCounters& pc, const Pending& pend);  // cold path
  Verdict send(const Frame& f, uint32_t rs_slot);

  bool bound_ok(uint32_t slot, uint32_t gen) const {
    return slot < snap_->rs_count && snap_->rs_view[slot].live_gen == gen;
  }
  static net::FlowKey template_key(const ServiceTable& svc, const net::FlowKey& k);
  uint32_t pick(const ServiceTable& svc, const net::FlowKey& k, uint64_t h);
  uint32_t pick_persistent(const ServiceTable& svc, const net::FlowKey& k, uint64_t h,
                           uint32_t& tmpl);
  // scheduled: counts a new connection to the RS (not for what another director scheduled).
  void bind(FlowEntry& e, uint32_t slot, bool scheduled = true);
  void release(const FlowEntry& e);
  void touch_template(const FlowEntry& e, const ServiceTable& svc);
  void change_state(uint32_t idx, ConnState next, uint32_t timeout);  // keeps the RS gauges
  void announce(FlowEntry& e);               // a sync record for e (if sync.send)
  // Worth the other directors' memory: announced before, or established, UDP, a template
  // (also when it was made before a sync master started). Half-open TCP is not.
  static bool syncable(const FlowEntry& e) {
    return e.announced || state_is_active(e.state) || e.key.is_template();
  }
  // Announces e again once its last announcement is sync.refresh old, or half its
  // timeout (a short persistence or UDP timeout must not run out on the others first).
  void refresh(FlowEntry& e) {
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
  FlowTable& conns_;
  WorkerCounters& counters_;
  RsCounters* rs_counters_;
  const Snapshot* snap_ = nullptr;
  uint32_t now_ = 0;
  std::unique_ptr<FragCache> frags_;
  uint32_t sync_n_ = 0;
  SyncRecord sync_out_[kSyncOutMax];
};

}  // namespace drfwd::lb
