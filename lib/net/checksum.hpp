// Internet checksum (RFC 1071) over small headers.
#pragma once

#include <cstdint>

#include "net/bytes.hpp"

namespace drfwd::net {

// One's-complement sum of `len` bytes (len even), folded to 16 bits, in the byte order
// of the data (the Internet checksum is byte-order independent).
inline uint16_t ones_sum(const uint8_t* p, uint32_t len, uint32_t seed = 0) {
  uint64_t sum = seed;
  for (uint32_t i = 0; i + 1 < len; i += 2) sum += load16(p + i);
  if (len & 1) sum += p[len - 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// True when an IPv4 header of `ihl` bytes carries a correct checksum. The common
// 20-byte header is summed as five 32-bit words.
inline bool ipv4_header_checksum_ok(const uint8_t* ip, uint32_t ihl, uint8_t ver_ihl) {
  if (__builtin_expect(ver_ihl == 0x45, 1)) {
    uint64_t sum = uint64_t{load32(ip)} + load32(ip + 4) + load32(ip + 8) + load32(ip + 12) + load32(ip + 16);
    sum = (sum & 0xffffffff) + (sum >> 32);
    sum = (sum & 0xffffffff) + (sum >> 32);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return sum == 0xffff;
  }
  return ones_sum(ip, ihl) == 0xffff;
}
inline bool ipv4_header_checksum_ok(const uint8_t* ip, uint32_t ihl) {
  return ones_sum(ip, ihl) == 0xffff;
}

// The checksum value to store for a header whose checksum field is zero.
inline uint16_t checksum_finish(const uint8_t* p, uint32_t len) {
  return static_cast<uint16_t>(~ones_sum(p, len));
}

}  // namespace drfwd::net
