// Connection listings across workers, single-threaded: the control side posts requests
// (control::ConnQuery), each worker answers between bursts (lb::ConnDump::step over its
// flow table); and a worker's status (lb::WorkerStatus).
#include <gtest/gtest.h>

#include <memory>
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

// A worker as far as listings go: its table, filled by its Forwarder, and its mailbox.
struct Worker {
  explicit Worker(uint32_t index)
      : rs(std::make_unique<lb::RsCounters[]>(lb::kMaxRsSlots)), fwd(index, table, counters, rs.get()) {}
  void forward(const FrameSpec& s, const lb::Snapshot* snap, uint32_t now) {
    std::vector<uint8_t> f = build(s);
    const lb::Frame fr{f.data(), static_cast<uint32_t>(f.size()), static_cast<uint32_t>(f.size()), 0, {}};
    fwd.begin(snap, now);
    ASSERT_EQ(fwd.process(fr).action, lb::Verdict::Action::kForward);
  }
  // The worker loop's share of a listing: one slice per loop until the answer is stored.
  void answer(uint32_t now) {
    for (int loops = 0; dump.pending(); ++loops) {
      ASSERT_LT(loops, 10);
      dump.step(table, now);
    }
  }
  lb::FlowTable table{1024};  // two slices of kStep entries
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
    query.start(vip ? std::optional(ip(*vip)) : std::nullopt, limit, now, [&out](ConnListing l) { out = std::move(l); });
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
  workers[0]->dump.step(workers[0]->table, 0);
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
      if (w->dump.pending()) w->dump.step(w->table, 0);
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
