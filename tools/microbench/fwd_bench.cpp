// Forwarder cost without DPDK: the same frames through process_burst in bursts of 32,
// in a loop, reporting ns per packet. For profiling the per-packet path on its own
// (callgrind: instructions per packet). Not a substitute for tools/bench, which
// measures drfwd against dpdk-testpmd.
//
//   fwd-bench [--flows N] [--sched rr|mh|...] [--table N] [--seconds S]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "lb/forwarder.hpp"
#include "lb/sched.hpp"
#include "net/bytes.hpp"
#include "net/checksum.hpp"

using namespace drfwd;

namespace {

const uint8_t kPortMac[6] = {0x02, 0x70, 0x63, 0x61, 0x70, 0x00};

std::vector<uint8_t> frame(uint32_t i) {
  std::vector<uint8_t> f(70, 0);
  const uint8_t dst[6] = {0x02, 0x70, 0x63, 0x61, 0x70, 0x00}, src[6] = {0x02, 0, 0, 0, 1, 1};
  std::memcpy(&f[0], dst, 6);
  std::memcpy(&f[6], src, 6);
  f[12] = 0x08;
  uint8_t* ip = &f[14];
  ip[0] = 0x45;
  net::store16(ip + 2, net::hton16(56));
  ip[8] = 64;
  ip[9] = 6;
  net::store32(ip + 12, net::hton32(0xc6128001u + i / 16384));
  net::store32(ip + 16, net::hton32(0xc612010au));
  const uint16_t ck = net::checksum_finish(ip, 20);
  std::memcpy(ip + 10, &ck, 2);
  uint8_t* tcp = ip + 20;
  net::store16(tcp, net::hton16(static_cast<uint16_t>(1024 + i % 16384)));
  net::store16(tcp + 2, net::hton16(80));
  tcp[12] = 5 << 4;
  tcp[13] = net::kTcpAck;
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  uint32_t flows = 4096, table = 1u << 20;
  double seconds = 3;
  lb::Sched sched = lb::Sched::kRr;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--flows") flows = std::strtoul(argv[i + 1], nullptr, 10);
    else if (a == "--table") table = std::strtoul(argv[i + 1], nullptr, 10);
    else if (a == "--seconds") seconds = std::strtod(argv[i + 1], nullptr);
    else if (a == "--sched") sched = *lb::parse_sched(argv[i + 1]);
  }
  lb::SnapshotSpec spec;
  spec.ports = {lb::PortSpec{net::Mac{{0x02, 0x70, 0x63, 0x61, 0x70, 0x00}}, std::nullopt}};
  lb::ServiceSpec s;
  s.slot = 0;
  s.gen = 1;
  s.vip = net::Ipv4{0xc612010au};
  s.proto = net::kProtoTcp;
  s.port = 80;
  s.sched = sched;
  for (uint32_t r = 0; r < 4; ++r) {
    lb::RsSpec rs;
    rs.slot = r;
    rs.gen = 1;
    rs.ip = net::Ipv4{0xc612000bu + r};
    rs.mac = net::Mac{{0x02, 0, 0, 0, 0, static_cast<uint8_t>(0x11 + r)}};
    rs.port = 0;
    s.rs.push_back(rs);
  }
  spec.services = {s};
  auto snap = lb::build_snapshot(spec, nullptr);

  lb::FlowTable conns(table);
  lb::WorkerCounters counters;
  auto rs_counters = std::make_unique<lb::RsCounters[]>(lb::kMaxRsSlots);
  lb::Forwarder fwd(0, conns, counters, rs_counters.get());

  // Frames laid out like mbuf data: one per 2 KiB buffer.
  constexpr size_t kStride = 2048;
  std::vector<uint8_t> pool(size_t{flows} * kStride);
  for (uint32_t i = 0; i < flows; ++i) {
    auto f = frame(i);
    std::memcpy(&pool[size_t{i} * kStride], f.data(), f.size());
  }
  lb::Frame frames[32];
  lb::Verdict verdicts[32];
  uint64_t packets = 0, forwarded = 0;
  const auto start = std::chrono::steady_clock::now();
  const auto until = start + std::chrono::duration<double>(seconds);
  uint32_t next = 0;
  fwd.begin(snap.get(), 0);
  while (std::chrono::steady_clock::now() < until) {
    for (int rep = 0; rep < 1024; ++rep) {
      for (int i = 0; i < 32; ++i) {
        uint8_t* data = &pool[size_t{next} * kStride];
        std::memcpy(data, kPortMac, 6);  // as a fresh copy from the driver would have it
        frames[i] = lb::Frame{data, 70, 70, 0};
        if (++next == flows) next = 0;
      }
      fwd.process_burst(frames, verdicts, 32);
      for (auto& v : verdicts) forwarded += v.action == lb::Verdict::Action::kForward;
      packets += 32;
    }
  }
  const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
  std::printf("flows %u table %u sched %s: %.1f ns/packet (%.2f Mpps), forwarded %.1f%%\n", flows, table,
              std::string(lb::sched_name(sched)).c_str(), ns / packets, packets / ns * 1e3,
              100.0 * forwarded / packets);
  return 0;
}
