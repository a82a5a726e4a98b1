// Byte-order helpers. Packet fields stay in network order on the data path; these
// convert only where a value is computed or shown.
#pragma once

#include <cstdint>
#include <cstring>

namespace drfwd::net {

constexpr uint16_t bswap16(uint16_t v) { return static_cast<uint16_t>((v << 8) | (v >> 8)); }
constexpr uint32_t bswap32(uint32_t v) { return __builtin_bswap32(v); }

// Host <-> network order (x86 and every DPDK target we build for are little-endian).
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "drfwd assumes a little-endian host");
constexpr uint16_t hton16(uint16_t v) { return bswap16(v); }
constexpr uint16_t ntoh16(uint16_t v) { return bswap16(v); }
constexpr uint32_t hton32(uint32_t v) { return bswap32(v); }
constexpr uint32_t ntoh32(uint32_t v) { return bswap32(v); }

// Unaligned loads: frames start wherever the driver put them.
inline uint16_t load16(const uint8_t* p) { uint16_t v; std::memcpy(&v, p, 2); return v; }
inline uint32_t load32(const uint8_t* p) { uint32_t v; std::memcpy(&v, p, 4); return v; }
inline uint64_t load64(const uint8_t* p) { uint64_t v; std::memcpy(&v, p, 8); return v; }
constexpr uint64_t kMac48 = 0xffffffffffffULL;  // the 6 bytes of a MAC loaded as the low 48 bits
inline void store16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
inline void store32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }

}  // namespace drfwd::net
