// Test packets built byte by byte, so each test can break exactly one field: shared by
// the unit tests, the fuzzers and the microbenchmark (tests/common).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "net/addr.hpp"
#include "net/bytes.hpp"
#include "net/checksum.hpp"
#include "net/ndp.hpp"
#include "net/parse.hpp"
#include "net/parse6.hpp"

namespace drfwd::test {

inline net::Ipv4 ip(const char* s) { return *net::parse_ipv4(s); }
inline net::Mac mac(const char* s) { return *net::parse_mac(s); }
inline net::Ipv6 ip6(const char* s) { return net::parse_ipv6(std::string_view(s)).value(); }
// Either family, as the configuration writes it: dotted IPv4 or IPv6 text.
inline net::IpAddr any_ip(const char* s) { return net::parse_ip(s).value(); }

struct FrameSpec {
  net::Mac dst = mac("02:70:63:61:70:00");
  net::Mac src = mac("02:00:00:00:01:01");
  uint16_t ethertype = net::kEtherIpv4;
  net::Ipv4 saddr = ip("198.18.2.1");
  net::Ipv4 daddr = ip("198.18.1.10");
  uint8_t proto = net::kProtoTcp;
  uint16_t sport = 40000;
  uint16_t dport = 80;
  uint8_t tcp_flags = net::kTcpSyn;
  uint16_t ip_id = 1;
  uint16_t frag = 0;  // flags + offset field (host order)
  uint8_t ttl = 64;
  std::vector<uint8_t> ip_options;  // multiple of 4 bytes
  size_t payload = 16;
};

inline std::vector<uint8_t> build(const FrameSpec& s) {
  std::vector<uint8_t> f;
  auto put8 = [&](uint8_t v) { f.push_back(v); };
  auto put16 = [&](uint16_t v) { f.push_back(v >> 8); f.push_back(v & 0xff); };
  auto put32 = [&](uint32_t v) { put16(v >> 16); put16(v & 0xffff); };
  for (auto b : s.dst.bytes) put8(b);
  for (auto b : s.src.bytes) put8(b);
  put16(s.ethertype);
  const size_t ip_off = f.size();
  const size_t ihl = 20 + s.ip_options.size();
  const size_t l4 = s.proto == net::kProtoTcp ? 20 : s.proto == net::kProtoUdp ? 8 : 8;
  const bool first_or_whole = (s.frag & 0x1fff) == 0;
  const size_t l4_len = first_or_whole ? l4 + s.payload : s.payload;
  put8(static_cast<uint8_t>(0x40 | (ihl / 4)));
  put8(0);
  put16(static_cast<uint16_t>(ihl + l4_len));
  put16(s.ip_id);
  put16(s.frag);
  put8(s.ttl);
  put8(s.proto);
  put16(0);
  put32(s.saddr.value);
  put32(s.daddr.value);
  for (auto b : s.ip_options) put8(b);
  const uint16_t ck = net::checksum_finish(&f[ip_off], static_cast<uint32_t>(ihl));
  std::memcpy(&f[ip_off + 10], &ck, 2);
  if (first_or_whole) {
    if (s.proto == net::kProtoTcp) {
      put16(s.sport); put16(s.dport); put32(1000); put32(0);
      put8(5 << 4); put8(s.tcp_flags); put16(65535); put16(0); put16(0);
    } else if (s.proto == net::kProtoUdp) {
      put16(s.sport); put16(s.dport); put16(static_cast<uint16_t>(8 + s.payload)); put16(0);
    } else {  // ICMP echo
      put8(8); put8(0); put16(0); put16(1); put16(1);
    }
  }
  for (size_t i = 0; i < s.payload; ++i) put8(static_cast<uint8_t>(i));
  return f;
}

// Recomputes the IPv4 header checksum after a test changed the header.
inline void fix_ip_checksum(std::vector<uint8_t>& f) {
  const uint32_t ihl = (f[14] & 0x0f) * 4u;
  f[24] = f[25] = 0;
  const uint16_t ck = net::checksum_finish(&f[14], ihl);
  std::memcpy(&f[24], &ck, 2);
}

inline net::Parsed parse(const std::vector<uint8_t>& f) {
  return net::parse_frame(f.data(), static_cast<uint32_t>(f.size()), static_cast<uint32_t>(f.size()));
}

// An ICMP error (type/code; `mtu` for fragmentation needed) from `router` to `to`,
// quoting the IPv4 header and first 8 bytes of `quoted`'s datagram, as routers do.
inline std::vector<uint8_t> icmp_error(const FrameSpec& quoted, net::Ipv4 router, net::Ipv4 to, uint8_t type = 3,
                                       uint8_t code = 4, uint16_t mtu = 1400) {
  const std::vector<uint8_t> q = build(quoted);
  const size_t qihl = (q[14] & 0x0f) * 4u;
  FrameSpec outer;
  outer.saddr = router;
  outer.daddr = to;
  outer.proto = net::kProtoIcmp;
  outer.payload = 0;
  std::vector<uint8_t> f = build(outer);
  f.resize(14 + 20);  // the IPv4 header; the ICMP message follows
  const size_t icmp = f.size();
  const uint8_t hdr[8] = {type, code, 0, 0, 0, 0, static_cast<uint8_t>(mtu >> 8), static_cast<uint8_t>(mtu)};
  f.insert(f.end(), hdr, hdr + 8);
  f.insert(f.end(), q.begin() + 14, q.begin() + 14 + static_cast<long>(std::min(q.size() - 14, qihl + 8)));
  const uint16_t ck = net::checksum_finish(&f[icmp], static_cast<uint32_t>(f.size() - icmp));
  std::memcpy(&f[icmp + 2], &ck, 2);
  net::store16(&f[14 + 2], net::hton16(static_cast<uint16_t>(f.size() - 14)));
  fix_ip_checksum(f);
  return f;
}

// ---- IPv6 ----

// An IPv6 fragment header: offset in 8-byte units, the M flag, the identification.
struct Frag6 {
  uint16_t offset = 0;
  bool more = false;
  uint32_t id = 1;
};

// An Ethernet/IPv6 frame: TCP, UDP (a whole datagram, or with `frag` a fragment of one:
// the transport header only in the first), or another protocol's bytes (`l4`).
struct Frame6Spec {
  net::Mac dst = mac("02:70:63:61:70:00");
  net::Mac src = mac("02:00:00:00:01:01");
  net::Ipv6 saddr = ip6("2001:db8:2::1");
  net::Ipv6 daddr = ip6("2001:2::100");
  uint8_t proto = net::kProtoTcp;
  uint16_t sport = 40000;
  uint16_t dport = 80;
  uint8_t tcp_flags = net::kTcpSyn;
  uint8_t hop_limit = 64;
  std::optional<Frag6> frag;
  std::vector<uint8_t> l4;  // another protocol (not TCP or UDP): its header and data
  size_t payload = 16;
};

inline std::vector<uint8_t> build6(const Frame6Spec& s) {
  std::vector<uint8_t> f;
  auto put8 = [&](uint8_t v) { f.push_back(v); };
  auto put16 = [&](uint16_t v) { f.push_back(static_cast<uint8_t>(v >> 8)); f.push_back(static_cast<uint8_t>(v)); };
  auto put32 = [&](uint32_t v) { put16(static_cast<uint16_t>(v >> 16)); put16(static_cast<uint16_t>(v)); };
  for (auto b : s.dst.bytes) put8(b);
  for (auto b : s.src.bytes) put8(b);
  put16(net::kEtherIpv6);
  const size_t ip = f.size();
  put32(0x60000000);
  put16(0);  // payload length, below
  put8(s.frag ? net::kNhFragment : s.proto);
  put8(s.hop_limit);
  f.insert(f.end(), s.saddr.bytes.begin(), s.saddr.bytes.end());
  f.insert(f.end(), s.daddr.bytes.begin(), s.daddr.bytes.end());
  if (s.frag) {
    put8(s.proto);
    put8(0);
    put16(static_cast<uint16_t>(s.frag->offset << 3 | (s.frag->more ? 1 : 0)));
    put32(s.frag->id);
  }
  if (!s.frag || s.frag->offset == 0) {
    if (s.proto == net::kProtoTcp) {
      put16(s.sport); put16(s.dport); put32(1000); put32(0);
      put8(5 << 4); put8(s.tcp_flags); put16(65535); put16(0); put16(0);
    } else if (s.proto == net::kProtoUdp) {
      put16(s.sport); put16(s.dport); put16(static_cast<uint16_t>(8 + s.payload)); put16(0);
    } else {
      f.insert(f.end(), s.l4.begin(), s.l4.end());
    }
  }
  for (size_t i = 0; i < s.payload; ++i) put8(static_cast<uint8_t>(i));
  net::store16(&f[ip + 4], net::hton16(static_cast<uint16_t>(f.size() - ip - net::kIpv6HdrLen)));
  return f;
}

inline net::Parsed6 parse6(const std::vector<uint8_t>& f) {
  const uint32_t n = static_cast<uint32_t>(f.size()) - net::kEtherHdrLen;
  return net::parse_ipv6(f.data() + net::kEtherHdrLen, n, n);
}

// An ICMPv6 error (type/code; `word`: the MTU of a packet too big, the pointer of a
// parameter problem) from `router` to `to`, quoting `quoted`'s datagram (its IPv6
// header on) as far as an error may (RFC 4443 2.4: the error fits the minimum MTU, 1280
// bytes), with its checksum.
inline std::vector<uint8_t> icmp6_error(const Frame6Spec& quoted, const net::Ipv6& router, const net::Ipv6& to,
                                        uint8_t type = net::kIcmp6PacketTooBig, uint8_t code = 0,
                                        uint32_t word = 1280) {
  const std::vector<uint8_t> q = build6(quoted);
  constexpr size_t kMaxQuote = 1280 - net::kIpv6HdrLen - 8;
  Frame6Spec outer;
  outer.saddr = router;
  outer.daddr = to;
  outer.proto = net::kProtoIcmp6;
  outer.payload = 0;
  outer.l4 = {type, code, 0, 0, static_cast<uint8_t>(word >> 24), static_cast<uint8_t>(word >> 16),
              static_cast<uint8_t>(word >> 8), static_cast<uint8_t>(word)};
  outer.l4.insert(outer.l4.end(), q.begin() + 14, q.begin() + 14 + static_cast<long>(std::min(q.size() - 14, kMaxQuote)));
  std::vector<uint8_t> f = build6(outer);
  const size_t icmp = 14 + net::kIpv6HdrLen;
  const uint16_t ck = net::icmp6_checksum(router, to, &f[icmp], static_cast<uint32_t>(f.size() - icmp));
  net::store16(&f[icmp + 2], ck);
  return f;
}

}  // namespace drfwd::test
