// The per-packet decision: Ethernet/IPv4/TCP/UDP in, verdict and rewritten Ethernet
// header out. One Forwarder per worker; it owns the worker's connection table and
// fragment cache and writes only that worker's counters. No allocation, no locks, no
// exceptions, no logging, no system calls.
#pragma once

#include <cstdint>
#include <memory>

#include "lb/counters.hpp"
#include "lb/flow_table.hpp"
#include "lb/snapshot.hpp"
#include "net/parse.hpp"

namespace drfwd::lb {

struct Verdict {
  enum class Action : uint8_t { kForward, kControl, kDrop };
  Action action = Action::kDrop;
  net::Drop drop = net::Drop::kNone;
  uint16_t port = 0;  // egress port for kForward
};

// A frame as the data path sees it.
struct Frame {
  uint8_t* data = nullptr;
  uint32_t seg_len = 0;  // bytes at `data`
  uint32_t pkt_len = 0;  // whole frame (multi-segment)
  uint16_t rx_port = 0;
  net::IpCsum ip_csum = net::IpCsum::kUnknown;
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
  // worker: this worker's index (selects its scheduler cursors). rs_counters: an array
  // of kMaxRsSlots owned by the caller.
  Forwarder(uint32_t worker, FlowTable& conns, WorkerCounters& counters, RsCounters* rs_counters);

  // Once per burst: the snapshot to use and the worker clock (seconds, monotonic).
  void begin(const Snapshot* snap, uint32_t now) {
    snap_ = snap;
    now_ = now;
  }

  Verdict process(const Frame& f);
  // The same for a burst, with the flow-table prefetch staged across packets.
  void process_burst(const Frame* frames, Verdict* out, uint32_t n);

  // Removes up to `budget` timed-out connections; returns how many.
  uint32_t expire(uint32_t budget);

  FlowTable& conns() { return conns_; }
  uint32_t now() const { return now_; }

 private:
  Verdict drop(PortCounters& pc, net::Drop d) {
    bump(pc.drops[static_cast<int>(d)]);
    return Verdict{Verdict::Action::kDrop, d, 0};
  }
  // Counted by the caller once the control core has the packet (its ring may be full).
  static Verdict to_control() { return Verdict{Verdict::Action::kControl, net::Drop::kNone, 0}; }
  Verdict connection(const Frame& f, PortCounters& pc, const net::Parsed& p,
                     const ServiceTable& svc);
  Verdict fragment(const Frame& f, PortCounters& pc, const net::Parsed& p);
  Verdict send(const Frame& f, uint32_t rs_slot);

  bool bound_ok(uint32_t slot, uint32_t gen) const {
    return slot < snap_->rs.size() && snap_->rs[slot].gen == gen && snap_->rs[slot].reachable;
  }
  uint32_t pick(const ServiceTable& svc, const net::FlowKey& k, uint64_t h);
  uint32_t pick_persistent(const ServiceTable& svc, const net::FlowKey& k, uint64_t h,
                           uint32_t& tmpl);
  void bind(FlowEntry& e, uint32_t slot);
  void release(const FlowEntry& e);
  void touch_template(const FlowEntry& e, const ServiceTable& svc);

  uint32_t worker_;
  FlowTable& conns_;
  WorkerCounters& counters_;
  RsCounters* rs_counters_;
  const Snapshot* snap_ = nullptr;
  uint32_t now_ = 0;
  std::unique_ptr<FragCache> frags_;
};

}  // namespace drfwd::lb
