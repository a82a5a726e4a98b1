// libFuzzer target: the packet path, raw frame to verdict and rewritten frame, against a
// realistic table (IPv4 and IPv6 services with rr, wrr, mh, sh, hash, persistence;
// reachable, drained and unresolved RSs; a DIP; a VLAN interface with RSs behind it;
// connections already in the tables), received untagged, on a known VLAN or on an
// unknown one. The input is split into frames (2-byte length prefixes) processed one by
// one and as bursts. Checks: no crash or sanitizer report; a forwarded frame came to the
// port's MAC and is one for a configured service of its family, with only its Ethernet
// addresses rewritten to the port's and a reachable RS's of that service (a later
// fragment: of a service of its VIP and protocol), leaving on that RS's VLAN; nothing
// that came on an unknown VLAN is forwarded; a frame that is not forwarded is not
// modified; both connection tables stay consistent.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "lb/forwarder.hpp"
#include "net/bytes.hpp"
#include "net/parse6.hpp"
#include "specs.hpp"

using namespace drfwd;
using namespace drfwd::lb;

namespace {

[[noreturn]] void fail(const char* what) {
  __builtin_fprintf(stderr, "fuzz_packet: %s\n", what);
  std::abort();
}

struct World {
  std::shared_ptr<Snapshot> snap;
  FlowTable table{512};
  WorkerCounters counters;
  std::unique_ptr<RsCounters[]> rsc = std::make_unique<RsCounters[]>(kMaxRsSlots);
  Forwarder fwd{0, table, counters, rsc.get(), 512};  // small tables: they fill and evict
  World() {
    using test::rs;
    using test::service;
    constexpr auto kDown = Health::kDown;
    lb::ServiceParams small;  // Maglev tables of 251: quick to build, every RS still present
    small.mh_size = 251;
    lb::ServiceParams persistent = test::persistent(300);
    persistent.mh_size = 251;
    SnapshotSpec spec;
    spec.ports = test::ports(2, net::Prefix{test::ip("198.18.0.2"), 24});
    spec.ports[0].vlans = {{20, net::Prefix{test::ip("198.18.20.2"), 24}}};
    RsSpec tagged = rs(7, "198.18.20.11");
    tagged.vlan = 20;
    RsSpec tagged6 = rs(15, "2001:2::20");
    tagged6.vlan = 20;
    lb::ServiceParams persistent64 = test::persistent(300, 64);
    persistent64.mh_size = 251;
    lb::ServiceParams persistent128 = test::persistent(60, 128);
    RsSpec limited = rs(19, "198.18.0.11", 2);  // connection thresholds: overloaded at 3, back under 1
    limited.thresholds = {3, 1};
    spec.services = {
        service(0, "198.18.1.10", net::kProtoTcp, 80, Sched::kRr,
                {rs(0, "198.18.0.11"), rs(1, "198.18.0.12", 0), rs(2, "198.18.0.13", 1, false)}, small),
        service(1, "198.18.1.10", net::kProtoUdp, 53, Sched::kMh, {rs(3, "198.18.0.11", 2), rs(4, "198.18.0.14", 1, true, 1)},
                small),
        service(2, "198.18.1.11", net::kProtoTcp, 443, Sched::kSh,
                {rs(5, "198.18.0.11", 1, true, 0, kDown), rs(6, "198.18.0.12", 3)}, persistent),
        service(3, "198.18.1.12", net::kProtoTcp, 8080, Sched::kWrr, {}, small),
        service(4, "198.18.1.13", net::kProtoUdp, 53, Sched::kRr, {tagged}, small),
        // IPv6 (2001:2::/48): the same kinds of service and server.
        service(5, "2001:2::100", net::kProtoTcp, 80, Sched::kRr,
                {rs(8, "2001:2::11"), rs(9, "2001:2::12", 0), rs(10, "2001:2::13", 1, false)}, small),
        service(6, "2001:2::100", net::kProtoUdp, 53, Sched::kMh,
                {rs(11, "2001:2::11", 2), rs(12, "2001:2::14", 1, true, 1)}, small),
        service(7, "2001:2::101", net::kProtoTcp, 443, Sched::kSh,
                {rs(13, "2001:2::11", 1, true, 0, kDown), rs(14, "2001:2::12", 3), tagged6}, persistent64),
        service(8, "2001:2::102", net::kProtoTcp, 8080, Sched::kWrr, {}, small),
        service(9, "2001:2::103", net::kProtoUdp, 53, Sched::kHash, {rs(16, "2001:2::15"), rs(17, "2001:2::16", 2)},
                small),
        service(10, "2001:2::103", net::kProtoTcp, 80, Sched::kRr, {rs(18, "2001:2::17")}, persistent128),
        // Least connections over counts, with thresholds.
        service(11, "198.18.1.14", net::kProtoTcp, 80, Sched::kWlc, {limited, rs(20, "198.18.0.12")}, small),
    };
    snap = build_snapshot(spec, nullptr);
    fwd.begin(snap.get(), 0);
  }
};

// The service of the RS slot's view.
const ServiceTable* service_of(const Snapshot& s, uint32_t service_slot) {
  for (const auto& t : s.services)
    if (t->spec.slot == service_slot) return t.get();
  return nullptr;
}

void check_verdict(const Snapshot& s, uint16_t rx_port, uint16_t rx_vlan, const std::vector<uint8_t>& before,
                   const std::vector<uint8_t>& after, const Verdict& v) {
  if (v.action != Verdict::Action::kForward) {
    if (before != after) fail("a frame that was not forwarded was modified");
    return;
  }
  const bool v6 = before.size() >= 14 && net::load16(before.data() + 12) == net::hton16(net::kEtherIpv6);
  if (before.size() < 14 + (v6 ? 40u : 20u) || std::memcmp(before.data() + 12, after.data() + 12, before.size() - 12) != 0)
    fail("forwarded frame changed beyond the Ethernet addresses (or is too short to be IP)");
  if (rx_port >= s.n_ports || std::memcmp(before.data(), s.ports[rx_port].mac, 6) != 0)
    fail("forwarded a frame that was not to the receiving port's MAC");
  if (v.port >= s.n_ports) fail("egress port out of range");
  if (std::memcmp(after.data() + 6, s.ports[v.port].mac, 6) != 0) fail("source MAC is not the egress port's");
  const ServiceTable* rs_svc = nullptr;
  for (uint32_t i = 0; i < s.rs_count; ++i)
    if (s.rs_view[i].live_gen && s.rs_view[i].port == v.port && s.rs_view[i].vlan == v.vlan &&
        std::memcmp(after.data(), s.rs_view[i].l2, 6) == 0)
      rs_svc = service_of(s, s.rs_view[i].service);
  if (!rs_svc) fail("destination MAC is not a reachable RS's, or not on its VLAN");
  if (rx_vlan != 0 && !s.vlan_known(rx_port, rx_vlan)) fail("forwarded a frame from an unknown VLAN");
  const ServiceKey& rk = rs_svc->spec.key;
  const uint8_t* ip = before.data() + 14;
  if (v6) {
    const uint32_t n = static_cast<uint32_t>(before.size() - 14);
    const net::Parsed6 p = net::parse_ipv6(ip, n, n);
    net::Ipv6 dst;
    std::memcpy(dst.bytes.data(), p.key.dst, 16);
    switch (p.kind) {
      case net::Kind6::kL4:        // a whole datagram or first fragment, or an ICMPv6 error
      case net::Kind6::kIcmpError: // about a connection: its service's server
        if (s.find6(p.key.dst, p.key.dport, p.key.proto) != rs_svc) fail("forwarded IPv6 to another service's RS");
        return;
      case net::Kind6::kFrag:  // a later fragment: its first fragment's service (VIP and protocol)
        if (rk.vip != net::IpAddr(dst) || rk.proto != p.key.proto) fail("IPv6 fragment to another VIP's RS");
        return;
      default:
        fail("forwarded IPv6 that is neither TCP/UDP to a service, nor an error about a connection");
    }
  }
  if (rk.vip.is_v6()) fail("forwarded IPv4 to an IPv6 service's RS");
  const uint32_t ihl = (ip[0] & 0x0f) * 4u;
  const uint16_t frag = net::ntoh16(net::load16(ip + 6));
  if (ip[9] == net::kProtoIcmp) {  // only an error about a service's connection
    const net::Parsed p = net::parse_frame(before.data(), static_cast<uint32_t>(before.size()),
                                           static_cast<uint32_t>(before.size()));
    if (p.kind != net::FrameKind::kIcmpError) fail("forwarded ICMP that is not an error about a connection");
    if (s.find(p.key.dst, p.key.dport, p.key.proto) != rs_svc) fail("forwarded an ICMP error, not to its service's RS");
    return;
  }
  if ((frag & 0x1fff) == 0) {  // whole datagram or first fragment: the service must match
    if (before.size() < 14 + ihl + 4) fail("forwarded without ports");
    if (s.find(net::load32(ip + 16), net::load16(ip + 14 + ihl - 14 + 2), ip[9]) != rs_svc)
      fail("forwarded, not to its service's RS");
  } else if (rk.vip.v4().be() != net::load32(ip + 16) || rk.proto != ip[9]) {
    fail("fragment to another VIP's RS");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* w = nullptr;
  if (!w) w = new World();  // the table persists across inputs: state accumulates
  std::vector<std::vector<uint8_t>> frames;
  size_t i = 0;
  while (i + 2 <= size && frames.size() < Forwarder::kMaxBurst) {
    const size_t len = std::min<size_t>(net::load16(data + i) & 0x7ff, size - i - 2);
    frames.emplace_back(data + i + 2, data + i + 2 + len);
    i += 2 + len;
  }
  if (frames.empty()) return 0;
  static uint32_t now = 0;
  now += data[0] & 3;
  w->fwd.begin(w->snap.get(), now);
  const bool burst = data[size - 1] & 1;
  const uint16_t rx_port = data[size - 1] & 2 ? 1 : 0;
  constexpr uint16_t kVlans[] = {0, 20, 30, 0};  // untagged, a known VLAN (port 0), an unknown one
  const uint16_t rx_vlan = kVlans[(data[size - 1] >> 2) & 3];
  std::vector<std::vector<uint8_t>> after = frames;
  std::vector<Frame> fr(frames.size());
  std::vector<Verdict> v(frames.size());
  for (size_t k = 0; k < frames.size(); ++k) {
    after[k].reserve(after[k].size() + 1);  // a non-null buffer even for empty frames
    fr[k] = Frame{after[k].data(), static_cast<uint32_t>(after[k].size()), static_cast<uint32_t>(after[k].size()),
                  rx_port, rx_vlan, net::IpCsum::kUnknown};
  }
  if (burst) {
    w->fwd.process_burst(fr.data(), v.data(), static_cast<uint32_t>(fr.size()));
  } else {
    for (size_t k = 0; k < fr.size(); ++k) v[k] = w->fwd.process(fr[k]);
  }
  for (size_t k = 0; k < frames.size(); ++k) check_verdict(*w->snap, rx_port, rx_vlan, frames[k], after[k], v[k]);
  w->fwd.expire(64);
  if ((now & 15) == 0 && !w->table.check().empty()) fail(w->table.check().c_str());
  if ((now & 15) == 0 && !w->fwd.conns6().check().empty()) fail(w->fwd.conns6().check().c_str());
  return 0;
}
