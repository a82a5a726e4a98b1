// IPv6: the header checks, the bounded walk over extension headers to the transport
// header, and parsing to a flow key (FlowKey6, Parsed6, parse_ipv6). Inline, like
// parse.hpp: it runs per IPv6 frame. Checks every length before reading; never reads
// past what it is given.
#pragma once

#include <cstdint>

#include "net/bytes.hpp"
#include "net/checksum.hpp"
#include "net/drop.hpp"
#include "net/l4.hpp"

namespace drfwd::net {

constexpr uint16_t kEtherIpv6 = 0x86dd;
constexpr uint32_t kIpv6HdrLen = 40;

// Next-header values the walk knows.
constexpr uint8_t kNhHopByHop = 0;
constexpr uint8_t kNhRouting = 43;
constexpr uint8_t kNhFragment = 44;
constexpr uint8_t kNhNone = 59;
constexpr uint8_t kNhDestOpts = 60;
constexpr uint8_t kProtoIcmp6 = 58;

// An IPv6 connection's identity, laid out like FlowKey: the addresses, then ports,
// protocol and kind in the last word. Addresses and ports in network byte order, as on
// the wire. Trivial on purpose, like FlowKey: value-initialise with {}, which makes it
// a kConnection key.
struct FlowKey6 {
  uint8_t src[16];
  uint8_t dst[16];
  uint16_t sport;
  uint16_t dport;
  uint8_t proto;
  FlowKind kind;
  uint16_t pad;
  bool is_template() const { return kind == FlowKind::kTemplate; }
};
static_assert(sizeof(FlowKey6) == 40, "FlowKey6 is compared and hashed as five 64-bit words");

constexpr uint32_t kKey6Words = sizeof(FlowKey6) / 8;

// Word i (0-4) of the key: 0-1 the source, 2-3 the destination, 4 ports, protocol,
// kind and pad.
inline uint64_t key_word(const FlowKey6& k, uint32_t i) {
  uint64_t w;
  __builtin_memcpy(&w, reinterpret_cast<const uint8_t*>(&k) + 8 * i, 8);
  return w;
}
// Five word compares (pad and kind included), not field compares.
inline bool operator==(const FlowKey6& a, const FlowKey6& b) {
  return ((key_word(a, 0) ^ key_word(b, 0)) | (key_word(a, 1) ^ key_word(b, 1)) | (key_word(a, 2) ^ key_word(b, 2)) |
          (key_word(a, 3) ^ key_word(b, 3)) | (key_word(a, 4) ^ key_word(b, 4))) == 0;
}

// At most this many extension headers before the transport header (RFC 8200's
// recommended order has hop-by-hop, destination options, routing, fragment and
// destination options again: five). More is refused (ip6-bad-ext): a frame cannot make
// the walk long.
constexpr uint32_t kMaxIpv6ExtHeaders = 5;

// What the walk found. `proto` and `l4` are the transport header's (for a non-first
// fragment: the protocol the fragment carries, and no header).
struct Ipv6Walk {
  Drop drop;           // kNone: well formed
  uint8_t proto;       // upper-layer protocol (TCP, UDP, ICMPv6, no next header, ...)
  bool fragment;       // a fragment header is present
  bool more;           // its M flag: more fragments follow (false: last, or an atomic fragment)
  bool first;          // not a fragment, or the first fragment (offset 0)
  uint32_t frag_id;    // network order, when fragment
  uint32_t l4;         // offset of the transport header from the IPv6 header
  uint32_t end;        // 40 + payload length: the datagram's end, from the IPv6 header
};

inline Ipv6Walk ipv6_drop(Drop d) {
  Ipv6Walk w{};
  w.drop = d;
  return w;
}

// Sources no IPv6 packet may carry: multicast, loopback, IPv4-mapped (::ffff:0:0/96).
// The unspecified address is allowed (duplicate address detection sends from it).
inline bool ipv6_martian_source(const uint8_t* a) {
  if (a[0] == 0xff) return true;
  const uint64_t hi = load64(a), lo = load64(a + 8);
  if (hi == 0 && lo == uint64_t{1} << 56) return true;         // ::1 (byte 15 is 1)
  return hi == 0 && (lo & 0xffffffffULL) == 0xffff0000ULL;     // ::ffff:a.b.c.d
}

// ip: the IPv6 header; ip_avail: bytes readable there (the first segment); ip_len: the
// frame's bytes from there on (all segments). Checks the version, the payload length
// (within the frame; a jumbogram, payload length 0 with its length in a hop-by-hop
// option, is refused as its hop-by-hop header is past the datagram), the source, and walks hop-by-hop
// (first only), routing, destination options and fragment headers, each within the
// datagram and the first segment, at most kMaxIpv6ExtHeaders of them and one fragment
// header. Leaves the transport header to the caller.
inline Ipv6Walk walk_ipv6(const uint8_t* ip, uint32_t ip_avail, uint32_t ip_len) {
  if (ip_avail < kIpv6HdrLen) return ipv6_drop(Drop::kIp6Truncated);
  if ((ip[0] >> 4) != 6) return ipv6_drop(Drop::kIpBadVersion);
  const uint32_t payload = ntoh16(load16(ip + 4));
  if (kIpv6HdrLen + payload > ip_len) return ipv6_drop(Drop::kIp6BadLength);
  if (ipv6_martian_source(ip + 8)) return ipv6_drop(Drop::kIpBadSrc);
  Ipv6Walk w{};
  w.drop = Drop::kNone;
  w.first = true;
  w.end = kIpv6HdrLen + payload;
  const uint32_t limit = w.end < ip_avail ? w.end : ip_avail;  // extension headers: in both
  uint8_t nh = ip[6];
  uint32_t off = kIpv6HdrLen;
  for (uint32_t n = 0;; ++n) {
    if (nh != kNhHopByHop && nh != kNhRouting && nh != kNhFragment && nh != kNhDestOpts) break;
    if (n == kMaxIpv6ExtHeaders || (nh == kNhHopByHop && n != 0) || off + 8 > limit)
      return ipv6_drop(Drop::kIp6BadExt);
    const uint8_t* h = ip + off;
    if (nh == kNhFragment) {
      if (w.fragment) return ipv6_drop(Drop::kIp6BadExt);  // one fragment header
      w.fragment = true;
      w.frag_id = load32(h + 4);
      const uint16_t off_m = ntoh16(load16(h + 2));
      w.first = (off_m >> 3) == 0;
      w.more = (off_m & 1) != 0;
      nh = h[0];
      off += 8;
      if (!w.first) break;  // what follows is the middle of a datagram: no headers to read
      continue;
    }
    const uint32_t len = (uint32_t{h[1]} + 1) * 8;
    if (off + len > limit) return ipv6_drop(Drop::kIp6BadExt);
    // A routing header with segments left names another destination after this one:
    // not for a service here to forward unchanged (and not worth processing): refused.
    if (nh == kNhRouting && h[3] != 0) return ipv6_drop(Drop::kIp6BadExt);
    nh = h[0];
    off += len;
  }
  w.proto = nh;
  w.l4 = off;
  return w;
}

// walk_ipv6, then a whole datagram's or first fragment's TCP or UDP header: within the
// datagram and the first segment, its data offset or length right. The one place the
// IPv6 malformations are decided: parse_ipv6 and ipv6_drop_reason (parse.hpp) both
// use it. A drop here zeroes the rest of the walk.
inline Ipv6Walk check_ipv6(const uint8_t* ip, uint32_t ip_avail, uint32_t ip_len) {
  const Ipv6Walk w = walk_ipv6(ip, ip_avail, ip_len);
  if (w.drop != Drop::kNone || (w.proto != kProtoTcp && w.proto != kProtoUdp)) return w;
  // The unspecified source is for duplicate address detection only, not for TCP or UDP
  // (IPv4 drops 0/8).
  if ((load64(ip + 8) | load64(ip + 16)) == 0) return ipv6_drop(Drop::kIpBadSrc);
  if (!w.first) return w;
  const uint32_t l4_len = w.end - w.l4;
  const uint32_t l4_avail = ip_avail - w.l4;  // w.l4 <= min(end, ip_avail)
  const uint8_t* l4 = ip + w.l4;
  if (w.proto == kProtoTcp) {
    if (l4_len < kTcpMinHdrLen || l4_avail < kTcpMinHdrLen) return ipv6_drop(Drop::kL4Truncated);
    if (!tcp_offset_ok(l4, l4_len)) return ipv6_drop(Drop::kTcpBadDoff);
  } else {
    if (l4_len < kUdpHdrLen || l4_avail < kUdpHdrLen) return ipv6_drop(Drop::kL4Truncated);
    // The datagram goes on past this first fragment only if more fragments follow (an
    // atomic fragment, offset 0 without M, is a whole datagram).
    if (!udp_length_ok(l4, l4_len, w.more)) return ipv6_drop(Drop::kUdpBadLength);
  }
  return w;
}

// What an IPv6 datagram is, for the data path (IPv4's FrameKind, for IPv6).
enum class Kind6 : uint8_t {
  kDrop,       // see Parsed6::drop
  kL4,         // TCP or UDP with ports: a whole datagram or its first fragment
  kFrag,       // a non-first fragment of TCP or UDP: no ports
  kOther,      // another protocol (ICMPv6 but for the two below, ...), or a fragment of one
  kIcmpError,  // an ICMPv6 error about a TCP/UDP datagram the destination sent: `key` is
               // the connection it concerns, as the client sends (see icmp6_error_key)
  kNdp,        // neighbour discovery (ICMPv6 types 133-137) without a fragment header: for
               // the control core, which validates it
};

// Trivial, like FlowKey6: parse_ipv6() sets every field.
struct Parsed6 {
  Kind6 kind;
  Drop drop;          // kNone unless kDrop
  uint8_t tcp_flags;  // kL4 TCP; else 0
  bool fragment;      // part of a fragmented datagram: M set or offset != 0 (an atomic
                      // fragment, offset 0 without M, is a whole datagram), as IPv4's
  uint8_t icmp_type;  // ICMPv6 with its 4-byte header in the datagram and the first
                      // segment, not a non-first fragment; else 0
  uint32_t frag_id;   // network order, when there is a fragment header (else 0)
  uint32_t l4;        // offset of the transport header from the IPv6 header (a non-first
                      // fragment: of its data)
  FlowKey6 key;       // ports are zero for kFrag and kOther
};

// The ICMPv6 checksum (RFC 4443 2.3): over the pseudo-header (the IPv6 header's source
// and destination at `ip`, the upper-layer length, next header 58) and the `len` bytes
// of the message at `icmp`. True when it is right.
inline bool icmp6_sum_ok(const uint8_t* ip, const uint8_t* icmp, uint32_t len) {
  const uint32_t pseudo = uint32_t{ones_sum(ip + 8, 32)} + hton16(static_cast<uint16_t>(len >> 16)) +
                          hton16(static_cast<uint16_t>(len)) + hton16(kProtoIcmp6);
  return ones_sum(icmp, len, pseudo) == 0xffff;
}

// ICMPv6 errors (destination unreachable, packet too big, time exceeded, parameter
// problem) quote as much of the datagram that caused them as fits. In Direct Routing
// the real servers send with the VIP as source, so errors about their replies come to
// the VIP: such an error is keyed as the connection it concerns, from the client's side
// (the quoted destination is the client, the quoted source the VIP, ports swapped), so
// it can follow the connection to its real server, as icmp_error_key does for IPv4.
// Only when the error is not fragmented and all in the first segment, the quoted
// datagram is IPv6 with its header and ports there, its next header directly TCP or UDP,
// and its source this datagram's destination; the checksum is checked then (a bad one:
// kDrop). A quoted datagram with extension headers stays kOther: walking the quoted
// headers is not worth it for errors about replies, which real servers send without
// them. Everything else stays kOther.
// (The pseudo-header takes the destination from the IPv6 header: behind a routing header
// with segments left that is not the final one and the checksum fails; such a datagram
// is not for this host anyway.)
[[gnu::cold, gnu::noinline]] inline void icmp6_error_key(Parsed6& p, const uint8_t* ip, uint32_t end,
                                                         uint32_t ip_avail) {
  constexpr uint32_t kIcmpHdr = 8;
  if (end > ip_avail) return;  // the datagram runs past the first segment
  if (end < p.l4 + kIcmpHdr + kIpv6HdrLen + 4) return;  // quoted header and ports
  const uint8_t* icmp = ip + p.l4;
  const uint8_t type = icmp[0];
  if (type < 1 || type > 4) return;
  const uint8_t* in = icmp + kIcmpHdr;
  if ((in[0] >> 4) != 6) return;
  const uint8_t in_proto = in[6];
  if (in_proto != kProtoTcp && in_proto != kProtoUdp) return;  // quoted extension headers too
  if (__builtin_memcmp(in + 8, ip + 24, 16) != 0) return;      // not about a datagram sent from here
  if (!icmp6_sum_ok(ip, icmp, end - p.l4)) {
    p.kind = Kind6::kDrop;
    p.drop = Drop::kIcmpBadChecksum;
    return;
  }
  const uint8_t* ports = in + kIpv6HdrLen;
  __builtin_memcpy(p.key.src, in + 24, 16);
  p.key.sport = load16(ports + 2);
  p.key.dport = load16(ports);
  p.key.proto = in_proto;
  p.kind = Kind6::kIcmpError;
}

// ip: the IPv6 header; ip_avail: bytes readable there (the first segment); ip_len: the
// frame's bytes from there on (all segments). The IPv6 counterpart of parse_frame's IPv4
// part: check_ipv6's checks, then the key. TCP and UDP (whole, or a first fragment):
// kL4 with ports; a later fragment of them: kFrag; ICMPv6 neighbour discovery: kNdp
// (RFC 6980: never with a fragment header; one makes it kOther); an ICMPv6 error about
// a connection from here: kIcmpError (icmp6_error_key); anything else kOther.
inline Parsed6 parse_ipv6(const uint8_t* ip, uint32_t ip_avail, uint32_t ip_len) {
  Parsed6 p{};
  const Ipv6Walk w = check_ipv6(ip, ip_avail, ip_len);
  if (w.drop != Drop::kNone) {
    p.kind = Kind6::kDrop;
    p.drop = w.drop;
    return p;
  }
  __builtin_memcpy(p.key.src, ip + 8, 16);
  __builtin_memcpy(p.key.dst, ip + 24, 16);
  p.key.proto = w.proto;
  p.fragment = w.fragment && (w.more || !w.first);
  p.frag_id = w.frag_id;
  p.l4 = w.l4;
  const uint8_t* l4 = ip + w.l4;
  if (w.proto == kProtoTcp || w.proto == kProtoUdp) {
    if (!w.first) {
      p.kind = Kind6::kFrag;
      return p;
    }
    // check_ipv6 saw the header within the datagram and the first segment.
    p.key.sport = load16(l4);
    p.key.dport = load16(l4 + 2);
    if (w.proto == kProtoTcp) p.tcp_flags = l4[13];
    p.kind = Kind6::kL4;
    return p;
  }
  p.kind = Kind6::kOther;
  const uint32_t limit = w.end < ip_avail ? w.end : ip_avail;
  if (w.proto == kProtoIcmp6 && w.first && w.l4 + 4 <= limit) {
    p.icmp_type = l4[0];
    if (p.icmp_type >= 133 && p.icmp_type <= 137) {
      // Neighbour discovery right after the fixed header only: fragmented (RFC 6980) or
      // behind extension headers it is refused, so what reaches the control core (and
      // the kernel behind it) is what its checks read.
      if (!w.fragment && w.l4 == kIpv6HdrLen) {
        p.kind = Kind6::kNdp;
      } else {
        p.kind = Kind6::kDrop;
        p.drop = Drop::kIp6BadExt;
      }
    } else if (p.icmp_type >= 1 && p.icmp_type <= 4 && !p.fragment) {
      icmp6_error_key(p, ip, w.end, ip_avail);
    }
  }
  return p;
}

}  // namespace drfwd::net
