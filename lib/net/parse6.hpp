// IPv6: the header checks and the bounded walk over extension headers to the transport
// header. Inline, like parse.hpp: it runs per IPv6 frame. Checks every length before
// reading; never reads past what it is given.
#pragma once

#include <cstdint>

#include "net/bytes.hpp"
#include "net/drop.hpp"

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
    nh = h[0];
    off += len;
  }
  w.proto = nh;
  w.l4 = off;
  return w;
}

}  // namespace drfwd::net
