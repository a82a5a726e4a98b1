// Ethernet -> IPv4 -> TCP/UDP parsing to a flow key. Inline: this runs per packet.
// Checks every length before reading; never reads past seg_len.
#pragma once

#include <cstdint>

#include "net/bytes.hpp"
#include "net/checksum.hpp"
#include "net/drop.hpp"
#include "net/l4.hpp"
#include "net/parse6.hpp"
#include "net/vlan.hpp"

namespace drfwd::net {

constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherArp = 0x0806;
constexpr uint32_t kEtherHdrLen = 14;
constexpr uint32_t kIpv4MinHdrLen = 20;

constexpr uint8_t kProtoIcmp = 1;

// A connection's identity. Addresses and ports in network byte order, as on the wire.
// Trivial on purpose (burst arrays of these are not zeroed): value-initialise with {},
// which makes it a kConnection key.
struct FlowKey {
  uint32_t src;
  uint32_t dst;
  uint16_t sport;
  uint16_t dport;
  uint8_t proto;
  FlowKind kind;
  uint16_t pad;
  bool is_template() const { return kind == FlowKind::kTemplate; }
};
static_assert(sizeof(FlowKey) == 16, "FlowKey is compared and hashed as two 64-bit words");

inline uint64_t key_word0(const FlowKey& k) {
  uint64_t w;
  __builtin_memcpy(&w, &k, 8);
  return w;
}
inline uint64_t key_word1(const FlowKey& k) {
  uint64_t w;
  __builtin_memcpy(&w, reinterpret_cast<const uint8_t*>(&k) + 8, 8);
  return w;
}
// Two word compares (pad and kind included), not six field compares.
inline bool operator==(const FlowKey& a, const FlowKey& b) {
  return ((key_word0(a) ^ key_word0(b)) | (key_word1(a) ^ key_word1(b))) == 0;
}

enum class FrameKind : uint8_t {
  kDrop,       // see Parsed::drop
  kArp,        // EtherType ARP (validated by the control core)
  kIpv4L4,     // TCP or UDP with ports: unfragmented or first fragment
  kIpv4Frag,   // non-first fragment of TCP or UDP: no ports
  kIpv4Other,  // another IP protocol (ICMP, ...), or a fragment of one
  kIcmpError,  // an ICMP error about a TCP/UDP datagram the destination sent: `key` is
               // the connection it concerns, as the client sends (see icmp_error_key)
};

// Trivial, like FlowKey: parse_frame() sets every field.
struct Parsed {
  FrameKind kind;
  Drop drop;
  uint8_t tcp_flags;
  bool fragment;    // MF set or offset != 0
  uint16_t ip_id;   // network order; identifies the fragments of one datagram
  FlowKey key;      // ports are zero for kIpv4Frag and kIpv4Other
};

// The header checks both parsers make (parse_frame, the reference, and the Forwarder's
// fast path for the common frame), written once.

// Martian sources: 0/8 ("this network"), 127/8, multicast, class E and broadcast.
constexpr bool martian_source(uint8_t first_octet) {
  return first_octet == 0 || first_octet == 127 || first_octet >= 224;
}
// (The TCP offset and UDP length checks, tcp_offset_ok and udp_length_ok, are in
// net/l4.hpp: the IPv6 parser makes them too.)

// parse_frame is IPv4's parser: an IPv6 frame given to it (the Forwarder hands IPv6 to
// parse_ipv6 instead) is dropped for its malformation (check_ipv6: the header, the
// extension headers, a first fragment's or whole datagram's TCP/UDP header; the checks
// parse_ipv6 makes), else as not-ipv4.
[[gnu::cold, gnu::noinline]] inline Drop ipv6_drop_reason(const uint8_t* ip, uint32_t ip_avail, uint32_t ip_len) {
  const Drop d = check_ipv6(ip, ip_avail, ip_len).drop;
  return d != Drop::kNone ? d : Drop::kNotIpv4;
}

// Offsets within the Ethernet header.
constexpr uint32_t kEthDst = 0;
constexpr uint32_t kEthSrc = 6;
constexpr uint32_t kEthType = 12;

inline Parsed parse_drop(Drop d) {
  Parsed p{};
  p.kind = FrameKind::kDrop;
  p.drop = d;
  return p;
}

// ICMP errors (destination unreachable, fragmentation needed included; source quench;
// time exceeded; parameter problem) quote the IPv4 header and first 8 bytes of the
// datagram that caused them. In Direct Routing the real servers send with the VIP as
// source, so errors about their replies come to the VIP: such an error is keyed as the
// connection it concerns, from the client's side (the quoted destination is the client,
// the quoted source the VIP, ports swapped), so it can follow the connection to its
// real server, as IPVS does. Only when the quoted datagram is TCP or UDP, not a
// non-first fragment, and from this datagram's destination; its checksum is checked
// then (a bad one: kDrop). Everything else stays kIpv4Other.
[[gnu::cold, gnu::noinline]] inline void icmp_error_key(Parsed& p, const uint8_t* ip, uint32_t ihl,
                                                        uint32_t tot_len, uint32_t ip_avail) {
  constexpr uint32_t kIcmpHdr = 8;
  if (tot_len > ip_avail) return;  // the datagram runs past the first segment
  if (tot_len < ihl + kIcmpHdr + kIpv4MinHdrLen + 4) return;  // quoted header and ports
  const uint8_t* icmp = ip + ihl;
  const uint8_t type = icmp[0];
  if (type != 3 && type != 4 && type != 11 && type != 12) return;
  const uint8_t* in = icmp + kIcmpHdr;
  const uint32_t in_len = tot_len - ihl - kIcmpHdr;
  const uint32_t in_ihl = (in[0] & 0x0f) * 4u;
  if ((in[0] >> 4) != 4 || in_ihl < kIpv4MinHdrLen || in_ihl + 4 > in_len) return;
  const uint8_t in_proto = in[9];
  if (in_proto != kProtoTcp && in_proto != kProtoUdp) return;
  if ((ntoh16(load16(in + 6)) & 0x1fff) != 0) return;  // a quoted non-first fragment: no ports
  if (load32(in + 12) != p.key.dst) return;            // not about a datagram sent from here
  if (ones_sum(icmp, tot_len - ihl) != 0xffff) {
    p.kind = FrameKind::kDrop;
    p.drop = Drop::kIcmpBadChecksum;
    return;
  }
  const uint8_t* ports = in + in_ihl;
  p.key.src = load32(in + 16);
  p.key.sport = load16(ports + 2);
  p.key.dport = load16(ports);
  p.key.proto = in_proto;
  p.kind = FrameKind::kIcmpError;
}

// What the NIC said about the IPv4 header checksum (mbuf RX offload flags).
enum class IpCsum : uint8_t { kUnknown, kGood, kBad };

// seg_len: bytes readable at `f` (the first segment); pkt_len: the whole frame.
[[gnu::always_inline]] inline Parsed parse_frame(const uint8_t* f, uint32_t seg_len, uint32_t pkt_len,
                          IpCsum hw_csum = IpCsum::kUnknown) {
  if (__builtin_expect(seg_len < kEtherHdrLen, 0)) return parse_drop(Drop::kRunt);
  const uint16_t type = ntoh16(load16(f + kEthType));
  if (__builtin_expect(type != kEtherIpv4, 0)) {
    if (type == kEtherArp) {
      Parsed p{};
      p.kind = FrameKind::kArp;
      return p;
    }
    // The worker took out one 802.1Q tag (or the NIC did): a tag here is a second one,
    // or an 802.1ad service tag; unless the frame cannot hold a tag and an EtherType (the
    // worker left it: a runt).
    if (type == kEtherVlan || type == kEtherQinQ)
      return parse_drop(seg_len < kEtherHdrLen + kVlanTagLen ? Drop::kRunt : Drop::kVlanDouble);
    if (type == kEtherIpv6)
      return parse_drop(ipv6_drop_reason(f + kEtherHdrLen, seg_len - kEtherHdrLen, pkt_len - kEtherHdrLen));
    return parse_drop(Drop::kNotIpv4);
  }

  const uint8_t* ip = f + kEtherHdrLen;
  const uint32_t ip_avail = seg_len - kEtherHdrLen;
  if (__builtin_expect(ip_avail < kIpv4MinHdrLen, 0)) return parse_drop(Drop::kIpTruncated);
  const uint8_t ver_ihl = ip[0];
  if (__builtin_expect((ver_ihl >> 4) != 4, 0)) return parse_drop(Drop::kIpBadVersion);
  const uint32_t ihl = (ver_ihl & 0x0f) * 4u;
  if (__builtin_expect(ihl < kIpv4MinHdrLen || ihl > ip_avail, 0)) return parse_drop(Drop::kIpBadIhl);
  const uint32_t tot_len = ntoh16(load16(ip + 2));
  if (__builtin_expect(tot_len < ihl || tot_len > pkt_len - kEtherHdrLen, 0))
    return parse_drop(Drop::kIpBadLength);
  if (__builtin_expect(hw_csum == IpCsum::kBad ||
                           (hw_csum == IpCsum::kUnknown && !ipv4_header_checksum_ok(ip, ihl, ver_ihl)),
                       0))
    return parse_drop(Drop::kIpBadChecksum);

  Parsed p{};
  p.key.src = load32(ip + 12);
  p.key.dst = load32(ip + 16);
  if (__builtin_expect(martian_source(ip[12]), 0)) return parse_drop(Drop::kIpBadSrc);
  p.key.proto = ip[9];
  p.ip_id = load16(ip + 4);
  const uint16_t frag = ntoh16(load16(ip + 6));
  const uint16_t frag_off = frag & 0x1fff;
  p.fragment = (frag & 0x2000) != 0 || frag_off != 0;

  if (p.key.proto != kProtoTcp && p.key.proto != kProtoUdp) {
    p.kind = FrameKind::kIpv4Other;
    if (p.key.proto == kProtoIcmp && !p.fragment) icmp_error_key(p, ip, ihl, tot_len, ip_avail);
    return p;
  }
  if (frag_off != 0) {
    p.kind = FrameKind::kIpv4Frag;
    return p;
  }

  // TCP/UDP header: inside the datagram (tot_len) and inside the first segment.
  const uint32_t l4_len = tot_len - ihl;
  const uint8_t* l4 = ip + ihl;
  const uint32_t l4_avail = ip_avail - ihl;
  if (p.key.proto == kProtoTcp) {
    if (__builtin_expect(l4_len < kTcpMinHdrLen || l4_avail < kTcpMinHdrLen, 0))
      return parse_drop(Drop::kL4Truncated);
    if (__builtin_expect(!tcp_offset_ok(l4, l4_len), 0)) return parse_drop(Drop::kTcpBadDoff);
    p.tcp_flags = l4[13];
  } else {
    if (__builtin_expect(l4_len < kUdpHdrLen || l4_avail < kUdpHdrLen, 0))
      return parse_drop(Drop::kL4Truncated);
    if (__builtin_expect(!udp_length_ok(l4, l4_len, p.fragment), 0)) return parse_drop(Drop::kUdpBadLength);
  }
  p.key.sport = load16(l4);
  p.key.dport = load16(l4 + 2);
  p.kind = FrameKind::kIpv4L4;
  return p;
}

}  // namespace drfwd::net
