// Fixed-seed hashes. Fixed so that every drfwd instance maps a flow to the same table
// slot: with the same real servers, two instances choose the same RS (sh, hash, mh).
#pragma once

#include <cstdint>

#include "net/parse.hpp"

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

// The connection hash: indexes the flow table and drives the hash and mh schedulers.
inline uint64_t flow_hash(const net::FlowKey& k) {
  return mix64(net::key_word0(k) ^ mix64(net::key_word1(k) ^ 0x9e3779b97f4a7c15ULL));
}

// Source-address (and optionally source-port) hash for the sh scheduler.
inline uint64_t source_hash(uint32_t src_be, uint16_t sport_be) {
  return mix64((uint64_t{sport_be} << 32 | src_be) ^ 0x2545f4914f6cdd1dULL);
}

// Uniform map of a 64-bit hash onto [0, n) without a division (Lemire's fastrange on
// the high half, so it is independent of the low bits the flow table indexes with).
inline uint32_t hash_range(uint64_t h, uint32_t n) {
  return static_cast<uint32_t>(((h >> 32) * uint64_t{n}) >> 32);
}

}  // namespace drfwd::lb
