#include "lb/snapshot.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <stdexcept>
#include <unordered_map>

#include "lb/hash.hpp"
#include "net/bytes.hpp"
#include "lb/maglev.hpp"
#include "lb/wrr.hpp"
#include "net/vlan.hpp"

namespace drfwd::lb {

namespace {

// Only what the scheduler depends on: RS MACs and egress ports live in RsView, so a
// neighbour change does not rebuild the table unless it changes who is usable.
bool same_schedule(const ServiceSpec& a, const ServiceSpec& b) {
  if (a.slot != b.slot || a.gen != b.gen || a.key != b.key || a.params != b.params || a.rs.size() != b.rs.size() ||
      a.sorry_mode() != b.sorry_mode())
    return false;
  for (size_t i = 0; i < a.rs.size(); ++i) {
    const RsSpec &x = a.rs[i], &y = b.rs[i];
    if (x.slot != y.slot || x.gen != y.gen || x.ip != y.ip || x.weight != y.weight || x.sorry != y.sorry ||
        x.accepting() != y.accepting() || x.reachable() != y.reachable() || x.thresholds != y.thresholds ||
        x.leftover != y.leftover)
      return false;
  }
  return true;
}

}  // namespace

uint64_t backend_id(const net::IpAddr& ip, uint16_t port) {
  if (ip.is_v4()) return uint64_t{ip.v4().value} << 16 | port;  // as before IPv6: tables unchanged
  uint64_t hi, lo;
  std::memcpy(&hi, ip.v6().bytes.data(), 8);
  std::memcpy(&lo, ip.v6().bytes.data() + 8, 8);
  return mix64(mix64(__builtin_bswap64(hi)) ^ __builtin_bswap64(lo)) ^ port;  // byte order fixed: every director agrees
}

std::shared_ptr<ServiceTable> build_service_table(const ServiceSpec& spec) {
  auto t = std::make_shared<ServiceTable>();
  t->spec = spec;
  if (spec.key.vip.is_v4()) {
    t->persist_mask_be = __builtin_bswap32(net::Prefix{spec.key.vip.v4(), spec.params.persist_mask}.mask());
  } else {
    uint8_t m[16] = {};
    for (uint32_t b = 0; b < spec.params.persist_mask && b < 128; ++b) m[b / 8] |= static_cast<uint8_t>(0x80 >> (b % 8));
    std::memcpy(&t->persist_mask6[0], m, 8);
    std::memcpy(&t->persist_mask6[1], m + 8, 8);
  }

  // Canonical order (by address) so tables depend on the RS set, not on add order.
  std::vector<const RsSpec*> usable;
  bool any_weighted_healthy = false;
  const bool sorry = spec.sorry_mode();
  for (const RsSpec& r : spec.rs) {
    if (r.weight > 0 && r.healthy() && r.sorry == sorry) any_weighted_healthy = true;
    if (spec.takes_new(r, sorry)) usable.push_back(&r);
  }
  std::sort(usable.begin(), usable.end(), [](auto* a, auto* b) { return a->ip < b->ip; });
  t->empty_reason = any_weighted_healthy ? net::Drop::kNoNeighbour : net::Drop::kNoRs;
  for (const RsSpec* r : usable) {
    t->usable.push_back(r->slot);
    t->candidates.push_back({r->slot, r->weight, r->thresholds, r->leftover});
    t->any_threshold |= r->thresholds.upper != 0;
  }
  t->by_counts = sched_is_least(spec.params.sched) || t->any_threshold;

  const size_t n = usable.size();
  if (n > 0) {
    switch (spec.params.sched) {
      case Sched::kRr:
        for (size_t i = 0; i < n; ++i) t->table.push_back(static_cast<uint16_t>(i));
        break;
      case Sched::kWrr:
      case Sched::kHash: {
        std::vector<uint32_t> w;
        for (const RsSpec* r : usable) w.push_back(r->weight);
        t->table = wrr_sequence(w);
        break;
      }
      case Sched::kSh:
      case Sched::kMh: {
        std::vector<MaglevBackend> b;
        for (const RsSpec* r : usable)
          b.push_back({backend_id(r->ip, spec.key.port), r->weight});
        t->table = maglev_build(b, spec.params.mh_size);
        break;
      }
      case Sched::kLc:
      case Sched::kWlc:
      case Sched::kSed:
      case Sched::kNq:
        break;  // no table: each new connection walks the candidates
    }
  }

  static std::atomic<uint32_t> serials{0};
  t->serial = serials.fetch_add(1, std::memory_order_relaxed) + 1;
  return t;
}

namespace {

// Open-addressing tables at most half full: the slot count and its log2.
std::pair<size_t, uint32_t> half_full(size_t entries) {
  size_t slots = 16;
  uint32_t bits = 4;
  while (slots < entries * 2) {
    slots <<= 1;
    ++bits;
  }
  return {slots, bits};
}

void add_ports(Snapshot& snap, const std::vector<PortSpec>& ports) {
  snap.n_ports = static_cast<uint32_t>(ports.size());
  snap.vlans.assign(ports.size() * Snapshot::kVlanWords, 0);
  for (size_t p = 0; p < ports.size(); ++p) {
    std::copy(ports[p].mac.bytes.begin(), ports[p].mac.bytes.end(), snap.ports[p].mac);
    if (ports[p].address) snap.dips.push_back(ports[p].address->addr.be());
    snap.dips6.insert(snap.dips6.end(), ports[p].dips6.begin(), ports[p].dips6.end());
    // The port's link-local address is its own too (drfwd answers solicitations for it;
    // its kernel interface, of the same MAC, holds it): OSPFv3, BGP over link-local.
    snap.dips6.push_back(net::link_local(ports[p].mac));
    for (auto& [vid, prefix] : ports[p].vlans) {
      if (vid == 0 || vid > net::kMaxVid) throw std::invalid_argument("VLAN id out of range");
      snap.vlans[p * Snapshot::kVlanWords + (vid >> 6)] |= uint64_t{1} << (vid & 63);
      snap.vlan_ports |= 1u << p;
      snap.dips.push_back(prefix.addr.be());
    }
    uint64_t m = 0;
    std::memcpy(&m, snap.ports[p].mac, 6);
    snap.ports[p].mac48 = m;
  }
}

void index_service(Snapshot& snap, const ServiceSpec& s, const ServiceTable* table) {
  if (!s.key.vip.is_v4()) {
    Snapshot::IndexSlot6 e;
    std::memcpy(&e.hi, s.key.vip.v6().bytes.data(), 8);
    std::memcpy(&e.lo, s.key.vip.v6().bytes.data() + 8, 8);
    e.port_proto = uint32_t{__builtin_bswap16(s.key.port)} << 8 | s.key.proto;
    e.svc = table;
    uint64_t i = Snapshot::service_hash6(e.hi, e.lo, e.port_proto) >> snap.index6_shift;
    while (snap.index6[i].svc) {
      const auto& o = snap.index6[i];
      if (o.hi == e.hi && o.lo == e.lo && o.port_proto == e.port_proto) throw std::invalid_argument("duplicate service in spec");
      i = (i + 1) & snap.index6_mask;
    }
    snap.index6[i] = e;
    return;
  }
  const uint64_t key = Snapshot::service_key(s.key.vip.v4().be(), __builtin_bswap16(s.key.port), s.key.proto);
  uint64_t i = snap.index_slot(key);
  while (snap.index[i].key != 0) {
    if (snap.index[i].key == key) throw std::invalid_argument("duplicate service in spec");
    i = (i + 1) & snap.index_mask;
  }
  snap.index[i] = {key, table};
}

void add_real_servers(Snapshot& snap, const ServiceSpec& s) {
  const bool sorry = s.sorry_mode();
  for (const RsSpec& r : s.rs) {
    RsView& v = snap.rs[r.slot];
    if (v.service != RsView::kNil32) throw std::invalid_argument("RS slot used twice");
    if (r.gen == 0) throw std::invalid_argument("RS generation 0 is reserved");
    if (r.mac) std::copy(r.mac->bytes.begin(), r.mac->bytes.end(), v.l2);
    const bool known = r.port < snap.n_ports;
    if (r.vlan != 0 && (!known || r.vlan > net::kMaxVid || !snap.vlan_known(r.port, r.vlan)))
      throw std::invalid_argument("RS on a VLAN its port has no interface for");
    if (known) std::memcpy(v.l2 + 6, snap.ports[r.port].mac, 6);
    v.port = known ? static_cast<uint8_t>(r.port) : RsView::kNoPort8;
    v.vlan = known ? r.vlan : 0;
    v.gen = r.gen;
    v.ip_be = r.ip.is_v4() ? r.ip.v4().be() : 0;
    v.service = s.slot;
    const bool reachable = r.reachable() && known;
    v.accepting = s.takes_new(r, sorry) && reachable ? 1 : 0;
    v.live_gen = reachable ? r.gen : 0;
    v.forward = RsView::forward_word(v.port, v.vlan);
  }
}

// The set of real-server addresses (every configured RS, whatever its state).
void add_server_set(Snapshot& snap) {
  const auto [slots, bits] = half_full(snap.rs.size());
  snap.servers.assign(slots, 0);
  snap.servers_mask = slots - 1;
  snap.servers_shift = 64 - bits;
  for (const RsView& v : snap.rs) {
    if (v.service == RsView::kNil32 || v.ip_be == 0) continue;
    uint64_t i = (uint64_t{v.ip_be} * 0x9e3779b97f4a7c15ULL) >> snap.servers_shift;
    while (snap.servers[i] != 0 && snap.servers[i] != v.ip_be) i = (i + 1) & snap.servers_mask;
    snap.servers[i] = v.ip_be;
  }
}

}  // namespace

std::shared_ptr<Snapshot> build_snapshot(const SnapshotSpec& spec, const Snapshot* prev) {
  if (spec.ports.size() > kMaxPorts) throw std::invalid_argument("too many ports");
  if (spec.workers == 0) throw std::invalid_argument("no workers");
  auto snap = std::make_shared<Snapshot>();
  snap->version = prev ? prev->version + 1 : 1;
  snap->workers = spec.workers;
  snap->timeouts = spec.timeouts;
  snap->sync = spec.sync;
  snap->sync_port_be = net::hton16(spec.sync.port);
  add_ports(*snap, spec.ports);

  uint32_t max_rs_slot = 0;
  for (const ServiceSpec& s : spec.services)
    for (const RsSpec& r : s.rs) max_rs_slot = std::max(max_rs_slot, r.slot + 1);
  if (max_rs_slot > kMaxRsSlots) throw std::invalid_argument("RS slot out of range");
  // Never fewer slots than the snapshot before (a slot no RS has now is an empty view):
  // every connection the workers hold names a slot of a snapshot they had, so its view
  // is there, and the data path reads it without a bound check (Forwarder::begin()).
  snap->rs.resize(std::max<size_t>(max_rs_slot, prev ? prev->rs.size() : 0));
  const auto [index_size, bits] = half_full(spec.services.size());
  snap->index.resize(index_size);
  snap->index_mask = index_size - 1;
  snap->index_shift = 64 - bits;
  const size_t v6 = static_cast<size_t>(std::count_if(spec.services.begin(), spec.services.end(),
                                                      [](const ServiceSpec& s) { return !s.key.vip.is_v4(); }));
  snap->has_v6 = v6 > 0;
  const auto [index6_size, bits6] = half_full(v6);
  snap->index6.resize(index6_size);
  snap->index6_mask = index6_size - 1;
  snap->index6_shift = 64 - bits6;

  // A service whose scheduling inputs did not change keeps its table object.
  std::unordered_map<uint32_t, const std::shared_ptr<const ServiceTable>*> previous;
  if (prev)
    for (const auto& s : prev->services) previous.emplace(s->spec.slot, &s);
  for (const ServiceSpec& s : spec.services) {
    if (s.slot >= kMaxServiceSlots) throw std::invalid_argument("service slot out of range");  // indexes worker arrays
    auto it = previous.find(s.slot);
    const bool same = it != previous.end() && same_schedule((*it->second)->spec, s);
    snap->services.push_back(same ? *it->second : build_service_table(s));
    index_service(*snap, s, snap->services.back().get());
    add_real_servers(*snap, s);
  }
  add_server_set(*snap);
  for (const ServiceSpec& s : spec.services)
    for (const RsSpec& r : s.rs)
      if (!r.ip.is_v4()) snap->servers6.push_back(r.ip.v6());
  std::sort(snap->servers6.begin(), snap->servers6.end());
  snap->servers6.erase(std::unique(snap->servers6.begin(), snap->servers6.end()), snap->servers6.end());
  snap->rs_view = snap->rs.data();
  snap->rs_count = static_cast<uint32_t>(snap->rs.size());
  return snap;
}

}  // namespace drfwd::lb
