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

// The common 20-byte IPv4 header's checksum is right: its three words (bytes 0-7, 8-15,
// 16-19, as loaded little-endian) summed with end-around carries, folded 64 -> 32 -> 16
// bits by adding each value to itself rotated (the carry out of the low half lands in
// the high half, which is the folded sum: RFC 1071's fold without a loop). About a dozen
// instructions, against some thirty for five 32-bit words folded twice.
inline bool ipv4_header20_sum_ok(uint64_t w0, uint64_t w1, uint32_t w2) {
  uint64_t s;
  const bool c1 = __builtin_add_overflow(w0, w1, &s);
  s += c1;  // cannot overflow again: w0 + w1 - 2^64 + 1 < 2^64 - 1
  const bool c2 = __builtin_add_overflow(s, uint64_t{w2}, &s);
  s += c2;
  const uint32_t x = static_cast<uint32_t>((s + (s >> 32 | s << 32)) >> 32);
  const uint32_t y = (x + (x >> 16 | x << 16)) >> 16;
  return y == 0xffff;
}

// True when an IPv4 header of `ihl` bytes carries a correct checksum.
inline bool ipv4_header_checksum_ok(const uint8_t* ip, uint32_t ihl, uint8_t ver_ihl) {
  if (__builtin_expect(ver_ihl == 0x45, 1)) return ipv4_header20_sum_ok(load64(ip), load64(ip + 8), load32(ip + 16));
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
