// Test packets built byte by byte, so each test can break exactly one field: shared by
// the unit tests, the fuzzers and the microbenchmark (tests/common).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "net/addr.hpp"
#include "net/bytes.hpp"
#include "net/checksum.hpp"
#include "net/parse.hpp"

namespace drfwd::test {

inline net::Ipv4 ip(const char* s) { return *net::parse_ipv4(s); }
inline net::Mac mac(const char* s) { return *net::parse_mac(s); }

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

}  // namespace drfwd::test
