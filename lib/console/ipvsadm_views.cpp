#include "console/ipvsadm_views.hpp"

#include <algorithm>
#include <cinttypes>

#include "config/values.hpp"
#include "console/text.hpp"
#include "net/parse.hpp"

namespace drfwd::console {

using control::ConnStatus;
using control::RsStatus;
using control::ServiceStatus;

namespace {

// ipvsadm's print_largenum.
std::string largenum(uint64_t i, bool exact) {
  if (exact) {
    const std::string s = std::to_string(i);
    return cformat("%*" PRIu64, static_cast<int>(s.size() <= 8 ? 9 : s.size() + 1), i);
  }
  if (i < 100000000ULL) return cformat("%9" PRIu64, i);
  if (i < 1000000000ULL) return cformat("%8" PRIu64 "K", i / 1000);
  if (i < 100000000000ULL) return cformat("%8" PRIu64 "M", i / 1000000);
  if (i < 100000000000000ULL) return cformat("%8" PRIu64 "G", i / 1000000000ULL);
  return cformat("%8" PRIu64 "T", i / 1000000000000ULL);
}

// ipvsadm prints only the flags of the scheduler they belong to.
std::string sched_flags(const ServiceStatus& s) {
  uint32_t f = 0;
  if (s.params.sched == lb::Sched::kSh) f = s.params.flags & (lb::kFlagShPort | lb::kFlagShFallback);
  if (s.params.sched == lb::Sched::kMh) f = s.params.flags & (lb::kFlagMhPort | lb::kFlagMhFallback);
  return config::sched_flags_to_string(f);
}

void sort_all(std::vector<ServiceStatus>& services) {
  // As ipvsadm: services by protocol, address, port; real servers by address.
  std::sort(services.begin(), services.end(), [](const ServiceStatus& a, const ServiceStatus& b) {
    return std::tie(a.key.proto, a.key.vip, a.key.port) < std::tie(b.key.proto, b.key.vip, b.key.port);
  });
  for (auto& s : services)
    std::sort(s.rs.begin(), s.rs.end(), [](const RsStatus& a, const RsStatus& b) { return a.ip < b.ip; });
}

std::string connections(const config::query::IpvsList& o, const std::vector<ConnStatus>& conns) {
  std::string out = "IPVS connection entries\n";
  out += cformat("pro expire %-11s %-18s %-18s %s\n", "state", "source", "virtual", "destination");
  for (const ConnStatus& c : conns) {
    if (o.service && (c.vip != o.service->vip || c.vport != o.service->port || c.proto != o.service->proto)) continue;
    const std::string expire = cformat("%02u:%02u", c.expires / 60, c.expires % 60);
    out += cformat("%-3s %-6s %-11s %-18s %-18s %s\n", proto_upper(c.proto).c_str(), expire.c_str(),
                   std::string(conn_state_text(c.state)).c_str(), addr_port(c.client, c.cport, o.numeric).c_str(),
                   addr_port(c.vip, c.vport, o.numeric).c_str(), addr_port(c.rs, c.rport, o.numeric).c_str());
  }
  return out;
}

std::string column_header(const config::query::IpvsList& o) {
  constexpr const char* kFirst = "Prot LocalAddress:Port";
  if (o.stats)
    return cformat("%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n", kFirst, "Conns", "InPkts", "OutPkts",
                   "InBytes", "OutBytes");
  if (o.rate)
    return cformat("%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n", kFirst, "CPS", "InPPS", "OutPPS", "InBPS",
                   "OutBPS");
  if (o.thresholds)
    return cformat("%-33s %-10s %-10s %-10s %-10s\n  -> RemoteAddress:Port\n", kFirst, "Uthreshold", "Lthreshold",
                   "ActiveConn", "InActConn");
  if (o.persistent_conn)
    return cformat("%-33s %-9s %-11s %-10s %-10s\n  -> RemoteAddress:Port\n", kFirst, "Weight", "PersistConn",
                   "ActiveConn", "InActConn");
  return "Prot LocalAddress:Port Scheduler Flags\n"
         "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n";
}

std::string service_line(const ServiceStatus& s, const config::query::IpvsList& o) {
  std::string name = proto_upper(s.key.proto) + "  " + addr_port(s.key.vip, s.key.port, o.numeric);
  if (name.size() > 33) name.resize(33);
  if (o.stats || o.rate) {
    uint64_t v[5] = {};  // the outgoing columns stay zero: in DR, replies never cross drfwd
    for (const RsStatus& r : s.rs) {
      v[0] += o.stats ? r.counters.conns : static_cast<uint64_t>(r.cps);
      v[1] += o.stats ? r.counters.packets : static_cast<uint64_t>(r.pps);
      v[3] += o.stats ? r.counters.bytes : static_cast<uint64_t>(r.bps);
    }
    std::string out = cformat("%-33s", name.c_str());
    for (uint64_t x : v) out += largenum(x, o.exact);
    return out + "\n";
  }
  std::string out = name + " " + std::string(lb::sched_name(s.params.sched));
  const std::string f = sched_flags(s);
  if (!f.empty()) out += " (" + f + ")";
  if (s.params.persist) {
    out += cformat(" persistent %u", s.params.persist);
    if (s.params.persist_mask != s.key.vip.max_len()) out += " mask " + mask_text(s.params.persist_mask, s.key.vip);
  }
  return out + "\n";
}

std::string server_line(const RsStatus& r, uint16_t port, const config::query::IpvsList& o) {
  std::string d = addr_port(r.ip, port, o.numeric);
  if (d.size() > 28) d.resize(28);
  const auto active = static_cast<unsigned>(r.counters.active), inactive = static_cast<unsigned>(r.counters.inactive);
  if (o.stats)
    return cformat("  -> %-28s", d.c_str()) + largenum(r.counters.conns, o.exact) +
           largenum(r.counters.packets, o.exact) + largenum(0, o.exact) + largenum(r.counters.bytes, o.exact) +
           largenum(0, o.exact) + "\n";
  if (o.rate)
    return cformat("  -> %-28s %8u %8u %8u", d.c_str(), static_cast<unsigned>(r.cps), static_cast<unsigned>(r.pps), 0u) +
           largenum(static_cast<uint64_t>(r.bps), o.exact) + largenum(0, o.exact) + "\n";
  if (o.thresholds)
    return cformat("  -> %-28s %-10u %-10u %-10u %-10u\n", d.c_str(), r.thresholds.upper, r.thresholds.lower, active,
                   inactive);
  if (o.persistent_conn)
    return cformat("  -> %-28s %-9u %-11u %-10u %-10u\n", d.c_str(), r.weight,
                   static_cast<unsigned>(r.counters.persist), active, inactive);
  return cformat("  -> %-28s %-7s %-6d %-10u %-10u\n", d.c_str(), "Route", static_cast<int>(r.weight), active, inactive);
}

}  // namespace

std::string ipvsadm_list(std::vector<ServiceStatus> services, const config::query::IpvsList& o, uint64_t table_size,
                         const lb::Timeouts& timeouts, const std::vector<ConnStatus>& conns) {
  if (o.timeout)
    return cformat("Timeout (tcp tcpfin udp): %u %u %u\n", timeouts.tcp(), timeouts.tcp_fin(), timeouts.udp());
  if (o.connection) return connections(o, conns);
  sort_all(services);
  std::string out;
  if (o.service)
    std::erase_if(services, [&](const ServiceStatus& s) { return !(s.key == *o.service); });
  else
    out += cformat("IP Virtual Server version 1.2.1 (size=%" PRIu64 ")\n", table_size);
  out += column_header(o);
  for (const ServiceStatus& s : services) {
    out += service_line(s, o);
    for (const RsStatus& r : s.rs)
      if (!r.sorry || r.takes_new) out += server_line(r, s.key.port, o);  // as IPVS shows keepalived's sorry server
  }
  return out;
}

std::string ipvsadm_save(std::vector<ServiceStatus> services, bool numeric) {
  sort_all(services);
  std::string out;
  for (const ServiceStatus& s : services) {
    const std::string svc =
        std::string(s.key.proto == net::kProtoTcp ? "-t " : "-u ") + addr_port(s.key.vip, s.key.port, numeric);
    out += "-A " + svc + " -s " + std::string(lb::sched_name(s.params.sched));
    const std::string f = sched_flags(s);
    if (!f.empty()) out += " -b " + f;
    if (s.params.persist) {
      out += " -p " + std::to_string(s.params.persist);
      if (s.params.persist_mask != s.key.vip.max_len()) out += " -M " + mask_text(s.params.persist_mask, s.key.vip);
    }
    out += "\n";
    for (const RsStatus& r : s.rs) {
      if (r.sorry) continue;  // ipvsadm has no sorry server: show config keeps it
      out += "-a " + svc + " -r " + addr_port(r.ip, s.key.port, numeric) + " -g -w " + std::to_string(r.weight);
      // ipvsadm -S leaves the thresholds out (ipvsadm -R would lose them); drfwd keeps them.
      if (r.thresholds.upper) out += " -x " + std::to_string(r.thresholds.upper);
      if (r.thresholds.lower) out += " -y " + std::to_string(r.thresholds.lower);
      out += "\n";
    }
  }
  return out;
}

}  // namespace drfwd::console
