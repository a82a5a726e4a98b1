// Queries, help and completion; ipvsadm's layouts line by line; show config round trip.
#include <gtest/gtest.h>

#include <sstream>

#include "config/loader.hpp"
#include "config/request.hpp"
#include "config/show_config.hpp"
#include "console/help.hpp"
#include "console/json.hpp"
#include "console/ipvsadm_views.hpp"
#include "console/tables.hpp"
#include "control/status.hpp"
#include "net/parse.hpp"
#include "packets.hpp"

using namespace drfwd;
using namespace drfwd::config;
using namespace drfwd::console;
using drfwd::control::ConnStatus;
using drfwd::control::RsStatus;
using drfwd::control::ServiceStatus;
using drfwd::test::ip;

namespace {

Query query_of(const std::string& line) {
  auto r = parse_request(line);
  EXPECT_TRUE(r) << line;
  EXPECT_TRUE(std::holds_alternative<Query>(*r)) << line;
  return std::get<Query>(*r);
}

std::string refusal(const std::string& line) {
  try {
    parse_request(line);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string l;
  while (std::getline(in, l)) out.push_back(l);
  return out;
}

// Two services as LVS operators know them: web (rr, two RSs) and dns (sh, persistent).
std::vector<ServiceStatus> sample() {
  ServiceStatus web;
  web.key = {ip("198.18.0.100"), net::kProtoTcp, 80};
  web.params.sched = lb::Sched::kRr;
  RsStatus a;
  a.ip = ip("198.18.0.12");
  a.mac = test::mac("02:00:00:00:00:12");  // resolved, reached through port 0: takes traffic
  a.port = 0;
  a.weight = 1;
  a.takes_new = true;
  a.counters.active = 3;
  a.counters.inactive = 7;
  a.counters.conns = 120;
  a.counters.packets = 4567;
  a.counters.bytes = 1234567;
  RsStatus b = a;
  b.ip = ip("198.18.0.11");
  b.weight = 2;
  b.counters.active = 10;
  b.counters.inactive = 0;
  b.counters.conns = 250;
  b.counters.packets = 123456789;  // past 100 million: shown in K
  b.counters.bytes = 98765432100ULL;
  web.rs = {a, b};  // out of order on purpose: ipvsadm sorts
  ServiceStatus dns;
  dns.key = {ip("198.18.0.100"), net::kProtoUdp, 53};
  dns.params.sched = lb::Sched::kSh;
  dns.params.flags = lb::kFlagShPort;
  dns.params.persist = 300;
  dns.params.persist_mask = 24;
  RsStatus c;
  c.ip = ip("198.18.0.11");
  c.mac = test::mac("02:00:00:00:00:11");
  c.port = 0;
  c.weight = 1;
  c.takes_new = true;
  c.counters.persist = 4;
  dns.rs = {c};
  return {dns, web};  // UDP first on purpose: ipvsadm lists TCP first
}

}  // namespace

TEST(Requests, EveryQueryForm) {
  EXPECT_TRUE(std::holds_alternative<query::ShowVips>(query_of("show vips")));
  EXPECT_EQ(std::get<query::ShowRs>(query_of("show rs 198.18.0.100 198.18.0.101")).vips.size(), 2u);
  EXPECT_TRUE(std::get<query::ShowRs>(query_of("show rs")).vips.empty());
  EXPECT_TRUE(std::holds_alternative<query::ShowStats>(query_of("show stats")));
  EXPECT_TRUE(std::holds_alternative<query::ShowPorts>(query_of("show ports")));
  EXPECT_TRUE(std::holds_alternative<query::ShowNeigh>(query_of("show neigh")));
  auto c = std::get<query::ShowConns>(query_of("show conns 198.18.0.100 limit 5"));
  EXPECT_EQ(*c.vip, ip("198.18.0.100"));
  EXPECT_EQ(c.limit, 5u);
  EXPECT_EQ(std::get<query::ShowConns>(query_of("show conns")).limit, 100u);
  EXPECT_TRUE(std::holds_alternative<query::ShowConfig>(query_of("show config")));
  EXPECT_EQ(std::get<query::SaveConfig>(query_of("save config /tmp/x.conf")).path, "/tmp/x.conf");
  EXPECT_TRUE(std::holds_alternative<query::ClearStats>(query_of("clear stats")));
  EXPECT_EQ(std::get<query::SetLogLevel>(query_of("set log-level debug")).level, "debug");
  EXPECT_TRUE(std::holds_alternative<query::Quit>(query_of("quit")));
  EXPECT_TRUE(std::holds_alternative<query::Quit>(query_of("exit")));
  EXPECT_EQ(std::get<query::Help>(query_of("help show")).topic, "show");
  auto l = std::get<query::IpvsList>(query_of("ipvsadm -L -n"));
  EXPECT_TRUE(l.numeric);
  EXPECT_FALSE(l.stats);
  l = std::get<query::IpvsList>(query_of("ipvsadm -ln --stats --exact"));
  EXPECT_TRUE(l.numeric && l.stats && l.exact);
  l = std::get<query::IpvsList>(query_of("ipvsadm -L -t 198.18.0.100:80 --rate"));
  EXPECT_TRUE(l.rate);
  EXPECT_EQ(l.service->port, 80);
  EXPECT_TRUE(std::get<query::IpvsList>(query_of("ipvsadm -lnc")).connection);
  EXPECT_TRUE(std::get<query::IpvsList>(query_of("ipvsadm -L --timeout")).timeout);
  EXPECT_TRUE(std::get<query::IpvsList>(query_of("ipvsadm --list --numeric --persistent-conn")).persistent_conn);
  EXPECT_FALSE(std::get<query::IpvsZero>(query_of("ipvsadm -Z")).service);
  EXPECT_TRUE(std::get<query::IpvsZero>(query_of("ipvsadm -Z -u 198.18.0.100:53")).service);
  EXPECT_TRUE(std::get<query::IpvsSave>(query_of("ipvsadm -S -n")).numeric);
  EXPECT_FALSE(std::get<query::IpvsSave>(query_of("ipvsadm --save")).numeric);
  EXPECT_TRUE(std::holds_alternative<query::IpvsRestore>(query_of("ipvsadm -R")));
}

TEST(Requests, Refusals) {
  EXPECT_NE(refusal("show").find("show what?"), std::string::npos);
  EXPECT_NE(refusal("show vipz").find("unknown command 'show' 'vipz'"), std::string::npos);
  EXPECT_NE(refusal("show vips now").find("unexpected 'now'"), std::string::npos);
  EXPECT_NE(refusal("show rs 198.18.0.300").find("is not an IPv4 or IPv6 address"), std::string::npos);
  EXPECT_NE(refusal("show conns limit 0").find("limit"), std::string::npos);
  EXPECT_NE(refusal("show conns limit").find("missing value for limit"), std::string::npos);
  EXPECT_NE(refusal("save config").find("give one file name"), std::string::npos);
  EXPECT_NE(refusal("set log-level loud").find("unknown log level 'loud'"), std::string::npos);
  EXPECT_NE(refusal("clear stats now").find("unexpected 'now'"), std::string::npos);
  EXPECT_NE(refusal("ipvsadm -L --stats --rate").find("give one of"), std::string::npos);
  EXPECT_NE(refusal("ipvsadm -A -t 198.18.0.100:80 -n").find("apply to -L"), std::string::npos);
  EXPECT_NE(refusal("ipvsadm -S -t 198.18.0.100:80").find("-S takes no service"), std::string::npos);
  // Queries are not configuration.
  Model m(1);
  EXPECT_THROW(load_text("c.conf", "show vips\n", m), ConfigError);
  try {
    load_text("c.conf", "vip add 198.18.0.100 tcp 80\nipvsadm -L -n\n", m);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("c.conf:2: "), std::string::npos) << e.what();
  }
}

TEST(Requests, HelpAndCompletion) {
  const std::string all = help_text();
  for (const char* form : {"vip add", "rs set", "neigh add", "set timeout", "set check", "show vips", "show conns",
                           "save config", "clear stats", "set log-level", "quit", "ipvsadm"})
    EXPECT_NE(all.find(form), std::string::npos) << form;
  EXPECT_NE(help_text("show").find("show neigh"), std::string::npos);
  EXPECT_EQ(help_text("show").find("vip add"), std::string::npos);
  EXPECT_NE(help_text("ipvsadm").find("ipvsadm -L|-l"), std::string::npos);
  EXPECT_NE(help_text("nothing").find("no command starts with"), std::string::npos);
  using V = std::vector<std::string_view>;
  auto has = [](const std::vector<std::string>& v, const char* w) { return std::find(v.begin(), v.end(), w) != v.end(); };
  EXPECT_TRUE(has(completions(V{}), "show"));
  EXPECT_TRUE(has(completions(V{"show"}), "conns"));
  EXPECT_TRUE(has(completions(V{"vip"}), "add"));
  EXPECT_TRUE(has(completions(V{"set", "log-level"}), "debug"));
  EXPECT_TRUE(has(completions(V{"vip", "add", "198.18.0.100", "tcp", "80"}), "sched"));
  EXPECT_TRUE(has(completions(V{"rs", "add", "198.18.0.100", "tcp", "80", "198.18.0.11"}), "weight"));
  EXPECT_TRUE(completions(V{"quit"}).empty());
}

// ipvsadm -L -n: header, titles, "%s %s" service lines, "  -> %-28s %-7s %-6d %-10u %-10u".
TEST(IpvsadmLayout, ListNumeric) {
  query::IpvsList o;
  o.numeric = true;
  auto got = lines(ipvsadm_list(sample(), o, 4096, lb::Timeouts{}, {}));
  std::vector<std::string> want = {
      "IP Virtual Server version 1.2.1 (size=4096)",
      "Prot LocalAddress:Port Scheduler Flags",
      "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
      "TCP  198.18.0.100:80 rr",
      "  -> 198.18.0.11:80               Route   2      10         0         ",
      "  -> 198.18.0.12:80               Route   1      3          7         ",
      "UDP  198.18.0.100:53 sh (sh-port) persistent 300 mask 255.255.255.0",
      "  -> 198.18.0.11:53               Route   1      0          0         ",
  };
  EXPECT_EQ(got, want);
}

// A sorry server: in ipvsadm -L only while it takes new connections (as IPVS shows
// keepalived's), never in ipvsadm -S (ipvsadm cannot express it); show rs marks it.
TEST(IpvsadmLayout, SorryServerOnlyWhileInUse) {
  auto s = sample();
  RsStatus sorry = s[1].rs[0];
  sorry.ip = ip("198.18.0.19");
  sorry.sorry = true;
  sorry.takes_new = false;
  s[1].rs.push_back(sorry);
  query::IpvsList o;
  o.numeric = true;
  const auto has_sorry = [](const std::string& text) { return text.find("198.18.0.19") != std::string::npos; };
  EXPECT_FALSE(has_sorry(ipvsadm_list(s, o, 4096, lb::Timeouts{}, {})));
  EXPECT_FALSE(has_sorry(ipvsadm_save(s, true)));
  EXPECT_NE(format_rs(s).find("sorry server: standby"), std::string::npos) << format_rs(s);
  s[1].rs.back().takes_new = true;
  s[1].sorry_mode = true;
  EXPECT_TRUE(has_sorry(ipvsadm_list(s, o, 4096, lb::Timeouts{}, {})));
  EXPECT_FALSE(has_sorry(ipvsadm_save(s, true)));
  EXPECT_NE(format_rs(s).find("SORRY SERVER IN USE"), std::string::npos) << format_rs(s);
}

TEST(IpvsadmLayout, ListWithPortNamesAndOneService) {
  query::IpvsList o;
  o.service = ServiceKey{ip("198.18.0.100"), net::kProtoTcp, 80};
  auto got = lines(ipvsadm_list(sample(), o, 4096, lb::Timeouts{}, {}));
  ASSERT_EQ(got.size(), 5u);  // no version header for one service, as ipvsadm
  EXPECT_EQ(got[0], "Prot LocalAddress:Port Scheduler Flags");
  EXPECT_EQ(got[2], "TCP  198.18.0.100:http rr");
  EXPECT_EQ(got[3], "  -> 198.18.0.11:http             Route   2      10         0         ");
}

// ipvsadm -L -n --stats: "%-33s" + five print_largenum columns ("%9llu", K/M/G beyond).
TEST(IpvsadmLayout, Stats) {
  query::IpvsList o;
  o.numeric = true;
  o.stats = true;
  auto got = lines(ipvsadm_list(sample(), o, 4096, lb::Timeouts{}, {}));
  std::vector<std::string> want = {
      "IP Virtual Server version 1.2.1 (size=4096)",
      "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes",
      "  -> RemoteAddress:Port",
      "TCP  198.18.0.100:80                   370  123461K        0   98766M        0",
      "  -> 198.18.0.11:80                    250  123456K        0   98765M        0",
      "  -> 198.18.0.12:80                    120     4567        0  1234567        0",
      "UDP  198.18.0.100:53                     0        0        0        0        0",
      "  -> 198.18.0.11:53                      0        0        0        0        0",
  };
  EXPECT_EQ(got, want);
  o.exact = true;
  got = lines(ipvsadm_list(sample(), o, 4096, lb::Timeouts{}, {}));
  EXPECT_EQ(got[3], "TCP  198.18.0.100:80                   370 123461356        0 98766666667        0");
}

TEST(IpvsadmLayout, RateThresholdsPersistentTimeoutConnections) {
  auto s = sample();
  s[1].rs[0].cps = 12;
  s[1].rs[0].pps = 3400;
  s[1].rs[0].bps = 2720000;
  query::IpvsList o;
  o.numeric = true;
  o.rate = true;
  auto got = lines(ipvsadm_list(s, o, 4096, lb::Timeouts{}, {}));
  EXPECT_EQ(got[1], "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS");
  EXPECT_EQ(got[5], "  -> 198.18.0.12:80                     12     3400        0  2720000        0");
  o = {};
  o.numeric = true;
  o.thresholds = true;
  s[1].rs[0].thresholds = {1000, 750};
  got = lines(ipvsadm_list(s, o, 4096, lb::Timeouts{}, {}));
  EXPECT_EQ(got[1], "Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn ");
  EXPECT_EQ(got[3], "TCP  198.18.0.100:80 rr");  // as ipvsadm: the service line names the scheduler
  EXPECT_EQ(got[4], "  -> 198.18.0.11:80               0          0          10         0         ");
  EXPECT_EQ(got[5], "  -> 198.18.0.12:80               1000       750        3          7         ");
  o = {};
  o.numeric = true;
  o.persistent_conn = true;
  got = lines(ipvsadm_list(s, o, 4096, lb::Timeouts{}, {}));
  EXPECT_EQ(got[1], "Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn ");
  EXPECT_EQ(got[7], "  -> 198.18.0.11:53               1         4           0          0         ");
  o = {};
  o.timeout = true;
  lb::Timeouts t;
  t.tcp() = 600;
  EXPECT_EQ(ipvsadm_list(s, o, 4096, t, {}), "Timeout (tcp tcpfin udp): 600 120 300\n");
  o = {};
  o.numeric = true;
  o.connection = true;
  ConnStatus c;
  c.proto = net::kProtoTcp;
  c.client = ip("198.18.2.1");
  c.cport = 40000;
  c.vip = ip("198.18.0.100");
  c.vport = 80;
  c.rs = ip("198.18.0.11");
  c.rport = 80;
  c.state = lb::ConnState::kTcpEstablished;
  c.expires = 899;
  got = lines(ipvsadm_list(s, o, 4096, t, {c}));
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], "IPVS connection entries");
  EXPECT_EQ(got[1], "pro expire state       source             virtual            destination");
  EXPECT_EQ(got[2], "TCP 14:59  ESTABLISHED 198.18.2.1:40000   198.18.0.100:80    198.18.0.11:80");
}

// IPv6 as ipvsadm writes it: [addr]:port, and the persistence mask as a prefix length.
TEST(IpvsadmLayout, Ipv6) {
  Model m(1);
  load_text("v6", R"(ipvsadm -A -t [2001:2::100]:80 -s sh -p 300 -M 64
ipvsadm -a -t [2001:2::100]:80 -r [2001:2::11]:80 -g -w 2
ipvsadm -A -u [2001:2::100]:53 -s rr
)",
            m);
  std::vector<ServiceStatus> s;
  for (const auto& svc : m.services()) {
    ServiceStatus st;
    st.key = svc.key;
    st.params = svc.params;
    for (const auto& r : svc.rs) {
      RsStatus rs;
      rs.ip = r.ip;
      rs.weight = r.weight;
      st.rs.push_back(rs);
    }
    s.push_back(st);
  }
  EXPECT_EQ(lines(ipvsadm_save(s, true)), (std::vector<std::string>{"-A -t [2001:2::100]:80 -s sh -p 300 -M 64",
                                                                    "-a -t [2001:2::100]:80 -r [2001:2::11]:80 -g -w 2",
                                                                    "-A -u [2001:2::100]:53 -s rr"}));
  config::query::IpvsList o;
  o.numeric = true;
  const auto got = lines(ipvsadm_list(s, o, 4096, lb::Timeouts{}, {}));
  ASSERT_GE(got.size(), 6u);
  EXPECT_EQ(got[3], "TCP  [2001:2::100]:80 sh persistent 300 mask 64");
  EXPECT_EQ(got[4].substr(0, 39), "  -> [2001:2::11]:80              Route");
  // --stats and --rate name services and servers the same way.
  for (bool stats : {true, false}) {
    config::query::IpvsList so;
    so.numeric = true;
    (stats ? so.stats : so.rate) = true;
    const auto st = lines(ipvsadm_list(s, so, 4096, lb::Timeouts{}, {}));
    ASSERT_GE(st.size(), 6u);
    EXPECT_EQ(st[3].substr(0, 21), "TCP  [2001:2::100]:80") << (stats ? "--stats" : "--rate");
    EXPECT_EQ(st[4].substr(0, 20), "  -> [2001:2::11]:80") << (stats ? "--stats" : "--rate");
  }  // "  -> %-28s %-7s", as ipvsadm
}

// ipvsadm -L -c with IPv6 entries: ipvsadm's print_conn, "%-3s %-6s %-11s %-18s %-18s %s",
// the addresses "[addr]:port" (addrport_to_anyname), overflowing their columns; IPv4
// entries in the same listing as before. Filtered by an IPv6 service (-t [vip]:port).
TEST(IpvsadmLayout, Ipv6Connections) {
  auto conn = [](const char* client, uint16_t cport, const char* vip, uint16_t vport, const char* rs,
                 lb::ConnState state, uint32_t expires, uint8_t proto = net::kProtoTcp) {
    ConnStatus c;
    c.proto = proto;
    c.client = test::any_ip(client);
    c.cport = cport;
    c.vip = test::any_ip(vip);
    c.vport = vport;
    c.rs = test::any_ip(rs);
    c.rport = vport;
    c.state = state;
    c.expires = expires;
    return c;
  };
  const std::vector<ConnStatus> conns = {
      conn("198.18.2.1", 40000, "198.18.0.100", 80, "198.18.0.11", lb::ConnState::kTcpEstablished, 899),
      conn("2001:db8:2::1", 40000, "2001:2::100", 80, "2001:2::11", lb::ConnState::kTcpEstablished, 899),
      conn("2001:db8:2::1", 40001, "2001:2::100", 80, "2001:2::12", lb::ConnState::kTcpSynRecv, 59),
      conn("2001:db8:2::", 0, "2001:2::100", 53, "2001:2::13", lb::ConnState::kTemplate, 300, net::kProtoUdp),
      conn("2001:db8:2::7", 5353, "2001:2::100", 53, "::", lb::ConnState::kUdp, 61, net::kProtoUdp),  // RS gone
  };
  query::IpvsList o;
  o.numeric = true;
  o.connection = true;
  EXPECT_EQ(lines(ipvsadm_list({}, o, 4096, lb::Timeouts{}, conns)),
            (std::vector<std::string>{
                "IPVS connection entries",
                "pro expire state       source             virtual            destination",
                "TCP 14:59  ESTABLISHED 198.18.2.1:40000   198.18.0.100:80    198.18.0.11:80",
                "TCP 14:59  ESTABLISHED [2001:db8:2::1]:40000 [2001:2::100]:80   [2001:2::11]:80",
                "TCP 00:59  SYN_RECV    [2001:db8:2::1]:40001 [2001:2::100]:80   [2001:2::12]:80",
                "UDP 05:00  NONE        [2001:db8:2::]:0   [2001:2::100]:53   [2001:2::13]:53",
                "UDP 01:01  UDP         [2001:db8:2::7]:5353 [2001:2::100]:53   [::]:53",
            }));
  o.service = ServiceKey{test::any_ip("2001:2::100"), net::kProtoTcp, 80};
  o.numeric = false;  // ports by name; addresses stay numeric
  EXPECT_EQ(lines(ipvsadm_list({}, o, 4096, lb::Timeouts{}, conns)),
            (std::vector<std::string>{
                "IPVS connection entries",
                "pro expire state       source             virtual            destination",
                "TCP 14:59  ESTABLISHED [2001:db8:2::1]:40000 [2001:2::100]:http [2001:2::11]:http",
                "TCP 00:59  SYN_RECV    [2001:db8:2::1]:40001 [2001:2::100]:http [2001:2::12]:http",
            }));
  // show conns: the same entries in its own columns.
  const auto shown = lines(format_conns(conns, 9, 100));
  ASSERT_EQ(shown.size(), 7u);
  EXPECT_EQ(shown[2], "TCP  [2001:db8:2::1]:40000 [2001:2::100]:80      [2001:2::11]:80       ESTABLISHED  899s");
  EXPECT_EQ(shown[4], "UDP  [2001:db8:2::]:0      [2001:2::100]:53      [2001:2::13]:53       NONE         300s");
  EXPECT_EQ(shown[6], "5 shown, 9 entries in the connection tables");
}

// ipvsadm -S: "-A %s -s %s" [-b] [-p [-M]], then "-a %s -r %s %s -w %d".
TEST(IpvsadmLayout, Save) {
  auto services = sample();
  services[1].rs[0].thresholds = {100, 0};  // 198.18.0.12
  services[1].rs[1].thresholds = {20, 10};
  services[1].params.sched = lb::Sched::kWlc;
  auto got = lines(ipvsadm_save(services, true));
  std::vector<std::string> want = {
      "-A -t 198.18.0.100:80 -s wlc",
      "-a -t 198.18.0.100:80 -r 198.18.0.11:80 -g -w 2 -x 20 -y 10",
      "-a -t 198.18.0.100:80 -r 198.18.0.12:80 -g -w 1 -x 100",
      "-A -u 198.18.0.100:53 -s sh -b sh-port -p 300 -M 255.255.255.0",
      "-a -u 198.18.0.100:53 -r 198.18.0.11:53 -g -w 1",
  };
  EXPECT_EQ(got, want);
  EXPECT_EQ(lines(ipvsadm_save(sample(), false))[0], "-A -t 198.18.0.100:http -s rr");
  EXPECT_EQ(lines(ipvsadm_save(sample(), false))[1], "-a -t 198.18.0.100:http -r 198.18.0.11:http -g -w 2");
  // What -S prints, -R (ipvsadm lines) restores to the same rules.
  Model m(1);
  std::string restore;
  for (auto& l : want) restore += "ipvsadm " + l + "\n";
  load_text("rules", restore, m);
  ASSERT_EQ(m.services().size(), 2u);
  EXPECT_EQ(m.find({ip("198.18.0.100"), net::kProtoUdp, 53})->params.persist_mask, 24);
  const config::Service* web = m.find({ip("198.18.0.100"), net::kProtoTcp, 80});
  ASSERT_EQ(web->rs.size(), 2u);
  EXPECT_EQ(web->params.sched, lb::Sched::kWlc);
  EXPECT_EQ(web->rs[0].thresholds, (lb::RsThresholds{20, 10}));
  EXPECT_EQ(web->rs[1].thresholds, (lb::RsThresholds{100, 0}));
}

TEST(ShowConfig, RebuildsTheModelExactly) {
  Model m(2);
  load_text("a", R"(port 0 address 198.18.0.2/24
port 1 address 198.18.1.2/24
set timeout tcp 600 udp 60
set check interval 1s fall 2
neigh add 198.18.1.11 02:00:00:00:00:11 port 1
vip add 198.18.0.100 tcp 80 sched mh mh-size 251 check http path /health expect 204
vip add 198.18.0.100 udp 53 sched sh persist 60 netmask 24 flags sh-port,sh-fallback
rs add 198.18.0.100 tcp 80 198.18.1.11 weight 3 check tcp port 8080 rise 3
rs add 198.18.0.100 tcp 80 198.18.1.12 weight 0 lthreshold 0 uthreshold 40
rs add 198.18.0.100 udp 53 198.18.1.11
vip add 198.18.0.102 tcp 80 sched nq
rs add 198.18.0.102 tcp 80 198.18.1.13 uthreshold 9 lthreshold 3
ipvsadm -A -t 198.18.0.103:80
ipvsadm -a -t 198.18.0.103:80 -r 198.18.1.14 -x 5
ipvsadm -A -t 198.18.0.101:443 -s wrr -p 120
neigh add 2001:2::11 02:00:00:00:00:21 port 1
vip add 2001:2::100 tcp 80 sched sh persist 30 netmask 64
rs add 2001:2::100 tcp 80 2001:2::11 weight 2
ipvsadm -A -u [2001:2::100]:53 -s rr
ipvsadm -a -u [2001:2::100]:53 -r [2001:2::12]:53 -w 5
)",
            m);
  const std::string text = model_to_commands(m);
  Model again(2);
  load_text("show config", text, again);
  EXPECT_EQ(model_to_commands(again), text);
  EXPECT_NE(text.find("rs add 198.18.0.100 tcp 80 198.18.1.11 weight 3 check tcp port 8080 rise 3"), std::string::npos)
      << text;
  EXPECT_NE(text.find("set check interval 1s fall 2"), std::string::npos) << text;
  EXPECT_NE(text.find("vip add 2001:2::100 tcp 80 sched sh persist 30 netmask 64\n"), std::string::npos) << text;
  EXPECT_NE(text.find("vip add 2001:2::100 udp 53 sched rr\nrs add 2001:2::100 udp 53 2001:2::12 weight 5\n"), std::string::npos) << text;
  EXPECT_NE(text.find("neigh add 2001:2::11 02:00:00:00:00:21 port 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("set timeout tcp 600 tcpfin 120 udp 60"), std::string::npos) << text;
  EXPECT_NE(text.find("rs add 198.18.0.100 tcp 80 198.18.1.12 weight 0 uthreshold 40\n"), std::string::npos) << text;
  EXPECT_NE(text.find("vip add 198.18.0.102 tcp 80 sched nq\nrs add 198.18.0.102 tcp 80 198.18.1.13 weight 1 uthreshold 9 "
                      "lthreshold 3\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("vip add 198.18.0.103 tcp 80 sched wlc\nrs add 198.18.0.103 tcp 80 198.18.1.14 weight 1 uthreshold 5\n"),
            std::string::npos)
      << text;
  // Same services, RSs, weights, options and checks.
  ASSERT_EQ(again.services().size(), m.services().size());
  for (size_t i = 0; i < m.services().size(); ++i) {
    const auto &a = m.services()[i], &b = again.services()[i];
    EXPECT_EQ(a.key, b.key);
    EXPECT_EQ(a.params.sched, b.params.sched);
    EXPECT_EQ(a.params.persist, b.params.persist);
    EXPECT_EQ(a.params.persist_mask, b.params.persist_mask);
    EXPECT_EQ(a.params.mh_size, b.params.mh_size);
    EXPECT_EQ(a.params.flags, b.params.flags);
    EXPECT_EQ(a.check, b.check);
    ASSERT_EQ(a.rs.size(), b.rs.size());
    for (size_t r = 0; r < a.rs.size(); ++r) {
      EXPECT_EQ(a.rs[r].ip, b.rs[r].ip);
      EXPECT_EQ(a.rs[r].weight, b.rs[r].weight);
      EXPECT_EQ(a.rs[r].thresholds, b.rs[r].thresholds);
      EXPECT_EQ(a.rs[r].check, b.rs[r].check);
    }
  }
}

TEST(Views, DrfwdTables) {
  auto s = sample();
  s[1].check = config::CheckSpec{};  // tcp :80 every 500ms timeout 400ms rise 2 fall 3
  s[1].rs[0].health = lb::Health::kDown;
  s[1].rs[0].takes_new = false;
  s[1].rs[0].health_detail = "refused";
  const std::string vips = format_vips(s);
  EXPECT_NE(vips.find("198.18.0.100:80        tcp   rr     -         1/2"), std::string::npos) << vips;
  EXPECT_NE(vips.find("198.18.0.100:53        udp   sh     300s/24"), std::string::npos) << vips;
  const std::string rs = format_rs(s);
  EXPECT_NE(rs.find("last check: refused"), std::string::npos) << rs;
  EXPECT_EQ(format_vips({}), "no services\n");
  EXPECT_NE(format_conns({}, 7, 100).find("0 shown, 7 entries"), std::string::npos);
}

TEST(Json, Writer) {
  JsonWriter j;
  j.begin_object().field("a", uint64_t{1}).field("s", "x\"y\n").key("l").begin_array();
  j.value(int64_t{-2}).value(true).begin_object().end_object();
  j.end_array().field("d", 0.5).end_object();
  EXPECT_EQ(j.str(), R"({"a":1,"s":"x\"y\n","l":[-2,true,{}],"d":0.5})");
}
