// Connection listings across workers, single-threaded: the control side posts requests
// (control::ConnQuery), each worker answers between bursts (lb::ConnDump::step over its
// flow table); and a worker's status (lb::WorkerStatus).
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "control/conn_query.hpp"
#include "control_fakes.hpp"
#include "lb/forwarder.hpp"
#include "lb/handoff.hpp"
#include "specs.hpp"

using namespace drfwd;
using namespace drfwd::test;
using control::ConnListing;
using control::ConnQuery;
using control::ConnStatus;

namespace {

// A worker as far as listings go: its tables (IPv4, and the Forwarder's IPv6 one),
// filled by its Forwarder, and its mailbox.
struct Worker {
  explicit Worker(uint32_t index, uint32_t capacity4 = 1024, uint32_t capacity6 = 1024)
      : table(capacity4), rs(std::make_unique<lb::RsCounters[]>(lb::kMaxRsSlots)),
        fwd(index, table, counters, rs.get(), capacity6) {}
  void forward(const std::vector<uint8_t>& frame, const lb::Snapshot* snap, uint32_t now) {
    std::vector<uint8_t> f = frame;
    const lb::Frame fr{f.data(), static_cast<uint32_t>(f.size()), static_cast<uint32_t>(f.size()), 0, {}};
    fwd.begin(snap, now);
    ASSERT_EQ(fwd.process(fr).action, lb::Verdict::Action::kForward);
  }
  void forward(const FrameSpec& s, const lb::Snapshot* snap, uint32_t now) { forward(build(s), snap, now); }
  void forward(const Frame6Spec& s, const lb::Snapshot* snap, uint32_t now) { forward(build6(s), snap, now); }
  // The worker loop's share of a listing: one slice per loop until the answer is stored.
  // Returns the loops it took.
  int answer(uint32_t now) {
    int loops = 0;
    for (; dump.pending(); ++loops) {
      EXPECT_LT(loops, 10);
      if (loops >= 10) break;
      dump.step(table, fwd.conns6(), now);
    }
    return loops;
  }
  lb::FlowTable table;  // 1024: two slices of kStep entries (and as many in the IPv6 table)
  lb::WorkerCounters counters;
  std::unique_ptr<lb::RsCounters[]> rs;
  lb::Forwarder fwd;
  lb::ConnDump dump{1000};
};

FrameSpec tcp_syn(uint16_t sport) {
  FrameSpec s;
  s.sport = sport;
  return s;
}

FrameSpec udp_to_dns(const char* client) {
  FrameSpec s;
  s.proto = net::kProtoUdp;
  s.saddr = ip(client);
  s.daddr = ip("198.18.1.20");
  s.dport = 53;
  return s;
}

// Worker 0 holds three TCP connections to 198.18.1.10:80 (rr); worker 1 two UDP flows to
// 198.18.1.20:53 (sh, persistent) from two clients, so two persistence templates too.
class ConnQueryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spec.ports = ports(1, net::Prefix{ip("198.18.0.2"), 24});
    spec.workers = 2;
    spec.services = {
        service(0, "198.18.1.10", net::kProtoTcp, 80, lb::Sched::kRr, {rs(0, "198.18.0.11"), rs(1, "198.18.0.12")}),
        service(1, "198.18.1.20", net::kProtoUdp, 53, lb::Sched::kSh, {rs(2, "198.18.0.13")}, persistent(300)),
    };
    sink.publish(lb::build_snapshot(spec, nullptr));
    for (uint16_t p = 0; p < 3; ++p) workers[0]->forward(tcp_syn(1000 + p), sink.current(), 0);
    workers[1]->forward(udp_to_dns("198.18.2.1"), sink.current(), 0);
    workers[1]->forward(udp_to_dns("198.18.2.2"), sink.current(), 0);
  }
  // Starts a listing whose result lands in `out`.
  void list(std::optional<const char*> vip, uint32_t limit, double now, std::optional<ConnListing>& out) {
    query.start(vip ? std::optional(any_ip(*vip)) : std::nullopt, limit, now, [&out](ConnListing l) { out = std::move(l); });
  }

  lb::SnapshotSpec spec;
  RecordingSink sink;
  std::unique_ptr<Worker> workers[2] = {std::make_unique<Worker>(0), std::make_unique<Worker>(1)};
  ConnQuery query{{&workers[0]->dump, &workers[1]->dump}, sink};
};

size_t count_state(const ConnListing& l, lb::ConnState s) {
  return static_cast<size_t>(std::count_if(l.conns.begin(), l.conns.end(), [s](auto& c) { return c.state == s; }));
}

}  // namespace

// A posted request is answered once the worker has walked its whole table, a slice per
// loop; the listing completes when every worker has answered, with what each table holds.
TEST_F(ConnQueryTest, AnsweredWhenEveryWorkerHasWalkedItsTable) {
  std::optional<ConnListing> got;
  list(std::nullopt, 100, 0, got);
  query.poll(0);
  EXPECT_FALSE(got);
  ASSERT_TRUE(workers[0]->dump.pending());
  workers[0]->dump.step(workers[0]->table, workers[0]->fwd.conns6(), 0);
  EXPECT_TRUE(workers[0]->dump.pending()) << "one slice of " << lb::ConnDump::kStep << " entries is not the table";
  workers[0]->answer(0);
  query.poll(0.1);
  EXPECT_FALSE(got) << "worker 1 has not answered";
  workers[1]->answer(0);
  query.poll(0.2);
  ASSERT_TRUE(got);
  EXPECT_FALSE(query.busy());
  EXPECT_TRUE(got->missing.empty());
  EXPECT_EQ(got->in_use, 7u);
  ASSERT_EQ(got->conns.size(), 7u);
  EXPECT_EQ(count_state(*got, lb::ConnState::kTcpSynRecv), 3u);
  for (const ConnStatus& c : got->conns) {
    if (c.proto != net::kProtoTcp) continue;
    EXPECT_EQ(c.client, ip("198.18.2.1"));
    EXPECT_GE(c.cport, 1000);
    EXPECT_LE(c.cport, 1002);
    EXPECT_EQ(c.vip, ip("198.18.1.10"));
    EXPECT_EQ(c.vport, 80);
    EXPECT_TRUE(c.rs == ip("198.18.0.11") || c.rs == ip("198.18.0.12")) << net::to_string(c.rs);
    EXPECT_EQ(c.rport, 80);
    EXPECT_EQ(c.expires, spec.timeouts.get(lb::ConnState::kTcpSynRecv));
  }
}

// The limit bounds the whole listing; a VIP filter keeps that VIP's entries only.
TEST_F(ConnQueryTest, LimitAndVipFilter) {
  std::optional<ConnListing> two, dns;
  list(std::nullopt, 2, 0, two);
  for (auto& w : workers) w->answer(0);
  EXPECT_LE(workers[1]->dump.records().size(), 2u) << "the worker stops at the limit";
  query.poll(0);
  ASSERT_TRUE(two);
  EXPECT_EQ(two->conns.size(), 2u);
  EXPECT_EQ(two->in_use, 7u) << "entries in the tables, not in the listing";

  list("198.18.1.20", 100, 1, dns);
  for (auto& w : workers) w->answer(1);
  query.poll(1);
  ASSERT_TRUE(dns);
  ASSERT_EQ(dns->conns.size(), 4u);
  for (const ConnStatus& c : dns->conns) {
    EXPECT_EQ(c.vip, ip("198.18.1.20"));
    EXPECT_EQ(c.rs, ip("198.18.0.13"));
  }
}

// Persistence templates are listed as such, flows in their own state.
TEST_F(ConnQueryTest, TemplatesAreListedAsTemplates) {
  std::optional<ConnListing> got;
  list("198.18.1.20", 100, 0, got);
  for (auto& w : workers) w->answer(0);
  query.poll(0);
  ASSERT_TRUE(got);
  EXPECT_EQ(count_state(*got, lb::ConnState::kTemplate), 2u);
  EXPECT_EQ(count_state(*got, lb::ConnState::kUdp), 2u);
  for (const ConnStatus& c : got->conns)
    if (c.state == lb::ConnState::kTemplate) {
      EXPECT_EQ(c.cport, 0) << "a template is per client address";
    }
}

// A worker that never answers is named missing once the deadline has passed; the others'
// connections are listed.
TEST_F(ConnQueryTest, SilentWorkerIsReportedMissingAfterTheDeadline) {
  std::optional<ConnListing> got;
  list(std::nullopt, 100, 10, got);
  workers[0]->answer(10);
  query.poll(10 + ConnQuery::kTimeout - 0.01);
  EXPECT_FALSE(got);
  query.poll(10 + ConnQuery::kTimeout);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->missing, std::vector<uint32_t>{1});
  EXPECT_EQ(got->conns.size(), 3u);
  EXPECT_EQ(got->in_use, 3u);
}

// A worker still busy with an abandoned request is not asked again (its mailbox is its
// own until it answers); once it has answered the old request it is asked the new one.
TEST_F(ConnQueryTest, BusyWorkerIsSkippedUntilItAnswersTheAbandonedRequest) {
  std::optional<ConnListing> first, second, third;
  list(std::nullopt, 100, 0, first);
  workers[0]->answer(0);
  query.poll(ConnQuery::kTimeout);
  ASSERT_TRUE(first);
  ASSERT_TRUE(workers[1]->dump.pending()) << "worker 1 never looked";

  list(std::nullopt, 100, 3, second);
  workers[0]->answer(3);
  query.poll(3.1);
  EXPECT_FALSE(second);
  workers[1]->answer(3);
  EXPECT_TRUE(workers[1]->dump.answered(1)) << "it answered the abandoned request: the new one was not posted over it";
  query.poll(3.2);  // idle now: asked
  EXPECT_FALSE(second);
  workers[1]->answer(3);
  query.poll(3.3);
  ASSERT_TRUE(second) << "worker 1 answered well before the deadline";
  EXPECT_TRUE(second->missing.empty());
  EXPECT_EQ(second->conns.size(), 7u);

  // A worker busy through the whole of a listing is missing from it; freed only as the
  // listing ends, it is not asked (nobody would read the answer).
  list(std::nullopt, 100, 10, first);  // abandoned by worker 1 again
  workers[0]->answer(10);
  query.poll(10 + ConnQuery::kTimeout);
  list(std::nullopt, 100, 20, third);
  workers[0]->answer(20);
  query.poll(20 + ConnQuery::kTimeout - 0.01);
  EXPECT_FALSE(third);
  workers[1]->answer(20);
  query.poll(20 + ConnQuery::kTimeout);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->missing, std::vector<uint32_t>{1});
  EXPECT_TRUE(workers[1]->dump.idle());
}

// Listings started while one runs wait their turn and run in order, each with its own filter and limit.
TEST_F(ConnQueryTest, QueuedListingsRunInOrder) {
  std::vector<std::string> order;
  query.start(std::nullopt, 1, 0, [&](ConnListing l) {
    order.push_back("limit 1");
    EXPECT_EQ(l.conns.size(), 1u);
  });
  query.start(ip("198.18.1.20"), 100, 0, [&](ConnListing l) {
    order.push_back("dns");
    EXPECT_EQ(l.conns.size(), 4u);
  });
  query.start(std::nullopt, 100, 0, [&](ConnListing l) {
    order.push_back("all");
    EXPECT_EQ(l.conns.size(), 7u);
  });
  EXPECT_TRUE(query.busy());
  for (int loop = 0; loop < 20 && query.busy(); ++loop) {  // the workers' loops and the control rounds interleaved
    for (auto& w : workers)
      if (w->dump.pending()) w->dump.step(w->table, w->fwd.conns6(), 0);
    query.poll(0.001 * loop);
  }
  EXPECT_FALSE(query.busy());
  EXPECT_EQ(order, (std::vector<std::string>{"limit 1", "dns", "all"}));
}

// A connection bound to a server whose slot has since gone to another server does not
// name the new one: the slot's generation decides.
TEST_F(ConnQueryTest, ConnectionOfAReusedSlotNamesNoOtherServer) {
  lb::SnapshotSpec next = spec;
  next.services[0].rs[0] = rs(0, "198.18.0.21");  // slot 0: another server,
  next.services[0].rs[0].gen = 2;                 // a new generation
  sink.publish(lb::build_snapshot(next, sink.current()));
  std::optional<ConnListing> got;
  list("198.18.1.10", 100, 0, got);
  for (auto& w : workers) w->answer(0);
  query.poll(0);
  ASSERT_TRUE(got);
  ASSERT_EQ(got->conns.size(), 3u);
  size_t on_12 = 0;
  for (const ConnStatus& c : got->conns) {
    EXPECT_NE(c.rs, ip("198.18.0.21"));
    on_12 += c.rs == ip("198.18.0.12");
  }
  EXPECT_GE(on_12, 1u) << "connections of the server still there keep naming it";
}

// ---- IPv6 --------------------------------------------------------------------------

namespace {

Frame6Spec tcp6_syn(uint16_t sport) {
  Frame6Spec s;
  s.sport = sport;
  return s;
}

Frame6Spec udp6_to_dns(const char* client) {
  Frame6Spec s;
  s.proto = net::kProtoUdp;
  s.saddr = ip6(client);
  s.sport = 5353;
  s.dport = 53;
  return s;
}

// The IPv4 services and connections above, and IPv6 ones in the same workers' IPv6
// tables: worker 0 two TCP connections from 2001:db8:2::1 to [2001:2::100]:80 (rr over
// two servers); worker 1 two UDP flows to [2001:2::100]:53 (sh, persistent, /64) from
// two clients of one /64, so one persistence template.
class MixedConnQueryTest : public ConnQueryTest {
 protected:
  void SetUp() override {
    ConnQueryTest::SetUp();
    spec.services.push_back(service(2, "2001:2::100", net::kProtoTcp, 80, lb::Sched::kRr,
                                    {rs(3, "2001:2::11"), rs(4, "2001:2::12")}));
    spec.services.push_back(service(3, "2001:2::100", net::kProtoUdp, 53, lb::Sched::kSh, {rs(5, "2001:2::13")},
                                    persistent(300, 64)));
    sink.publish(lb::build_snapshot(spec, sink.current()));
    for (uint16_t p = 0; p < 2; ++p) workers[0]->forward(tcp6_syn(2000 + p), sink.current(), 0);
    workers[1]->forward(udp6_to_dns("2001:db8:2::1"), sink.current(), 0);
    workers[1]->forward(udp6_to_dns("2001:db8:2::2"), sink.current(), 0);
    ASSERT_EQ(workers[0]->fwd.conns6().size(), 2u);
    ASSERT_EQ(workers[1]->fwd.conns6().size(), 3u);
  }
  std::optional<ConnListing> listed(std::optional<const char*> vip, uint32_t limit = 100) {
    std::optional<ConnListing> got;
    list(vip, limit, 0, got);
    for (auto& w : workers) w->answer(0);
    query.poll(0);
    EXPECT_TRUE(got);
    return got;
  }
};

}  // namespace

// One listing holds both families: IPv6 records with their addresses, ports, state,
// expiry and real server (named from the snapshot's specs), templates with the masked
// client; the IPv4 ones as before. in_use counts both tables.
TEST_F(MixedConnQueryTest, ListsIpv4AndIpv6ConnectionsAndTemplates) {
  const auto got = listed(std::nullopt);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->in_use, 12u);
  ASSERT_EQ(got->conns.size(), 12u);
  const net::IpAddr vip6 = any_ip("2001:2::100");
  size_t v4 = 0, tcp6 = 0, udp6 = 0, templates6 = 0;
  std::set<net::IpAddr> tcp6_servers;
  for (const ConnStatus& c : got->conns) {
    if (c.vip.is_v4()) {
      ++v4;
      EXPECT_TRUE(c.client.is_v4() && c.rs.is_v4()) << net::to_string(c.client) << " " << net::to_string(c.rs);
      continue;
    }
    EXPECT_EQ(c.vip, vip6);
    if (c.proto == net::kProtoTcp) {
      ++tcp6;
      EXPECT_EQ(c.client, any_ip("2001:db8:2::1"));
      EXPECT_TRUE(c.cport == 2000 || c.cport == 2001) << c.cport;
      EXPECT_EQ(c.vport, 80);
      EXPECT_EQ(c.rport, 80);
      EXPECT_EQ(c.state, lb::ConnState::kTcpSynRecv);
      EXPECT_EQ(c.expires, spec.timeouts.get(lb::ConnState::kTcpSynRecv));
      tcp6_servers.insert(c.rs);
    } else if (c.state == lb::ConnState::kTemplate) {
      ++templates6;
      EXPECT_EQ(c.client, any_ip("2001:db8:2::")) << "the client masked with the service's /64";
      EXPECT_EQ(c.cport, 0);
      EXPECT_EQ(c.vport, 53);
      EXPECT_EQ(c.rs, any_ip("2001:2::13"));
      EXPECT_EQ(c.expires, 300u);
    } else {
      ++udp6;
      EXPECT_TRUE(c.client == any_ip("2001:db8:2::1") || c.client == any_ip("2001:db8:2::2")) << net::to_string(c.client);
      EXPECT_EQ(c.cport, 5353);
      EXPECT_EQ(c.vport, 53);
      EXPECT_EQ(c.rs, any_ip("2001:2::13"));
      EXPECT_EQ(c.state, lb::ConnState::kUdp);
    }
  }
  EXPECT_EQ(v4, 7u);
  EXPECT_EQ(tcp6, 2u);
  EXPECT_EQ(udp6, 2u);
  EXPECT_EQ(templates6, 1u);
  EXPECT_EQ(tcp6_servers, (std::set<net::IpAddr>{any_ip("2001:2::11"), any_ip("2001:2::12")})) << "rr: one each";
}

// A VIP of either family keeps that VIP's entries only: an IPv4 VIP lists no IPv6 entry
// and an IPv6 VIP no IPv4 one; a VIP with no connections lists nothing.
TEST_F(MixedConnQueryTest, VipFilterOfEitherFamily) {
  const auto v6 = listed("2001:2::100");
  ASSERT_TRUE(v6);
  ASSERT_EQ(v6->conns.size(), 5u);
  for (const ConnStatus& c : v6->conns) {
    EXPECT_EQ(c.vip, any_ip("2001:2::100"));
    EXPECT_TRUE(c.client.is_v6() && c.rs.is_v6());
  }
  EXPECT_EQ(v6->in_use, 12u) << "entries in the tables, not in the listing";
  const auto web = listed("198.18.1.10");
  ASSERT_TRUE(web);
  ASSERT_EQ(web->conns.size(), 3u);
  for (const ConnStatus& c : web->conns) EXPECT_EQ(c.vip, ip("198.18.1.10"));
  const auto dns = listed("198.18.1.20");
  ASSERT_TRUE(dns);
  EXPECT_EQ(dns->conns.size(), 4u);
  for (const char* none : {"2001:2::101", "198.18.1.11"}) {
    const auto got = listed(none);
    ASSERT_TRUE(got);
    EXPECT_TRUE(got->conns.empty()) << none;
  }
}

// The limit bounds the listing across both tables: each worker stops at it.
TEST_F(MixedConnQueryTest, LimitAcrossBothTables) {
  const auto four = listed(std::nullopt, 4);
  ASSERT_TRUE(four);
  EXPECT_EQ(four->conns.size(), 4u);
  EXPECT_EQ(workers[0]->dump.records().size(), 4u) << "three IPv4 entries, then one of the IPv6 table";
  const auto got = listed("2001:2::100", 1);
  ASSERT_TRUE(got);
  ASSERT_EQ(got->conns.size(), 1u);
  EXPECT_EQ(got->conns[0].vip, any_ip("2001:2::100"));
}

// One walk over both tables, kStep entries per loop, the IPv4 table's end and the IPv6
// table's start in one slice; a table of the other family than the filter's, or with
// nothing in use, is not walked.
TEST_F(MixedConnQueryTest, OneWalkASliceAtATimeOverBothTables) {
  // Worker 0: 1024 + 1024 entries.
  EXPECT_EQ(workers[0]->dump.post(lb::ConnDump::kAnyVip, 100), 1u);
  EXPECT_EQ(workers[0]->answer(0), 4);
  EXPECT_EQ(workers[0]->dump.records().size(), 5u);
  workers[0]->dump.post(any_ip("198.18.1.10"), 100);
  EXPECT_EQ(workers[0]->answer(0), 2) << "the IPv6 table is not walked for an IPv4 VIP";
  EXPECT_EQ(workers[0]->dump.records().size(), 3u);
  workers[0]->dump.post(any_ip("2001:2::100"), 100);
  EXPECT_EQ(workers[0]->answer(0), 2) << "the IPv4 table is not walked for an IPv6 VIP";
  EXPECT_EQ(workers[0]->dump.records().size(), 2u);

  // 700 + 700 entries: slices of 512, 512 (188 IPv4, 324 IPv6) and 376.
  Worker w(0, 700, 700);
  for (uint16_t p = 0; p < 3; ++p) w.forward(tcp_syn(1000 + p), sink.current(), 0);
  for (uint16_t p = 0; p < 2; ++p) w.forward(tcp6_syn(2000 + p), sink.current(), 0);
  w.dump.post(lb::ConnDump::kAnyVip, 100);
  w.dump.step(w.table, w.fwd.conns6(), 0);
  w.dump.step(w.table, w.fwd.conns6(), 0);
  EXPECT_TRUE(w.dump.pending());
  w.dump.step(w.table, w.fwd.conns6(), 0);
  EXPECT_FALSE(w.dump.pending());
  EXPECT_EQ(w.dump.records().size(), 5u);
  EXPECT_EQ(w.dump.in_use(), 5u);

  // A worker with no IPv6 entry walks its IPv4 table only, as before IPv6.
  Worker four(0, 1024, 4096);
  four.forward(tcp_syn(1000), sink.current(), 0);
  four.dump.post(lb::ConnDump::kAnyVip, 100);
  EXPECT_EQ(four.answer(0), 2);
}

// An IPv6 connection bound to a server whose slot has since gone to another server names
// none (the unspecified IPv6 address, "[::]" in the views); one whose server is still
// there keeps naming it.
TEST_F(MixedConnQueryTest, Ipv6ConnectionOfAReusedSlotNamesNoOtherServer) {
  lb::SnapshotSpec next = spec;
  next.services[2].rs[0] = rs(3, "2001:2::21");
  next.services[2].rs[0].gen = 2;
  sink.publish(lb::build_snapshot(next, sink.current()));
  const auto got = listed("2001:2::100");
  ASSERT_TRUE(got);
  size_t named = 0, unnamed = 0;
  for (const ConnStatus& c : got->conns) {
    if (c.proto != net::kProtoTcp) continue;
    EXPECT_NE(c.rs, any_ip("2001:2::21"));
    named += c.rs == any_ip("2001:2::12");
    unnamed += c.rs == net::IpAddr(net::Ipv6{});
  }
  EXPECT_EQ(named, 1u);
  EXPECT_EQ(unnamed, 1u);
}

// A worker's status: starting, running, stopped, or failed with its reason (bounded, terminated).
TEST(WorkerStatus, StatesAndFailure) {
  using State = lb::WorkerStatus::State;
  lb::WorkerStatus s;
  EXPECT_EQ(s.state(), State::kStarting);
  s.running();
  EXPECT_EQ(s.state(), State::kRunning);
  EXPECT_FALSE(s.has_failed());
  EXPECT_EQ(s.failure(), "");
  s.failed("out of EAL memory");
  EXPECT_TRUE(s.has_failed());
  EXPECT_EQ(s.failure(), "out of EAL memory");
  lb::WorkerStatus t;
  t.failed(std::string(1000, 'x').c_str());
  EXPECT_EQ(t.failure(), std::string(255, 'x'));
  lb::WorkerStatus u;
  u.failed(nullptr);
  EXPECT_EQ(u.failure(), "unknown failure");
  lb::WorkerStatus v;
  v.stopped();
  EXPECT_EQ(v.state(), State::kStopped);
  EXPECT_EQ(v.failure(), "");
}
