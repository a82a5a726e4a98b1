// Control logic without EAL: ARP and NDP resolution of real servers and health-check rise/fall.
#include <gtest/gtest.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "config/check.hpp"
#include "config/command.hpp"
#include "config/loader.hpp"
#include "config/model.hpp"
#include "config/show_config.hpp"
#include "control/health.hpp"
#include "control/neighbours.hpp"
#include "control/netlink.hpp"
#include "control_fakes.hpp"
#include "packets.hpp"
#include "net/arp.hpp"
#include "net/ndp.hpp"

using namespace drfwd;
using namespace drfwd::control;
using drfwd::test::FakeProber;
using drfwd::test::ip;
using drfwd::test::mac;

namespace {

const net::Mac kPort = mac("02:70:63:61:70:00");
const net::Mac kRs = mac("02:00:00:00:00:11");
const net::Mac kOther = mac("02:00:00:00:00:66");

NeighTarget target(const char* addr = "198.18.0.11") { return {ip(addr), 0, 0, ip("198.18.0.2"), kPort}; }

net::Arp reply_from(const net::Mac& m, const char* addr = "198.18.0.11") {
  return net::arp_reply(m, ip(addr), kPort, ip("198.18.0.2"));
}

// The RS resolved to kRs: asked at 0, answered at 0.1.
void resolve(NeighbourTable& t) {
  t.set_targets({target()}, 0);
  t.tick(0);
  t.on_arp(0, reply_from(kRs), 0.1);
}

struct Round {
  bool changed = false, lost = false;
  unsigned sent = 0;
};
// Ticks one retransmission interval at a time from `now` (at most 10 times) until the
// entry changes; after each tick, answer(time) may reply.
template <class Answer>
Round probe_round(NeighbourTable& t, const NeighConfig& cfg, double now, Answer&& answer) {
  Round out;
  for (int i = 0; i < 10 && !out.changed; ++i, now += cfg.retrans_time) {
    auto r = t.tick(now);
    out.sent += r.send.size() + r.send6.size();
    out.changed = r.changed;
    out.lost = !r.lost.empty();
    if (!out.changed) answer(now + 0.01);
  }
  return out;
}

// The only event since the last call is `kind` about (mac, other).
void expect_event(NeighbourTable& t, NeighEvent::Kind kind, const net::Mac& m, const net::Mac& other) {
  auto ev = t.take_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, kind);
  EXPECT_EQ(ev[0].mac, m);
  EXPECT_EQ(ev[0].other, other);
}

}  // namespace

TEST(Arp, BuildAndParse) {
  uint8_t buf[64];
  const auto req = net::arp_request(kPort, ip("198.18.0.2"), ip("198.18.0.11"));
  ASSERT_EQ(net::build_arp(buf, req), 60u);
  auto p = net::parse_arp(buf, 60);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->op, net::kArpRequest);
  EXPECT_EQ(p->spa, ip("198.18.0.2"));
  EXPECT_EQ(p->tpa, ip("198.18.0.11"));
  EXPECT_EQ(p->eth_dst, net::Mac::broadcast());
  EXPECT_FALSE(net::parse_arp(buf, 41));
  buf[14 + 5] = 6;  // plen 6: not IPv4 ARP
  EXPECT_FALSE(net::parse_arp(buf, 60));
  EXPECT_TRUE(net::arp_announce(kPort, ip("198.18.0.100")).gratuitous());
}

TEST(Neighbours, ResolvesThenRefreshes) {
  NeighConfig cfg;
  NeighbourTable t(cfg);
  EXPECT_FALSE(t.set_targets({target()}, 0));
  auto r = t.tick(0);
  ASSERT_EQ(r.send.size(), 1u);
  EXPECT_EQ(r.send[0].arp.tpa, ip("198.18.0.11"));
  EXPECT_EQ(r.send[0].arp.spa, ip("198.18.0.2"));
  EXPECT_EQ(r.send[0].arp.eth_dst, net::Mac::broadcast());
  EXPECT_FALSE(t.mac(ip("198.18.0.11")));
  EXPECT_TRUE(t.on_arp(0, reply_from(kRs), 0.1));
  EXPECT_EQ(*t.mac(ip("198.18.0.11")), kRs);
  EXPECT_TRUE(t.tick(10).send.empty());
  // After reachable_time: a unicast request to the known MAC, MAC still in use.
  auto probe = t.tick(cfg.reachable_time + 0.2);
  ASSERT_EQ(probe.send.size(), 1u);
  EXPECT_EQ(probe.send[0].arp.eth_dst, kRs);
  EXPECT_EQ(*t.mac(ip("198.18.0.11")), kRs);
  EXPECT_FALSE(t.on_arp(0, reply_from(kRs), cfg.reachable_time + 0.3));  // same MAC: no change
  EXPECT_EQ(t.entries().at(ip("198.18.0.11")).state, NeighState::kReachable);
}

TEST(Neighbours, UnansweredBecomesUnreachableAndRecovers) {
  NeighConfig cfg;
  NeighbourTable t(cfg);
  resolve(t);
  const Round round = probe_round(t, cfg, cfg.reachable_time + 1, [](double) {});
  EXPECT_TRUE(round.changed && round.lost);
  EXPECT_EQ(round.sent, cfg.max_probes);
  EXPECT_FALSE(t.mac(ip("198.18.0.11")));
  EXPECT_EQ(t.entries().at(ip("198.18.0.11")).state, NeighState::kFailed);
  const double now = cfg.reachable_time + 1 + cfg.max_probes * cfg.retrans_time;
  // Still asked, slowly; an answer brings it back.
  auto r = t.tick(now + cfg.failed_retry);
  ASSERT_EQ(r.send.size(), 1u);
  EXPECT_TRUE(t.on_arp(0, reply_from(kRs), now + cfg.failed_retry + 0.1));
  EXPECT_TRUE(t.mac(ip("198.18.0.11")));
}

TEST(Neighbours, UnsolicitedArpChangesNothing) {
  NeighbourTable t;
  t.set_targets({target()}, 0);
  // Before any request: a reply is unsolicited.
  EXPECT_FALSE(t.on_arp(0, reply_from(kOther), 0));
  t.tick(0);
  EXPECT_TRUE(t.on_arp(0, reply_from(kRs), 0.1));
  // Later (past the first resolution's guard): a reply with another MAC, a gratuitous
  // ARP, a request claiming the address, a reply on the wrong port: none moves the RS.
  EXPECT_FALSE(t.on_arp(0, reply_from(kOther), 1.2));
  EXPECT_FALSE(t.on_arp(0, net::arp_announce(kOther, ip("198.18.0.11")), 0.3));
  EXPECT_FALSE(t.on_arp(0, net::arp_request(kOther, ip("198.18.0.11"), ip("198.18.0.2")), 0.4));
  EXPECT_FALSE(t.on_arp(1, reply_from(kOther), 0.5));
  EXPECT_EQ(*t.mac(ip("198.18.0.11")), kRs);
  EXPECT_EQ(t.ignored(), 5u);
  EXPECT_EQ(t.conflicts(), 0u);
  EXPECT_TRUE(t.take_events().empty());
  // ARP from hosts that are not resolved targets teaches nothing.
  EXPECT_FALSE(t.on_arp(0, reply_from(kOther, "198.18.0.99"), 0.6));
  EXPECT_FALSE(t.mac(ip("198.18.0.99")));
}

TEST(Neighbours, FirstResolutionAnsweredByTwoMacsTrustsNeither) {
  NeighConfig cfg;
  NeighbourTable t(cfg);
  t.set_targets({target()}, 0);
  t.tick(0);
  EXPECT_TRUE(t.on_arp(0, reply_from(kOther), 0.01));  // the impostor is faster
  EXPECT_EQ(*t.mac(ip("198.18.0.11")), kOther);
  EXPECT_TRUE(t.on_arp(0, reply_from(kRs), 0.02)) << "a usable MAC went away: publish";
  EXPECT_FALSE(t.mac(ip("198.18.0.11")));
  EXPECT_EQ(t.entries().at(ip("198.18.0.11")).state, NeighState::kFailed);
  EXPECT_EQ(t.conflicts(), 1u);
  expect_event(t, NeighEvent::Kind::kConflictDropped, kOther, kRs);
  // Late answers to the old request teach nothing; the retry comes after failed_retry.
  EXPECT_FALSE(t.on_arp(0, reply_from(kRs), 0.5));
  EXPECT_TRUE(t.tick(1).send.empty());
  ASSERT_EQ(t.tick(0.02 + cfg.failed_retry).send.size(), 1u);
  // Only the server answers this time: resolved.
  EXPECT_TRUE(t.on_arp(0, reply_from(kRs), 0.03 + cfg.failed_retry));
  EXPECT_EQ(*t.mac(ip("198.18.0.11")), kRs);
  EXPECT_FALSE(t.on_arp(0, reply_from(kRs), 0.04 + cfg.failed_retry)) << "the same MAC again is no conflict";
  EXPECT_EQ(t.conflicts(), 1u);
}

TEST(Neighbours, ProbeAnsweredByAnotherMacKeepsTheKnownOne) {
  NeighConfig cfg;
  NeighbourTable t(cfg);
  resolve(t);
  const double probe = cfg.reachable_time + 1;
  ASSERT_EQ(t.tick(probe).send.size(), 1u);
  // An impostor answers the probe first, then the server.
  EXPECT_FALSE(t.on_arp(0, reply_from(kOther), probe + 0.01));
  EXPECT_EQ(*t.mac(ip("198.18.0.11")), kRs);
  EXPECT_FALSE(t.on_arp(0, reply_from(kRs), probe + 0.02));
  EXPECT_EQ(*t.mac(ip("198.18.0.11")), kRs);
  EXPECT_EQ(t.entries().at(ip("198.18.0.11")).state, NeighState::kReachable);
  EXPECT_EQ(t.conflicts(), 1u);
  expect_event(t, NeighEvent::Kind::kConflictKept, kRs, kOther);
  // The impostor alone in the next round, while the server still answers: never used.
  const double probe2 = probe + cfg.reachable_time + 1;
  t.tick(probe2);
  EXPECT_FALSE(t.on_arp(0, reply_from(kOther), probe2 + 0.01));
  EXPECT_FALSE(t.on_arp(0, reply_from(kRs), probe2 + 0.5));
  EXPECT_EQ(*t.mac(ip("198.18.0.11")), kRs);
  EXPECT_EQ(t.conflicts(), 2u);
}

TEST(Neighbours, MacMovesOnlyWhenTheOldOneIsSilentForARound) {
  const net::Mac kNewNic = mac("02:00:00:00:00:22");
  NeighConfig cfg;
  NeighbourTable t(cfg);
  resolve(t);
  const Round round = probe_round(t, cfg, cfg.reachable_time + 1, [&](double now) {
    EXPECT_EQ(*t.mac(ip("198.18.0.11")), kRs) << "still the old MAC while the round runs";
    t.on_arp(0, reply_from(kNewNic), now);  // only the new NIC answers
  });
  EXPECT_TRUE(round.changed);
  EXPECT_FALSE(round.lost);
  EXPECT_EQ(round.sent, cfg.max_probes);
  EXPECT_EQ(*t.mac(ip("198.18.0.11")), kNewNic);
  EXPECT_EQ(t.entries().at(ip("198.18.0.11")).state, NeighState::kReachable);
  expect_event(t, NeighEvent::Kind::kMoved, kRs, kNewNic);
  EXPECT_EQ(t.conflicts(), 0u);
}

TEST(Neighbours, TwoOthersAnsweringASilentServerAreBothRefused) {
  NeighConfig cfg;
  NeighbourTable t(cfg);
  resolve(t);
  const Round round = probe_round(t, cfg, cfg.reachable_time + 1, [&](double now) {
    t.on_arp(0, reply_from(kOther), now);
    t.on_arp(0, reply_from(mac("02:00:00:00:00:77")), now + 0.01);
  });
  EXPECT_TRUE(round.lost);
  EXPECT_FALSE(t.mac(ip("198.18.0.11")));
  EXPECT_EQ(t.entries().at(ip("198.18.0.11")).state, NeighState::kFailed);
  EXPECT_EQ(t.conflicts(), 1u);
}

TEST(Neighbours, TargetsComeAndGo) {
  NeighbourTable t;
  t.set_targets({target("198.18.0.11"), target("198.18.0.12")}, 0);
  EXPECT_EQ(t.tick(0).send.size(), 2u);
  t.on_arp(0, reply_from(kRs, "198.18.0.11"), 0.1);
  EXPECT_TRUE(t.set_targets({target("198.18.0.12")}, 1)) << "a resolved RS left: publish";
  EXPECT_FALSE(t.mac(ip("198.18.0.11")));
  EXPECT_FALSE(t.set_targets({target("198.18.0.12")}, 2)) << "unchanged";
}

// ---- IPv6: the same state machine, by neighbor solicitation ---------------------------

namespace {

net::Ipv6 a6(const char* s) { return *net::parse_ipv6(s); }
// The port's link-local address: where drfwd solicits from and is answered at.
const net::Ipv6 kPortLinkLocal = net::link_local(kPort);

NeighTarget target6(const char* addr = "2001:2::11") {
  return {net::IpAddr(a6(addr)), 0, 0, net::IpAddr(kPortLinkLocal), kPort};
}

// The server's answer to drfwd's multicast solicitation: solicited, to the link-local
// address at the port's MAC, with the target link-layer option.
net::Ndp advert_from(const net::Mac& m, const char* addr = "2001:2::11") {
  return net::ndp_advert(m, a6(addr), net::ndp_solicit(kPort, kPortLinkLocal, a6(addr)));
}

}  // namespace

// An IPv6 neighbour is resolved by a solicitation to its solicited-node group from the
// port's link-local address, confirmed later by one sent to its known MAC.
TEST(Neighbours, ResolvesIpv6BySolicitation) {
  NeighConfig cfg;
  NeighbourTable t(cfg);
  EXPECT_FALSE(t.set_targets({target6()}, 0));
  auto r = t.tick(0);
  EXPECT_TRUE(r.send.empty()) << "no ARP for an IPv6 neighbour";
  ASSERT_EQ(r.send6.size(), 1u);
  const net::Ndp& ns = r.send6[0].ndp;
  EXPECT_EQ(ns.type, net::kNdpNeighborSolicit);
  EXPECT_EQ(ns.target, a6("2001:2::11"));
  EXPECT_EQ(ns.src, kPortLinkLocal);
  EXPECT_EQ(ns.dst, a6("ff02::1:ff00:11"));
  EXPECT_EQ(ns.eth_dst, mac("33:33:ff:00:00:11"));
  EXPECT_EQ(ns.eth_src, kPort);
  EXPECT_EQ(ns.lladdr, kPort);
  EXPECT_TRUE(t.on_ndp(0, advert_from(kRs), 0.1));
  EXPECT_EQ(t.mac(net::IpAddr(a6("2001:2::11"))), kRs);
  EXPECT_TRUE(t.tick(10).send6.empty());
  auto probe = t.tick(cfg.reachable_time + 0.2);
  ASSERT_EQ(probe.send6.size(), 1u);
  EXPECT_EQ(probe.send6[0].ndp.eth_dst, kRs) << "unicast to the known MAC";
  EXPECT_EQ(probe.send6[0].ndp.dst, a6("2001:2::11"));
  EXPECT_FALSE(t.on_ndp(0, advert_from(kRs), cfg.reachable_time + 0.3)) << "the same MAC: no change";
  EXPECT_EQ(t.entries().at(net::IpAddr(a6("2001:2::11"))).state, NeighState::kReachable);
  // Unanswered: unreachable after max_probes solicitations, like ARP.
  const Round round = probe_round(t, cfg, 2 * cfg.reachable_time + 1, [](double) {});
  EXPECT_TRUE(round.changed && round.lost);
  EXPECT_EQ(round.sent, cfg.max_probes);
  EXPECT_FALSE(t.mac(net::IpAddr(a6("2001:2::11"))));
  EXPECT_EQ(t.entries().at(net::IpAddr(a6("2001:2::11"))).state, NeighState::kFailed);
}

// Found by review: Linux answers a unicast solicitation without the target link-layer
// option (RFC 4861 7.2.4 allows it), so every refresh of a Linux server's MAC went
// unanswered and was confirmed only by the round's later multicast solicitations (with
// max_probes 1: lost every reachable_time). Such an answer from the known MAC confirms
// it; from another MAC, or to a first resolution, it teaches nothing.
TEST(Neighbours, Ipv6RefreshAnsweredWithoutTheLinkLayerOptionConfirms) {
  NeighConfig cfg;
  NeighbourTable t(cfg);
  const net::IpAddr rs(a6("2001:2::11"));
  t.set_targets({target6()}, 0);
  t.tick(0);
  net::Ndp bare = advert_from(kRs);
  bare.lladdr.reset();
  EXPECT_FALSE(t.on_ndp(0, bare, 0.05)) << "a first resolution needs the MAC";
  EXPECT_FALSE(t.mac(rs));
  ASSERT_TRUE(t.on_ndp(0, advert_from(kRs), 0.1));
  const double probe = cfg.reachable_time + 1;
  auto r = t.tick(probe);
  ASSERT_EQ(r.send6.size(), 1u);
  // What Linux sends back: solicited, override clear, no option, from its MAC.
  const net::Ndp& ns = r.send6[0].ndp;
  net::Ndp linux_na = net::ndp_advert(kRs, ns.target, ns);
  linux_na.override_flag = false;
  linux_na.lladdr.reset();
  net::Ndp other = linux_na;
  other.eth_src = kOther;
  EXPECT_FALSE(t.on_ndp(0, other, probe + 0.01));
  EXPECT_EQ(t.entries().at(rs).state, NeighState::kProbe) << "not from the MAC it was sent to";
  EXPECT_FALSE(t.on_ndp(0, linux_na, probe + 0.02));
  EXPECT_EQ(t.entries().at(rs).state, NeighState::kReachable);
  EXPECT_EQ(t.mac(rs), kRs);
  EXPECT_TRUE(t.tick(probe + cfg.retrans_time).send6.empty()) << "confirmed: no further solicitation";
  EXPECT_EQ(t.conflicts(), 0u);
  // With a single probe per round, the server is not lost for answering as Linux does.
  NeighConfig one = cfg;
  one.max_probes = 1;
  NeighbourTable t1(one);
  t1.set_targets({target6()}, 0);
  t1.tick(0);
  ASSERT_TRUE(t1.on_ndp(0, advert_from(kRs), 0.1));
  ASSERT_EQ(t1.tick(probe).send6.size(), 1u);
  t1.on_ndp(0, linux_na, probe + 0.01);
  const auto after = t1.tick(probe + one.retrans_time);
  EXPECT_TRUE(after.lost.empty());
  EXPECT_EQ(t1.mac(rs), kRs);
}

// Found by review: an advertisement for an IPv4-mapped target (::ffff:198.18.0.11) is
// about no IPv6 neighbour; as an IpAddr it named the IPv4 neighbour, so a solicited-looking
// NA to ::ffff:<DIP> taught an ARP neighbour's MAC.
TEST(Neighbours, AnIpv4MappedAdvertisementTeachesNoArpNeighbour) {
  NeighbourTable t;
  t.set_targets({target()}, 0);
  ASSERT_EQ(t.tick(0).send.size(), 1u);  // an ARP request outstanding
  net::Ndp na = net::ndp_advert(kOther, a6("::ffff:198.18.0.11"),
                                net::ndp_solicit(kPort, a6("::ffff:198.18.0.2"), a6("::ffff:198.18.0.11")));
  ASSERT_EQ(net::IpAddr(na.target), net::IpAddr(ip("198.18.0.11")));
  EXPECT_FALSE(t.on_ndp(0, na, 0.05));
  EXPECT_FALSE(t.mac(ip("198.18.0.11")));
  EXPECT_TRUE(t.on_arp(0, reply_from(kRs), 0.1)) << "the server's own answer resolves it";
  EXPECT_EQ(t.mac(ip("198.18.0.11")), kRs);
  EXPECT_EQ(t.conflicts(), 0u);
}

namespace {
HealthTarget htarget(uint32_t slot, config::CheckKind kind = config::CheckKind::kTcp) {
  HealthTarget t;
  t.slot = slot;
  t.gen = 1;
  t.ip = ip("198.18.0.11");
  t.port = 80;
  t.spec.kind = kind;
  t.name = "rs";
  return t;
}
}  // namespace

TEST(Health, FallAndRise) {
  auto prober = std::make_unique<FakeProber>();
  FakeProber* p = prober.get();
  HealthChecker hc(std::move(prober));
  hc.set_targets({htarget(3)}, 0);
  EXPECT_TRUE(hc.healthy(3));
  double t = 0;
  auto step = [&](bool ok) {
    p->results.push_back({ok, ok ? "connected" : "refused"});
    auto c = hc.run(t);  // collects the previous probe's result, starts the next
    t += 0.5;
    return c;
  };
  hc.run(t);  // first probe starts
  t += 0.5;
  EXPECT_TRUE(step(false).empty());
  EXPECT_TRUE(step(false).empty());
  auto down = step(false);  // fall = 3
  ASSERT_EQ(down.size(), 1u);
  EXPECT_FALSE(down[0].up);
  EXPECT_FALSE(hc.healthy(3));
  EXPECT_EQ(hc.status(3)->last, "refused");
  EXPECT_TRUE(step(true).empty());
  auto up = step(true);  // rise = 2
  ASSERT_EQ(up.size(), 1u);
  EXPECT_TRUE(up[0].up);
  EXPECT_TRUE(hc.healthy(3));
  // A failure between successes resets the count: no flapping faster than fall allows.
  step(false);
  step(true);
  step(false);
  step(false);
  EXPECT_TRUE(hc.healthy(3));
  EXPECT_GE(p->started, 10u);
}

TEST(Health, OneProbeAtATimeAndIntervalHonoured) {
  auto prober = std::make_unique<FakeProber>();
  FakeProber* p = prober.get();
  HealthChecker hc(std::move(prober));
  hc.set_targets({htarget(1)}, 0);
  hc.run(0);
  hc.run(0.1);
  hc.run(2.0);  // the first probe is still running: no second one
  EXPECT_EQ(p->started, 1u);
  p->results.push_back({true, "ok"});
  hc.run(2.1);  // result in; the next probe was due (interval passed): starts now
  EXPECT_EQ(p->started, 2u);
  p->results.push_back({true, "ok"});
  hc.run(2.2);  // result in, next not due before 2.6
  EXPECT_EQ(p->started, 2u);
  hc.run(2.7);
  EXPECT_EQ(p->started, 3u);
}

TEST(Health, UncheckedAndChangedTargets) {
  auto prober = std::make_unique<FakeProber>();
  FakeProber* p = prober.get();
  HealthChecker hc(std::move(prober));
  hc.set_targets({htarget(1, config::CheckKind::kNone)}, 0);
  hc.run(0);
  hc.run(5);
  EXPECT_EQ(p->started, 0u);
  EXPECT_TRUE(hc.healthy(1));
  EXPECT_FALSE(hc.status(1)->checked);
  // A changed target restarts up; its running probe is cancelled.
  hc.set_targets({htarget(1)}, 6);
  hc.run(6);
  EXPECT_EQ(p->running.size(), 1u);
  auto changed = htarget(1);
  changed.port = 8080;
  hc.set_targets({changed}, 7);
  EXPECT_TRUE(p->running.empty());
  EXPECT_TRUE(hc.healthy(1));
  EXPECT_TRUE(hc.healthy(99)) << "unknown slots are not held back";
}

// `initial down` (keepalived's alpha): down from the start, up at the first passing
// probe whatever rise says (failures before it change nothing); after that rise and
// fall as usual. A changed target starts down again; an unchecked one is always up.
TEST(Health, InitialDownComesUpAtItsFirstPassingProbe) {
  auto prober = std::make_unique<FakeProber>();
  FakeProber* p = prober.get();
  HealthChecker hc(std::move(prober));
  auto t = htarget(2);
  t.spec.initial_down = true;
  t.spec.rise = 3;
  EXPECT_TRUE(hc.set_targets({t}, 0)) << "the slot's health changed: down";
  EXPECT_EQ(hc.health(2), lb::Health::kDown);
  double now = 0;
  auto step = [&](bool ok) {
    p->results.push_back({ok, ok ? "connected" : "refused"});
    return hc.run(now += 0.5);
  };
  hc.run(now);
  EXPECT_TRUE(step(false).empty());
  EXPECT_TRUE(step(false).empty());
  auto up = step(true);
  ASSERT_EQ(up.size(), 1u);
  EXPECT_TRUE(up[0].up);
  EXPECT_TRUE(hc.healthy(2));
  for (int i = 0; i < 3; ++i) step(false);  // fall 3
  EXPECT_FALSE(hc.healthy(2));
  EXPECT_TRUE(step(true).empty());
  EXPECT_TRUE(step(true).empty());
  EXPECT_EQ(step(true).size(), 1u) << "rise 3 once it has been up";
  t.port = 8080;
  EXPECT_TRUE(hc.set_targets({t}, now));
  EXPECT_FALSE(hc.healthy(2)) << "a changed check starts down again";
  auto none = htarget(2, config::CheckKind::kNone);
  none.spec.initial_down = true;  // inherited from a level that named no kind
  EXPECT_TRUE(hc.set_targets({none}, now));
  EXPECT_EQ(hc.health(2), lb::Health::kUnchecked);
}

// A probe the prober did not run (too many exec checks at once) neither passes nor
// fails; it is counted, and the next one starts at the next interval.
TEST(Health, SkippedProbesNeitherPassNorFail) {
  auto prober = std::make_unique<FakeProber>();
  FakeProber* p = prober.get();
  HealthChecker hc(std::move(prober));
  auto t = htarget(1);
  t.spec.initial_down = true;
  hc.set_targets({t}, 0);
  hc.run(0);
  p->results.push_back({false, "skipped", true});
  EXPECT_TRUE(hc.run(0.1).empty());
  EXPECT_EQ(hc.skipped(), 1u);
  EXPECT_EQ(hc.status(1)->probes, 0u);
  EXPECT_EQ(hc.status(1)->failures, 0u);
  EXPECT_EQ(p->started, 1u) << "not before the interval";
  hc.run(0.5);
  EXPECT_EQ(p->started, 2u);
  p->results.push_back({true, "exit 0"});
  EXPECT_EQ(hc.run(0.6).size(), 1u);
  EXPECT_TRUE(hc.healthy(1));
}

TEST(CheckGrammar, FormsAndLevels) {
  using config::CheckKind;
  auto c = config::parse_line("vip add 198.18.1.10 tcp 80 sched rr check http path /health expect 204 host www interval 2s timeout 500ms rise 1 fall 4");
  auto& va = std::get<config::cmd::VipAdd>(*c);
  ASSERT_TRUE(va.opts.check);
  EXPECT_EQ(*va.opts.check->kind, CheckKind::kHttp);
  EXPECT_EQ(*va.opts.check->path, "/health");
  EXPECT_EQ(*va.opts.check->expect, 204);
  EXPECT_EQ(*va.opts.check->interval_ms, 2000u);
  EXPECT_EQ(*va.opts.check->timeout_ms, 500u);
  EXPECT_EQ(config::to_string(*va.opts.check), "http path /health expect 204 host www interval 2s timeout 500ms rise 1 fall 4");

  config::Model m(1);
  m.apply(*config::parse_line("set check interval 1 fall 2"));
  m.apply(*config::parse_line("vip add 198.18.1.10 tcp 80"));
  m.apply(*config::parse_line("vip add 198.18.1.10 udp 53"));
  m.apply(*config::parse_line("rs add 198.18.1.10 tcp 80 198.18.0.11"));
  m.apply(*config::parse_line("rs add 198.18.1.10 tcp 80 198.18.0.12 check tcp port 8080"));
  m.apply(*config::parse_line("rs add 198.18.1.10 udp 53 198.18.0.11"));
  m.apply(*config::parse_line("rs add 198.18.1.10 udp 53 198.18.0.12 check tcp port 53"));
  const auto& web = m.services()[0];
  const auto& dns = m.services()[1];
  auto c1 = m.effective_check(web, web.rs[0]);
  EXPECT_EQ(c1.kind, CheckKind::kTcp);  // TCP services: tcp on the service port by default
  EXPECT_EQ(c1.port, 0);
  EXPECT_EQ(c1.interval_ms, 1000u);
  EXPECT_EQ(c1.fall, 2);
  EXPECT_EQ(c1.rise, 2);
  EXPECT_EQ(m.effective_check(web, web.rs[1]).port, 8080);
  EXPECT_EQ(m.effective_check(dns, dns.rs[0]).kind, CheckKind::kNone);  // UDP: none unless named
  EXPECT_EQ(m.effective_check(dns, dns.rs[1]).kind, CheckKind::kTcp);
  m.apply(*config::parse_line("rs set 198.18.1.10 tcp 80 198.18.0.12 check default"));
  EXPECT_EQ(m.effective_check(m.services()[0], m.services()[0].rs[1]).port, 0);  // apply replaced the services: no stale references
  m.apply(*config::parse_line("vip set 198.18.1.10 tcp 80 check none"));
  EXPECT_EQ(m.effective_check(m.services()[0], m.services()[0].rs[0]).kind, CheckKind::kNone);
}

// Found by fuzz-grammar: a level's settings, merged over several commands, must stay
// consistent, or show config prints a check clause that does not load back.
TEST(CheckGrammar, LevelsStayConsistentAcrossCommands) {
  config::Model m(1);
  m.apply(*config::parse_line("vip add 198.18.1.10 tcp 80 check http path /h expect 204 interval 500ms"));
  m.apply(*config::parse_line("rs add 198.18.1.10 tcp 80 198.18.0.11"));
  const std::string before = config::model_to_commands(m);
  try {
    m.apply(*config::parse_line("vip set 198.18.1.10 tcp 80 check timeout 2s"));
    FAIL() << "timeout above the level's interval accepted";
  } catch (const config::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("must not exceed its interval 500ms"), std::string::npos) << e.what();
  }
  EXPECT_EQ(config::model_to_commands(m), before) << "a refused command changed nothing";
  m.apply(*config::parse_line("vip set 198.18.1.10 tcp 80 check timeout 2s interval 3s"));
  m.apply(*config::parse_line("vip set 198.18.1.10 tcp 80 check tcp port 8080"));  // http settings go
  EXPECT_EQ(config::to_string(m.services()[0].check), "tcp port 8080 interval 3s timeout 2s");
  m.apply(*config::parse_line("vip set 198.18.1.10 tcp 80 check none"));  // everything goes
  EXPECT_EQ(config::to_string(m.services()[0].check), "none");
  EXPECT_THROW(m.apply(*config::parse_line("vip set 198.18.1.10 tcp 80 check port 81")), config::ConfigError);
  config::Model again(1);
  config::load_text("show config", config::model_to_commands(m), again);
  EXPECT_EQ(config::model_to_commands(again), config::model_to_commands(m));
}

TEST(CheckGrammar, Refusals) {
  for (const char* bad : {"vip add 198.18.1.10 tcp 80 check ping", "vip add 198.18.1.10 tcp 80 check tcp path /x",
                          "vip add 198.18.1.10 tcp 80 check http path health",
                          "vip add 198.18.1.10 tcp 80 check http expect 700",
                          "vip add 198.18.1.10 tcp 80 check tcp interval 1 timeout 2",
                          "vip add 198.18.1.10 tcp 80 check tcp interval 10ms",
                          "vip add 198.18.1.10 tcp 80 check tcp interval x",
                          "vip add 198.18.1.10 tcp 80 check none interval 1",
                          "vip add 198.18.1.10 tcp 80 check tcp rise 0", "vip add 198.18.1.10 tcp 80 check tcp fall",
                          "rs set 198.18.1.10 tcp 80 198.18.0.11", "set check", "set check default"}) {
    EXPECT_THROW(
        {
          config::Model m(1);
          m.apply(*config::parse_line("vip add 198.18.1.20 tcp 80"));
          m.apply(*config::parse_line(bad));
        },
        config::ConfigError)
        << bad;
  }
}

// `initial up|down` (keepalived's alpha): parsed, inherited set check -> vip -> rs,
// printed back by show config; refused on a none check (it would never come up).
TEST(CheckGrammar, Initial) {
  config::Model m(1);
  m.apply(*config::parse_line("set check initial down"));
  m.apply(*config::parse_line("vip add 198.18.1.10 tcp 80"));
  m.apply(*config::parse_line("vip add 198.18.1.10 udp 53"));
  m.apply(*config::parse_line("rs add 198.18.1.10 tcp 80 198.18.0.11"));
  m.apply(*config::parse_line("rs add 198.18.1.10 tcp 80 198.18.0.12 check initial up"));
  m.apply(*config::parse_line("rs add 198.18.1.10 udp 53 198.18.0.11"));
  const auto& web = m.services()[0];
  EXPECT_TRUE(m.effective_check(web, web.rs[0]).initial_down) << "set check's initial down inherited";
  EXPECT_FALSE(m.effective_check(web, web.rs[1]).initial_down) << "the RS's own over it";
  EXPECT_EQ(m.effective_check(m.services()[1], m.services()[1].rs[0]).kind, config::CheckKind::kNone)
      << "UDP: unchecked (and so up) unless a kind is named";
  m.apply(*config::parse_line("vip set 198.18.1.10 tcp 80 check http path /h initial down"));
  EXPECT_EQ(config::to_string(m.services()[0].check), "http path /h initial down");
  const std::string shown = config::model_to_commands(m);
  EXPECT_NE(shown.find("set check initial down\n"), std::string::npos) << shown;
  EXPECT_NE(shown.find("198.18.0.12 weight 1 check initial up\n"), std::string::npos) << shown;
  config::Model again(1);
  config::load_text("show config", shown, again);
  EXPECT_EQ(config::model_to_commands(again), shown);
  for (const char* bad : {"vip add 198.18.1.20 tcp 80 check none initial down",  // never up
                          "vip add 198.18.1.20 tcp 80 check none initial up",    // none takes nothing
                          "vip add 198.18.1.20 tcp 80 check tcp initial sideways",
                          "vip add 198.18.1.20 tcp 80 check tcp initial"})
    EXPECT_THROW(m.apply(*config::parse_line(bad)), config::ConfigError) << bad;
  m.apply(*config::parse_line("vip add 198.18.1.20 tcp 80 check initial down"));
  EXPECT_THROW(m.apply(*config::parse_line("vip set 198.18.1.20 tcp 80 check none initial down")), config::ConfigError);
}

// `exec ... command <the rest of the line>` (keepalived's MISC_CHECK): parsed,
// inherited set check -> vip -> rs, printed back (command last) by show config.
TEST(CheckGrammar, Exec) {
  using config::CheckKind;
  auto c = config::parse_line(
      "rs add 198.18.1.10 tcp 80 198.18.0.11 check exec interval 2s timeout 1s fall 2 initial down command "
      "/usr/local/bin/probe   --host 198.18.0.11\tport 80");
  const auto& check = *std::get<config::cmd::RsAdd>(*c).check;
  EXPECT_EQ(*check.kind, CheckKind::kExec);
  EXPECT_EQ(*check.command, "/usr/local/bin/probe --host 198.18.0.11 port 80") << "words joined by single spaces";
  EXPECT_EQ(config::to_string(check),
            "exec interval 2s timeout 1s fall 2 initial down command /usr/local/bin/probe --host 198.18.0.11 port 80");
  // Keywords after `command` are the command's; '#' ends the line before the grammar sees it.
  auto tail = config::parse_line("set check exec command test -f /run/up interval 5s # comment");
  EXPECT_EQ(*std::get<config::cmd::SetCheck>(*tail).check.command, "test -f /run/up interval 5s");
  EXPECT_FALSE(std::get<config::cmd::SetCheck>(*tail).check.interval_ms);

  config::Model m(1);
  m.apply(*config::parse_line("set check exec command /bin/true"));
  m.apply(*config::parse_line("vip add 198.18.1.10 tcp 80"));
  m.apply(*config::parse_line("vip add 198.18.1.10 tcp 443 check http path /h"));
  m.apply(*config::parse_line("rs add 198.18.1.10 tcp 80 198.18.0.11"));
  m.apply(*config::parse_line("rs add 198.18.1.10 tcp 80 198.18.0.12 check initial down command /bin/check 198.18.0.12"));
  m.apply(*config::parse_line("rs add 198.18.1.10 tcp 443 198.18.0.11"));
  const auto& web = m.services()[0];
  const auto e1 = m.effective_check(web, web.rs[0]);
  EXPECT_EQ(e1.kind, CheckKind::kExec);
  EXPECT_EQ(e1.command, "/bin/true");
  EXPECT_EQ(m.effective_check(web, web.rs[1]).command, "/bin/check 198.18.0.12") << "the RS's command over set check's";
  EXPECT_EQ(m.effective_check(m.services()[1], m.services()[1].rs[0]).kind, CheckKind::kHttp);
  // A new kind drops what does not apply to it: exec the http settings, tcp the command.
  m.apply(*config::parse_line("vip set 198.18.1.10 tcp 443 check exec command /bin/false"));
  EXPECT_EQ(config::to_string(m.services()[1].check), "exec command /bin/false");
  m.apply(*config::parse_line("vip set 198.18.1.10 tcp 443 check tcp port 8443"));
  EXPECT_EQ(config::to_string(m.services()[1].check), "tcp port 8443");
  m.apply(*config::parse_line("vip set 198.18.1.10 tcp 80 check exec command /bin/true"));
  m.apply(*config::parse_line("vip set 198.18.1.10 tcp 80 check timeout 300ms command /bin/true --again"));
  EXPECT_EQ(config::to_string(m.services()[0].check), "exec timeout 300ms command /bin/true --again");

  const std::string shown = config::model_to_commands(m);
  EXPECT_NE(shown.find("set check exec command /bin/true\n"), std::string::npos) << shown;
  EXPECT_NE(shown.find(" check initial down command /bin/check 198.18.0.12\n"), std::string::npos) << shown;
  config::Model again(1);
  config::load_text("show config", shown, again);
  EXPECT_EQ(config::model_to_commands(again), shown);
}

TEST(CheckGrammar, ExecRefusals) {
  for (const char* bad : {
           "vip add 198.18.1.10 tcp 80 check none command /bin/true",
           "vip add 198.18.1.10 tcp 80 check exec",                           // no command
           "vip add 198.18.1.10 tcp 80 check exec interval 2s",               // no command
           "vip add 198.18.1.10 tcp 80 check exec command",                   // an empty one
           "vip add 198.18.1.10 tcp 80 check exec command # all comment",
           "vip add 198.18.1.10 tcp 80 check exec port 80 command /bin/true",
           "vip add 198.18.1.10 tcp 80 check exec path /h command /bin/true",
           "vip add 198.18.1.10 tcp 80 check exec expect 200 command /bin/true",
           "vip add 198.18.1.10 tcp 80 check exec host www command /bin/true",
           "vip add 198.18.1.10 tcp 80 check exec command /bin/t\x01rue",
           "vip add 198.18.1.10 tcp 80 check tcp command /bin/true",
           "vip add 198.18.1.10 tcp 80 check http command /bin/true",
           "vip add 198.18.1.10 tcp 80 check exec interval 1s timeout 2s command /bin/true",
           "vip set 198.18.1.20 tcp 80 check port 81",          // exec at this level: port does not apply
           "vip set 198.18.1.20 tcp 80 check exec interval 1s",  // exec named: its command too
       }) {
    config::Model m(1);
    m.apply(*config::parse_line("vip add 198.18.1.20 tcp 80 check exec command /bin/true"));
    const std::string before = config::model_to_commands(m);
    EXPECT_THROW(m.apply(*config::parse_line(bad)), config::ConfigError) << bad;
    EXPECT_EQ(config::model_to_commands(m), before) << bad;
  }
  const std::string longest(config::kMaxCheckCommand, 'x');
  EXPECT_NO_THROW(config::parse_line("set check exec command " + longest));
  EXPECT_THROW(config::parse_line("set check exec command " + longest + "x"), config::ConfigError);
}

// ---- rtnetlink messages (control/netlink.hpp) ----------------------------------------

namespace {

// An RTM_NEWADDR / RTM_DELADDR as the kernel sends it: ifaddrmsg, IFA_ADDRESS, IFA_LOCAL.
std::vector<uint8_t> addr_message(uint16_t type, uint32_t seq, int ifindex, const char* addr, uint8_t len) {
  std::vector<uint8_t> m(NLMSG_LENGTH(sizeof(ifaddrmsg)), 0);
  auto* ifa = reinterpret_cast<ifaddrmsg*>(NLMSG_DATA(reinterpret_cast<nlmsghdr*>(m.data())));
  const net::IpAddr a6 = *net::parse_ip(addr);
  ifa->ifa_family = a6.is_v4() ? AF_INET : AF_INET6;
  ifa->ifa_prefixlen = len;
  ifa->ifa_index = static_cast<uint32_t>(ifindex);
  const size_t size = a6.is_v4() ? 4 : 16;
  const uint32_t be = a6.is_v4() ? a6.v4().be() : 0;
  const void* bytes = a6.is_v4() ? static_cast<const void*>(&be) : a6.v6().bytes.data();
  for (uint16_t attr : {IFA_ADDRESS, IFA_LOCAL}) {
    rtattr a{static_cast<unsigned short>(RTA_LENGTH(size)), attr};
    const size_t at = m.size();
    m.resize(at + RTA_SPACE(size));
    std::memcpy(&m[at], &a, sizeof a);
    std::memcpy(&m[at + RTA_LENGTH(0)], bytes, size);
  }
  auto* h = reinterpret_cast<nlmsghdr*>(m.data());
  h->nlmsg_len = static_cast<uint32_t>(m.size());
  h->nlmsg_type = type;
  h->nlmsg_seq = seq;
  return m;
}

}  // namespace

TEST(Netlink, AddressesAcksAndDumpEndsAreParsed) {
  std::vector<uint8_t> d = addr_message(RTM_NEWADDR, 0, 7, "198.18.0.100", 32);
  const auto del = addr_message(RTM_DELADDR, 9, 7, "198.18.0.2", 24);
  d.insert(d.end(), del.begin(), del.end());
  const auto v6 = addr_message(RTM_NEWADDR, 0, 7, "2001:2::100", 128);
  d.insert(d.end(), v6.begin(), v6.end());
  nlmsghdr done{NLMSG_LENGTH(4), NLMSG_DONE, 0, 9, 0};
  d.insert(d.end(), reinterpret_cast<uint8_t*>(&done), reinterpret_cast<uint8_t*>(&done) + sizeof done);
  d.resize(d.size() + 4, 0);
  std::vector<uint8_t> err(NLMSG_LENGTH(sizeof(nlmsgerr)), 0);
  auto* eh = reinterpret_cast<nlmsghdr*>(err.data());
  *eh = nlmsghdr{static_cast<uint32_t>(err.size()), NLMSG_ERROR, 0, 12, 0};
  reinterpret_cast<nlmsgerr*>(NLMSG_DATA(eh))->error = -EEXIST;
  d.insert(d.end(), err.begin(), err.end());

  const auto events = netlink::parse(d.data(), d.size());
  ASSERT_EQ(events.size(), 5u);
  const auto& a = std::get<netlink::AddrEvent>(events[0]);
  EXPECT_TRUE(a.added);
  EXPECT_EQ(a.ifindex, 7);
  EXPECT_EQ(a.address, net::IpAddr(ip("198.18.0.100")));
  EXPECT_EQ(a.len, 32);
  EXPECT_EQ(a.seq, 0u) << "a notification";
  const auto& b = std::get<netlink::AddrEvent>(events[1]);
  EXPECT_FALSE(b.added);
  EXPECT_EQ(b.seq, 9u);
  const auto& c = std::get<netlink::AddrEvent>(events[2]);
  EXPECT_EQ(c.address, *net::parse_ip("2001:2::100")) << "IPv6 addresses too (vip-arp kernel for IPv6 VIPs)";
  EXPECT_EQ(c.len, 128);
  EXPECT_EQ(std::get<netlink::DumpDone>(events[3]).seq, 9u);
  EXPECT_EQ(std::get<netlink::Ack>(events[4]).error, -EEXIST);
  EXPECT_EQ(std::get<netlink::Ack>(events[4]).seq, 12u);
  EXPECT_TRUE(netlink::parse(d.data(), 10).empty()) << "a message cut short is not read";
}

// Garbled lengths end the walk where the kernel's macros would, with nothing read past
// the bytes given (the ASan build runs this): a message or attribute shorter than its
// header, or longer than what is there.
TEST(Netlink, GarbledLengthsEndTheWalk) {
  const auto good = addr_message(RTM_NEWADDR, 0, 7, "198.18.0.100", 32);
  ASSERT_EQ(netlink::parse(good.data(), good.size()).size(), 1u);
  for (const uint32_t len : {0u, 8u, static_cast<uint32_t>(good.size() + 1)}) {
    auto m = good;
    std::memcpy(&m[0], &len, 4);
    EXPECT_TRUE(netlink::parse(m.data(), m.size()).empty()) << "message length " << len;
  }
  auto two = good;
  two.resize(good.size() + NLMSG_HDRLEN, 0);  // then a message of length 0
  EXPECT_EQ(netlink::parse(two.data(), two.size()).size(), 1u);
  // The first attribute's (IFA_ADDRESS) length: the walk stops there, IFA_LOCAL unread,
  // so the message has no address and is skipped.
  constexpr size_t kAttr = NLMSG_LENGTH(sizeof(ifaddrmsg));
  for (const uint16_t len : {uint16_t{0}, uint16_t{3}, static_cast<uint16_t>(good.size() - kAttr + 1)}) {
    auto m = good;
    std::memcpy(&m[kAttr], &len, 2);
    EXPECT_TRUE(netlink::parse(m.data(), m.size()).empty()) << "attribute length " << len;
  }
  // An item filling the bytes left is read; then the walk ends without moving past them.
  netlink::Walk<rtattr> w{good.data() + kAttr, RTA_LENGTH(4)};
  ASSERT_TRUE(w.ok());
  w.next();
  EXPECT_FALSE(w.ok());
  EXPECT_EQ(w.at, good.data() + kAttr);
}

TEST(Netlink, RouteMessagesCarryDrfwdsProtocolAndTable) {
  for (uint32_t table : {100u, 1000u}) {
    const auto m = netlink::route(true, 5, ip("198.18.0.100"), 9, table);
    const auto* h = reinterpret_cast<const nlmsghdr*>(m.data());
    EXPECT_EQ(h->nlmsg_len, m.size());
    EXPECT_EQ(h->nlmsg_type, RTM_NEWROUTE);
    EXPECT_EQ(h->nlmsg_seq, 5u);
    EXPECT_TRUE(h->nlmsg_flags & NLM_F_ACK);
    EXPECT_TRUE(h->nlmsg_flags & NLM_F_REPLACE) << "adding again replaces, never duplicates";
    const auto* r = static_cast<const rtmsg*>(NLMSG_DATA(h));
    EXPECT_EQ(r->rtm_protocol, netlink::kRouteProtocol);
    EXPECT_EQ(r->rtm_dst_len, 32);
    EXPECT_EQ(r->rtm_table, table < 256 ? table : RT_TABLE_UNSPEC);
    std::map<int, uint32_t> attrs;
    for (netlink::Walk<rtattr> w{reinterpret_cast<const uint8_t*>(r) + NLMSG_ALIGN(sizeof(rtmsg)), RTM_PAYLOAD(h)};
         w.ok(); w.next()) {
      const rtattr* a = w.get();
      uint32_t v;
      std::memcpy(&v, RTA_DATA(a), 4);
      attrs[a->rta_type] = v;
    }
    EXPECT_EQ(attrs[RTA_DST], ip("198.18.0.100").be());
    EXPECT_EQ(attrs[RTA_OIF], 9u);
    EXPECT_EQ(attrs[RTA_TABLE], table);
  }
  const auto del = netlink::route(false, 6, ip("198.18.0.100"), 9, 100);
  const auto r6 = netlink::route(true, 7, *net::parse_ip("2001:2::100"), 9, 100);
  const auto* r6m = static_cast<const rtmsg*>(NLMSG_DATA(reinterpret_cast<const nlmsghdr*>(r6.data())));
  EXPECT_EQ(r6m->rtm_family, AF_INET6);
  EXPECT_EQ(r6m->rtm_dst_len, 128) << "a /128 host route";
  EXPECT_EQ(reinterpret_cast<const nlmsghdr*>(del.data())->nlmsg_type, RTM_DELROUTE);
}
