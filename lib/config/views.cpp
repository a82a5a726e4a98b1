#include "config/views.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "config/values.hpp"
#include "net/parse.hpp"

namespace drfwd::config {

namespace {

std::string fmt(const char* f, auto... args) {
  char buf[512];
  std::snprintf(buf, sizeof buf, f, args...);
  return buf;
}

const char* port_name(uint16_t port) {
  switch (port) {
    case 21: return "ftp";
    case 22: return "ssh";
    case 23: return "telnet";
    case 25: return "smtp";
    case 53: return "domain";
    case 80: return "http";
    case 110: return "pop3";
    case 123: return "ntp";
    case 143: return "imap2";
    case 161: return "snmp";
    case 389: return "ldap";
    case 443: return "https";
    case 587: return "submission";
    case 636: return "ldaps";
    case 993: return "imaps";
    case 995: return "pop3s";
    case 3306: return "mysql";
    case 5432: return "postgresql";
    case 8080: return "http-alt";
    default: return nullptr;
  }
}

// ipvsadm's print_largenum.
std::string largenum(uint64_t i, bool exact) {
  if (exact) {
    const std::string s = std::to_string(i);
    return fmt("%*" PRIu64, static_cast<int>(s.size() <= 8 ? 9 : s.size() + 1), i);
  }
  if (i < 100000000ULL) return fmt("%9" PRIu64, i);
  if (i < 1000000000ULL) return fmt("%8" PRIu64 "K", i / 1000);
  if (i < 100000000000ULL) return fmt("%8" PRIu64 "M", i / 1000000);
  if (i < 100000000000000ULL) return fmt("%8" PRIu64 "G", i / 1000000000ULL);
  return fmt("%8" PRIu64 "T", i / 1000000000000ULL);
}

std::string mask_text(uint8_t len) { return net::to_string(net::Ipv4{net::Prefix{net::Ipv4{}, len}.mask()}); }

// ipvsadm prints only the flags of the scheduler they belong to.
std::string sched_flags(const ServiceStatus& s) {
  uint32_t f = 0;
  if (s.params.sched == lb::Sched::kSh) f = s.params.flags & (lb::kFlagShPort | lb::kFlagShFallback);
  if (s.params.sched == lb::Sched::kMh) f = s.params.flags & (lb::kFlagMhPort | lb::kFlagMhFallback);
  return sched_flags_to_string(f);
}

void sort_all(std::vector<ServiceStatus>& services) {
  // As ipvsadm: services by protocol, address, port; real servers by address, port.
  std::sort(services.begin(), services.end(), [](const ServiceStatus& a, const ServiceStatus& b) {
    return std::tie(a.key.proto, a.key.vip, a.key.port) < std::tie(b.key.proto, b.key.vip, b.key.port);
  });
  for (auto& s : services)
    std::sort(s.rs.begin(), s.rs.end(),
              [](const RsStatus& a, const RsStatus& b) { return a.ip < b.ip; });
}

std::string proto_upper(uint8_t p) { return p == net::kProtoTcp ? "TCP" : "UDP"; }

}  // namespace

std::string addr_port(net::Ipv4 a, uint16_t port, bool numeric) {
  const char* name = numeric ? nullptr : port_name(port);
  return net::to_string(a) + ":" + (name ? std::string(name) : std::to_string(port));
}

std::string ipvsadm_list(std::vector<ServiceStatus> services, const query::IpvsList& o, uint64_t table_size,
                         const lb::Timeouts& timeouts, std::vector<ConnStatus> conns) {
  std::string out;
  if (o.timeout) return fmt("Timeout (tcp tcpfin udp): %u %u %u\n", timeouts.tcp(), timeouts.tcp_fin(), timeouts.udp());
  if (o.connection) {
    out = "IPVS connection entries\n";
    out += fmt("pro expire %-11s %-18s %-18s %s\n", "state", "source", "virtual", "destination");
    for (const ConnStatus& c : conns) {
      if (o.service && (c.vip != o.service->vip || c.vport != o.service->port || c.proto != o.service->proto)) continue;
      const std::string expire = fmt("%02u:%02u", c.expires / 60, c.expires % 60);
      out += fmt("%-3s %-6s %-11s %-18s %-18s %s\n", proto_upper(c.proto).c_str(), expire.c_str(), c.state.c_str(),
                 addr_port(c.client, c.cport, o.numeric).c_str(), addr_port(c.vip, c.vport, o.numeric).c_str(),
                 addr_port(c.rs, c.rport, o.numeric).c_str());
    }
    return out;
  }
  sort_all(services);
  if (o.service) {
    std::erase_if(services, [&](const ServiceStatus& s) { return !(s.key == *o.service); });
  } else {
    out += fmt("IP Virtual Server version 1.2.1 (size=%" PRIu64 ")\n", table_size);
  }
  if (o.stats)
    out += fmt("%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n", "Prot LocalAddress:Port", "Conns", "InPkts",
               "OutPkts", "InBytes", "OutBytes");
  else if (o.rate)
    out += fmt("%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n", "Prot LocalAddress:Port", "CPS", "InPPS",
               "OutPPS", "InBPS", "OutBPS");
  else if (o.thresholds)
    out += fmt("%-33s %-10s %-10s %-10s %-10s\n  -> RemoteAddress:Port\n", "Prot LocalAddress:Port", "Uthreshold",
               "Lthreshold", "ActiveConn", "InActConn");
  else if (o.persistent_conn)
    out += fmt("%-33s %-9s %-11s %-10s %-10s\n  -> RemoteAddress:Port\n", "Prot LocalAddress:Port", "Weight",
               "PersistConn", "ActiveConn", "InActConn");
  else
    out += "Prot LocalAddress:Port Scheduler Flags\n"
           "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n";

  for (const ServiceStatus& s : services) {
    std::string name = proto_upper(s.key.proto) + "  " + addr_port(s.key.vip, s.key.port, o.numeric);
    if (name.size() > 33) name.resize(33);
    if (o.stats || o.rate) {
      uint64_t v[5] = {};
      for (const RsStatus& r : s.rs) {
        if (o.stats) {
          v[0] += r.conns;
          v[1] += r.packets;
          v[3] += r.bytes;
        } else {
          v[0] += static_cast<uint64_t>(r.cps);
          v[1] += static_cast<uint64_t>(r.pps);
          v[3] += static_cast<uint64_t>(r.bps);
        }
      }
      out += fmt("%-33s", name.c_str());
      for (uint64_t x : v) out += largenum(x, o.exact);
      out += "\n";
    } else {
      out += name + " " + std::string(lb::sched_name(s.params.sched));
      const std::string f = sched_flags(s);
      if (!f.empty()) out += " (" + f + ")";
      if (s.params.persist) {
        out += fmt(" persistent %u", s.params.persist);
        if (s.params.persist_mask != 32) out += " mask " + mask_text(s.params.persist_mask);
      }
      out += "\n";
    }
    for (const RsStatus& r : s.rs) {
      std::string d = addr_port(r.ip, s.key.port, o.numeric);
      if (d.size() > 28) d.resize(28);
      if (o.stats) {
        out += fmt("  -> %-28s", d.c_str()) + largenum(r.conns, o.exact) + largenum(r.packets, o.exact) +
               largenum(0, o.exact) + largenum(r.bytes, o.exact) + largenum(0, o.exact) + "\n";
      } else if (o.rate) {
        out += fmt("  -> %-28s %8u %8u %8u", d.c_str(), static_cast<unsigned>(r.cps), static_cast<unsigned>(r.pps), 0u) +
               largenum(static_cast<uint64_t>(r.bps), o.exact) + largenum(0, o.exact) + "\n";
      } else if (o.thresholds) {
        out += fmt("  -> %-28s %-10u %-10u %-10u %-10u\n", d.c_str(), 0u, 0u, static_cast<unsigned>(r.active),
                   static_cast<unsigned>(r.inactive));
      } else if (o.persistent_conn) {
        out += fmt("  -> %-28s %-9u %-11u %-10u %-10u\n", d.c_str(), r.weight, static_cast<unsigned>(r.persist),
                   static_cast<unsigned>(r.active), static_cast<unsigned>(r.inactive));
      } else {
        out += fmt("  -> %-28s %-7s %-6d %-10u %-10u\n", d.c_str(), "Route", static_cast<int>(r.weight),
                   static_cast<unsigned>(r.active), static_cast<unsigned>(r.inactive));
      }
    }
  }
  return out;
}

std::string ipvsadm_save(std::vector<ServiceStatus> services, bool numeric) {
  sort_all(services);
  std::string out;
  for (const ServiceStatus& s : services) {
    const std::string svc = std::string(s.key.proto == net::kProtoTcp ? "-t " : "-u ") +
                            addr_port(s.key.vip, s.key.port, numeric);
    out += "-A " + svc + " -s " + std::string(lb::sched_name(s.params.sched));
    const std::string f = sched_flags(s);
    if (!f.empty()) out += " -b " + f;
    if (s.params.persist) {
      out += " -p " + std::to_string(s.params.persist);
      if (s.params.persist_mask != 32) out += " -M " + mask_text(s.params.persist_mask);
    }
    out += "\n";
    for (const RsStatus& r : s.rs)
      out += "-a " + svc + " -r " + addr_port(r.ip, s.key.port, numeric) + " -g -w " + std::to_string(r.weight) + "\n";
  }
  return out;
}

std::string describe(const CheckSpec& c, uint16_t service_port) {
  if (c.kind == CheckKind::kNone) return "none";
  std::string s = std::string(check_kind_name(c.kind)) + " :" + std::to_string(c.port ? c.port : service_port);
  if (c.kind == CheckKind::kHttp) s += " GET " + c.path + " expect " + std::to_string(c.expect) + (c.host.empty() ? "" : " host " + c.host);
  s += " every " + format_duration_ms(c.interval_ms) + " timeout " + format_duration_ms(c.timeout_ms) + " rise " +
       std::to_string(c.rise) + " fall " + std::to_string(c.fall);
  return s;
}

ServiceStatus status_of(const Service& s) {
  ServiceStatus st;
  st.key = s.key;
  st.params = s.params;
  for (const RealServer& r : s.rs) {
    RsStatus rs;
    rs.slot = r.slot;
    rs.gen = r.gen;
    rs.ip = r.ip;
    rs.weight = r.weight;
    st.rs.push_back(std::move(rs));
  }
  return st;
}

std::string format_vips(const std::vector<ServiceStatus>& services) {
  if (services.empty()) return "no services\n";
  std::string out = fmt("%-22s %-5s %-6s %-9s %-12s %s\n", "VIP:PORT", "PROTO", "SCHED", "PERSIST", "RS UP/ALL", "CHECK");
  for (const ServiceStatus& s : services) {
    size_t up = 0;
    for (const RsStatus& r : s.rs) up += r.accepting();
    const lb::ServiceParams& p = s.params;
    std::string persist = p.persist ? std::to_string(p.persist) + "s" : "-";
    if (p.persist && p.persist_mask != 32) persist += "/" + std::to_string(p.persist_mask);
    std::string sched = std::string(lb::sched_name(p.sched));
    if (lb::sched_uses_maglev(p.sched) && p.mh_size != lb::kDefaultMaglevSize) sched += "/" + std::to_string(p.mh_size);
    out += fmt("%-22s %-5s %-6s %-9s %-12s %s\n", addr_port(s.key.vip, s.key.port, true).c_str(),
               std::string(proto_name(s.key.proto)).c_str(), sched.c_str(), persist.c_str(),
               (std::to_string(up) + "/" + std::to_string(s.rs.size())).c_str(), s.check.c_str());
  }
  return out;
}

std::string format_rs(const std::vector<ServiceStatus>& services) {
  if (services.empty()) return "no services\n";
  std::string out;
  for (const ServiceStatus& s : services) {
    out += to_string(s.key) + " " + std::string(lb::sched_name(s.params.sched)) + "  check " + s.check + "\n";
    if (s.rs.empty()) {
      out += "  (no real servers)\n";
      continue;
    }
    out += fmt("  %-17s %6s %-9s %-10s %-17s %8s %8s %10s %12s %9s %11s\n", "RS", "WEIGHT", "HEALTH", "NEIGH", "MAC",
               "ACTIVE", "INACTIVE", "PACKETS", "BYTES", "PPS", "BPS");
    for (const RsStatus& r : s.rs) {
      out += fmt("  %-17s %6u %-9s %-10s %-17s %8" PRId64 " %8" PRId64 " %10" PRIu64 " %12" PRIu64 " %9.0f %11.0f\n",
                 net::to_string(r.ip).c_str(), r.weight, std::string(lb::health_name(r.health)).c_str(), r.neigh.c_str(),
                 r.mac ? net::to_string(*r.mac).c_str() : "-", r.active, r.inactive, r.packets, r.bytes, r.pps, r.bps);
      if (r.health == lb::Health::kDown && !r.health_detail.empty()) out += "      last check: " + r.health_detail + "\n";
    }
  }
  return out;
}

std::string format_conns(const std::vector<ConnStatus>& conns, uint64_t in_use, uint32_t limit) {
  std::string out = fmt("%-4s %-21s %-21s %-21s %-12s %s\n", "PRO", "CLIENT", "VIRTUAL", "REAL SERVER", "STATE", "EXPIRES");
  for (const ConnStatus& c : conns)
    out += fmt("%-4s %-21s %-21s %-21s %-12s %us\n", proto_upper(c.proto).c_str(),
               addr_port(c.client, c.cport, true).c_str(), addr_port(c.vip, c.vport, true).c_str(),
               addr_port(c.rs, c.rport, true).c_str(), c.state.c_str(), c.expires);
  out += fmt("%zu shown", conns.size());
  if (conns.size() >= limit) out += " (limit " + std::to_string(limit) + ")";
  out += fmt(", %" PRIu64 " entries in the connection tables\n", in_use);
  return out;
}

std::string model_to_commands(const Model& m) {
  std::string out = "# drfwd " DRFWD_VERSION " running configuration\n";
  for (auto& [port, prefix] : m.port_addresses())
    out += "port " + std::to_string(port) + " address " + net::to_string(prefix) + "\n";
  const lb::Timeouts def;
  const lb::Timeouts& t = m.timeouts();
  if (!(t == def))
    out += "set timeout tcp " + std::to_string(t.tcp()) + " tcpfin " + std::to_string(t.tcp_fin()) + " udp " +
           std::to_string(t.udp()) + "\n";
  if (!m.check_defaults().empty()) out += "set check " + to_string(m.check_defaults()) + "\n";
  for (auto& [ip, n] : m.neighbours())
    out += "neigh add " + net::to_string(ip) + " " + net::to_string(n.mac) +
           (n.port ? " port " + std::to_string(*n.port) : "") + "\n";
  for (const Service& s : m.services()) {
    const std::string key = net::to_string(s.key.vip) + " " + std::string(proto_name(s.key.proto)) + " " +
                            std::to_string(s.key.port);
    const lb::ServiceParams& p = s.params;
    out += "vip add " + key + " sched " + std::string(lb::sched_name(p.sched));
    if (p.persist) out += " persist " + std::to_string(p.persist);
    if (p.persist_mask != 32) out += " netmask " + std::to_string(p.persist_mask);
    if (p.mh_size != lb::kDefaultMaglevSize) out += " mh-size " + std::to_string(p.mh_size);
    if (p.flags) out += " flags " + sched_flags_to_string(p.flags);
    if (!s.check.empty()) out += " check " + to_string(s.check);
    out += "\n";
    for (const RealServer& r : s.rs) {
      out += "rs add " + key + " " + net::to_string(r.ip) + " weight " + std::to_string(r.weight);
      if (!r.check.empty()) out += " check " + to_string(r.check);
      out += "\n";
    }
  }
  return out;
}

}  // namespace drfwd::config
