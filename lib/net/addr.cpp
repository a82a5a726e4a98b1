#include "net/addr.hpp"

#include <algorithm>
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

std::optional<Ipv6> parse_ipv6(std::string_view s) {
  if (s.size() < 2 || s.size() > 45) return std::nullopt;  // "::" .. the longest with a dotted tail
  uint16_t groups[8] = {};
  int n = 0, gap = -1;  // groups written; where "::" stands (index into groups)
  size_t i = 0;
  if (s.substr(0, 2) == "::") {
    gap = 0;
    i = 2;
  } else if (s[0] == ':') {
    return std::nullopt;  // a single leading colon
  }
  while (i < s.size()) {
    if (n == 8) return std::nullopt;
    // A dotted IPv4 tail takes the last two groups.
    const size_t end = std::min(s.find(':', i), s.size());
    const std::string_view part = s.substr(i, end - i);
    if (part.find('.') != std::string_view::npos) {
      if (end != s.size() || n > 6) return std::nullopt;
      const auto v4 = parse_ipv4(part);
      if (!v4) return std::nullopt;
      groups[n++] = static_cast<uint16_t>(v4->value >> 16);
      groups[n++] = static_cast<uint16_t>(v4->value);
      i = end;
      break;
    }
    if (part.empty() || part.size() > 4) return std::nullopt;
    uint32_t g = 0;
    for (char ch : part) {
      const int d = hex_digit(ch);
      if (d < 0) return std::nullopt;
      g = g << 4 | static_cast<uint32_t>(d);
    }
    groups[n++] = static_cast<uint16_t>(g);
    i = end;
    if (i == s.size()) break;
    ++i;  // the ':'
    if (i < s.size() && s[i] == ':') {
      if (gap >= 0) return std::nullopt;  // a second "::"
      gap = n;
      ++i;
    } else if (i == s.size()) {
      return std::nullopt;  // a single trailing colon
    }
  }
  if (gap < 0 ? n != 8 : n > 7) return std::nullopt;  // "::" stands for at least one group
  Ipv6 a;
  const int tail = gap < 0 ? 0 : n - gap;  // groups after "::" go to the end
  for (int k = 0; k < n; ++k) {
    const int at = (gap >= 0 && k >= gap) ? 8 - tail + (k - gap) : k;
    a.bytes[2 * at] = static_cast<uint8_t>(groups[k] >> 8);
    a.bytes[2 * at + 1] = static_cast<uint8_t>(groups[k]);
  }
  return a;
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

std::optional<Prefix6> parse_prefix6(std::string_view s) {
  const size_t slash = s.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto a = parse_ipv6(s.substr(0, slash));
  auto len = parse_uint(s.substr(slash + 1), 128);
  if (!a || !len) return std::nullopt;
  return Prefix6{*a, static_cast<uint8_t>(*len)};
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

std::string to_string(const Ipv6& a) {
  if (a.is_v4_mapped())
    return "::ffff:" + to_string(Ipv4{static_cast<uint32_t>(a.group(6)) << 16 | a.group(7)});
  // The longest run of zero groups, two at least; the first of equal ones.
  int best = -1, best_len = 1;
  for (int i = 0; i < 8;) {
    if (a.group(i) != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && a.group(j) == 0) ++j;
    if (j - i > best_len) best = i, best_len = j - i;
    i = j;
  }
  std::string out;
  char buf[8];
  for (int i = 0; i < 8; ++i) {
    if (i == best) {
      out += "::";
      i += best_len - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ':';
    std::snprintf(buf, sizeof buf, "%x", a.group(i));
    out += buf;
  }
  return out;
}

std::optional<IpAddr> parse_ip(std::string_view s) {
  if (s.find(':') == std::string_view::npos) {
    if (auto v4 = parse_ipv4(s)) return IpAddr(*v4);
    return std::nullopt;
  }
  auto v6 = parse_ipv6(s);
  if (!v6 || v6->is_v4_mapped()) return std::nullopt;
  return IpAddr(*v6);
}

std::string to_string(const IpAddr& a) { return a.is_v4() ? to_string(a.v4()) : to_string(a.v6()); }

std::string to_string(const IpAddr& a, uint16_t port) {
  return a.is_v4() ? to_string(a.v4()) + ":" + std::to_string(port) : "[" + to_string(a.v6()) + "]:" + std::to_string(port);
}

std::string to_string(const Mac& m) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m.bytes[0], m.bytes[1],
                m.bytes[2], m.bytes[3], m.bytes[4], m.bytes[5]);
  return buf;
}

std::string to_string(const Prefix& p) { return to_string(p.addr) + "/" + std::to_string(p.len); }
std::string to_string(const Prefix6& p) { return to_string(p.addr) + "/" + std::to_string(p.len); }

}  // namespace drfwd::net
