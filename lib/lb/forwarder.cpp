#include "lb/forwarder.hpp"

#include <cstring>

#if defined(__SSE4_1__)
#include <smmintrin.h>
#endif

#include "lb/hash.hpp"

namespace drfwd::lb {

using net::Drop;
using net::FrameKind;

template <class Key>
uint32_t FragCache<Key>::slot(const Key& d, uint32_t id) {
  return static_cast<uint32_t>(mix64(flow_hash(d) ^ id)) & (kSize - 1);
}

Forwarder::Forwarder(uint32_t worker, FlowTable& conns, WorkerCounters& counters, RsCounters* rs_counters,
                     uint32_t conns6_capacity, FlowMemory mem6)
    : worker_(worker),
      cursors_(std::make_unique<RrCursor[]>(kMaxServiceSlots)),
      overload_(std::make_unique<uint32_t[]>(kMaxRsSlots)),
      peers_{rs_counters},
      conns_(conns),
      counters_(counters),
      rs_counters_(rs_counters),
      conns6_(std::make_unique<FlowTable6>(conns6_capacity, mem6)),
      frags_(std::make_unique<FragCache<net::FlowKey>>()),
      frags6_(std::make_unique<FragCache<net::FlowKey6>>()) {}

#define DRFWD_HOT [[gnu::always_inline]] inline
#define DRFWD_COLD [[gnu::noinline, gnu::cold]]
#define DRFWD_LAMBDA_HOT __attribute__((always_inline))

namespace {

// The fast classifiers' Ethernet tests, on a frame's first 16 bytes (at least that many
// at d). With SSE4.1, one 16-byte load and a PTEST each; the patterns depend on the port
// only, and GCC keeps them in registers across a burst.
class EthernetHead {
 public:
  explicit EthernetHead(const uint8_t* d)
#if defined(__SSE4_1__)
      : v_(_mm_loadu_si128(reinterpret_cast<const __m128i*>(d))) {
  }
#else
      : a_(net::load64(d)), b_(net::load64(d + 8)) {
  }
#endif
  // The destination is this port's unicast MAC (port_mac48: the MAC as the low 48 bits of
  // a little-endian load), the source has no group bit, and bytes 8-15 loaded as one word
  // are `tail` where `tail_mask` has bits (EtherType and the IP header's first byte, or
  // its version).
  bool to_port(uint64_t port_mac48, uint64_t tail, uint64_t tail_mask) const {
#if defined(__SSE4_1__)
    const __m128i want = _mm_set_epi64x(static_cast<int64_t>(tail), static_cast<int64_t>(port_mac48));
    const __m128i care = _mm_set_epi64x(static_cast<int64_t>(tail_mask), static_cast<int64_t>(kDstGroupSrc));
    return _mm_testz_si128(_mm_xor_si128(v_, want), care);
#else
    return (((a_ ^ port_mac48) & kDstGroupSrc) | ((b_ ^ tail) & tail_mask)) == 0;
#endif
  }
  // The source MAC is all zeros.
  bool zero_source() const {
#if defined(__SSE4_1__)
    return _mm_testz_si128(v_, _mm_set_epi64x(static_cast<int64_t>(kSrcHigh), static_cast<int64_t>(kSrcLow)));
#else
    return ((a_ & kSrcLow) | (b_ & kSrcHigh)) == 0;
#endif
  }

 private:
  // The destination and the source's group bit; the source in bytes 6-7 and 8-11.
  static constexpr uint64_t kDstGroupSrc = net::kMac48 | uint64_t{1} << 48;
  static constexpr uint64_t kSrcLow = uint64_t{0xffff} << 48, kSrcHigh = 0xffffffff;
#if defined(__SSE4_1__)
  __m128i v_;
#else
  uint64_t a_, b_;
#endif
};

// The destination address (in the first word), the port and the protocol (in the
// second) of the key w0, w1 are those of memo_key, which name a service.
constexpr uint64_t kServiceLo = 0xffffffff00000000ull, kServiceHi = 0xffffffff0000ull;
DRFWD_HOT bool same_service(uint64_t w0, uint64_t w1, const uint64_t (&memo_key)[2]) {
  return (((w0 ^ memo_key[0]) & kServiceLo) | ((w1 ^ memo_key[1]) & kServiceHi)) == 0;
}

// Stores the key (its two words) at `key`; true when the destination address (in the
// first word), the port and the protocol (in the second) are those of memo_key, which
// name a service. With SSE4.1 the key is one register, stored whole and compared under
// the mask.
DRFWD_HOT bool store_key_same_service(net::FlowKey& key, uint64_t w0, uint64_t w1, const uint64_t (&memo_key)[2]) {
#if defined(__SSE4_1__)
  const __m128i k = _mm_set_epi64x(static_cast<int64_t>(w1), static_cast<int64_t>(w0));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(&key), k);
  return _mm_testz_si128(_mm_xor_si128(k, _mm_load_si128(reinterpret_cast<const __m128i*>(memo_key))),
                         _mm_set_epi64x(static_cast<int64_t>(kServiceHi), static_cast<int64_t>(kServiceLo)));
#else
  std::memcpy(&key, &w0, 8);
  std::memcpy(reinterpret_cast<uint8_t*>(&key) + 8, &w1, 8);
  return same_service(w0, w1, memo_key);
#endif
}

}  // namespace

// Accepts exactly the frames classify() would send to connection() with a 20-byte IPv4
// header and no fragmentation, producing the same key (the burst-equivalence unit test
// holds the two together); everything else returns kNo.
template <bool kTagged>
DRFWD_HOT Forwarder::Fast Forwarder::fast_classify(const Frame& f, uint64_t port_mac48, ServiceMemo& memo, Pending& pend) {
  using net::load32;
  using net::load64;
  // Ethernet, a 20-byte IPv4 header and 20 bytes of TCP or UDP (every TCP segment; a UDP
  // datagram in a frame under 54 bytes, which Ethernet pads to 60, takes the general path).
  constexpr uint32_t kMin = net::kEtherHdrLen + net::kIpv4MinHdrLen + net::kTcpMinHdrLen;
  if (__builtin_expect(f.seg_len != f.pkt_len || f.seg_len < kMin, 0)) return Fast::kNo;
  const uint8_t* d = f.data;
  // Ethernet: this port's unicast MAC, from a unicast source that is not zero; IPv4 with
  // a 20-byte header (EtherType 08 00, version/IHL 45), no MF flag or offset. (classify()
  // checks the same Ethernet rules byte by byte: a frame there may be as short as an
  // Ethernet header, too short for these loads.) (In this order GCC keeps the key's
  // first word in a register.)
  constexpr uint64_t kFragField = uint64_t{net::hton16(0x3fff)} << 48;
  const uint8_t* ip = d + net::kEtherHdrLen;
  const uint64_t i0 = load64(ip);  // IPv4 bytes 0-7
  const EthernetHead eth(d);
  if (!eth.to_port(port_mac48, uint64_t{0x450008} << 32, uint64_t{0xffffff} << 32) || (i0 & kFragField) != 0)
    return Fast::kNo;
  // (rx_port is known now; a VID above 4094 never comes from the worker, which masks it)
  if (kTagged && f.vlan != 0 && (f.vlan > net::kMaxVid || !snap_->vlan_known(f.rx_port, f.vlan))) return Fast::kNo;
  if (eth.zero_source()) return Fast::kNo;
  const uint64_t w0 = load64(ip + 12);  // the key's first word: source, destination
  // Total length within [28, the frame's IPv4 bytes] in one unsigned compare.
  const uint32_t tot_len = net::ntoh16(net::load16(ip + 2));
  constexpr uint32_t kLeast = net::kIpv4MinHdrLen + net::kUdpHdrLen;
  if (tot_len - kLeast > f.pkt_len - net::kEtherHdrLen - kLeast) return Fast::kNo;
  // The header checksum: the NIC's verdict (kBad above kGood, so one compare serves
  // both), else checked here.
  static_assert(net::IpCsum::kUnknown < net::IpCsum::kGood && net::IpCsum::kGood < net::IpCsum::kBad);
  if (f.ip_csum > net::IpCsum::kGood ||
      (f.ip_csum != net::IpCsum::kGood && !header20_.ok(i0, load64(ip + 8), load32(ip + 16))))
    return Fast::kNo;
  if (net::martian_source(static_cast<uint8_t>(w0))) return Fast::kNo;
  const uint8_t proto = ip[9];
  const uint8_t* l4 = ip + net::kIpv4MinHdrLen;
  const uint32_t l4_len = tot_len - net::kIpv4MinHdrLen;
  uint8_t flags = 0;
  if (proto == net::kProtoTcp) {
    if (!net::tcp_offset_ok(l4, l4_len)) return Fast::kNo;  // (the header is within kMin)
    flags = l4[13];
  } else if (proto == net::kProtoUdp) {
    if (!net::udp_length_ok(l4, l4_len, false)) return Fast::kNo;
  } else {
    return Fast::kNo;
  }
  // The key's second word straight from the header: ports and protocol.
  const uint64_t w1 = uint64_t{load32(l4)} | uint64_t{proto} << 32;
  net::Parsed& p = pend.parsed;
  // kind, drop, tcp_flags, fragment in one store (ip_id is not read on this path).
  const uint32_t head = uint32_t{static_cast<uint8_t>(FrameKind::kIpv4L4)} | uint32_t{flags} << 16;
  static_assert(offsetof(net::Parsed, kind) == 0 && offsetof(net::Parsed, drop) == 1 &&
                offsetof(net::Parsed, tcp_flags) == 2 && offsetof(net::Parsed, fragment) == 3);
  std::memcpy(&p, &head, 4);
  pend.hash = flow_hash(w0, w1, flow_hash_multiplier_);
  // A burst's frames mostly go to the service the frame before went to (the memo's).
  if (!store_key_same_service(p.key, w0, w1, memo.key)) {
    // To what the memo knows goes to no service: classify() decides. Else the caller
    // looks the service up.
    if (same_service(w0, w1, memo.none)) return Fast::kNo;
    return Fast::kMiss;
  }
  pend.svc = memo.svc;
  return Fast::kYes;
}

template <bool kTagged>
[[gnu::noinline]] bool Forwarder::fast_ipv6(const Frame& f, uint64_t port_mac48, ServiceMemo6& memo, Pending6& pend) {
  using net::load64;
  // Ethernet, the fixed IPv6 header and 20 bytes of TCP or UDP (every TCP segment; a UDP
  // datagram in a shorter frame takes the general path).
  constexpr uint32_t kMin = net::kEtherHdrLen + net::kIpv6HdrLen + net::kTcpMinHdrLen;
  if (f.seg_len != f.pkt_len || f.seg_len < kMin) return false;
  const uint8_t* d = f.data;
  const uint8_t* ip = d + net::kEtherHdrLen;
  // Ethernet as fast_classify's, with EtherType 86 dd and version 6 (byte 14's high nibble).
  const EthernetHead eth(d);
  if (!eth.to_port(port_mac48, uint64_t{0x60dd86} << 32, uint64_t{0xf0ffff} << 32)) return false;
  if (kTagged && f.vlan != 0 && (f.vlan > net::kMaxVid || !snap_->vlan_known(f.rx_port, f.vlan))) return false;
  if (eth.zero_source()) return false;
  // A source in ::/64 (::, ::1 and ::ffff:0:0/96 are there) or multicast: classify()
  // decides. The datagram within the frame; TCP or UDP right after the fixed header.
  const uint64_t src_hi = load64(ip + 8);
  if (ip[8] == 0xff || src_hi == 0) return false;
  const uint32_t payload = net::ntoh16(net::load16(ip + 4));
  if (net::kIpv6HdrLen + payload > f.pkt_len - net::kEtherHdrLen) return false;
  const uint8_t proto = ip[6];
  const uint8_t* l4 = ip + net::kIpv6HdrLen;
  uint8_t flags = 0;
  // (A data offset of at least 20 within the payload, or a UDP length of at least 8
  // within it, is a payload of at least the header, which the frame holds: kMin.)
  if (proto == net::kProtoTcp) {
    if (!net::tcp_offset_ok(l4, payload)) return false;
    flags = l4[13];
  } else if (proto == net::kProtoUdp) {
    if (!net::udp_length_ok(l4, payload, false)) return false;
  } else {
    return false;
  }
  const uint16_t dport = net::load16(l4 + 2);
  // The service: the memo's when the frame before went to the same one.
  const uint64_t hi = load64(ip + 24), lo = load64(ip + 32);
  const uint32_t pp = uint32_t{dport} << 8 | proto;
  if (((hi ^ memo.hi) | (lo ^ memo.lo) | (pp ^ memo.pp)) != 0) memo = {hi, lo, pp, snap_->find6(ip + 24, dport, proto)};
  const ServiceTable* svc = memo.svc;
  if (!svc) return false;
  net::Parsed6& p = pend.parsed;
  p.kind = net::Kind6::kL4;
  p.drop = Drop::kNone;
  p.tcp_flags = flags;
  p.fragment = false;
  p.icmp_type = 0;
  p.frag_id = 0;
  p.l4 = net::kIpv6HdrLen;
  std::memcpy(p.key.src, ip + 8, 32);  // source and destination
  p.key.sport = net::load16(l4);
  p.key.dport = dport;
  p.key.proto = proto;
  p.key.kind = net::FlowKind::kConnection;
  p.key.pad = 0;
  pend.svc = svc;
  pend.hash = flow_hash(p.key);
  return true;
}

namespace {

// A staged frame's bucket in table t (either family): computed once, for the prefetch
// here and the lookup in pass 2.
template <class Table, class Pd>
DRFWD_HOT void stage_bucket(const Table& t, Pd& pd) {
  pd.bucket = t.bucket_of(pd.hash);
  t.prefetch_bucket(pd.bucket);
}

// Sets bit i (< 32) of m: on x86 one BTS (GCC makes `m |= 1u << i` a move, a shift and an
// or).
inline void set_bit(uint32_t& m, uint32_t i) {
#if defined(__x86_64__)
  asm("btsl %1, %0" : "+r"(m) : "r"(i) : "cc");
#else
  m |= 1u << i;
#endif
}

// The entry's key is k (the fast lane's compare): for IPv4, one 16-byte XOR and PTEST,
// the entry's key read aligned (an entry is a whole line).
bool entry_has_key(const FlowEntry& e, const net::FlowKey& k) {
#if defined(__SSE4_1__)
  const __m128i x = _mm_xor_si128(_mm_load_si128(reinterpret_cast<const __m128i*>(&e.key)),
                                  _mm_loadu_si128(reinterpret_cast<const __m128i*>(&k)));
  return _mm_testz_si128(x, x);
#else
  return e.key == k;
#endif
}
bool entry_has_key(const FlowEntry6& e, const net::FlowKey6& k) { return e.key == k; }

// `mask` is frames 0 to n - 1 (n = its popcount, 0 to 32), with no frame missing: a pass
// walks them by a counted loop, with no bit to find and clear for each.
bool from_first(uint32_t mask) { return (mask & (mask + 1)) == 0; }

// Frames of `mask` before the first frame of `stop` (all of them if there is none).
uint32_t before_first(uint32_t mask, uint32_t stop) { return mask & (stop ? (stop & (0u - stop)) - 1 : ~0u); }

bool is_icmp_error(const net::Parsed& p) { return p.kind == FrameKind::kIcmpError; }
bool is_icmp_error(const net::Parsed6& p) { return p.kind == net::Kind6::kIcmpError; }

// The state a frame moves its connection, in state `cur`, to: TCP's transition, or UDP's
// one state. P: net::Parsed or net::Parsed6.
template <class P>
ConnState next_state(const P& p, ConnState cur) {
  return p.key.proto == net::kProtoTcp ? tcp_next_state(cur, p.tcp_flags) : ConnState::kUdp;
}

// Routing and redundancy protocols to or from the director (VRRP, OSPF, BGP, BFD control,
// echo and multihop): a class of their own, so no flood at the DIP can starve a BGP or
// BFD session or make VRRP flap. P: net::Parsed or net::Parsed6 (ports zero in a later
// fragment).
template <class P>
bool routing_protocol(const P& p) {
  constexpr uint8_t kVrrp = 112, kOspf = 89;
  switch (p.key.proto) {
    case kVrrp:
    case kOspf:
      return true;
    case net::kProtoTcp:
      return p.key.sport == net::hton16(179) || p.key.dport == net::hton16(179);
    case net::kProtoUdp:
      return p.key.dport == net::hton16(3784) || p.key.dport == net::hton16(3785) || p.key.dport == net::hton16(4784);
    default:
      return false;
  }
}

}  // namespace

DRFWD_HOT bool Forwarder::classify(const Frame& f, Verdict& out, Pending& pend, Pending6* pend6) {
  if (__builtin_expect(f.rx_port >= snap_->n_ports, 0)) {
    out = Verdict{Verdict::Action::kDrop, Drop::kNone, 0, ExcClass::kOther, 0, 0};
    return false;
  }
  PortCounters& pc = counters_.port[f.rx_port];
  if (__builtin_expect(f.seg_len < net::kEtherHdrLen, 0)) return (out = drop(pc, Drop::kRunt)), false;
  if (__builtin_expect(f.seg_len != f.pkt_len, 0)) return (out = drop(pc, Drop::kOversize)), false;

  const uint8_t* d = f.data;
  const bool group = (d[0] & 1) != 0;
  const uint8_t* our = snap_->ports[f.rx_port].mac;
  if (!group && ((net::load32(d) ^ net::load32(our)) | (net::load16(d + 4) ^ net::load16(our + 4))) != 0)
    return (out = drop(pc, Drop::kNotOurMac)), false;
  if ((d[6] & 1) || (net::load32(d + 6) | net::load16(d + 10)) == 0)
    return (out = drop(pc, Drop::kBadSrcMac)), false;
  if (__builtin_expect(f.vlan != 0, 0) && (f.vlan > net::kMaxVid || !snap_->vlan_known(f.rx_port, f.vlan)))
    return (out = drop(pc, Drop::kVlanUnknown)), false;
  if (net::load16(d + net::kEthType) == net::hton16(net::kEtherIpv6))
    return pend6 ? classify6(f, out, *pend6, pc, group) : ((out = ipv6(f, pc, group)), false);

  pend.parsed = net::parse_frame(d, f.seg_len, f.pkt_len, f.ip_csum);
  const net::Parsed& p = pend.parsed;
  switch (p.kind) {
    case FrameKind::kDrop:
      // A tag still in the frame is a second one, unless the port has no VLAN interface:
      // then nobody took the first one out, and its VID is unknown here.
      if (p.drop == Drop::kVlanDouble && f.vlan == 0 && !snap_->has_vlans(f.rx_port) &&
          net::load16(d + net::kEthType) == net::hton16(net::kEtherVlan))
        return (out = drop(pc, Drop::kVlanUnknown)), false;
      return (out = drop(pc, p.drop)), false;
    case FrameKind::kArp: {
      // Sender protocol address: Ethernet 14 + ARP fixed part 8 + sender MAC 6.
      constexpr uint32_t kSpa = net::kEtherHdrLen + 14;
      const bool server = f.seg_len >= kSpa + 4 && snap_->is_server(net::load32(d + kSpa));
      return (out = to_control(server ? ExcClass::kServer : ExcClass::kArp)), false;
    }
    case FrameKind::kIpv4L4:
    case FrameKind::kIcmpError:  // keyed as its connection; pass 3 sends it to icmp_error()
      if (__builtin_expect(!group, 1)) {
        if (const ServiceTable* svc = snap_->find(p.key.dst, p.key.dport, p.key.proto)) {
          pend.svc = svc;
          pend.hash = flow_hash(p.key);
          return true;
        }
      }
      break;
    case FrameKind::kIpv4Frag:
      if (!group && !snap_->is_local(p.key.dst)) {
        pend.svc = nullptr;  // fragment(): after any first fragment earlier in the burst
        return true;
      }
      break;
    case FrameKind::kIpv4Other:
      break;
  }
  // Not for a service: the appliance's own traffic (its DIPs, and IPv4 to a group
  // address) goes to the control core; anything else is dropped.
  if (group || snap_->is_local(p.key.dst)) {
    const bool sync = p.key.proto == net::kProtoUdp && p.key.dport == snap_->sync_port_be && snap_->sync_port_be != 0;
    const ExcClass c = routing_protocol(p)                 ? ExcClass::kRouting
                       : sync                               ? ExcClass::kSync
                       : snap_->is_server(p.key.src)        ? ExcClass::kServer
                                                            : ExcClass::kOther;
    return (out = to_control(c)), false;
  }
  return (out = drop(pc, Drop::kNoService)), false;
}

// The established path, inline; anything else (new connection, timed out, RS gone)
// goes to schedule(). One implementation for both families: Pd is Pending or Pending6.
template <class Pd>
DRFWD_HOT Verdict Forwarder::connection(const Frame& f, PortCounters& pc, const Pd& pend) {
  const uint32_t idx = pend.idx;
  if (__builtin_expect(idx == kNil, 0)) return schedule(f, pc, pend);
  const auto& p = pend.parsed;
  auto& conns = table(p.key);
  auto& e = conns.at(idx);
  if (__builtin_expect(conns.expired(e, now_) || !bound_ok(e.rs_slot, e.rs_gen), 0))
    return schedule(f, pc, pend);
  if (e.last_seen != now_ && e.tmpl != kNil) touch_template(e, *pend.svc);
  const ConnState next = next_state(p, e.state);
  if (__builtin_expect(next != e.state, 0)) {
    change_state(conns, idx, next, snap_->timeouts.get(next));
    if (__builtin_expect(snap_->sync.send, 0) && (e.announced || state_is_active(next))) announce(e);
  } else if (e.last_seen != now_) {
    e.timeout = snap_->timeouts.get(next);  // follows `set timeout` within a second
    conns.touch(idx, now_);
    refresh(e);
  }
  if (__builtin_expect(p.fragment, 0)) frags(p.key).record(p.key, datagram_id(p), e.rs_slot, e.rs_gen, now_);
  return send(f, e.rs_slot);
}

template <class Pd>
DRFWD_COLD Verdict Forwarder::schedule(const Frame& f, PortCounters& pc, const Pd& pend) {
  const auto& p = pend.parsed;
  const ServiceTable& svc = *pend.svc;
  const auto& key = p.key;
  auto& conns = table(key);
  using Entry = typename std::remove_reference_t<decltype(conns)>::Entry;
  const uint64_t h = pend.hash;
  bool resched = false;
  if (pend.idx != kNil) {
    // Timed out, or its RS left, failed or lost its neighbour: schedule afresh.
    const Entry& e = conns.at(pend.idx);
    resched = !conns.expired(e, now_);
    release(e);
    conns.erase(pend.idx);
  }

  uint32_t tmpl = kNil;
  const uint32_t slot = svc.params().persist ? pick_persistent(svc, key, h, tmpl) : pick(svc, key, h);
  if (slot == kNil) return drop(pc, svc.usable.empty() ? svc.empty_reason : Drop::kRsOverloaded);

  const ConnState state = next_state(p, ConnState::kTcpNone);
  const uint32_t idx = conns.insert(key, h, state, snap_->timeouts.get(state), now_, [this](const Entry& v) {
    release(v);
    bump(counters_.conn_evicted);
  });
  Entry& e = conns.at(idx);
  e.tmpl = tmpl;
  bind(e, slot);
  if (__builtin_expect(svc.any_threshold, 0)) note_bound(svc, slot);
  bump(resched ? counters_.conn_resched : counters_.conn_new);
  if (__builtin_expect(snap_->sync.send, 0) && state_is_active(state)) announce(e);  // UDP (TCP: once established)
  if (p.fragment) frags(key).record(key, datagram_id(p), slot, e.rs_gen, now_);
  return send(f, slot);
}

// An ICMP error about a connection (fragmentation needed, unreachable, ...) goes to the
// connection's real server, which sent the datagram it is about. Not in this worker's
// table (expired, or the connection lives on another worker): a scheduler that decides
// by hash alone (sh, hash, mh without persistence) names the server the connection would
// be on; otherwise it is dropped. The connection itself is not touched.
template <class Pd>
DRFWD_COLD Verdict Forwarder::icmp_error(const Frame& f, PortCounters& pc, const Pd& pend) {
  if (pend.idx != kNil) {
    const auto& conns = table(pend.parsed.key);
    const auto& e = conns.at(pend.idx);
    if (!conns.expired(e, now_) && bound_ok(e.rs_slot, e.rs_gen)) {
      bump(counters_.icmp_forwarded);
      return send(f, e.rs_slot);
    }
  }
  const ServiceTable& svc = *pend.svc;
  const uint32_t n = static_cast<uint32_t>(svc.table.size());
  if (!svc.params().persist && sched_is_hash(svc.params().sched) && n > 0) {
    // Where the hash puts the flow, whatever the RS's connection thresholds say now.
    bump(counters_.icmp_forwarded);
    return send(f, svc.usable[svc.table[hash_pos(svc, pend.parsed.key, pend.hash, n)]]);
  }
  return drop(pc, Drop::kIcmpNoConn);
}

template <class P>
Verdict Forwarder::fragment(const Frame& f, PortCounters& pc, const P& p) {
  const auto* e = frags(p.key).find(p.key, datagram_id(p), now_);
  if (!e || !bound_ok(e->rs_slot, e->rs_gen)) return drop(pc, Drop::kFragOrphan);
  bump(counters_.frag_forwarded);
  return send(f, e->rs_slot);
}

DRFWD_HOT Verdict Forwarder::send(const Frame& f, uint32_t rs_slot) {
  return send(f, snap_->rs_view[rs_slot], rs_counters_[rs_slot]);
}

DRFWD_HOT Verdict Forwarder::send(const Frame& f, const RsView& rv, RsCounters& rc) {
  std::memcpy(f.data, rv.l2, 12);
  bump(rc.packets);
  bump(rc.bytes, f.pkt_len);
  static_assert(offsetof(Verdict, action) == 0 && offsetof(Verdict, drop) == 1 && offsetof(Verdict, port) == 2 &&
                offsetof(Verdict, exc) == 4 && offsetof(Verdict, zero) == 5 && offsetof(Verdict, vlan) == 6 &&
                static_cast<int>(Verdict::Action::kForward) == 0 && static_cast<int>(Drop::kNone) == 0 &&
                static_cast<int>(ExcClass::kOther) == 0,
                "RsView::forward_word() makes Verdict{kForward, kNone, port, kOther, 0, vlan}");
  Verdict v;
  std::memcpy(&v, &rv.forward, 8);
  return v;
}

// Three passes so the memory behind a lookup is on its way while other packets are
// worked on: (1) parse, find the service, hash, prefetch the table bucket; (2) read the
// bucket, prefetch the entry; (3) finish each connection. Pass 3 inserts and erases;
// when it has, lookups made in pass 2 are redone. Frames are tracked by bit masks over
// the burst (bit i: frame i), walked lowest first, so pass 3 keeps the burst's order.
void Forwarder::process_burst(const Frame* frames, Verdict* out, uint32_t n) {
  uint16_t vlans = 0;
  for (uint32_t i = 0; i < n; ++i) {
    __builtin_prefetch(frames[i].data);
    vlans |= frames[i].vlan;
  }
  process_burst(frames, out, n, vlans != 0);
}

void Forwarder::process_burst(const Frame* frames, Verdict* out, uint32_t n, bool tagged) {
  if (__builtin_expect(tagged, 0))
    process_burst<true>(frames, out, n);
  else
    process_burst<false>(frames, out, n);
}

// Pass 1: the common frame first (whole TCP/UDP datagrams to a service), then the rest.
// Each pass is a function of its own: the compiler allocates registers for each alone.
template <bool kTagged>
[[gnu::noinline]] Forwarder::Classified Forwarder::classify_burst(const Frame* frames, Verdict* out, uint32_t n,
                                                                  Pending* pend, Pending6* pend6) {
  const uint16_t rx_port = frames[0].rx_port;
  // A port the snapshot does not know: the general path (which drops its frames).
  const bool known = rx_port < snap_->n_ports;
  const uint64_t port_mac48 = known ? snap_->ports[rx_port].mac48 : 0;
  ServiceMemo memo;
  const FlowTable& table = conns_;  // (a reference member GCC would reload after each store)
  uint32_t fast = 0;
  // The inner loop makes no call, so GCC keeps its values in registers; a frame whose
  // service the memo does not hold leaves it for the lookup, then it goes on.
  for (uint32_t i = 0; known && i < n; ++i) {
    for (; i < n; ++i) {
      const Fast r = fast_classify<kTagged>(frames[i], port_mac48, memo, pend[i]);
      if (__builtin_expect(r == Fast::kMiss, 0)) break;
      if (r == Fast::kYes) {
        stage_bucket(table, pend[i]);
        set_bit(fast, i);
      }
    }
    if (i == n) break;
    const net::FlowKey& k = pend[i].parsed.key;
    if (const ServiceTable* svc = snap_->find(k.dst, k.dport, k.proto)) {
      std::memcpy(memo.key, &k, sizeof memo.key);
      memo.svc = svc;
      pend[i].svc = svc;
      stage_bucket(table, pend[i]);
      set_bit(fast, i);
    } else {
      std::memcpy(memo.none, &k, sizeof memo.none);
    }
  }
  Classified c{fast, fast, fast, 0, 0, 0};
  const uint32_t all = n == 32 ? ~0u : (1u << n) - 1;
  if (all & ~fast) classify_rest<kTagged>(frames, out, all & ~fast, pend, pend6, known, port_mac48, c);
  return c;
}

// Pass 1 for the frames the fast loop did not take: IPv6, and the general path.
template <bool kTagged>
[[gnu::noinline]] void Forwarder::classify_rest(const Frame* frames, Verdict* out, uint32_t rest, Pending* pend,
                                                Pending6* pend6, bool known, uint64_t port_mac48, Classified& c) {
  ServiceMemo6 memo6;
  // The masks in locals (GCC keeps a reference's in memory), into c at the end.
  uint32_t todo = 0, v6s = 0, look = 0, look6 = 0, fast6 = 0;
  for (; rest; rest &= rest - 1) {
    const uint32_t i = static_cast<uint32_t>(__builtin_ctz(rest)), bit = 1u << i;
    const Frame& f = frames[i];
    const bool v6 = f.seg_len >= net::kEtherHdrLen && net::load16(f.data + net::kEthType) == net::hton16(net::kEtherIpv6);
    if (v6 && known && fast_ipv6<kTagged>(f, port_mac48, memo6, pend6[i])) {
      stage_bucket(*conns6_, pend6[i]);
      fast6 |= bit;
      continue;
    }
    if (!classify(f, out[i], pend[i], &pend6[i])) continue;
    todo |= bit;
    if (v6) {  // staged in pend6
      v6s |= bit;
      if (pend6[i].svc) {  // (not a later fragment)
        stage_bucket(*conns6_, pend6[i]);
        look6 |= bit;
      }
      continue;
    }
    if (pend[i].svc) {
      stage_bucket(conns_, pend[i]);
      look |= bit;
    }
  }
  c.todo |= todo | fast6;
  c.look |= look;
  c.v6 = v6s | fast6;
  c.look6 = look6 | fast6;
  c.fast6 = fast6;
}

// Pass 2 (changes no entry: one view of the index serves the burst, and the buckets
// pass 1 found are still the keys' buckets). It reads the buckets only: each frame's
// candidate entry (its signature's) is prefetched, and pass 3 compares the key when it
// reads the entry anyway. Comparing here would wait for every entry's line in turn.
// (Either family: Table is FlowTable or FlowTable6, Pd Pending or Pending6.)
template <class Table, class Pd>
DRFWD_HOT void lookup_staged(const Table& t, Pd* pend, uint32_t look) {
  const typename Table::Lookup index = t.lookup();
  const auto candidate = [&](Pd& pd) DRFWD_LAMBDA_HOT {
    pd.idx = index.candidate_in(pd.bucket, pd.hash);  // (the no-entry when none)
    index.prefetch_entry(pd.idx);
  };
  if (from_first(look)) {  // every frame looked up, the usual burst: counted
    for (Pd *pd = pend, *end = pend + __builtin_popcount(look); pd != end; ++pd) candidate(*pd);
    return;
  }
  for (uint32_t m = look; m; m &= m - 1) candidate(pend[lowest(m)]);
}

[[gnu::noinline]] void Forwarder::lookup_burst(Pending* pend, uint32_t look) const { lookup_staged(conns_, pend, look); }
void Forwarder::lookup_burst6(Pending6* pend, uint32_t look) const { lookup_staged(*conns6_, pend, look); }

// Pass 3 for a frame pass 1 staged, either family (seen: its table's mutations() before
// pass 3): a later fragment by the fragment cache; else its connection, looked up again
// after an insert or erase, or when the candidate's key is another's; none (kNil) when
// pass 2 found no candidate and nothing changed since.
template <class Pd>
DRFWD_HOT Verdict Forwarder::finish(const Frame& f, PortCounters& pc, Pd& pd, uint64_t seen) {
  if (__builtin_expect(!pd.svc, 0)) return fragment(f, pc, pd.parsed);
  const auto& t = table(pd.parsed.key);
  if (t.mutations() != seen || (pd.idx != t.no_entry() && !(t.at(pd.idx).key == pd.parsed.key)))
    pd.idx = t.find(pd.parsed.key, pd.hash);
  else if (pd.idx == t.no_entry())
    pd.idx = kNil;
  return is_icmp_error(pd.parsed) ? icmp_error(f, pc, pd) : connection(f, pc, pd);
}

Verdict Forwarder::finish6(const Frame& f, PortCounters& pc, Pending6& pd, uint64_t seen6) {
  return finish(f, pc, pd, seen6);
}

template <bool kTagged>
void Forwarder::process_burst(const Frame* frames, Verdict* out, uint32_t n) {
  if (n == 0) return;
  Pending pend[kMaxBurst];
  Pending6 pend6[kMaxBurst];  // (IPv6 frames only)
  const Classified c = classify_burst<kTagged>(frames, out, n, pend, pend6);
  const uint32_t fast = c.fast, todo = c.todo;  // todo: frames for pass 3; the others have their verdict
  lookup_burst(pend, c.look);
  if (__builtin_expect(c.look6 != 0, 0)) lookup_burst6(pend6, c.look6);
  const uint16_t rx_port = frames[0].rx_port;
  PortCounters& pc = counters_.port[rx_port < kMaxPorts ? rx_port : 0];
  // Pass 3, in the burst's order. First the fast lane: the IPv4 frames of pass 3 before
  // its first IPv4 frame fast_classify did not take, for as long as it lasts. (It may
  // go ahead of IPv6 frames: it reads only the IPv4 table and the snapshot and writes
  // only RS packet and byte counters, which no IPv6 frame's decision reads.) Then
  // IPv6's lane, the same over the IPv6 frames before the first fast_ipv6 did not take:
  // it may go ahead of IPv4 frames for the same reason the other way round.
  const uint32_t todo4 = todo & ~c.v6;
  uint32_t lane = before_first(todo4, todo4 & ~fast);
  // (Every connection's RS slot has a view in this snapshot: the usual case.)
  const bool in_view = snap_->rs_count >= rs_slots_seen_;
  const auto lane_of = [&](const auto* pd, uint32_t frames_in) {
    return in_view ? fast_lane<true>(frames, out, pd, frames_in) : fast_lane<false>(frames, out, pd, frames_in);
  };
  uint32_t m = lane ? lane_of(pend, lane) : 0;
  if (__builtin_expect(c.v6 != 0, 0)) {
    const uint32_t lane6 = before_first(c.v6, c.v6 & ~c.fast6);
    if (lane6) m |= lane_of(pend6, lane6);
    lane |= lane6;
  }
  // What the lanes forwarded: the frames up to where each stopped (a count per burst).
  bump(counters_.fast_path, static_cast<uint32_t>(__builtin_popcount(lane & ~m)));
  // Then the rest, one by one. After an insert or erase, the entry numbers found in
  // pass 2 may be stale, and a candidate whose key is another's was the wrong one:
  // looked up again.
  const uint64_t seen = conns_.mutations(), seen6 = conns6_->mutations();
  for (m |= todo & ~lane; m; m &= m - 1) {
    const size_t i = lowest(m);
    if (__builtin_expect((c.v6 >> i) & 1, 0)) {
      out[i] = finish6(frames[i], pc, pend6[i], seen6);
      continue;
    }
    out[i] = finish(frames[i], pc, pend[i], seen);
  }
}

// Pass 3's fast lane over `lane` (no calls: everything stays in registers, in a function
// of its own without the burst's arrays): an established connection already seen this
// second, its state unchanged, has nothing to update but its RS's counters. Returns the
// lane's frames from the first that needs more.
template <bool kInView, class Pd>
[[gnu::noinline]] uint32_t Forwarder::fast_lane(const Frame* frames, Verdict* out, const Pd* pend, uint32_t lane) {
  const RsView* const rs_view = snap_->rs_view;
  const uint32_t rs_count = snap_->rs_count, now = now_;
  const auto* const entries = &table(pend->parsed.key).at(0);
  RsCounters* const rs_counters = rs_counters_;
  // The states the frame's flags leave as they are (a UDP frame's flags are 0: kUdp is
  // among them, and a UDP frame only ever finds a UDP connection).
  const uint16_t* unmoved = kTcpUnmoved.states;
  static_assert(kTcpUnmoved.states[0] & (1u << static_cast<int>(ConnState::kUdp)));
  asm("" : "+r"(unmoved));  // (in a register: GCC would make its address again for each frame)
  // Frame i forwarded, or false when it needs more.
  const auto take = [&](size_t i) DRFWD_LAMBDA_HOT {
    const Pd& pd = pend[i];
    const auto& e = entries[pd.idx];
    // Its key (pass 2 went by the signature; no key is the no-entry's, which pass 2
    // yields for a new connection). Last seen now: not expired (an entry's timeout is at
    // least a second: every timeout drfwd takes is, sync refuses 0, check() holds it).
    // The frame leaves its state as it is.
    if (!entry_has_key(e, pd.parsed.key) || e.last_seen != now ||
        !((unmoved[pd.parsed.tcp_flags] >> static_cast<int>(e.state)) & 1) ||
        (!kInView && e.rs_slot >= rs_count))
      return false;
    // Its RS's view and counters at the entry's byte offset (no multiply by the size).
    const RsView& rv = *reinterpret_cast<const RsView*>(reinterpret_cast<const char*>(rs_view) + e.rs_offset);
    if (rv.live_gen != e.rs_gen) return false;
    out[i] = send(frames[i], rv, *reinterpret_cast<RsCounters*>(reinterpret_cast<char*>(rs_counters) + e.rs_offset));
    return true;
  };
  if (from_first(lane)) {  // a burst all on the fast path, the usual one: counted
    const uint32_t n = static_cast<uint32_t>(__builtin_popcount(lane));
    for (uint32_t i = 0; i < n; ++i)
      if (!take(i)) return lane & ~((1u << i) - 1);
    return 0;
  }
  uint32_t m = lane;
  for (; m; m &= m - 1)
    if (!take(lowest(m))) break;
  return m;
}

Verdict Forwarder::process(const Frame& f) {
  Verdict v;
  Pending pend;
  if (!classify(f, v, pend)) return v;
  return decide(f, counters_.port[f.rx_port], pend);
}

// A frame classify() staged, decided at once (frame by frame): a later fragment by the
// fragment cache; else its connection, looked up now. Either family.
template <class Pd>
Verdict Forwarder::decide(const Frame& f, PortCounters& pc, Pd& pd) {
  if (!pd.svc) return fragment(f, pc, pd.parsed);
  pd.idx = table(pd.parsed.key).find(pd.parsed.key, pd.hash);
  return is_icmp_error(pd.parsed) ? icmp_error(f, pc, pd) : connection(f, pc, pd);
}

DRFWD_COLD Verdict Forwarder::ipv6(const Frame& f, PortCounters& pc, bool group) {
  Pending6 pend;
  Verdict out;
  if (!classify6(f, out, pend, pc, group)) return out;
  return decide(f, pc, pend);
}

DRFWD_COLD bool Forwarder::classify6(const Frame& f, Verdict& out, Pending6& pend, PortCounters& pc, bool group) {
  pend.parsed = net::parse_ipv6(f.data + net::kEtherHdrLen, f.seg_len - net::kEtherHdrLen, f.pkt_len - net::kEtherHdrLen);
  const net::Parsed6& p = pend.parsed;
  switch (p.kind) {
    case net::Kind6::kDrop:
      return (out = drop(pc, p.drop)), false;
    case net::Kind6::kNdp:  // IPv6's ARP: the control core validates and answers; a server's in its own class
      return (out = to_control(snap_->is_server6(p.key.src) ? ExcClass::kServer : ExcClass::kArp)), false;
    case net::Kind6::kL4:
    case net::Kind6::kIcmpError:  // keyed as its connection; pass 3 sends it to icmp_error()
      if (!group) {
        if (const ServiceTable* svc = snap_->find6(p.key.dst, p.key.dport, p.key.proto)) {
          pend.svc = svc;
          pend.hash = flow_hash(p.key);
          return true;
        }
      }
      break;
    case net::Kind6::kFrag:
      if (!group && snap_->has_v6 && !snap_->is_local6(p.key.dst)) {
        pend.svc = nullptr;  // fragment(): after any first fragment earlier in the burst
        return true;
      }
      break;
    case net::Kind6::kOther:
      break;
  }
  // Not for a service: the appliance's own traffic (its IPv6 DIPs, and IPv6 to a group
  // address) goes to the control core, routing protocols in their own class as IPv4's;
  // anything else is dropped.
  if (group || snap_->is_local6(p.key.dst)) {
    out = to_control(routing_protocol(p)               ? ExcClass::kRouting
                     : snap_->is_server6(p.key.src)    ? ExcClass::kServer
                                                       : ExcClass::kOther);
    return false;
  }
  return (out = drop(pc, Drop::kNoService)), false;
}

// A client's persistence template for the service: its masked address, the VIP and port.
net::FlowKey Forwarder::template_key(const ServiceTable& svc, const net::FlowKey& k) {
  net::FlowKey tk{};
  tk.src = k.src & svc.persist_mask_be;
  tk.dst = k.dst;
  tk.dport = k.dport;
  tk.proto = k.proto;
  tk.kind = net::FlowKind::kTemplate;
  return tk;
}

net::FlowKey6 Forwarder::template_key(const ServiceTable& svc, const net::FlowKey6& k) {
  net::FlowKey6 tk{};
  uint64_t w[2];
  std::memcpy(w, k.src, 16);
  w[0] &= svc.persist_mask6[0];
  w[1] &= svc.persist_mask6[1];
  std::memcpy(tk.src, w, 16);
  std::memcpy(tk.dst, k.dst, 16);
  tk.dport = k.dport;
  tk.proto = k.proto;
  tk.kind = net::FlowKind::kTemplate;
  return tk;
}

namespace {
uint64_t source_hash_of(const net::FlowKey& k, uint16_t sport) { return source_hash(k.src, sport); }
uint64_t source_hash_of(const net::FlowKey6& k, uint16_t sport) { return source_hash6(k.src, sport); }
}  // namespace

DRFWD_HOT Forwarder::RrCursor& Forwarder::cursor(const ServiceTable& svc) {
  RrCursor& c = cursors_[svc.spec.slot];
  if (c.table != svc.serial) c = RrCursor{svc.serial, svc.start_for(worker_, snap_->workers)};
  if (c.pos >= svc.table.size()) c.pos = 0;
  return c;
}

template <class Key>
DRFWD_HOT uint32_t Forwarder::hash_pos(const ServiceTable& svc, const Key& k, uint64_t h, uint32_t n) {
  if (svc.params().sched == Sched::kSh)
    return hash_range(source_hash_of(k, (svc.params().flags & kFlagShPort) ? k.sport : 0), n);
  return hash_range(h, n);  // hash, mh
}

template <class Key>
uint32_t Forwarder::pick(const ServiceTable& svc, const Key& k, uint64_t h) {
  if (__builtin_expect(svc.by_counts, 0)) return pick_by_counts(svc, k, h);
  const uint32_t n = static_cast<uint32_t>(svc.table.size());
  if (n == 0) return kNil;
  uint32_t i;
  switch (svc.params().sched) {
    case Sched::kRr:
    case Sched::kWrr: {
      RrCursor& c = cursor(svc);
      i = svc.table[c.pos];
      c.pos = (c.pos + 1 == n) ? 0 : c.pos + 1;
      break;
    }
    default:  // sh, hash, mh
      i = svc.table[hash_pos(svc, k, h, n)];
      break;
  }
  return svc.usable[i];
}

// The schedulers that read connection counts. IPVS's schedulers all skip an overloaded
// RS: a table scheduler takes its own choice unless that RS is overloaded, else the next
// entry of its sequence or table whose RS is not (as ipvsadm's sh-fallback and
// mh-fallback do, which drfwd always does); kNil when every usable RS is overloaded.
template <class Key>
DRFWD_COLD uint32_t Forwarder::pick_by_counts(const ServiceTable& svc, const Key& k, uint64_t h) {
  if (svc.candidates.empty()) return kNil;
  const Sched s = svc.params().sched;
  if (sched_is_least(s)) return least_connections(svc);
  const uint32_t n = static_cast<uint32_t>(svc.table.size());
  const bool rr = s == Sched::kRr || s == Sched::kWrr;
  RrCursor* c = rr ? &cursor(svc) : nullptr;
  uint32_t pos = rr ? c->pos : hash_pos(svc, k, h, n);
  if (overloaded(svc.candidates[svc.table[pos]])) {
    // Settle every candidate's flag once (each costs a read of every worker's counters),
    // then walk the table on the flags alone: at most n steps (a Maglev table may hold
    // no entry of a light RS).
    bool any = false;
    for (const ServiceTable::Candidate& x : svc.candidates) any |= !overloaded(x);
    if (!any) return kNil;
    uint32_t step = 1;
    for (; step < n; ++step) {
      pos = pos + 1 == n ? 0 : pos + 1;
      if (overload_[svc.candidates[svc.table[pos]].slot] == 0) break;
    }
    if (step == n) return kNil;
  }
  if (rr) c->pos = pos + 1 == n ? 0 : pos + 1;
  return svc.usable[svc.table[pos]];
}

// IPVS's rules over the candidates in canonical order (the first of equals wins; IPVS
// walks its servers newest first). Only RSs with weight > 0 are candidates, as every
// one of these schedulers requires. The comparisons are the kernel's, in 64 bits:
// overheads stay below 2^40 (connections per RS well under 2^32, times 256) and weights
// below 2^16.
uint32_t Forwarder::least_connections(const ServiceTable& svc) {
  const Sched s = svc.params().sched;
  const ServiceTable::Candidate* least = nullptr;
  int64_t loh = 0;
  for (const ServiceTable::Candidate& c : svc.candidates) {
    const ConnGauges n = conns_of(c);
    if (svc.any_threshold && overloaded(c, n.active + n.inactive)) continue;
    int64_t doh;
    if (s == Sched::kLc) {  // ip_vs_lc.c: least active * 256 + inactive
      doh = n.active * 256 + n.inactive;
      if (!least || doh < loh) least = &c, loh = doh;
      continue;
    }
    if (s == Sched::kNq && n.active == 0) return c.slot;  // ip_vs_nq.c: an idle server at once
    // ip_vs_wlc.c: overhead as lc; ip_vs_sed.c, ip_vs_nq.c: active + 1. The least
    // overhead / weight, compared as loh * weight > doh * least's weight.
    doh = s == Sched::kWlc ? n.active * 256 + n.inactive : n.active + 1;
    if (!least || loh * c.weight > doh * least->weight) least = &c, loh = doh;
  }
  return least ? least->slot : kNil;
}

// Relaxed loads of lines other workers write: each sees the others' last stores, a
// connection bound elsewhere an instant ago may be missing (docs/operation.md).
ConnGauges Forwarder::conns_of(const ServiceTable::Candidate& c) const {
  ConnGauges g{-c.leftover.active, -c.leftover.inactive};
  for (const RsCounters* w : peers_) {
    g.active += read(w[c.slot].active);
    g.inactive += read(w[c.slot].inactive);
  }
  return {g.active > 0 ? g.active : 0, g.inactive > 0 ? g.inactive : 0};
}

// IPVS (ip_vs_conn.c): an RS is overloaded once its connections reach the upper
// threshold (set as a connection is bound), and stays so until they fall below the lower
// one, or below 3/4 of the upper one without a lower one (cleared as one is unbound);
// ipvsadm -e clears it when the upper threshold is raised or removed. Here evaluated when
// this worker schedules, with the counts now: the same transitions, as counts only move
// when connections come and go.
bool Forwarder::overloaded(const ServiceTable::Candidate& c, int64_t total) {  // templates do not count
  uint32_t& f = overload_[c.slot];
  const RsThresholds& t = c.thresholds;
  f = t.upper == 0 || t.upper > f ? 0 : t.upper;  // removed or raised: cleared; lowered: kept
  if (f != 0 && (t.lower != 0 ? total < t.lower : total * 4 < int64_t{t.upper} * 3)) f = 0;
  if (f == 0 && t.upper != 0 && total >= t.upper) f = t.upper;
  return f != 0;
}

// ipvsadm -p: the client's (masked) address keeps its RS while the template lives.
// A template whose RS stopped taking new connections (drained, down, gone) is pointed
// at a freshly scheduled RS instead.
template <class Key>
uint32_t Forwarder::pick_persistent(const ServiceTable& svc, const Key& k, uint64_t h, uint32_t& tmpl) {
  auto& conns = table(k);
  using Entry = typename std::remove_reference_t<decltype(conns)>::Entry;
  const Key tk = template_key(svc, k);
  const uint64_t th = flow_hash(tk);
  uint32_t t = conns.find(tk, th);
  if (t != kNil) {
    Entry& te = conns.at(t);
    const bool live = !conns.expired(te, now_) && te.rs_slot < snap_->rs_count &&
                      snap_->rs_view[te.rs_slot].gen == te.rs_gen && snap_->rs_view[te.rs_slot].accepting;
    if (live) {
      te.timeout = svc.params().persist;
      conns.touch(t, now_);
      refresh(te);
      tmpl = t;
      return te.rs_slot;
    }
    release(te);
    conns.erase(t);
  }
  const uint32_t slot = pick(svc, k, h);
  if (slot == kNil) return kNil;
  t = conns.insert(tk, th, ConnState::kTemplate, svc.params().persist, now_, [this](const Entry& v) {
    release(v);
    bump(counters_.conn_evicted);
  });
  bind(conns.at(t), slot);
  bump(counters_.tmpl_new);
  if (__builtin_expect(snap_->sync.send, 0)) announce(conns.at(t));
  tmpl = t;
  return slot;
}

// A connection's packets keep its template alive (checked: the template may have been
// evicted and its entry reused since).
template <class Key>
void Forwarder::touch_template(const BasicFlowEntry<Key>& e, const ServiceTable& svc) {
  auto& conns = table(e.key);
  auto& te = conns.at(e.tmpl);
  if (te.in_use && te.key == template_key(svc, e.key) && te.rs_slot == e.rs_slot && te.rs_gen == e.rs_gen) {
    conns.touch(e.tmpl, now_);
    refresh(te);
  }
}

template <class Key>
void Forwarder::change_state(BasicFlowTable<Key>& conns, uint32_t idx, ConnState next, uint32_t timeout) {
  auto& e = conns.at(idx);
  if (e.counted && state_is_active(e.state) != state_is_active(next)) {
    RsCounters& rc = rs_counters_[e.rs_slot];
    const int64_t to_active = state_is_active(next) ? 1 : -1;
    bump(rc.active, to_active);
    bump(rc.inactive, -to_active);
  }
  conns.set_state(idx, next, timeout, now_);
}

void Forwarder::announce(FlowEntry& e) {
  e.synced = now_;
  e.announced = 1;
  if (__builtin_expect(sync_n_ == kSyncOutMax, 0)) {  // only if nobody drains (process() in a loop)
    bump(counters_.sync_capped);
    return;
  }
  SyncRecord& r = sync_out_[sync_n_++];
  r.key = e.key;
  r.rs_slot = e.rs_slot;
  r.rs_gen = e.rs_gen;
  r.timeout = e.timeout;
  r.state = e.state;
  r.pad[0] = r.pad[1] = r.pad[2] = 0;
}

bool Forwarder::reannounce(uint32_t idx) {
  FlowEntry& e = conns_.at(idx);
  if (!e.in_use || !syncable(e) || FlowTable::expired(e, now_) || !bound_ok(e.rs_slot, e.rs_gen)) return false;
  announce(e);
  return true;
}

// What another director decided. The control core checked the record against the
// snapshot it had; the RS may have changed since, so its generation is checked again.
Forwarder::Adopt Forwarder::adopt(const SyncRecord& r) {
  const bool tmpl = r.key.is_template();
  if (r.rs_slot >= snap_->rs_count || r.state >= ConnState::kCount || r.timeout == 0 ||
      tmpl != (r.state == ConnState::kTemplate))
    return Adopt::kStale;
  const RsView& rv = snap_->rs_view[r.rs_slot];
  if (rv.live_gen != r.rs_gen || (tmpl && !rv.accepting)) return Adopt::kStale;
  const uint64_t h = flow_hash(r.key);
  uint32_t idx = conns_.find(r.key, h);
  if (idx != kNil) {
    FlowEntry& e = conns_.at(idx);
    if (!FlowTable::expired(e, now_) && bound_ok(e.rs_slot, e.rs_gen)) {
      if (e.rs_slot != r.rs_slot) return Adopt::kKeptLocal;
      if (tmpl) {
        e.timeout = e.timeout > r.timeout ? e.timeout : r.timeout;  // never shortened
        conns_.touch(idx, now_);
      } else if (e.state != r.state) {
        change_state(conns_, idx, r.state, r.timeout);
      } else {
        e.timeout = r.timeout;
        conns_.touch(idx, now_);
      }
      e.synced = now_;
      return Adopt::kApplied;
    }
    release(e);
    conns_.erase(idx);
  }
  // What the other directors know must not push out what this worker carries.
  if (conns_.size() == conns_.capacity()) return Adopt::kTableFull;
  idx = conns_.insert(r.key, h, r.state, r.timeout, now_, [this](const FlowEntry& v) {
    release(v);
    bump(counters_.conn_evicted);
  });
  FlowEntry& e = conns_.at(idx);
  bind(e, r.rs_slot, false);
  e.synced = now_;
  e.announced = 1;  // if its packets come here now, its changes and refreshes go out
  if (!tmpl) {
    // Its client's template, if one came first and points at the same RS.
    const ServiceTable* svc = snap_->find(r.key.dst, r.key.dport, r.key.proto);
    if (svc && svc->params().persist) {
      const net::FlowKey tk = template_key(*svc, r.key);
      const uint32_t t = conns_.find(tk, flow_hash(tk));
      if (t != kNil && conns_.at(t).rs_slot == r.rs_slot && conns_.at(t).rs_gen == r.rs_gen) e.tmpl = t;
    }
  }
  return Adopt::kApplied;
}

template <class Key>
void Forwarder::bind(BasicFlowEntry<Key>& e, uint32_t slot, bool scheduled) {
  e.rs_slot = slot;
  e.rs_offset = slot * 64;  // (RsView and RsCounters are a line each)
  static_assert(sizeof(RsView) == 64 && sizeof(RsCounters) == 64);
  e.rs_gen = snap_->rs_view[slot].gen;
  e.counted = 1;
  RsCounters& rc = rs_counters_[slot];
  if (e.key.is_template()) {
    bump(rc.persist, 1);
  } else {
    if (scheduled) bump(rc.conns);
    bump(state_is_active(e.state) ? rc.active : rc.inactive, 1);
  }
}

// Undo bind()'s gauges, if the RS slot still has the generation the entry counted in
// (a reused slot was re-baselined by the control core when it was handed out again).
template <class Key>
void Forwarder::release(const BasicFlowEntry<Key>& e) {
  if (!e.counted || e.rs_slot >= snap_->rs_count || snap_->rs_view[e.rs_slot].gen != e.rs_gen) return;
  RsCounters& rc = rs_counters_[e.rs_slot];
  if (e.key.is_template())
    bump(rc.persist, -1);
  else
    bump(state_is_active(e.state) ? rc.active : rc.inactive, -1);
}

// IPVS raises the overload flag as it binds the connection that reaches the threshold;
// so does this worker for its own connections (its schedulers evaluate the flag
// otherwise only when they look at the RS, and the count may have dropped back by
// then). First the unbinds since the last look (count less this connection), then this
// bind, as IPVS would have seen them. A persistent client's template may bind an
// overloaded RS: IPVS's persistence does not look at the flag either.
DRFWD_COLD void Forwarder::note_bound(const ServiceTable& svc, uint32_t slot) {
  for (const ServiceTable::Candidate& c : svc.candidates) {
    if (c.slot != slot) continue;
    const ConnGauges n = conns_of(c);
    overloaded(c, n.active + n.inactive - 1);
    overloaded(c, n.active + n.inactive);
    return;
  }
}

// Called between every two bursts. expire() stops at each state list's first tail that has
// not timed out; within the same clock second nothing new can have timed out behind those
// tails unless one of them left its list since (touched, changed state, erased: timeouts
// differ within a list, so the entry behind it may be overdue) or the last call ran out
// of budget. An entry used at `now` has not timed out at `now` (timeouts are at least a
// second). Otherwise those calls return at once instead of looking at every state list's
// tail of both tables.
uint32_t Forwarder::expire(uint32_t budget) {
  const uint64_t moves = conns_.tail_moves() + conns6_->tail_moves();
  if (now_ == expired_at_ && !expire_more_ && moves == tail_moves_seen_) return 0;
  const uint32_t n = conns_.expire(now_, budget, [this](const FlowEntry& e) {
    release(e);
    bump(counters_.conn_expired);
  });
  const uint32_t n6 = conns6_->expire(now_, budget, [this](const FlowEntry6& e) {
    release(e);
    bump(counters_.conn_expired);
  });
  expired_at_ = now_;
  expire_more_ = n == budget || n6 == budget;
  tail_moves_seen_ = conns_.tail_moves() + conns6_->tail_moves();
  return n + n6;
}

}  // namespace drfwd::lb
