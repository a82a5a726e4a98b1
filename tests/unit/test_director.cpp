// The director's decisions without EAL: batches applied whole or not at all, what each
// publishes, which ARP it answers, what a control round sends and publishes. Snapshots
// go to a recording sink (and, once, to the real Publisher over DPDK's RCU library).
#include <gtest/gtest.h>
#include <rte_rcu_qsbr.h>

#include <algorithm>
#include <initializer_list>
#include <set>
#include <string_view>

#include "config/command.hpp"
#include "config/model.hpp"
#include "config/reconcile.hpp"
#include "config/show_config.hpp"
#include "control/director.hpp"
#include "control/publisher.hpp"
#include "control/status.hpp"
#include "net/ndp.hpp"
#include "control_fakes.hpp"
#include "specs.hpp"

using namespace drfwd;
using namespace drfwd::control;
using drfwd::test::FakeProber;
using drfwd::test::ip;
using drfwd::test::mac;
using drfwd::test::port_mac;
using drfwd::test::RecordingSink;
using Action = ArpDecision::Action;
using NdpAction = NdpDecision::Action;

namespace {

const net::Mac kMac11 = mac("02:00:00:00:00:11");
const net::Mac kMac12 = mac("02:00:00:00:00:12");
const net::Mac kImpostor = mac("02:00:00:00:00:66");
const net::Mac kClient = mac("02:00:00:00:01:01");

// Port 0 holds the real servers' subnet; 198.18.0.100 is in it (answered on port 0
// only), 198.18.1.10 is in no port's subnet (answered on every port). 198.18.0.11 has a
// static neighbour, 198.18.0.12 is resolved by ARP.
const std::initializer_list<std::string_view> kBase = {
    "port 0 address 198.18.0.2/24",
    "port 1 address 198.18.4.2/24",
    "vip add 198.18.0.100 tcp 80 sched rr",
    "rs add 198.18.0.100 tcp 80 198.18.0.11",
    "rs add 198.18.0.100 tcp 80 198.18.0.12",
    "vip add 198.18.1.10 tcp 80 sched wrr",
    "rs add 198.18.1.10 tcp 80 198.18.0.11",
    "neigh add 198.18.0.11 02:00:00:00:00:11",
};

// A service with one RS, new to kBase.
const std::vector<std::string_view> kNewService = {"vip add 198.18.0.200 tcp 80", "rs add 198.18.0.200 tcp 80 198.18.0.13"};

std::vector<config::Command> commands(const std::vector<std::string_view>& lines) {
  std::vector<config::Command> out;
  for (std::string_view l : lines) out.push_back(*config::parse_line(l));
  return out;
}

const lb::ServiceTable* table_of(const lb::Snapshot* s, const char* vip, uint16_t port,
                                 uint8_t proto = net::kProtoTcp) {
  return s->find(ip(vip).be(), net::hton16(port), proto);
}

net::Arp who_has(const char* target, const char* sender = "198.18.0.50", const net::Mac& sender_mac = kClient) {
  return net::arp_request(sender_mac, ip(sender), ip(target));
}

DirectorSetup two_ports() {
  DirectorSetup s;
  s.port_macs = {port_mac(0), port_mac(1)};
  return s;
}

// One port: every real server is reached through it, IPv6 ones too (no interface has an
// IPv6 subnet yet, so with several ports only a static neighbour names an IPv6 server's).
DirectorSetup one_port() {
  DirectorSetup s;
  s.port_macs = {port_mac(0)};
  return s;
}

// ---- IPv6 helpers ----

// Either family, as the configuration writes it.
net::IpAddr addr(const char* s) { return *net::parse_ip(s); }
net::Ipv6 a6(const char* s) { return *net::parse_ipv6(s); }
net::IpAddr ip6(const char* s) { return net::IpAddr(a6(s)); }

// An NDP message as a port receives it: built and parsed, so it passes RFC 4861's checks.
net::Ndp wire(const net::Ndp& n) {
  uint8_t buf[net::kNdpMaxFrameLen];
  const auto parsed = net::parse_ndp(buf, net::build_ndp(buf, n));
  EXPECT_TRUE(parsed) << "not a valid NS or NA";
  return parsed.value_or(n);
}

// A host's solicitation for `target`: to its solicited-node group, with its link-layer
// address (none from the unspecified address: duplicate address detection).
net::Ndp ns_for(const char* target, const char* sender = "2001:2::50", const net::Mac& sender_mac = kClient) {
  return wire(net::ndp_solicit(sender_mac, a6(sender), a6(target)));
}

// A real server's answer to drfwd's solicitation from port `port`: solicited, to the
// port's link-local address at its MAC, with the target link-layer address `m`.
net::Ndp na_from(const net::Mac& m, const char* rs, uint16_t port = 0) {
  const net::Mac pm = port_mac(port);
  return wire(net::ndp_advert(m, a6(rs), net::ndp_solicit(pm, net::link_local(pm), a6(rs))));
}

// 2001:2::100 with two servers: 2001:2::11 a static neighbour on port 0, 2001:2::12 with
// none; no interface has an IPv6 subnet, so the VIP is answered on every interface. An
// IPv4 service besides.
const std::initializer_list<std::string_view> kBase6 = {
    "port 0 address 198.18.0.2/24",
    "vip add 2001:2::100 tcp 80 sched rr",
    "rs add 2001:2::100 tcp 80 2001:2::11",
    "rs add 2001:2::100 tcp 80 2001:2::12",
    "neigh add 2001:2::11 02:00:00:00:00:11 port 0",
    "vip add 198.18.0.100 tcp 80",
    "rs add 198.18.0.100 tcp 80 198.18.0.12",
};

// One IPv6 server to resolve (with one_port()).
const std::initializer_list<std::string_view> kOne6 = {
    "port 0 address 198.18.0.2/24", "vip add 2001:2::100 tcp 80 sched rr", "rs add 2001:2::100 tcp 80 2001:2::12"};

// What must not move when a batch is refused.
struct State {
  std::string config;
  const lb::Snapshot* snapshot;
  uint64_t published, publishes;
  size_t history;
  bool operator==(const State&) const = default;
};

void PrintTo(const State& s, std::ostream* os) {
  *os << "published " << s.published << ", publishes " << s.publishes << ", snapshot " << s.snapshot << ", config\n"
      << s.config;
}

class DirectorTest : public ::testing::Test {
 protected:
  void start(std::initializer_list<std::string_view> config, DirectorSetup setup = two_ports()) {
    config::Model m(static_cast<uint16_t>(setup.port_macs.size()));
    for (std::string_view l : config) m.apply(*config::parse_line(l));
    auto p = std::make_unique<FakeProber>();
    prober = p.get();
    director = std::make_unique<Director>(std::move(m), setup, sink,
                                          std::vector<const lb::RsCounters*>{rs_counters.get()}, std::move(p));
    director->start(0);
  }
  BatchResult apply(const std::vector<std::string_view>& lines, double now = 1) {
    const std::vector<config::Command> batch = commands(lines);
    return director->apply(batch, now);
  }
  // A copy: Model::apply replaces the services, references would dangle.
  config::RealServer rs_of(const char* vip, const char* rip, uint16_t port = 80) const {
    const config::Service* s = director->model().find({addr(vip), net::kProtoTcp, port});
    if (!s || !s->find(addr(rip))) throw std::runtime_error(std::string("no real server ") + rip);
    return *s->find(addr(rip));
  }
  // After a refused batch that held kNewService: nothing of it reached the ARP side or
  // the slot pool. The VIP is not answered, and kNewService goes through now, its RS in
  // the slot it would have had.
  void expect_no_trace_of_new_service() {
    EXPECT_EQ(director->on_arp(0, who_has("198.18.0.200"), 1).action, Action::kToKernel);
    ASSERT_TRUE(apply(kNewService).ok);
    EXPECT_EQ(rs_of("198.18.0.200", "198.18.0.13").slot, 3u) << "kBase holds slots 0-2";
  }
  State state() const {
    return {config::model_to_commands(director->model()), sink.current(), sink.published(),
            director->counters().publishes, sink.history.size()};
  }

  RecordingSink sink;
  std::unique_ptr<lb::RsCounters[]> rs_counters = std::make_unique<lb::RsCounters[]>(lb::kMaxRsSlots);
  FakeProber* prober = nullptr;
  std::unique_ptr<Director> director;
};

}  // namespace

// ---- Batches --------------------------------------------------------------------------

// A batch whose third command is refused changes nothing and says which command and why.
TEST_F(DirectorTest, RefusedBatchChangesNothing) {
  start(kBase);
  const State before = state();
  std::vector<std::string_view> batch = kNewService;
  batch.insert(batch.end(), {"rs add 198.18.0.201 tcp 80 198.18.0.14", "vip del 198.18.0.100 tcp 80"});
  const BatchResult r = apply(batch);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.refused, 2u);
  EXPECT_EQ(r.error, "service tcp 198.18.0.201:80 does not exist");
  EXPECT_TRUE(r.summaries.empty());
  EXPECT_EQ(state(), before);
  expect_no_trace_of_new_service();
}

// An accepted batch is one snapshot, however many commands it holds; one command is a batch of one.
TEST_F(DirectorTest, AcceptedBatchPublishesOneSnapshot) {
  start(kBase);
  const uint64_t before = sink.published();
  const BatchResult r = apply({"vip add 198.18.0.200 tcp 80 sched rr", "rs add 198.18.0.200 tcp 80 198.18.0.11",
                               "vip del 198.18.1.10 tcp 80", "rs set 198.18.0.100 tcp 80 198.18.0.11 weight 0"});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.summaries.size(), 4u);
  EXPECT_EQ(sink.published(), before + 1);
  EXPECT_EQ(director->counters().publishes, before + 1);
  const lb::Snapshot* s = sink.current();
  ASSERT_TRUE(table_of(s, "198.18.0.200", 80));
  EXPECT_EQ(table_of(s, "198.18.0.200", 80)->usable.size(), 1u);
  EXPECT_FALSE(table_of(s, "198.18.1.10", 80));
  EXPECT_TRUE(table_of(s, "198.18.0.100", 80)->usable.empty()) << ".11 drained, .12 unresolved";

  const config::Command one = *config::parse_line("rs set 198.18.0.100 tcp 80 198.18.0.11 weight 1");
  ASSERT_TRUE(director->apply({&one, 1}, 2).ok);
  EXPECT_EQ(sink.published(), before + 2);
  EXPECT_EQ(table_of(sink.current(), "198.18.0.100", 80)->usable.size(), 1u);
}

// A change costs what changed: a service the batch did not touch keeps its table object.
TEST_F(DirectorTest, UnchangedServicesKeepTheirTables) {
  start(kBase);
  const lb::ServiceTable* web = table_of(sink.current(), "198.18.0.100", 80);
  const lb::ServiceTable* other = table_of(sink.current(), "198.18.1.10", 80);
  ASSERT_TRUE(apply({"rs set 198.18.1.10 tcp 80 198.18.0.11 weight 3"}).ok);
  EXPECT_EQ(table_of(sink.current(), "198.18.0.100", 80), web);
  EXPECT_NE(table_of(sink.current(), "198.18.1.10", 80), other);
  other = table_of(sink.current(), "198.18.1.10", 80);
  // .12 gets a MAC: usable in web now; the other service does not have it.
  ASSERT_TRUE(apply({"neigh add 198.18.0.12 02:00:00:00:00:12"}).ok);
  EXPECT_NE(table_of(sink.current(), "198.18.0.100", 80), web);
  EXPECT_EQ(table_of(sink.current(), "198.18.1.10", 80), other);
  web = table_of(sink.current(), "198.18.0.100", 80);
  // Timeouts: a new snapshot, no scheduler depends on them.
  const uint64_t before = sink.published();
  ASSERT_TRUE(apply({"set timeout tcp 600"}).ok);
  EXPECT_EQ(sink.published(), before + 1);
  EXPECT_EQ(sink.current()->timeouts.tcp(), 600u);
  EXPECT_EQ(table_of(sink.current(), "198.18.0.100", 80), web);
  EXPECT_EQ(table_of(sink.current(), "198.18.1.10", 80), other);
}

// A batch whose snapshot cannot be built (memory runs out while building) is refused whole.
TEST_F(DirectorTest, FailedBuildChangesNothing) {
  start(kBase);
  const State before = state();
  sink.fail_current = true;
  const BatchResult r = apply(kNewService);
  sink.fail_current = false;
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.refused, kNewService.size() - 1) << "the last command: it completed the batch that failed";
  EXPECT_EQ(r.error.rfind("internal error: ", 0), 0u) << r.error;
  EXPECT_EQ(state(), before);
  expect_no_trace_of_new_service();
}

// A command built in code rather than parsed (the grammar refuses a Maglev size that is not
// prime) is refused by the model too, naming the command: the batch is refused whole.
TEST_F(DirectorTest, CommandThatCannotBeBuiltChangesNothing) {
  start(kBase);
  const State before = state();
  config::cmd::VipAdd add{{ip("198.18.0.100"), net::kProtoTcp, 81}, {}};
  add.opts.sched = lb::Sched::kMh;
  add.opts.mh_size = 4;
  config::cmd::RsAdd rs{{ip("198.18.0.100"), net::kProtoTcp, 81}, ip("198.18.0.11"), {}, {}};
  const std::vector<config::Command> batch = {add, rs};
  const BatchResult r = director->apply(batch, 1);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.refused, 0u) << "names the command";
  EXPECT_NE(r.error.find("mh-size 4 must be a prime"), std::string::npos) << r.error;
  EXPECT_EQ(state(), before) << r.error;
}

// BatchResult.addressed names the ports whose address changed (the kernel interfaces follow).
TEST_F(DirectorTest, AddressedNamesPortsWhoseAddressChanged) {
  start({"port 0 address 198.18.0.2/24"});
  using Ports = std::vector<lb::Iface>;
  EXPECT_EQ(apply({"vip add 198.18.1.10 tcp 80"}).addressed, Ports{});
  EXPECT_EQ(apply({"port 1 address 198.18.4.2/24", "vip add 198.18.1.11 tcp 80"}).addressed, Ports{1});
  EXPECT_EQ(apply({"port 1 address 198.18.4.2/24"}).addressed, Ports{}) << "the same address again";
  EXPECT_EQ(apply({"port 0 address 198.18.0.2/25"}).addressed, Ports{0}) << "another prefix length";
  EXPECT_EQ(apply({"port 0 address 198.18.0.3/25", "port 1 address none"}).addressed, (Ports{0, 1}));
  const BatchResult refused = apply({"port 0 address 198.18.0.4/24", "vip del 198.18.9.9 tcp 80"});
  EXPECT_FALSE(refused.ok);
  EXPECT_EQ(refused.addressed, Ports{});
  EXPECT_EQ(director->dip(0), ip("198.18.0.3"));
  // VLAN interfaces come and go with their address.
  EXPECT_EQ(apply({"port 1 vlan 20 address 198.18.20.2/24"}).addressed, (Ports{{1, 20}}));
  EXPECT_EQ(director->dip({1, 20}), ip("198.18.20.2"));
  EXPECT_EQ(apply({"port 1 vlan 20 address none"}).addressed, (Ports{{1, 20}}));
  EXPECT_FALSE(director->dip({1, 20}));
}

// A deleted RS's slot is not handed out again until the workers have moved past the
// snapshot that dropped it; the new occupant then counts from zero.
TEST_F(DirectorTest, DeletedRsSlotsWaitForTheWorkers) {
  start(kBase);
  const config::RealServer gone = rs_of("198.18.0.100", "198.18.0.12");
  // What the workers counted for it, and the gauges its last connections left behind.
  lb::RsCounters& c = rs_counters[gone.slot];
  c.packets = 1000;
  c.bytes = 64000;
  c.conns = 10;
  c.active = 2;
  c.inactive = 1;
  c.persist = 1;
  ASSERT_TRUE(apply({"rs del 198.18.0.100 tcp 80 198.18.0.12"}).ok);
  const uint64_t dropped_in = sink.published();
  sink.seen_by_workers = dropped_in - 1;  // a worker still forwards with the snapshot before
  director->tick(2);
  ASSERT_TRUE(apply({"rs add 198.18.0.100 tcp 80 198.18.0.13"}).ok);
  EXPECT_NE(rs_of("198.18.0.100", "198.18.0.13").slot, gone.slot) << "reused while a worker may count for it";

  sink.seen_by_workers = dropped_in;
  director->tick(3);
  ASSERT_TRUE(apply({"rs add 198.18.0.100 tcp 80 198.18.0.14"}).ok);
  const config::RealServer reused = rs_of("198.18.0.100", "198.18.0.14");
  ASSERT_EQ(reused.slot, gone.slot);
  EXPECT_NE(reused.gen, gone.gen);
  // The snapshot that hands the slot out carries the gauges the old occupant left, which
  // the schedulers that read counts (lc family, thresholds) subtract; a fresh slot none.
  int found = 0;
  for (const auto& t : sink.current()->services)
    for (const lb::RsSpec& r : t->spec.rs) {
      if (r.ip == ip("198.18.0.14")) {
        EXPECT_EQ(r.leftover, (lb::ConnGauges{2, 1}));
        ++found;
      }
      if (r.ip == ip("198.18.0.13")) {
        EXPECT_EQ(r.leftover, lb::ConnGauges{});
        ++found;
      }
    }
  EXPECT_EQ(found, 2);
  const lb::RsCounters fresh = director->rs_stats().totals(reused.slot);
  for (const auto& f : lb::kRsCounterFields) EXPECT_EQ(fresh.*f.member, 0u) << f.name;
  for (const auto& f : lb::kRsGaugeFields) EXPECT_EQ(fresh.*f.member, 0) << f.name;
  c.packets += 7;
  c.active += 1;
  EXPECT_EQ(director->rs_stats().totals(reused.slot).packets, 7u);
  EXPECT_EQ(director->rs_stats().totals(reused.slot).active, 1);
  // As the operator sees it.
  for (const ServiceStatus& s : service_status(*director))
    for (const RsStatus& r : s.rs)
      if (r.ip == ip("198.18.0.14")) {
        EXPECT_EQ(r.counters.packets, 7u);
      }
}

// The same with the real Publisher (DPDK's RCU, no EAL) and this thread as the only
// worker: a slot comes back only after the worker has reported a quiescent state.
TEST_F(DirectorTest, RealPublisherHoldsSlotsUntilTheWorkerIsQuiescent) {
  Publisher pub(1);
  rte_rcu_qsbr* q = pub.qsbr();
  ASSERT_EQ(rte_rcu_qsbr_thread_register(q, 0), 0);
  rte_rcu_qsbr_thread_online(q, 0);
  config::Model m(2);
  for (std::string_view l : kBase) m.apply(*config::parse_line(l));
  Director d(std::move(m), two_ports(), pub, {rs_counters.get()}, std::make_unique<FakeProber>());
  d.start(0);
  const lb::Snapshot* held = pub.pointer().load(std::memory_order_acquire);  // the worker's
  EXPECT_EQ(held, pub.current());
  const config::RealServer gone = *d.model().services()[0].find(ip("198.18.0.12"));

  const std::vector<config::Command> del = commands({"rs del 198.18.0.100 tcp 80 198.18.0.12"});
  ASSERT_TRUE(d.apply(del, 1).ok);
  EXPECT_NE(pub.pointer().load(std::memory_order_acquire), held);
  EXPECT_EQ(pub.retired(), 1u);
  d.tick(1.5);
  EXPECT_EQ(pub.retired(), 1u) << "freed while the worker may hold it";
  EXPECT_LT(pub.seen(), pub.published());
  const std::vector<config::Command> add13 = commands({"rs add 198.18.0.100 tcp 80 198.18.0.13"});
  ASSERT_TRUE(d.apply(add13, 2).ok);
  EXPECT_NE(d.model().services()[0].find(ip("198.18.0.13"))->slot, gone.slot);

  rte_rcu_qsbr_quiescent(q, 0);
  d.tick(2.5);
  EXPECT_EQ(pub.retired(), 0u);
  EXPECT_EQ(pub.seen(), pub.published());
  const std::vector<config::Command> add14 = commands({"rs add 198.18.0.100 tcp 80 198.18.0.14"});
  ASSERT_TRUE(d.apply(add14, 3).ok);
  EXPECT_EQ(d.model().services()[0].find(ip("198.18.0.14"))->slot, gone.slot);

  // An offline worker holds nothing back.
  rte_rcu_qsbr_thread_offline(q, 0);
  const std::vector<config::Command> del14 = commands({"rs del 198.18.0.100 tcp 80 198.18.0.14"});
  ASSERT_TRUE(d.apply(del14, 4).ok);
  d.tick(4.5);
  EXPECT_EQ(pub.retired(), 0u);
  rte_rcu_qsbr_thread_unregister(q, 0);
}

// ---- ARP ------------------------------------------------------------------------------

// A request for a VIP on a port whose subnet holds it is answered with that port's MAC;
// a VIP in no port's subnet is answered on every port.
TEST_F(DirectorTest, ArpForAServedVipIsAnswered) {
  start(kBase);
  const net::Arp q = who_has("198.18.0.100");
  const ArpDecision d = director->on_arp(0, q, 1);
  ASSERT_EQ(d.action, Action::kReply);
  EXPECT_EQ(d.reply.op, net::kArpReply);
  EXPECT_EQ(d.reply.eth_src, port_mac(0));
  EXPECT_EQ(d.reply.sha, port_mac(0));
  EXPECT_EQ(d.reply.spa, ip("198.18.0.100"));
  EXPECT_EQ(d.reply.eth_dst, kClient);
  EXPECT_EQ(d.reply.tha, kClient);
  EXPECT_EQ(d.reply.tpa, ip("198.18.0.50"));
  for (uint16_t port : {0, 1}) {
    const ArpDecision any = director->on_arp(port, who_has("198.18.1.10", "198.18.4.50"), 1);
    ASSERT_EQ(any.action, Action::kReply) << "port " << port;
    EXPECT_EQ(any.reply.sha, port_mac(port));
    EXPECT_EQ(any.reply.spa, ip("198.18.1.10"));
    EXPECT_EQ(any.reply.tpa, ip("198.18.4.50"));
  }
}

// VLAN interfaces: a VIP is answered and announced on the interfaces whose subnet holds
// it, a routed VIP on every interface; servers are resolved on theirs, tagged, and only
// an answer on that interface counts.
TEST_F(DirectorTest, VlanInterfacesServeResolveAndAnnounceOnTheirOwn) {
  start({"port 0 vlan 10 address 198.18.10.2/24", "port 0 vlan 20 address 198.18.20.2/24",
         "vip add 198.18.10.100 tcp 80 sched rr", "rs add 198.18.10.100 tcp 80 198.18.20.11",
         "vip add 198.18.1.10 tcp 80"});
  const ArpDecision on10 = director->on_arp({0, 10}, who_has("198.18.10.100", "198.18.10.50"), 0.1);
  ASSERT_EQ(on10.action, Action::kReply);
  EXPECT_EQ(on10.reply.sha, port_mac(0));
  EXPECT_EQ(director->on_arp({0, 20}, who_has("198.18.10.100", "198.18.20.50"), 0.1).action, Action::kToKernel);
  EXPECT_EQ(director->on_arp(0, who_has("198.18.10.100"), 0.1).action, Action::kToKernel) << "untagged: not its subnet";
  for (const lb::Iface at : {lb::Iface{0, 0}, lb::Iface{0, 10}, lb::Iface{0, 20}, lb::Iface{1, 0}})
    EXPECT_EQ(director->on_arp(at, who_has("198.18.1.10"), 0.1).action, Action::kReply) << "routed VIP";
  EXPECT_EQ(director->on_arp({1, 10}, who_has("198.18.10.100"), 0.1).action, Action::kToKernel)
      << "port 1 has no VLAN 10";
  const Director::Tick t = director->tick(0.2);
  std::set<std::pair<uint16_t, uint16_t>> announced;
  for (const ArpOut& a : t.announcements)
    if (a.arp.spa == ip("198.18.10.100")) announced.insert({a.port, a.vlan});
  EXPECT_EQ(announced, (std::set<std::pair<uint16_t, uint16_t>>{{0, 10}})) << "announced on VLAN 10 only";
  EXPECT_TRUE(service_status(*director)[0].arp_claimed) << "show vips says so: claimed on VLAN 10";
  ASSERT_EQ(t.requests.size(), 1u);
  EXPECT_EQ(t.requests[0].port, 0);
  EXPECT_EQ(t.requests[0].vlan, 20);
  EXPECT_EQ(t.requests[0].arp.spa, ip("198.18.20.2")) << "from VLAN 20's DIP";
  EXPECT_EQ(t.requests[0].arp.tpa, ip("198.18.20.11"));
  const net::Arp answer = net::arp_reply(kMac11, ip("198.18.20.11"), port_mac(0), ip("198.18.20.2"));
  director->on_arp({0, 10}, answer, 0.3);
  EXPECT_FALSE(director->neighbours().mac(ip("198.18.20.11"))) << "an answer on another VLAN is not learned";
  director->on_arp({0, 20}, answer, 0.3);
  EXPECT_EQ(director->neighbours().mac(ip("198.18.20.11")), kMac11);
  director->tick(0.4);
  const lb::RsView& v = sink.current()->rs_view[rs_of("198.18.10.100", "198.18.20.11").slot];
  EXPECT_NE(v.live_gen, 0u);
  EXPECT_EQ(v.vlan, 20);
}

// Not drfwd's to answer: a VIP on a port that does not serve it, the DIP, anyone else,
// and replies. The kernel decides (it answers for its own address only).
TEST_F(DirectorTest, ArpNotForAServedVipGoesToTheKernel) {
  start(kBase);
  EXPECT_EQ(director->on_arp(1, who_has("198.18.0.100", "198.18.4.50"), 1).action, Action::kToKernel);
  EXPECT_EQ(director->on_arp(0, who_has("198.18.0.2"), 1).action, Action::kToKernel);
  EXPECT_EQ(director->on_arp(1, who_has("198.18.4.2", "198.18.4.50"), 1).action, Action::kToKernel);
  EXPECT_EQ(director->on_arp(0, who_has("198.18.0.77"), 1).action, Action::kToKernel);
  const net::Arp reply = net::arp_reply(kClient, ip("198.18.0.50"), port_mac(0), ip("198.18.0.100"));
  EXPECT_EQ(director->on_arp(0, reply, 1).action, Action::kToKernel) << "a reply is never answered";
}

// ARP that claims a real server's address for a MAC other than the one drfwd holds is
// dropped, whatever its kind; with the right MAC, or for an RS with no MAC yet, it passes.
TEST_F(DirectorTest, ArpClaimingAServersAddressForAnotherMacIsAConflict) {
  start(kBase);
  for (const net::Arp& a : {net::arp_announce(kImpostor, ip("198.18.0.11")),
                            who_has("198.18.0.100", "198.18.0.11", kImpostor),
                            net::arp_reply(kImpostor, ip("198.18.0.11"), port_mac(0), ip("198.18.0.2"))}) {
    const ArpDecision d = director->on_arp(0, a, 1);
    EXPECT_EQ(d.action, Action::kConflict) << "op " << a.op;
    EXPECT_EQ(d.known, kMac11);
  }
  EXPECT_EQ(director->on_arp(0, who_has("198.18.0.2", "198.18.0.11", kMac11), 1).action, Action::kToKernel);
  EXPECT_EQ(director->on_arp(0, net::arp_announce(kImpostor, ip("198.18.0.12")), 1).action, Action::kToKernel)
      << ".12 has no MAC yet: nothing to conflict with";
}

// A reply to drfwd's own request resolves the RS; the next tick publishes it usable, and
// from then on another MAC for it is a conflict.
TEST_F(DirectorTest, ResolutionReplyIsPublishedOnTheNextTick) {
  start(kBase);
  const Director::Tick t = director->tick(0.1);
  ASSERT_EQ(t.requests.size(), 1u);
  const uint32_t slot = rs_of("198.18.0.100", "198.18.0.12").slot;
  EXPECT_FALSE(sink.current()->rs_view[slot].live_gen);
  const uint64_t before = sink.published();
  const net::Arp answer = net::arp_reply(kMac12, ip("198.18.0.12"), port_mac(0), ip("198.18.0.2"));
  EXPECT_EQ(director->on_arp(0, answer, 0.2).action, Action::kToKernel);
  EXPECT_EQ(director->known_mac(ip("198.18.0.12")), kMac12);
  EXPECT_EQ(sink.published(), before) << "published by the control round, not by the frame";
  director->tick(0.3);
  ASSERT_EQ(sink.published(), before + 1);
  const lb::RsView& v = sink.current()->rs_view[slot];
  EXPECT_TRUE(v.live_gen);
  EXPECT_TRUE(v.accepting);
  EXPECT_TRUE(std::equal(v.l2, v.l2 + 6, kMac12.bytes.begin()));
  EXPECT_TRUE(std::equal(v.l2 + 6, v.l2 + 12, port_mac(0).bytes.begin()));
  EXPECT_EQ(table_of(sink.current(), "198.18.0.100", 80)->usable.size(), 2u);
  director->tick(0.4);
  EXPECT_EQ(sink.published(), before + 1) << "nothing new to publish";
  const ArpDecision claim = director->on_arp(0, net::arp_announce(kImpostor, ip("198.18.0.12")), 0.5);
  EXPECT_EQ(claim.action, Action::kConflict);
  EXPECT_EQ(claim.known, kMac12);
}

// A deleted VIP is no longer answered (nor announced).
TEST_F(DirectorTest, DeletedVipIsNoLongerAnswered) {
  start(kBase);
  ASSERT_EQ(director->on_arp(0, who_has("198.18.0.100"), 1).action, Action::kReply);
  ASSERT_TRUE(apply({"vip del 198.18.0.100 tcp 80"}, 2).ok);
  EXPECT_EQ(director->on_arp(0, who_has("198.18.0.100"), 2).action, Action::kToKernel);
  for (double now = 2; now < 10; now += 0.5)
    for (const ArpOut& a : director->tick(now).announcements) EXPECT_NE(a.arp.spa, ip("198.18.0.100"));
  EXPECT_EQ(director->on_arp(0, who_has("198.18.1.10"), 10).action, Action::kReply) << "the other VIP stays";
}

// ---- The control round ----------------------------------------------------------------

// A new VIP is announced `announce_count` times, `announce_interval` apart, on the ports
// that serve it, each with that port's MAC.
TEST_F(DirectorTest, NewVipsAreAnnouncedOnTheirPorts) {
  DirectorSetup s = two_ports();
  s.announce_count = 2;
  s.announce_interval = 0.5;
  start({"port 0 address 198.18.0.2/24", "port 1 address 198.18.4.2/24"}, s);
  EXPECT_TRUE(director->tick(0).announcements.empty());
  ASSERT_TRUE(apply({"vip add 198.18.0.100 tcp 80", "vip add 198.18.0.100 udp 53"}, 10).ok);  // one VIP
  auto at = [&](double now) { return director->tick(now).announcements; };
  const std::vector<ArpOut> first = at(10);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].port, 0);
  const net::Arp& g = first[0].arp;
  EXPECT_TRUE(g.gratuitous());
  EXPECT_EQ(g.spa, ip("198.18.0.100"));
  EXPECT_EQ(g.sha, port_mac(0));
  EXPECT_EQ(g.eth_src, port_mac(0));
  EXPECT_EQ(g.eth_dst, net::Mac::broadcast());
  EXPECT_TRUE(at(10.25).empty()) << "before the interval";
  EXPECT_EQ(at(10.5).size(), 1u);
  EXPECT_TRUE(at(11).empty()) << "announce_count reached";
  EXPECT_TRUE(at(20).empty());

  ASSERT_TRUE(apply({"vip add 198.18.1.10 tcp 80"}, 30).ok);  // in no port's subnet: every port
  const std::vector<ArpOut> both = at(30);
  ASSERT_EQ(both.size(), 2u);
  std::set<uint16_t> ports;
  for (const ArpOut& a : both) {
    ports.insert(a.port);
    EXPECT_EQ(a.arp.spa, ip("198.18.1.10"));
    EXPECT_EQ(a.arp.sha, port_mac(a.port));
  }
  EXPECT_EQ(ports, (std::set<uint16_t>{0, 1}));
}

// Resolution requests go to the RSs without a static neighbour, from their port's DIP,
// again every retrans_time while unanswered, and stop when a static neighbour is added.
TEST_F(DirectorTest, TickResolvesServersWithoutStaticNeighbours) {
  start(kBase);
  ASSERT_TRUE(apply({"rs add 198.18.0.100 tcp 80 198.18.0.13"}, 0).ok);
  auto targets = [](const Director::Tick& t) {
    std::set<net::Ipv4> out;
    for (const ArpOut& r : t.requests) {
      EXPECT_EQ(r.port, 0);
      EXPECT_EQ(r.arp.op, net::kArpRequest);
      EXPECT_EQ(r.arp.spa, ip("198.18.0.2"));
      EXPECT_EQ(r.arp.sha, port_mac(0));
      EXPECT_EQ(r.arp.eth_dst, net::Mac::broadcast());
      out.insert(r.arp.tpa);
    }
    EXPECT_EQ(out.size(), t.requests.size()) << "one request per server";
    return out;
  };
  const std::set<net::Ipv4> both = {ip("198.18.0.12"), ip("198.18.0.13")};
  EXPECT_EQ(targets(director->tick(0)), both);
  EXPECT_TRUE(director->tick(0.5).requests.empty());
  EXPECT_EQ(targets(director->tick(1.0)), both);
  ASSERT_TRUE(apply({"neigh add 198.18.0.12 02:00:00:00:00:12"}, 1.5).ok);
  EXPECT_EQ(targets(director->tick(2.0)), std::set<net::Ipv4>{ip("198.18.0.13")});
}

// A real server failing its checks is published not accepting on the round it falls, and
// accepting again on the round it rises.
// Found by review: a down real server whose check changes (here to none) restarts as
// unchecked, and the batch's one snapshot must already carry it: before, the snapshot
// was built from the old health, and nothing republished (no health change followed).
TEST_F(DirectorTest, ACheckChangeOnADownServerReachesTheWorkersWithTheBatch) {
  start({"port 0 address 198.18.0.2/24", "vip add 198.18.0.100 tcp 80 sched rr",
         "rs add 198.18.0.100 tcp 80 198.18.0.11", "neigh add 198.18.0.11 02:00:00:00:00:11"});
  const uint32_t slot = rs_of("198.18.0.100", "198.18.0.11").slot;
  double now = 0;
  director->tick(now);
  for (int i = 0; i < 3; ++i) {  // fall 3
    prober->results.push_back({false, "refused"});
    director->tick(now += 0.5);
  }
  ASSERT_FALSE(sink.current()->rs_view[slot].accepting) << "down";
  const uint64_t before = sink.published();
  ASSERT_TRUE(apply({"rs set 198.18.0.100 tcp 80 198.18.0.11 check none"}, now += 0.1).ok);
  EXPECT_EQ(sink.published(), before + 1) << "still one snapshot for the batch";
  EXPECT_EQ(director->rs_state(rs_of("198.18.0.100", "198.18.0.11")).health, lb::Health::kUnchecked);
  EXPECT_TRUE(sink.current()->rs_view[slot].accepting) << "the batch's snapshot has the server back";
}

TEST_F(DirectorTest, HealthChangesArePublished) {
  start({"port 0 address 198.18.0.2/24", "vip add 198.18.0.100 tcp 80 sched rr",
         "rs add 198.18.0.100 tcp 80 198.18.0.11", "rs add 198.18.0.100 tcp 80 198.18.0.12 check none",
         "neigh add 198.18.0.11 02:00:00:00:00:11", "neigh add 198.18.0.12 02:00:00:00:00:12"});
  const uint32_t checked = rs_of("198.18.0.100", "198.18.0.11").slot;
  const uint32_t unchecked = rs_of("198.18.0.100", "198.18.0.12").slot;
  ASSERT_TRUE(sink.current()->rs_view[checked].accepting);
  double now = 0;
  director->tick(now);  // the first probe starts
  ASSERT_EQ(prober->running.size(), 1u) << "only the checked server is probed";
  // One result per round, every check interval (500 ms): fall 3, rise 2.
  auto round = [&](bool ok) {
    prober->results.push_back({ok, ok ? "connected" : "refused"});
    const uint64_t before = sink.published();
    director->tick(now += 0.5);
    return sink.published() - before;
  };
  EXPECT_EQ(round(false), 0u);
  EXPECT_EQ(round(false), 0u);
  EXPECT_EQ(round(false), 1u);
  EXPECT_EQ(director->counters().health_changes, 1u);
  const lb::Snapshot* s = sink.current();
  EXPECT_FALSE(s->rs_view[checked].accepting);
  EXPECT_FALSE(s->rs_view[checked].live_gen);
  EXPECT_TRUE(s->rs_view[unchecked].accepting);
  EXPECT_EQ(table_of(s, "198.18.0.100", 80)->usable, std::vector<uint32_t>{unchecked});
  EXPECT_EQ(director->rs_state(rs_of("198.18.0.100", "198.18.0.11")).health, lb::Health::kDown);
  EXPECT_EQ(round(true), 0u);
  EXPECT_EQ(round(true), 1u);
  EXPECT_TRUE(sink.current()->rs_view[checked].accepting);
  EXPECT_EQ(director->counters().health_changes, 2u);
}

// A reload (config::reconcile's batch) keeps what did not change mid-probe: a server
// found down stays down with its probe running, no probe restarts, the unchanged
// service's table is shared; only a server whose check changed starts again.
TEST_F(DirectorTest, AReloadKeepsHealthAndProbesOfWhatDidNotChange) {
  const std::vector<std::string_view> conf = {
      "port 0 address 198.18.0.2/24", "vip add 198.18.0.100 tcp 80 sched rr",
      "rs add 198.18.0.100 tcp 80 198.18.0.11", "rs add 198.18.0.100 tcp 80 198.18.0.12",
      "vip add 198.18.0.101 tcp 80 sched rr", "rs add 198.18.0.101 tcp 80 198.18.0.12",
      "neigh add 198.18.0.11 02:00:00:00:00:11", "neigh add 198.18.0.12 02:00:00:00:00:12"};
  start({});
  ASSERT_TRUE(apply(conf, 0).ok);
  auto reload = [&](std::vector<std::string_view> lines, double now) {
    config::Model wanted = director->model().blank();
    for (std::string_view l : lines) wanted.apply(*config::parse_line(l));
    const std::vector<config::Command> batch = config::reconcile(director->model(), wanted);
    return std::make_pair(batch.size(), director->apply(batch, now).ok);
  };
  double now = 0;
  director->tick(now);
  ASSERT_EQ(prober->running.size(), 3u);
  // .11 fails three probes in a row: down. (Probes answer in the order they started.)
  for (int i = 0; i < 3; ++i) {
    prober->results.push_back({false, "refused"});
    prober->results.push_back({true, "connected"});
    prober->results.push_back({true, "connected"});
    director->tick(now += 0.5);
  }
  const uint32_t down = rs_of("198.18.0.100", "198.18.0.11").slot;
  ASSERT_EQ(director->rs_state(rs_of("198.18.0.100", "198.18.0.11")).health, lb::Health::kDown);
  const uint64_t changes = director->counters().health_changes;
  const unsigned started = prober->started;
  const lb::ServiceTable* untouched = table_of(sink.current(), "198.18.0.101", 80);

  // The same files: no command at all.
  EXPECT_EQ(reload(conf, now), std::make_pair(size_t{0}, true));
  // A weight on the first service and a new service: two commands... and three more.
  std::vector<std::string_view> next = conf;
  next[3] = "rs add 198.18.0.100 tcp 80 198.18.0.12 weight 5";
  next.push_back("vip add 198.18.0.102 tcp 80");
  next.push_back("rs add 198.18.0.102 tcp 80 198.18.0.13");
  EXPECT_EQ(reload(next, now += 0.1), std::make_pair(size_t{3}, true));
  EXPECT_EQ(rs_of("198.18.0.100", "198.18.0.11").slot, down);
  EXPECT_EQ(director->rs_state(rs_of("198.18.0.100", "198.18.0.11")).health, lb::Health::kDown);
  EXPECT_FALSE(sink.current()->rs_view[down].accepting);
  EXPECT_EQ(director->counters().health_changes, changes);
  EXPECT_EQ(prober->started, started) << "no probe restarted";
  director->tick(now += 0.1);
  EXPECT_EQ(prober->started, started + 1) << "one probe for the new server, none restarted";
  EXPECT_EQ(director->rs_state(rs_of("198.18.0.100", "198.18.0.11")).health, lb::Health::kDown);
  EXPECT_EQ(table_of(sink.current(), "198.18.0.101", 80), untouched) << "an unchanged service keeps its table";

  // .11's check changes: it starts again (up, as any changed check), the others do not.
  next[2] = "rs add 198.18.0.100 tcp 80 198.18.0.11 check tcp port 8080";
  EXPECT_EQ(reload(next, now += 0.1), std::make_pair(size_t{1}, true));
  EXPECT_EQ(director->rs_state(rs_of("198.18.0.100", "198.18.0.11")).health, lb::Health::kUp);
  EXPECT_TRUE(sink.current()->rs_view[down].accepting);
}

// `check initial down` (keepalived's alpha): a server is down in the first snapshot and
// in the snapshot of the batch that adds it, until its first passing probe (rise 2
// notwithstanding); a changed check starts it down again.
TEST_F(DirectorTest, InitialDownServersWaitForTheirFirstPassingCheck) {
  start({"port 0 address 198.18.0.2/24", "vip add 198.18.0.100 tcp 80 sched rr check initial down",
         "rs add 198.18.0.100 tcp 80 198.18.0.11", "neigh add 198.18.0.11 02:00:00:00:00:11",
         "neigh add 198.18.0.12 02:00:00:00:00:12"});
  const uint32_t first = rs_of("198.18.0.100", "198.18.0.11").slot;
  EXPECT_FALSE(sink.current()->rs_view[first].accepting) << "down from the first snapshot";
  EXPECT_EQ(director->rs_state(rs_of("198.18.0.100", "198.18.0.11")).health, lb::Health::kDown);
  double now = 0;
  director->tick(now);  // its first probe starts
  prober->results.push_back({false, "refused"});
  director->tick(now += 0.5);
  EXPECT_FALSE(sink.current()->rs_view[first].accepting);
  EXPECT_EQ(director->counters().health_changes, 0u);
  prober->results.push_back({true, "connected"});
  director->tick(now += 0.5);
  EXPECT_TRUE(sink.current()->rs_view[first].accepting) << "one passing probe";
  EXPECT_EQ(director->counters().health_changes, 1u);

  const uint64_t before = sink.published();
  ASSERT_TRUE(apply({"rs add 198.18.0.100 tcp 80 198.18.0.12"}, now += 0.1).ok);
  EXPECT_EQ(sink.published(), before + 1) << "one snapshot for the batch";
  EXPECT_FALSE(sink.current()->rs_view[rs_of("198.18.0.100", "198.18.0.12").slot].accepting);
  EXPECT_TRUE(sink.current()->rs_view[first].accepting) << "unchanged: keeps its state";
  ASSERT_TRUE(apply({"rs set 198.18.0.100 tcp 80 198.18.0.11 check interval 1s"}, now += 0.1).ok);
  EXPECT_FALSE(sink.current()->rs_view[first].accepting) << "a changed check starts down again";
}

// An exec check needs no DIP of drfwd's: it runs where the interface has none (other
// kinds are not checked there), but not with health checks off.
TEST_F(DirectorTest, ExecChecksNeedNoDip) {
  start({"vip add 198.18.0.100 tcp 80 sched rr", "rs add 198.18.0.100 tcp 80 198.18.0.11",
         "rs add 198.18.0.100 tcp 80 198.18.0.12 check exec command /usr/local/bin/probe 198.18.0.12",
         "neigh add 198.18.0.11 02:00:00:00:00:11", "neigh add 198.18.0.12 02:00:00:00:00:12"});
  director->tick(0);
  ASSERT_EQ(prober->targets.size(), 1u);
  EXPECT_EQ(prober->targets[0].spec.command, "/usr/local/bin/probe 198.18.0.12");
  EXPECT_EQ(director->rs_state(rs_of("198.18.0.100", "198.18.0.11")).health, lb::Health::kUnchecked);
  DirectorSetup off = two_ports();
  off.health_checks = false;
  start({"vip add 198.18.0.100 tcp 80 check exec command /bin/true", "rs add 198.18.0.100 tcp 80 198.18.0.12"}, off);
  director->tick(0);
  EXPECT_TRUE(prober->targets.empty());
}

// ---- Claiming VIPs for director redundancy (vip-arp, vip-routes, vip-holddown) ---------

namespace {

// One VIP on port 0's subnet with one RS: with a static neighbour and no check, it has
// converged at once; without, it waits for resolution and a first check.
const std::initializer_list<std::string_view> kReady = {
    "port 0 address 198.18.0.2/24", "vip add 198.18.0.100 tcp 80 sched mh check none",
    "rs add 198.18.0.100 tcp 80 198.18.0.11", "neigh add 198.18.0.11 02:00:00:00:00:11"};

std::set<net::IpAddr> addrs(std::initializer_list<const char*> list) {
  std::set<net::IpAddr> out;
  for (const char* a : list) out.insert(addr(a));
  return out;
}

}  // namespace

// Kernel mode: the VIP is answered and announced only while port 0's kernel interface
// holds it (a VRRP master); announcements start the moment it appears, stop when it goes.
TEST_F(DirectorTest, VipArpKernelClaimsOnlyWhileTheKernelHoldsTheVip) {
  start(kReady);
  ASSERT_TRUE(apply({"set vip-arp kernel"}).ok);
  director->tick(1);
  EXPECT_EQ(director->on_arp(0, who_has("198.18.0.100"), 1).action, Action::kToKernel) << "a backup stays silent";
  director->set_kernel_addresses(0, addrs({"198.18.0.2", "198.18.0.100"}), 2);
  EXPECT_TRUE(director->claimed(0, ip("198.18.0.100")));
  EXPECT_FALSE(director->claimed(1, ip("198.18.0.100"))) << "port 1 does not serve it";
  const ArpDecision d = director->on_arp(0, who_has("198.18.0.100"), 2);
  EXPECT_EQ(d.action, Action::kReply);
  EXPECT_EQ(d.reply.sha, port_mac(0));
  unsigned announced = 0;
  for (double t = 2; t < 6; t += 0.5) announced += director->tick(t).announcements.size();
  EXPECT_EQ(announced, 3u) << "announce_count gratuitous ARPs, from the moment it appeared";
  director->set_kernel_addresses(0, addrs({"198.18.0.2"}), 6);
  EXPECT_EQ(director->on_arp(0, who_has("198.18.0.100"), 6).action, Action::kToKernel) << "the master role went";
  director->set_kernel_addresses(0, addrs({"198.18.0.2", "198.18.0.100"}), 7);
  EXPECT_EQ(director->tick(7).announcements.size(), 1u) << "taken back: announced again at once";
}

// Kernel mode at start: the VIP is not claimed, even when the kernel holds it, before
// its real servers are resolved and checked once: a director taking over forwards with
// the same Maglev table as its peers (one RS still unresolved would change it).
TEST_F(DirectorTest, KernelModeWaitsForResolutionAndAFirstCheck) {
  start({"port 0 address 198.18.0.2/24", "set vip-arp kernel", "set vip-routes table 100",
         "vip add 198.18.0.100 tcp 80 sched mh", "rs add 198.18.0.100 tcp 80 198.18.0.12"});
  director->set_kernel_addresses(0, addrs({"198.18.0.100"}), 0);
  auto resolution = director->tick(0.1);
  ASSERT_EQ(resolution.requests.size(), 1u);
  EXPECT_FALSE(director->converged(ip("198.18.0.100")));
  EXPECT_FALSE(director->claimed(0, ip("198.18.0.100")));
  director->on_arp(0, net::arp_reply(kMac12, ip("198.18.0.12"), port_mac(0), ip("198.18.0.2")), 0.2);
  director->tick(0.3);
  EXPECT_FALSE(director->claimed(0, ip("198.18.0.100"))) << "resolved, its first check still running";
  EXPECT_TRUE(director->routes().empty());
  prober->results.push_back({true, "connected"});
  director->tick(0.4);
  EXPECT_TRUE(director->converged(ip("198.18.0.100")));
  EXPECT_TRUE(director->claimed(0, ip("198.18.0.100")));
  ASSERT_EQ(director->routes().size(), 1u);
  EXPECT_EQ(director->routes()[0], (Director::VipRoute{ip("198.18.0.100"), 0}));
}

// A real server that never answers does not hold a VIP back for longer than the hold-down.
TEST_F(DirectorTest, TheHoldDownBoundsTheWait) {
  start({"port 0 address 198.18.0.2/24", "set vip-arp kernel", "set vip-holddown 2",
         "vip add 198.18.0.100 tcp 80 sched mh check none", "rs add 198.18.0.100 tcp 80 198.18.0.12"});
  director->set_kernel_addresses(0, addrs({"198.18.0.100"}), 0);
  director->tick(1.9);
  EXPECT_FALSE(director->claimed(0, ip("198.18.0.100")));
  director->tick(2.0);
  EXPECT_TRUE(director->claimed(0, ip("198.18.0.100"))) << "hold-down passed";
  // A VIP added later waits from its own appearance.
  ASSERT_TRUE(apply({"vip add 198.18.0.101 tcp 80 check none", "rs add 198.18.0.101 tcp 80 198.18.0.13"}, 5).ok);
  director->set_kernel_addresses(0, addrs({"198.18.0.100", "198.18.0.101"}), 5);
  director->tick(6);
  EXPECT_FALSE(director->claimed(0, ip("198.18.0.101")));
  director->tick(7);
  EXPECT_TRUE(director->claimed(0, ip("198.18.0.101")));
}

// Always (the default) is drfwd without redundancy: answered at once, converged or not.
TEST_F(DirectorTest, VipArpAlwaysAnswersAtOnce) {
  start({"port 0 address 198.18.0.2/24", "vip add 198.18.0.100 tcp 80", "rs add 198.18.0.100 tcp 80 198.18.0.12"});
  EXPECT_FALSE(director->converged(ip("198.18.0.100")));
  EXPECT_EQ(director->on_arp(0, who_has("198.18.0.100"), 0.1).action, Action::kReply);
}

// vip-routes: a route for every converged VIP with a usable real server, through the
// kernel interface of the first port that serves it; withdrawn when no server is usable.
TEST_F(DirectorTest, RoutesFollowUsableServers) {
  start(kReady);
  EXPECT_TRUE(director->routes().empty()) << "vip-routes off";
  ASSERT_TRUE(apply({"set vip-routes table 100"}).ok);
  ASSERT_EQ(director->routes().size(), 1u);
  EXPECT_EQ(director->routes()[0], (Director::VipRoute{ip("198.18.0.100"), 0}));
  ASSERT_TRUE(apply({"rs set 198.18.0.100 tcp 80 198.18.0.11 weight 0"}, 2).ok);
  EXPECT_TRUE(director->routes().empty()) << "drained: no server takes new connections";
  ASSERT_TRUE(apply({"rs set 198.18.0.100 tcp 80 198.18.0.11 weight 1"}, 3).ok);
  EXPECT_EQ(director->routes().size(), 1u);
  ASSERT_TRUE(apply({"neigh del 198.18.0.11"}, 4).ok);
  EXPECT_TRUE(director->routes().empty()) << "no MAC for the only server";
  ASSERT_TRUE(apply({"neigh add 198.18.0.11 02:00:00:00:00:11", "set vip-routes off"}, 5).ok);
  EXPECT_TRUE(director->routes().empty());
  ASSERT_TRUE(apply({"set vip-routes table 100", "vip del 198.18.0.100 tcp 80"}, 6).ok);
  EXPECT_TRUE(director->routes().empty()) << "deleted";
}

// keepalived's quorum: the healthy real servers' summed weight against quorum with
// hysteresis either side. Lost: the VIP route is withdrawn and the sorry server takes the
// new connections; regained only at quorum + hysteresis.
TEST_F(DirectorTest, QuorumWithHysteresisMovesTheRouteAndTheSorryServer) {
  start({"port 0 address 198.18.0.2/24",
         "vip add 198.18.0.100 tcp 80 sched rr quorum 4 hysteresis 1 check tcp interval 500ms timeout 400ms rise 1 fall 1",
         "rs add 198.18.0.100 tcp 80 198.18.0.11 weight 3", "rs add 198.18.0.100 tcp 80 198.18.0.12 weight 2 check none",
         "rs add 198.18.0.100 tcp 80 198.18.0.19 sorry", "neigh add 198.18.0.11 02:00:00:00:00:11",
         "neigh add 198.18.0.12 02:00:00:00:00:12", "neigh add 198.18.0.19 02:00:00:00:00:19",
         "set vip-routes table 100"});
  const uint32_t checked = rs_of("198.18.0.100", "198.18.0.11").slot;
  const uint32_t other = rs_of("198.18.0.100", "198.18.0.12").slot;
  const uint32_t sorry = rs_of("198.18.0.100", "198.18.0.19").slot;
  double now = 0;
  director->tick(now);
  ASSERT_EQ(prober->running.size(), 1u) << "the sorry server is not checked";
  auto round = [&](bool ok) {
    prober->results.push_back({ok, ok ? "connected" : "refused"});
    director->tick(now += 0.5);
  };
  auto usable = [&] { return table_of(sink.current(), "198.18.0.100", 80)->usable; };
  round(true);
  EXPECT_EQ(usable(), (std::vector<uint32_t>{checked, other})) << "5 >= 4: held";
  EXPECT_EQ(director->routes().size(), 1u);
  EXPECT_FALSE(sink.current()->rs_view[sorry].accepting);
  round(false);  // 2 + 1 < 4: lost
  EXPECT_EQ(usable(), std::vector<uint32_t>{sorry});
  EXPECT_TRUE(director->routes().empty()) << "below quorum: the VIP route is withdrawn";
  EXPECT_TRUE(sink.current()->rs_view[other].live_gen) << "its connections stay";
  round(true);  // 5 >= 4 + 1: regained
  EXPECT_EQ(usable(), (std::vector<uint32_t>{checked, other}));
  EXPECT_EQ(director->routes().size(), 1u);
  // Lower the other's weight: 4 is still held (4 + 1 >= 4)...
  ASSERT_TRUE(apply({"rs set 198.18.0.100 tcp 80 198.18.0.12 weight 1"}, now).ok);
  EXPECT_EQ(director->routes().size(), 1u);
  round(false);  // 1: lost
  EXPECT_TRUE(director->routes().empty());
  round(true);  // ...4 < 4 + 1: not regained (hysteresis)
  EXPECT_TRUE(director->routes().empty());
  EXPECT_EQ(usable(), std::vector<uint32_t>{sorry});
  // Without a sorry server the real servers keep taking connections below quorum (as
  // keepalived); the route stays withdrawn.
  ASSERT_TRUE(apply({"rs del 198.18.0.100 tcp 80 198.18.0.19"}, now).ok);
  EXPECT_EQ(usable(), (std::vector<uint32_t>{checked, other}));
  EXPECT_TRUE(director->routes().empty());
  // A quorum of 0 is none.
  ASSERT_TRUE(apply({"vip set 198.18.0.100 tcp 80 quorum 0"}, now).ok);
  EXPECT_EQ(director->routes().size(), 1u);
}

// A server added `initial down` does not count for the quorum until its first check
// passes (the batch's snapshot is built before its target exists: the quorum is settled
// again once it does, from the state before the batch).
TEST_F(DirectorTest, QuorumIgnoresAServerAddedInitialDownUntilItsCheckPasses) {
  start({"port 0 address 198.18.0.2/24", "vip add 198.18.0.100 tcp 80 sched rr quorum 3 hysteresis 1",
         "rs add 198.18.0.100 tcp 80 198.18.0.11 weight 2 check none", "rs add 198.18.0.100 tcp 80 198.18.0.19 sorry",
         "neigh add 198.18.0.11 02:00:00:00:00:11", "neigh add 198.18.0.12 02:00:00:00:00:12",
         "neigh add 198.18.0.19 02:00:00:00:00:19", "set vip-routes table 100"});
  const uint32_t sorry = rs_of("198.18.0.100", "198.18.0.19").slot;
  auto usable = [&] { return table_of(sink.current(), "198.18.0.100", 80)->usable; };
  EXPECT_EQ(usable(), std::vector<uint32_t>{sorry}) << "2 < 3: not reached at start";
  ASSERT_TRUE(apply({"rs add 198.18.0.100 tcp 80 198.18.0.12 weight 2 check tcp interval 500ms timeout 400ms initial down"},
                    0).ok);
  EXPECT_EQ(usable(), std::vector<uint32_t>{sorry}) << "the new server is down until checked: still 2";
  EXPECT_TRUE(director->routes().empty());
  double now = 0;
  director->tick(now);
  ASSERT_EQ(prober->running.size(), 1u);
  prober->results.push_back({true, "connected"});
  director->tick(now += 0.5);
  EXPECT_EQ(usable().size(), 2u) << "4 >= 3 + 1: regained";
  EXPECT_EQ(director->routes().size(), 1u);
}

// drfwd alone speaks ARP for its VIPs: what the kernel sends for a VIP that is not
// claimed on that port (keepalived's gratuitous ARP on becoming master, before drfwd has
// converged) is withheld; the kernel's ARP for anything else passes.
TEST_F(DirectorTest, KernelArpForAnUnclaimedVipIsWithheld) {
  start({"port 0 address 198.18.0.2/24", "set vip-arp kernel", "vip add 198.18.0.100 tcp 80 sched mh",
         "rs add 198.18.0.100 tcp 80 198.18.0.12"});
  const net::Arp garp = net::arp_announce(port_mac(0), ip("198.18.0.100"));
  const net::Arp dip = net::arp_announce(port_mac(0), ip("198.18.0.2"));
  director->set_kernel_addresses(0, addrs({"198.18.0.2", "198.18.0.100"}), 0.5);  // keepalived: master
  EXPECT_TRUE(director->withholds(0, garp)) << "not converged yet";
  EXPECT_FALSE(director->withholds(0, dip)) << "the DIP is the kernel's";
  director->tick(10);  // the hold-down passed
  EXPECT_TRUE(director->claimed(0, ip("198.18.0.100")));
  EXPECT_FALSE(director->withholds(0, garp));
  EXPECT_TRUE(director->withholds(1, garp)) << "port 1 does not serve it";
}

// ---- IPv6 neighbour discovery ----------------------------------------------------------

// An interface's IPv6 address (DIP) places IPv6 servers and VIPs as an IPv4 subnet does:
// servers in it are solicited from the DIP and health-checked from it, a VIP in it is
// answered there only, its /128 route goes through that interface; a solicitation for the
// DIP is the kernel's.
TEST_F(DirectorTest, Ipv6DipsPlaceServersAndVips) {
  start({"port 0 address 198.18.0.2/24", "port 1 address 198.18.1.2/24", "port 1 address 2001:2:1::2/64",
         "vip add 2001:2:1::100 tcp 80 sched rr", "rs add 2001:2:1::100 tcp 80 2001:2:1::11",
         "set vip-routes table 100"},
        two_ports());
  const Director::Tick t = director->tick(0);
  ASSERT_EQ(t.requests6.size(), 1u) << "reached through port 1, whose IPv6 subnet holds it";
  EXPECT_EQ(t.requests6[0].port, 1);
  EXPECT_EQ(t.requests6[0].ndp.src, a6("2001:2:1::2")) << "solicited from the DIP";
  ASSERT_EQ(prober->targets.size(), 1u) << "checked: the interface has an IPv6 DIP";
  EXPECT_EQ(prober->targets[0].ip, ip6("2001:2:1::11"));
  EXPECT_EQ(prober->targets[0].src, ip6("2001:2:1::2"));
  EXPECT_EQ(director->on_ndp(1, ns_for("2001:2:1::100"), 0.1).action, NdpDecision::Action::kReply);
  EXPECT_EQ(director->on_ndp(0, ns_for("2001:2:1::100"), 0.1).action, NdpDecision::Action::kToKernel)
      << "port 0 has no subnet holding the VIP";
  EXPECT_EQ(director->on_ndp(1, ns_for("2001:2:1::2"), 0.1).action, NdpDecision::Action::kToKernel) << "the DIP";
  // Answered (to the DIP) and checked: the VIP converges and is routed through port 1.
  const net::Ndp na = wire(net::ndp_advert(kMac11, a6("2001:2:1::11"), net::ndp_solicit(port_mac(1), a6("2001:2:1::2"), a6("2001:2:1::11"))));
  director->on_ndp(1, na, 0.2);
  prober->results.push_back({true, "connected"});
  director->tick(0.3);
  director->tick(0.4);
  EXPECT_TRUE(sink.current()->rs_view[rs_of("2001:2:1::100", "2001:2:1::11").slot].accepting);
  ASSERT_EQ(director->routes().size(), 1u);
  EXPECT_EQ(director->routes()[0], (Director::VipRoute{ip6("2001:2:1::100"), 1}));
  // Without the DIP: solicited from the link-local address, unchecked, unrouted (the
  // kernel interface has no IPv6), and port 1 is no longer known to reach it.
  ASSERT_TRUE(apply({"port 1 address none ipv6"}, 1).ok);
  EXPECT_TRUE(director->routes().empty());
  EXPECT_EQ(config::model_to_commands(director->model()).find("2001:2:1::2/64"), std::string::npos);
}

TEST_F(DirectorTest, KernelNdpForAnUnclaimedVipIsWithheld) {
  start({"port 0 address 198.18.0.2/24", "port 0 address 2001:2::2/64", "set vip-arp kernel",
         "vip add 2001:2::100 tcp 80 sched mh", "rs add 2001:2::100 tcp 80 2001:2::12"},
        one_port());
  const net::Ndp vip = wire(net::ndp_announce(port_mac(0), a6("2001:2::100")));
  const net::Ndp dip = wire(net::ndp_announce(port_mac(0), a6("2001:2::2")));
  director->set_kernel_addresses(0, {ip6("2001:2::2"), ip6("2001:2::100")}, 0.5);
  EXPECT_TRUE(director->withholds(0, vip)) << "not converged yet";
  EXPECT_FALSE(director->withholds(0, dip)) << "the DIP is the kernel's";
  director->tick(10);  // the hold-down passed
  EXPECT_TRUE(director->claimed(0, ip6("2001:2::100")));
  EXPECT_FALSE(director->withholds(0, vip));
}

// A solicitation for a claimed IPv6 VIP is answered like ARP: a solicited NA that
// overrides (S and O set, R clear) with the port's MAC as its target link-layer address,
// to the solicitation's source at its link-layer address. Every port answers (no
// interface has an IPv6 subnet), each with its own MAC.
TEST_F(DirectorTest, NdpSolicitationForAClaimedIpv6VipIsAnswered) {
  start(kBase6);
  const NdpDecision d = director->on_ndp(0, ns_for("2001:2::100"), 1);
  ASSERT_EQ(d.action, NdpAction::kReply);
  const net::Ndp& na = d.reply;
  EXPECT_EQ(na.type, net::kNdpNeighborAdvert);
  EXPECT_TRUE(na.solicited);
  EXPECT_TRUE(na.override_flag);
  EXPECT_FALSE(na.router);
  EXPECT_EQ(na.target, a6("2001:2::100"));
  EXPECT_EQ(na.src, a6("2001:2::100"));
  EXPECT_EQ(na.lladdr, port_mac(0));
  EXPECT_EQ(na.eth_src, port_mac(0));
  EXPECT_EQ(na.dst, a6("2001:2::50"));
  EXPECT_EQ(na.eth_dst, kClient);
  EXPECT_EQ(wire(na).solicited, true) << "a valid frame";
  // Port 1, a router's solicitation from its link-local address.
  const NdpDecision p1 = director->on_ndp(1, ns_for("2001:2::100", "fe80::1", kImpostor), 1);
  ASSERT_EQ(p1.action, NdpAction::kReply);
  EXPECT_EQ(p1.reply.lladdr, port_mac(1));
  EXPECT_EQ(p1.reply.eth_src, port_mac(1));
  EXPECT_EQ(p1.reply.dst, a6("fe80::1"));
  EXPECT_EQ(p1.reply.eth_dst, kImpostor);
  // A unicast solicitation without the source link-layer option: to its Ethernet source.
  net::Ndp bare = net::ndp_solicit(kClient, a6("2001:2::50"), a6("2001:2::100"), port_mac(0));
  bare.lladdr.reset();
  const NdpDecision u = director->on_ndp(0, wire(bare), 1);
  ASSERT_EQ(u.action, NdpAction::kReply);
  EXPECT_EQ(u.reply.eth_dst, kClient);
  EXPECT_EQ(u.reply.dst, a6("2001:2::50"));
}

// Not drfwd's to answer: an address it does not claim (a real server, anyone else), and
// advertisements, which are never answered.
TEST_F(DirectorTest, NdpNotForAClaimedAddressGoesToTheKernel) {
  start(kBase6);
  EXPECT_EQ(director->on_ndp(0, ns_for("2001:2::77"), 1).action, NdpAction::kToKernel);
  EXPECT_EQ(director->on_ndp(0, ns_for("2001:2::12"), 1).action, NdpAction::kToKernel) << "a real server";
  EXPECT_EQ(director->on_ndp(0, ns_for("2001:2::11"), 1).action, NdpAction::kToKernel) << "a static neighbour";
  EXPECT_EQ(director->on_ndp(0, wire(net::ndp_announce(kClient, a6("2001:2::100"))), 1).action, NdpAction::kToKernel)
      << "an advertisement is never answered";
  EXPECT_EQ(director->on_ndp(0, na_from(kClient, "2001:2::50"), 1).action, NdpAction::kToKernel);
}

// The port's link-local address (where drfwd solicits from, and a server answers to) is
// answered on that port's interfaces, with its MAC; not another port's.
TEST_F(DirectorTest, NdpForThePortsLinkLocalAddressIsAnswered) {
  start({"port 0 address 198.18.0.2/24", "port 0 vlan 10 address 198.18.10.2/24"});
  EXPECT_EQ(director->link_local(0), a6("fe80::70:63ff:fe61:7000")) << "EUI-64 of 02:70:63:61:70:00";
  EXPECT_EQ(director->link_local({0, 10}), director->link_local(0));
  const std::string ll0 = net::to_string(director->link_local(0)), ll1 = net::to_string(director->link_local(1));
  for (const lb::Iface at : {lb::Iface{0, 0}, lb::Iface{0, 10}}) {
    const NdpDecision d = director->on_ndp(at, ns_for(ll0.c_str(), "2001:2::12", kMac12), 1);
    ASSERT_EQ(d.action, NdpAction::kReply) << "vlan " << at.vlan;
    EXPECT_EQ(d.reply.target, director->link_local(0));
    EXPECT_EQ(d.reply.src, director->link_local(0));
    EXPECT_EQ(d.reply.lladdr, port_mac(0));
    EXPECT_TRUE(d.reply.solicited);
    EXPECT_EQ(d.reply.eth_dst, kMac12);
  }
  EXPECT_EQ(director->on_ndp(1, ns_for(ll0.c_str()), 1).action, NdpAction::kToKernel) << "port 0's, asked on port 1";
  const NdpDecision p1 = director->on_ndp(1, ns_for(ll1.c_str()), 1);
  ASSERT_EQ(p1.action, NdpAction::kReply);
  EXPECT_EQ(p1.reply.lladdr, port_mac(1));
  EXPECT_EQ(director->on_ndp(0, ns_for("fe80::70:63ff:fe61:7099"), 1).action, NdpAction::kToKernel);
}

// Duplicate address detection for a VIP (a solicitation from ::) is answered to all
// nodes, S clear (RFC 4861 7.2.4): the address is taken.
TEST_F(DirectorTest, DadSolicitationForAVipIsAnsweredToAllNodes) {
  start(kBase6);
  const NdpDecision d = director->on_ndp(0, ns_for("2001:2::100", "::"), 1);
  ASSERT_EQ(d.action, NdpAction::kReply);
  EXPECT_FALSE(d.reply.solicited);
  EXPECT_TRUE(d.reply.override_flag);
  EXPECT_EQ(d.reply.dst, a6("ff02::1"));
  EXPECT_EQ(d.reply.eth_dst, mac("33:33:00:00:00:01"));
  EXPECT_EQ(d.reply.src, a6("2001:2::100"));
  EXPECT_EQ(d.reply.lladdr, port_mac(0));
  wire(d.reply);
}

// An IPv6 VIP is claimed on every interface, VLAN ones included, and answered and
// announced on each with its port's MAC; an interface that does not exist claims nothing.
TEST_F(DirectorTest, VlanInterfacesAnswerAndAnnounceIpv6Vips) {
  start({"port 0 address 198.18.0.2/24", "port 0 vlan 10 address 198.18.10.2/24", "vip add 2001:2::100 tcp 80"});
  for (const lb::Iface at : {lb::Iface{0, 0}, lb::Iface{0, 10}, lb::Iface{1, 0}}) {
    EXPECT_TRUE(director->claimed(at, ip6("2001:2::100")));
    const NdpDecision d = director->on_ndp(at, ns_for("2001:2::100"), 0.1);
    ASSERT_EQ(d.action, NdpAction::kReply) << "port " << at.port << " vlan " << at.vlan;
    EXPECT_EQ(d.reply.lladdr, port_mac(at.port));
  }
  EXPECT_EQ(director->on_ndp({1, 10}, ns_for("2001:2::100"), 0.1).action, NdpAction::kToKernel)
      << "port 1 has no VLAN 10";
  std::set<std::pair<uint16_t, uint16_t>> announced;
  for (const NdpOut& a : director->tick(0.2).announcements6) {
    EXPECT_EQ(a.ndp.target, a6("2001:2::100"));
    EXPECT_EQ(a.ndp.lladdr, port_mac(a.port));
    announced.insert({a.port, a.vlan});
  }
  EXPECT_EQ(announced, (std::set<std::pair<uint16_t, uint16_t>>{{0, 0}, {0, 10}, {1, 0}}));
}

// A new IPv6 VIP is announced by unsolicited NAs to all nodes, `announce_count` times,
// `announce_interval` apart, as gratuitous ARP announces an IPv4 one: each family in its
// own list.
TEST_F(DirectorTest, NewIpv6VipsAreAnnouncedWithUnsolicitedAdvertisements) {
  DirectorSetup s = two_ports();
  s.announce_count = 2;
  s.announce_interval = 0.5;
  start({"port 0 address 198.18.0.2/24", "port 1 address 198.18.4.2/24"}, s);
  EXPECT_TRUE(director->tick(0).announcements6.empty());
  ASSERT_TRUE(apply({"vip add 2001:2::100 tcp 80", "vip add 2001:2::100 udp 53", "vip add 198.18.0.100 tcp 80"}, 10).ok);
  const Director::Tick first = director->tick(10);
  ASSERT_EQ(first.announcements6.size(), 2u) << "one IPv6 VIP, on both ports";
  std::set<uint16_t> ports;
  for (const NdpOut& a : first.announcements6) {
    ports.insert(a.port);
    const net::Ndp& na = a.ndp;
    EXPECT_EQ(na.type, net::kNdpNeighborAdvert);
    EXPECT_FALSE(na.solicited);
    EXPECT_TRUE(na.override_flag);
    EXPECT_FALSE(na.router);
    EXPECT_EQ(na.target, a6("2001:2::100"));
    EXPECT_EQ(na.src, a6("2001:2::100"));
    EXPECT_EQ(na.dst, a6("ff02::1"));
    EXPECT_EQ(na.eth_dst, mac("33:33:00:00:00:01"));
    EXPECT_EQ(na.eth_src, port_mac(a.port));
    EXPECT_EQ(na.lladdr, port_mac(a.port));
    wire(na);
  }
  EXPECT_EQ(ports, (std::set<uint16_t>{0, 1}));
  ASSERT_EQ(first.announcements.size(), 1u) << "the IPv4 VIP by gratuitous ARP, on its port only";
  EXPECT_EQ(first.announcements[0].arp.spa, ip("198.18.0.100"));
  auto at = [&](double now) { return director->tick(now); };
  const Director::Tick early = at(10.25);
  EXPECT_TRUE(early.announcements6.empty() && early.announcements.empty()) << "before the interval";
  const Director::Tick second = at(10.5);
  EXPECT_EQ(second.announcements6.size(), 2u);
  EXPECT_EQ(second.announcements.size(), 1u);
  EXPECT_TRUE(at(11).announcements6.empty()) << "announce_count reached";
  EXPECT_TRUE(at(20).announcements6.empty());
}

// IPv6 servers without a static neighbour are solicited on their port, from its
// link-local address with its MAC as the source link-layer address, to each server's
// solicited-node group; again every retrans_time while unanswered; no longer once a
// static neighbour is added. A static neighbour is never solicited.
TEST_F(DirectorTest, TickSolicitsIpv6ServersWithoutStaticNeighbours) {
  start(kBase6, one_port());
  ASSERT_TRUE(apply({"rs add 2001:2::100 tcp 80 2001:2::13"}, 0).ok);
  auto targets = [&](const Director::Tick& t) {
    std::set<net::IpAddr> out;
    for (const NdpOut& r : t.requests6) {
      const net::Ndp& ns = r.ndp;
      EXPECT_EQ(r.port, 0);
      EXPECT_EQ(r.vlan, 0);
      EXPECT_EQ(ns.type, net::kNdpNeighborSolicit);
      EXPECT_EQ(ns.src, director->link_local(0));
      EXPECT_EQ(ns.eth_src, port_mac(0));
      EXPECT_EQ(ns.lladdr, port_mac(0));
      EXPECT_EQ(ns.dst, net::solicited_node(ns.target));
      EXPECT_EQ(ns.eth_dst, net::ipv6_multicast_mac(ns.dst));
      wire(ns);
      out.insert(net::IpAddr(ns.target));
    }
    EXPECT_EQ(out.size(), t.requests6.size()) << "one solicitation per server";
    return out;
  };
  const std::set<net::IpAddr> both = {ip6("2001:2::12"), ip6("2001:2::13")};
  const Director::Tick t0 = director->tick(0);
  EXPECT_EQ(targets(t0), both) << "not 2001:2::11, a static neighbour";
  ASSERT_EQ(t0.requests.size(), 1u) << "the IPv4 server by ARP";
  EXPECT_EQ(t0.requests[0].arp.tpa, ip("198.18.0.12"));
  EXPECT_EQ(t0.requests6[0].ndp.eth_dst, mac("33:33:ff:00:00:12"));
  EXPECT_TRUE(director->tick(0.5).requests6.empty());
  EXPECT_EQ(targets(director->tick(1.0)), both);
  ASSERT_TRUE(apply({"neigh add 2001:2::12 02:00:00:00:00:12 port 0"}, 1.5).ok);
  EXPECT_EQ(targets(director->tick(2.0)), std::set<net::IpAddr>{ip6("2001:2::13")});
  // The static neighbours are usable as they are.
  const lb::RsView& v = sink.current()->rs_view[rs_of("2001:2::100", "2001:2::11").slot];
  EXPECT_TRUE(v.accepting);
  EXPECT_TRUE(std::equal(v.l2, v.l2 + 6, kMac11.bytes.begin()));
}

// The server's solicited answer resolves it (published on the next tick); from then on
// another MAC for it is a conflict; reachable_time later it is solicited at its known
// MAC, and unanswered for max_probes solicitations it is lost, as with ARP.
TEST_F(DirectorTest, Ipv6ResolutionIsPublishedRefreshedAndLost) {
  start(kOne6, one_port());
  const Director::Tick t = director->tick(0.1);
  ASSERT_EQ(t.requests6.size(), 1u);
  EXPECT_TRUE(t.requests.empty());
  const uint32_t slot = rs_of("2001:2::100", "2001:2::12").slot;
  EXPECT_FALSE(sink.current()->rs_view[slot].live_gen);
  const uint64_t before = sink.published();
  EXPECT_EQ(director->on_ndp(0, na_from(kMac12, "2001:2::12"), 0.2).action, NdpAction::kToKernel);
  EXPECT_EQ(director->known_mac(ip6("2001:2::12")), kMac12);
  EXPECT_EQ(sink.published(), before) << "published by the control round, not by the frame";
  director->tick(0.3);
  ASSERT_EQ(sink.published(), before + 1);
  {
    const lb::RsView& v = sink.current()->rs_view[slot];
    EXPECT_TRUE(v.live_gen);
    EXPECT_TRUE(v.accepting);
    EXPECT_TRUE(std::equal(v.l2, v.l2 + 6, kMac12.bytes.begin()));
    EXPECT_TRUE(std::equal(v.l2 + 6, v.l2 + 12, port_mac(0).bytes.begin()));
  }
  const NdpDecision claim = director->on_ndp(0, wire(net::ndp_announce(kImpostor, a6("2001:2::12"))), 0.5);
  EXPECT_EQ(claim.action, NdpAction::kConflict);
  EXPECT_EQ(claim.known, kMac12);
  EXPECT_EQ(director->on_ndp(0, wire(net::ndp_announce(kMac12, a6("2001:2::12"))), 0.5).action,
            NdpAction::kToKernel) << "the known MAC";

  const NeighConfig& cfg = director->neighbours().config();
  double now = 0.2 + cfg.reachable_time;
  EXPECT_TRUE(director->tick(now - 0.1).requests6.empty());
  const Director::Tick refresh = director->tick(now);
  ASSERT_EQ(refresh.requests6.size(), 1u);
  const net::Ndp& probe = refresh.requests6[0].ndp;
  EXPECT_EQ(probe.eth_dst, kMac12) << "unicast to the known MAC";
  EXPECT_EQ(probe.dst, a6("2001:2::12"));
  EXPECT_EQ(probe.src, director->link_local(0));
  EXPECT_EQ(probe.lladdr, port_mac(0));
  // Answered: confirmed, the next refresh reachable_time later.
  EXPECT_EQ(director->on_ndp(0, wire(net::ndp_advert(kMac12, probe.target, probe)), now + 0.1).action,
            NdpAction::kToKernel);
  EXPECT_EQ(director->neighbours().entries().at(ip6("2001:2::12")).state, NeighState::kReachable);
  EXPECT_TRUE(director->tick(now + cfg.retrans_time).requests6.empty());
  now += 0.1 + cfg.reachable_time;
  ASSERT_EQ(director->tick(now).requests6.size(), 1u);
  // Unanswered: the round's other solicitations go to the group, then it is lost.
  for (unsigned i = 1; i < cfg.max_probes; ++i) {
    const Director::Tick r = director->tick(now += cfg.retrans_time);
    ASSERT_EQ(r.requests6.size(), 1u);
    EXPECT_EQ(r.requests6[0].ndp.dst, net::solicited_node(a6("2001:2::12")));
    EXPECT_TRUE(sink.current()->rs_view[slot].accepting) << "still used while probed";
  }
  const uint64_t up = sink.published();
  director->tick(now += cfg.retrans_time);
  EXPECT_EQ(sink.published(), up + 1);
  EXPECT_FALSE(sink.current()->rs_view[slot].live_gen);
  EXPECT_FALSE(sink.current()->rs_view[slot].accepting);
  EXPECT_FALSE(director->known_mac(ip6("2001:2::12")));
  EXPECT_EQ(director->neighbours().entries().at(ip6("2001:2::12")).state, NeighState::kFailed);
  EXPECT_EQ(director->tick(now + 0.01).requests6.size(), 1u) << "still asked, slowly";
}

// Only a solicited answer to drfwd's own solicitation, on the server's interface, to
// its MAC and its link-local address, with the target link-layer address, teaches a
// MAC: anything else is counted ignored, and the server's own answer still resolves it.
TEST_F(DirectorTest, Ipv6ResolutionLearnsOnlyFromSolicitedAnswers) {
  start({"port 0 address 198.18.0.2/24", "port 0 vlan 10 address 198.18.10.2/24", "vip add 2001:2::100 tcp 80",
         "rs add 2001:2::100 tcp 80 2001:2::12"},
        one_port());
  const net::IpAddr rs = ip6("2001:2::12");
  EXPECT_EQ(director->on_ndp(0, na_from(kImpostor, "2001:2::12"), 0).action, NdpAction::kToKernel);
  EXPECT_FALSE(director->known_mac(rs)) << "before any solicitation";
  ASSERT_EQ(director->tick(0.1).requests6.size(), 1u);
  net::Ndp other_mac = na_from(kImpostor, "2001:2::12");
  other_mac.eth_dst = kClient;
  net::Ndp other_dst = na_from(kImpostor, "2001:2::12");
  other_dst.dst = a6("2001:2::50");
  net::Ndp no_tlla = na_from(kImpostor, "2001:2::12");
  no_tlla.lladdr.reset();
  const std::vector<std::pair<lb::Iface, net::Ndp>> spoofs = {
      {0, wire(net::ndp_announce(kImpostor, a6("2001:2::12")))},  // unsolicited (S clear)
      {{0, 10}, na_from(kImpostor, "2001:2::12")},                 // on another VLAN
      {0, wire(other_mac)},                                        // to another MAC
      {0, wire(other_dst)},                                        // to another address
      {0, wire(no_tlla)},                                          // no MAC to learn
  };
  double now = 0.2;
  for (const auto& [at, n] : spoofs) {
    EXPECT_EQ(director->on_ndp(at, n, now += 0.01).action, NdpAction::kToKernel);
    EXPECT_FALSE(director->known_mac(rs));
  }
  EXPECT_EQ(director->neighbours().ignored(), 5u) << "all but the one without a MAC, and the early one";
  EXPECT_EQ(director->neighbours().conflicts(), 0u);
  EXPECT_EQ(director->on_ndp(0, na_from(kMac12, "2001:2::12"), 0.5).action, NdpAction::kToKernel);
  EXPECT_EQ(director->known_mac(rs), kMac12);
  EXPECT_EQ(director->neighbours().conflicts(), 0u);
}

// An advertisement claiming a real server's IPv6 address for a MAC other than the one
// drfwd holds (static or resolved) is dropped, solicited or not; with the right MAC, or
// for a server with no MAC yet, it passes.
TEST_F(DirectorTest, NdpClaimingAServersAddressForAnotherMacIsAConflict) {
  start(kBase6);
  for (const net::Ndp& n : {wire(net::ndp_announce(kImpostor, a6("2001:2::11"))), na_from(kImpostor, "2001:2::11")}) {
    const NdpDecision d = director->on_ndp(0, n, 1);
    EXPECT_EQ(d.action, NdpAction::kConflict) << "solicited " << n.solicited;
    EXPECT_EQ(d.known, kMac11);
  }
  EXPECT_EQ(director->on_ndp(0, wire(net::ndp_announce(kMac11, a6("2001:2::11"))), 1).action, NdpAction::kToKernel);
  EXPECT_EQ(director->on_ndp(0, wire(net::ndp_announce(kImpostor, a6("2001:2::12"))), 1).action,
            NdpAction::kToKernel) << "2001:2::12 has no MAC yet: nothing to conflict with";
  EXPECT_EQ(director->known_mac(ip6("2001:2::11")), kMac11);
  // A solicitation (for the DIP, say) from the server's address with another MAC as its
  // source link-layer address would teach the kernel that MAC: refused too.
  const NdpDecision spoof = director->on_ndp(0, ns_for("2001:2::2", "2001:2::11", kImpostor), 1);
  EXPECT_EQ(spoof.action, NdpAction::kConflict);
  EXPECT_EQ(spoof.known, kMac11);
  EXPECT_EQ(director->on_ndp(0, ns_for("2001:2::2", "2001:2::11", kMac11), 1).action, NdpAction::kToKernel)
      << "the server itself";
}

// Two MACs answering the solicitations that first resolve a server: neither is used, the
// server is retried after failed_retry (as with ARP).
TEST_F(DirectorTest, TwoMacsAnsweringAFirstIpv6ResolutionAreNeitherUsed) {
  start(kOne6, one_port());
  const uint32_t slot = rs_of("2001:2::100", "2001:2::12").slot;
  ASSERT_EQ(director->tick(0).requests6.size(), 1u);
  EXPECT_EQ(director->on_ndp(0, na_from(kImpostor, "2001:2::12"), 0.01).action, NdpAction::kToKernel);
  EXPECT_EQ(director->known_mac(ip6("2001:2::12")), kImpostor) << "the impostor is faster";
  EXPECT_EQ(director->on_ndp(0, na_from(kMac12, "2001:2::12"), 0.02).action, NdpAction::kToKernel)
      << "no MAC left to conflict with";
  EXPECT_FALSE(director->known_mac(ip6("2001:2::12")));
  EXPECT_EQ(director->neighbours().entries().at(ip6("2001:2::12")).state, NeighState::kFailed);
  EXPECT_EQ(director->neighbours().conflicts(), 1u);
  EXPECT_TRUE(director->tick(0.03).requests6.empty());
  EXPECT_FALSE(sink.current()->rs_view[slot].accepting) << "the impostor's MAC never reached the workers";
  const double retry = 0.02 + director->neighbours().config().failed_retry;
  ASSERT_EQ(director->tick(retry).requests6.size(), 1u);
  director->on_ndp(0, na_from(kMac12, "2001:2::12"), retry + 0.01);
  EXPECT_EQ(director->known_mac(ip6("2001:2::12")), kMac12);
}

// vip-arp kernel with an IPv6 VIP: claimed (solicitations answered, the VIP announced)
// only while the kernel's addresses hold it and once it has converged (its server
// resolved by solicitation).
TEST_F(DirectorTest, VipArpKernelClaimsAnIpv6VipOnceHeldAndConverged) {
  start({"port 0 address 198.18.0.2/24", "set vip-arp kernel", "vip add 2001:2::100 tcp 80 sched mh",
         "rs add 2001:2::100 tcp 80 2001:2::12"},
        one_port());
  const net::IpAddr vip = ip6("2001:2::100");
  EXPECT_EQ(director->on_ndp(0, ns_for("2001:2::100"), 0).action, NdpAction::kToKernel);
  director->set_kernel_addresses(0, addrs({"198.18.0.2", "2001:2::100"}), 0);
  const Director::Tick t = director->tick(0.1);
  ASSERT_EQ(t.requests6.size(), 1u);
  EXPECT_TRUE(t.announcements6.empty());
  EXPECT_FALSE(director->converged(vip));
  EXPECT_FALSE(director->claimed(0, vip));
  EXPECT_EQ(director->on_ndp(0, ns_for("2001:2::100"), 0.15).action, NdpAction::kToKernel)
      << "held, its server unresolved";
  director->on_ndp(0, na_from(kMac12, "2001:2::12"), 0.2);
  director->set_kernel_addresses(0, addrs({"198.18.0.2"}), 0.25);  // the master role went meanwhile
  director->tick(0.3);
  EXPECT_TRUE(director->converged(vip));
  EXPECT_FALSE(director->claimed(0, vip)) << "converged, not held";
  EXPECT_EQ(director->on_ndp(0, ns_for("2001:2::100"), 0.3).action, NdpAction::kToKernel);
  director->set_kernel_addresses(0, addrs({"198.18.0.2", "2001:2::100"}), 0.4);
  EXPECT_TRUE(director->claimed(0, vip));
  const NdpDecision d = director->on_ndp(0, ns_for("2001:2::100"), 0.4);
  ASSERT_EQ(d.action, NdpAction::kReply);
  EXPECT_EQ(d.reply.lladdr, port_mac(0));
  const Director::Tick now = director->tick(0.4);
  ASSERT_EQ(now.announcements6.size(), 1u) << "announced at once";
  EXPECT_EQ(now.announcements6[0].ndp.target, a6("2001:2::100"));
  EXPECT_TRUE(now.announcements.empty());
  director->set_kernel_addresses(0, addrs({"198.18.0.2"}), 1);
  EXPECT_EQ(director->on_ndp(0, ns_for("2001:2::100"), 1).action, NdpAction::kToKernel);
}

// Found by review: an IPv4-mapped target (::ffff:198.18.0.12) is, as an IpAddr, the IPv4
// address. A solicitation for an IPv4 VIP's mapped form was answered with an NA, and an
// advertisement shaped as an answer to drfwd's ARP request (to ::ffff:<DIP>) taught an
// IPv4 server's MAC: an impostor that saw the broadcast request won the server without
// racing its ARP reply (a second ARP answer is a conflict; this was first and alone).
TEST_F(DirectorTest, Ipv4MappedNdpTargetsAreNotIpv4Addresses) {
  start(kBase);
  EXPECT_EQ(director->on_ndp(0, ns_for("::ffff:198.18.0.100"), 0.05).action, NdpAction::kToKernel);
  ASSERT_EQ(director->tick(0.1).requests.size(), 1u);  // ARP for 198.18.0.12
  net::Ndp na = net::ndp_advert(kImpostor, a6("::ffff:198.18.0.12"),
                                net::ndp_solicit(port_mac(0), a6("::ffff:198.18.0.2"), a6("::ffff:198.18.0.12")));
  na.src = a6("fe80::66");  // a mapped source is refused by the parser: the impostor's own
  na = wire(na);
  ASSERT_TRUE(na.solicited);
  EXPECT_EQ(director->on_ndp(0, na, 0.15).action, NdpAction::kToKernel);
  EXPECT_FALSE(director->known_mac(ip("198.18.0.12")));
  EXPECT_EQ(director->on_arp(0, net::arp_reply(kMac12, ip("198.18.0.12"), port_mac(0), ip("198.18.0.2")), 0.2).action,
            Action::kToKernel);
  EXPECT_EQ(director->known_mac(ip("198.18.0.12")), kMac12);
  EXPECT_EQ(director->neighbours().conflicts(), 0u);
}
