// lib/config: every grammar form (native and ipvsadm) and every refusal.
#include <gtest/gtest.h>

#include "config/command.hpp"
#include "config/loader.hpp"
#include "config/model.hpp"
#include "config/request.hpp"
#include "config/show_config.hpp"
#include "docs.hpp"
#include "packets.hpp"
#include "lb/sched.hpp"
#include "net/parse.hpp"

using namespace drfwd;
using namespace drfwd::config;
using drfwd::test::ip;

namespace {

Command parse(const std::string& line) {
  auto c = parse_line(line);
  EXPECT_TRUE(c.has_value()) << line;
  return *c;
}

// The error text a line produces (parse and apply), or "" if it is accepted.
std::string refusal(const std::string& line, Model m = Model(2)) {
  try {
    if (auto c = parse_line(line)) m.apply(*c);
    return "";
  } catch (const ConfigError& e) {
    return e.what();
  }
}

Model model_with(const std::vector<std::string>& lines, uint16_t ports = 2) {
  Model m(ports);
  for (auto& l : lines) m.apply(parse(l));
  return m;
}

const ServiceKey kWeb{ip("198.18.1.10"), net::kProtoTcp, 80};

}  // namespace

TEST(Grammar, CommentsAndBlankLines) {
  EXPECT_FALSE(parse_line(""));
  EXPECT_FALSE(parse_line("   \t "));
  EXPECT_FALSE(parse_line("# a comment"));
  auto c = parse_line("vip add 198.18.1.10 tcp 80   # trailing comment");
  ASSERT_TRUE(c);
  EXPECT_TRUE(std::holds_alternative<cmd::VipAdd>(*c));
}

TEST(Grammar, NativeVipAdd) {
  auto c = std::get<cmd::VipAdd>(parse("vip add 198.18.1.10 tcp 80 sched mh persist 60 netmask 255.255.255.0 mh-size 251 flags sh-port"));
  EXPECT_EQ(c.key, kWeb);
  EXPECT_EQ(*c.opts.sched, lb::Sched::kMh);
  EXPECT_EQ(*c.opts.persist, 60u);
  EXPECT_EQ(*c.opts.persist_mask, 24);
  EXPECT_EQ(*c.opts.mh_size, 251u);
  EXPECT_EQ(*c.opts.flags, lb::kFlagShPort);
  auto d = std::get<cmd::VipAdd>(parse("vip add 198.18.1.10 udp 53"));
  EXPECT_EQ(d.key.proto, net::kProtoUdp);
  EXPECT_FALSE(d.opts.sched);
  EXPECT_EQ(std::get<cmd::VipAdd>(parse("vip add 198.18.1.10 tcp http")).key.port, 80);
}

TEST(Grammar, NativeOtherForms) {
  EXPECT_EQ(std::get<cmd::VipDel>(parse("vip del 198.18.1.10 tcp 80")).key, kWeb);
  auto e = std::get<cmd::VipEdit>(parse("vip set 198.18.1.10 tcp 80 sched wrr"));
  EXPECT_FALSE(e.replace_all);
  EXPECT_EQ(*e.opts.sched, lb::Sched::kWrr);
  auto a = std::get<cmd::RsAdd>(parse("rs add 198.18.1.10 tcp 80 198.18.0.11 weight 5"));
  EXPECT_EQ(a.rip, ip("198.18.0.11"));
  EXPECT_EQ(*a.weight, 5u);
  EXPECT_FALSE(std::get<cmd::RsAdd>(parse("rs add 198.18.1.10 tcp 80 198.18.0.11:80")).weight);
  EXPECT_EQ(std::get<cmd::RsEdit>(parse("rs set 198.18.1.10 tcp 80 198.18.0.11 weight 0")).weight, 0u);
  EXPECT_EQ(std::get<cmd::RsDel>(parse("rs del 198.18.1.10 tcp 80 198.18.0.11")).rip, ip("198.18.0.11"));
  auto n = std::get<cmd::NeighAdd>(parse("neigh add 198.18.0.11 02:00:00:00:00:11 port 1"));
  EXPECT_EQ(*n.port, 1);
  EXPECT_EQ(net::to_string(n.mac), "02:00:00:00:00:11");
  EXPECT_EQ(std::get<cmd::NeighDel>(parse("neigh del 198.18.0.11")).ip, ip("198.18.0.11"));
  auto p = std::get<cmd::PortAddress>(parse("port 1 address 198.18.0.2/24"));
  EXPECT_EQ(p.port, 1);
  EXPECT_EQ(p.address->len, 24);
  EXPECT_FALSE(std::get<cmd::PortAddress>(parse("port 1 address none")).address);
  auto t = std::get<cmd::SetTimeouts>(parse("set timeout tcp 600 udp 30"));
  EXPECT_EQ(*t.tcp, 600u);
  EXPECT_FALSE(t.tcp_fin);
  EXPECT_EQ(*t.udp, 30u);
  EXPECT_TRUE(std::holds_alternative<cmd::Clear>(parse("clear")));
}

TEST(Grammar, IpvsadmServiceForms) {
  auto a = std::get<cmd::VipAdd>(parse("ipvsadm -A -t 198.18.1.10:80 -s rr"));
  EXPECT_EQ(a.key, kWeb);
  EXPECT_EQ(*a.opts.sched, lb::Sched::kRr);
  auto b = std::get<cmd::VipAdd>(parse("ipvsadm -At 198.18.1.10:80 -s wrr -p"));
  EXPECT_EQ(*b.opts.persist, 300u);  // ipvsadm's default persistence
  auto c = std::get<cmd::VipAdd>(parse("ipvsadm --add-service --udp-service 198.18.1.10:53 --scheduler=sh --persistent 120 --netmask 255.255.0.0"));
  EXPECT_EQ(c.key.proto, net::kProtoUdp);
  EXPECT_EQ(*c.opts.persist, 120u);
  EXPECT_EQ(*c.opts.persist_mask, 16);
  auto d = std::get<cmd::VipAdd>(parse("ipvsadm -A -t198.18.1.10:80 -p60"));
  EXPECT_EQ(*d.opts.persist, 60u);
  auto e = std::get<cmd::VipEdit>(parse("ipvsadm -E -t 198.18.1.10:80 -s mh -b mh-port,mh-fallback"));
  EXPECT_TRUE(e.replace_all);
  EXPECT_EQ(*e.opts.flags, lb::kFlagMhPort | lb::kFlagMhFallback);
  EXPECT_EQ(std::get<cmd::VipDel>(parse("ipvsadm -D -t 198.18.1.10:80")).key, kWeb);
  EXPECT_TRUE(std::holds_alternative<cmd::Clear>(parse("ipvsadm -C")));
  EXPECT_TRUE(std::holds_alternative<cmd::Clear>(parse("ipvsadm --clear")));
  EXPECT_EQ(std::get<cmd::VipAdd>(parse("ipvsadm -A -t 198.18.1.10:http")).key.port, 80);
}

TEST(Grammar, Ipv6Forms) {
  const net::IpAddr vip(*net::parse_ipv6("2001:2::10")), rip(*net::parse_ipv6("2001:2::11"));
  auto a = std::get<cmd::VipAdd>(parse("vip add 2001:2::10 tcp 80 sched mh persist 60 netmask 64"));
  EXPECT_EQ(a.key.vip, vip);
  EXPECT_FALSE(a.key.vip.is_v4());
  EXPECT_EQ(*a.opts.persist_mask, 64);
  auto b = std::get<cmd::VipAdd>(parse("ipvsadm -A -t [2001:2::10]:80 -s sh -p 30 -M 48"));
  EXPECT_EQ(b.key, (ServiceKey{vip, net::kProtoTcp, 80}));
  EXPECT_EQ(*b.opts.persist_mask, 48);
  for (const char* line : {"ipvsadm -a -t [2001:2::10]:80 -r [2001:2::11]:80 -g -w 2", "ipvsadm -a -t [2001:2::10]:http -r [2001:2::11] -w 2",
                           "ipvsadm -a -t [2001:2::10]:80 -r 2001:2::11 -w 2", "rs add 2001:2::10 tcp 80 [2001:2::11]:80 weight 2",
                           "rs add 2001:2::10 tcp 80 2001:2::11 weight 2"}) {
    auto r = std::get<cmd::RsAdd>(parse(line));
    EXPECT_EQ(r.svc.vip, vip) << line;
    EXPECT_EQ(r.rip, rip) << line;
    EXPECT_EQ(*r.weight, 2u) << line;
  }
  EXPECT_EQ(std::get<cmd::NeighAdd>(parse("neigh add 2001:2::11 02:00:00:00:00:11 port 0")).ip, rip);
  // A model: the default persistence mask is the whole address of the family.
  Model m = model_with({"vip add 2001:2::10 udp 53 persist 10", "rs add 2001:2::10 udp 53 2001:2::11",
                        "vip add 198.18.1.10 udp 53 persist 10"});
  EXPECT_EQ(m.services()[0].params.persist_mask, 128);
  EXPECT_EQ(m.services()[1].params.persist_mask, 32);
  EXPECT_EQ(refusal("rs add 2001:2::10 udp 53 198.18.0.11", m).find("one family") != std::string::npos, true);
  EXPECT_EQ(refusal("ipvsadm -E -u [2001:2::10]:53 -s rr -p 10", m), "");
}

// A port has an IPv4 and an IPv6 address, each set and removed on its own; an IPv6
// server is reached through the interface whose IPv6 subnet holds it.
TEST(Model, Ipv6InterfaceAddresses) {
  Model m = model_with({"port 0 address 198.18.0.2/24", "port 1 address 198.18.1.2/24", "port 0 address 2001:2::2/64",
                        "port 1 address 2001:2:1::2/64", "port 1 vlan 20 address 198.18.20.2/24",
                        "port 1 vlan 20 address 2001:2:20::2/64"});
  EXPECT_EQ(net::to_string(*m.address6(lb::Iface{0, 0})), "2001:2::2/64");
  EXPECT_TRUE(m.is_dip(*net::parse_ip("2001:2:1::2")));
  EXPECT_FALSE(m.is_dip(*net::parse_ip("2001:2:1::3")));
  EXPECT_EQ(*m.egress(*net::parse_ip("2001:2:1::11")), lb::Iface(1, 0));
  EXPECT_EQ(*m.egress(*net::parse_ip("2001:2:20::11")), lb::Iface(1, 20));
  EXPECT_FALSE(m.egress(*net::parse_ip("2001:2:9::11"))) << "two ports and no subnet holds it";
  EXPECT_NE(refusal("vip add 2001:2::2 tcp 80", m).find("is a port address"), std::string::npos);
  EXPECT_NE(refusal("port 1 address 2001:2::2/64", m).find("already the address of port 0"), std::string::npos);
  Model a = m;
  a.apply(parse("port 0 address none ipv6"));
  EXPECT_FALSE(a.address6(lb::Iface{0, 0}));
  EXPECT_TRUE(a.address(lb::Iface{0, 0})) << "the IPv4 address stays";
  a.apply(parse("port 1 address none ipv4"));
  EXPECT_FALSE(a.address(lb::Iface{1, 0}));
  EXPECT_TRUE(a.address6(lb::Iface{1, 0}));
  a.apply(parse("port 1 vlan 20 address none"));
  EXPECT_FALSE(a.address6(lb::Iface{1, 20})) << "the VLAN interface goes whole";
  a.apply(parse("port 1 address none"));
  EXPECT_TRUE(a.addresses6().empty());
  // show config gives them back (IPv4 first: a VLAN interface exists by its IPv4 address).
  Model again(2);
  load_text("show config", model_to_commands(m), again);
  EXPECT_EQ(model_to_commands(again), model_to_commands(m));
  EXPECT_EQ(again.addresses6().size(), 3u);
}

TEST(Grammar, IpvsadmServerForms) {
  auto a = std::get<cmd::RsAdd>(parse("ipvsadm -a -t 198.18.1.10:80 -r 198.18.0.11:80 -g -w 3"));
  EXPECT_EQ(a.svc, kWeb);
  EXPECT_EQ(a.rip, ip("198.18.0.11"));
  EXPECT_EQ(*a.weight, 3u);
  auto b = std::get<cmd::RsAdd>(parse("ipvsadm -a -t 198.18.1.10:80 -r 198.18.0.11"));  // DR by default
  EXPECT_FALSE(b.weight);
  auto c = std::get<cmd::RsAdd>(parse("ipvsadm --add-server --tcp-service 198.18.1.10:80 --real-server 198.18.0.12 --gatewaying --weight=0"));
  EXPECT_EQ(*c.weight, 0u);
  auto d = std::get<cmd::RsAdd>(parse("ipvsadm -at 198.18.1.10:80 -r 198.18.0.13:80 -gw 2"));
  EXPECT_EQ(*d.weight, 2u);
  EXPECT_EQ(std::get<cmd::RsEdit>(parse("ipvsadm -e -t 198.18.1.10:80 -r 198.18.0.11 -w 9")).weight, 9u);
  EXPECT_EQ(std::get<cmd::RsEdit>(parse("ipvsadm -e -t 198.18.1.10:80 -r 198.18.0.11")).weight, 1u);
  EXPECT_EQ(std::get<cmd::RsDel>(parse("ipvsadm -d -t 198.18.1.10:80 -r 198.18.0.11:80")).rip, ip("198.18.0.11"));
  auto s = std::get<cmd::SetTimeouts>(parse("ipvsadm --set 900 0 60"));
  EXPECT_EQ(*s.tcp, 900u);
  EXPECT_FALSE(s.tcp_fin);
  EXPECT_EQ(*s.udp, 60u);
  // A timeout of 0 given as such is "unchanged" in the model too, never a timeout (the
  // data path's fast lane relies on every connection's timeout being a second or more).
  Model m(1);
  m.apply(cmd::SetTimeouts{0, 0, 0});
  EXPECT_EQ(m.timeouts(), lb::Timeouts{});
  m.apply(cmd::SetTimeouts{0, 30, std::nullopt});
  EXPECT_EQ(m.timeouts().tcp(), lb::Timeouts{}.tcp());
  EXPECT_EQ(m.timeouts().tcp_fin(), 30u);
  // Thresholds of zero (none) are accepted.
  EXPECT_TRUE(std::holds_alternative<cmd::RsAdd>(parse("ipvsadm -a -t 198.18.1.10:80 -r 198.18.0.11 -x 0 -y 0")));
}

struct Refused {
  const char* line;
  const char* says;  // a phrase the message must contain
};

class Refusals : public ::testing::TestWithParam<Refused> {};

TEST_P(Refusals, NameTheProblem) {
  Model m = model_with({"port 0 address 198.18.0.2/24", "vip add 198.18.1.10 tcp 80",
                        "rs add 198.18.1.10 tcp 80 198.18.0.11", "vip add 198.18.1.20 tcp 80 sched mh mh-size 7"});
  const std::string why = refusal(GetParam().line, m);
  EXPECT_NE(why.find(GetParam().says), std::string::npos)
      << "line: " << GetParam().line << "\nmessage: " << (why.empty() ? "(accepted)" : why);
}

INSTANTIATE_TEST_SUITE_P(
    Grammar, Refusals,
    ::testing::Values(
        Refused{"bogus", "unknown command 'bogus'"},
        Refused{"vip frob 198.18.1.10 tcp 80", "unknown command 'vip' 'frob'"},
        Refused{"vip add 198.18.1.10 sctp 80", "'sctp' is not a protocol"},
        Refused{"vip add 198.18.1.300 tcp 80", "is not an IPv4 or IPv6 address"},
        Refused{"vip add 2001:2::1::2 tcp 80", "is not an IPv4 or IPv6 address"},
        Refused{"vip add ::ffff:198.18.1.1 tcp 80", "IPv4-mapped"},
        Refused{"vip add fe80::1 tcp 80", "global or unique-local"},
        Refused{"vip add ff02::1 tcp 80", "global or unique-local"},
        Refused{"vip add :: tcp 80", "global or unique-local"},
        Refused{"rs add 198.18.1.10 tcp 80 2001:2::11", "both must be of one family"},
        Refused{"vip add 198.18.1.30 tcp 80 persist 10 netmask 64", "not a prefix length for IPv4 (1-32)"},
        Refused{"vip add 2001:2::30 tcp 80 persist 10 netmask 129", "not a netmask"},
        Refused{"neigh add fe80::1 02:00:00:00:00:01", "global or unique-local"},
        Refused{"port 0 address 2001:2::2/128", "prefix length 1-127"},
        Refused{"port 0 address fe80::2/64", "global or unique-local"},
        Refused{"port 0 vlan 30 address 2001:2:30::2/64", "give it its IPv4 address first"},
        Refused{"port 0 address none ipv5", "expected 'ipv4' or 'ipv6'"},
        Refused{"port 1 address none ipv6", "has no IPv6 address"},
        Refused{"vip add 224.0.0.1 tcp 80", "must be a unicast address"},
        Refused{"vip add 0.0.0.0 tcp 80", "must be a unicast address"},
        Refused{"vip add 198.18.1.10 tcp 0", "0 is not allowed"},
        Refused{"vip add 198.18.1.10 tcp 70000", "is not a port"},
        Refused{"vip add 198.18.1.10 tcp", "missing <port>"},
        Refused{"vip add 198.18.1.11 tcp 80 sched lblc",
                "unknown scheduler 'lblc': supported schedulers are rr, wrr, sh, hash, mh, lc, wlc, sed, nq"},
        Refused{"vip add 198.18.1.11 tcp 80 mh-size 65536", "not prime"},
        Refused{"vip add 198.18.1.11 tcp 80 mh-size 3", "expected 7-"},
        Refused{"vip add 198.18.1.11 tcp 80 flags sh-bogus", "unknown scheduler flag"},
        Refused{"vip add 198.18.1.11 tcp 80 colour blue", "unknown option 'colour'"},
        Refused{"vip add 198.18.1.11 tcp 80 sched", "missing value for sched"},
        Refused{"vip add 198.18.1.10 tcp 80", "already exists"},
        Refused{"vip add 198.18.0.2 tcp 80", "is a port address"},
        Refused{"vip del 198.18.1.99 tcp 80", "does not exist"},
        Refused{"vip set 198.18.1.99 tcp 80 sched rr", "does not exist"},
        Refused{"rs add 198.18.1.10 tcp 80 198.18.0.11", "already exists"},
        Refused{"rs add 198.18.1.10 tcp 80 198.18.0.12:8080", "differs from the service port 80"},
        Refused{"rs add 198.18.1.10 tcp 80 198.18.0.12 weight 65536", "weight"},
        Refused{"rs add 198.18.1.10 tcp 80 198.18.0.12 weight -1", "weight"},
        Refused{"rs add 198.18.1.10 tcp 80 198.18.1.10", "is a VIP"},
        Refused{"rs add 198.18.1.10 tcp 80 198.18.0.2", "is a port address"},
        Refused{"rs add 198.18.1.99 tcp 80 198.18.0.12", "does not exist"},
        Refused{"rs set 198.18.1.10 tcp 80 198.18.0.12 weight 1", "is not in service"},
        Refused{"rs set 198.18.1.10 tcp 80 198.18.0.11", "missing weight, uthreshold, lthreshold, on-failure or check"},
        Refused{"rs del 198.18.1.10 tcp 80 198.18.0.12", "is not in service"},
        Refused{"neigh add 198.18.0.11 ff:ff:ff:ff:ff:ff", "must be a unicast address"},
        Refused{"neigh add 198.18.0.11 02:00:00:00:00", "is not a MAC address"},
        Refused{"neigh add 198.18.0.11 02:00:00:00:00:11 port 5", "port 5 does not exist"},
        Refused{"neigh add 198.18.1.10 02:00:00:00:00:11", "drfwd's own addresses"},
        Refused{"neigh del 198.18.0.77", "no static neighbour"},
        Refused{"port 9 address 198.18.0.2/24", "port 9 does not exist"},
        Refused{"port 0 address 198.18.0.2", "is not an address with a prefix length"},
        Refused{"port 1 address 198.18.0.2/24", "already the address of port 0"},
        Refused{"port 1 address 198.18.1.10/24", "is a VIP"},
        Refused{"set timeout tcp 0", "is not a valid timeout"},
        Refused{"set timeout", "give at least one"},
        Refused{"set timeout tcpsyn 5", "unknown timeout"},
        Refused{"clear all", "unknown command"},
        Refused{"ipvsadm", "no command given"},
        Refused{"ipvsadm -A", "needs a service"},
        Refused{"ipvsadm -A -t 198.18.1.11", "needs a port"},
        Refused{"ipvsadm -A -t 198.18.1.11:80 -s dh", "unknown scheduler 'dh'"},
        Refused{"ipvsadm -A -t 198.18.1.11:80 -u 198.18.1.11:80", "not both"},
        Refused{"ipvsadm -A -f 1", "firewall-mark"},
        Refused{"ipvsadm -A -t 198.18.1.11:80 -A", "given twice"},
        Refused{"ipvsadm -A -a -t 198.18.1.11:80", "more than one command"},
        Refused{"ipvsadm -a -t 198.18.1.10:80 -r 198.18.0.12 -m", "only direct routing"},
        Refused{"ipvsadm -a -t 198.18.1.10:80 -r 198.18.0.12 -i", "only direct routing"},
        Refused{"ipvsadm -a -t 198.18.1.10:80 -r 198.18.0.12:81", "cannot translate"},
        Refused{"ipvsadm -a -t 198.18.1.10:80", "needs a real server"},
        Refused{"ipvsadm -a -t 198.18.1.10:80 -r 198.18.0.12 -x 5 -y 6", "lthreshold 6 is above uthreshold 5"},
        Refused{"ipvsadm -a -t 198.18.1.10:80 -r 198.18.0.12 -y 6", "lthreshold 6 is above uthreshold 0 (none)"},
        Refused{"ipvsadm -a -t 198.18.1.10:80 -r 198.18.0.12 -x 2147483648", "upper threshold"},
        Refused{"ipvsadm -d -t 198.18.1.10:80 -r 198.18.0.11 -x 5", "-w, -x and -y apply to -a and -e only"},
        Refused{"ipvsadm -A -t 198.18.1.11:80 -x 5", "-r, -w, -x and -y apply to -a, -e and -d only"},
        Refused{"rs add 198.18.1.10 tcp 80 198.18.0.12 uthreshold 4 lthreshold 5", "lthreshold 5 is above uthreshold 4"},
        Refused{"rs set 198.18.1.10 tcp 80 198.18.0.11 lthreshold 1", "lthreshold 1 is above uthreshold 0 (none)"},
        Refused{"rs add 198.18.1.10 tcp 80 198.18.0.12 uthreshold -1", "upper threshold"},
        Refused{"rs add 198.18.1.10 tcp 80 198.18.0.12 lthreshold x", "lower threshold"},
        Refused{"ipvsadm -a -t 198.18.1.10:80 -r 198.18.0.12 -s rr", "apply to -A and -E only"},
        Refused{"ipvsadm -A -t 198.18.1.11:80 -w 2", "apply to -a, -e and -d only"},
        Refused{"ipvsadm -A -t 198.18.1.11:80 --frobnicate", "unknown option '--frobnicate'"},
        Refused{"ipvsadm -A -t 198.18.1.11:80 -q", "unknown option -q"},
        Refused{"ipvsadm -A -t 198.18.1.11:80 extra", "unexpected argument 'extra'"},
        Refused{"ipvsadm -A -t", "needs a value"},
        Refused{"ipvsadm --set 1 2", "three values"},
        Refused{"ipvsadm -A -t [2001:db8::1]", "needs a port"},
        Refused{"ipvsadm -A -t 2001:db8::1:80", "needs a port"},
        Refused{"ipvsadm -A -t [2001:db8::1]80", "expected [<IPv6>]:<port>"},
        Refused{"ipvsadm -A -t [198.18.0.1]:80", "brackets are for IPv6"},
        Refused{"ipvsadm -a -t [2001:db8::1]:80 -r [2001:db8::2]:81", "differs from the service port"},
        Refused{"rs add 198.18.1.20 tcp 80 198.18.0.21", ""},
        Refused{"vip set 198.18.1.20 tcp 80 mh-size 7", ""}));

// Found by fuzz-grammar: "-" followed by a NUL byte matched --set (a long-only option,
// short name 0) and read its missing values.
TEST(Grammar, NulAfterDashIsNoOption) {
  const std::string line("ipvsadm -\0", 10);
  try {
    parse_request(line);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown option"), std::string::npos) << e.what();
  }
}

TEST(Grammar, ErrorsCarryTheUsage) {
  try {
    parse_line("vip add 198.18.1.10 tcpx 80");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(e.usage().find("vip add <vip> <tcp|udp> <port>"), std::string::npos);
  }
  try {
    parse_line("ipvsadm -a -t 198.18.1.10:80 -r 198.18.0.11 -m");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(e.usage().find("ipvsadm -a|-e"), std::string::npos);
  }
}

TEST(Model, MaglevSizeBoundsTheRsCount) {
  Model m = model_with({"vip add 198.18.1.20 tcp 80 sched mh mh-size 7"});
  for (int i = 1; i <= 7; ++i) m.apply(parse("rs add 198.18.1.20 tcp 80 198.18.0." + std::to_string(i)));
  EXPECT_NE(refusal("rs add 198.18.1.20 tcp 80 198.18.0.8", m).find("raise mh-size"), std::string::npos);
}

TEST(Model, RefusedCommandChangesNothing) {
  Model m = model_with({"vip add 198.18.1.10 tcp 80", "rs add 198.18.1.10 tcp 80 198.18.0.11"});
  const auto before = m.services().size();
  EXPECT_THROW(m.apply(parse("rs add 198.18.1.10 tcp 80 198.18.0.11")), ConfigError);
  EXPECT_EQ(m.services().size(), before);
  EXPECT_EQ(m.find(kWeb)->rs.size(), 1u);
}

TEST(Model, EditSemantics) {
  Model m = model_with({"vip add 198.18.1.10 tcp 80 sched sh persist 60"});
  m.apply(parse("vip set 198.18.1.10 tcp 80 sched rr"));  // native: only what is given
  EXPECT_EQ(m.find(kWeb)->params.sched, lb::Sched::kRr);
  EXPECT_EQ(m.find(kWeb)->params.persist, 60u);
  m.apply(parse("ipvsadm -E -t 198.18.1.10:80 -s mh"));  // ipvsadm: the rest to defaults
  EXPECT_EQ(m.find(kWeb)->params.sched, lb::Sched::kMh);
  EXPECT_EQ(m.find(kWeb)->params.persist, 0u);
  // ipvsadm without -s: its own default, wlc, on -A and on -E (ipvsadm fills in DEF_SCHED
  // for both); native vip add keeps wrr.
  m.apply(parse("ipvsadm -E -t 198.18.1.10:80"));
  EXPECT_EQ(m.find(kWeb)->params.sched, lb::Sched::kWlc);
  m.apply(parse("ipvsadm -A -t 198.18.1.11:80"));
  EXPECT_EQ(m.find({ip("198.18.1.11"), net::kProtoTcp, 80})->params.sched, lb::Sched::kWlc);
  m.apply(parse("vip add 198.18.1.12 tcp 80"));
  EXPECT_EQ(m.find({ip("198.18.1.12"), net::kProtoTcp, 80})->params.sched, lb::Sched::kWrr);
  EXPECT_EQ(Model::kDefaultSched, lb::Sched::kWrr);
}

// uthreshold/lthreshold (ipvsadm -x/-y): rs add sets them, rs set changes the ones it
// names, ipvsadm -e sets both (what it does not name is 0, as ipvsadm sends it).
TEST(Model, Thresholds) {
  auto a = std::get<cmd::RsAdd>(parse("rs add 198.18.1.10 tcp 80 198.18.0.11 weight 2 uthreshold 100 lthreshold 50"));
  EXPECT_EQ(*a.uthreshold, 100u);
  EXPECT_EQ(*a.lthreshold, 50u);
  auto b = std::get<cmd::RsAdd>(parse("ipvsadm -a -t 198.18.1.10:80 -r 198.18.0.11 --u-threshold 7 --l-threshold=3"));
  EXPECT_EQ(*b.uthreshold, 7u);
  EXPECT_EQ(*b.lthreshold, 3u);
  EXPECT_FALSE(std::get<cmd::RsAdd>(parse("ipvsadm -a -t 198.18.1.10:80 -r 198.18.0.11")).uthreshold);
  auto e = std::get<cmd::RsEdit>(parse("ipvsadm -e -t 198.18.1.10:80 -r 198.18.0.11 -x 9"));
  EXPECT_EQ(*e.uthreshold, 9u);
  EXPECT_EQ(*e.lthreshold, 0u);
  EXPECT_TRUE(std::holds_alternative<cmd::RsAdd>(parse("ipvsadm -a -t 198.18.1.10:80 -r 198.18.0.11 -x 2147483647")));

  Model m = model_with({"vip add 198.18.1.10 tcp 80", "rs add 198.18.1.10 tcp 80 198.18.0.11 uthreshold 10 lthreshold 5"});
  auto th = [&] { return m.find(kWeb)->rs[0].thresholds; };
  EXPECT_EQ(th(), (lb::RsThresholds{10, 5}));
  m.apply(parse("rs set 198.18.1.10 tcp 80 198.18.0.11 uthreshold 20"));
  EXPECT_EQ(th(), (lb::RsThresholds{20, 5}));
  m.apply(parse("rs set 198.18.1.10 tcp 80 198.18.0.11 weight 3"));
  EXPECT_EQ(th(), (lb::RsThresholds{20, 5}));
  EXPECT_NE(refusal("rs set 198.18.1.10 tcp 80 198.18.0.11 uthreshold 4", m).find("lthreshold 5 is above uthreshold 4"),
            std::string::npos);
  m.apply(parse("ipvsadm -e -t 198.18.1.10:80 -r 198.18.0.11 -w 2"));
  EXPECT_EQ(th(), (lb::RsThresholds{}));
  EXPECT_EQ(m.find(kWeb)->rs[0].weight, 2u);
  m.apply(parse("ipvsadm -e -t 198.18.1.10:80 -r 198.18.0.11 -x 8 -y 8"));
  EXPECT_EQ(th(), (lb::RsThresholds{8, 8}));
  // The workers get them with the RS.
  const lb::SnapshotSpec spec = make_spec(m, Runtime{});
  EXPECT_EQ(spec.services[0].rs[0].thresholds, (lb::RsThresholds{8, 8}));
}

TEST(Model, SlotsAreReusedWithNewGenerations) {
  Model m = model_with({"vip add 198.18.1.10 tcp 80", "rs add 198.18.1.10 tcp 80 198.18.0.11"});
  const auto first = m.find(kWeb)->rs[0];
  m.apply(parse("rs del 198.18.1.10 tcp 80 198.18.0.11"));
  m.apply(parse("rs add 198.18.1.10 tcp 80 198.18.0.12"));
  const auto second = m.find(kWeb)->rs[0];
  EXPECT_EQ(first.slot, second.slot);
  EXPECT_NE(first.gen, second.gen);
  m.apply(parse("ipvsadm -C"));
  EXPECT_TRUE(m.services().empty());
}

// Under a control core a released slot waits until the workers have moved past the
// snapshot that dropped it (the epoch), so counters for the old and the new occupant
// never mix; a refused command releases nothing.
TEST(Model, ReleasedSlotsWaitForTheirEpoch) {
  Model m = model_with({"vip add 198.18.1.10 tcp 80", "rs add 198.18.1.10 tcp 80 198.18.0.11"});
  const auto first = m.find(kWeb)->rs[0];
  m.set_epoch(5);
  m.apply(parse("rs del 198.18.1.10 tcp 80 198.18.0.11"));
  EXPECT_EQ(m.slots_held_back(), 1u);
  m.apply(parse("rs add 198.18.1.10 tcp 80 198.18.0.12"));
  EXPECT_NE(m.find(kWeb)->rs[0].slot, first.slot) << "reused before the workers moved on";
  m.reclaim_slots(4);
  EXPECT_EQ(m.slots_held_back(), 1u);
  m.reclaim_slots(5);
  EXPECT_EQ(m.slots_held_back(), 0u);
  m.apply(parse("rs add 198.18.1.10 tcp 80 198.18.0.13"));
  EXPECT_EQ(m.find(kWeb)->rs[1].slot, first.slot);
  EXPECT_NE(m.find(kWeb)->rs[1].gen, first.gen);
  EXPECT_THROW(m.apply(parse("vip del 198.18.1.99 tcp 80")), ConfigError);
  EXPECT_EQ(m.slots_held_back(), 0u);
  m.apply(parse("vip del 198.18.1.10 tcp 80"));
  EXPECT_EQ(m.slots_held_back(), 3u) << "the service and its two RSs";
}

TEST(Model, EgressPortAndSpec) {
  Model m = model_with({"port 0 address 198.18.0.2/24", "port 1 address 198.18.8.2/24",
                        "vip add 198.18.1.10 tcp 80", "rs add 198.18.1.10 tcp 80 198.18.0.11",
                        "rs add 198.18.1.10 tcp 80 198.18.8.11", "rs add 198.18.1.10 tcp 80 198.18.9.11",
                        "neigh add 198.18.0.11 02:00:00:00:00:11", "neigh add 198.18.9.11 02:00:00:00:00:12 port 1"});
  EXPECT_EQ(*m.egress(ip("198.18.0.11")), lb::Iface(0));
  EXPECT_EQ(*m.egress(ip("198.18.8.11")), lb::Iface(1));
  EXPECT_EQ(*m.egress(ip("198.18.9.11")), lb::Iface(1));   // static neighbour's port
  EXPECT_FALSE(m.egress(ip("198.18.7.11")));    // two ports, no subnet: unknown
  Runtime rt;
  rt.port_macs = {test::mac("02:70:63:61:70:00"), test::mac("02:70:63:61:70:01")};
  rt.learned_mac = [](const net::IpAddr& a) -> std::optional<net::Mac> {
    if (a == ip("198.18.8.11")) return test::mac("02:00:00:00:00:88");
    if (a == ip("198.18.0.11")) return test::mac("02:00:00:00:00:99");  // static wins
    return std::nullopt;
  };
  auto spec = make_spec(m, rt);
  ASSERT_EQ(spec.services.size(), 1u);
  const auto& r = spec.services[0].rs;
  EXPECT_EQ(net::to_string(*r[0].mac), "02:00:00:00:00:11");
  EXPECT_EQ(net::to_string(*r[1].mac), "02:00:00:00:00:88");
  EXPECT_EQ(r[2].port, 1);
  EXPECT_EQ(spec.ports[1].address->addr, ip("198.18.8.2"));
  EXPECT_TRUE(Model(1).egress(ip("203.0.113.1")).has_value()) << "one port: always that port";
}

TEST(Loader, FileLineInErrors) {
  Model m(1);
  EXPECT_NO_THROW(load_text("a.conf", "# x\nvip add 198.18.1.10 tcp 80\n\nipvsadm -a -t 198.18.1.10:80 -r 198.18.0.11\n", m));
  EXPECT_EQ(m.services().size(), 1u);
  Model n(1);
  try {
    load_text("b.conf", "vip add 198.18.1.10 tcp 80\nrs add 198.18.1.10 tcp 80 198.18.0.11\nrs add 198.18.1.10 tcp 8O 198.18.0.12\n", n);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("b.conf:3: ", 0), 0u) << e.what();
  }
  EXPECT_TRUE(n.services().empty()) << "a file with an error applies nothing";
  EXPECT_THROW(load_file("/nonexistent/drfwd.conf", n), ConfigError);
}


// Director redundancy: how VIPs are claimed, and the configuration round trip.
TEST(Grammar, VipClaimCommands) {
  EXPECT_EQ(std::get<cmd::SetVipArp>(parse("set vip-arp kernel")).mode, VipArp::kKernel);
  EXPECT_EQ(std::get<cmd::SetVipArp>(parse("set vip-arp always")).mode, VipArp::kAlways);
  EXPECT_EQ(*std::get<cmd::SetVipRoutes>(parse("set vip-routes table 100")).table, 100u);
  EXPECT_FALSE(std::get<cmd::SetVipRoutes>(parse("set vip-routes off")).table);
  EXPECT_EQ(std::get<cmd::SetVipHolddown>(parse("set vip-holddown 30")).seconds, 30u);
  Model m(1);
  for (const char* bad : {"set vip-arp maybe", "set vip-routes table 254", "set vip-routes table 0",
                          "set vip-routes 100", "set vip-holddown 4000", "set vip-arp"})
    EXPECT_NE(refusal(bad, m), "") << bad;
  EXPECT_NE(refusal("set vip-routes table 255", m).find("kernel's own"), std::string::npos);
  m = model_with({"set vip-arp kernel", "set vip-routes table 100", "set vip-holddown 3"});
  EXPECT_EQ(m.vip_claim(), (VipClaim{VipArp::kKernel, 100, 3}));
  const std::string shown = model_to_commands(m);
  EXPECT_NE(shown.find("set vip-arp kernel\nset vip-routes table 100\nset vip-holddown 3\n"), std::string::npos) << shown;
  Model again(1);
  load_text("show config", shown, again);
  EXPECT_EQ(again.vip_claim(), m.vip_claim());
  EXPECT_EQ(model_to_commands(Model(1)).find("vip-"), std::string::npos) << "defaults are not shown";
}

// keepalived parity: sorry servers, on-failure inhibit, quorum and hysteresis; show
// config gives them back; ipvsadm -E keeps what ipvsadm cannot name.
TEST(Grammar, SorryInhibitAndQuorum) {
  Model m = model_with({"port 0 address 198.18.0.2/24",
                        "vip add 198.18.0.100 tcp 80 sched rr quorum 3 hysteresis 1 on-failure inhibit",
                        "rs add 198.18.0.100 tcp 80 198.18.0.11 weight 2 on-failure reschedule",
                        "rs add 198.18.0.100 tcp 80 198.18.0.12", "rs add 198.18.0.100 tcp 80 198.18.0.19 sorry"});
  const Service& s = m.services().at(0);
  EXPECT_EQ(s.params.quorum, 3u);
  EXPECT_EQ(s.params.hysteresis, 1u);
  EXPECT_TRUE(s.params.inhibit);
  EXPECT_EQ(s.rs[0].inhibit, std::optional<bool>(false));
  EXPECT_FALSE(s.rs[1].inhibit.has_value()) << "follows the service";
  EXPECT_TRUE(s.rs[2].sorry);
  EXPECT_EQ(s.rs[2].check.kind, std::optional<CheckKind>(CheckKind::kNone)) << "a sorry server is not checked";
  EXPECT_FALSE(s.rs[0].sorry);
  const std::string shown = model_to_commands(m);
  for (const char* want : {"vip add 198.18.0.100 tcp 80 sched rr quorum 3 hysteresis 1 on-failure inhibit\n",
                           "rs add 198.18.0.100 tcp 80 198.18.0.11 weight 2 on-failure reschedule\n",
                           "rs add 198.18.0.100 tcp 80 198.18.0.12 weight 1\n",
                           "rs add 198.18.0.100 tcp 80 198.18.0.19 sorry weight 1 check none\n"})
    EXPECT_NE(shown.find(want), std::string::npos) << want << shown;
  Model again(1);
  load_text("show config", shown, again);
  EXPECT_EQ(model_to_commands(again), shown);
  m.apply(*parse_line("rs set 198.18.0.100 tcp 80 198.18.0.11 on-failure default"));
  EXPECT_FALSE(m.services()[0].rs[0].inhibit.has_value());
  m.apply(*parse_line("ipvsadm -E -t 198.18.0.100:80 -s wrr"));
  EXPECT_EQ(m.services()[0].params.quorum, 3u) << "ipvsadm -E cannot name a quorum: it stays";
  EXPECT_TRUE(m.services()[0].params.inhibit);
  for (const char* bad : {"rs set 198.18.0.100 tcp 80 198.18.0.12 sorry", "vip set 198.18.0.100 tcp 80 on-failure keep",
                          "rs set 198.18.0.100 tcp 80 198.18.0.12 on-failure maybe", "vip set 198.18.0.100 tcp 80 quorum -1",
                          "rs set 198.18.0.100 tcp 80 198.18.0.12"})
    EXPECT_NE(refusal(bad, m), "") << bad;
  EXPECT_NE(refusal("rs set 198.18.0.100 tcp 80 198.18.0.12 sorry", m).find("rs del"), std::string::npos);
}

// docs/redundancy.md's drfwd configurations (the code blocks that start with `port`)
// load as they are: an operator may paste them.
TEST(Config, TheRedundancyGuidesConfigurationsLoad) {
  const std::string doc = test::read_doc("redundancy.md");
  ASSERT_FALSE(doc.empty());
  int loaded = 0;
  for (size_t at = doc.find("```\nport "); at != std::string::npos; at = doc.find("```\nport ", at + 1)) {
    const size_t begin = at + 4, end = doc.find("```", begin);
    ASSERT_NE(end, std::string::npos);
    Model m;
    EXPECT_NO_THROW(load_text("docs/redundancy.md", doc.substr(begin, end - begin), m)) << doc.substr(begin, end - begin);
    EXPECT_FALSE(m.services().empty());
    ++loaded;
  }
  EXPECT_EQ(loaded, 3);  // the VRRP and the ECMP director, connection sync
}

TEST(Config, TheDualStackExampleLoads) {
  const std::string example = test::read_doc("examples/dual-stack.conf");
  ASSERT_FALSE(example.empty());
  Model m(1);
  ASSERT_NO_THROW(load_text("docs/examples/dual-stack.conf", example, m));
  ASSERT_EQ(m.services().size(), 3u);
  const net::IpAddr vip6(*net::parse_ipv6("2001:2::100"));
  const Service* udp = m.find({vip6, net::kProtoUdp, 53});
  ASSERT_NE(udp, nullptr);
  EXPECT_EQ(udp->params.persist_mask, 64);
  EXPECT_EQ(udp->rs.size(), 2u);
  EXPECT_EQ(m.find({vip6, net::kProtoTcp, 80})->params.persist_mask, 128);
  // show config gives it back as it loads.
  Model again(1);
  load_text("show config", model_to_commands(m), again);
  EXPECT_EQ(model_to_commands(again), model_to_commands(m));
}
