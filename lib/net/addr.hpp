// IPv4, IPv6 and MAC addresses as values, with text parsing and formatting (control side).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace drfwd::net {

// An IPv4 address in host byte order (so it sorts and prints naturally).
struct Ipv4 {
  uint32_t value = 0;
  constexpr auto operator<=>(const Ipv4&) const = default;
  constexpr uint32_t be() const { return __builtin_bswap32(value); }
  static constexpr Ipv4 from_be(uint32_t be) { return Ipv4{__builtin_bswap32(be)}; }
  constexpr bool is_multicast() const { return (value >> 28) == 0xe; }
  constexpr bool is_broadcast() const { return value == 0xffffffffu; }
  constexpr bool is_unspecified() const { return value == 0; }
  constexpr bool is_loopback() const { return (value >> 24) == 127; }
};

// An IPv6 address as on the wire (network byte order), so it compares and sorts as the
// address does.
struct Ipv6 {
  std::array<uint8_t, 16> bytes{};
  constexpr auto operator<=>(const Ipv6&) const = default;
  constexpr bool is_multicast() const { return bytes[0] == 0xff; }
  constexpr bool is_unspecified() const { return *this == Ipv6{}; }
  constexpr bool is_loopback() const {
    Ipv6 one;
    one.bytes[15] = 1;
    return *this == one;
  }
  constexpr bool is_link_local() const { return bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80; }
  constexpr bool is_v4_mapped() const {  // ::ffff:a.b.c.d
    for (int i = 0; i < 10; ++i)
      if (bytes[i] != 0) return false;
    return bytes[10] == 0xff && bytes[11] == 0xff;
  }
  // 16-bit group i (0..7), host order.
  constexpr uint16_t group(int i) const { return static_cast<uint16_t>(bytes[2 * i] << 8 | bytes[2 * i + 1]); }
};

// An IPv4 or an IPv6 address: the one address type of the control side (configuration,
// neighbours, views). IPv4 is held IPv4-mapped (::ffff:a.b.c.d, RFC 4291 2.5.5.2), so
// both families compare, sort (IPv4 first) and hash as one. An IPv4 address converts
// implicitly; an IPv6 one explicitly (a mapped IPv6 address would become IPv4: parse_ip
// refuses that text, the data path drops such sources).
struct IpAddr {
  Ipv6 a;
  constexpr IpAddr() : IpAddr(Ipv4{}) {}
  constexpr IpAddr(Ipv4 v4) {  // NOLINT: implicit on purpose
    a.bytes[10] = a.bytes[11] = 0xff;
    a.bytes[12] = static_cast<uint8_t>(v4.value >> 24);
    a.bytes[13] = static_cast<uint8_t>(v4.value >> 16);
    a.bytes[14] = static_cast<uint8_t>(v4.value >> 8);
    a.bytes[15] = static_cast<uint8_t>(v4.value);
  }
  constexpr explicit IpAddr(const Ipv6& v6) : a(v6) {}
  constexpr auto operator<=>(const IpAddr&) const = default;
  constexpr bool is_v4() const { return a.is_v4_mapped(); }
  constexpr bool is_v6() const { return !is_v4(); }
  // The IPv4 address (is_v4() only).
  constexpr Ipv4 v4() const {
    return Ipv4{uint32_t{a.bytes[12]} << 24 | uint32_t{a.bytes[13]} << 16 | uint32_t{a.bytes[14]} << 8 | a.bytes[15]};
  }
  constexpr const Ipv6& v6() const { return a; }
  constexpr uint8_t max_len() const { return is_v4() ? 32 : 128; }  // a host prefix
  constexpr bool is_multicast() const { return is_v4() ? v4().is_multicast() : a.is_multicast(); }
  constexpr bool is_unspecified() const { return is_v4() ? v4().is_unspecified() : a.is_unspecified(); }
  constexpr bool is_loopback() const { return is_v4() ? v4().is_loopback() : a.is_loopback(); }
};

constexpr std::string_view family_name(const IpAddr& a) { return a.is_v4() ? "IPv4" : "IPv6"; }

struct Mac {
  std::array<uint8_t, 6> bytes{};
  constexpr auto operator<=>(const Mac&) const = default;
  constexpr bool is_multicast() const { return (bytes[0] & 1) != 0; }  // includes broadcast
  constexpr bool is_zero() const {
    return (bytes[0] | bytes[1] | bytes[2] | bytes[3] | bytes[4] | bytes[5]) == 0;
  }
  static constexpr Mac broadcast() { return Mac{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}; }
};

// An address with its prefix length, as in "198.18.0.1/24".
struct Prefix {
  Ipv4 addr;
  uint8_t len = 32;
  constexpr auto operator<=>(const Prefix&) const = default;
  constexpr uint32_t mask() const { return len == 0 ? 0 : ~uint32_t{0} << (32 - len); }
  constexpr bool contains(Ipv4 a) const { return ((a.value ^ addr.value) & mask()) == 0; }
};

// The IPv6 link-local address a host with this MAC forms (RFC 4291 appendix A: fe80::/64
// with the modified EUI-64 interface identifier).
constexpr Ipv6 link_local(const Mac& m) {
  Ipv6 a;
  a.bytes[0] = 0xfe;
  a.bytes[1] = 0x80;
  a.bytes[8] = static_cast<uint8_t>(m.bytes[0] ^ 0x02);
  a.bytes[9] = m.bytes[1];
  a.bytes[10] = m.bytes[2];
  a.bytes[11] = 0xff;
  a.bytes[12] = 0xfe;
  a.bytes[13] = m.bytes[3];
  a.bytes[14] = m.bytes[4];
  a.bytes[15] = m.bytes[5];
  return a;
}

// An IPv6 address with its prefix length, as in "2001:db8::2/64".
struct Prefix6 {
  Ipv6 addr;
  uint8_t len = 128;
  constexpr auto operator<=>(const Prefix6&) const = default;
  constexpr bool contains(const Ipv6& a) const {
    for (uint32_t b = 0; b < len; b += 8) {
      const uint32_t bits = len - b < 8 ? len - b : 8;
      const uint8_t mask = static_cast<uint8_t>(0xff00 >> bits);
      if ((a.bytes[b / 8] ^ addr.bytes[b / 8]) & mask) return false;
    }
    return true;
  }
};

std::optional<Ipv4> parse_ipv4(std::string_view s);
// RFC 4291 text: eight groups of 1-4 hex digits, one "::" for a run of zero groups, an
// optional dotted IPv4 tail ("::ffff:198.18.0.1"). No zone ("%eth0"), no brackets.
std::optional<Ipv6> parse_ipv6(std::string_view s);
// IPv4 dotted text, or IPv6 text that is not IPv4-mapped (write the IPv4 address instead).
std::optional<IpAddr> parse_ip(std::string_view s);
std::optional<Mac> parse_mac(std::string_view s);
std::optional<Prefix> parse_prefix(std::string_view s);  // "a.b.c.d/len" (len required)
std::optional<Prefix6> parse_prefix6(std::string_view s);  // "2001:db8::2/64" (len required)
// A netmask in dotted form ("255.255.255.0") or as a prefix length ("24"); contiguous only.
std::optional<uint8_t> parse_netmask(std::string_view s);

std::string to_string(Ipv4 a);
// RFC 5952's canonical text: lower case, no leading zeros, the longest run of two or more
// zero groups (the first of equal ones) as "::", IPv4-mapped addresses with a dotted tail.
std::string to_string(const Ipv6& a);
std::string to_string(const IpAddr& a);  // dotted IPv4, or RFC 5952 IPv6
// "198.18.0.10:80", "[2001:2::10]:80" (RFC 5952 section 6: brackets around IPv6).
std::string to_string(const IpAddr& a, uint16_t port);
std::string to_string(const Mac& m);
std::string to_string(const Prefix& p);
std::string to_string(const Prefix6& p);

// Decimal parsing with range checks; no signs, no spaces, no trailing text.
std::optional<uint64_t> parse_uint(std::string_view s, uint64_t max);

}  // namespace drfwd::net
