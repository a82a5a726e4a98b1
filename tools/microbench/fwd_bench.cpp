// Forwarder cost without DPDK: the same frames through process_burst in bursts of 32,
// in a loop, reporting ns per packet. For profiling the per-packet path on its own
// (callgrind: instructions per packet). Not a substitute for tools/bench, which
// measures drfwd against dpdk-testpmd.
//
//   fwd-bench [--flows N] [--sched rr|mh|...] [--table N] [--seconds S | --packets N] [--ipv6 1]
//             [--csum-good 1] [--buffers N]
//
// --buffers N: each packet is copied from a packed array of the flows' frames into the
// next of N 2-KiB buffers, as a driver copies into its mbufs (net_pcap does): the frame
// is in cache when the Forwarder reads it, whatever the number of flows, so a large
// --flows measures the connection table's misses, not the frames'. Without it (as the
// figures in docs/benchmarks.md before 2026-12-06 were measured) every flow has a
// buffer of its own, and 1M flows put 2 GiB of frames between a flow's packets.
// process_burst is called as the worker calls it (the frames prefetched, and whether any
// came on a VLAN noted, as they are made), so callgrind counts the Forwarder alone.
// --csum-good 1: the frames carry the NIC's "IPv4 checksum good" verdict (as with RX
// checksum offload, or --ipv4-checksum trust), so the Forwarder does not verify it.
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
#include "specs.hpp"

using namespace drfwd;

namespace {

const net::Mac kPortMac = test::port_mac(0);

// 70-byte TCP ACKs to 198.18.1.10:80 from 16,384 ports per client address.
std::vector<uint8_t> frame(uint32_t i) {
  static test::FrameSpec s;  // one spec, its addresses parsed once
  s.saddr = net::Ipv4{0xc6128001u + i / 16384};  // 198.18.128.1, ...
  s.sport = static_cast<uint16_t>(1024 + i % 16384);
  s.tcp_flags = net::kTcpAck;
  return test::build(s);
}

// The same as 74-byte IPv6 TCP ACKs to [2001:2::100]:80 from 2001:2:8000::/48.
std::vector<uint8_t> frame6(uint32_t i) {
  static test::Frame6Spec s;
  s.saddr = test::ip6("2001:2:8000::");
  const uint32_t host = 1 + i / 16384;
  for (int b = 0; b < 4; ++b) s.saddr.bytes[12 + b] = static_cast<uint8_t>(host >> (24 - 8 * b));
  s.daddr = test::ip6("2001:2::100");
  s.sport = static_cast<uint16_t>(1024 + i % 16384);
  s.tcp_flags = net::kTcpAck;
  s.payload = 0;
  return test::build6(s);
}

}  // namespace

int main(int argc, char** argv) {
  uint32_t flows = 4096, table = 1u << 20, buffers = 0;
  double seconds = 3;
  uint64_t limit = 0;  // --packets: stop after this many (a multiple of 32768), for callgrind
  lb::Sched sched = lb::Sched::kRr;
  bool ipv6 = false, csum_good = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--flows") flows = std::strtoul(argv[i + 1], nullptr, 10);
    else if (a == "--table") table = std::strtoul(argv[i + 1], nullptr, 10);
    else if (a == "--seconds") seconds = std::strtod(argv[i + 1], nullptr);
    else if (a == "--packets") limit = std::strtoull(argv[i + 1], nullptr, 10);
    else if (a == "--sched") sched = *lb::parse_sched(argv[i + 1]);
    else if (a == "--ipv6") ipv6 = std::strtoul(argv[i + 1], nullptr, 10) != 0;
    else if (a == "--csum-good") csum_good = std::strtoul(argv[i + 1], nullptr, 10) != 0;
    else if (a == "--buffers") buffers = std::strtoul(argv[i + 1], nullptr, 10);
  }
  if (buffers != 0 && buffers < 32) {  // a burst's frames would share buffers
    std::fprintf(stderr, "fwd-bench: --buffers must be 0 or at least 32 (a burst), not %u\n", buffers);
    return 2;
  }
  lb::SnapshotSpec spec;
  spec.ports = test::ports(1);
  spec.services = {ipv6 ? test::service(0, "2001:2::100", net::kProtoTcp, 80, sched,
                                         {test::rs(0, "2001:2::11"), test::rs(1, "2001:2::12"), test::rs(2, "2001:2::13"),
                                          test::rs(3, "2001:2::14")})
                        : test::service(0, "198.18.1.10", net::kProtoTcp, 80, sched,
                                        {test::rs(0, "198.18.0.11"), test::rs(1, "198.18.0.12"), test::rs(2, "198.18.0.13"),
                                         test::rs(3, "198.18.0.14")})};
  auto snap = lb::build_snapshot(spec, nullptr);

  lb::FlowTable conns(table);
  lb::WorkerCounters counters;
  auto rs_counters = std::make_unique<lb::RsCounters[]>(lb::kMaxRsSlots);
  lb::Forwarder fwd(0, conns, counters, rs_counters.get(), ipv6 ? table : 1024);

  // Frames laid out like mbuf data: one per 2 KiB buffer, a buffer per flow; with
  // --buffers, packed 128 bytes apart (each is copied into a buffer as it is sent).
  constexpr size_t kStride = 2048, kPacked = 128;
  const bool copy = buffers != 0;
  std::vector<uint8_t> pool(copy ? size_t{buffers} * kStride : size_t{flows} * kStride);
  std::vector<uint8_t> packed(copy ? size_t{flows} * kPacked : 0);
  uint32_t len = 0;
  for (uint32_t i = 0; i < flows; ++i) {
    auto f = ipv6 ? frame6(i) : frame(i);
    len = static_cast<uint32_t>(f.size());
    if (copy && len > kPacked) return 1;
    std::memcpy(copy ? &packed[size_t{i} * kPacked] : &pool[size_t{i} * kStride], f.data(), f.size());
  }
  uint32_t buf = 0;
  lb::Frame frames[32];
  lb::Verdict verdicts[32];
  uint64_t packets = 0, forwarded = 0;
  const auto start = std::chrono::steady_clock::now();
  const auto until = start + std::chrono::duration<double>(seconds);
  uint32_t next = 0;
  fwd.begin(snap.get(), 0);
  while (limit ? packets < limit : std::chrono::steady_clock::now() < until) {
    for (int rep = 0; rep < 1024; ++rep) {
      uint16_t tagged = 0;
      for (int i = 0; i < 32; ++i) {
        uint8_t* data;
        if (copy) {
          data = &pool[size_t{buf} * kStride];
          if (++buf == buffers) buf = 0;
          std::memcpy(data, &packed[size_t{next} * kPacked], kPacked);
        } else {
          data = &pool[size_t{next} * kStride];
          std::memcpy(data, kPortMac.bytes.data(), 6);  // as a fresh copy from the driver would have it
        }
        frames[i] = lb::Frame{data, len, len, 0, 0, csum_good ? net::IpCsum::kGood : net::IpCsum::kUnknown};
        __builtin_prefetch(data);
        tagged |= frames[i].vlan;
        if (++next == flows) next = 0;
      }
      // As the worker calls it: it prefetches each frame and notes its VLAN as it makes
      // the frames from the mbufs (Worker::to_frames), so the Forwarder does not.
      fwd.process_burst(frames, verdicts, 32, tagged != 0);
      for (auto& v : verdicts) forwarded += v.action == lb::Verdict::Action::kForward;
      packets += 32;
    }
  }
  const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
  std::printf("%sflows %u table %u sched %s: %.1f ns/packet (%.2f Mpps), forwarded %.1f%%\n", ipv6 ? "IPv6 " : "", flows, table,
              std::string(lb::sched_name(sched)).c_str(), ns / packets, packets / ns * 1e3,
              100.0 * forwarded / packets);
  return 0;
}
