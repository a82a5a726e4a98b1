// Snapshot specs for tests, fuzzers and the microbenchmark: one builder, one convention.
// A real server in slot S has MAC 02:00:00:00:00:(0x10 + S), so the RS a forwarded
// frame went to can be read off its destination MAC (rs_of_mac).
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "lb/snapshot.hpp"
#include "packets.hpp"

namespace drfwd::test {

inline net::Mac rs_mac(uint32_t slot) { return net::Mac{{0x02, 0, 0, 0, 0, static_cast<uint8_t>(0x10 + slot)}}; }
inline int rs_of_mac(const uint8_t* dst_mac) { return dst_mac[5] - 0x10; }

// net_pcap's port MACs (02:70:63:61:70:0N), as drfwd's ports have them under tests.
inline net::Mac port_mac(uint16_t port) { return net::Mac{{0x02, 0x70, 0x63, 0x61, 0x70, static_cast<uint8_t>(port)}}; }

// A real server with generation 1, reached through `port`; without a MAC it is
// unresolved (no traffic). `addr`: IPv4 or IPv6 text (the service's family).
inline lb::RsSpec rs(uint32_t slot, const char* addr, uint32_t weight = 1, bool with_mac = true, uint16_t port = 0,
                     lb::Health health = lb::Health::kUnchecked) {
  lb::RsSpec r;
  r.slot = slot;
  r.gen = 1;
  r.ip = any_ip(addr);
  r.weight = weight;
  r.health = health;
  if (with_mac) r.mac = rs_mac(slot);
  r.port = port;
  return r;
}

// `vip`: IPv4 or IPv6 text.
inline lb::ServiceSpec service(uint32_t slot, const char* vip, uint8_t proto, uint16_t port, lb::Sched sched,
                               std::vector<lb::RsSpec> servers, lb::ServiceParams params = {}) {
  params.sched = sched;
  return lb::ServiceSpec{slot, 1, lb::ServiceKey{any_ip(vip), proto, port}, params, std::move(servers)};
}

// The mask is a prefix length: the configuration's default is the whole address (32 for
// IPv4, 128 for IPv6; ServiceParams{} has 32).
inline lb::ServiceParams persistent(uint32_t seconds, uint8_t mask = 32) {
  lb::ServiceParams p;
  p.persist = seconds;
  p.persist_mask = mask;
  return p;
}

// Ports 0..n-1 with net_pcap's MACs; `dip` gives port 0 its address.
inline std::vector<lb::PortSpec> ports(uint16_t n, std::optional<net::Prefix> dip = std::nullopt) {
  std::vector<lb::PortSpec> out;
  for (uint16_t p = 0; p < n; ++p) out.push_back(lb::PortSpec{port_mac(p), p == 0 ? dip : std::nullopt});
  return out;
}

}  // namespace drfwd::test
