#include "lb/forwarder.hpp"

#include <cstring>

#include "lb/hash.hpp"

namespace drfwd::lb {

using net::Drop;
using net::FrameKind;

uint32_t FragCache::slot(const net::Parsed& p) {
  return static_cast<uint32_t>(
             mix64(uint64_t{p.key.src} << 32 ^ p.key.dst ^ uint64_t{p.ip_id} << 8 ^ p.key.proto)) &
         (kSize - 1);
}

Forwarder::Forwarder(uint32_t worker, FlowTable& conns, WorkerCounters& counters,
                     RsCounters* rs_counters)
    : worker_(worker),
      conns_(conns),
      counters_(counters),
      rs_counters_(rs_counters),
      frags_(std::make_unique<FragCache>()) {}

void Forwarder::process_burst(const Frame* frames, Verdict* out, uint32_t n) {
  // Headers of the whole burst first: the driver wrote them, they may not be cached.
  for (uint32_t i = 0; i < n; ++i) __builtin_prefetch(frames[i].data);
  for (uint32_t i = 0; i < n; ++i) out[i] = process(frames[i]);
}

Verdict Forwarder::process(const Frame& f) {
  if (__builtin_expect(f.rx_port >= snap_->n_ports, 0)) return Verdict{};  // not configured
  PortCounters& pc = counters_.port[f.rx_port];
  if (__builtin_expect(f.seg_len < net::kEtherHdrLen, 0)) return drop(pc, Drop::kRunt);
  if (__builtin_expect(f.seg_len != f.pkt_len, 0)) return drop(pc, Drop::kOversize);

  const uint8_t* d = f.data;
  const bool group = (d[0] & 1) != 0;
  if (!group && std::memcmp(d, snap_->ports[f.rx_port].mac, 6) != 0)
    return drop(pc, Drop::kNotOurMac);
  if ((d[6] & 1) || (d[6] | d[7] | d[8] | d[9] | d[10] | d[11]) == 0)
    return drop(pc, Drop::kBadSrcMac);

  const net::Parsed p = net::parse_frame(d, f.seg_len, f.pkt_len, f.ip_csum);
  switch (p.kind) {
    case FrameKind::kDrop:
      return drop(pc, p.drop);
    case FrameKind::kArp:
      return to_control();
    case FrameKind::kIpv4L4:
      if (__builtin_expect(!group, 1)) {
        if (const ServiceTable* svc = snap_->find(p.key.dst, p.key.dport, p.key.proto))
          return connection(f, pc, p, *svc);
      }
      break;
    case FrameKind::kIpv4Frag:
      if (!group && !snap_->is_local(p.key.dst)) return fragment(f, pc, p);
      break;
    case FrameKind::kIpv4Other:
      break;
  }
  // Not for a service: the appliance's own traffic (its DIPs, and IPv4 to a group
  // address) goes to the control core; anything else is dropped.
  if (group || snap_->is_local(p.key.dst)) return to_control();
  return drop(pc, Drop::kNoService);
}

Verdict Forwarder::connection(const Frame& f, PortCounters& pc, const net::Parsed& p,
                              const ServiceTable& svc) {
  const net::FlowKey& key = p.key;
  const uint64_t h = flow_hash(key);
  const bool tcp = key.proto == net::kProtoTcp;
  bool resched = false;

  uint32_t idx = conns_.find(key, h);
  if (idx != kNil) {
    FlowEntry& e = conns_.at(idx);
    if (!FlowTable::expired(e, now_) && bound_ok(e.rs_slot, e.rs_gen)) {
      // Established path: same RS, state and idle timer follow the packet.
      if (e.last_seen != now_ && e.tmpl != kNil) touch_template(e, svc);
      const ConnState next = tcp ? tcp_next_state(e.state, p.tcp_flags) : ConnState::kUdp;
      if (next != e.state) {
        if (e.counted && state_is_active(e.state) != state_is_active(next)) {
          RsCounters& rc = rs_counters_[e.rs_slot];
          const int64_t to_active = state_is_active(next) ? 1 : -1;
          bump(rc.active, to_active);
          bump(rc.inactive, -to_active);
        }
        conns_.set_state(idx, next, snap_->timeouts.get(next), now_);
      } else {
        e.timeout = snap_->timeouts.get(next);
        conns_.touch(idx, now_);
      }
      if (p.fragment) frags_->record(p, e.rs_slot, e.rs_gen, now_);
      return send(f, e.rs_slot);
    }
    // Timed out, or its RS left, failed or lost its neighbour: schedule afresh.
    resched = !FlowTable::expired(e, now_);
    release(e);
    conns_.erase(idx);
  }

  uint32_t tmpl = kNil;
  const uint32_t slot = svc.persist ? pick_persistent(svc, key, h, tmpl) : pick(svc, key, h);
  if (slot == kNil) return drop(pc, svc.empty_reason);

  const ConnState state = tcp ? tcp_next_state(ConnState::kTcpNone, p.tcp_flags) : ConnState::kUdp;
  idx = conns_.insert(key, h, state, snap_->timeouts.get(state), now_, [this](const FlowEntry& v) {
    release(v);
    bump(counters_.conn_evicted);
  });
  FlowEntry& e = conns_.at(idx);
  e.tmpl = tmpl;
  bind(e, slot);
  bump(resched ? counters_.conn_resched : counters_.conn_new);
  if (p.fragment) frags_->record(p, slot, e.rs_gen, now_);
  return send(f, slot);
}

Verdict Forwarder::fragment(const Frame& f, PortCounters& pc, const net::Parsed& p) {
  const FragCache::Entry* e = frags_->find(p, now_);
  if (!e || !bound_ok(e->rs_slot, e->rs_gen)) return drop(pc, Drop::kFragOrphan);
  bump(counters_.frag_forwarded);
  return send(f, e->rs_slot);
}

Verdict Forwarder::send(const Frame& f, uint32_t rs_slot) {
  const RsView& rv = snap_->rs[rs_slot];
  std::memcpy(f.data, rv.mac, 6);
  std::memcpy(f.data + 6, snap_->ports[rv.port].mac, 6);
  RsCounters& rc = rs_counters_[rs_slot];
  bump(rc.packets);
  bump(rc.bytes, f.pkt_len);
  return Verdict{Verdict::Action::kForward, Drop::kNone, rv.port};
}

uint32_t Forwarder::pick(const ServiceTable& svc, const net::FlowKey& k, uint64_t h) {
  const uint32_t n = static_cast<uint32_t>(svc.table.size());
  if (n == 0) return kNil;
  uint32_t i;
  switch (svc.sched) {
    case Sched::kRr:
    case Sched::kWrr: {
      uint32_t& c = svc.cursors[worker_].pos;
      if (c >= n) c = 0;
      i = svc.table[c];
      c = (c + 1 == n) ? 0 : c + 1;
      break;
    }
    case Sched::kSh:
      i = svc.table[hash_range(source_hash(k.src, (svc.flags & kFlagShPort) ? k.sport : 0), n)];
      break;
    case Sched::kHash:
    case Sched::kMh:
    default:
      i = svc.table[hash_range(h, n)];
      break;
  }
  return svc.usable[i];
}

// ipvsadm -p: the client's (masked) address keeps its RS while the template lives.
// A template whose RS stopped taking new connections (drained, down, gone) is pointed
// at a freshly scheduled RS instead.
uint32_t Forwarder::pick_persistent(const ServiceTable& svc, const net::FlowKey& k, uint64_t h,
                                    uint32_t& tmpl) {
  net::FlowKey tk;
  tk.src = k.src & svc.persist_mask_be;
  tk.dst = k.dst;
  tk.dport = k.dport;
  tk.proto = k.proto;
  tk.kind = 1;
  const uint64_t th = flow_hash(tk);
  uint32_t t = conns_.find(tk, th);
  if (t != kNil) {
    FlowEntry& te = conns_.at(t);
    const bool live = !FlowTable::expired(te, now_) && te.rs_slot < snap_->rs.size() &&
                      snap_->rs[te.rs_slot].gen == te.rs_gen && snap_->rs[te.rs_slot].accepting;
    if (live) {
      te.timeout = svc.persist;
      conns_.touch(t, now_);
      tmpl = t;
      return te.rs_slot;
    }
    release(te);
    conns_.erase(t);
  }
  const uint32_t slot = pick(svc, k, h);
  if (slot == kNil) return kNil;
  t = conns_.insert(tk, th, ConnState::kTemplate, svc.persist, now_, [this](const FlowEntry& v) {
    release(v);
    bump(counters_.conn_evicted);
  });
  bind(conns_.at(t), slot);
  bump(counters_.tmpl_new);
  tmpl = t;
  return slot;
}

// A connection's packets keep its template alive (checked: the template may have been
// evicted and its entry reused since).
void Forwarder::touch_template(const FlowEntry& e, const ServiceTable& svc) {
  FlowEntry& te = conns_.at(e.tmpl);
  if (te.in_use && te.key.kind == 1 && te.key.dst == e.key.dst && te.key.dport == e.key.dport &&
      te.key.proto == e.key.proto && (e.key.src & svc.persist_mask_be) == te.key.src &&
      te.rs_slot == e.rs_slot && te.rs_gen == e.rs_gen)
    conns_.touch(e.tmpl, now_);
}

void Forwarder::bind(FlowEntry& e, uint32_t slot) {
  e.rs_slot = slot;
  e.rs_gen = snap_->rs[slot].gen;
  e.counted = 1;
  RsCounters& rc = rs_counters_[slot];
  if (e.key.kind == 1) {
    bump(rc.persist, 1);
  } else {
    bump(rc.conns);
    bump(state_is_active(e.state) ? rc.active : rc.inactive, 1);
  }
}

// Undo bind()'s gauges, if the RS slot still has the generation the entry counted in
// (a reused slot was re-baselined by the control core when it was handed out again).
void Forwarder::release(const FlowEntry& e) {
  if (!e.counted || e.rs_slot >= snap_->rs.size() || snap_->rs[e.rs_slot].gen != e.rs_gen) return;
  RsCounters& rc = rs_counters_[e.rs_slot];
  if (e.key.kind == 1)
    bump(rc.persist, -1);
  else
    bump(state_is_active(e.state) ? rc.active : rc.inactive, -1);
}

uint32_t Forwarder::expire(uint32_t budget) {
  return conns_.expire(now_, budget, [this](const FlowEntry& e) {
    release(e);
    bump(counters_.conn_expired);
  });
}

}  // namespace drfwd::lb
