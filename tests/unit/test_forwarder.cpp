// The per-packet decision against realistic tables, without EAL: each case is a frame
// in, a verdict and (when forwarded) the rewritten frame out.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>

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

// The staged burst path must decide exactly as frame-by-frame processing: same verdicts,
// same bytes, same table. Bursts repeat flows (a new flow's second packet in the same
// burst must find the entry the first created) and the tiny table forces evictions.
TEST_F(Fwd, BurstProcessingEqualsOneByOne) {
  std::mt19937 rng(3);
  for (Sched sch : {Sched::kRr, Sched::kMh}) {
    spec.services[0].params.sched = sch;
    spec.services[0].params.persist = sch == Sched::kRr ? 60 : 0;
    // Separate snapshots: each forwarder needs its own scheduler cursors.
    auto sa = build_snapshot(spec, nullptr), sb = build_snapshot(spec, nullptr);
    FlowTable ta(24), tb(24);
    WorkerCounters ca, cb;
    auto ra = std::make_unique<RsCounters[]>(kMaxRsSlots);
    auto rb = std::make_unique<RsCounters[]>(kMaxRsSlots);
    Forwarder one(0, ta, ca, ra.get()), burst(0, tb, cb, rb.get());
    for (uint32_t round = 0; round < 3000; ++round) {
      one.begin(sa.get(), round / 200);
      burst.begin(sb.get(), round / 200);
      const uint32_t n = 1 + rng() % Forwarder::kMaxBurst;
      std::vector<std::vector<uint8_t>> a, b;
      for (uint32_t i = 0; i < n; ++i) {
        FrameSpec s = syn(static_cast<uint16_t>(rng() % 40));
        s.saddr = ip(("198.18.9." + std::to_string(1 + rng() % 3)).c_str());
        s.tcp_flags = rng() % 3 ? net::kTcpAck : net::kTcpSyn;
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
          default: break;
        }
        auto f = icmp ? icmp_error(reply_to(s), ip("198.18.9.200"), s.daddr) : build(s);
        if (rng() % 12 == 0) {  // break one byte of the headers somewhere
          const size_t at = 12 + rng() % 30;
          f[at] ^= static_cast<uint8_t>(1 + rng() % 255);
        }
        if (rng() % 20 == 0) f.resize(rng() % f.size());               // truncate
        a.push_back(f);
      }
      b = a;
      std::vector<Frame> fb(n);
      std::vector<Verdict> vb(n);
      for (uint32_t i = 0; i < n; ++i)
        fb[i] = Frame{b[i].data(), static_cast<uint32_t>(b[i].size()), static_cast<uint32_t>(b[i].size()), 0, 0,
                      net::IpCsum::kUnknown};
      burst.process_burst(fb.data(), vb.data(), n);
      for (uint32_t i = 0; i < n; ++i) {
        Frame fa{a[i].data(), static_cast<uint32_t>(a[i].size()), static_cast<uint32_t>(a[i].size()), 0};
        Verdict va = one.process(fa);
        ASSERT_EQ(va.action, vb[i].action) << "round " << round << " frame " << i << " one-by-one " 
                                            << net::drop_name(va.drop) << " burst " << net::drop_name(vb[i].drop);
        ASSERT_EQ(va.drop, vb[i].drop);
        ASSERT_EQ(va.port, vb[i].port);
        ASSERT_EQ(a[i], b[i]) << "round " << round << " frame " << i;
      }
      ASSERT_EQ(ta.size(), tb.size());
      ASSERT_EQ(tb.check(), "");
    }
    EXPECT_GT(cb.conn_evicted, 0u) << "the test should exercise eviction";
    EXPECT_EQ(ca.conn_evicted, cb.conn_evicted);
    EXPECT_EQ(ca.conn_new, cb.conn_new);
    EXPECT_GT(cb.icmp_forwarded, 0u) << "the test should forward ICMP errors";
    EXPECT_EQ(ca.icmp_forwarded, cb.icmp_forwarded);
    for (int d = 0; d < net::kDropCount; ++d) EXPECT_EQ(ca.port[0].drops[d], cb.port[0].drops[d]) << d;
  }
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
