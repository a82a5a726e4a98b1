#include "net/addr.hpp"

#include <charconv>
#include <cstdio>

namespace drfwd::net {

std::optional<uint64_t> parse_uint(std::string_view s, uint64_t max) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 10);
  if (ec != std::errc() || ptr != s.data() + s.size() || v > max) return std::nullopt;
  return v;
}

std::optional<Ipv4> parse_ipv4(std::string_view s) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    size_t dot = s.find('.');
    std::string_view part = (i < 3) ? s.substr(0, dot) : s;
    if (i < 3 && dot == std::string_view::npos) return std::nullopt;
    // Dotted decimal only: no leading zeros ("010" is octal to inet_aton), 1-3 digits.
    if (part.empty() || part.size() > 3 || (part.size() > 1 && part[0] == '0')) return std::nullopt;
    auto octet = parse_uint(part, 255);
    if (!octet) return std::nullopt;
    v = (v << 8) | static_cast<uint32_t>(*octet);
    if (i < 3) s.remove_prefix(dot + 1);
  }
  return Ipv4{v};
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<Mac> parse_mac(std::string_view s) {
  // Six groups of two hex digits separated by ':' or '-'.
  if (s.size() != 17) return std::nullopt;
  const char sep = s[2];
  if (sep != ':' && sep != '-') return std::nullopt;
  Mac m;
  for (int i = 0; i < 6; ++i) {
    int hi = hex_digit(s[i * 3]), lo = hex_digit(s[i * 3 + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    if (i < 5 && s[i * 3 + 2] != sep) return std::nullopt;
    m.bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return m;
}

std::optional<Prefix> parse_prefix(std::string_view s) {
  size_t slash = s.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto a = parse_ipv4(s.substr(0, slash));
  auto len = parse_uint(s.substr(slash + 1), 32);
  if (!a || !len) return std::nullopt;
  return Prefix{*a, static_cast<uint8_t>(*len)};
}

std::optional<uint8_t> parse_netmask(std::string_view s) {
  if (s.find('.') == std::string_view::npos) {
    auto len = parse_uint(s, 32);
    if (!len) return std::nullopt;
    return static_cast<uint8_t>(*len);
  }
  auto a = parse_ipv4(s);
  if (!a) return std::nullopt;
  uint32_t m = a->value;
  // Contiguous ones from the top: ~m + 1 is a power of two (or zero for /32... handled).
  uint32_t inv = ~m;
  if ((inv & (inv + 1)) != 0) return std::nullopt;
  return static_cast<uint8_t>(__builtin_popcount(m));
}

std::string to_string(Ipv4 a) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", a.value >> 24, (a.value >> 16) & 0xff,
                (a.value >> 8) & 0xff, a.value & 0xff);
  return buf;
}

std::string to_string(const Mac& m) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m.bytes[0], m.bytes[1],
                m.bytes[2], m.bytes[3], m.bytes[4], m.bytes[5]);
  return buf;
}

std::string to_string(const Prefix& p) { return to_string(p.addr) + "/" + std::to_string(p.len); }

}  // namespace drfwd::net
