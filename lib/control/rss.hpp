// Which worker a flow reaches: the NIC's RSS (Toeplitz hash of the addresses and ports
// with the port's key, then its redirection table) picks the RX queue, and worker i polls
// queue i of every port. Connection sync hands a received connection to that worker.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "net/parse.hpp"

namespace drfwd::control {

// The Toeplitz hash of `input` with `key` (which must be at least input.size() + 4
// bytes), as NICs compute it for RSS (Microsoft's RSS specification).
inline uint32_t toeplitz(std::span<const uint8_t> key, std::span<const uint8_t> input) {
  uint32_t hash = 0;
  uint64_t window = 0;  // key bits [i, i + 64) for the input bit i, refilled a byte at a time
  for (size_t k = 0; k < 8 && k < key.size(); ++k) window |= uint64_t{key[k]} << (56 - 8 * k);
  for (size_t byte = 0; byte < input.size(); ++byte) {
    for (int bit = 7; bit >= 0; --bit) {
      if (input[byte] & (1u << bit)) hash ^= static_cast<uint32_t>(window >> 32);
      window <<= 1;
    }
    const size_t next = byte + 8;
    if (next < key.size()) window |= uint64_t{key[next]};
  }
  return hash;
}

// A port's RSS as configured: its key, redirection table and whether TCP and UDP
// flows hash on their ports too (else on the addresses alone). Empty: not known.
struct RssView {
  std::vector<uint8_t> key;
  std::vector<uint16_t> reta;
  bool tcp_ports = false, udp_ports = false;
  bool known() const { return key.size() >= 16 && !reta.empty(); }
};

// The RX queue RSS gives a flow (client -> VIP), or -1 if the port's RSS is not known.
inline int rss_queue(const RssView& rss, const net::FlowKey& k) {
  if (!rss.known()) return -1;
  uint8_t in[12];
  __builtin_memcpy(in, &k.src, 4);  // network order, as on the wire
  __builtin_memcpy(in + 4, &k.dst, 4);
  __builtin_memcpy(in + 8, &k.sport, 2);
  __builtin_memcpy(in + 10, &k.dport, 2);
  const bool ports = k.proto == net::kProtoTcp ? rss.tcp_ports : k.proto == net::kProtoUdp && rss.udp_ports;
  const uint32_t h = toeplitz(rss.key, std::span<const uint8_t>(in, ports ? 12 : 8));
  return rss.reta[h % rss.reta.size()];
}

// The workers (bit i: worker i, which polls queue i of every port) that must hold a
// received record: for a connection, the one RSS gives it on each port (usually the same
// worker on every port: the ports share a driver's default key); every worker for a
// persistence template (any worker may schedule that client), with one worker, or when a
// port's RSS is not known. Workers beyond 63 always get it.
inline uint64_t sync_owners(const std::vector<RssView>& ports, const net::FlowKey& k, size_t workers) {
  if (k.is_template() || workers <= 1 || ports.empty()) return ~uint64_t{0};
  uint64_t owners = 0;
  for (const RssView& v : ports) {
    const int q = rss_queue(v, k);
    if (q < 0 || static_cast<size_t>(q) >= workers || q >= 64) return ~uint64_t{0};
    owners |= uint64_t{1} << q;
  }
  return owners;
}

}  // namespace drfwd::control
