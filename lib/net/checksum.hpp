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

// True when an IPv4 header of `ihl` bytes carries a correct checksum.
inline bool ipv4_header_checksum_ok(const uint8_t* ip, uint32_t ihl) {
  return ones_sum(ip, ihl) == 0xffff;
}

// The checksum value to store for a header whose checksum field is zero.
inline uint16_t checksum_finish(const uint8_t* p, uint32_t len) {
  return static_cast<uint16_t>(~ones_sum(p, len));
}

}  // namespace drfwd::net
