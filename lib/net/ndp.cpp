#include "net/ndp.hpp"

#include <cstring>

#include "net/arp.hpp"
#include "net/bytes.hpp"
#include "net/checksum.hpp"
#include "net/parse.hpp"
#include "net/parse6.hpp"

namespace drfwd::net {

static_assert(kEtherHdrLen + kIpv6HdrLen + kNdpMsgLen >= kMinFrameLen,
              "an NS or NA is never shorter than Ethernet's minimum: no padding");

namespace {
// ff02::1:ff00:0/104, the prefix of every solicited-node address (RFC 4291 2.7.1).
constexpr uint8_t kSolicitedPrefix[13] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff};
}  // namespace

Ipv6 solicited_node(const Ipv6& target) {
  Ipv6 a;
  std::memcpy(a.bytes.data(), kSolicitedPrefix, sizeof kSolicitedPrefix);
  std::memcpy(a.bytes.data() + 13, target.bytes.data() + 13, 3);
  return a;
}

Ipv6 all_nodes() {
  Ipv6 a;
  a.bytes[0] = 0xff;
  a.bytes[1] = 0x02;
  a.bytes[15] = 0x01;
  return a;
}

Mac ipv6_multicast_mac(const Ipv6& group) {
  Mac m{{0x33, 0x33}};
  std::memcpy(m.bytes.data() + 2, group.bytes.data() + 12, 4);
  return m;
}

bool is_solicited_node(const Ipv6& a) {
  return std::memcmp(a.bytes.data(), kSolicitedPrefix, sizeof kSolicitedPrefix) == 0;
}

uint16_t icmp6_checksum(const Ipv6& src, const Ipv6& dst, const uint8_t* msg, uint32_t len) {
  uint8_t pseudo[40] = {};
  std::memcpy(pseudo, src.bytes.data(), 16);
  std::memcpy(pseudo + 16, dst.bytes.data(), 16);
  store32(pseudo + 32, hton32(len));
  pseudo[39] = kProtoIcmp6;
  return static_cast<uint16_t>(~ones_sum(msg, len, ones_sum(pseudo, sizeof pseudo)));
}

std::optional<Ndp> parse_ndp(const uint8_t* f, uint32_t len) {
  if (len < kEtherHdrLen + kIpv6HdrLen + kNdpMsgLen) return std::nullopt;
  if (ntoh16(load16(f + 12)) != kEtherIpv6) return std::nullopt;
  const uint8_t* ip = f + kEtherHdrLen;
  // Hop limit 255: a router would have decremented it, so the sender is on our link.
  if ((ip[0] >> 4) != 6 || ip[6] != kProtoIcmp6 || ip[7] != kNdpHopLimit) return std::nullopt;
  const uint32_t msg_len = ntoh16(load16(ip + 4));  // no extension headers: all ICMPv6
  if (msg_len < kNdpMsgLen || msg_len > len - kEtherHdrLen - kIpv6HdrLen) return std::nullopt;
  if (ipv6_martian_source(ip + 8)) return std::nullopt;
  const uint8_t* m = ip + kIpv6HdrLen;
  if ((m[0] != kNdpNeighborSolicit && m[0] != kNdpNeighborAdvert) || m[1] != 0) return std::nullopt;
  Ndp r;
  r.type = m[0];
  std::memcpy(r.eth_dst.bytes.data(), f, 6);
  std::memcpy(r.eth_src.bytes.data(), f + 6, 6);
  std::memcpy(r.src.bytes.data(), ip + 8, 16);
  std::memcpy(r.dst.bytes.data(), ip + 24, 16);
  std::memcpy(r.target.bytes.data(), m + 8, 16);
  if (r.target.is_multicast()) return std::nullopt;
  const bool ns = r.type == kNdpNeighborSolicit;
  if (!ns) {
    r.router = (m[4] & kNdpFlagRouter) != 0;
    r.solicited = (m[4] & kNdpFlagSolicited) != 0;
    r.override_flag = (m[4] & kNdpFlagOverride) != 0;
  }
  // Options: each of non-zero length (a zero length would loop forever: RFC 4861 4.6
  // discards the message) and within the message.
  const uint8_t want = ns ? kNdpOptSrcLladdr : kNdpOptTgtLladdr;
  bool have_lladdr_opt = false;  // the first option of that type, whatever its length
  for (uint32_t off = kNdpMsgLen; off < msg_len;) {
    if (msg_len - off < 2) return std::nullopt;  // not even a type and length
    const uint32_t opt_len = uint32_t{m[off + 1]} * 8;
    if (opt_len == 0 || opt_len > msg_len - off) return std::nullopt;
    if (m[off] == want && !have_lladdr_opt) {
      have_lladdr_opt = true;
      if (opt_len == 8) {  // Ethernet: 6 bytes after type and length (RFC 2464 6)
        Mac mac;
        std::memcpy(mac.bytes.data(), m + off + 2, 6);
        if (!mac.is_multicast() && !mac.is_zero()) r.lladdr = mac;
      }
    }
    off += opt_len;
  }
  if (ns && r.src.is_unspecified()) {
    // Duplicate address detection: only to the target's solicited-node group, and no
    // link-layer address a receiver could learn for the unspecified address.
    if (!is_solicited_node(r.dst) || have_lladdr_opt) return std::nullopt;
  }
  // A multicast NA answers no one: it cannot be solicited.
  if (!ns && r.dst.is_multicast() && r.solicited) return std::nullopt;
  // Last: the one check that reads the whole message.
  if (icmp6_checksum(r.src, r.dst, m, msg_len) != 0) return std::nullopt;
  return r;
}

uint32_t build_ndp(uint8_t* buf, const Ndp& n) {
  const uint32_t msg_len = kNdpMsgLen + (n.lladdr ? 8 : 0);
  const uint32_t frame_len = kEtherHdrLen + kIpv6HdrLen + msg_len;
  std::memset(buf, 0, frame_len);
  std::memcpy(buf, n.eth_dst.bytes.data(), 6);
  std::memcpy(buf + 6, n.eth_src.bytes.data(), 6);
  store16(buf + 12, hton16(kEtherIpv6));
  uint8_t* ip = buf + kEtherHdrLen;
  ip[0] = 0x60;  // version 6, traffic class and flow label 0
  store16(ip + 4, hton16(static_cast<uint16_t>(msg_len)));
  ip[6] = kProtoIcmp6;
  ip[7] = kNdpHopLimit;
  std::memcpy(ip + 8, n.src.bytes.data(), 16);
  std::memcpy(ip + 24, n.dst.bytes.data(), 16);
  uint8_t* m = ip + kIpv6HdrLen;
  m[0] = n.type;
  if (n.type == kNdpNeighborAdvert)
    m[4] = static_cast<uint8_t>((n.router ? kNdpFlagRouter : 0) | (n.solicited ? kNdpFlagSolicited : 0) |
                                (n.override_flag ? kNdpFlagOverride : 0));
  std::memcpy(m + 8, n.target.bytes.data(), 16);
  if (n.lladdr) {
    m[kNdpMsgLen] = n.type == kNdpNeighborSolicit ? kNdpOptSrcLladdr : kNdpOptTgtLladdr;
    m[kNdpMsgLen + 1] = 1;
    std::memcpy(m + kNdpMsgLen + 2, n.lladdr->bytes.data(), 6);
  }
  store16(m + 2, icmp6_checksum(n.src, n.dst, m, msg_len));
  return frame_len;
}

Ndp ndp_advert(const Mac& our_mac, const Ipv6& target, const Ndp& ns) {
  Ndp r;
  r.type = kNdpNeighborAdvert;
  r.eth_src = our_mac;
  r.src = target;
  r.target = target;
  r.override_flag = true;
  r.lladdr = our_mac;
  if (ns.src.is_unspecified()) {
    // The soliciting node has no address yet to be answered at (RFC 4861 7.2.4).
    r.dst = all_nodes();
    r.eth_dst = ipv6_multicast_mac(r.dst);
  } else {
    r.dst = ns.src;
    r.eth_dst = ns.lladdr.value_or(ns.eth_src);
    r.solicited = true;
  }
  return r;
}

Ndp ndp_announce(const Mac& mac, const Ipv6& ip) {
  Ndp r;
  r.type = kNdpNeighborAdvert;
  r.eth_src = mac;
  r.src = ip;
  r.dst = all_nodes();
  r.eth_dst = ipv6_multicast_mac(r.dst);
  r.target = ip;
  r.override_flag = true;
  r.lladdr = mac;
  return r;
}

Ndp ndp_solicit(const Mac& src_mac, const Ipv6& src_ip, const Ipv6& target, std::optional<Mac> unicast) {
  Ndp r;
  r.type = kNdpNeighborSolicit;
  r.eth_src = src_mac;
  r.src = src_ip;
  r.target = target;
  if (!src_ip.is_unspecified()) r.lladdr = src_mac;
  if (unicast) {
    r.dst = target;
    r.eth_dst = *unicast;
  } else {
    r.dst = solicited_node(target);
    r.eth_dst = ipv6_multicast_mac(r.dst);
  }
  return r;
}

}  // namespace drfwd::net
