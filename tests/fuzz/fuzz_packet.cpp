// libFuzzer target: the packet path, raw frame to verdict and rewritten frame, against a
// realistic table (services with rr, wrr, mh, sh, persistence; reachable, drained and
// unresolved RSs; a DIP; a VLAN interface with an RS behind it; connections already in the
// table), received untagged, on a known VLAN or on an unknown one. The input is split into
// frames (2-byte length prefixes) processed one by one and as bursts. Checks: no crash
// or sanitizer report; a forwarded frame is one for a configured service, with only its
// Ethernet addresses rewritten to a reachable RS's and the port's, leaving on that RS's
// VLAN; nothing that came on an unknown VLAN is forwarded; a frame that is not forwarded
// is not modified; the table stays consistent.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "lb/forwarder.hpp"
#include "net/bytes.hpp"
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
  Forwarder fwd{0, table, counters, rsc.get()};
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
    spec.services = {
        service(0, "198.18.1.10", net::kProtoTcp, 80, Sched::kRr,
                {rs(0, "198.18.0.11"), rs(1, "198.18.0.12", 0), rs(2, "198.18.0.13", 1, false)}, small),
        service(1, "198.18.1.10", net::kProtoUdp, 53, Sched::kMh, {rs(3, "198.18.0.11", 2), rs(4, "198.18.0.14", 1, true, 1)},
                small),
        service(2, "198.18.1.11", net::kProtoTcp, 443, Sched::kSh,
                {rs(5, "198.18.0.11", 1, true, 0, kDown), rs(6, "198.18.0.12", 3)}, persistent),
        service(3, "198.18.1.12", net::kProtoTcp, 8080, Sched::kWrr, {}, small),
        service(4, "198.18.1.13", net::kProtoUdp, 53, Sched::kRr, {tagged}, small),
    };
    snap = build_snapshot(spec, nullptr);
    fwd.begin(snap.get(), 0);
  }
};

void check_verdict(const Snapshot& s, uint16_t rx_port, uint16_t rx_vlan, const std::vector<uint8_t>& before, const std::vector<uint8_t>& after,
                   const Verdict& v) {
  if (v.action != Verdict::Action::kForward) {
    if (before != after) fail("a frame that was not forwarded was modified");
    return;
  }
  if (before.size() < 14 + 20 || std::memcmp(before.data() + 12, after.data() + 12, before.size() - 12) != 0)
    fail("forwarded frame changed beyond the Ethernet addresses (or is too short to be IPv4)");
  if (v.port >= s.n_ports) fail("egress port out of range");
  if (std::memcmp(after.data() + 6, s.ports[v.port].mac, 6) != 0) fail("source MAC is not the egress port's");
  bool known_rs = false;
  for (uint32_t i = 0; i < s.rs_count; ++i)
    if (s.rs_view[i].live_gen && s.rs_view[i].port == v.port && s.rs_view[i].vlan == v.vlan &&
        std::memcmp(after.data(), s.rs_view[i].l2, 6) == 0)
      known_rs = true;
  if (!known_rs) fail("destination MAC is not a reachable RS's, or not on its VLAN");
  if (rx_vlan != 0 && !s.vlan_known(rx_port, rx_vlan)) fail("forwarded a frame from an unknown VLAN");
  const uint8_t* ip = before.data() + 14;
  const uint32_t ihl = (ip[0] & 0x0f) * 4u;
  const uint16_t frag = net::ntoh16(net::load16(ip + 6));
  if (ip[9] == net::kProtoIcmp) {  // only an error about a service's connection
    const net::Parsed p = net::parse_frame(before.data(), static_cast<uint32_t>(before.size()),
                                           static_cast<uint32_t>(before.size()));
    if (p.kind != net::FrameKind::kIcmpError) fail("forwarded ICMP that is not an error about a connection");
    if (!s.find(p.key.dst, p.key.dport, p.key.proto)) fail("forwarded an ICMP error, no such service");
    return;
  }
  if ((frag & 0x1fff) == 0) {  // whole datagram or first fragment: the service must match
    if (before.size() < 14 + ihl + 4) fail("forwarded without ports");
    if (!s.find(net::load32(ip + 16), net::load16(ip + 14 + ihl - 14 + 2), ip[9])) fail("forwarded, no such service");
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
  return 0;
}
