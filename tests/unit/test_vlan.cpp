// VLAN interfaces without EAL: the tag functions the workers use, the grammar and the
// model's rules, the snapshot and the Forwarder's verdicts for tagged traffic, and the
// documented example configurations.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "config/command.hpp"
#include "config/loader.hpp"
#include "config/model.hpp"
#include "config/show_config.hpp"
#include "docs.hpp"
#include "forwarder_fixture.hpp"
#include "net/vlan.hpp"
#include "packets.hpp"

using namespace drfwd;
using drfwd::test::ip;

namespace {

// ---- The tag functions -------------------------------------------------------------

std::vector<uint8_t> tagged(uint16_t tpid, uint16_t tci, uint16_t inner, size_t payload = 46) {
  std::vector<uint8_t> f = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  f.push_back(tpid >> 8);
  f.push_back(tpid & 0xff);
  f.push_back(tci >> 8);
  f.push_back(tci & 0xff);
  f.push_back(inner >> 8);
  f.push_back(inner & 0xff);
  for (size_t i = 0; i < payload; ++i) f.push_back(static_cast<uint8_t>(0xa0 + i));
  return f;
}

TEST(VlanTag, StripMovesTheAddressesAndKeepsTheRest) {
  std::vector<uint8_t> f = tagged(net::kEtherVlan, 0x6014, net::kEtherIpv4);  // PCP 3, VID 20
  const std::vector<uint8_t> before = f;
  ASSERT_EQ(net::strip_vlan_tag(f.data(), static_cast<uint32_t>(f.size())), 20);
  const uint8_t* now = f.data() + net::kVlanTagLen;
  EXPECT_EQ(std::vector<uint8_t>(now, now + 12), std::vector<uint8_t>(before.begin(), before.begin() + 12));
  EXPECT_EQ(net::ntoh16(net::load16(now + 12)), net::kEtherIpv4);
  const uint8_t* end = f.data() + f.size();
  EXPECT_EQ(std::vector<uint8_t>(now + 14, end), std::vector<uint8_t>(before.begin() + 18, before.end()));
}

TEST(VlanTag, OnlyASingleCustomerTagIsTakenOut) {
  std::vector<uint8_t> prio = tagged(net::kEtherVlan, 0xe000, net::kEtherIpv4);  // priority tag: VID 0
  EXPECT_EQ(net::strip_vlan_tag(prio.data(), static_cast<uint32_t>(prio.size())), 0);
  for (uint16_t tpid : {net::kEtherQinQ, net::kEtherIpv4, net::kEtherArp, uint16_t{0x9100}}) {
    std::vector<uint8_t> f = tagged(tpid, 20, net::kEtherIpv4);
    const auto before = f;
    EXPECT_EQ(net::strip_vlan_tag(f.data(), static_cast<uint32_t>(f.size())), -1) << tpid;
    EXPECT_EQ(f, before) << "nothing moved";
  }
  // Too short to hold the tag and an EtherType: left for the parser (a runt).
  for (uint32_t len = 0; len < 18; ++len) {
    std::vector<uint8_t> f = tagged(net::kEtherVlan, 20, net::kEtherIpv4);
    const auto before = f;
    EXPECT_EQ(net::strip_vlan_tag(f.data(), len), -1) << len;
    EXPECT_EQ(f, before);
  }
}

TEST(VlanTag, InsertIsTheInverseOfStrip) {
  std::vector<uint8_t> f = tagged(net::kEtherVlan, 4094, net::kEtherIpv4);
  const auto before = f;
  ASSERT_EQ(net::strip_vlan_tag(f.data(), static_cast<uint32_t>(f.size())), 4094);
  net::insert_vlan_tag(f.data() + net::kVlanTagLen, 4094);
  EXPECT_EQ(f, before);
}

// ---- Grammar and model ---------------------------------------------------------------

config::Model model(const std::vector<std::string>& lines, uint16_t ports = 2) {
  config::Model m(ports);
  for (const auto& l : lines) m.apply(*config::parse_line(l));
  return m;
}

std::string refusal(const std::vector<std::string>& setup, const std::string& line) {
  config::Model m = model(setup);
  try {
    if (auto c = config::parse_line(line)) m.apply(*c);
    return "";
  } catch (const config::ConfigError& e) {
    return e.what();
  }
}

TEST(VlanConfig, Forms) {
  auto c = std::get<config::cmd::PortAddress>(*config::parse_line("port 1 vlan 20 address 198.18.20.2/24"));
  EXPECT_EQ(c.port, 1);
  EXPECT_EQ(c.vlan, 20);
  EXPECT_EQ(c.address->addr, ip("198.18.20.2"));
  c = std::get<config::cmd::PortAddress>(*config::parse_line("port 0 vlan 4094 address none"));
  EXPECT_EQ(c.vlan, 4094);
  EXPECT_FALSE(c.address);
  auto n = std::get<config::cmd::NeighAdd>(*config::parse_line("neigh add 198.18.20.11 02:00:00:00:00:11 port 0 vlan 20"));
  EXPECT_EQ(*n.port, 0);
  EXPECT_EQ(n.vlan, 20);
}

TEST(VlanConfig, RefusalsNameTheProblem) {
  const std::vector<std::string> base = {"port 0 vlan 20 address 198.18.20.2/24"};
  struct Case {
    std::string line, says;
  };
  for (const Case& c : std::vector<Case>{
           {"port 0 vlan 0 address 198.18.30.2/24", "VLAN id"},
           {"port 0 vlan 4095 address 198.18.30.2/24", "VLAN id"},
           {"port 0 vlan x address 198.18.30.2/24", "VLAN id"},
           {"port 0 vlan 30", "'address'"},
           {"port 0 vlan 30 address", "<ip>/<len>"},
           {"port 0 vlan 30 addr 198.18.30.2/24", "expected 'address'"},
           {"port 2 vlan 30 address 198.18.30.2/24", "port 2 does not exist"},
           {"port 1 vlan 30 address 198.18.20.2/24", "already the address of port 0 vlan 20"},
           {"port 0 address 198.18.20.2/24", "already the address of port 0 vlan 20"},
           {"port 0 vlan 30 address none", "port 0 vlan 30 does not exist"},
           {"neigh add 198.18.30.11 02:00:00:00:00:11 port 0 vlan 30", "port 0 vlan 30 does not exist"},
           {"neigh add 198.18.20.11 02:00:00:00:00:11 port 0 vlan 0", "VLAN id"},
           {"neigh add 198.18.20.11 02:00:00:00:00:11 port 0 tag 20", "expected 'vlan <vid>'"},
           {"neigh add 198.18.20.2 02:00:00:00:00:11", "one of drfwd's own addresses"},
       })
    EXPECT_NE(refusal(base, c.line).find(c.says), std::string::npos) << c.line << ": " << refusal(base, c.line);
  // A static neighbour holds its VLAN interface.
  EXPECT_NE(refusal({"port 0 vlan 20 address 198.18.20.2/24", "neigh add 198.18.20.11 02:00:00:00:00:11 port 0 vlan 20"},
                    "port 0 vlan 20 address none")
                .find("static neighbour 198.18.20.11"),
            std::string::npos);
  // The kernel interface's name must fit: "drfwd0.4094" does, a long prefix may not.
  config::Model m(1);
  m.set_kernel_ifname("drfwd-long");
  EXPECT_THROW(m.apply(*config::parse_line("port 0 vlan 4094 address 198.18.20.2/24")), config::ConfigError);
  EXPECT_NO_THROW(m.apply(*config::parse_line("port 0 vlan 94 address 198.18.20.2/24")));
}

TEST(VlanConfig, InterfacesComeAndGoWithTheirAddress) {
  config::Model m = model({"port 0 address 198.18.0.2/24", "port 0 vlan 20 address 198.18.20.2/24",
                           "port 1 vlan 20 address 198.18.21.2/24"});
  EXPECT_EQ(m.addresses().size(), 3u);
  EXPECT_EQ(m.address({0, 20})->addr, ip("198.18.20.2"));
  EXPECT_EQ(m.address({1, 20})->addr, ip("198.18.21.2"));
  EXPECT_TRUE(m.is_dip(ip("198.18.21.2")));
  m.apply(*config::parse_line("port 0 vlan 20 address 198.18.22.2/24"));  // readdressed
  EXPECT_EQ(m.address({0, 20})->addr, ip("198.18.22.2"));
  m.apply(*config::parse_line("port 0 vlan 20 address none"));
  EXPECT_FALSE(m.address({0, 20}));
  EXPECT_TRUE(m.address({0, 0})) << "the untagged interface is untouched";
  EXPECT_EQ(m.kernel_ifname(lb::Iface{1, 20}), "drfwd1.20");
  // Each has a kernel TAP, which takes one of DPDK's port slots: drfwd says how many.
  config::Model capped(1);
  capped.set_max_kernel_vlans(2);
  capped.apply(*config::parse_line("port 0 vlan 1 address 198.18.31.2/24"));
  capped.apply(*config::parse_line("port 0 vlan 2 address 198.18.32.2/24"));
  capped.apply(*config::parse_line("port 0 vlan 2 address 198.18.33.2/24"));  // readdressing is no new one
  try {
    capped.apply(*config::parse_line("port 0 vlan 3 address 198.18.34.2/24"));
    ADD_FAILURE() << "a third VLAN interface was accepted";
  } catch (const config::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("too many VLAN interfaces: at most 2"), std::string::npos) << e.what();
  }
  capped.set_kernel_interfaces(false);
  EXPECT_NO_THROW(capped.apply(*config::parse_line("port 0 vlan 3 address 198.18.34.2/24"))) << "no TAPs, no limit";
  EXPECT_EQ(m.kernel_ifname(lb::Iface{1, 0}), "drfwd1");
}

TEST(VlanConfig, EgressIsTheInterfaceWhoseSubnetHoldsTheServer) {
  config::Model m = model({"port 0 address 198.18.0.2/16", "port 0 vlan 20 address 198.18.20.2/24",
                           "port 1 vlan 30 address 198.18.30.2/24", "port 1 vlan 31 address 198.18.30.130/25",
                           "neigh add 198.18.40.11 02:00:00:00:00:11 port 1 vlan 30"});
  EXPECT_EQ(*m.egress(ip("198.18.20.11")), lb::Iface(0, 20)) << "longest prefix: the VLAN's /24 over the port's /16";
  EXPECT_EQ(*m.egress(ip("198.18.5.11")), lb::Iface(0, 0));
  EXPECT_EQ(*m.egress(ip("198.18.30.11")), lb::Iface(1, 30));
  EXPECT_EQ(*m.egress(ip("198.18.30.200")), lb::Iface(1, 31));
  EXPECT_EQ(*m.egress(ip("198.18.40.11")), lb::Iface(1, 30)) << "a static neighbour's interface";
  // The snapshot's real server carries its VLAN; the port spec lists its VLANs.
  config::Model s = model({"port 0 vlan 20 address 198.18.20.2/24", "vip add 198.18.1.10 tcp 80",
                           "rs add 198.18.1.10 tcp 80 198.18.20.11", "neigh add 198.18.20.11 02:00:00:00:00:11"});
  config::Runtime rt;
  rt.port_macs = {test::port_mac(0), test::port_mac(1)};
  const lb::SnapshotSpec spec = config::make_spec(s, rt);
  EXPECT_EQ(spec.services[0].rs[0].port, 0);
  EXPECT_EQ(spec.services[0].rs[0].vlan, 20);
  ASSERT_EQ(spec.ports[0].vlans.size(), 1u);
  EXPECT_EQ(spec.ports[0].vlans[0].first, 20);
  EXPECT_TRUE(spec.ports[1].vlans.empty());
}

TEST(VlanConfig, ShowConfigRebuildsTheInterfaces) {
  config::Model m = model({"port 0 address 198.18.0.2/24", "port 0 vlan 20 address 198.18.20.2/24",
                           "port 1 vlan 4094 address 198.18.21.2/24",
                           "neigh add 198.18.20.11 02:00:00:00:00:11 port 0 vlan 20",
                           "neigh add 198.18.0.11 02:00:00:00:00:12 port 0"});
  const std::string shown = config::model_to_commands(m);
  EXPECT_NE(shown.find("port 0 vlan 20 address 198.18.20.2/24\n"), std::string::npos) << shown;
  EXPECT_NE(shown.find("neigh add 198.18.20.11 02:00:00:00:00:11 port 0 vlan 20\n"), std::string::npos) << shown;
  EXPECT_NE(shown.find("neigh add 198.18.0.11 02:00:00:00:00:12 port 0\n"), std::string::npos) << shown;
  config::Model again(2);
  config::load_text("show config", shown, again);
  EXPECT_EQ(again.addresses(), m.addresses());
  EXPECT_EQ(config::model_to_commands(again), shown);
}

// ---- Snapshot and Forwarder ----------------------------------------------------------

// Port 0 has VLAN 10 (clients) and 20 (servers); the service's RSs are on VLAN 20, one
// other service's RS untagged.
class VlanForwarder : public test::ForwarderFixture {
 protected:
  void SetUp() override {
    spec.ports = test::ports(2, net::Prefix{ip("198.18.0.2"), 24});
    spec.ports[0].vlans = {{10, net::Prefix{ip("198.18.10.2"), 24}}, {20, net::Prefix{ip("198.18.20.2"), 24}}};
    lb::RsSpec a = test::rs(0, "198.18.20.11"), b = test::rs(1, "198.18.20.12"), c = test::rs(2, "198.18.0.13");
    a.vlan = b.vlan = 20;
    spec.services = {test::service(0, "198.18.10.100", net::kProtoTcp, 80, lb::Sched::kRr, {a, b}),
                     test::service(1, "198.18.1.10", net::kProtoTcp, 80, lb::Sched::kRr, {c})};
    start();
  }
  lb::Verdict on(uint16_t vlan, const test::FrameSpec& s, uint16_t port = 0) {
    last = test::build(s);
    lb::Frame fr{last.data(), static_cast<uint32_t>(last.size()), static_cast<uint32_t>(last.size()), port, vlan};
    return fwd->process(fr);
  }
  static test::FrameSpec to(const char* vip, uint16_t sport = 40000) {
    test::FrameSpec s;
    s.daddr = ip(vip);
    s.sport = sport;
    return s;
  }
  uint64_t dropped(net::Drop d) const { return counters->port[0].drops[static_cast<int>(d)]; }
};

TEST_F(VlanForwarder, KnownVlansAreServedAndServersReachedOnTheirs) {
  for (uint16_t vlan : {uint16_t{10}, uint16_t{20}, uint16_t{0}}) {
    const lb::Verdict v = on(vlan, to("198.18.10.100", static_cast<uint16_t>(41000 + vlan)));
    ASSERT_EQ(v.action, lb::Verdict::Action::kForward) << vlan;
    EXPECT_EQ(v.port, 0);
    EXPECT_EQ(v.vlan, 20) << "the RSs' VLAN, whatever the client's";
    EXPECT_EQ(std::memcmp(last.data() + 6, test::port_mac(0).bytes.data(), 6), 0);
  }
  const lb::Verdict u = on(10, to("198.18.1.10"));
  ASSERT_EQ(u.action, lb::Verdict::Action::kForward);
  EXPECT_EQ(u.vlan, 0) << "an untagged server: untagged";
}

TEST_F(VlanForwarder, UnknownVlansAreDroppedAndCounted) {
  for (uint16_t vlan : {uint16_t{30}, uint16_t{4094}, uint16_t{4095}}) {
    const std::vector<uint8_t> before = test::build(to("198.18.10.100"));
    const lb::Verdict v = on(vlan, to("198.18.10.100"));
    EXPECT_EQ(v.action, lb::Verdict::Action::kDrop) << vlan;
    EXPECT_EQ(v.drop, net::Drop::kVlanUnknown) << vlan;
    EXPECT_EQ(last, before) << "a dropped frame is not modified";
  }
  EXPECT_EQ(dropped(net::Drop::kVlanUnknown), 3u);
  // VLAN 10 is port 0's, not port 1's.
  test::FrameSpec on1 = to("198.18.10.100");
  on1.dst = test::port_mac(1);
  EXPECT_EQ(on(10, on1, 1).drop, net::Drop::kVlanUnknown);
  // A second tag inside (the worker took the first out), or a service tag: vlan-double.
  test::FrameSpec inner = to("198.18.10.100");
  inner.ethertype = net::kEtherVlan;
  EXPECT_EQ(on(10, inner).drop, net::Drop::kVlanDouble);
  inner.ethertype = net::kEtherQinQ;
  EXPECT_EQ(on(0, inner).drop, net::Drop::kVlanDouble);
  EXPECT_EQ(dropped(net::Drop::kVlanDouble), 2u);
  // Port 1 has no VLAN interface: the worker leaves a tag in, and its VID is unknown.
  test::FrameSpec raw = to("198.18.10.100");
  raw.dst = test::port_mac(1);
  raw.ethertype = net::kEtherVlan;
  EXPECT_EQ(on(0, raw, 1).drop, net::Drop::kVlanUnknown);
  raw.ethertype = net::kEtherQinQ;
  EXPECT_EQ(on(0, raw, 1).drop, net::Drop::kVlanDouble);
  EXPECT_FALSE(snap->has_vlans(1));
  EXPECT_TRUE(snap->has_vlans(0));
}

TEST_F(VlanForwarder, TheDipOfAVlanIsTheAppliancesOwn) {
  EXPECT_EQ(on(20, to("198.18.20.2")).action, lb::Verdict::Action::kControl);
  EXPECT_EQ(on(10, to("198.18.10.2")).action, lb::Verdict::Action::kControl);
  EXPECT_EQ(on(0, to("198.18.0.2")).action, lb::Verdict::Action::kControl);
  EXPECT_EQ(on(10, to("198.18.30.2")).drop, net::Drop::kNoService);
}

// The model never puts a server on a VLAN its port lacks; a spec that does is refused.
TEST_F(VlanForwarder, AServerOnAVlanItsPortLacksIsAnInconsistentSpec) {
  spec.services[0].rs[0].vlan = 30;
  EXPECT_THROW(lb::build_snapshot(spec, snap.get()), std::invalid_argument);
  spec.services[0].rs[0].vlan = 20;
  spec.services[0].rs[0].port = 1;  // port 1 has no VLAN 20
  EXPECT_THROW(lb::build_snapshot(spec, snap.get()), std::invalid_argument);
}

// ---- The documented configurations ------------------------------------------------------

TEST(VlanDocs, TheExamplesLoad) {
  const std::string example = test::read_doc("examples/vlan.conf");
  ASSERT_FALSE(example.empty());
  config::Model m(1);
  EXPECT_NO_THROW(config::load_text("docs/examples/vlan.conf", example, m));
  EXPECT_EQ(m.addresses().size(), 2u);
  ASSERT_EQ(m.services().size(), 1u);
  EXPECT_EQ(*m.egress(m.services()[0].rs[0].ip), lb::Iface(0, 20));
  // operation.md's VLAN block, as an operator would paste it.
  const std::string doc = test::read_doc("operation.md");
  const size_t at = doc.find("```\nport 0 vlan 10");
  ASSERT_NE(at, std::string::npos);
  const size_t end = doc.find("```", at + 4);
  config::Model d(1);
  EXPECT_NO_THROW(config::load_text("docs/operation.md", doc.substr(at + 4, end - at - 4), d));
  EXPECT_EQ(d.services().size(), 1u);
}

}  // namespace
