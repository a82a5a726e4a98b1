// Fixed-seed hashes. Fixed so that every drfwd instance maps a flow to the same table
// slot: with the same real servers, two instances choose the same RS (sh, hash, mh).
#pragma once

#include <cstdint>

#include "net/parse.hpp"

#if defined(__SSE4_2__)
#include <nmmintrin.h>
#endif

namespace drfwd::lb {

// Murmur3's 64-bit finaliser: every input bit affects every output bit.
constexpr uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

// One CRC32C step, the CRC held in a 64-bit word whose upper half is zero (as SSE4.2's
// CRC32 leaves it), so a chain of steps needs no zero extension between them.
inline uint64_t crc32c_step(uint64_t crc, uint64_t v) {
#if defined(__SSE4_2__)
  return _mm_crc32_u64(crc, v);
#else
  for (int i = 0; i < 64; ++i) {
    const uint64_t bit = (crc ^ (v >> i)) & 1;
    crc = (crc >> 1) ^ (bit ? 0x82f63b78u : 0);
  }
  return crc;
#endif
}

// The connection hash: indexes the flow table and drives the hash and mh schedulers.
// CRC32C of the key's two words (one instruction each on SSE4.2), spread over 64 bits
// by a multiply. Low bits pick the flow-table bucket, the top 16 its signature, the
// high half the scheduler slot. Portable builds use the same CRC in software, so every
// instance maps a flow to the same slot whatever it runs on.
constexpr uint64_t kFlowHashMultiplier = 0x9e3779b97f4a7c15ULL;
// The same, the multiplier given: a per-packet loop that keeps it as data (the Forwarder)
// multiplies by a memory operand instead of loading it with a 10-byte move each frame.
inline uint64_t flow_hash(uint64_t key_word0, uint64_t key_word1, uint64_t multiplier) {
  return crc32c_step(crc32c_step(0x2545f491u, key_word0), key_word1) * multiplier;
}
inline uint64_t flow_hash(uint64_t key_word0, uint64_t key_word1) {
  return flow_hash(key_word0, key_word1, kFlowHashMultiplier);
}
inline uint64_t flow_hash(const net::FlowKey& k) { return flow_hash(net::key_word0(k), net::key_word1(k)); }

// The IPv6 connection hash: the same, over the key's five words.
inline uint64_t flow_hash(const net::FlowKey6& k) {
  uint64_t c = 0x2545f491u;
  for (uint32_t i = 0; i < net::kKey6Words; ++i) c = crc32c_step(c, net::key_word(k, i));
  return c * 0x9e3779b97f4a7c15ULL;
}

// Source-address (and optionally source-port) hash for the sh scheduler.
inline uint64_t source_hash(uint32_t src_be, uint16_t sport_be) {
  return mix64((uint64_t{sport_be} << 32 | src_be) ^ 0x2545f4914f6cdd1dULL);
}

// The same for an IPv6 source (16 bytes, network order): each half of the address, then
// the port, folded in through mix64 from a fixed seed. The halves are loaded as
// little-endian words, as on every host drfwd builds for (net/bytes.hpp), so every
// instance agrees.
inline uint64_t source_hash6(const uint8_t* src16, uint16_t sport_be) {
  uint64_t h = mix64(net::load64(src16) ^ 0x2545f4914f6cdd1dULL);
  h = mix64(h ^ net::load64(src16 + 8));
  return mix64(h ^ sport_be);
}

// Uniform map of a 64-bit hash onto [0, n) without a division (Lemire's fastrange on
// the high half, so it is independent of the low bits the flow table indexes with).
inline uint32_t hash_range(uint64_t h, uint32_t n) {
  return static_cast<uint32_t>(((h >> 32) * uint64_t{n}) >> 32);
}

}  // namespace drfwd::lb
