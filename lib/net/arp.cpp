#include "net/arp.hpp"

#include <cstring>

#include "net/bytes.hpp"
#include "net/parse.hpp"

namespace drfwd::net {

std::optional<Arp> parse_arp(const uint8_t* f, uint32_t len) {
  if (len < kArpFrameLen) return std::nullopt;
  if (ntoh16(load16(f + 12)) != kEtherArp) return std::nullopt;
  const uint8_t* a = f + kEtherHdrLen;
  if (ntoh16(load16(a)) != 1 || ntoh16(load16(a + 2)) != kEtherIpv4 || a[4] != 6 || a[5] != 4)
    return std::nullopt;
  Arp r;
  r.op = ntoh16(load16(a + 6));
  if (r.op != kArpRequest && r.op != kArpReply) return std::nullopt;
  std::memcpy(r.eth_dst.bytes.data(), f, 6);
  std::memcpy(r.eth_src.bytes.data(), f + 6, 6);
  std::memcpy(r.sha.bytes.data(), a + 8, 6);
  r.spa = Ipv4{ntoh32(load32(a + 14))};
  std::memcpy(r.tha.bytes.data(), a + 18, 6);
  r.tpa = Ipv4{ntoh32(load32(a + 24))};
  // The sender must be a unicast station: a group or zero sender MAC is never learned.
  if (r.sha.is_multicast() || r.sha.is_zero()) return std::nullopt;
  return r;
}

uint32_t build_arp(uint8_t* buf, const Arp& r) {
  std::memset(buf, 0, kMinFrameLen);
  std::memcpy(buf, r.eth_dst.bytes.data(), 6);
  std::memcpy(buf + 6, r.eth_src.bytes.data(), 6);
  store16(buf + 12, hton16(kEtherArp));
  uint8_t* a = buf + kEtherHdrLen;
  store16(a, hton16(1));
  store16(a + 2, hton16(kEtherIpv4));
  a[4] = 6;
  a[5] = 4;
  store16(a + 6, hton16(r.op));
  std::memcpy(a + 8, r.sha.bytes.data(), 6);
  store32(a + 14, hton32(r.spa.value));
  std::memcpy(a + 18, r.tha.bytes.data(), 6);
  store32(a + 24, hton32(r.tpa.value));
  return kMinFrameLen;
}

namespace {
Arp arp(uint16_t op, const Mac& eth_src, const Mac& eth_dst, Ipv4 spa, const Mac& tha, Ipv4 tpa) {
  return Arp{eth_src, eth_dst, op, eth_src, spa, tha, tpa};
}
}  // namespace

Arp arp_request(const Mac& src_mac, Ipv4 src_ip, Ipv4 target, const Mac& dst) {
  return arp(kArpRequest, src_mac, dst, src_ip, Mac{}, target);
}

Arp arp_reply(const Mac& our_mac, Ipv4 our_ip, const Mac& to_mac, Ipv4 to_ip) {
  return arp(kArpReply, our_mac, to_mac, our_ip, to_mac, to_ip);
}

Arp arp_announce(const Mac& mac, Ipv4 ip) { return arp_request(mac, ip, ip); }

}  // namespace drfwd::net
