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
// 16-19, as loaded little-endian) summed with end-around carries, then one test instead
// of RFC 1071's fold. The header's ones' complement sum is 0xffff exactly when the sum of
// its 16-bit words is a non-zero multiple of 65535. A 64-bit word is congruent to the sum
// of its four 16-bit words modulo 65535 (2^16 = 1 there), and the end-around carries keep
// the sum congruent modulo 2^64 - 1, of which 65535 is a factor: so the sum's remainder by
// 65535 is the words'. The sum is zero only for an all-zero header. Byte order does not
// matter: a ones' complement sum of byte-swapped words is the byte-swapped sum, and 0xffff
// is its own swap. Both tests in one multiply and one compare: times 65535's inverse
// modulo 2^64, a multiple of 65535 becomes its quotient (0 to kMaxQuotient) and anything
// else a number above kMaxQuotient; less one, zero wraps above it too.
struct Header20Test {
  static constexpr uint64_t kInverse = 0xfffefffefffeffffull;
  static constexpr uint64_t kMaxQuotient = ~uint64_t{0} / 0xffff;
  static_assert(uint64_t{0xffff} * kInverse == 1, "65535's inverse modulo 2^64");
  // The constants as data: an object a per-packet loop keeps (the Forwarder's) makes them
  // memory operands of the multiply and the compare, where as immediates GCC loads each
  // into a register with a 10-byte move for every header.
  uint64_t inverse = kInverse, max_quotient = kMaxQuotient;
  bool ok(uint64_t w0, uint64_t w1, uint32_t w2) const {
    uint64_t s;
    const bool c1 = __builtin_add_overflow(w0, w1, &s);
    s += c1;  // cannot overflow again: w0 + w1 - 2^64 + 1 < 2^64 - 1
    const bool c2 = __builtin_add_overflow(s, uint64_t{w2}, &s);
    s += c2;
    return s * inverse - 1 < max_quotient;  // s % 65535 == 0 && s != 0
  }
};
inline bool ipv4_header20_sum_ok(uint64_t w0, uint64_t w1, uint32_t w2) { return Header20Test{}.ok(w0, w1, w2); }

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
