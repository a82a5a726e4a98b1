#include "config/values.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include "lb/maglev.hpp"
#include "lb/sched.hpp"
#include "net/parse.hpp"

namespace drfwd::config {

std::string_view proto_name(uint8_t proto) {
  return proto == net::kProtoTcp ? "tcp" : proto == net::kProtoUdp ? "udp" : "?";
}

std::string to_string(const ServiceKey& k) {
  return std::string(proto_name(k.proto)) + " " + net::to_string(k.vip, k.port);
}

std::string quote(std::string_view word) { return "'" + std::string(word) + "'"; }

std::string_view vip_arp_name(VipArp m) { return m == VipArp::kKernel ? "kernel" : "always"; }
std::string_view sync_role_name(SyncRole r) { return r == SyncRole::kMaster ? "master" : "backup"; }

net::IpAddr parse_unicast(std::string_view word, std::string_view what) {
  auto a = net::parse_ip(word);
  if (!a) {
    if (net::parse_ipv6(word)) throw ConfigError(quote(word) + " is an IPv4-mapped IPv6 address (" + std::string(what) + "): write the IPv4 address");
    throw ConfigError(quote(word) + " is not an IPv4 or IPv6 address (" + std::string(what) + ")");
  }
  bool unicast;
  if (a->is_v4()) {
    const net::Ipv4 v = a->v4();
    unicast = !(v.is_unspecified() || v.is_multicast() || v.is_broadcast() || v.is_loopback() ||
                (v.value >> 28) == 0xf || (v.value >> 24) == 0);
  } else {
    // Link-local addresses are per link: nothing to route to a VIP or a server by.
    unicast = !(a->is_unspecified() || a->is_multicast() || a->is_loopback() || a->v6().is_link_local());
  }
  if (!unicast)
    throw ConfigError(quote(word) + " cannot be a " + std::string(what) +
                      (a->is_v4() ? ": it must be a unicast address" : ": it must be a global or unique-local unicast address"));
  return *a;
}

net::Ipv4 parse_unicast4(std::string_view word, std::string_view what) {
  const net::IpAddr a = parse_unicast(word, what);
  if (!a.is_v4()) throw ConfigError(quote(word) + " is IPv6: the " + std::string(what) + " must be an IPv4 address");
  return a.v4();
}

uint8_t parse_proto(std::string_view word) {
  if (word == "tcp" || word == "TCP") return net::kProtoTcp;
  if (word == "udp" || word == "UDP") return net::kProtoUdp;
  throw ConfigError(quote(word) + " is not a protocol: expected tcp or udp");
}

namespace {
// Well-known port names, as ipvsadm prints them without -n (from /etc/services).
constexpr std::array<std::pair<std::string_view, uint16_t>, 22> kPortNames = {{
    {"ftp", 21}, {"ssh", 22}, {"telnet", 23}, {"smtp", 25}, {"domain", 53}, {"http", 80},
    {"pop3", 110}, {"ntp", 123}, {"imap2", 143}, {"imap", 143}, {"snmp", 161}, {"ldap", 389},
    {"https", 443}, {"submission", 587}, {"ldaps", 636}, {"imaps", 993}, {"pop3s", 995},
    {"openvpn", 1194}, {"mysql", 3306}, {"postgresql", 5432}, {"http-alt", 8080}, {"www", 80},
}};
}  // namespace

uint16_t parse_port_number(std::string_view word, std::string_view what) {
  if (auto v = net::parse_uint(word, 65535)) {
    if (*v == 0) throw ConfigError(std::string(what) + " 0 is not allowed: give a port 1-65535");
    return static_cast<uint16_t>(*v);
  }
  for (auto& [name, port] : kPortNames)
    if (word == name) return port;
  throw ConfigError(quote(word) + " is not a port (" + std::string(what) + "): expected 1-65535");
}

uint32_t parse_number(std::string_view word, std::string_view what, uint64_t min, uint64_t max) {
  auto v = net::parse_uint(word, max);
  if (!v || *v < min)
    throw ConfigError(quote(word) + " is not a valid " + std::string(what) + ": expected " +
                      std::to_string(min) + "-" + std::to_string(max));
  return static_cast<uint32_t>(*v);
}

lb::Sched parse_scheduler(std::string_view word) {
  if (auto s = lb::parse_sched(word)) return *s;
  throw ConfigError("unknown scheduler " + quote(word) + ": supported schedulers are " +
                    std::string(lb::kSupportedScheds));
}

uint8_t parse_mask(std::string_view word) {
  auto m = net::parse_netmask(word);
  if (!m) m = net::parse_uint(word, 128);  // an IPv6 service's prefix length (its service checks the range)
  if (!m || *m == 0)
    throw ConfigError(quote(word) + " is not a netmask: expected e.g. 255.255.255.0, 24 or (IPv6) 64");
  return static_cast<uint8_t>(*m);
}

uint32_t parse_mh_size(std::string_view word) {
  uint32_t v = parse_number(word, "mh-size", lb::kMinMaglevSize, lb::kMaxMaglevSize);
  if (!lb::is_prime(v))
    throw ConfigError("mh-size " + std::string(word) + " is not prime: Maglev needs a prime " +
                      "table size (e.g. 251, 4093, 65537)");
  return v;
}

uint32_t parse_sched_flags(std::string_view word) {
  uint32_t flags = 0;
  while (!word.empty()) {
    size_t comma = word.find(',');
    std::string_view f = word.substr(0, comma);
    if (f == "sh-port") flags |= lb::kFlagShPort;
    else if (f == "sh-fallback") flags |= lb::kFlagShFallback;
    else if (f == "mh-port") flags |= lb::kFlagMhPort;
    else if (f == "mh-fallback") flags |= lb::kFlagMhFallback;
    else
      throw ConfigError("unknown scheduler flag " + quote(f) +
                        ": supported flags are sh-port, sh-fallback, mh-port, mh-fallback");
    if (comma == std::string_view::npos) break;
    word.remove_prefix(comma + 1);
  }
  return flags;
}

std::string sched_flags_to_string(uint32_t flags) {
  std::string s;
  auto add = [&](uint32_t bit, const char* name) {
    if (flags & bit) s += (s.empty() ? "" : ",") + std::string(name);
  };
  add(lb::kFlagShFallback, "sh-fallback");
  add(lb::kFlagShPort, "sh-port");
  add(lb::kFlagMhFallback, "mh-fallback");
  add(lb::kFlagMhPort, "mh-port");
  return s;
}

net::Mac parse_neighbour_mac(std::string_view word) {
  auto m = net::parse_mac(word);
  if (!m) throw ConfigError(quote(word) + " is not a MAC address: expected e.g. 02:00:00:00:00:01");
  if (m->is_multicast() || m->is_zero())
    throw ConfigError(quote(word) + " cannot be a neighbour's MAC: it must be a unicast address");
  return *m;
}

std::pair<net::IpAddr, std::optional<uint16_t>> parse_addr_port(std::string_view word,
                                                                std::string_view what) {
  std::string_view addr = word, port;
  bool has_port = false;
  if (!word.empty() && word.front() == '[') {  // [2001:db8::1]:80, [2001:db8::1]
    const size_t close = word.find(']');
    if (close == std::string_view::npos || (close + 1 < word.size() && word[close + 1] != ':'))
      throw ConfigError(quote(word) + " is not an address (" + std::string(what) + "): expected [<IPv6>]:<port>");
    addr = word.substr(1, close - 1);
    has_port = close + 1 < word.size();
    if (has_port) port = word.substr(close + 2);
    if (addr.find(':') == std::string_view::npos)
      throw ConfigError(quote(word) + ": brackets are for IPv6 addresses (" + std::string(what) + ")");
  } else if (const size_t colon = word.find(':'); colon != std::string_view::npos) {
    if (word.find(':', colon + 1) != std::string_view::npos)  // IPv6 without brackets: no port
      return {parse_unicast(word, what), std::nullopt};
    addr = word.substr(0, colon);
    port = word.substr(colon + 1);
    has_port = true;
  }
  const net::IpAddr ip = parse_unicast(addr, what);
  if (!has_port) return {ip, std::nullopt};
  return {ip, parse_port_number(port, std::string(what) + " port")};
}

SyncRole parse_sync_role(std::string_view word) {
  if (word == "master") return SyncRole::kMaster;
  if (word == "backup") return SyncRole::kBackup;
  throw ConfigError("unknown sync role " + quote(word) + ": expected master or backup");
}

uint8_t parse_syncid(std::string_view word) { return static_cast<uint8_t>(parse_number(word, "syncid", 0, 255)); }

// From one header and one entry (44 bytes) to the largest UDP payload over IPv4.
uint32_t parse_sync_maxlen(std::string_view word) { return parse_number(word, "sync maxlen", 44, 65507); }

net::Ipv4 parse_sync_group(std::string_view word) {
  const auto a = net::parse_ipv4(word);
  if (!a || (a->value >> 28) != 0xe) throw ConfigError("sync group " + quote(word) + ": expected an IPv4 multicast address (224.0.0.0/4)");
  return *a;
}

std::vector<net::Ipv4> parse_sync_peers(std::string_view word) {
  std::vector<net::Ipv4> peers;
  size_t start = 0;
  while (start <= word.size()) {
    const size_t comma = std::min(word.find(',', start), word.size());
    const net::Ipv4 p = parse_unicast4(word.substr(start, comma - start), "sync peer");
    if (std::find(peers.begin(), peers.end(), p) != peers.end())
      throw ConfigError("sync peer " + net::to_string(p) + " given twice");
    peers.push_back(p);
    start = comma + 1;
  }
  return peers;
}

std::string sync_daemon_to_string(const SyncDaemonConf& d, const std::string& ifname) {
  const SyncDaemonConf def;
  std::string s = "interface " + ifname + " syncid " + std::to_string(d.syncid);
  if (d.maxlen != def.maxlen) s += " maxlen " + std::to_string(d.maxlen);
  if (d.group != def.group) s += " group " + net::to_string(d.group);
  if (d.udp_port != def.udp_port) s += " port " + std::to_string(d.udp_port);
  if (d.ttl != def.ttl) s += " ttl " + std::to_string(d.ttl);
  if (!d.peers.empty()) {
    s += " peers ";
    for (size_t i = 0; i < d.peers.size(); ++i) s += (i ? "," : "") + net::to_string(d.peers[i]);
  }
  return s;
}

}  // namespace drfwd::config
