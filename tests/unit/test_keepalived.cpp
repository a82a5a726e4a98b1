// lib/config/keepalived: keepalived.conf's syntax, every keyword's translation, every
// refusal with the file:line it names, and docs/migration.md's table and worked example.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "config/check.hpp"
#include "config/command.hpp"
#include "config/keepalived.hpp"
#include "config/model.hpp"
#include "config/show_config.hpp"
#include "docs.hpp"
#include "packets.hpp"

using namespace drfwd;
using namespace drfwd::config;
using drfwd::test::ip;

namespace {

const std::string kMain = "/etc/keepalived/keepalived.conf";

std::string text_of(const std::vector<std::string>& lines) {
  std::string t;
  for (const std::string& l : lines) t += l + "\n";
  return t;
}

KeepalivedConfig translate(const std::string& text, std::map<std::string, std::string> files = {}) {
  files[kMain] = text;
  return translate_keepalived_text(kMain, text, keepalived_memory_files(files));
}
KeepalivedConfig translate(const std::vector<std::string>& lines, std::map<std::string, std::string> files = {}) {
  return translate(text_of(lines), std::move(files));
}

std::vector<std::string> texts(const KeepalivedConfig& k) {
  std::vector<std::string> out;
  for (const TranslatedLine& l : k.lines) out.push_back(l.text);
  return out;
}
std::vector<std::string> wheres(const KeepalivedConfig& k) {
  std::vector<std::string> out;
  for (const TranslatedLine& l : k.lines) out.push_back(l.where);
  return out;
}

// The refusal a configuration gets, or "" if it translates.
std::string refusal(const std::vector<std::string>& lines, std::map<std::string, std::string> files = {}) {
  try {
    translate(lines, std::move(files));
    return "";
  } catch (const ConfigError& e) {
    return e.what();
  }
}

// The refusal names `at` (the file's line) and says `why`.
#define EXPECT_REFUSED(lines, at, why)                            \
  do {                                                            \
    const std::string err_ = refusal(lines);                      \
    EXPECT_EQ(err_.rfind(std::string(at) + ": ", 0), 0u) << err_; \
    EXPECT_NE(err_.find(why), std::string::npos) << err_;         \
  } while (0)

std::string at(int line) { return kMain + ":" + std::to_string(line); }

// A DR, TCP, rr virtual server 198.18.0.10:80: line 1 opens it, lines 2-4 are those
// settings, `body` starts at line 5; the closing brace follows it.
std::vector<std::string> service(const std::vector<std::string>& body, const std::string& head = "198.18.0.10 80") {
  std::vector<std::string> l = {"virtual_server " + head + " {", "  lb_kind DR", "  protocol TCP", "  lb_algo rr"};
  l.insert(l.end(), body.begin(), body.end());
  l.push_back("}");
  return l;
}
// A real server 198.18.1.2:80 (line 5) with `body` from line 6.
std::vector<std::string> with_rs(const std::vector<std::string>& body, const std::vector<std::string>& vs_body = {}) {
  std::vector<std::string> b = vs_body;
  b.push_back("  real_server 198.18.1.2 80 {");
  b.insert(b.end(), body.begin(), body.end());
  b.push_back("  }");
  return service(b);
}

const std::string kVip = "vip add 198.18.0.10 tcp 80 sched rr";
const std::string kRs = "rs add 198.18.0.10 tcp 80 198.18.1.2 weight 1 ";

// The rs line of a one-RS service.
std::string rs_line(const KeepalivedConfig& k) { return k.lines.size() >= 2 ? k.lines[1].text : ""; }

bool has_note(const KeepalivedConfig& k, const std::string& part) {
  for (const std::string& n : k.notes)
    if (n.find(part) != std::string::npos) return true;
  return false;
}

}  // namespace

// ---- A whole configuration -------------------------------------------------------------

TEST(Keepalived, ATypicalLvsDrConfiguration) {
  const auto k = translate({
      "! Configuration File for keepalived",  // 1
      "global_defs {",                        // 2
      "   router_id LVS_DEVEL",               // 3
      "}",                                    // 4
      "vrrp_instance VI_1 {",                 // 5
      "    state MASTER",                     // 6
      "    interface drfwd0",                 // 7
      "    virtual_router_id 51",             // 8
      "    virtual_ipaddress {",              // 9
      "        198.18.0.10",                  // 10
      "    }",                                // 11
      "}",                                    // 12
      "virtual_server 198.18.0.10 80 {",      // 13
      "    delay_loop 6",                     // 14
      "    lb_algo wlc",                      // 15
      "    lb_kind DR",                       // 16
      "    persistence_timeout 50",           // 17
      "    protocol TCP",                     // 18
      "    sorry_server 198.18.1.9 80",       // 19
      "    real_server 198.18.1.2 80 {",      // 20
      "        weight 3",                     // 21
      "        HTTP_GET {",                   // 22
      "            url {",                    // 23
      "              path /health",           // 24
      "              status_code 200",        // 25
      "            }",                        // 26
      "            connect_timeout 3",        // 27
      "            retry 2",                  // 28
      "        }",                            // 29
      "    }",                                // 30
      "    real_server 198.18.1.3 80 {",      // 31
      "        weight 1",                     // 32
      "        TCP_CHECK {",                  // 33
      "            connect_port 80",          // 34
      "            connect_timeout 3",        // 35
      "        }",                            // 36
      "    }",                                // 37
      "}",                                    // 38
  });
  EXPECT_EQ(texts(k), (std::vector<std::string>{
                          "vip add 198.18.0.10 tcp 80 sched wlc persist 50",
                          "rs add 198.18.0.10 tcp 80 198.18.1.2 weight 3 check http path /health expect 200 "
                          "interval 6s timeout 3s rise 1 fall 3",
                          "rs add 198.18.0.10 tcp 80 198.18.1.3 weight 1 check tcp port 80 interval 6s timeout 3s "
                          "rise 1 fall 2",
                          "rs add 198.18.0.10 tcp 80 198.18.1.9 sorry check none",
                      }));
  EXPECT_EQ(wheres(k), (std::vector<std::string>{at(13), at(20), at(31), at(19)}));
  EXPECT_EQ(k.notes, (std::vector<std::string>{
                         at(2) + ": global_defs skipped: keepalived's global settings (notification mail, router_id, "
                                 "script users, ...) do not apply to drfwd, which has its own options",
                         at(5) + ": vrrp_instance skipped: VRRP stays in keepalived, running next to drfwd on its "
                                 "kernel interface (docs/redundancy.md)",
                     }));
}

TEST(Keepalived, ARealServerWithoutAChecker) {
  // Always up, as in keepalived; without a port it takes the service's.
  auto k =
      translate(service({"  real_server 198.18.1.2 80 {", "    weight 2", "  }", "  real_server 198.18.1.3 {", "  }"}));
  EXPECT_EQ(texts(k), (std::vector<std::string>{kVip, "rs add 198.18.0.10 tcp 80 198.18.1.2 weight 2 check none",
                                                "rs add 198.18.0.10 tcp 80 198.18.1.3 weight 1 check none"}));
  // Braces anywhere on a line, and the opening brace on the next line.
  k = translate({"virtual_server 198.18.0.10 80", "{", "lb_kind DR", "protocol TCP", "lb_algo rr",
                 "real_server 198.18.1.2 80 { weight 2 }", "real_server 198.18.1.3 80 {TCP_CHECK {connect_port 81}}",
                 "}"});
  EXPECT_EQ(texts(k), (std::vector<std::string>{
                          kVip, "rs add 198.18.0.10 tcp 80 198.18.1.2 weight 2 check none",
                          "rs add 198.18.0.10 tcp 80 198.18.1.3 weight 1 check tcp port 81 interval 60s timeout 5s "
                          "rise 1 fall 2"}));
}

// ---- virtual_server keywords -----------------------------------------------------------

TEST(Keepalived, Schedulers) {
  for (const std::string s : {"rr", "wrr", "lc", "wlc", "sh", "mh", "sed", "nq"})
    for (const std::string kw : {"lb_algo", "lvs_sched"}) {
      auto body = with_rs({});
      body[3] = "  " + kw + " " + s;
      EXPECT_EQ(translate(body).lines[0].text, "vip add 198.18.0.10 tcp 80 sched " + s) << kw << " " << s;
    }
  // keepalived's default, as IPVS's, is wlc.
  auto body = with_rs({});
  body.erase(body.begin() + 3);
  const auto k = translate(body);
  EXPECT_EQ(k.lines[0].text, "vip add 198.18.0.10 tcp 80 sched wlc");
  EXPECT_TRUE(has_note(k, at(1) + ": virtual_server without lb_algo: wlc")) << k.notes[0];
  // The schedulers drfwd does not have, each with its reason.
  const std::map<std::string, std::string> refused = {{"dh", "cache clusters"},    {"lblc", "cache clusters"},
                                                      {"lblcr", "cache clusters"}, {"fo", "sorry_server"},
                                                      {"ovf", "overflow"},         {"twos", "twos-choice"}};
  for (const auto& [s, why] : refused) {
    auto b = with_rs({});
    b[3] = "  lb_algo " + s;
    EXPECT_REFUSED(b, at(4), why);
  }
  body = with_rs({});
  body[3] = "  lb_algo random";
  EXPECT_REFUSED(body, at(4), "unknown scheduler");
}

TEST(Keepalived, SchedulerFlags) {
  auto vs_with = [](const std::string& sched, const std::vector<std::string>& flags) {
    auto b = with_rs({}, flags);
    b[3] = "  lb_algo " + sched;
    return translate(b);
  };
  EXPECT_EQ(vs_with("sh", {"  sh-port", "  sh-fallback"}).lines[0].text,
            "vip add 198.18.0.10 tcp 80 sched sh flags sh-fallback,sh-port");
  EXPECT_EQ(vs_with("mh", {"  mh-port", "  mh-fallback"}).lines[0].text,
            "vip add 198.18.0.10 tcp 80 sched mh flags mh-fallback,mh-port");
  // flag-1 and flag-2 are the fallback and port flags of sh and mh.
  EXPECT_EQ(vs_with("sh", {"  flag-1", "  flag-2"}).lines[0].text,
            "vip add 198.18.0.10 tcp 80 sched sh flags sh-fallback,sh-port");
  EXPECT_EQ(vs_with("mh", {"  flag-2"}).lines[0].text, "vip add 198.18.0.10 tcp 80 sched mh flags mh-port");
  // keepalived takes sh-port only after lb_algo sh: before it, or for another
  // scheduler, it is ignored (noted).
  auto k = translate(service({"  sh-port", "  lb_algo sh", "  real_server 198.18.1.2 80 {", "  }"}));
  EXPECT_EQ(k.lines[0].text, "vip add 198.18.0.10 tcp 80 sched sh");
  EXPECT_TRUE(has_note(k, at(5) + ": sh-port ignored")) << testing::PrintToString(k.notes);
  k = vs_with("rr", {"  flag-1"});
  EXPECT_EQ(k.lines[0].text, kVip);
  EXPECT_TRUE(has_note(k, at(5) + ": flag-1 ignored: it means nothing to lb_algo rr"));
  k = vs_with("sh", {"  flag-3"});
  EXPECT_EQ(k.lines[0].text, "vip add 198.18.0.10 tcp 80 sched sh");
  k = vs_with("rr", {"  hashed"});
  EXPECT_EQ(k.lines[0].text, kVip);
  EXPECT_TRUE(has_note(k, at(5) + ": hashed ignored"));
  EXPECT_REFUSED(with_rs({}, {"  ops"}), at(5), "one-packet scheduling");
}

TEST(Keepalived, ForwardingMethod) {
  auto b = with_rs({});
  b[1] = "  lvs_method DR";
  EXPECT_EQ(translate(b).lines[0].text, kVip);
  for (const std::string m : {"NAT", "TUN"}) {
    b[1] = "  lb_kind " + m;
    EXPECT_REFUSED(b, at(2), "lb_kind " + m + ": drfwd forwards by direct routing only (DR)");
    EXPECT_REFUSED(with_rs({"    lvs_method " + m}), at(6),
                   "lvs_method " + m + ": drfwd forwards by direct routing only");
    EXPECT_REFUSED(with_rs({}, {"  sorry_server 198.18.1.9 80", "  sorry_server_lvs_method " + m}), at(6),
                   "direct routing only");
  }
  b[1] = "  lb_kind TUN type gue port 6080";
  EXPECT_REFUSED(b, at(2), "direct routing only");
  b[1] = "  lb_kind DSR";
  EXPECT_REFUSED(b, at(2), "expected DR");
  EXPECT_REFUSED(with_rs({}, {"  nat_mask 255.255.255.0"}), at(5), "direct routing only");
  // No method: keepalived uses NAT, so that is refused too — unless every server says DR.
  b = with_rs({});
  b[1] = "  delay_loop 6";
  EXPECT_REFUSED(b, at(1), "without lb_kind (lvs_method): keepalived then forwards by NAT");
  b = with_rs({"    lvs_method DR"});
  b[1] = "  delay_loop 6";
  EXPECT_EQ(translate(b).lines.size(), 2u);
}

TEST(Keepalived, Protocol) {
  auto b = with_rs({});
  b[2] = "  protocol udp";
  EXPECT_EQ(translate(b).lines[0].text, "vip add 198.18.0.10 udp 80 sched rr");
  b[2] = "  protocol SCTP";
  EXPECT_REFUSED(b, at(3), "SCTP services are not supported");
  b[2] = "  protocol ICMP";
  EXPECT_REFUSED(b, at(3), "expected TCP or UDP");
  // keepalived's default is UDP (noted).
  b.erase(b.begin() + 2);
  const auto k = translate(b);
  EXPECT_EQ(k.lines[0].text, "vip add 198.18.0.10 udp 80 sched rr");
  EXPECT_TRUE(has_note(k, at(1) + ": virtual_server without protocol: UDP"));
}

TEST(Keepalived, Persistence) {
  EXPECT_EQ(translate(with_rs({}, {"  persistence_timeout 600"})).lines[0].text, kVip + " persist 600");
  // Without a value, and with a granularity alone: keepalived's 6 minutes.
  EXPECT_EQ(translate(with_rs({}, {"  persistence_timeout"})).lines[0].text, kVip + " persist 360");
  EXPECT_EQ(translate(with_rs({}, {"  persistence_granularity 255.255.255.0"})).lines[0].text,
            kVip + " persist 360 netmask 255.255.255.0");
  EXPECT_EQ(translate(with_rs({}, {"  persistence_granularity 255.255.0.0", "  persistence_timeout 30"})).lines[0].text,
            kVip + " persist 30 netmask 255.255.0.0");
  const auto v6 = translate(
      service({"  persistence_granularity 64", "  real_server 2001:db8::11 443 {", "  }"}, "2001:db8::10 443"));
  EXPECT_EQ(texts(v6), (std::vector<std::string>{"vip add 2001:db8::10 tcp 443 sched rr persist 360 netmask 64",
                                                 "rs add 2001:db8::10 tcp 443 2001:db8::11 weight 1 check none"}));
  EXPECT_REFUSED(with_rs({}, {"  persistence_granularity 24"}), at(5), "expected an IPv4 netmask");
  EXPECT_REFUSED(with_rs({}, {"  persistence_timeout 0"}), at(5), "persistence_timeout '0'");
  EXPECT_REFUSED(with_rs({}, {"  persistence_engine sip"}), at(5), "persistence engines are not supported");
}

TEST(Keepalived, QuorumAndHysteresis) {
  const std::vector<std::string> three = {"  real_server 198.18.1.2 80 {", "  }", "  real_server 198.18.1.3 80 {",
                                          "    weight 2", "  }"};  // total weight 3
  auto with = [&](const std::vector<std::string>& q) {
    std::vector<std::string> b = q;
    b.insert(b.end(), three.begin(), three.end());
    return translate(service(b));
  };
  EXPECT_EQ(with({"  quorum 2", "  hysteresis 1"}).lines[0].text, kVip + " quorum 2 hysteresis 1");
  EXPECT_EQ(with({"  quorum 3"}).lines[0].text, kVip + " quorum 3 hysteresis 0");
  // keepalived lowers a quorum above the total weight to it, and a hysteresis of the
  // quorum or more to quorum - 1.
  auto k = with({"  quorum 5"});
  EXPECT_EQ(k.lines[0].text, kVip + " quorum 3 hysteresis 0");
  EXPECT_TRUE(has_note(k, at(5) + ": quorum 5 is above the real servers' total weight 3: lowered to it"));
  k = with({"  quorum 2", "  hysteresis 4"});
  EXPECT_EQ(k.lines[0].text, kVip + " quorum 2 hysteresis 1");
  EXPECT_TRUE(has_note(k, at(6) + ": hysteresis 4 is not below the quorum 2: lowered to 1"));
  // A hysteresis alone, under the default quorum of 1, comes to nothing.
  k = with({"  hysteresis 2"});
  EXPECT_EQ(k.lines[0].text, kVip);
  EXPECT_TRUE(has_note(k, at(5) + ": hysteresis 2 is not below the quorum 1: lowered to 0"));
  EXPECT_REFUSED(service({"  quorum 0"}), at(5), "quorum '0'");
  for (const std::string script : {"quorum_up", "quorum_down"})
    EXPECT_REFUSED(with_rs({}, {"  " + script + " /usr/local/bin/page.sh"}), at(5),
                   script + ": drfwd runs no state-change scripts");
}

TEST(Keepalived, InhibitOnFailure) {
  EXPECT_EQ(translate(with_rs({}, {"  inhibit_on_failure"})).lines[0].text, kVip + " on-failure inhibit");
  EXPECT_EQ(rs_line(translate(with_rs({"    inhibit_on_failure"}))), kRs + "on-failure inhibit check none");
  EXPECT_EQ(rs_line(translate(with_rs({"    inhibit_on_failure yes"}, {"  inhibit_on_failure"}))), kRs + "check none");
  EXPECT_EQ(rs_line(translate(with_rs({"    inhibit_on_failure false"}, {"  inhibit_on_failure"}))),
            kRs + "on-failure reschedule check none");
  EXPECT_REFUSED(with_rs({"    inhibit_on_failure maybe"}), at(6), "expected true, on, yes, false, off or no");
}

TEST(Keepalived, WeightsAndThresholds) {
  // The virtual server's weight is its real servers' default.
  auto k = translate(service(
      {"  weight 5", "  real_server 198.18.1.2 80 {", "  }", "  real_server 198.18.1.3 80 {", "    weight 0", "  }"}));
  EXPECT_EQ(texts(k), (std::vector<std::string>{kVip, "rs add 198.18.0.10 tcp 80 198.18.1.2 weight 5 check none",
                                                "rs add 198.18.0.10 tcp 80 198.18.1.3 weight 0 check none"}));
  EXPECT_REFUSED(with_rs({"    weight 70000"}), at(6), "from 0 to 65535");
  EXPECT_REFUSED(service({"  weight 0"}), at(5), "from 1 to 65535");
  EXPECT_EQ(rs_line(translate(with_rs({"    uthreshold 100", "    lthreshold 50"}))),
            kRs + "uthreshold 100 lthreshold 50 check none");
  EXPECT_EQ(rs_line(translate(with_rs({"    lthreshold 5"}))), kRs + "lthreshold 5 check none");
  EXPECT_REFUSED(with_rs({"    uthreshold 3000000000"}), at(6), "from 0 to 2147483647");
}

TEST(Keepalived, SorryServer) {
  auto k = translate(with_rs({}, {"  sorry_server 198.18.1.9 80"}));
  EXPECT_EQ(texts(k), (std::vector<std::string>{kVip, kRs + "check none",
                                                "rs add 198.18.0.10 tcp 80 198.18.1.9 sorry check none"}));
  EXPECT_EQ(k.lines[2].where, at(5));
  EXPECT_EQ(translate(with_rs({}, {"  sorry_server 198.18.1.9"})).lines[2].text,
            "rs add 198.18.0.10 tcp 80 198.18.1.9 sorry check none");
  // sorry_server_inhibit is what drfwd's sorry server does anyway.
  k = translate(
      with_rs({}, {"  sorry_server 198.18.1.9 80", "  sorry_server_inhibit", "  sorry_server_lvs_method DR"}));
  EXPECT_EQ(k.lines.size(), 3u);
  EXPECT_TRUE(has_note(k, at(6) + ": sorry_server_inhibit: drfwd's sorry server keeps its connections"));
  EXPECT_REFUSED(with_rs({}, {"  sorry_server 198.18.1.9 8080"}), at(5), "sorry server port 8080 differs");
  EXPECT_REFUSED(with_rs({}, {"  sorry_server 198.18.1.2 80"}), at(5), "is also a real server of this service");
  EXPECT_REFUSED(with_rs({}, {"  sorry_server 2001:db8::9 80"}), at(5), "is IPv6 and the virtual server IPv4");
  EXPECT_REFUSED(with_rs({}, {"  sorry_server_inhibit"}), at(5), "before (or without) sorry_server");
  EXPECT_REFUSED(with_rs({}, {"  sorry_server 198.18.1.9 80", "  sorry_server 198.18.1.8 80"}), at(6),
                 "a second sorry_server (the first at " + at(5) + ")");
}

TEST(Keepalived, AcceptedWithANote) {
  // Keywords that change nothing drfwd does: translated without them, and said so.
  const std::map<std::string, std::string> vs_level = {
      {"ha_suspend", "ha_suspend ignored"},
      {"omega", "omega ignored"},
      {"smtp_alert", "smtp_alert ignored"},
      {"snmp_name web", "snmp_name ignored"},
      {"warmup 5", "warmup ignored"},
      {"delay_before_retry 2", "delay_before_retry: drfwd probes at a fixed interval"},
      {"ip_family inet", ""}};
  for (const auto& [kw, note] : vs_level) {
    const auto k = translate(with_rs({}, {"  " + kw}));
    EXPECT_EQ(texts(k), (std::vector<std::string>{kVip, kRs + "check none"})) << kw;
    if (!note.empty()) {
      EXPECT_TRUE(has_note(k, at(5) + ": " + note)) << kw << testing::PrintToString(k.notes);
    }
  }
  for (const std::string kw : {"smtp_alert no", "snmp_name web1", "warmup 1", "delay_before_retry 1", "virtualhost x"})
    EXPECT_EQ(texts(translate(with_rs({"    " + kw}))), (std::vector<std::string>{kVip, kRs + "check none"})) << kw;
  EXPECT_REFUSED(with_rs({}, {"  ip_family inet6"}), at(5),
                 "ip_family inet6 but the virtual server 198.18.0.10 is IPv4");
}

TEST(Keepalived, VirtualServerForms) {
  auto k = translate(service({"  real_server 2001:db8::11 443 {", "  }"}, "2001:db8::10 443"));
  EXPECT_EQ(texts(k), (std::vector<std::string>{"vip add 2001:db8::10 tcp 443 sched rr",
                                                "rs add 2001:db8::10 tcp 443 2001:db8::11 weight 1 check none"}));
  k = translate(service({"  real_server [2001:db8::11] 443 {", "  }"}, "[2001:0db8::10] 443"));
  EXPECT_EQ(k.lines[0].text, "vip add 2001:db8::10 tcp 443 sched rr");
  EXPECT_REFUSED(service({}, "fwmark 5"), at(1), "firewall-mark services are not supported");
  EXPECT_REFUSED(service({}, "198.18.0.10"), at(1), "a drfwd service has one port");
  EXPECT_REFUSED(service({}, "198.18.0.10 0"), at(1), "port 0");
  EXPECT_REFUSED(service({}, "198.18.0.10 http"), at(1), "'http' is not a port number");
  EXPECT_REFUSED(service({}, "web.example.com 80"), at(1), "is not an IP address");
  EXPECT_REFUSED(std::vector<std::string>{"virtual_server 198.18.0.10 80"}, at(1), "needs a { } block");
  // A virtual server without real servers is ignored by keepalived: skipped, noted.
  k = translate(service({"  sorry_server 198.18.1.9 80"}));
  EXPECT_TRUE(k.lines.empty());
  EXPECT_TRUE(has_note(k, at(1) + ": virtual_server without real_server skipped"));
}

// ---- real_server keywords -----------------------------------------------------------------

TEST(Keepalived, RealServerRefusals) {
  EXPECT_REFUSED(service({"  real_server 198.18.1.2 8080 {", "  }"}), at(5),
                 "real server port 8080 differs from the service port 80");
  EXPECT_REFUSED(service({"  real_server 2001:db8::2 80 {", "  }"}), at(5),
                 "is IPv6 and the virtual server 198.18.0.10 IPv4");
  EXPECT_REFUSED(service({"  real_server 198.18.1.2 80 {", "  }", "  real_server 198.18.1.2 80 {", "  }"}), at(7),
                 "listed twice (first at " + at(5) + ")");
  for (const std::string n : {"notify_up", "notify_down"})
    EXPECT_REFUSED(with_rs({"    " + n + " \"/usr/local/bin/mail.sh up\""}), at(6),
                   n + ": drfwd runs no state-change scripts");
  EXPECT_REFUSED(service({"  real_server 198.18.1.2 80"}), at(5), "real_server needs a { } block");
  EXPECT_REFUSED(with_rs({"    weight 2 {", "    }"}), at(6), "weight takes no { } block");
}

TEST(Keepalived, CheckersDrfwdDoesNotRunAreRefused) {
  const std::map<std::string, std::string> refused = {{"SSL_GET", "plain HTTP"},        {"SMTP_CHECK", "no SMTP check"},
                                                      {"DNS_CHECK", "no DNS check"},    {"UDP_CHECK", "MISC_CHECK"},
                                                      {"PING_CHECK", "no ICMP checks"}, {"FILE_CHECK", "up or down"},
                                                      {"BFD_CHECK", "BFD sessions"}};
  for (const auto& [kind, why] : refused) {
    EXPECT_REFUSED(with_rs({"    " + kind + " {", "    }"}), at(6), kind + ": drfwd");
    EXPECT_NE(refusal(with_rs({"    " + kind + " {", "    }"})).find(why), std::string::npos) << kind;
  }
  EXPECT_REFUSED(with_rs({"    track_file up"}), at(6), "tracked files");
  EXPECT_REFUSED(with_rs({"    track_bfd b1"}), at(6), "BFD sessions stay in keepalived");
  // One check per real server.
  EXPECT_REFUSED(with_rs({"    TCP_CHECK {", "    }", "    MISC_CHECK {", "      misc_path /bin/true", "    }"}), at(8),
                 "a second checker on real server 198.18.1.2 (the first at " + at(6) + "): drfwd runs one check");
}

// ---- Checkers and their timing ----------------------------------------------------------

TEST(Keepalived, CheckerDefaults) {
  // keepalived 2.x: delay_loop 60 s, connect_timeout 5 s; TCP_CHECK and HTTP_GET retry
  // once (fall 2), MISC_CHECK not at all (fall 1), its timeout the virtual server's delay_loop.
  EXPECT_EQ(rs_line(translate(with_rs({"    TCP_CHECK {", "    }"}))),
            kRs + "check tcp interval 60s timeout 5s rise 1 fall 2");
  EXPECT_EQ(rs_line(translate(with_rs(
                {"    HTTP_GET {", "      url {", "        path /", "        status_code 200", "      }", "    }"}))),
            kRs + "check http path / expect 200 interval 60s timeout 5s rise 1 fall 2");
  EXPECT_EQ(rs_line(translate(with_rs({"    MISC_CHECK {", "      misc_path /usr/local/bin/check", "    }"}))),
            kRs + "check exec interval 60s timeout 60s rise 1 fall 1 command /usr/local/bin/check");
}

TEST(Keepalived, CheckerTimingInheritance) {
  // checker <- real_server <- virtual_server, each setting on its own.
  const std::vector<std::string> vs = {"  delay_loop 10", "  connect_timeout 4", "  retry 3", "  alpha"};
  EXPECT_EQ(rs_line(translate(with_rs({"    TCP_CHECK {", "    }"}, vs))),
            kRs + "check tcp interval 10s timeout 4s rise 1 fall 4 initial down");
  EXPECT_EQ(
      rs_line(translate(with_rs({"    delay_loop 8", "    retry 0", "    alpha no", "    TCP_CHECK {", "    }"}, vs))),
      kRs + "check tcp interval 8s timeout 4s rise 1 fall 1");
  EXPECT_EQ(rs_line(translate(with_rs({"    delay_loop 8", "    TCP_CHECK {", "      delay_loop 2.5",
                                       "      connect_timeout 1.5", "      retry 1", "      alpha", "    }"},
                                      {"  delay_loop 10", "  connect_timeout 4", "  retry 3"}))),
            kRs + "check tcp interval 2500ms timeout 1500ms rise 1 fall 2 initial down");
  // nb_get_retry is HTTP_GET's old name for retry.
  EXPECT_EQ(rs_line(translate(with_rs({"    HTTP_GET {", "      nb_get_retry 4", "      url {", "        path /",
                                       "        status_code 204", "      }", "    }"}))),
            kRs + "check http path / expect 204 interval 60s timeout 5s rise 1 fall 5");
}

TEST(Keepalived, CheckTimingLimits) {
  // A timeout above the interval is cut to it, and said so.
  auto k = translate(with_rs({"    TCP_CHECK {", "      delay_loop 2", "      connect_timeout 5", "    }"}));
  EXPECT_EQ(rs_line(k), kRs + "check tcp interval 2s timeout 2s rise 1 fall 2");
  EXPECT_TRUE(has_note(k, at(8) + ": connect_timeout 5s is longer than the check interval 2s")) << k.notes[0];
  // MISC_CHECK's default timeout is the virtual server's delay_loop, not the checker's.
  k = translate(with_rs({"    MISC_CHECK {", "      misc_path /bin/true", "      delay_loop 3", "    }"}));
  EXPECT_EQ(rs_line(k), kRs + "check exec interval 3s timeout 3s rise 1 fall 1 command /bin/true");
  EXPECT_TRUE(has_note(k, at(6) + ": misc_timeout (by default the virtual server's delay_loop) 60s is longer"));
  EXPECT_EQ(
      rs_line(translate(with_rs({"    MISC_CHECK {", "      misc_path /bin/true", "      misc_timeout 2", "    }"},
                                {"  delay_loop 6"}))),
      kRs + "check exec interval 6s timeout 2s rise 1 fall 1 command /bin/true");
  // drfwd's durations: 50 ms to 3600 s; retry up to 99.
  EXPECT_REFUSED(with_rs({"    TCP_CHECK {", "    }"}, {"  delay_loop 7200"}), at(5),
                 "drfwd checks every 50ms to 3600s");
  EXPECT_REFUSED(with_rs({"    TCP_CHECK {", "      delay_loop 0.01", "    }"}), at(7), "drfwd checks every 50ms");
  EXPECT_REFUSED(with_rs({"    TCP_CHECK {", "      connect_timeout 0.001", "    }"}), at(7), "timeouts start at 50ms");
  EXPECT_REFUSED(with_rs({"    TCP_CHECK {", "      retry 100", "    }"}), at(7), "fall goes up to 100");
  EXPECT_REFUSED(with_rs({"    TCP_CHECK {", "      delay_loop 1.2345678", "    }"}), at(7), "expected seconds");
  EXPECT_REFUSED(with_rs({"    TCP_CHECK {", "      delay_loop six", "    }"}), at(7), "expected seconds");
}

TEST(Keepalived, TcpCheck) {
  auto k = translate(with_rs({"    TCP_CHECK {", "      connect_ip 198.18.1.2", "      connect_port 8080",
                              "      bindto 198.18.0.2", "      bind_port 4000", "      bind_if eth1", "      fwmark 3",
                              "      warmup 2", "      log_all_failures", "      delay_before_retry 2", "    }"}));
  EXPECT_EQ(rs_line(k), kRs + "check tcp port 8080 interval 60s timeout 5s rise 1 fall 2");
  for (const std::string n :
       {"bindto ignored: drfwd's checks leave from the port's own address", "bind_port ignored", "bind_if ignored",
        "fwmark ignored", "warmup ignored", "log_all_failures ignored", "delay_before_retry"})
    EXPECT_TRUE(has_note(k, n)) << n;
  EXPECT_REFUSED(with_rs({"    TCP_CHECK {", "      connect_ip 198.18.1.3", "    }"}), at(7),
                 "connect_ip 198.18.1.3: drfwd checks the real server's own address (198.18.1.2)");
  EXPECT_REFUSED(with_rs({"    TCP_CHECK {", "      connect_port 0", "    }"}), at(7), "port 0");
  EXPECT_REFUSED(with_rs({"    TCP_CHECK {", "      url {", "      }", "    }"}), at(7),
                 "unknown keyword 'url' in TCP_CHECK");
}

TEST(Keepalived, HttpCheck) {
  auto http = [](const std::vector<std::string>& checker, const std::vector<std::string>& url,
                 const std::vector<std::string>& rs = {}, const std::vector<std::string>& vs = {}) {
    std::vector<std::string> body = rs;
    body.push_back("    HTTP_GET {");
    body.insert(body.end(), checker.begin(), checker.end());
    body.push_back("      url {");
    body.insert(body.end(), url.begin(), url.end());
    body.push_back("      }");
    body.push_back("    }");
    return with_rs(body, vs);
  };
  EXPECT_EQ(rs_line(translate(http({"      connect_port 8080", "      connect_timeout 2", "      retry 2"},
                                   {"        path /health", "        status_code 200"}))),
            kRs + "check http port 8080 path /health expect 200 interval 60s timeout 2s rise 1 fall 3");
  // The Host header: url's virtualhost, else HTTP_GET's, the real server's, the virtual server's.
  const std::vector<std::string> url = {"        path /", "        status_code 200"};
  auto host_of = [&](const KeepalivedConfig& k) {
    const std::string l = rs_line(k);
    const size_t h = l.find(" host ");
    return h == std::string::npos ? "" : l.substr(h + 6, l.find(' ', h + 6) - h - 6);
  };
  EXPECT_EQ(host_of(translate(http({}, url, {}, {"  virtualhost vs.example"}))), "vs.example");
  EXPECT_EQ(host_of(translate(http({}, url, {"    virtualhost rs.example"}, {"  virtualhost vs.example"}))),
            "rs.example");
  EXPECT_EQ(host_of(translate(http({"      virtualhost chk.example"}, url, {"    virtualhost rs.example"}))),
            "chk.example");
  auto u = url;
  u.push_back("        virtualhost url.example");
  EXPECT_EQ(host_of(translate(http({"      virtualhost chk.example"}, u))), "url.example");
  // Without status_code keepalived takes any 2xx; drfwd expects 200 (noted).
  auto k = translate(http({}, {"        path /"}));
  EXPECT_EQ(rs_line(k), kRs + "check http path / expect 200 interval 60s timeout 5s rise 1 fall 2");
  EXPECT_TRUE(has_note(k, at(7) + ": url without status_code: keepalived accepts any 2xx status"));
  k = translate(http({"      http_protocol 1.1", "      enable_sni", "      fast_recovery"}, url));
  EXPECT_EQ(k.lines.size(), 2u);
  for (const std::string n : {"http_protocol ignored", "enable_sni ignored", "fast_recovery ignored"})
    EXPECT_TRUE(has_note(k, n)) << n;
  // What drfwd's http check cannot compare.
  EXPECT_REFUSED(http({}, {"        path /", "        digest 9b3a0c85a887a256d6939da88aabd8cd"}), at(9),
                 "digest: drfwd's http check compares the status code only");
  for (const std::string r : {"regex ok", "regex_no_match", "regex_options caseless", "regex_min_offset 1",
                              "regex_max_offset 9", "regex_stack 1 2"})
    EXPECT_REFUSED(http({}, {"        path /", "        " + r}), at(9), "compares the status code only");
  EXPECT_REFUSED(http({}, {"        path /", "        status_code 200 301"}), at(9), "expects one status code");
  EXPECT_REFUSED(http({}, {"        path /", "        status_code 200-299"}), at(9), "expects one status code");
  EXPECT_REFUSED(http({}, {"        path /", "        status_code 99"}), at(9), "from 100 to 599");
  EXPECT_REFUSED(http({}, {"        path index.html"}), at(8), "starts with /");
  EXPECT_REFUSED(http({}, {"        status_code 200"}), at(7), "url without a path");
  EXPECT_REFUSED(http({"      url {", "        path /a", "      }"}, url), at(10), "a second url");
  EXPECT_REFUSED(with_rs({"    HTTP_GET {", "      connect_timeout 3", "    }"}), at(6), "HTTP_GET without a url");
  EXPECT_REFUSED(http({}, url, {}, {"  virtualhost \"two words\""}), at(5), "is not a host name drfwd can send");
}

TEST(Keepalived, MiscCheck) {
  auto misc = [](const std::vector<std::string>& checker) {
    std::vector<std::string> body = {"    MISC_CHECK {"};
    body.insert(body.end(), checker.begin(), checker.end());
    body.push_back("    }");
    return with_rs(body, {"  delay_loop 6"});
  };
  // keepalived splits misc_path's quoted string into the script and its arguments;
  // drfwd runs the command with /bin/sh -c, so each argument is quoted for sh.
  auto k = translate(misc({"      misc_path \"/usr/local/bin/check.sh 198.18.1.2 'a b' don\\'t !x\"",
                           "      misc_timeout 5", "      user root"}));
  EXPECT_EQ(rs_line(k), kRs +
                            "check exec interval 6s timeout 5s rise 1 fall 1 command /usr/local/bin/check.sh "
                            "198.18.1.2 'a b' 'don'\\''t' '!x'");
  EXPECT_TRUE(has_note(k, at(7) + ": MISC_CHECK becomes check exec: drfwd runs the command with /bin/sh -c"));
  EXPECT_EQ(rs_line(translate(misc({"      misc_path /bin/true", "      retry 2", "      alpha"}))),
            kRs + "check exec interval 6s timeout 6s rise 1 fall 3 initial down command /bin/true");
  EXPECT_REFUSED(misc({"      misc_path /usr/local/bin/check.sh 198.18.1.2"}), at(8),
                 "keepalived runs only '/usr/local/bin/check.sh' and drops the rest");
  EXPECT_REFUSED(misc({"      misc_path \"/bin/check #1\""}), at(8), "a '#' or a control character");
  EXPECT_REFUSED(misc({"      misc_path \"/bin/check 'a  b'\""}), at(8), "two blanks in a row");
  EXPECT_REFUSED(misc({"      misc_path \"/bin/check 'a\""}), at(8), "unterminated quote");
  EXPECT_REFUSED(misc({"      misc_path \"/bin/check \\n\""}), at(8), "escapes other than");
  EXPECT_REFUSED(misc({"      misc_path /bin/true", "      misc_dynamic"}), at(9),
                 "drfwd's exec check is up or down only");
  EXPECT_REFUSED(misc({"      misc_path /bin/true", "      user nobody"}), at(9), "runs exec checks as its own user");
  EXPECT_REFUSED(misc({"      misc_timeout 3"}), at(7), "MISC_CHECK without misc_path");
  EXPECT_REFUSED(misc({"      misc_path /bin/true", "      connect_port 80"}), at(9),
                 "unknown keyword 'connect_port' in MISC_CHECK");
}

// ---- virtual_server_group ------------------------------------------------------------------

TEST(Keepalived, VirtualServerGroupsExpand) {
  const auto k = translate({
      "virtual_server group WEB {",     // 1: used before the group is defined
      "  lb_kind DR",                   // 2
      "  protocol TCP",                 // 3
      "  lb_algo rr",                   // 4
      "  real_server 198.18.1.2 {",     // 5: no port: each entry's
      "  }",                            // 6
      "}",                              // 7
      "virtual_server_group WEB {",     // 8
      "  198.18.0.10-11 80",            // 9: the last octet
      "  198.18.0.20-198.18.0.21 443",  // 10
      "  198.18.0.30/31 80",            // 11
      "  198.18.0.40 80",               // 12
      "}",                              // 13
  });
  std::vector<std::string> expected;
  for (const std::string a : {"198.18.0.10 tcp 80", "198.18.0.11 tcp 80", "198.18.0.20 tcp 443", "198.18.0.21 tcp 443",
                              "198.18.0.30 tcp 80", "198.18.0.31 tcp 80", "198.18.0.40 tcp 80"}) {
    expected.push_back("vip add " + a + " sched rr");
    expected.push_back("rs add " + a + " 198.18.1.2 weight 1 check none");
  }
  EXPECT_EQ(texts(k), expected);
  EXPECT_EQ(k.lines[0].where, at(1));
  EXPECT_EQ(k.lines[1].where, at(5));
  // IPv6: the range end is the last group, in hexadecimal.
  const auto v6 =
      translate({"virtual_server_group G6 {", "  2001:db8::a-c 80", "}", "virtual_server group G6 {", "  lb_kind DR",
                 "  protocol TCP", "  lb_algo rr", "  real_server 2001:db8::1:2 80 {", "  }", "}"});
  EXPECT_EQ(v6.lines[0].text, "vip add 2001:db8::a tcp 80 sched rr");
  EXPECT_EQ(v6.lines[2].text, "vip add 2001:db8::b tcp 80 sched rr");
  EXPECT_EQ(v6.lines[4].text, "vip add 2001:db8::c tcp 80 sched rr");
  EXPECT_EQ(v6.lines.size(), 6u);
}

TEST(Keepalived, VirtualServerGroupRefusals) {
  auto group = [](const std::string& entry) {
    return std::vector<std::string>{"virtual_server_group G {", entry, "}"};
  };
  EXPECT_REFUSED(group("  fwmark 1"), at(2), "fwmark entries are not supported");
  EXPECT_REFUSED(group("  198.18.0.10"), at(2), "needs a port");
  EXPECT_REFUSED(group("  198.18.0.10 0"), at(2), "port 0");
  EXPECT_REFUSED(group("  198.18.0.10-9 80"), at(2), "the range's end is not after its start");
  EXPECT_REFUSED(group("  198.18.0.10-300 80"), at(2), "bad range end");
  EXPECT_REFUSED(group("  198.18.0.10-198.18.0.5 80"), at(2), "after its start");
  EXPECT_REFUSED(group("  198.18.0.10-2001:db8::1 80"), at(2), "same family");
  EXPECT_REFUSED(group("  198.18.0.1/24 80"), at(2), "bits set beyond its prefix length");
  EXPECT_REFUSED(group("  198.18.0.0/20 80"), at(2), "up to 1024 addresses per entry");
  EXPECT_REFUSED(group("  198.18.0.10 80 tcp"), at(2), "unexpected 'tcp'");
  EXPECT_REFUSED((std::vector<std::string>{"virtual_server_group G {", "}"}), at(1), "has no entries");
  EXPECT_REFUSED((std::vector<std::string>{"virtual_server_group G {", "  198.18.0.1 80", "}",
                                           "virtual_server_group G {", "  198.18.0.2 80", "}"}),
                 at(4), "defined twice (first at " + at(1) + ")");
  EXPECT_REFUSED(service({}, "group NOPE"), at(1), "no virtual_server_group 'NOPE'");
  // A group's entry whose port differs from the real server's.
  EXPECT_REFUSED((std::vector<std::string>{"virtual_server_group G {", "  198.18.0.10 80", "  198.18.0.11 81", "}",
                                           "virtual_server group G {", "  lb_kind DR", "  real_server 198.18.1.2 80 {",
                                           "  }", "}"}),
                 at(7), "real server port 80 differs from the service port 81");
}

// ---- Reading: comments, quotes, blocks, includes -------------------------------------------

TEST(Keepalived, CommentsAndQuotes) {
  const auto k = translate({
      "# a comment",                                          // 1
      "! another",                                            // 2
      "virtual_server 198.18.0.10 80 {   # the web service",  // 3
      "  lb_kind DR ! direct routing",                        // 4
      "  protocol TCP#no space needed",                       // 5
      "  lb_algo rr",                                         // 6
      "  real_server 198.18.1.2 80 {",                        // 7
      "    HTTP_GET {",                                       // 8
      "      url {",                                          // 9
      "        path \"/a!b\"   # quoted: kept",               // 10
      "        status_code 200",                              // 11
      "      }",                                              // 12
      "      virtualhost web\\!1",                            // 13
      "    }",                                                // 14
      "  }",                                                  // 15
      "}",                                                    // 16
  });
  EXPECT_EQ(rs_line(k), kRs + "check http path /a!b expect 200 host web!1 interval 60s timeout 5s rise 1 fall 2");
  Model m(1);
  EXPECT_NO_THROW(load_translated(k, m));
  // '#' would start a comment on the native line: it cannot be carried.
  EXPECT_REFUSED(with_rs({"    HTTP_GET {", "      url {", "        path \"/a#b\"", "      }", "    }"}), at(8),
                 "no blanks, quotes or '#'");
  EXPECT_REFUSED(
      with_rs({"    HTTP_GET {", "      virtualhost \"web#1\"", "      url {", "        path /", "      }", "    }"}),
      at(7), "is not a host name drfwd can send");
}

TEST(Keepalived, SyntaxErrors) {
  EXPECT_REFUSED((std::vector<std::string>{"virtual_server 198.18.0.10 80 {", "  lb_kind DR"}), at(1),
                 "virtual_server: its '{' is never closed");
  EXPECT_REFUSED((std::vector<std::string>{"global_defs {", "}", "}"}), at(3), "'}' closes no block");
  EXPECT_REFUSED((std::vector<std::string>{"{", "}"}), at(1), "'{' without a keyword");
  EXPECT_REFUSED(with_rs({"    HTTP_GET {", "      virtualhost \"web", "    }"}), at(7), "unterminated quote");
  EXPECT_REFUSED((std::vector<std::string>{"$VIP=198.18.0.10"}), at(1), "keepalived's definitions");
  EXPECT_REFUSED((std::vector<std::string>{"@lb1 global_defs {", "}"}), at(1), "conditional lines");
  EXPECT_REFUSED((std::vector<std::string>{"~SEQ(i, 1, 3) virtual_server 198.18.0.$i 80 {"}), at(1), "sequences");
}

TEST(Keepalived, UnknownKeywordsAreRefusedWithTheirLine) {
  EXPECT_REFUSED((std::vector<std::string>{"# top", "virtual_servers 198.18.0.10 80 {", "}"}), at(2),
                 "unknown keyword 'virtual_servers'");
  EXPECT_REFUSED(with_rs({}, {"  delay 6"}), at(5), "unknown keyword 'delay' in virtual_server");
  EXPECT_REFUSED(with_rs({"    wieght 3"}), at(6), "unknown keyword 'wieght' in real_server");
  EXPECT_REFUSED(with_rs({"    TCP_CHECK {", "      connect_prot 80", "    }"}), at(7),
                 "unknown keyword 'connect_prot' in TCP_CHECK");
  EXPECT_REFUSED(with_rs({"    HTTP_GET {", "      urls {", "      }", "    }"}), at(7),
                 "unknown keyword 'urls' in HTTP_GET");
  EXPECT_REFUSED(with_rs({"    HTTP_GET {", "      url {", "        paht /", "      }", "    }"}), at(8),
                 "unknown keyword 'paht' in url");
  EXPECT_REFUSED(with_rs({"    MISC_CHECK {", "      misc_pth /bin/true", "    }"}), at(7),
                 "unknown keyword 'misc_pth' in MISC_CHECK");
  // Inside an included file: that file's name and line.
  const std::string err =
      refusal({"include conf.d/*.conf"}, {{"/etc/keepalived/conf.d/web.conf", text_of(with_rs({"    wieght 3"}))}});
  EXPECT_EQ(err.rfind("/etc/keepalived/conf.d/web.conf:6: unknown keyword 'wieght' in real_server", 0), 0u) << err;
}

TEST(Keepalived, SkippedSectionsGiveOneNoteEach) {
  const auto k = translate({
      "global_defs {",                      // 1
      "  router_id lb1",                    // 2
      "}",                                  // 3
      "vrrp_script chk_drfwd {",            // 4
      "  script \"/usr/bin/pgrep drfwd\"",  // 5
      "}",                                  // 6
      "vrrp_instance A {",                  // 7
      "  virtual_ipaddress {",              // 8
      "    198.18.0.10/32 dev drfwd0",      // 9
      "  }",                                // 10
      "}",                                  // 11
      "vrrp_instance B {",                  // 12
      "}",                                  // 13
      "vrrp_sync_group G {",                // 14
      "  group {",                          // 15
      "    A",                              // 16
      "    B",                              // 17
      "  }",                                // 18
      "}",                                  // 19
      "static_ipaddress {",                 // 20
      "  192.0.2.1/24 dev eth0",            // 21
      "}",                                  // 22
      "static_routes {",                    // 23
      "}",                                  // 24
      "static_rules {",                     // 25
      "}",                                  // 26
      "vrrp_instance C {",                  // 27
      "}",                                  // 28
  });
  EXPECT_TRUE(k.lines.empty());
  ASSERT_EQ(k.notes.size(), 7u) << testing::PrintToString(k.notes);
  EXPECT_EQ(k.notes[0].rfind(at(1) + ": global_defs skipped: ", 0), 0u);
  EXPECT_EQ(k.notes[1].rfind(at(4) + ": vrrp_script skipped: VRRP stays in keepalived", 0), 0u);
  EXPECT_EQ(k.notes[2], at(7) +
                            ": vrrp_instance skipped: VRRP stays in keepalived, running next to drfwd on its "
                            "kernel interface (docs/redundancy.md) (and 2 more)");
  EXPECT_EQ(k.notes[3].rfind(at(14) + ": vrrp_sync_group skipped: ", 0), 0u);
  EXPECT_EQ(k.notes[4].rfind(at(20) + ": static_ipaddress skipped: keepalived sets these on the host", 0), 0u);
  EXPECT_EQ(k.notes[5].rfind(at(23) + ": static_routes skipped: ", 0), 0u);
  EXPECT_EQ(k.notes[6].rfind(at(25) + ": static_rules skipped: ", 0), 0u);
}

TEST(Keepalived, Includes) {
  const std::map<std::string, std::string> files = {
      // A glob, relative to the including file; its matches in name order.
      {"/etc/keepalived/conf.d/b-web.conf", text_of(service({"  include ../rs/web-*.conf"}, "198.18.0.11 80"))},
      {"/etc/keepalived/conf.d/a-vrrp.conf", "vrrp_instance A {\n}\n"},
      // Nested, and inside a block: relative to conf.d/, where the including file is.
      {"/etc/keepalived/rs/web-1.conf", "real_server 198.18.1.2 80 {\n  weight 2\n}\n"},
      {"/etc/keepalived/rs/web-2.conf", "\n\nreal_server 198.18.1.3 80 {\n}\n"},
      {"/etc/keepalived/rs/readme.txt", "not keepalived\n"},
  };
  const auto k =
      translate(std::vector<std::string>{"include conf.d/*.conf", "include /etc/keepalived/empty.d/*.conf"}, files);
  EXPECT_EQ(texts(k), (std::vector<std::string>{"vip add 198.18.0.11 tcp 80 sched rr",
                                                "rs add 198.18.0.11 tcp 80 198.18.1.2 weight 2 check none",
                                                "rs add 198.18.0.11 tcp 80 198.18.1.3 weight 1 check none"}));
  EXPECT_EQ(wheres(k),
            (std::vector<std::string>{"/etc/keepalived/conf.d/b-web.conf:1", "/etc/keepalived/rs/web-1.conf:1",
                                      "/etc/keepalived/rs/web-2.conf:3"}));
  // (What reading the files notes comes before what translating them notes.)
  EXPECT_EQ(k.notes, (std::vector<std::string>{
                         at(2) + ": include /etc/keepalived/empty.d/*.conf: no file matches, nothing included",
                         "/etc/keepalived/conf.d/a-vrrp.conf:1: vrrp_instance skipped: VRRP stays in keepalived, "
                         "running next to drfwd on its kernel interface (docs/redundancy.md)"}));
  // A file that is not there, an include loop (also through another file), a quoted name.
  EXPECT_REFUSED((std::vector<std::string>{"", "include missing.conf"}), at(2), "include missing.conf: no such file");
  std::string err = refusal({"include a.conf"}, {{"/etc/keepalived/a.conf", "include b.conf\n"},
                                                 {"/etc/keepalived/b.conf", "\ninclude ./a.conf\n"}});
  EXPECT_EQ(err,
            "/etc/keepalived/b.conf:2: include ./a.conf: /etc/keepalived/a.conf is already being read (an "
            "include loop)");
  err = refusal({"include keepalived.conf"});
  EXPECT_NE(err.find(at(1) + ": include keepalived.conf: "), std::string::npos) << err;
  EXPECT_NE(err.find("include loop"), std::string::npos) << err;
  EXPECT_EQ(texts(translate(std::vector<std::string>{"include \"/etc/keepalived/web conf/vs.conf\""},
                            {{"/etc/keepalived/web conf/vs.conf", text_of(with_rs({}))}})),
            (std::vector<std::string>{kVip, kRs + "check none"}));
}

TEST(Keepalived, ReadsFilesFromDisk) {
  const std::string dir = ::testing::TempDir() + "drfwd-keepalived-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir + "/conf.d");
  std::ofstream(dir + "/keepalived.conf") << "include conf.d/*.conf\n";
  std::ofstream(dir + "/conf.d/web.conf") << text_of(with_rs({}));
  const auto k = translate_keepalived(dir + "/keepalived.conf");
  EXPECT_EQ(texts(k), (std::vector<std::string>{kVip, kRs + "check none"}));
  EXPECT_EQ(k.lines[0].where, dir + "/conf.d/web.conf:1");
  try {
    translate_keepalived(dir + "/nothing.conf");
    ADD_FAILURE() << "a missing file translated";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), dir + "/nothing.conf: cannot open keepalived configuration");
  }
  std::filesystem::remove_all(dir);
}

// ---- Loading into the model ------------------------------------------------------------------

TEST(KeepalivedLoad, TranslatedLinesLoad) {
  // Forms the grammar on this branch already has.
  const auto k = translate({
      "virtual_server 198.18.0.10 80 {",  // 1
      "  lb_kind DR",                     // 2
      "  protocol TCP",                   // 3
      "  lb_algo wrr",                    // 4
      "  persistence_timeout 120",        // 5
      "  persistence_granularity 255.255.255.0",
      "  delay_loop 3",                     // 7
      "  real_server 198.18.1.2 80 {",      // 8
      "    weight 3",                       // 9
      "    HTTP_GET {",                     // 10
      "      url {",                        // 11
      "        path /health",               // 12
      "        status_code 204",            // 13
      "        virtualhost www.example",    // 14
      "      }",                            // 15
      "      connect_port 8080",            // 16
      "      connect_timeout 1.5",          // 17
      "      retry 2",                      // 18
      "    }",                              // 19
      "  }",                                // 20
      "  real_server 198.18.1.3 80 {",      // 21
      "    TCP_CHECK {",                    // 22
      "    }",                              // 23
      "  }",                                // 24
      "  real_server 198.18.1.4 80 {",      // 25
      "  }",                                // 26
      "}",                                  // 27
      "virtual_server 2001:db8::10 443 {",  // 28
      "  lb_kind DR",                       // 29
      "  protocol UDP",                     // 30
      "  lb_algo sh",                       // 31
      "  sh-port",                          // 32
      "  real_server 2001:db8::11 443 {",   // 33
      "  }",                                // 34
      "}",                                  // 35
  });
  for (const TranslatedLine& l : k.lines) EXPECT_NO_THROW(parse_line(l.text)) << l.text;
  Model m(1);
  ASSERT_NO_THROW(load_translated(k, m));
  ASSERT_EQ(m.services().size(), 2u);
  const Service* web = m.find({ip("198.18.0.10"), net::kProtoTcp, 80});
  ASSERT_NE(web, nullptr);
  EXPECT_EQ(web->params.sched, lb::Sched::kWrr);
  EXPECT_EQ(web->params.persist, 120u);
  EXPECT_EQ(web->params.persist_mask, 24);
  ASSERT_EQ(web->rs.size(), 3u);
  EXPECT_EQ(web->rs[0].weight, 3u);
  EXPECT_EQ(web->rs[0].check, (CheckOverride{CheckKind::kHttp, 8080, "/health", 204, "www.example", 3000, 1500, 1, 3}));
  EXPECT_EQ(web->rs[1].check, (CheckOverride{CheckKind::kTcp, {}, {}, {}, {}, 3000, 3000, 1, 2}));
  EXPECT_EQ(web->rs[2].check, (CheckOverride{CheckKind::kNone}));
  const Service* dns = m.find({net::IpAddr(*net::parse_ipv6("2001:db8::10")), net::kProtoUdp, 443});
  ASSERT_NE(dns, nullptr);
  EXPECT_EQ(dns->params.sched, lb::Sched::kSh);
  EXPECT_EQ(dns->params.flags, lb::kFlagShPort);
}

TEST(KeepalivedLoad, AllOrNothingNamingTheKeepalivedLine) {
  // The second virtual server repeats the first: drfwd refuses its vip line, which names
  // the keepalived line, and nothing is applied.
  std::vector<std::string> twice = with_rs({});
  const std::vector<std::string> again = with_rs({});
  twice.insert(twice.end(), again.begin(), again.end());  // the second opens at line 8
  Model m(1);
  m.apply(*parse_line("vip add 198.18.0.99 tcp 80"));
  try {
    load_translated(translate(twice), m);
    ADD_FAILURE() << "a repeated virtual server loaded";
  } catch (const ConfigError& e) {
    const std::string err = e.what();
    EXPECT_EQ(err.rfind(at(8) + ": ", 0), 0u) << err;
    EXPECT_NE(err.find("(translated to 'vip add 198.18.0.10 tcp 80 sched rr')"), std::string::npos) << err;
  }
  EXPECT_EQ(m.services().size(), 1u);
}

// The forms issue 13 added to the grammar, as the import writes them, load.

TEST(KeepalivedLoad, LeastConnectionSchedulers) {
  for (const std::string s : {"lc", "wlc", "sed", "nq"}) {
    auto b = with_rs({});
    b[3] = "  lb_algo " + s;
    Model m(1);
    ASSERT_NO_THROW(load_translated(translate(b), m)) << s;
    EXPECT_NE(model_to_commands(m).find("sched " + s), std::string::npos) << model_to_commands(m);
  }
}

TEST(KeepalivedLoad, Thresholds) {
  Model m(1);
  ASSERT_NO_THROW(load_translated(translate(with_rs({"    uthreshold 100", "    lthreshold 50"})), m));
  EXPECT_NE(model_to_commands(m).find("uthreshold 100"), std::string::npos) << model_to_commands(m);
  EXPECT_NE(model_to_commands(m).find("lthreshold 50"), std::string::npos) << model_to_commands(m);
}

TEST(KeepalivedLoad, SorryServer) {
  Model m(1);
  ASSERT_NO_THROW(load_translated(translate(with_rs({}, {"  sorry_server 198.18.1.9 80"})), m));
  ASSERT_EQ(m.services()[0].rs.size(), 2u);
  EXPECT_NE(model_to_commands(m).find("198.18.1.9 sorry"), std::string::npos) << model_to_commands(m);
}

TEST(KeepalivedLoad, InhibitOnFailure) {
  Model m(1);
  ASSERT_NO_THROW(load_translated(translate(with_rs({"    inhibit_on_failure no"}, {"  inhibit_on_failure"})), m));
  EXPECT_NE(model_to_commands(m).find("on-failure inhibit"), std::string::npos) << model_to_commands(m);
  EXPECT_NE(model_to_commands(m).find("on-failure reschedule"), std::string::npos) << model_to_commands(m);
}

TEST(KeepalivedLoad, QuorumAndHysteresis) {
  Model m(1);
  ASSERT_NO_THROW(load_translated(translate(with_rs({"    weight 4"}, {"  quorum 3", "  hysteresis 1"})), m));
  EXPECT_NE(model_to_commands(m).find("quorum 3 hysteresis 1"), std::string::npos) << model_to_commands(m);
}

TEST(KeepalivedLoad, AlphaStartsDown) {
  Model m(1);
  ASSERT_NO_THROW(load_translated(translate(with_rs({"    TCP_CHECK {", "    }"}, {"  alpha"})), m));
  EXPECT_NE(model_to_commands(m).find("initial down"), std::string::npos) << model_to_commands(m);
}

TEST(KeepalivedLoad, MiscCheckIsAnExecCheck) {
  Model m(1);
  ASSERT_NO_THROW(load_translated(
      translate(with_rs(
          {"    MISC_CHECK {", "      misc_path \"/usr/local/bin/check.sh 'a b'\"", "      misc_timeout 3", "    }"},
          {"  delay_loop 6"})),
      m));
  EXPECT_NE(model_to_commands(m).find("check exec interval 6s timeout 3s rise 1 fall 1 command "
                                      "/usr/local/bin/check.sh 'a b'"),
            std::string::npos)
      << model_to_commands(m);
}

// ---- docs/migration.md -----------------------------------------------------------------

namespace {

// The text of the code block that follows `marker` in `doc`.
std::string block_after(const std::string& doc, const std::string& marker) {
  const size_t m = doc.find(marker);
  if (m == std::string::npos) return "";
  const size_t open = doc.find("```\n", m);
  const size_t close = doc.find("\n```", open + 4);
  if (open == std::string::npos || close == std::string::npos) return "";
  return doc.substr(open + 4, close - open - 3);
}

}  // namespace

TEST(KeepalivedDocs, TheMigrationGuideNamesEveryKeyword) {
  const std::string doc = test::read_doc("migration.md");
  ASSERT_FALSE(doc.empty());
  for (const KeepalivedKeyword& k : keepalived_keywords())
    EXPECT_NE(doc.find("`" + std::string(k.name) + "`"), std::string::npos) << k.block << " " << k.name;
}

TEST(KeepalivedDocs, TheWorkedExampleIsWhatTheImportGives) {
  const std::string doc = test::read_doc("migration.md");
  const std::string conf = block_after(doc, "<!-- keepalived.conf example -->");
  ASSERT_FALSE(conf.empty());
  const auto k =
      translate_keepalived_text("keepalived.conf", conf, keepalived_memory_files({{"keepalived.conf", conf}}));
  std::string lines, notes;
  for (const TranslatedLine& l : k.lines) lines += l.text + "  # " + l.where + "\n";
  for (const std::string& n : k.notes) notes += n + "\n";
  EXPECT_EQ(block_after(doc, "<!-- translated lines -->"), lines);
  EXPECT_EQ(block_after(doc, "<!-- import notes -->"), notes);
}

TEST(KeepalivedDocs, TheWorkedExampleLoads) {
  const std::string conf = block_after(test::read_doc("migration.md"), "<!-- keepalived.conf example -->");
  Model m(1);
  EXPECT_NO_THROW(load_translated(
      translate_keepalived_text("keepalived.conf", conf, keepalived_memory_files({{"keepalived.conf", conf}})), m));
  EXPECT_FALSE(m.services().empty());
}
