// The per-packet decision against realistic tables, without EAL: each case is a frame
// in, a verdict and (when forwarded) the rewritten frame out.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>

#include "forwarder_fixture.hpp"
#include "specs.hpp"
#include "lb/forwarder.hpp"
#include "lb/hash.hpp"
#include "net/arp.hpp"

using namespace drfwd;
using namespace drfwd::lb;
using namespace drfwd::test;
using Action = Verdict::Action;

namespace {

const net::Mac kPortMac = mac("02:70:63:61:70:00");
const net::Mac kPort1Mac = mac("02:70:63:61:70:01");

class Fwd : public ForwarderFixture {
 protected:
  void SetUp() override {
    spec.ports = {PortSpec{kPortMac, net::Prefix{ip("198.18.0.2"), 24}}};
    spec.workers = 1;
    spec.services = {service(0, "198.18.1.10", net::kProtoTcp, 80, Sched::kRr,
                             {rs(0, "198.18.0.11"), rs(1, "198.18.0.12")})};
    start();
  }
  uint64_t dropped(net::Drop d) const { return counters->port[0].drops[static_cast<int>(d)]; }
};

FrameSpec syn(uint16_t sport, const char* src = "198.18.2.1") {
  FrameSpec s;
  s.saddr = ip(src);
  s.sport = sport;
  return s;
}

// The real server's reply to `s` (from the VIP, in DR), as an ICMP error would quote it.
FrameSpec reply_to(const FrameSpec& s) {
  FrameSpec r = s;
  std::swap(r.saddr, r.daddr);
  std::swap(r.sport, r.dport);
  r.tcp_flags = net::kTcpAck;
  r.payload = 1400;
  return r;
}

}  // namespace

// IPv6 (the tests at the end, and the burst test's IPv6 frames).
namespace {

const net::Ipv6 kVip6 = ip6("2001:2::100");
const net::Ipv6 kRouter6 = ip6("2001:db8:ffff::1");
const net::Mac kClientMac = mac("02:00:00:00:01:01");
constexpr Sched kAllScheds[] = {Sched::kRr,  Sched::kWrr, Sched::kSh,  Sched::kHash, Sched::kMh,
                                Sched::kLc, Sched::kWlc, Sched::kSed, Sched::kNq};

class Fwd6 : public ForwarderFixture {
 protected:
  void SetUp() override {
    spec.ports = {PortSpec{kPortMac, net::Prefix{ip("198.18.0.2"), 24}}};
    spec.workers = 1;
    spec.services = {service(0, "2001:2::100", net::kProtoTcp, 80, Sched::kRr,
                             {rs(0, "2001:2::11"), rs(1, "2001:2::12")})};
    start();
  }
  uint64_t dropped(net::Drop d) const { return counters->port[0].drops[static_cast<int>(d)]; }
  // The state of the connection `s` belongs to (kCount: none in the table).
  ConnState state_of(const Frame6Spec& s) {
    const net::Parsed6 p = parse6(build6(s));
    const uint32_t i = table6().find(p.key, flow_hash(p.key));
    return i == kNil ? ConnState::kCount : table6().at(i).state;
  }
};

// Client n of 2001:db8:c::/64.
net::Ipv6 client6(uint32_t n) {
  net::Ipv6 a = ip6("2001:db8:c::");
  for (int i = 0; i < 4; ++i) a.bytes[12 + i] = static_cast<uint8_t>(n >> (24 - 8 * i));
  return a;
}

Frame6Spec syn6(uint16_t sport, const net::Ipv6& src) {
  Frame6Spec s;
  s.saddr = src;
  s.sport = sport;
  return s;
}
Frame6Spec syn6(uint16_t sport, const char* src = "2001:db8:2::1") { return syn6(sport, ip6(src)); }
Frame6Spec flagged(Frame6Spec s, uint8_t flags) {
  s.tcp_flags = flags;
  return s;
}
Frame6Spec ack6(uint16_t sport, const char* src = "2001:db8:2::1") { return flagged(syn6(sport, src), net::kTcpAck); }

// The real server's reply to `s` (from the VIP, in DR), as an ICMPv6 error quotes it.
Frame6Spec reply_to(const Frame6Spec& s) {
  Frame6Spec r = s;
  std::swap(r.saddr, r.daddr);
  std::swap(r.sport, r.dport);
  r.tcp_flags = net::kTcpAck;
  r.payload = 1400;
  return r;
}

Frame frame_of(std::vector<uint8_t>& f, uint16_t port = 0, uint16_t vlan = 0) {
  return Frame{f.data(), static_cast<uint32_t>(f.size()), static_cast<uint32_t>(f.size()), port, vlan,
               net::IpCsum::kUnknown};
}

// The frames of `specs` (FrameSpec or Frame6Spec) through process_burst as one burst;
// the RS each went to (-1: not forwarded).
template <class Spec>
std::vector<int> burst_to_rs(Forwarder& fwd, const std::vector<Spec>& specs) {
  std::vector<std::vector<uint8_t>> bytes;
  for (const Spec& s : specs) {
    if constexpr (std::is_same_v<Spec, FrameSpec>)
      bytes.push_back(build(s));
    else
      bytes.push_back(build6(s));
  }
  std::vector<Frame> frames;
  for (auto& f : bytes) frames.push_back(frame_of(f));
  std::vector<Verdict> out(frames.size());
  fwd.process_burst(frames.data(), out.data(), static_cast<uint32_t>(frames.size()));
  std::vector<int> to;
  for (size_t i = 0; i < out.size(); ++i) to.push_back(out[i].action == Action::kForward ? rs_of_mac(bytes[i].data()) : -1);
  return to;
}

// The same connections in both tables (either family), each in the same state on the
// same RS with the same timeout and last use; "" or the first difference.
template <class Table>
std::string table_difference(const Table& a, const Table& b) {
  if (a.size() != b.size()) return "sizes " + std::to_string(a.size()) + " and " + std::to_string(b.size());
  for (uint32_t idx = 0; idx < a.capacity(); ++idx) {
    const auto& e = a.at(idx);
    if (!e.in_use) continue;
    const uint32_t j = b.find(e.key, flow_hash(e.key));
    if (j == kNil) return "entry " + std::to_string(idx) + " missing";
    const auto& f = b.at(j);
    if (e.state != f.state || e.rs_slot != f.rs_slot || e.timeout != f.timeout || e.last_seen != f.last_seen)
      return "entry " + std::to_string(idx) + ": state " + std::string(state_name(e.state)) + " and " +
             std::string(state_name(f.state)) + ", RS " + std::to_string(e.rs_slot) + " and " +
             std::to_string(f.rs_slot) + ", timeout " + std::to_string(e.timeout) + " and " +
             std::to_string(f.timeout) + ", last seen " + std::to_string(e.last_seen) + " and " +
             std::to_string(f.last_seen);
  }
  return b.check();
}

// Two forwarders over one spec, each with its own snapshot (scheduler cursors), tables
// and counters: `one` fed frame by frame (the reference), `burst` in bursts.
struct ForwarderPair {
  ForwarderPair(const SnapshotSpec& spec, uint32_t capacity)
      : sa(build_snapshot(spec, nullptr)),
        sb(build_snapshot(spec, nullptr)),
        ta(capacity),
        tb(capacity),
        ra(std::make_unique<RsCounters[]>(kMaxRsSlots)),
        rb(std::make_unique<RsCounters[]>(kMaxRsSlots)),
        one(0, ta, ca, ra.get(), capacity),
        burst(0, tb, cb, rb.get(), capacity) {}
  void begin(uint32_t now) {
    one.begin(sa.get(), now);
    burst.begin(sb.get(), now);
  }
  std::shared_ptr<Snapshot> sa, sb;
  FlowTable ta, tb;
  WorkerCounters ca, cb;
  std::unique_ptr<RsCounters[]> ra, rb;
  Forwarder one, burst;
};

using Bytes = std::vector<uint8_t>;
using Cases = std::vector<std::pair<const char*, Bytes>>;

// Each case alone, then in bursts of up to 32 (the second time the connections exist and
// were seen this second): untagged, on VLAN 20 and on the unknown VLAN 30; in one
// segment and in more (refused whole); with each IPv4 checksum verdict a port gives
// (none, good, bad); then a second later. process_burst (pair.burst) decides each frame
// as process() (pair.one) does, and leaves the same frames and the same tables.
void expect_burst_decides_as_one_by_one(ForwarderPair& pair, const Cases& cases) {
  const auto run = [&](size_t from, size_t to, uint16_t vlan, uint32_t pkt_extra, net::IpCsum csum) {
    std::vector<Bytes> a, b;
    for (size_t i = from; i < to; ++i) a.push_back(cases[i].second);
    b = a;
    const auto frame = [&](Bytes& f) {
      Frame x{f.data(), static_cast<uint32_t>(f.size()), static_cast<uint32_t>(f.size()), 0, vlan, csum};
      x.pkt_len += pkt_extra;  // more segments than the first
      return x;
    };
    std::vector<Frame> fb;
    for (auto& f : b) fb.push_back(frame(f));
    std::vector<Verdict> vb(fb.size());
    pair.burst.process_burst(fb.data(), vb.data(), static_cast<uint32_t>(fb.size()));
    for (size_t i = 0; i < a.size(); ++i) {
      const Verdict va = pair.one.process(frame(a[i]));
      const std::string what = std::string(cases[from + i].first) + " on VLAN " + std::to_string(vlan) +
                               ", checksum verdict " + std::to_string(static_cast<int>(csum)) +
                               (pkt_extra ? ", more segments" : "");
      EXPECT_EQ(va.word(), vb[i].word()) << what << ": one by one " << net::drop_name(va.drop) << ", burst "
                                         << net::drop_name(vb[i].drop);
      EXPECT_EQ(a[i], b[i]) << what;
    }
    EXPECT_EQ(table_difference(pair.ta, pair.tb), "") << cases[from].first << " on VLAN " << vlan;
    EXPECT_EQ(table_difference(pair.one.conns6(), pair.burst.conns6()), "") << cases[from].first << " on VLAN " << vlan;
  };
  for (uint32_t second : {0u, 1u}) {
    pair.begin(second);
    for (uint16_t vlan : {0, 20, 30})
      for (uint32_t extra : {0u, 4u})
        for (net::IpCsum csum : {net::IpCsum::kUnknown, net::IpCsum::kGood, net::IpCsum::kBad}) {
          for (size_t i = 0; i < cases.size(); ++i) run(i, i + 1, vlan, extra, csum);
          for (size_t i = 0; i < cases.size(); i += Forwarder::kMaxBurst)
            run(i, std::min(cases.size(), i + Forwarder::kMaxBurst), vlan, extra, csum);
        }
  }
}

// After expect_burst_decides_as_one_by_one: both Forwarders counted the same for RSs
// 0..n_rs-1 (RS 2: a UDP service's, which forwarded) and the worker, and forwarded to
// every kind of destination the cases have (connections, ICMP errors, later fragments).
void expect_same_counts(const ForwarderPair& pair, uint32_t n_rs) {
  uint64_t forwarded = 0;
  for (uint32_t r = 0; r < n_rs; ++r) {
    EXPECT_EQ(pair.ra[r].packets, pair.rb[r].packets) << r;
    EXPECT_EQ(pair.ra[r].bytes, pair.rb[r].bytes) << r;
    EXPECT_EQ(pair.ra[r].active, pair.rb[r].active) << r;
    EXPECT_EQ(pair.ra[r].inactive, pair.rb[r].inactive) << r;
    forwarded += pair.rb[r].packets;
  }
  EXPECT_GT(pair.rb[2].packets, 0u) << "the test should forward to the UDP service";
  EXPECT_GT(forwarded, 100u);
  EXPECT_GT(pair.cb.icmp_forwarded, 0u);
  EXPECT_GT(pair.cb.frag_forwarded, 0u);
  for (auto field : {&WorkerCounters::conn_new, &WorkerCounters::conn_resched, &WorkerCounters::conn_evicted,
                     &WorkerCounters::icmp_forwarded, &WorkerCounters::frag_forwarded})
    EXPECT_EQ(pair.ca.*field, pair.cb.*field);
  for (int d = 0; d < net::kDropCount; ++d)
    EXPECT_EQ(pair.ca.port[0].drops[d], pair.cb.port[0].drops[d]) << net::drop_name(static_cast<net::Drop>(d));
}

std::vector<uint8_t> bytes_of(const net::Mac& m) { return {m.bytes.begin(), m.bytes.end()}; }
std::vector<uint8_t> head(const std::vector<uint8_t>& f, size_t from, size_t to) {
  return {f.begin() + static_cast<long>(from), f.begin() + static_cast<long>(to)};
}
std::vector<uint8_t> tail(const std::vector<uint8_t>& f, size_t from = 12) {
  return {f.begin() + static_cast<long>(from), f.end()};
}

// f with the bytes v written from `at`.
Bytes poke(Bytes f, size_t at, std::initializer_list<uint8_t> v) {
  for (uint8_t b : v) f.at(at++) = b;
  return f;
}
// The same in an IPv4 frame's header (at: a frame offset), its checksum made right again.
Bytes poke_ip(Bytes f, size_t at, std::initializer_list<uint8_t> v) {
  constexpr size_t kIp = net::kEtherHdrLen;
  f = poke(std::move(f), at, v);
  f[kIp + 10] = f[kIp + 11] = 0;
  const uint16_t ck = net::checksum_finish(&f[kIp], net::kIpv4MinHdrLen);
  std::memcpy(&f[kIp + 10], &ck, 2);
  return f;
}
// Source MACs of zeros but one bit of one byte, one for each byte (the fast path loads
// them in two words: each byte in one or the other).
std::array<net::Mac, 6> one_bit_source_macs() {
  constexpr uint8_t kBit[] = {0x10, 0x10, 0x01, 0x80, 0x04, 0x01};
  std::array<net::Mac, 6> macs{};
  for (size_t k = 0; k < 6; ++k) macs[k].bytes[k] = kBit[k];
  return macs;
}

}  // namespace

TEST_F(Fwd, RewritesOnlyTheEthernetHeader) {
  FrameSpec s = syn(1000);
  auto in = build(s);
  auto f = in;
  Verdict v = send(f);
  ASSERT_EQ(v.action, Action::kForward);
  EXPECT_EQ(v.port, 0);
  EXPECT_EQ(std::vector<uint8_t>(f.begin(), f.begin() + 6), std::vector<uint8_t>({2, 0, 0, 0, 0, 0x10}));
  EXPECT_EQ(std::vector<uint8_t>(f.begin() + 6, f.begin() + 12),
            std::vector<uint8_t>(kPortMac.bytes.begin(), kPortMac.bytes.end()));
  EXPECT_EQ(std::vector<uint8_t>(f.begin() + 12, f.end()), std::vector<uint8_t>(in.begin() + 12, in.end()));
}

TEST_F(Fwd, OneConnectionOneRs) {
  for (uint16_t p = 0; p < 20; ++p) {
    ASSERT_EQ(send(syn(1000 + p)).action, Action::kForward);
    const int first = rs_of_last();
    FrameSpec ack = syn(1000 + p);
    ack.tcp_flags = net::kTcpAck;
    for (int i = 0; i < 5; ++i) {
      ASSERT_EQ(send(ack).action, Action::kForward);
      EXPECT_EQ(rs_of_last(), first);
    }
  }
  EXPECT_EQ(counters->conn_new, 20u);
}

TEST_F(Fwd, RoundRobinAlternates) {
  std::map<int, int> per_rs;
  for (uint16_t p = 0; p < 100; ++p) {
    send(syn(2000 + p));
    per_rs[rs_of_last()]++;
  }
  EXPECT_EQ(per_rs[0], 50);
  EXPECT_EQ(per_rs[1], 50);
}

TEST_F(Fwd, WeightedRoundRobinFollowsWeights) {
  spec.services[0].params.sched = Sched::kWrr;
  spec.services[0].rs = {rs(0, "198.18.0.11", 3), rs(1, "198.18.0.12", 1)};
  publish();
  std::map<int, int> per_rs;
  for (uint16_t p = 0; p < 400; ++p) {
    send(syn(3000 + p));
    per_rs[rs_of_last()]++;
  }
  EXPECT_EQ(per_rs[0], 300);
  EXPECT_EQ(per_rs[1], 100);
}

TEST_F(Fwd, HashSchedulersAreDeterministicAndSpread) {
  for (Sched sch : {Sched::kSh, Sched::kHash, Sched::kMh}) {
    spec.services[0].params.sched = sch;
    spec.services[0].rs = {rs(0, "198.18.0.11"), rs(1, "198.18.0.12"), rs(2, "198.18.0.13")};
    publish();
    table = std::make_unique<FlowTable>(4096);  // existing connections would stay on their RS
    fwd = std::make_unique<Forwarder>(0, *table, *counters, rs_counters.get());
    fwd->begin(snap.get(), 0);
    // A second Forwarder with its own empty table (another worker, or another drfwd
    // instance with the same RSs) must choose the same RS for every new flow.
    FlowTable t2(4096);
    WorkerCounters c2;
    auto r2 = std::make_unique<RsCounters[]>(kMaxRsSlots);
    Forwarder other(1, t2, c2, r2.get());
    other.begin(snap.get(), 0);
    std::map<int, int> per_rs;
    for (uint32_t c = 0; c < 600; ++c) {
      const std::string src = "198.18." + std::to_string(2 + c / 200) + "." + std::to_string(1 + c % 200);
      FrameSpec s = syn(static_cast<uint16_t>(5000 + c), src.c_str());
      send(s);
      per_rs[rs_of_last()]++;
      auto f = build(s);
      Frame fr{f.data(), static_cast<uint32_t>(f.size()), static_cast<uint32_t>(f.size()), 0};
      ASSERT_EQ(other.process(fr).action, Action::kForward);
      EXPECT_EQ(f[5], last[5]) << sched_name(sch);
    }
    for (int r = 0; r < 3; ++r) EXPECT_GT(per_rs[r], 120) << sched_name(sch) << " rs " << r;
  }
}

TEST_F(Fwd, SourceHashKeepsAClientOnOneRs) {
  spec.services[0].params.sched = Sched::kSh;
  spec.services[0].rs = {rs(0, "198.18.0.11"), rs(1, "198.18.0.12"), rs(2, "198.18.0.13")};
  publish();
  for (int c = 1; c < 50; ++c) {
    const std::string src = "198.18.3." + std::to_string(c);
    send(syn(100, src.c_str()));
    const int first = rs_of_last();
    for (uint16_t p = 101; p < 110; ++p) {
      send(syn(p, src.c_str()));
      EXPECT_EQ(rs_of_last(), first);
    }
  }
}

TEST_F(Fwd, WeightZeroDrainsButKeepsConnections) {
  send(syn(1000));
  const int a = rs_of_last();
  send(syn(1001));
  const int b = rs_of_last();
  ASSERT_NE(a, b);
  spec.services[0].rs[a].weight = 0;  // drain RS a
  publish();
  FrameSpec ack = syn(1000);
  ack.tcp_flags = net::kTcpAck;
  send(ack);
  EXPECT_EQ(rs_of_last(), a) << "existing connection stays on the drained RS";
  for (uint16_t p = 0; p < 20; ++p) {
    send(syn(4000 + p));
    EXPECT_EQ(rs_of_last(), b) << "no new connection on the drained RS";
  }
}

TEST_F(Fwd, RemovedRsConnectionsAreRescheduled) {
  send(syn(1000));
  const int a = rs_of_last();
  spec.services[0].rs.erase(spec.services[0].rs.begin() + a);
  publish();
  FrameSpec ack = syn(1000);
  ack.tcp_flags = net::kTcpAck;
  ASSERT_EQ(send(ack).action, Action::kForward);
  EXPECT_NE(rs_of_last(), a);
  EXPECT_EQ(counters->conn_resched, 1u);
  EXPECT_EQ(table->size(), 1u);
}

// A snapshot never has fewer RS slots than the one before it, so every connection's slot
// has a view (the fast lane reads it unchecked). A snapshot built without its predecessor
// may have fewer: a connection on a slot past its end is scheduled afresh, in a burst as
// one by one, and nothing is read past the snapshot's views (the sanitizer builds run
// this).
TEST_F(Fwd, ConnectionsOnSlotsPastTheSnapshotsViewsAreRescheduled) {
  spec.services[0].rs.push_back(rs(7, "198.18.0.17"));
  publish();
  ASSERT_EQ(snap->rs_count, 8u);
  std::vector<FrameSpec> flows;
  for (uint16_t p = 0; p < 6; ++p) {
    FrameSpec f = syn(static_cast<uint16_t>(6000 + p));
    send(f);
    f.tcp_flags = net::kTcpAck;
    flows.push_back(f);
  }
  EXPECT_EQ(burst_to_rs(*fwd, flows), (std::vector<int>{0, 1, 7, 0, 1, 7}));  // round robin, on the fast lane
  // RS 7 removed: with the snapshot before, the views stay 8; built afresh, they are 2.
  spec.services[0].rs.pop_back();
  EXPECT_EQ(build_snapshot(spec, snap.get())->rs_count, 8u);
  snap = build_snapshot(spec, nullptr);
  ASSERT_EQ(snap->rs_count, 2u);
  fwd->begin(snap.get(), now);
  const uint64_t resched = counters->conn_resched;
  const std::vector<int> to = burst_to_rs(*fwd, flows);
  EXPECT_EQ(to[0], 0);
  EXPECT_EQ(to[1], 1);
  EXPECT_EQ(to[3], 0);
  EXPECT_EQ(to[4], 1);
  for (size_t i : {2u, 5u}) EXPECT_TRUE(to[i] == 0 || to[i] == 1) << i;
  EXPECT_EQ(counters->conn_resched, resched + 2);
  // They stay where they went (this Forwarder's lane checks each slot from now on: it has
  // seen a snapshot with more).
  EXPECT_EQ(burst_to_rs(*fwd, flows), to);
}

TEST_F(Fwd, UnhealthyOrUnresolvedRsGetsNothing) {
  spec.services[0].rs[0].health = lb::Health::kDown;
  publish();
  for (uint16_t p = 0; p < 10; ++p) {
    send(syn(100 + p));
    EXPECT_EQ(rs_of_last(), 1);
  }
  spec.services[0].rs[0].health = lb::Health::kUnchecked;
  spec.services[0].rs[1].mac.reset();  // neighbour unknown
  publish();
  for (uint16_t p = 0; p < 10; ++p) {
    send(syn(200 + p));
    EXPECT_EQ(rs_of_last(), 0);
  }
}

// on-failure inhibit (keepalived's inhibit_on_failure): a down RS keeps its connections,
// as if drained; rescheduling (the default) moves them.
TEST_F(Fwd, InhibitedDownRsKeepsItsConnections) {
  send(syn(1000));
  const int a = rs_of_last();
  send(syn(1001));
  const int b = rs_of_last();
  ASSERT_NE(a, b);
  spec.services[0].rs[a].health = lb::Health::kDown;
  spec.services[0].rs[a].inhibit = true;
  publish();
  FrameSpec ack = syn(1000);
  ack.tcp_flags = net::kTcpAck;
  send(ack);
  EXPECT_EQ(rs_of_last(), a) << "inhibited: the connection stays on the failed RS";
  for (uint16_t p = 0; p < 10; ++p) {
    send(syn(4000 + p));
    EXPECT_EQ(rs_of_last(), b) << "no new connection on the failed RS";
  }
  EXPECT_EQ(counters->conn_resched, 0u);
  spec.services[0].rs[a].inhibit = false;
  publish();
  send(ack);
  EXPECT_EQ(rs_of_last(), b) << "rescheduled once inhibit is off";
  EXPECT_EQ(counters->conn_resched, 1u);
}

// A sorry server takes new connections only while no real server does, keeps those
// connections when the real servers come back, and never gets a new one then; a
// persistence template on it is not kept either.
TEST_F(Fwd, SorryServerOnlyWhileNoRealServerTakesConnections) {
  spec.services[0].params.persist = 60;
  lb::RsSpec sorry = rs(2, "198.18.0.19");
  sorry.sorry = true;
  spec.services[0].rs.push_back(sorry);
  publish();
  for (uint16_t p = 0; p < 10; ++p) {
    send(syn(100 + p, p % 2 ? "198.18.2.1" : "198.18.2.2"));
    EXPECT_NE(rs_of_last(), 2) << "the sorry server waits while real servers take connections";
  }
  spec.services[0].rs[0].health = lb::Health::kDown;
  spec.services[0].rs[1].weight = 0;
  publish();
  EXPECT_EQ(snap->services[0]->usable, std::vector<uint32_t>{2});
  send(syn(200, "198.18.2.3"));
  EXPECT_EQ(rs_of_last(), 2) << "no real server: the sorry server";
  spec.services[0].rs[0].health = lb::Health::kUp;
  publish();
  FrameSpec ack = syn(200, "198.18.2.3");
  ack.tcp_flags = net::kTcpAck;
  send(ack);
  EXPECT_EQ(rs_of_last(), 2) << "its connection stays with the sorry server";
  send(syn(201, "198.18.2.3"));
  EXPECT_EQ(rs_of_last(), 0) << "the client's template moves back to a real server";
  // Quorum lost with a sorry server: the sorry server, though a real server is up.
  spec.services[0].below_quorum = true;
  publish();
  send(syn(300, "198.18.2.4"));
  EXPECT_EQ(rs_of_last(), 2);
  // Below quorum without a sorry server: the real servers that are up keep serving.
  spec.services[0].rs.pop_back();
  publish();
  send(syn(301, "198.18.2.4"));
  EXPECT_EQ(rs_of_last(), 0);
}

TEST_F(Fwd, NoRsAndNoNeighbourAreDistinctDrops) {
  spec.services[0].rs[0].mac.reset();
  spec.services[0].rs[1].mac.reset();
  publish();
  EXPECT_EQ(send(syn(1)).drop, net::Drop::kNoNeighbour);
  spec.services[0].rs[0].weight = 0;
  spec.services[0].rs[1].health = lb::Health::kDown;
  publish();
  EXPECT_EQ(send(syn(2)).drop, net::Drop::kNoRs);
  spec.services[0].rs.clear();
  publish();
  EXPECT_EQ(send(syn(3)).drop, net::Drop::kNoRs);
  EXPECT_EQ(table->size(), 0u) << "a dropped packet creates no connection";
  EXPECT_EQ(dropped(net::Drop::kNoRs), 2u);
  EXPECT_EQ(dropped(net::Drop::kNoNeighbour), 1u);
}

TEST_F(Fwd, TrafficThatIsNotForAServiceNeverReachesAnRs) {
  struct Case {
    const char* what;
    FrameSpec spec;
    Action action;
    net::Drop drop;
  };
  std::vector<Case> cases;
  auto add = [&](const char* what, auto mutate, Action a, net::Drop d) {
    FrameSpec s = syn(7);
    mutate(s);
    cases.push_back({what, s, a, d});
  };
  add("other port of the VIP", [](FrameSpec& s) { s.dport = 81; }, Action::kDrop, net::Drop::kNoService);
  add("UDP to a TCP service", [](FrameSpec& s) { s.proto = net::kProtoUdp; }, Action::kDrop, net::Drop::kNoService);
  add("another address", [](FrameSpec& s) { s.daddr = ip("198.18.1.11"); }, Action::kDrop, net::Drop::kNoService);
  add("ICMP to the VIP", [](FrameSpec& s) { s.proto = net::kProtoIcmp; }, Action::kDrop, net::Drop::kNoService);
  add("another host's MAC", [](FrameSpec& s) { s.dst = mac("02:00:00:00:00:99"); }, Action::kDrop,
      net::Drop::kNotOurMac);
  add("multicast source MAC", [](FrameSpec& s) { s.src = mac("01:00:5e:00:00:01"); }, Action::kDrop,
      net::Drop::kBadSrcMac);
  add("zero source MAC", [](FrameSpec& s) { s.src = mac("00:00:00:00:00:00"); }, Action::kDrop,
      net::Drop::kBadSrcMac);
  add("to the DIP", [](FrameSpec& s) { s.daddr = ip("198.18.0.2"); }, Action::kControl, net::Drop::kNone);
  add("ICMP to the DIP", [](FrameSpec& s) { s.daddr = ip("198.18.0.2"); s.proto = net::kProtoIcmp; },
      Action::kControl, net::Drop::kNone);
  add("ARP", [](FrameSpec& s) { s.ethertype = net::kEtherArp; s.dst = net::Mac::broadcast(); }, Action::kControl,
      net::Drop::kNone);
  add("broadcast to the VIP", [](FrameSpec& s) { s.dst = net::Mac::broadcast(); }, Action::kControl,
      net::Drop::kNone);
  add("IPv4 under the IPv6 EtherType", [](FrameSpec& s) { s.ethertype = 0x86dd; }, Action::kDrop, net::Drop::kIpBadVersion);
  add("LLDP", [](FrameSpec& s) { s.ethertype = 0x88cc; }, Action::kDrop, net::Drop::kNotIpv4);
  // No VLAN interface on the port: the worker leaves the tag in, its VID is unknown here.
  add("VLAN", [](FrameSpec& s) { s.ethertype = 0x8100; }, Action::kDrop, net::Drop::kVlanUnknown);
  add("802.1ad", [](FrameSpec& s) { s.ethertype = 0x88a8; }, Action::kDrop, net::Drop::kVlanDouble);
  add("orphan fragment", [](FrameSpec& s) { s.frag = 0x0004; }, Action::kDrop, net::Drop::kFragOrphan);
  for (auto& c : cases) {
    auto f = build(c.spec);
    const auto before = f;
    Verdict v = send(f);
    EXPECT_EQ(v.action, c.action) << c.what;
    EXPECT_EQ(v.drop, c.drop) << c.what << ": " << net::drop_name(v.drop);
    EXPECT_EQ(f, before) << c.what << ": frame modified";
  }
  EXPECT_EQ(table->size(), 0u);
  for (int s = 0; s < 2; ++s) EXPECT_EQ(rs_counters[s].packets, 0u);
}

// Frames for the control core carry their rate-limit class: what comes from a real
// server's address (health-check replies, its ARP) is limited apart from other ARP and
// from other traffic to the DIP, so a flood of those cannot starve it.
TEST_F(Fwd, ControlFramesAreClassed) {
  auto arp_from = [](const char* spa) {
    std::vector<uint8_t> f(64);
    const net::Arp a = net::arp_request(mac("02:00:00:00:00:77"), ip(spa), ip("198.18.0.2"));
    f.resize(net::build_arp(f.data(), a));
    return f;
  };
  struct Case {
    const char* what;
    std::vector<uint8_t> frame;
    ExcClass cls;
  };
  FrameSpec from_rs = syn(9, "198.18.0.11");
  from_rs.daddr = ip("198.18.0.2");
  from_rs.tcp_flags = net::kTcpSyn | net::kTcpAck;
  FrameSpec to_dip = syn(9);
  to_dip.daddr = ip("198.18.0.2");
  to_dip.proto = net::kProtoUdp;
  FrameSpec bcast = syn(9);
  bcast.dst = net::Mac::broadcast();
  std::vector<Case> cases = {
      {"health-check reply from an RS", build(from_rs), ExcClass::kServer},
      {"ARP from an RS", arp_from("198.18.0.12"), ExcClass::kServer},
      {"ARP from a client", arp_from("198.18.2.1"), ExcClass::kArp},
      {"UDP from a client to the DIP", build(to_dip), ExcClass::kOther},
      {"broadcast IPv4", build(bcast), ExcClass::kOther},
      {"ARP cut before the sender address", arp_from("198.18.0.11"), ExcClass::kArp},
  };
  cases.back().frame.resize(30);
  for (auto& c : cases) {
    Verdict v = send(c.frame);
    EXPECT_EQ(v.action, Action::kControl) << c.what;
    EXPECT_EQ(v.exc, c.cls) << c.what;
  }
  spec.services[0].rs.pop_back();  // 198.18.0.12 is no longer a real server
  publish();
  auto f = arp_from("198.18.0.12");
  EXPECT_EQ(send(f).exc, ExcClass::kArp);
}

// Routing and redundancy protocols to or from the director have a class of their own,
// limited apart: a flood at the DIP must not drop a BGP or BFD session or make VRRP flap.
TEST_F(Fwd, RoutingProtocolsHaveTheirOwnExceptionClass) {
  auto to_dip = [](uint8_t proto, uint16_t sport, uint16_t dport, const char* src = "198.18.2.1") {
    FrameSpec s = syn(sport, src);
    s.daddr = ip("198.18.0.2");
    s.proto = proto;
    s.dport = dport;
    return build(s);
  };
  FrameSpec vrrp = syn(0, "198.18.0.3");  // the other director's advertisement, to 224.0.0.18
  vrrp.dst = mac("01:00:5e:00:00:12");
  vrrp.daddr = ip("224.0.0.18");
  vrrp.proto = 112;
  struct Case {
    const char* what;
    std::vector<uint8_t> frame;
    ExcClass cls;
  };
  const std::vector<Case> cases = {
      {"BGP from the router", to_dip(net::kProtoTcp, 40179, 179), ExcClass::kRouting},
      {"BGP answer to our connection", to_dip(net::kProtoTcp, 179, 40179), ExcClass::kRouting},
      {"BFD control", to_dip(net::kProtoUdp, 49152, 3784), ExcClass::kRouting},
      {"BFD echo", to_dip(net::kProtoUdp, 49152, 3785), ExcClass::kRouting},
      {"multihop BFD", to_dip(net::kProtoUdp, 49152, 4784), ExcClass::kRouting},
      {"OSPF", to_dip(89, 0, 0), ExcClass::kRouting},
      {"VRRP advertisement", build(vrrp), ExcClass::kRouting},
      {"SSH to the DIP", to_dip(net::kProtoTcp, 40000, 22), ExcClass::kOther},
      {"BGP port as a source of UDP", to_dip(net::kProtoUdp, 179, 5000), ExcClass::kOther},
      {"a real server's reply", to_dip(net::kProtoTcp, 80, 40000, "198.18.0.11"), ExcClass::kServer},
  };
  for (const Case& c : cases) {
    std::vector<uint8_t> f = c.frame;
    const Verdict v = send(f);
    EXPECT_EQ(v.action, Action::kControl) << c.what;
    EXPECT_EQ(v.exc, c.cls) << c.what;
  }
}

TEST_F(Fwd, MultiSegmentFramesAreOversize) {
  auto f = build(syn(1));
  Frame fr{f.data(), 40, static_cast<uint32_t>(f.size()), 0};
  EXPECT_EQ(fwd->process(fr).drop, net::Drop::kOversize);
}

TEST_F(Fwd, FragmentsFollowTheirFirstFragment) {
  spec.services[0].key.proto = net::kProtoUdp;
  spec.services[0].key.port = 53;
  publish();
  for (uint16_t id = 1; id <= 10; ++id) {
    FrameSpec first = syn(static_cast<uint16_t>(3000 + id));
    first.proto = net::kProtoUdp;
    first.dport = 53;
    first.ip_id = id;
    first.frag = 0x2000;
    ASSERT_EQ(send(first).action, Action::kForward);
    const int rs_first = rs_of_last();
    FrameSpec rest = first;
    rest.frag = 0x2000 | 3;  // middle
    ASSERT_EQ(send(rest).action, Action::kForward);
    EXPECT_EQ(rs_of_last(), rs_first);
    rest.frag = 6;  // last
    ASSERT_EQ(send(rest).action, Action::kForward);
    EXPECT_EQ(rs_of_last(), rs_first);
  }
  EXPECT_EQ(counters->frag_forwarded, 20u);
  // Too late: the cache entry has aged out.
  FrameSpec late = syn(3001);
  late.proto = net::kProtoUdp;
  late.ip_id = 1;
  late.frag = 9;
  at(now + FragCache<net::FlowKey>::kLifetime + 1);
  EXPECT_EQ(send(late).drop, net::Drop::kFragOrphan);
}

// PMTU discovery through a DR balancer: "fragmentation needed" about a real server's
// reply comes to the VIP and must reach that real server.
TEST_F(Fwd, IcmpErrorsFollowTheirConnection) {
  const net::Ipv4 router = ip("198.18.9.1"), vip = ip("198.18.1.10");
  for (uint16_t p = 0; p < 10; ++p) {
    const FrameSpec c = syn(static_cast<uint16_t>(4000 + p));
    ASSERT_EQ(send(c).action, Action::kForward);
    const int rs = rs_of_last();
    for (uint8_t type : {3, 11}) {
      const auto in = icmp_error(reply_to(c), router, vip, type, type == 3 ? 4 : 0);
      last = in;
      ASSERT_EQ(send(last).action, Action::kForward);
      EXPECT_EQ(rs_of_last(), rs);
      EXPECT_EQ(std::vector<uint8_t>(last.begin() + 12, last.end()), std::vector<uint8_t>(in.begin() + 12, in.end()));
    }
  }
  EXPECT_EQ(counters->icmp_forwarded, 20u);
  EXPECT_EQ(counters->conn_new, 10u) << "an ICMP error creates no connection";
  EXPECT_EQ(table->size(), 10u);
  // Unknown to round robin: dropped, counted.
  last = icmp_error(reply_to(syn(4999)), router, vip);
  EXPECT_EQ(send(last).drop, net::Drop::kIcmpNoConn);
  // Unknown to Maglev: the server the connection would have.
  spec.services[0].params.sched = Sched::kMh;
  publish();
  for (uint16_t p = 0; p < 10; ++p) {
    last = icmp_error(reply_to(syn(static_cast<uint16_t>(5000 + p))), router, vip);
    ASSERT_EQ(send(last).action, Action::kForward);
    const int via_icmp = rs_of_last();
    send(syn(static_cast<uint16_t>(5000 + p)));
    EXPECT_EQ(rs_of_last(), via_icmp);
  }
  // About the appliance's own datagram (to the DIP): the kernel's. Echo to the VIP: no one's.
  FrameSpec own = syn(22);
  own.daddr = ip("198.18.0.2");
  auto to_dip = icmp_error(reply_to(own), router, ip("198.18.0.2"));
  EXPECT_EQ(send(to_dip).action, Action::kControl);
  FrameSpec echo = syn(1);
  echo.proto = net::kProtoIcmp;
  EXPECT_EQ(send(echo).drop, net::Drop::kNoService);
  // About a service that does not exist (port 81): no-service.
  FrameSpec other = syn(4000);
  other.dport = 81;
  last = icmp_error(reply_to(other), router, vip);
  EXPECT_EQ(send(last).drop, net::Drop::kNoService);
}

TEST_F(Fwd, ConnectionsExpireAndCountersFollowState) {
  send(syn(1000));
  const int r = rs_of_last();
  EXPECT_EQ(rs_counters[r].inactive, 1);  // SYN_RECV
  FrameSpec ack = syn(1000);
  ack.tcp_flags = net::kTcpAck;
  send(ack);
  EXPECT_EQ(rs_counters[r].active, 1);
  EXPECT_EQ(rs_counters[r].inactive, 0);
  at(899);
  EXPECT_EQ(fwd->expire(100), 0u);
  at(900);
  EXPECT_EQ(fwd->expire(100), 1u);
  EXPECT_EQ(rs_counters[r].active, 0);
  EXPECT_EQ(counters->conn_expired, 1u);
  // FIN moves it to FIN_WAIT with the 120 s timeout.
  send(syn(1001));
  const int r2 = rs_of_last();
  FrameSpec fin = syn(1001);
  fin.tcp_flags = net::kTcpAck;
  send(fin);
  fin.tcp_flags = net::kTcpFin | net::kTcpAck;
  send(fin);
  EXPECT_EQ(rs_counters[r2].inactive, 1);
  at(900 + 120);
  EXPECT_EQ(fwd->expire(100), 1u);
  EXPECT_EQ(table->check(), "");
}

// expire() between bursts: within one clock second it looks again only when its last
// look ran out of budget; a new second looks again.
TEST_F(Fwd, ExpiryWithinASecondContinuesOnlyWhereTheBudgetRanOut) {
  for (uint16_t p = 0; p < 70; ++p) send(syn(static_cast<uint16_t>(2000 + p)));  // SYN_RECV: 60 s
  at(59);
  EXPECT_EQ(fwd->expire(32), 0u);
  send(syn(3000));  // at 59: times out at 119
  at(60);
  EXPECT_EQ(fwd->expire(32), 32u);
  EXPECT_EQ(fwd->expire(32), 32u);  // the same second: the last look was cut short
  EXPECT_EQ(fwd->expire(32), 6u);
  EXPECT_EQ(fwd->expire(32), 0u);
  EXPECT_EQ(table->size(), 1u);
  at(118);
  EXPECT_EQ(fwd->expire(32), 0u);
  at(119);
  EXPECT_EQ(fwd->expire(32), 1u);
  EXPECT_EQ(counters->conn_expired, 71u);
  EXPECT_EQ(table->check(), "");
}

// Timeouts differ within a state list (`set timeout` after some connections were made,
// persistence templates of different services): an overdue entry can sit behind a tail
// that has not timed out. When that tail leaves its list within the same second, the
// next look finds the overdue entry, as it did when expiry looked after every burst.
TEST_F(Fwd, ExpiryLooksAgainWhenATailLeavesItsList) {
  auto established = [&](uint16_t sport) {
    send(syn(sport));
    FrameSpec ack = syn(sport);
    ack.tcp_flags = net::kTcpAck;
    send(ack);
    return ack;
  };
  const FrameSpec a = established(4000);  // at 0: 900 s
  spec.timeouts.tcp() = 10;
  publish();
  at(1);
  established(4001);  // at 1: 10 s
  at(11);
  EXPECT_EQ(fwd->expire(32), 0u);  // stops at the first connection, not timed out
  EXPECT_EQ(fwd->expire(32), 0u);
  send(a);  // the first connection's next segment, this second: it leaves the tail
  EXPECT_EQ(fwd->expire(32), 1u);  // the second, overdue behind it
  EXPECT_EQ(counters->conn_expired, 1u);
  EXPECT_EQ(table->size(), 1u);
  EXPECT_EQ(table->check(), "");
}

TEST_F(Fwd, TimeoutsFromTheSnapshotApply) {
  spec.timeouts.udp() = 5;
  spec.services[0].key.proto = net::kProtoUdp;
  publish();
  FrameSpec u = syn(1);
  u.proto = net::kProtoUdp;
  send(u);
  at(4);
  EXPECT_EQ(fwd->expire(10), 0u);
  at(5);
  EXPECT_EQ(fwd->expire(10), 1u);
}

TEST_F(Fwd, ExpiredEntryIsScheduledAfresh) {
  send(syn(1000));
  at(2000);  // long past every timeout, before the expiry sweep ran
  FrameSpec ack = syn(1000);
  ack.tcp_flags = net::kTcpAck;
  ASSERT_EQ(send(ack).action, Action::kForward);
  EXPECT_EQ(counters->conn_new, 2u);
  EXPECT_EQ(table->size(), 1u);
}

TEST_F(Fwd, PersistenceKeepsAClientOnItsRs) {
  spec.services[0].params.persist = 300;
  publish();
  send(syn(1000, "198.18.5.1"));
  const int first = rs_of_last();
  for (uint16_t p = 1001; p < 1020; ++p) {
    send(syn(p, "198.18.5.1"));
    EXPECT_EQ(rs_of_last(), first) << "rr would alternate; persistence must not";
  }
  // Another client is scheduled normally (rr moves on).
  send(syn(1000, "198.18.5.2"));
  // The template outlives the connections by the persistence timeout...
  at(299);
  send(syn(2000, "198.18.5.1"));
  EXPECT_EQ(rs_of_last(), first);
  // ...and a drained RS's template is not honoured.
  spec.services[0].rs[first].weight = 0;
  publish();
  send(syn(2001, "198.18.5.1"));
  EXPECT_NE(rs_of_last(), first);
  EXPECT_EQ(table->check(), "");
}

TEST_F(Fwd, PersistenceNetmaskGroupsClients) {
  spec.services[0].params.persist = 300;
  spec.services[0].params.persist_mask = 24;
  publish();
  send(syn(1, "198.18.6.1"));
  const int first = rs_of_last();
  for (int h = 2; h < 30; ++h) {
    const std::string src = "198.18.6." + std::to_string(h);
    send(syn(1, src.c_str()));
    EXPECT_EQ(rs_of_last(), first);
  }
}

TEST_F(Fwd, TablePressureEvictsButNeverFails) {
  table = std::make_unique<FlowTable>(16);
  fwd = std::make_unique<Forwarder>(0, *table, *counters, rs_counters.get());
  fwd->begin(snap.get(), 0);
  for (uint16_t p = 0; p < 1000; ++p) {
    at(p / 10);
    ASSERT_EQ(send(syn(p)).action, Action::kForward);
  }
  EXPECT_EQ(table->size(), 16u);
  EXPECT_EQ(counters->conn_evicted, 1000u - 16u);
  EXPECT_EQ(rs_counters[0].inactive + rs_counters[1].inactive, 16);
  EXPECT_EQ(table->check(), "");
}

// Pass 2 goes by the buckets' 16-bit signatures and pass 3 compares the key: a frame
// whose key shares its bucket and signature with another connection's is its own
// connection, in the fast lane (the other connection established and seen this second,
// the frame an ACK) and after it, first way or second.
TEST_F(Fwd, BurstTellsKeysWithOneSignatureApart) {
  table = std::make_unique<FlowTable>(16);  // 8 buckets at most: the low 3 bits pick one
  fwd = std::make_unique<Forwarder>(0, *table, *counters, rs_counters.get());
  fwd->begin(snap.get(), 0);
  // Two clients whose keys agree in the hash's top 15 bits (the signature) and low 3.
  const auto key_of = [](const FrameSpec& s) {
    const auto f = build(s);
    const auto n = static_cast<uint32_t>(f.size());
    return net::parse_frame(f.data(), n, n, net::IpCsum::kUnknown).key;
  };
  std::map<uint64_t, FrameSpec> seen;
  FrameSpec a, b;
  for (uint16_t port = 1024;; ++port) {
    FrameSpec s = syn(port);
    s.tcp_flags = net::kTcpAck;
    const uint64_t h = flow_hash(key_of(s));
    const auto [it, added] = seen.emplace((h >> 49) << 3 | (h & 7), s);
    if (!added) {
      a = it->second, b = s;
      break;
    }
  }
  const net::FlowKey ka = key_of(a), kb = key_of(b);
  ASSERT_FALSE(ka == kb);
  const auto burst = [&](const std::vector<FrameSpec>& specs) { return burst_to_rs(*fwd, specs); };
  // a: established on one RS, seen this second. b's ACK in the fast lane: a new connection
  // on the other RS (rr), not a's.
  EXPECT_EQ(burst({a, a}), (std::vector<int>{0, 0}));
  const FlowTable::Lookup index = table->lookup();
  ASSERT_EQ(table->bucket_of(flow_hash(ka)), table->bucket_of(flow_hash(kb)));
  EXPECT_EQ(index.candidate_in(table->bucket_of(flow_hash(kb)), flow_hash(kb)), table->find(ka, flow_hash(ka)));
  EXPECT_EQ(table->find(kb, flow_hash(kb)), kNil);
  EXPECT_EQ(burst({b}), (std::vector<int>{1}));
  ASSERT_NE(table->find(kb, flow_hash(kb)), kNil);
  EXPECT_EQ(table->size(), 2u);
  EXPECT_EQ(counters->conn_new, 2u);
  // Both in the table (a's way first): each frame to its own connection's RS, in the
  // fast lane and after a frame that leaves it.
  EXPECT_EQ(burst({b, a, b, a}), (std::vector<int>{1, 0, 1, 0}));
  EXPECT_EQ(burst({a, b, a}), (std::vector<int>{0, 1, 0}));  // the lane takes a, then stops at b
  FrameSpec c = syn(9);  // a new connection: the frames after it take the slow path
  EXPECT_EQ(burst({c, b, a, b}), (std::vector<int>{0, 1, 0, 1}));
  at(1);  // not seen this second: no fast lane
  EXPECT_EQ(burst({b, a}), (std::vector<int>{1, 0}));
  EXPECT_EQ(counters->conn_new, 3u);
  EXPECT_EQ(table->check(), "");
}

// The fast lane takes a connection seen this second only while its RS is still usable
// (its view's generation): one whose RS went down, or was removed, within the second
// moves at once, as it does frame by frame. `a`: an ACK to the fixture's service (RSs 0
// and 1), either family; t: its family's table. (publish: the fixture's.)
template <class Spec, class Table>
void rs_leaves_within_the_second(Forwarder& fwd, SnapshotSpec& spec, const std::function<void()>& publish,
                                 const Spec& a, const Table& t, const WorkerCounters& counters) {
  const auto burst = [&](const std::vector<Spec>& specs) { return burst_to_rs(fwd, specs); };
  EXPECT_EQ(burst({a, a}), (std::vector<int>{0, 0}));  // on RS 0, seen this second
  spec.services[0].rs[0].health = lb::Health::kDown;
  publish();
  EXPECT_EQ(burst({a, a}), (std::vector<int>{1, 1}));
  EXPECT_EQ(counters.conn_resched, 1u);
  spec.services[0].rs[0].health = lb::Health::kUp;
  spec.services[0].rs.erase(spec.services[0].rs.begin() + 1);
  publish();
  EXPECT_EQ(burst({a, a}), (std::vector<int>{0, 0}));
  EXPECT_EQ(counters.conn_resched, 2u);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.check(), "");
}

TEST_F(Fwd, BurstMovesAConnectionWhoseRsLeftThisSecond) {
  FrameSpec a = syn(1000);
  a.tcp_flags = net::kTcpAck;
  rs_leaves_within_the_second(*fwd, spec, [this] { publish(); }, a, *table, *counters);
}

// The staged burst path must decide exactly as frame-by-frame processing: same verdicts,
// same bytes, same tables. Bursts repeat flows (a new flow's second packet in the same
// burst must find the entry the first created) and the tiny tables force evictions.
// IPv4 and IPv6 frames mix in a burst (each family staged through the passes with its
// own table), some bursts with tagged frames.
TEST_F(Fwd, BurstProcessingEqualsOneByOne) {
  std::mt19937 rng(3);
  // IPv6 frames in the same bursts, to an IPv6 service (one of its servers behind a
  // VLAN), and bursts with tagged frames: on the port's VLAN 20, or on the unknown 30.
  spec.ports[0].vlans = {{20, net::Prefix{ip("198.18.20.2"), 24}}};
  RsSpec tagged = rs(4, "2001:2::14");
  tagged.vlan = 20;
  spec.services.push_back(service(1, "2001:2::100", net::kProtoTcp, 80, Sched::kRr,
                                  {rs(2, "2001:2::11"), rs(3, "2001:2::12"), tagged}));
  // And a UDP service on the IPv4 VIP (the fast path's other protocol).
  spec.services.push_back(service(2, "198.18.1.10", net::kProtoUdp, 53, Sched::kRr,
                                  {rs(5, "198.18.0.15"), rs(6, "198.18.0.16")}));
  for (Sched sch : {Sched::kRr, Sched::kMh}) {
    for (ServiceSpec& s : spec.services) {
      s.params.sched = sch;
      s.params.persist = sch == Sched::kRr ? 60 : 0;
      s.params.persist_mask = s.key.vip.max_len();
    }
    ForwarderPair pair(spec, 24);
    Forwarder &one = pair.one, &burst = pair.burst;
    const FlowTable &ta = pair.ta, &tb = pair.tb;
    const WorkerCounters &ca = pair.ca, &cb = pair.cb;
    const RsCounters *ra = pair.ra.get(), *rb = pair.rb.get();
    uint64_t forwarded6 = 0, tagged_frames = 0;
    for (uint32_t round = 0; round < 3000; ++round) {
      pair.begin(round / 200);
      const uint32_t n = 1 + rng() % Forwarder::kMaxBurst;
      const bool tagged_burst = rng() % 4 == 0;
      std::vector<std::vector<uint8_t>> a, b;
      std::vector<uint16_t> vlans;
      std::vector<bool> v6;
      for (uint32_t i = 0; i < n; ++i) {
        std::vector<uint8_t> f;
        if (rng() % 3 == 0) {
          Frame6Spec s = syn6(static_cast<uint16_t>(rng() % 40));
          s.saddr.bytes[15] = static_cast<uint8_t>(1 + rng() % 3);
          constexpr uint8_t kFlags6[] = {net::kTcpAck, net::kTcpAck, net::kTcpAck | 0x08, net::kTcpSyn,
                                         net::kTcpFin | net::kTcpAck, net::kTcpRst};
          s.tcp_flags = kFlags6[rng() % std::size(kFlags6)];
          bool icmp = false, ns = false;
          switch (rng() % 14) {
            case 0: s.dport = 81; break;                                      // not a service
            case 1: s.proto = net::kProtoUdp; break;                          // UDP to a TCP service
            case 2: s.frag = Frag6{0, true, static_cast<uint32_t>(rng() % 4)}; break;            // first fragment
            case 3: s.frag = Frag6{9, rng() % 2 == 0, static_cast<uint32_t>(rng() % 4)}; break;  // later fragment
            case 4: s.daddr = ip6("ff02::1"); s.dst = mac("33:33:00:00:00:01"); break;  // group
            case 5: s.daddr = ip6("2001:2::200"); break;                      // no service
            case 6: s.src = mac("33:33:00:00:00:01"); break;                  // group source
            case 7: s.payload = 0; break;
            case 8: icmp = true; break;                                       // ICMPv6 error about it
            case 9: ns = true; break;                                         // neighbour solicitation
            default: break;
          }
          if (ns) {
            f.resize(net::kNdpMaxFrameLen);
            f.resize(net::build_ndp(f.data(), net::ndp_solicit(s.src, s.saddr, s.daddr)));
          } else {
            f = icmp ? icmp6_error(reply_to(s), kRouter6, s.daddr) : build6(s);
          }
          if (rng() % 12 == 0) {  // break one byte of the headers somewhere
            const size_t at = 12 + rng() % 70;
            if (at < f.size()) f[at] ^= static_cast<uint8_t>(1 + rng() % 255);
          }
          v6.push_back(true);
        } else {
          FrameSpec s = syn(static_cast<uint16_t>(rng() % 40));
          s.saddr = ip(("198.18.9." + std::to_string(1 + rng() % 3)).c_str());
          // Mostly ACK (the fast lane's), also what moves a connection or leaves some
          // states but not others as they are.
          constexpr uint8_t kFlags[] = {net::kTcpAck, net::kTcpAck, net::kTcpAck | 0x08, net::kTcpSyn,
                                        net::kTcpSyn, net::kTcpFin | net::kTcpAck, net::kTcpRst, 0};
          s.tcp_flags = kFlags[rng() % std::size(kFlags)];
          bool icmp = false;
          switch (rng() % 17) {
            case 0: s.dport = 81; break;                                 // not a service
            case 1: s.proto = net::kProtoUdp; break;                     // UDP to a TCP service
            case 2: s.ip_options = {1, 1, 1, 0}; break;                  // IHL 6: general path
            case 3: s.frag = 0x2000; break;                              // first fragment
            case 4: s.frag = 0x0003; break;                              // later fragment
            case 5: s.daddr = ip("198.18.0.2"); break;                   // the DIP
            case 6: s.src = mac("01:00:5e:00:00:01"); break;             // multicast source
            case 7: s.dst = net::Mac::broadcast(); break;                // broadcast
            case 8: s.ethertype = net::kEtherArp; break;
            case 9: s.payload = 0; break;                                // smallest TCP
            case 10: icmp = true; break;                                 // ICMP error about it
            case 11: s.proto = net::kProtoUdp; s.dport = 53; break;     // the UDP service
            default: break;
          }
          f = icmp ? icmp_error(reply_to(s), ip("198.18.9.200"), s.daddr) : build(s);
          if (rng() % 12 == 0) {  // break one byte of the headers somewhere
            const size_t at = 12 + rng() % 30;
            f[at] ^= static_cast<uint8_t>(1 + rng() % 255);
          }
          v6.push_back(false);
        }
        if (rng() % 20 == 0) f.resize(rng() % f.size());               // truncate
        a.push_back(f);
        const uint32_t t = rng() % 4;
        vlans.push_back(tagged_burst ? (t == 0 ? 30 : t == 1 ? 0 : 20) : 0);
        tagged_frames += vlans.back() != 0;
      }
      b = a;
      std::vector<Frame> fb(n);
      std::vector<Verdict> vb(n);
      for (uint32_t i = 0; i < n; ++i) fb[i] = frame_of(b[i], 0, vlans[i]);
      burst.process_burst(fb.data(), vb.data(), n);
      for (uint32_t i = 0; i < n; ++i) {
        Verdict va = one.process(frame_of(a[i], 0, vlans[i]));
        ASSERT_EQ(va.action, vb[i].action) << "round " << round << " frame " << i << (v6[i] ? " IPv6" : " IPv4")
                                           << " one-by-one " << net::drop_name(va.drop) << " burst "
                                           << net::drop_name(vb[i].drop);
        ASSERT_EQ(va.drop, vb[i].drop);
        ASSERT_EQ(va.port, vb[i].port);
        if (va.action == Action::kForward) {
          ASSERT_EQ(va.vlan, vb[i].vlan);
        }
        if (va.action == Action::kControl) {
          ASSERT_EQ(va.exc, vb[i].exc);
        }
        ASSERT_EQ(a[i], b[i]) << "round " << round << " frame " << i;
        forwarded6 += v6[i] && va.action == Action::kForward;
      }
      ASSERT_EQ(ta.size(), tb.size());
      ASSERT_EQ(tb.check(), "");
      // The same connections, each in the same state on the same RS.
      ASSERT_EQ(table_difference(ta, tb), "") << "round " << round;
      ASSERT_EQ(table_difference(one.conns6(), burst.conns6()), "") << "IPv6, round " << round;
    }
    EXPECT_GT(cb.conn_evicted, 0u) << "the test should exercise eviction";
    EXPECT_EQ(ca.conn_evicted, cb.conn_evicted);
    EXPECT_EQ(ca.conn_new, cb.conn_new);
    EXPECT_EQ(ca.conn_resched, cb.conn_resched);
    EXPECT_EQ(ca.tmpl_new, cb.tmpl_new);
    EXPECT_GT(cb.icmp_forwarded, 0u) << "the test should forward ICMP errors";
    EXPECT_EQ(ca.icmp_forwarded, cb.icmp_forwarded);
    EXPECT_GT(cb.frag_forwarded, 0u) << "the test should forward later fragments";
    EXPECT_EQ(ca.frag_forwarded, cb.frag_forwarded);
    EXPECT_GT(forwarded6, 1000u) << "the test should forward IPv6";
    EXPECT_GT(tagged_frames, 1000u);
    for (int d = 0; d < net::kDropCount; ++d) EXPECT_EQ(ca.port[0].drops[d], cb.port[0].drops[d]) << d;
    EXPECT_GT(rb[5].packets + rb[6].packets, 500u) << "the test should forward to the UDP service";
    for (uint32_t r = 0; r < 7; ++r) {
      EXPECT_EQ(ra[r].packets, rb[r].packets) << r;
      EXPECT_EQ(ra[r].bytes, rb[r].bytes) << r;
      EXPECT_EQ(ra[r].active, rb[r].active) << r;
      EXPECT_EQ(ra[r].inactive, rb[r].inactive) << r;
      EXPECT_EQ(ra[r].persist, rb[r].persist) << r;
    }
  }
}

// The IPv4 frames fast_classify takes and each test it makes (and what it leaves to the
// general path), decided in bursts as one by one: each case differs from a frame the fast
// path takes in one respect, its header checksum right unless the case is about it.
TEST_F(Fwd, BurstDecidesEveryIpv4CaseAsOneByOne) {
  spec.ports[0].vlans = {{20, net::Prefix{ip("198.18.20.2"), 24}}};
  spec.services.push_back(service(1, "198.18.1.10", net::kProtoUdp, 53, Sched::kRr, {rs(2, "198.18.0.13")}));
  const auto with = [](FrameSpec s, auto&& change) {
    change(s);
    return build(s);
  };
  constexpr size_t kIp = net::kEtherHdrLen, kL4 = kIp + net::kIpv4MinHdrLen;
  FrameSpec ack = syn(40000);
  ack.tcp_flags = net::kTcpAck;
  const Bytes good = build(ack);
  FrameSpec udp = ack;
  udp.proto = net::kProtoUdp;
  udp.dport = 53;
  udp.payload = 20;  // 62 bytes: the fast path's
  const Bytes good_udp = build(udp);
  Bytes padded = good;  // a datagram shorter than its frame
  padded.resize(good.size() + 6);
  const auto tot_len = [&](const Bytes& f, size_t n) {
    return poke_ip(f, kIp + 2, {static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)});
  };
  const size_t datagram = good.size() - kIp;
  Cases cases = {
      {"TCP", good},
      {"UDP", good_udp},
      {"small UDP", with(udp, [](FrameSpec& s) { s.payload = 0; })},
      {"SYN", with(ack, [](FrameSpec& s) { s.tcp_flags = net::kTcpSyn; })},
      {"FIN", with(ack, [](FrameSpec& s) { s.tcp_flags = net::kTcpFin | net::kTcpAck; })},
      {"RST", with(ack, [](FrameSpec& s) { s.tcp_flags = net::kTcpRst; })},
      {"another client", with(ack, [](FrameSpec& s) { s.saddr = ip("198.18.2.7"); })},
      {"source 0.1.2.3", with(ack, [](FrameSpec& s) { s.saddr = ip("0.1.2.3"); })},
      {"source 1.0.0.1", with(ack, [](FrameSpec& s) { s.saddr = ip("1.0.0.1"); })},
      {"source 126.0.0.1", with(ack, [](FrameSpec& s) { s.saddr = ip("126.0.0.1"); })},
      {"source 127.0.0.1", with(ack, [](FrameSpec& s) { s.saddr = ip("127.0.0.1"); })},
      {"source 128.0.0.1", with(ack, [](FrameSpec& s) { s.saddr = ip("128.0.0.1"); })},
      {"source 223.255.255.254", with(ack, [](FrameSpec& s) { s.saddr = ip("223.255.255.254"); })},
      {"source 224.0.0.1", with(ack, [](FrameSpec& s) { s.saddr = ip("224.0.0.1"); })},
      {"source 240.0.0.1", with(ack, [](FrameSpec& s) { s.saddr = ip("240.0.0.1"); })},
      {"source 255.255.255.255", with(ack, [](FrameSpec& s) { s.saddr = ip("255.255.255.255"); })},
      {"no service port", with(ack, [](FrameSpec& s) { s.dport = 81; })},
      {"not a VIP", with(ack, [](FrameSpec& s) { s.daddr = ip("198.18.1.11"); })},
      {"the DIP", with(ack, [](FrameSpec& s) { s.daddr = ip("198.18.0.2"); })},
      {"UDP to the TCP port", with(ack, [](FrameSpec& s) { s.proto = net::kProtoUdp; })},
      {"first fragment", with(ack, [](FrameSpec& s) { s.frag = 0x2000; })},
      {"later fragment", with(ack, [](FrameSpec& s) { s.frag = 0x0003; })},
      {"last fragment", with(ack, [](FrameSpec& s) { s.frag = 0x0100; })},
      {"don't fragment", with(ack, [](FrameSpec& s) { s.frag = 0x4000; })},
      {"reserved flag", with(ack, [](FrameSpec& s) { s.frag = 0x8000; })},
      {"ICMP error", icmp_error(reply_to(ack), ip("198.18.9.200"), ack.daddr)},
      {"IP options", with(ack, [](FrameSpec& s) { s.ip_options = {1, 1, 1, 0}; })},
      {"another protocol", poke_ip(good, kIp + 9, {47})},
      {"version 6", poke_ip(good, kIp, {0x65})},
      {"IHL 4", poke_ip(good, kIp, {0x44})},
      {"TOS", poke_ip(good, kIp + 1, {0xb8})},
      {"TTL 1", poke_ip(good, kIp + 8, {1})},
      {"bad checksum", poke(good, kIp + 10, {static_cast<uint8_t>(good[kIp + 10] ^ 1)})},
      {"total length past the frame", tot_len(good, datagram + 1)},
      {"total length 27", tot_len(padded, 27)},
      {"total length 28", tot_len(padded, 28)},
      {"total length 39", tot_len(padded, 39)},
      {"datagram shorter than the frame", tot_len(padded, datagram)},
      {"TCP data offset 4", poke(good, kL4 + 12, {0x40})},
      {"TCP data offset past the datagram", poke(good, kL4 + 12, {0xf0})},
      {"TCP data offset and AE", poke(good, kL4 + 12, {0x51})},
      {"UDP length 7", poke(good_udp, kL4 + 4, {0, 7})},
      {"UDP length past the datagram", poke(good_udp, kL4 + 4, {0, 29})},
      {"UDP length short of the datagram", poke(good_udp, kL4 + 4, {0, 27})},
      {"another MAC", poke(good, 0, {0x02, 0x70, 0x63, 0x61, 0x70, 0x09})},
      {"another MAC's last byte", poke(good, 5, {0x01})},
      {"multicast MAC", poke(good, 0, {0x01, 0x00, 0x5e, 0, 0, 1})},
      {"broadcast MAC", poke(good, 0, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff})},
      {"zero source MAC", poke(good, 6, {0, 0, 0, 0, 0, 0})},
      {"group source MAC", poke(good, 6, {0x03, 0, 0, 0, 1, 1})},
      {"IPv6 EtherType", poke(good, 12, {0x86, 0xdd})},
      {"VLAN EtherType", poke(good, 12, {0x81, 0x00})},
      {"ARP EtherType", poke(good, 12, {0x08, 0x06})},
      {"cut to 53 bytes", Bytes(good.begin(), good.begin() + 53)},
      {"cut in the source", Bytes(good.begin(), good.begin() + kIp + 14)},
      {"cut in the Ethernet header", Bytes(good.begin(), good.begin() + 10)},
  };
  // A source MAC of zeros but one bit of one byte, each byte (in one word or the other).
  static constexpr const char* kOneBit[] = {"source MAC 10:00:00:00:00:00", "source MAC 00:10:00:00:00:00",
                                            "source MAC 00:00:01:00:00:00", "source MAC 00:00:00:80:00:00",
                                            "source MAC 00:00:00:00:04:00", "source MAC 00:00:00:00:00:01"};
  const auto one_bit = one_bit_source_macs();
  for (size_t k = 0; k < 6; ++k) {
    Bytes f = good;
    std::copy(one_bit[k].bytes.begin(), one_bit[k].bytes.end(), f.begin() + 6);
    cases.emplace_back(kOneBit[k], f);
  }
  ASSERT_LE(cases.size(), 2 * Forwarder::kMaxBurst);
  ForwarderPair pair(spec, 64);
  expect_burst_decides_as_one_by_one(pair, cases);
  expect_same_counts(pair, 3);
}

// A burst's frames after one to a service reuse its lookup only when they are to the same
// address, port and protocol: a frame whose destination differs in any one bit of the
// address or of the port, right after one to the service, is decided as it is alone.
// (The frames are built in memory and go nowhere: some of these addresses are outside
// the lab's range.)
TEST_F(Fwd, BurstReusesAServiceLookupOnlyForItsAddressPortAndProtocol) {
  FrameSpec to_service = syn(40000);
  to_service.tcp_flags = net::kTcpAck;
  Cases cases;
  std::vector<std::string> names;
  names.reserve(48);
  for (uint32_t bit = 0; bit < 48; ++bit) {
    FrameSpec x = to_service;
    if (bit < 32)
      x.daddr.value ^= 1u << bit;
    else
      x.dport = static_cast<uint16_t>(x.dport ^ (1u << (bit - 32)));
    names.push_back((bit < 32 ? "address bit " : "port bit ") + std::to_string(bit < 32 ? bit : bit - 32));
    cases.emplace_back("to the service", build(to_service));
    cases.emplace_back(names.back().c_str(), build(x));
  }
  // UDP to the TCP service's port, and TCP to a UDP service's.
  spec.services.push_back(service(1, "198.18.1.10", net::kProtoUdp, 53, Sched::kRr, {rs(2, "198.18.0.13")}));
  FrameSpec udp = to_service;
  udp.proto = net::kProtoUdp;
  cases.emplace_back("to the service", build(to_service));
  cases.emplace_back("UDP to its port", build(udp));
  udp.dport = 53;
  FrameSpec tcp53 = to_service;
  tcp53.dport = 53;
  cases.emplace_back("to the UDP service", build(udp));
  cases.emplace_back("TCP to its port", build(tcp53));
  // Twice in a row to no service after a service: neither takes the service's lookup.
  FrameSpec nowhere = to_service;
  nowhere.dport = 81;
  cases.emplace_back("to the service", build(to_service));
  cases.emplace_back("to no service", build(nowhere));
  cases.emplace_back("to no service again", build(nowhere));
  cases.emplace_back("to the service again", build(to_service));
  ForwarderPair pair(spec, 64);
  expect_burst_decides_as_one_by_one(pair, cases);
  EXPECT_GT(pair.rb[0].packets + pair.rb[1].packets, 0u);
  EXPECT_GT(pair.rb[2].packets, 0u);
  EXPECT_EQ(pair.ca.port[0].drops[static_cast<int>(net::Drop::kNoService)],
            pair.cb.port[0].drops[static_cast<int>(net::Drop::kNoService)]);
}

// The fast path's share, which no verdict shows: every frame of a known connection seen
// this second that leaves its state as it is goes on the fast path (counted in
// fast_path), whatever else about it the full path would forward the same way; a frame
// that needs more does not, nor do the frames behind it in its burst. A fast-path check
// that refuses more than it must (a source MAC byte read wrong, a checksum inverse off)
// changes no verdict, so the burst-against-one-by-one tests cannot see it: this one can.
TEST_F(Fwd, FastPathTakesEveryFrameOfAKnownConnectionThatChangesNothing) {
  spec.ports[0].vlans = {{20, net::Prefix{ip("198.18.20.2"), 24}}};
  spec.services.push_back(service(1, "198.18.1.10", net::kProtoUdp, 53, Sched::kRr, {rs(2, "198.18.0.13")}));
  publish();
  // `copies` copies of f as one burst, all forwarded; how many went on the fast path.
  const auto fast = [&](const Bytes& f, uint32_t copies, uint16_t vlan = 0, net::IpCsum csum = net::IpCsum::kUnknown,
                        uint32_t pkt_extra = 0) {
    std::vector<Bytes> b(copies, f);
    std::vector<Frame> frames;
    for (Bytes& x : b)
      frames.push_back(Frame{x.data(), static_cast<uint32_t>(x.size()), static_cast<uint32_t>(x.size()) + pkt_extra,
                             0, vlan, csum});
    std::vector<Verdict> out(copies);
    const uint64_t before = counters->fast_path;
    fwd->process_burst(frames.data(), out.data(), copies);
    for (const Verdict& v : out) EXPECT_EQ(v.action, pkt_extra ? Action::kDrop : Action::kForward);
    return counters->fast_path - before;
  };
  const auto with = [](FrameSpec s, auto&& change) {
    change(s);
    return build(s);
  };
  FrameSpec ack = syn(41000);
  ack.tcp_flags = net::kTcpAck;
  FrameSpec udp = ack;
  udp.proto = net::kProtoUdp;
  udp.dport = 53;
  constexpr size_t kIp = net::kEtherHdrLen;
  // The connections: a TCP one established (SYN, then ACK), a UDP one; and one from the
  // top of the lab's range with DF set, whose header's 64-bit words carry when summed.
  FrameSpec carry = ack;
  carry.saddr = ip("198.19.255.255");
  carry.frag = 0x4000;
  for (FrameSpec s : {ack, carry}) {
    s.tcp_flags = net::kTcpSyn;
    ASSERT_EQ(send(s).action, Action::kForward);
    s.tcp_flags = net::kTcpAck;
    ASSERT_EQ(send(s).action, Action::kForward);
  }
  ASSERT_EQ(send(udp).action, Action::kForward);
  ASSERT_EQ(send(ack).action, Action::kForward);  // established, seen this second
  EXPECT_EQ(counters->fast_path, 0u) << "process() is the full path, even for the fast path's frames";
  Bytes padded = build(ack);  // a datagram shorter than its frame (Ethernet padding)
  padded.resize(padded.size() + 6);
  // (An unpadded 42-byte one is shorter than the fast path's least frame, 54 bytes: the
  // full path takes it. Every NIC pads to 60.)
  Bytes padded_udp = with(udp, [](FrameSpec& s) { s.payload = 0; });
  padded_udp.resize(60);
  std::vector<std::pair<std::string, Bytes>> frames = {
      {"TCP ACK", build(ack)},
      {"no payload", with(ack, [](FrameSpec& s) { s.payload = 0; })},
      {"1,400 bytes of payload", with(ack, [](FrameSpec& s) { s.payload = 1400; })},
      {"PSH ACK", with(ack, [](FrameSpec& s) { s.tcp_flags = net::kTcpAck | 0x08; })},
      {"don't fragment", with(ack, [](FrameSpec& s) { s.frag = 0x4000; })},
      {"TTL 1", with(ack, [](FrameSpec& s) { s.ttl = 1; })},
      {"Ethernet padding", padded},
      {"UDP", build(udp)},
      {"UDP, no payload, padded to Ethernet's 60 bytes", padded_udp},
  };
  const auto one_bit = one_bit_source_macs();
  for (size_t k = 0; k < 6; ++k)
    frames.emplace_back("source MAC with only byte " + std::to_string(k) + " set",
                        with(ack, [&](FrameSpec& s) { s.src = one_bit[k]; }));
  for (uint8_t tos : {0x01, 0x10, 0xb8, 0xfc, 0xff})
    frames.emplace_back("TOS " + std::to_string(tos), poke_ip(build(ack), kIp + 1, {tos}));
  // The checksum field across its range, on both connections (the other's words carry
  // out of 64 bits when summed): the IP ID moves it, and the ID that makes it 0x0000 is
  // the checksum with ID 0 (one's complement: the sum and its complement make 0xffff).
  for (const FrameSpec& s : {ack, carry}) {
    const Bytes zero = with(s, [](FrameSpec& x) { x.ip_id = 0; });
    const uint32_t ck0 = uint32_t{zero[kIp + 10]} << 8 | zero[kIp + 11];
    std::vector<uint32_t> ids = {ck0 - 1, ck0, ck0 + 1};
    for (uint32_t id = 0; id <= 0xffff; id += 0x0fff) ids.push_back(id);
    for (uint32_t id : ids) {
      Bytes f = with(s, [&](FrameSpec& x) { x.ip_id = static_cast<uint16_t>(id); });
      frames.emplace_back("IP ID " + std::to_string(id & 0xffff) + " from " + std::to_string(s.saddr.value) +
                              ", checksum " + std::to_string(f[kIp + 10] << 8 | f[kIp + 11]),
                          f);
    }
  }
  for (const auto& [what, f] : frames)
    for (uint16_t vlan : {0, 20})
      for (net::IpCsum csum : {net::IpCsum::kUnknown, net::IpCsum::kGood}) {
        const std::string how = what + " on VLAN " + std::to_string(vlan) + ", checksum verdict " +
                                std::to_string(static_cast<int>(csum));
        EXPECT_EQ(fast(f, 1, vlan, csum), 1u) << how;
        EXPECT_EQ(fast(f, 32, vlan, csum), 32u) << how;
      }
  // A frame in more than one segment is dropped before (not forwarded, not counted).
  const Bytes good = build(ack);
  EXPECT_EQ(fast(good, 1, 0, net::IpCsum::kUnknown, 4), 0u) << "more than one segment (dropped)";
  // What needs more: frames that open a connection, that the fast path does not parse;
  // and every frame of their family behind one of them in its burst.
  for (const auto& [what, f] : std::vector<std::pair<std::string, Bytes>>{
           {"a new connection", with(ack, [](FrameSpec& s) { s.sport = 41001; })},
           {"IP options", with(ack, [](FrameSpec& s) { s.ip_options = {1, 1, 1, 0}; })},
           {"first fragment", with(ack, [](FrameSpec& s) { s.frag = 0x2000; })}}) {
    std::vector<Bytes> b = {good, good, f, good, good};
    std::vector<Frame> fr;
    for (Bytes& x : b) fr.push_back(frame_of(x));
    std::vector<Verdict> out(b.size());
    const uint64_t before = counters->fast_path;
    fwd->process_burst(fr.data(), out.data(), static_cast<uint32_t>(fr.size()));
    EXPECT_EQ(counters->fast_path - before, 2u) << what << " third in a burst of five";
    for (size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i].action, Action::kForward) << what << ", frame " << i;
  }
  // A FIN moves the connection (then the frames after it in the burst are no longer
  // the fast path's either).
  EXPECT_EQ(fast(with(ack, [](FrameSpec& s) { s.tcp_flags = net::kTcpFin | net::kTcpAck; }), 3), 0u);
  // A second later, each connection's first frame (which marks it used) takes the full
  // path: a burst of its frames, none; the next burst, all.
  at(1);
  EXPECT_EQ(fast(build(udp), 32), 0u);
  EXPECT_EQ(fast(build(udp), 32), 32u);
}

TEST_F(Fwd, EgressPortFromTheRs) {
  spec.ports.push_back(PortSpec{kPort1Mac, net::Prefix{ip("198.18.8.2"), 24}});
  spec.services[0].rs = {rs(0, "198.18.8.11")};
  spec.services[0].rs[0].port = 1;
  publish();
  auto f = build(syn(1));
  Verdict v = send(f, 0);
  ASSERT_EQ(v.action, Action::kForward);
  EXPECT_EQ(v.port, 1);
  EXPECT_EQ(v.word(), (Verdict{Action::kForward, net::Drop::kNone, 1, ExcClass::kOther, 0, 0}.word()));
  EXPECT_EQ(std::vector<uint8_t>(f.begin() + 6, f.begin() + 12),
            std::vector<uint8_t>(kPort1Mac.bytes.begin(), kPort1Mac.bytes.end()));
  // A frame for port 0's MAC arriving on port 1 is not ours.
  auto g = build(syn(2));
  EXPECT_EQ(send(g, 1).drop, net::Drop::kNotOurMac);
}

TEST_F(Fwd, UnchangedServicesShareTables) {
  spec.services.push_back(service(1, "198.18.1.20", net::kProtoUdp, 53, Sched::kMh, {rs(5, "198.18.0.21")}));
  publish();
  auto before = snap;
  spec.services[0].rs[0].weight = 7;  // change service 0 only
  publish();
  EXPECT_NE(snap->find(ip("198.18.1.10").be(), net::hton16(80), net::kProtoTcp),
            before->find(ip("198.18.1.10").be(), net::hton16(80), net::kProtoTcp));
  EXPECT_EQ(snap->find(ip("198.18.1.20").be(), net::hton16(53), net::kProtoUdp),
            before->find(ip("198.18.1.20").be(), net::hton16(53), net::kProtoUdp));
  // A MAC change does not rebuild a table either (MACs live in the RS view).
  auto before2 = snap;
  spec.services[1].rs[0].mac = mac("02:00:00:00:00:77");
  publish();
  EXPECT_EQ(snap->find(ip("198.18.1.20").be(), net::hton16(53), net::kProtoUdp),
            before2->find(ip("198.18.1.20").be(), net::hton16(53), net::kProtoUdp));
  EXPECT_EQ(snap->rs[5].mac()[5], 0x77);
}

TEST_F(Fwd, ServiceLookupManyServices) {
  spec.services.clear();
  uint32_t slot = 0;
  for (int v = 0; v < 50; ++v)
    for (uint16_t port : {80, 443, 8080}) {
      const std::string vip = "198.18.100." + std::to_string(v + 1);
      spec.services.push_back(
          service(slot, vip.c_str(), net::kProtoTcp, port, Sched::kRr, {rs(slot, "198.18.0.11")}));
      ++slot;
    }
  publish();
  for (int v = 0; v < 50; ++v)
    for (uint16_t port : {80, 443, 8080, 81}) {
      const std::string vip = "198.18.100." + std::to_string(v + 1);
      const ServiceTable* t = snap->find(ip(vip.c_str()).be(), net::hton16(port), net::kProtoTcp);
      EXPECT_EQ(t != nullptr, port != 81);
      if (t) {
        EXPECT_EQ(t->spec.key.vip, ip(vip.c_str()));
      }
    }
}

// The per-RS connection gauges (active, inactive, persistence templates) are kept by
// increments on the data path; the control core shows them and checks them at exit
// against the tables (count_bound). Under random traffic, expiry, eviction and churn
// of the RS set (removal, slot reuse with a new generation as the model does it after
// a grace period, drain, failure, lost neighbour) they must equal the table exactly.
TEST_F(Fwd, ConnectionGaugesEqualTheTableUnderChurn) {
  std::mt19937 rng(11);
  table = std::make_unique<FlowTable>(256);
  fwd = std::make_unique<Forwarder>(0, *table, *counters, rs_counters.get());
  struct Slot {
    bool live = false;
    uint32_t gen = 0;
    BoundCounts baseline;  // the gauges when the slot was handed to its current occupant
  };
  std::vector<Slot> slots(8);
  auto gauges = [&](uint32_t s) {
    return BoundCounts{rs_counters[s].active, rs_counters[s].inactive, rs_counters[s].persist};
  };
  auto rebuild = [&] {
    spec.services = {service(0, "198.18.1.10", net::kProtoTcp, 80, Sched::kRr, {}),
                     service(1, "198.18.1.10", net::kProtoUdp, 53, Sched::kMh, {})};
    spec.services[0].params.persist = 7;
    for (uint32_t s = 0; s < slots.size(); ++s) {
      if (!slots[s].live) continue;
      RsSpec r = rs(s, ("198.18.0." + std::to_string(20 + s)).c_str(), 1 + rng() % 3, rng() % 8 != 0);
      r.gen = slots[s].gen;
      r.health = rng() % 8 != 0 ? lb::Health::kUp : lb::Health::kDown;
      if (rng() % 8 == 0) r.weight = 0;
      spec.services[s % 2].rs.push_back(r);
    }
    publish();
  };
  auto verify = [&](int step) {
    uint64_t unbound = 0;
    const auto counted = count_bound(*table, unbound);
    ASSERT_EQ(unbound, 0u) << "step " << step;
    for (uint32_t s = 0; s < slots.size(); ++s) {
      if (!slots[s].live) continue;
      const auto it = counted.find({s, slots[s].gen});
      const BoundCounts want = it == counted.end() ? BoundCounts{} : it->second;
      const BoundCounts g = gauges(s);
      const BoundCounts have{g.active - slots[s].baseline.active, g.inactive - slots[s].baseline.inactive,
                             g.persist - slots[s].baseline.persist};
      ASSERT_EQ(have, want) << "slot " << s << " step " << step << ": gauges " << have.active << "/"
                            << have.inactive << "/" << have.persist << ", table " << want.active << "/"
                            << want.inactive << "/" << want.persist;
    }
    ASSERT_EQ(table->check(), "") << "step " << step;
  };
  for (uint32_t s = 0; s < slots.size(); ++s) slots[s] = Slot{true, 1, {}};
  rebuild();
  const uint8_t flags[] = {net::kTcpSyn, net::kTcpAck, net::kTcpAck, net::kTcpFin | net::kTcpAck, net::kTcpRst};
  uint64_t forwarded = 0;
  for (int step = 0; step < 40000; ++step) {
    if (step % 97 == 0) {  // churn: remove one RS, or give a free slot to a new one
      const uint32_t s = rng() % slots.size();
      if (slots[s].live) {
        slots[s].live = false;
      } else {
        ++slots[s].gen;
        slots[s].live = true;
        slots[s].baseline = gauges(s);
      }
      rebuild();
    }
    if (step % 13 == 0) at(now + rng() % 3);
    FrameSpec f = syn(static_cast<uint16_t>(1000 + rng() % 24),
                      ("198.18.2." + std::to_string(1 + rng() % 40)).c_str());
    if (rng() % 3 == 0) {
      f.proto = net::kProtoUdp;
      f.dport = 53;
    } else {
      f.tcp_flags = flags[rng() % 5];
    }
    forwarded += send(f).action == Action::kForward;
    if (step % 7 == 0) fwd->expire(8);
    if (step % 500 == 0) verify(step);
    if (HasFatalFailure()) return;
  }
  verify(-1);
  EXPECT_GT(forwarded, 10000u);
  EXPECT_GT(counters->conn_evicted + counters->conn_expired, 100u) << "the table must turn over";
  EXPECT_GT(counters->conn_resched, 100u) << "churn must move connections";
}

// ---- IPv6 ------------------------------------------------------------------------------
// The same data path over FlowKey6 (its own connection table and fragment cache): what
// the IPv4 cases above check, for 2001:2::/48 (VIP 2001:2::100, real servers
// 2001:2::11, ...) and clients in 2001:db8::/32.


// The burst path decides the common IPv6 frame on a fast path of its own (TCP or UDP
// right after the fixed header, to a service); every frame it must leave to the general
// path, and the frames it takes, are decided as one by one (ipv6(), the reference):
// each case alone and all in one burst, untagged and tagged.
TEST_F(Fwd6, BurstDecidesEveryIpv6CaseAsOneByOne) {
  spec.ports[0].vlans = {{20, net::Prefix{ip("198.18.20.2"), 24}}};
  spec.services.push_back(service(1, "2001:2::100", net::kProtoUdp, 53, Sched::kRr, {rs(2, "2001:2::13")}));
  const auto with = [](Frame6Spec s, auto&& change) {
    change(s);
    return build6(s);
  };
  const Frame6Spec ack = ack6(40000);
  const Bytes good = build6(ack);
  constexpr size_t kIp = net::kEtherHdrLen, kSrc = kIp + 8, kL4 = kIp + net::kIpv6HdrLen;
  Frame6Spec udp = ack;
  udp.proto = net::kProtoUdp;
  udp.dport = 53;
  udp.payload = 20;  // 82 bytes: the fast path's
  const Bytes good_udp = build6(udp);
  Bytes padded = good;  // a datagram shorter than its frame
  padded.resize(good.size() + 6);
  std::vector<std::pair<const char*, Bytes>> cases = {
      {"TCP", good},
      {"UDP", good_udp},
      {"small UDP", with(udp, [](Frame6Spec& s) { s.payload = 0; })},
      {"SYN", with(ack, [](Frame6Spec& s) { s.tcp_flags = net::kTcpSyn; })},
      {"FIN", with(ack, [](Frame6Spec& s) { s.tcp_flags = net::kTcpFin | net::kTcpAck; })},
      {"RST", with(ack, [](Frame6Spec& s) { s.tcp_flags = net::kTcpRst; })},
      {"another client", with(ack, [](Frame6Spec& s) { s.saddr = ip6("2001:db8:2::7"); })},
      {"client in a /64 of its own", with(ack, [](Frame6Spec& s) { s.saddr = ip6("2001:db8:2:0:1::"); })},
      {"source ::1", with(ack, [](Frame6Spec& s) { s.saddr = ip6("::1"); })},
      {"source ::", with(ack, [](Frame6Spec& s) { s.saddr = ip6("::"); })},
      {"source ::ffff:198.18.0.1", with(ack, [](Frame6Spec& s) { s.saddr = ip6("::ffff:c612:1"); })},
      {"source ::2", with(ack, [](Frame6Spec& s) { s.saddr = ip6("::2"); })},
      {"source multicast", with(ack, [](Frame6Spec& s) { s.saddr = ip6("ff02::1"); })},
      {"no service port", with(ack, [](Frame6Spec& s) { s.dport = 81; })},
      {"not a VIP", with(ack, [](Frame6Spec& s) { s.daddr = ip6("2001:2::200"); })},
      {"multicast destination", with(ack, [](Frame6Spec& s) { s.daddr = ip6("ff02::1"); })},
      {"UDP to the TCP port", with(ack, [](Frame6Spec& s) { s.proto = net::kProtoUdp; s.payload = 20; })},
      {"first fragment", with(ack, [](Frame6Spec& s) { s.frag = Frag6{0, true, 7}; })},
      {"atomic fragment", with(ack, [](Frame6Spec& s) { s.frag = Frag6{0, false, 7}; })},
      {"later fragment", with(ack, [](Frame6Spec& s) { s.frag = Frag6{9, false, 7}; })},
      {"ICMPv6 error", icmp6_error(reply_to(ack), kRouter6, ack.daddr)},
      {"hop-by-hop header", poke(good, kIp + 6, {net::kNhHopByHop})},
      {"version 4", poke(good, kIp, {0x40})},
      {"version 7", poke(good, kIp, {0x70})},
      {"traffic class and flow label", poke(good, kIp, {0x6f, 0xff, 0xff, 0xff})},
      {"payload length past the frame", poke(good, kIp + 4, {0, static_cast<uint8_t>(good.size() - kL4 + 1)})},
      {"payload length 19", poke(padded, kIp + 4, {0, 19})},
      {"payload length 0", poke(padded, kIp + 4, {0, 0})},
      {"datagram shorter than the frame", poke(padded, kIp + 4, {0, static_cast<uint8_t>(good.size() - kL4)})},
      {"TCP data offset 4", poke(good, kL4 + 12, {0x40})},
      {"TCP data offset past the datagram", poke(good, kL4 + 12, {0xf0})},
      {"UDP length 7", poke(good_udp, kL4 + 4, {0, 7})},
      {"UDP length past the datagram", poke(good_udp, kL4 + 4, {0, 29})},
      {"UDP length short of the datagram", poke(good_udp, kL4 + 4, {0, 27})},
      {"another protocol", poke(good, kIp + 6, {net::kProtoIcmp6})},
      {"another MAC", poke(good, 0, {0x02, 0x70, 0x63, 0x61, 0x70, 0x09})},
      {"multicast MAC", poke(good, 0, {0x33, 0x33, 0, 0, 0, 1})},
      {"zero source MAC", poke(good, 6, {0, 0, 0, 0, 0, 0})},
      {"group source MAC", poke(good, 6, {0x03, 0, 0, 0, 1, 1})},
      {"IPv4 EtherType", poke(good, 12, {0x08, 0x00})},
      {"VLAN EtherType", poke(good, 12, {0x81, 0x00})},
      {"cut to 73 bytes", Bytes(good.begin(), good.begin() + 73)},
      {"cut in the source", Bytes(good.begin(), good.begin() + kSrc + 4)},
  };
  ASSERT_LE(cases.size(), 2 * Forwarder::kMaxBurst);
  ForwarderPair pair(spec, 64);
  expect_burst_decides_as_one_by_one(pair, cases);
  expect_same_counts(pair, 3);
}

// IPv6 frames are staged through the passes as IPv4's: pass 2 goes by the signature, pass
// 3 compares the key. Two IPv6 keys with one bucket and signature are two connections.
TEST_F(Fwd6, BurstTellsKeysWithOneSignatureApart) {
  fwd = std::make_unique<Forwarder>(0, *table, *counters, rs_counters.get(), 16);  // 8 IPv6 buckets at most
  fwd->begin(snap.get(), 0);
  std::map<uint64_t, Frame6Spec> seen;
  Frame6Spec a, b;
  for (uint32_t n = 1;; ++n) {
    const Frame6Spec s = flagged(syn6(40000, client6(n)), net::kTcpAck);
    const uint64_t h = flow_hash(parse6(build6(s)).key);
    const auto [it, added] = seen.emplace((h >> 49) << 3 | (h & 7), s);
    if (!added) {
      a = it->second, b = s;
      break;
    }
  }
  const net::FlowKey6 ka = parse6(build6(a)).key, kb = parse6(build6(b)).key;
  ASSERT_FALSE(ka == kb);
  const auto burst = [&](const std::vector<Frame6Spec>& specs) { return burst_to_rs(*fwd, specs); };
  EXPECT_EQ(burst({a, a}), (std::vector<int>{0, 0}));
  const FlowTable6& t = table6();
  ASSERT_EQ(t.bucket_of(flow_hash(ka)), t.bucket_of(flow_hash(kb)));
  EXPECT_EQ(t.lookup().candidate_in(t.bucket_of(flow_hash(kb)), flow_hash(kb)), t.find(ka, flow_hash(ka)));
  EXPECT_EQ(burst({b}), (std::vector<int>{1}));
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(burst({b, a, b, a}), (std::vector<int>{1, 0, 1, 0}));
  EXPECT_EQ(burst({ack6(9), b, a, b}), (std::vector<int>{0, 1, 0, 1}));  // after an insert
  EXPECT_EQ(counters->conn_new, 3u);
  EXPECT_EQ(t.check(), "");
}

TEST_F(Fwd6, BurstMovesAConnectionWhoseRsLeftThisSecond) {
  rs_leaves_within_the_second(*fwd, spec, [this] { publish(); }, ack6(1000), table6(), *counters);
}

// Every scheduler, TCP and UDP: the frame leaves for the RS's MAC from the port's, its
// IPv6 header and payload untouched; the connection's later packets follow it.
TEST_F(Fwd6, EverySchedulerForwardsRewritingOnlyTheEthernetHeader) {
  uint16_t sport = 1000;
  uint64_t connections = 0;
  for (Sched sch : kAllScheds) {
    for (uint8_t proto : {net::kProtoTcp, net::kProtoUdp}) {
      const std::string what = std::string(sched_name(sch)) + (proto == net::kProtoTcp ? " tcp" : " udp");
      spec.services[0].key.proto = proto;
      spec.services[0].params.sched = sch;
      spec.services[0].rs = {rs(0, "2001:2::11", 1), rs(1, "2001:2::12", 2), rs(2, "2001:2::13", 3)};
      publish();
      std::map<int, int> per_rs;
      for (uint32_t c = 0; c < 60; ++c, ++sport) {
        Frame6Spec s = syn6(sport, client6(c));
        s.proto = proto;
        const std::vector<uint8_t> in = build6(s);
        std::vector<uint8_t> f = in;
        const Verdict v = send(f);
        ASSERT_EQ(v.action, Action::kForward) << what << ": " << net::drop_name(v.drop);
        EXPECT_EQ(v.port, 0) << what;
        EXPECT_EQ(v.vlan, 0) << what;
        const int r = rs_of_mac(f.data());
        ASSERT_TRUE(r >= 0 && r < 3) << what;
        EXPECT_EQ(head(f, 0, 6), bytes_of(rs_mac(static_cast<uint32_t>(r)))) << what;
        EXPECT_EQ(head(f, 6, 12), bytes_of(kPortMac)) << what;
        EXPECT_EQ(tail(f), tail(in)) << what << ": IPv6 header or payload changed";
        ++per_rs[r];
        ++connections;
        s.tcp_flags = net::kTcpAck;
        s.payload = 100;
        for (int i = 0; i < 3; ++i) {
          ASSERT_EQ(send(s).action, Action::kForward) << what;
          EXPECT_EQ(rs_of_last(), r) << what << ": a connection keeps its RS";
        }
      }
      // The lc family balances the connections the earlier schedulers left on these RSs
      // (still open): it need not give each RS one of these.
      if (!sched_is_least(sch)) {
        EXPECT_EQ(per_rs.size(), 3u) << what << ": every RS takes connections";
      }
    }
  }
  EXPECT_EQ(counters->conn_new, connections);
  EXPECT_EQ(counters->conn_resched, 0u);
  EXPECT_EQ(table6().size(), connections);
  EXPECT_EQ(table->size(), 0u) << "the IPv4 table is not touched";
  EXPECT_EQ(table6().check(), "");
}

TEST_F(Fwd6, RoundRobinAlternatesAndWeightedRoundRobinFollowsWeights) {
  std::map<int, int> per_rs;
  for (uint16_t p = 0; p < 100; ++p) {
    send(syn6(2000 + p));
    per_rs[rs_of_last()]++;
  }
  EXPECT_EQ(per_rs[0], 50);
  EXPECT_EQ(per_rs[1], 50);
  spec.services[0].params.sched = Sched::kWrr;
  spec.services[0].rs = {rs(0, "2001:2::11", 3), rs(1, "2001:2::12", 1)};
  publish();
  per_rs.clear();
  for (uint16_t p = 0; p < 400; ++p) {
    send(syn6(3000 + p));
    per_rs[rs_of_last()]++;
  }
  EXPECT_EQ(per_rs[0], 300);
  EXPECT_EQ(per_rs[1], 100);
}

// Two directors (or workers) whose snapshots list the same real servers in another
// order, in other slots, choose the same server for every new flow: sh (with and without
// sh-port), hash and mh depend on the set of servers, not on the order they were added.
TEST_F(Fwd6, HashSchedulersAgreeWhateverTheOrderTheServersWereAdded) {
  const char* const addrs[] = {"2001:2::11", "2001:2::12", "2001:2::13"};
  struct Case {
    Sched sched;
    uint32_t flags;
  };
  for (const Case c : {Case{Sched::kSh, 0}, Case{Sched::kSh, kFlagShPort}, Case{Sched::kHash, 0}, Case{Sched::kMh, 0}}) {
    const std::string what = std::string(sched_name(c.sched)) + (c.flags ? " sh-port" : "");
    SnapshotSpec a = spec, b = spec;
    for (SnapshotSpec* s : {&a, &b}) {
      s->services[0].params.sched = c.sched;
      s->services[0].params.flags = c.flags;
    }
    a.services[0].rs = {rs(0, addrs[0]), rs(1, addrs[1]), rs(2, addrs[2])};
    b.services[0].rs = {rs(7, addrs[2]), rs(5, addrs[0]), rs(6, addrs[1])};
    const auto sa = build_snapshot(a, nullptr), sb = build_snapshot(b, nullptr);
    auto ip_of = [](const SnapshotSpec& s, int slot) {
      for (const RsSpec& r : s.services[0].rs)
        if (static_cast<int>(r.slot) == slot) return net::to_string(r.ip);
      return std::string("?");
    };
    FlowTable ta(16), tb(16);
    WorkerCounters ca, cb;
    auto ra = std::make_unique<RsCounters[]>(kMaxRsSlots);
    auto rb = std::make_unique<RsCounters[]>(kMaxRsSlots);
    Forwarder fa(0, ta, ca, ra.get()), fb(1, tb, cb, rb.get());
    fa.begin(sa.get(), 0);
    fb.begin(sb.get(), 0);
    std::map<std::string, int> per_rs;
    for (uint32_t n = 0; n < 600; ++n) {
      const Frame6Spec s = syn6(static_cast<uint16_t>(5000 + n), client6(n / 3));  // three ports per client
      std::vector<uint8_t> x = build6(s), y = x;
      ASSERT_EQ(fa.process(frame_of(x)).action, Action::kForward) << what;
      ASSERT_EQ(fb.process(frame_of(y)).action, Action::kForward) << what;
      const std::string chosen = ip_of(a, rs_of_mac(x.data()));
      EXPECT_EQ(chosen, ip_of(b, rs_of_mac(y.data()))) << what << " flow " << n;
      ++per_rs[chosen];
    }
    for (const char* r : addrs) EXPECT_GT(per_rs[r], 120) << what << " " << r;
  }
}

// IPv6's fast path counts in the same counter: bursts of an established connection's
// frames (payload sizes, hop limit 1, a source MAC with one bit in each byte), all of
// them; a burst behind a SYN that opens another connection, none.
TEST_F(Fwd6, FastPathTakesEveryFrameOfAKnownConnectionThatChangesNothing) {
  ASSERT_EQ(send(syn6(41000)).action, Action::kForward);
  ASSERT_EQ(send(ack6(41000)).action, Action::kForward);
  const auto fast = [&](const std::vector<Frame6Spec>& specs) {
    const uint64_t before = counters->fast_path;
    for (int to : burst_to_rs(*fwd, specs)) EXPECT_GE(to, 0);
    return counters->fast_path - before;
  };
  std::vector<std::pair<std::string, Frame6Spec>> frames = {{"TCP ACK", ack6(41000)}};
  for (size_t payload : {0, 1, 1400}) {
    Frame6Spec s = ack6(41000);
    s.payload = payload;
    frames.emplace_back("payload " + std::to_string(payload), s);
  }
  Frame6Spec hop1 = ack6(41000);
  hop1.hop_limit = 1;
  frames.emplace_back("hop limit 1", hop1);
  const auto one_bit = one_bit_source_macs();
  for (size_t k = 0; k < 6; ++k) {
    Frame6Spec s = ack6(41000);
    s.src = one_bit[k];
    frames.emplace_back("source MAC with only byte " + std::to_string(k) + " set", s);
  }
  for (const auto& [what, s] : frames) {
    EXPECT_EQ(fast({s}), 1u) << what;
    EXPECT_EQ(fast(std::vector<Frame6Spec>(32, s)), 32u) << what;
  }
  std::vector<Frame6Spec> behind(8, ack6(41000));
  behind[0] = syn6(41001);
  EXPECT_EQ(fast(behind), 0u);
  EXPECT_EQ(fast(std::vector<Frame6Spec>(8, ack6(41001))), 0u) << "its SYN_RECV becomes ESTABLISHED";
  EXPECT_EQ(fast(std::vector<Frame6Spec>(8, ack6(41001))), 8u);
}

TEST_F(Fwd6, SourceHashKeepsAClientOnOneRsAndShPortSpreadsItsPorts) {
  spec.services[0].params.sched = Sched::kSh;
  spec.services[0].rs = {rs(0, "2001:2::11"), rs(1, "2001:2::12"), rs(2, "2001:2::13")};
  publish();
  std::set<int> used;
  for (uint32_t c = 0; c < 50; ++c) {
    ASSERT_EQ(send(syn6(100, client6(c))).action, Action::kForward);
    const int first = rs_of_last();
    used.insert(first);
    for (uint16_t p = 101; p < 110; ++p) {
      send(syn6(p, client6(c)));
      EXPECT_EQ(rs_of_last(), first) << "client " << c << " port " << p;
    }
  }
  EXPECT_EQ(used.size(), 3u) << "clients are spread (by the whole address: they share a /64)";
  spec.services[0].params.flags = kFlagShPort;
  publish();
  for (uint32_t c = 0; c < 20; ++c) {
    std::set<int> per_client;
    for (uint16_t p = 200; p < 230; ++p) {
      ASSERT_EQ(send(syn6(p, client6(c))).action, Action::kForward);
      const int r = rs_of_last();
      per_client.insert(r);
      send(flagged(syn6(p, client6(c)), net::kTcpAck));
      EXPECT_EQ(rs_of_last(), r);
    }
    EXPECT_GT(per_client.size(), 1u) << "sh-port: a client's connections are spread, client " << c;
  }
}

// Drained (weight 0): its connections stay, no new ones. Down, unresolved or removed:
// its connections move to another server (rescheduled), its gauges let go of them.
TEST_F(Fwd6, DrainedRsKeepsItsConnectionsAFailedOrRemovedOneLosesThem) {
  send(syn6(1000));
  const int a = rs_of_last();
  send(syn6(1001));
  const int b = rs_of_last();
  ASSERT_NE(a, b);
  spec.services[0].rs[a].weight = 0;
  publish();
  send(ack6(1000));
  EXPECT_EQ(rs_of_last(), a) << "an existing connection stays on the drained RS";
  for (uint16_t p = 0; p < 20; ++p) {
    send(syn6(4000 + p));
    EXPECT_EQ(rs_of_last(), b) << "no new connection on the drained RS";
  }
  EXPECT_EQ(counters->conn_resched, 0u);
  EXPECT_EQ(rs_counters[a].active, 1);
  spec.services[0].rs[a].weight = 1;
  spec.services[0].rs[a].health = lb::Health::kDown;
  publish();
  ASSERT_EQ(send(ack6(1000)).action, Action::kForward);
  EXPECT_EQ(rs_of_last(), b) << "a down RS's connection moves";
  EXPECT_EQ(counters->conn_resched, 1u);
  EXPECT_EQ(rs_counters[a].active + rs_counters[a].inactive, 0);
  // Up again; a new connection on it, then its neighbour is lost; then it is removed.
  spec.services[0].rs[a].health = lb::Health::kUp;
  publish();
  auto open_on = [&](int want, uint16_t from) -> uint16_t {
    for (uint16_t p = from; p < from + 10; ++p)
      if (send(syn6(p)).action == Action::kForward && rs_of_last() == want) return p;
    return 0;
  };
  uint16_t on_a = open_on(a, 5000);
  ASSERT_NE(on_a, 0);
  spec.services[0].rs[a].mac.reset();
  publish();
  send(ack6(on_a));
  EXPECT_EQ(rs_of_last(), b) << "an unresolved RS's connection moves";
  EXPECT_EQ(counters->conn_resched, 2u);
  spec.services[0].rs[a].mac = rs_mac(static_cast<uint32_t>(a));
  publish();
  on_a = open_on(a, 6000);
  ASSERT_NE(on_a, 0);
  spec.services[0].rs.erase(spec.services[0].rs.begin() + a);
  publish();
  const size_t size = table6().size();
  send(ack6(on_a));
  EXPECT_EQ(rs_of_last(), b) << "a removed RS's connection moves";
  EXPECT_EQ(counters->conn_resched, 3u);
  EXPECT_EQ(table6().size(), size);
  EXPECT_EQ(table6().check(), "");
}

TEST_F(Fwd6, NoUsableRsDropsForTheServicesReason) {
  spec.services[0].rs[0].mac.reset();
  spec.services[0].rs[1].mac.reset();
  publish();
  EXPECT_EQ(send(syn6(1)).drop, net::Drop::kNoNeighbour);
  spec.services[0].rs[0].weight = 0;
  spec.services[0].rs[1].health = lb::Health::kDown;
  publish();
  EXPECT_EQ(send(syn6(2)).drop, net::Drop::kNoRs);
  spec.services[0].rs.clear();
  publish();
  EXPECT_EQ(send(syn6(3)).drop, net::Drop::kNoRs);
  EXPECT_EQ(table6().size(), 0u) << "a dropped packet creates no connection";
  EXPECT_EQ(dropped(net::Drop::kNoRs), 2u);
  EXPECT_EQ(dropped(net::Drop::kNoNeighbour), 1u);
}

// IPVS's input-only TCP states, their timeouts and the active/inactive gauges, as for
// IPv4: SYN_RECV, ESTABLISHED (900 s), FIN_WAIT (120 s), CLOSE after a RST (10 s).
TEST_F(Fwd6, ConnectionsFollowTcpStateAndExpire) {
  send(syn6(1000));
  const int r = rs_of_last();
  EXPECT_EQ(state_of(syn6(1000)), ConnState::kTcpSynRecv);
  EXPECT_EQ(rs_counters[r].inactive, 1);
  send(ack6(1000));
  EXPECT_EQ(state_of(syn6(1000)), ConnState::kTcpEstablished);
  EXPECT_EQ(rs_counters[r].active, 1);
  EXPECT_EQ(rs_counters[r].inactive, 0);
  at(899);
  EXPECT_EQ(fwd->expire(100), 0u);
  at(900);
  EXPECT_EQ(fwd->expire(100), 1u);
  EXPECT_EQ(rs_counters[r].active, 0);
  EXPECT_EQ(counters->conn_expired, 1u);
  EXPECT_EQ(table6().size(), 0u);
  // FIN: FIN_WAIT, 120 s.
  send(syn6(1001));
  const int r2 = rs_of_last();
  send(ack6(1001));
  send(flagged(syn6(1001), net::kTcpFin | net::kTcpAck));
  EXPECT_EQ(state_of(syn6(1001)), ConnState::kTcpFinWait);
  EXPECT_EQ(rs_counters[r2].active, 0);
  EXPECT_EQ(rs_counters[r2].inactive, 1);
  at(900 + 119);
  EXPECT_EQ(fwd->expire(100), 0u);
  at(900 + 120);
  EXPECT_EQ(fwd->expire(100), 1u);
  // RST: CLOSE, 10 s.
  send(syn6(1002));
  const int r3 = rs_of_last();
  send(ack6(1002));
  send(flagged(syn6(1002), net::kTcpRst));
  EXPECT_EQ(state_of(syn6(1002)), ConnState::kTcpClose);
  EXPECT_EQ(rs_counters[r3].inactive, 1);
  at(1020 + 9);
  EXPECT_EQ(fwd->expire(100), 0u);
  at(1020 + 10);
  EXPECT_EQ(fwd->expire(100), 1u);
  EXPECT_EQ(counters->conn_expired, 3u);
  for (int s = 0; s < 2; ++s) EXPECT_EQ(rs_counters[s].active + rs_counters[s].inactive, 0) << s;
  EXPECT_EQ(table6().check(), "");
}

TEST_F(Fwd6, UdpTimeoutFromTheSnapshotAndExpiredEntriesAreScheduledAfresh) {
  spec.timeouts.udp() = 5;
  spec.services[0].key.proto = net::kProtoUdp;
  publish();
  Frame6Spec u = syn6(1);
  u.proto = net::kProtoUdp;
  send(u);
  EXPECT_EQ(state_of(u), ConnState::kUdp);
  EXPECT_EQ(rs_counters[rs_of_last()].active, 1) << "UDP counts active, as under LVS";
  at(4);
  EXPECT_EQ(fwd->expire(10), 0u);
  at(5);
  EXPECT_EQ(fwd->expire(10), 1u);
  // Past its timeout before the sweep ran: a new connection, the old entry's place taken.
  send(u);
  at(2000);
  ASSERT_EQ(send(u).action, Action::kForward);
  EXPECT_EQ(counters->conn_new, 3u);
  EXPECT_EQ(counters->conn_resched, 0u);
  EXPECT_EQ(table6().size(), 1u);
}

// The RS's port and VLAN decide where the frame leaves, whatever it came on.
TEST_F(Fwd6, EgressPortAndVlanFromTheRs) {
  spec.ports[0].vlans = {{20, net::Prefix{ip("198.18.20.2"), 24}}};
  spec.ports.push_back(PortSpec{kPort1Mac, net::Prefix{ip("198.18.8.2"), 24}});
  RsSpec tagged = rs(0, "2001:2::11");
  tagged.vlan = 20;
  spec.services[0].rs = {tagged, rs(1, "2001:2::12", 1, true, 1)};
  publish();
  std::map<int, int> seen;
  for (uint16_t p = 0; p < 10; ++p) {
    const std::vector<uint8_t> in = build6(syn6(p));
    std::vector<uint8_t> f = in;
    const Verdict v = send(f);
    ASSERT_EQ(v.action, Action::kForward);
    const int r = rs_of_mac(f.data());
    EXPECT_EQ(v.port, r == 0 ? 0 : 1);
    EXPECT_EQ(v.vlan, r == 0 ? 20 : 0);
    // The whole verdict (the worker compares verdicts as words): nothing else set.
    const Verdict want{Action::kForward, net::Drop::kNone, static_cast<uint16_t>(r == 0 ? 0 : 1), ExcClass::kOther, 0,
                       static_cast<uint16_t>(r == 0 ? 20 : 0)};
    EXPECT_EQ(v.word(), want.word());
    EXPECT_EQ(head(f, 6, 12), bytes_of(r == 0 ? kPortMac : kPort1Mac));
    EXPECT_EQ(tail(f), tail(in));
    ++seen[r];
  }
  EXPECT_EQ(seen[0], 5);
  EXPECT_EQ(seen[1], 5);
  // Received on the VLAN interface: forwarded alike; on a VLAN the port has no
  // interface for, or for port 0's MAC on port 1: not ours.
  EXPECT_EQ(send(syn6(100), 0, 20).action, Action::kForward);
  EXPECT_EQ(send(syn6(101), 0, 30).drop, net::Drop::kVlanUnknown);
  EXPECT_EQ(send(syn6(102), 1).drop, net::Drop::kNotOurMac);
}

// ipvsadm -p -M 64: a client's /64 keeps its RS (any address in it, any port); another
// /64 is scheduled on its own. One template per prefix, counted.
TEST_F(Fwd6, PersistenceGroupsClientsByTheirPrefix) {
  spec.services[0].params = persistent(300, 64);
  spec.services[0].params.sched = Sched::kRr;
  publish();
  int conns[2] = {0, 0};
  send(syn6(1000, "2001:db8:5:1::1"));
  const int first = rs_of_last();
  ++conns[first];
  for (const char* src : {"2001:db8:5:1::1", "2001:db8:5:1::2", "2001:db8:5:1:8000::", "2001:db8:5:1:ffff:ffff:ffff:ffff"}) {
    for (uint16_t p = 1001; p < 1006; ++p) {
      send(syn6(p, src));
      EXPECT_EQ(rs_of_last(), first) << src << " port " << p << ": rr would alternate; persistence must not";
      ++conns[first];
    }
  }
  send(syn6(1000, "2001:db8:5:2::1"));
  const int second = rs_of_last();
  EXPECT_NE(second, first) << "another /64: scheduled on its own (round robin moves on)";
  ++conns[second];
  for (const char* src : {"2001:db8:5:2::1", "2001:db8:5:2:abcd::9"}) {
    send(syn6(1001, src));
    EXPECT_EQ(rs_of_last(), second) << src;
    ++conns[second];
  }
  send(syn6(1000, "2001:db8:5:3::1"));
  EXPECT_EQ(rs_of_last(), first);
  ++conns[first];
  EXPECT_EQ(counters->tmpl_new, 3u);
  EXPECT_EQ(rs_counters[first].persist, 2);
  EXPECT_EQ(rs_counters[second].persist, 1);
  for (int s = 0; s < 2; ++s) {
    EXPECT_EQ(rs_counters[s].inactive, conns[s]) << s;  // SYN_RECV
    EXPECT_EQ(rs_counters[s].active, 0) << s;
  }
  EXPECT_EQ(table6().size(), static_cast<uint32_t>(conns[0] + conns[1] + 3));
  // The template outlives the connections by the persistence timeout...
  at(299);
  fwd->expire(1000);
  EXPECT_EQ(table6().size(), 3u) << "the connections timed out, the templates not";
  send(syn6(2000, "2001:db8:5:1::77"));
  EXPECT_EQ(rs_of_last(), first);
  // ...and a drained RS's template is not honoured.
  spec.services[0].rs[first].weight = 0;
  publish();
  send(syn6(2001, "2001:db8:5:1::78"));
  EXPECT_NE(rs_of_last(), first);
  EXPECT_EQ(counters->tmpl_new, 4u);
  EXPECT_EQ(rs_counters[first].persist, 1) << "the drained RS's template for that /64 is gone";
  EXPECT_EQ(table6().check(), "");
}

// The configuration's default mask is the whole address (/128): each address its own
// template; and a prefix that does not end on a byte (/57).
TEST_F(Fwd6, PersistenceByDefaultIsPerAddressAndMasksAreBitExact) {
  spec.services[0].params = persistent(300, 128);
  spec.services[0].params.sched = Sched::kRr;
  publish();
  send(syn6(1, "2001:db8:6::1"));
  const int a = rs_of_last();
  for (uint16_t p = 2; p < 10; ++p) {
    send(syn6(p, "2001:db8:6::1"));
    EXPECT_EQ(rs_of_last(), a);
  }
  send(syn6(1, "2001:db8:6::2"));
  EXPECT_NE(rs_of_last(), a) << "the same /64, another address: scheduled on its own";
  send(syn6(2, "2001:db8:6::2"));
  EXPECT_NE(rs_of_last(), a);
  EXPECT_EQ(counters->tmpl_new, 2u);
  spec.services[0].params.persist_mask = 57;
  publish();
  send(syn6(1, "2001:db8:7::1"));
  const int c = rs_of_last();
  send(syn6(2, "2001:db8:7:7f:ffff::1"));
  EXPECT_EQ(rs_of_last(), c) << "bit 56 clear: the same /57";
  send(syn6(3, "2001:db8:7:80::1"));
  EXPECT_NE(rs_of_last(), c) << "bit 56 set: another /57";
  EXPECT_EQ(counters->tmpl_new, 4u);
}

// The gauges against the tables (count_bound, as the exit accounting does) under a
// mixed workload: IPv6 TCP with /64 persistence, IPv6 UDP on mh and IPv4 TCP with
// persistence, with expiry, eviction (small tables) and churn of the RS set.
TEST_F(Fwd6, ConnectionGaugesEqualTheTablesUnderChurn) {
  std::mt19937 rng(17);
  table = std::make_unique<FlowTable>(128);
  fwd = std::make_unique<Forwarder>(0, *table, *counters, rs_counters.get(), 256);
  struct Slot {
    bool live = false;
    uint32_t gen = 0;
    BoundCounts baseline;
  };
  std::vector<Slot> slots(9);
  auto gauges = [&](uint32_t s) {
    return BoundCounts{rs_counters[s].active, rs_counters[s].inactive, rs_counters[s].persist};
  };
  auto rebuild = [&] {
    spec.services = {service(0, "2001:2::100", net::kProtoTcp, 80, Sched::kRr, {}, persistent(7, 64)),
                     service(1, "2001:2::100", net::kProtoUdp, 53, Sched::kMh, {}),
                     service(2, "198.18.1.10", net::kProtoTcp, 80, Sched::kRr, {}, persistent(7))};
    spec.services[0].params.sched = Sched::kRr;
    spec.services[2].params.sched = Sched::kRr;
    for (uint32_t s = 0; s < slots.size(); ++s) {
      if (!slots[s].live) continue;
      const std::string addr = s % 3 == 2 ? "198.18.0." + std::to_string(20 + s) : "2001:2::" + std::to_string(20 + s);
      RsSpec r = rs(s, addr.c_str(), 1 + rng() % 3, rng() % 8 != 0);
      r.gen = slots[s].gen;
      r.health = rng() % 8 != 0 ? lb::Health::kUp : lb::Health::kDown;
      if (rng() % 8 == 0) r.weight = 0;
      spec.services[s % 3].rs.push_back(r);
    }
    publish();
  };
  auto verify = [&](int step) {
    uint64_t unbound = 0;
    auto counted = count_bound(*table, unbound);
    for (const auto& [k, v] : count_bound(fwd->conns6(), unbound)) {
      BoundCounts& c = counted[k];
      c.active += v.active;
      c.inactive += v.inactive;
      c.persist += v.persist;
    }
    ASSERT_EQ(unbound, 0u) << "step " << step;
    for (uint32_t s = 0; s < slots.size(); ++s) {
      if (!slots[s].live) continue;
      const auto it = counted.find({s, slots[s].gen});
      const BoundCounts want = it == counted.end() ? BoundCounts{} : it->second;
      const BoundCounts g = gauges(s);
      const BoundCounts have{g.active - slots[s].baseline.active, g.inactive - slots[s].baseline.inactive,
                             g.persist - slots[s].baseline.persist};
      ASSERT_EQ(have, want) << "slot " << s << " step " << step << ": gauges " << have.active << "/"
                            << have.inactive << "/" << have.persist << ", tables " << want.active << "/"
                            << want.inactive << "/" << want.persist;
    }
    ASSERT_EQ(table->check(), "") << "step " << step;
    ASSERT_EQ(fwd->conns6().check(), "") << "step " << step;
  };
  for (uint32_t s = 0; s < slots.size(); ++s) slots[s] = Slot{true, 1, {}};
  rebuild();
  const uint8_t flags[] = {net::kTcpSyn, net::kTcpAck, net::kTcpAck, net::kTcpFin | net::kTcpAck, net::kTcpRst};
  uint64_t forwarded = 0, forwarded6 = 0;
  for (int step = 0; step < 40000; ++step) {
    if (step % 97 == 0) {
      const uint32_t s = rng() % slots.size();
      if (slots[s].live) {
        slots[s].live = false;
      } else {
        ++slots[s].gen;
        slots[s].live = true;
        slots[s].baseline = gauges(s);
      }
      rebuild();
    }
    if (step % 13 == 0) at(now + rng() % 3);
    const uint32_t kind = rng() % 4;  // 0, 1: IPv6 TCP; 2: IPv6 UDP; 3: IPv4 TCP
    const uint16_t sport = static_cast<uint16_t>(1000 + rng() % 24);
    Verdict v;
    if (kind == 3) {
      FrameSpec f = syn(sport, ("198.18.2." + std::to_string(1 + rng() % 40)).c_str());
      f.tcp_flags = flags[rng() % 5];
      v = send(f);
    } else {
      const std::string src = "2001:db8:2:" + std::to_string(rng() % 4) + "::" + std::to_string(1 + rng() % 10);
      Frame6Spec f = syn6(sport, src.c_str());
      if (kind == 2) {
        f.proto = net::kProtoUdp;
        f.dport = 53;
      } else {
        f.tcp_flags = flags[rng() % 5];
      }
      v = send(f);
      forwarded6 += v.action == Action::kForward;
    }
    forwarded += v.action == Action::kForward;
    if (step % 7 == 0) fwd->expire(8);
    if (step % 500 == 0) verify(step);
    if (HasFatalFailure()) return;
  }
  verify(-1);
  EXPECT_GT(forwarded6, 15000u);
  EXPECT_GT(forwarded - forwarded6, 5000u);
  EXPECT_GT(counters->tmpl_new, 100u);
  EXPECT_GT(counters->conn_evicted + counters->conn_expired, 100u) << "the tables must turn over";
  EXPECT_GT(counters->conn_resched, 100u) << "churn must move connections";
}

// A datagram's later fragments (no ports) follow its first fragment's RS: by the
// fragment header's id with the addresses and protocol, never another datagram's.
TEST_F(Fwd6, FragmentsFollowTheirFirstFragment) {
  spec.services[0].key.proto = net::kProtoUdp;
  spec.services[0].key.port = 53;
  spec.services.push_back(service(1, "2001:2::101", net::kProtoUdp, 53, Sched::kRr, {rs(2, "2001:2::13")}));
  publish();
  auto frag = [](uint16_t sport, const char* src, uint32_t id, uint16_t offset, bool more) {
    Frame6Spec s = syn6(sport, src);
    s.proto = net::kProtoUdp;
    s.dport = 53;
    s.frag = Frag6{offset, more, id};
    s.payload = 64;
    return s;
  };
  for (uint32_t id = 1; id <= 10; ++id) {
    const uint16_t sport = static_cast<uint16_t>(3000 + id);
    ASSERT_EQ(send(frag(sport, "2001:db8:2::1", id, 0, true)).action, Action::kForward);
    const int r = rs_of_last();
    const auto in = build6(frag(sport, "2001:db8:2::1", id, 9, true));
    last = in;
    ASSERT_EQ(send(last).action, Action::kForward);  // middle
    EXPECT_EQ(rs_of_last(), r);
    EXPECT_EQ(tail(last), tail(in));
    ASSERT_EQ(send(frag(sport, "2001:db8:2::1", id, 18, false)).action, Action::kForward);  // last
    EXPECT_EQ(rs_of_last(), r);
  }
  EXPECT_EQ(counters->frag_forwarded, 20u);
  EXPECT_EQ(counters->conn_new, 10u);
  // The first fragment of a connection already in the table (the established path).
  Frame6Spec whole = syn6(4000);
  whole.proto = net::kProtoUdp;
  whole.dport = 53;
  send(whole);
  const int rw = rs_of_last();
  send(frag(4000, "2001:db8:2::1", 77, 0, true));
  EXPECT_EQ(rs_of_last(), rw);
  send(frag(4000, "2001:db8:2::1", 77, 9, false));
  EXPECT_EQ(rs_of_last(), rw);
  EXPECT_EQ(counters->conn_new, 11u);
  // A later fragment whose first fragment never came.
  EXPECT_EQ(send(frag(3000, "2001:db8:2::1", 99, 9, true)).drop, net::Drop::kFragOrphan);
  // Two datagrams with one id from two clients (round robin: two servers): each one's
  // fragments follow its own first fragment.
  ASSERT_EQ(send(frag(5000, "2001:db8:2::1", 0x4242, 0, true)).action, Action::kForward);
  const int ra = rs_of_last();
  ASSERT_EQ(send(frag(5000, "2001:db8:2::2", 0x4242, 0, true)).action, Action::kForward);
  const int rb = rs_of_last();
  ASSERT_NE(ra, rb);
  for (int i = 0; i < 2; ++i) {
    send(frag(5000, "2001:db8:2::1", 0x4242, 9, true));
    EXPECT_EQ(rs_of_last(), ra);
    send(frag(5000, "2001:db8:2::2", 0x4242, 9, true));
    EXPECT_EQ(rs_of_last(), rb);
  }
  // The id from a third client, to the other VIP, or of TCP: no datagram seen.
  EXPECT_EQ(send(frag(5000, "2001:db8:2::3", 0x4242, 9, true)).drop, net::Drop::kFragOrphan);
  Frame6Spec other_vip = frag(5000, "2001:db8:2::1", 0x4242, 9, true);
  other_vip.daddr = ip6("2001:2::101");
  EXPECT_EQ(send(other_vip).drop, net::Drop::kFragOrphan);
  Frame6Spec tcp = frag(5000, "2001:db8:2::1", 0x4242, 9, true);
  tcp.proto = net::kProtoTcp;
  EXPECT_EQ(send(tcp).drop, net::Drop::kFragOrphan);
  // A later fragment to an address that is no service's: orphan too (as IPv4's).
  Frame6Spec nowhere = frag(5000, "2001:db8:2::1", 0x4243, 9, true);
  nowhere.daddr = ip6("2001:2::200");
  EXPECT_EQ(send(nowhere).drop, net::Drop::kFragOrphan);
  // Too late: the cache entry aged out.
  at(now + FragCache<net::FlowKey6>::kLifetime + 1);
  EXPECT_EQ(send(frag(3001, "2001:db8:2::1", 1, 18, false)).drop, net::Drop::kFragOrphan);
  EXPECT_EQ(dropped(net::Drop::kFragOrphan), 6u);
  EXPECT_EQ(table->size(), 0u);
}

// The cache is direct-mapped: with thousands of datagrams of one id, most of its slots
// are taken. A later fragment follows its own datagram's first fragment or, once another
// datagram took the slot, none: never the datagram in its slot.
TEST_F(Fwd6, FragmentsNeverFollowAnotherDatagramInTheirCacheSlot) {
  spec.services[0].key.proto = net::kProtoUdp;
  spec.services[0].key.port = 53;
  publish();
  auto frag = [](const net::Ipv6& src, uint16_t offset) {
    Frame6Spec s = syn6(3000, src);
    s.proto = net::kProtoUdp;
    s.dport = 53;
    s.frag = Frag6{offset, true, 7};
    return s;
  };
  constexpr uint32_t kDatagrams = 3000;
  std::vector<int> rs_of(kDatagrams);
  for (uint32_t c = 0; c < kDatagrams; ++c) {
    ASSERT_EQ(send(frag(client6(c), 0)).action, Action::kForward);
    rs_of[c] = rs_of_last();
  }
  uint32_t followed = 0;
  for (uint32_t c = 0; c < kDatagrams; ++c) {
    const Verdict v = send(frag(client6(c), 9));
    if (v.action == Action::kForward) {
      ++followed;
      EXPECT_EQ(rs_of_last(), rs_of[c]) << "datagram " << c;
    } else {
      EXPECT_EQ(v.drop, net::Drop::kFragOrphan);
    }
  }
  EXPECT_GT(followed, kDatagrams / 2);
  // Datagrams whose first fragments never came: orphans, whoever holds their slots.
  for (uint32_t c = kDatagrams; c < 2 * kDatagrams; ++c)
    ASSERT_EQ(send(frag(client6(c), 9)).drop, net::Drop::kFragOrphan) << "datagram " << c;
}

// Path MTU discovery through a DR balancer: a router's packet too big (or another
// error) about a real server's reply comes to the VIP and must reach that server.
TEST_F(Fwd6, IcmpErrorsFollowTheirConnection) {
  spec.services.push_back(
      service(1, "2001:2::100", net::kProtoUdp, 53, Sched::kRr, {rs(2, "2001:2::13"), rs(3, "2001:2::14")}));
  publish();
  struct Kind {
    uint8_t type, code;
    uint32_t word;
  };
  const Kind kinds[] = {{net::kIcmp6PacketTooBig, 0, 1280},
                        {net::kIcmp6DestUnreach, 4, 0},
                        {net::kIcmp6TimeExceeded, 0, 0},
                        {net::kIcmp6ParamProblem, 0, 40}};
  for (uint16_t p = 0; p < 10; ++p) {
    Frame6Spec c = syn6(static_cast<uint16_t>(4000 + p));
    if (p % 2) {
      c.proto = net::kProtoUdp;
      c.dport = 53;
    }
    ASSERT_EQ(send(c).action, Action::kForward);
    const int r = rs_of_last();
    for (const Kind& k : kinds) {
      const auto in = icmp6_error(reply_to(c), kRouter6, kVip6, k.type, k.code, k.word);
      ASSERT_EQ(parse6(in).kind, net::Kind6::kIcmpError);
      last = in;
      ASSERT_EQ(send(last).action, Action::kForward) << "type " << int{k.type};
      EXPECT_EQ(rs_of_last(), r);
      EXPECT_EQ(head(last, 6, 12), bytes_of(kPortMac));
      EXPECT_EQ(tail(last), tail(in));
    }
  }
  EXPECT_EQ(counters->icmp_forwarded, 40u);
  EXPECT_EQ(counters->conn_new, 10u) << "an ICMPv6 error creates no connection";
  EXPECT_EQ(table6().size(), 10u);
  // A bad checksum: dropped, counted.
  last = icmp6_error(reply_to(syn6(4000)), kRouter6, kVip6);
  last.back() ^= 1;
  EXPECT_EQ(send(last).drop, net::Drop::kIcmpBadChecksum);
  EXPECT_EQ(dropped(net::Drop::kIcmpBadChecksum), 1u);
  // Unknown to round robin: dropped, counted.
  last = icmp6_error(reply_to(syn6(4999)), kRouter6, kVip6);
  EXPECT_EQ(send(last).drop, net::Drop::kIcmpNoConn);
  // Unknown to sh and mh without persistence: the server the connection would have.
  for (Sched sch : {Sched::kSh, Sched::kMh}) {
    spec.services[0].params.sched = sch;
    spec.services[0].rs = {rs(0, "2001:2::11"), rs(1, "2001:2::12"), rs(4, "2001:2::15")};
    publish();
    std::set<int> used;
    for (uint32_t n = 0; n < 30; ++n) {
      const Frame6Spec c = syn6(static_cast<uint16_t>(5000 + n), client6(n + (sch == Sched::kSh ? 0 : 100)));
      last = icmp6_error(reply_to(c), kRouter6, kVip6);
      ASSERT_EQ(send(last).action, Action::kForward) << sched_name(sch);
      const int via_icmp = rs_of_last();
      used.insert(via_icmp);
      send(c);
      EXPECT_EQ(rs_of_last(), via_icmp) << sched_name(sch);
    }
    EXPECT_EQ(used.size(), 3u) << sched_name(sch);
  }
  // With persistence the client's template decides, which an error cannot know.
  spec.services[0].params = persistent(300, 128);
  spec.services[0].params.sched = Sched::kMh;
  publish();
  last = icmp6_error(reply_to(syn6(6000)), kRouter6, kVip6);
  EXPECT_EQ(send(last).drop, net::Drop::kIcmpNoConn);
  // About a service that does not exist (port 81), or a datagram not from the VIP: no
  // one's. An echo request to the VIP neither.
  Frame6Spec other = syn6(4000);
  other.dport = 81;
  last = icmp6_error(reply_to(other), kRouter6, kVip6);
  EXPECT_EQ(send(last).drop, net::Drop::kNoService);
  Frame6Spec from_rs = reply_to(syn6(4000));
  from_rs.saddr = ip6("2001:2::11");
  last = icmp6_error(from_rs, kRouter6, kVip6);
  EXPECT_EQ(parse6(last).kind, net::Kind6::kOther);
  EXPECT_EQ(send(last).drop, net::Drop::kNoService);
  Frame6Spec echo = syn6(1);
  echo.proto = net::kProtoIcmp6;
  echo.l4 = {net::kIcmp6EchoRequest, 0, 0, 0, 0, 1, 0, 1};
  EXPECT_EQ(send(echo).drop, net::Drop::kNoService);
  EXPECT_EQ(counters->icmp_forwarded, 100u);
}

// Neighbour discovery goes to the control core as ARP does; IPv6 to a group MAC to the
// kernel side; anything else that is no service's is dropped, a malformed frame for its
// malformation. Nothing of it is modified or reaches a server.
TEST_F(Fwd6, NdpGroupTrafficAndWhatIsNoServicesNeverReachAnRs) {
  spec.ports[0].vlans = {{20, net::Prefix{ip("198.18.20.2"), 24}}};
  publish();
  auto ndp = [](const net::Ndp& n) {
    std::vector<uint8_t> f(net::kNdpMaxFrameLen);
    f.resize(net::build_ndp(f.data(), n));
    return f;
  };
  const net::Ndp ns = net::ndp_solicit(kClientMac, ip6("2001:2::50"), kVip6);
  const net::Ndp na = net::ndp_advert(rs_mac(0), ip6("2001:2::11"),
                                      net::ndp_solicit(kPortMac, net::link_local(kPortMac), ip6("2001:2::11")));
  auto icmp6_to = [](const char* dst, const net::Mac& dmac, std::vector<uint8_t> msg) {
    Frame6Spec s;
    s.daddr = ip6(dst);
    s.dst = dmac;
    s.proto = net::kProtoIcmp6;
    s.l4 = std::move(msg);
    s.payload = 0;
    s.hop_limit = 255;
    return build6(s);
  };
  auto with = [](auto mutate) {
    Frame6Spec s = syn6(7);
    mutate(s);
    return build6(s);
  };
  auto bytes = [](auto mutate) {
    std::vector<uint8_t> f = build6(syn6(7));
    mutate(f);
    return f;
  };
  auto plen = [](std::vector<uint8_t>& f) { net::store16(&f[18], net::hton16(static_cast<uint16_t>(f.size() - 54))); };
  const net::Mac all_nodes_mac = mac("33:33:00:00:00:01");
  struct Case {
    const char* what;
    std::vector<uint8_t> frame;
    Action action;
    net::Drop drop;
    ExcClass cls = ExcClass::kOther;
    uint16_t vlan = 0;
  };
  std::vector<Case> cases = {
      {"NS for the VIP to its solicited-node group", ndp(ns), Action::kControl, net::Drop::kNone, ExcClass::kArp},
      {"NS on a VLAN interface", ndp(ns), Action::kControl, net::Drop::kNone, ExcClass::kArp, 20},
      {"NS on an unknown VLAN", ndp(ns), Action::kDrop, net::Drop::kVlanUnknown, ExcClass::kOther, 30},
      {"DAD NS", ndp(net::ndp_solicit(kClientMac, net::Ipv6{}, kVip6)), Action::kControl, net::Drop::kNone,
       ExcClass::kArp},
      {"a server's NA to the port (the servers' class)", ndp(na), Action::kControl, net::Drop::kNone, ExcClass::kServer},
      {"a server's unsolicited NA to all nodes", ndp(net::ndp_announce(rs_mac(1), ip6("2001:2::12"))), Action::kControl,
       net::Drop::kNone, ExcClass::kServer},
      {"another host's unsolicited NA to all nodes", ndp(net::ndp_announce(mac("02:00:00:00:00:77"), ip6("2001:2::77"))),
       Action::kControl, net::Drop::kNone, ExcClass::kArp},
      {"router advertisement", icmp6_to("ff02::1", all_nodes_mac, {134, 0, 0, 0, 64, 0, 0, 0}), Action::kControl,
       net::Drop::kNone, ExcClass::kArp},
      {"NS with a fragment header (RFC 6980) to the group",
       with([&](Frame6Spec& s) {
         s.dst = net::ipv6_multicast_mac(net::solicited_node(kVip6));
         s.daddr = net::solicited_node(kVip6);
         s.proto = net::kProtoIcmp6;
         s.frag = Frag6{0, false, 5};
         s.l4 = {net::kNdpNeighborSolicit, 0, 0, 0, 0, 0, 0, 0};
         s.l4.insert(s.l4.end(), kVip6.bytes.begin(), kVip6.bytes.end());
         s.payload = 0;
       }),
       Action::kDrop, net::Drop::kIp6BadExt},
      {"NS with a fragment header, unicast",
       with([&](Frame6Spec& s) {
         s.proto = net::kProtoIcmp6;
         s.frag = Frag6{0, false, 5};
         s.l4 = {net::kNdpNeighborSolicit, 0, 0, 0, 0, 0, 0, 0};
         s.l4.insert(s.l4.end(), kVip6.bytes.begin(), kVip6.bytes.end());
         s.payload = 0;
       }),
       Action::kDrop, net::Drop::kIp6BadExt},
      {"echo to all nodes", icmp6_to("ff02::1", all_nodes_mac, {128, 0, 0, 0, 0, 1, 0, 1}), Action::kControl,
       net::Drop::kNone},
      {"MLD report", icmp6_to("ff02::16", mac("33:33:00:00:00:16"), {143, 0, 0, 0, 0, 0, 0, 0}), Action::kControl,
       net::Drop::kNone},
      {"DHCPv6 to its group", with([](Frame6Spec& s) {
         s.proto = net::kProtoUdp;
         s.daddr = ip6("ff02::1:2");
         s.dst = mac("33:33:00:01:00:02");
         s.dport = 547;
       }),
       Action::kControl, net::Drop::kNone},
      {"the VIP's port at a group MAC", with([&](Frame6Spec& s) { s.dst = all_nodes_mac; }), Action::kControl,
       net::Drop::kNone},
      {"another address", with([](Frame6Spec& s) { s.daddr = ip6("2001:2::200"); }), Action::kDrop,
       net::Drop::kNoService},
      {"a server's address", with([](Frame6Spec& s) { s.daddr = ip6("2001:2::11"); }), Action::kDrop,
       net::Drop::kNoService},
      {"other port of the VIP", with([](Frame6Spec& s) { s.dport = 81; }), Action::kDrop, net::Drop::kNoService},
      {"UDP to a TCP service", with([](Frame6Spec& s) { s.proto = net::kProtoUdp; }), Action::kDrop,
       net::Drop::kNoService},
      {"echo to the VIP", icmp6_to("2001:2::100", kPortMac, {128, 0, 0, 0, 0, 1, 0, 1}), Action::kDrop,
       net::Drop::kNoService},
      {"to the port's link-local address (its kernel side's)", with([](Frame6Spec& s) { s.daddr = net::link_local(kPortMac); }),
       Action::kControl, net::Drop::kNone},
      {"another host's MAC", with([](Frame6Spec& s) { s.dst = mac("02:00:00:00:00:99"); }), Action::kDrop,
       net::Drop::kNotOurMac},
      {"group source MAC", with([&](Frame6Spec& s) { s.src = all_nodes_mac; }), Action::kDrop, net::Drop::kBadSrcMac},
      // Malformed: each by its reason.
      {"cut in the IPv6 header", bytes([](std::vector<uint8_t>& f) { f.resize(14 + 39); }), Action::kDrop,
       net::Drop::kIp6Truncated},
      {"payload length past the frame", bytes([](std::vector<uint8_t>& f) { f[19] += 1; }), Action::kDrop,
       net::Drop::kIp6BadLength},
      {"version 4", bytes([](std::vector<uint8_t>& f) { f[14] = 0x40; }), Action::kDrop, net::Drop::kIpBadVersion},
      {"loopback source", with([](Frame6Spec& s) { s.saddr = ip6("::1"); }), Action::kDrop, net::Drop::kIpBadSrc},
      {"multicast source", with([](Frame6Spec& s) { s.saddr = ip6("ff02::1"); }), Action::kDrop,
       net::Drop::kIpBadSrc},
      {"IPv4-mapped source", with([](Frame6Spec& s) { s.saddr = ip6("::ffff:198.18.2.1"); }), Action::kDrop,
       net::Drop::kIpBadSrc},
      {"TCP data offset 2", bytes([](std::vector<uint8_t>& f) { f[54 + 12] = 0x20; }), Action::kDrop,
       net::Drop::kTcpBadDoff},
      {"TCP header cut", bytes([&](std::vector<uint8_t>& f) { f.resize(54 + 12); plen(f); }), Action::kDrop,
       net::Drop::kL4Truncated},
      {"UDP length below its header",
       with([](Frame6Spec& s) {
         s.proto = net::kProtoUdp;
         s.dport = 53;
       }),
       Action::kDrop, net::Drop::kUdpBadLength},
      {"six extension headers",
       with([](Frame6Spec& s) {
         s.proto = net::kNhDestOpts;
         for (int i = 0; i < 6; ++i) s.l4.insert(s.l4.end(), {i == 5 ? net::kNhNone : net::kNhDestOpts, 0, 0, 0, 0, 0, 0, 0});
       }),
       Action::kDrop, net::Drop::kIp6BadExt},
      {"hop-by-hop not first",
       with([](Frame6Spec& s) {
         s.proto = net::kNhDestOpts;
         s.l4 = {net::kNhHopByHop, 0, 0, 0, 0, 0, 0, 0, net::kNhNone, 0, 0, 0, 0, 0, 0, 0};
       }),
       Action::kDrop, net::Drop::kIp6BadExt},
  };
  // The UDP case's length field, made 4 after the build.
  for (Case& c : cases)
    if (std::string(c.what) == "UDP length below its header") c.frame[54 + 5] = 4;
  for (Case& c : cases) {
    const std::vector<uint8_t> before = c.frame;
    const Verdict v = send(c.frame, 0, c.vlan);
    EXPECT_EQ(v.action, c.action) << c.what;
    EXPECT_EQ(v.drop, c.drop) << c.what << ": " << net::drop_name(v.drop);
    if (c.action == Action::kControl) {
      EXPECT_EQ(v.exc, c.cls) << c.what;
    }
    EXPECT_EQ(c.frame, before) << c.what << ": frame modified";
  }
  EXPECT_EQ(table6().size(), 0u);
  EXPECT_EQ(table->size(), 0u);
  for (int s = 0; s < 2; ++s) EXPECT_EQ(rs_counters[s].packets, 0u);
}

// IPv4 and IPv6 services on the same ports are separate services: their own servers,
// round robin, tables. An IPv4-mapped destination is IPv6 (never an IPv4 service's).
TEST_F(Fwd6, Ipv4AndIpv6ServicesOnTheSamePortsStayApart) {
  spec.services = {
      service(0, "198.18.1.10", net::kProtoTcp, 80, Sched::kRr, {rs(0, "198.18.0.11"), rs(1, "198.18.0.12")}),
      service(1, "2001:2::100", net::kProtoTcp, 80, Sched::kRr, {rs(2, "2001:2::11"), rs(3, "2001:2::12")}),
      service(2, "198.18.1.10", net::kProtoUdp, 53, Sched::kMh, {rs(4, "198.18.0.13")}),
      service(3, "2001:2::100", net::kProtoUdp, 53, Sched::kMh, {rs(5, "2001:2::13")}),
  };
  publish();
  std::map<int, int> per_rs;
  for (uint16_t p = 0; p < 40; ++p) {
    ASSERT_EQ(send(syn(1000 + p)).action, Action::kForward);
    per_rs[rs_of_last()]++;
    ASSERT_EQ(send(syn6(1000 + p)).action, Action::kForward);
    per_rs[rs_of_last()]++;
    FrameSpec u = syn(1000 + p);
    u.proto = net::kProtoUdp;
    u.dport = 53;
    ASSERT_EQ(send(u).action, Action::kForward);
    EXPECT_EQ(rs_of_last(), 4);
    Frame6Spec u6 = syn6(1000 + p);
    u6.proto = net::kProtoUdp;
    u6.dport = 53;
    ASSERT_EQ(send(u6).action, Action::kForward);
    EXPECT_EQ(rs_of_last(), 5);
  }
  EXPECT_EQ(per_rs, (std::map<int, int>{{0, 20}, {1, 20}, {2, 20}, {3, 20}})) << "each round robin of its own";
  EXPECT_EQ(table->size(), 80u);
  EXPECT_EQ(table6().size(), 80u);
  // IPv4-mapped or -compatible forms of the IPv4 VIP, or its bits in the VIP's prefix: no
  // service. A mapped source is no client.
  for (const char* dst : {"::ffff:198.18.1.10", "::198.18.1.10", "2001:2::c612:10a"}) {
    Frame6Spec s = syn6(7);
    s.daddr = ip6(dst);
    EXPECT_EQ(send(s).drop, net::Drop::kNoService) << dst;
  }
  Frame6Spec mapped = syn6(7);
  mapped.saddr = ip6("::ffff:198.18.2.1");
  EXPECT_EQ(send(mapped).drop, net::Drop::kIpBadSrc);
  // Without the IPv6 services the IPv4 connections keep their servers.
  std::map<uint16_t, int> v4_rs;
  for (uint16_t p = 0; p < 40; ++p) {
    FrameSpec a = syn(1000 + p);
    a.tcp_flags = net::kTcpAck;
    send(a);
    v4_rs[p] = rs_of_last();
  }
  spec.services.erase(spec.services.begin() + 3);
  spec.services.erase(spec.services.begin() + 1);
  publish();
  for (uint16_t p = 0; p < 40; ++p) {
    FrameSpec a = syn(1000 + p);
    a.tcp_flags = net::kTcpAck;
    send(a);
    EXPECT_EQ(rs_of_last(), v4_rs[p]);
    EXPECT_EQ(send(ack6(1000 + p)).drop, net::Drop::kNoService);
  }
  EXPECT_EQ(counters->conn_resched, 0u);
}

// The appliance's own IPv6 addresses (DIPs): what comes for them goes to the control core
// (its kernel side), BGP and BFD in the routing class, fragments too (not frag-orphan);
// never to a real server.
TEST_F(Fwd6, TrafficForAnIpv6DipGoesToTheControlCore) {
  spec.ports[0].dips6 = {ip6("2001:2::2")};
  publish();
  Frame6Spec ssh = syn6(40000, client6(1));
  ssh.daddr = ip6("2001:2::2");
  ssh.dport = 22;
  lb::Verdict v = send(ssh);
  EXPECT_EQ(v.action, Action::kControl);
  EXPECT_EQ(v.exc, ExcClass::kOther);
  Frame6Spec bgp = ssh;
  bgp.dport = 179;
  v = send(bgp);
  EXPECT_EQ(v.action, Action::kControl);
  EXPECT_EQ(v.exc, ExcClass::kRouting);
  Frame6Spec bfd = ssh;
  bfd.proto = net::kProtoUdp;
  bfd.dport = 3784;
  EXPECT_EQ(send(bfd).exc, ExcClass::kRouting);
  Frame6Spec other = ssh;
  other.daddr = ip6("2001:2::3");
  EXPECT_EQ(send(other).drop, net::Drop::kNoService) << "not the DIP";
  Frame6Spec ll = ssh;
  ll.daddr = net::link_local(kPortMac);
  ll.dport = 179;
  EXPECT_EQ(send(ll).exc, ExcClass::kRouting) << "BGP to the port's link-local address";
  EXPECT_EQ(counters->conn_new, 0u);
}
