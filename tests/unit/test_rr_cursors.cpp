// Round robin is per worker: each Forwarder keeps its own cursor per service, starts it
// at its share of the sequence, and starts afresh only when the service's table changes.
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "lb/forwarder.hpp"
#include "specs.hpp"

using namespace drfwd;
using namespace drfwd::test;

namespace {

// One worker's forwarding state.
struct Worker {
  explicit Worker(uint32_t index)
      : rs(std::make_unique<lb::RsCounters[]>(lb::kMaxRsSlots)), fwd(index, table, counters, rs.get()) {}
  // The RS slot that each of `n` new connections goes to.
  std::vector<int> next(int n) {
    std::vector<int> out;
    for (int i = 0; i < n; ++i) {
      FrameSpec s;
      s.sport = sport++;
      std::vector<uint8_t> f = build(s);
      const lb::Frame fr{f.data(), static_cast<uint32_t>(f.size()), static_cast<uint32_t>(f.size()), 0, {}};
      EXPECT_EQ(fwd.process(fr).action, lb::Verdict::Action::kForward);
      out.push_back(rs_of_mac(f.data()));
    }
    return out;
  }
  lb::FlowTable table{1024};
  lb::WorkerCounters counters;
  std::unique_ptr<lb::RsCounters[]> rs;
  lb::Forwarder fwd;
  uint16_t sport = 1000;
};

// Two workers over one snapshot: rr over four servers (slots 0-3 in address order), and
// another service.
class RrCursors : public ::testing::Test {
 protected:
  void SetUp() override {
    spec.ports = ports(1);
    spec.workers = 2;
    spec.services = {
        service(0, "198.18.1.10", net::kProtoTcp, 80, lb::Sched::kRr,
                {rs(0, "198.18.0.11"), rs(1, "198.18.0.12"), rs(2, "198.18.0.13"), rs(3, "198.18.0.14")}),
        service(1, "198.18.1.20", net::kProtoTcp, 80, lb::Sched::kRr, {rs(4, "198.18.0.15")}),
    };
    publish();
  }
  void publish() {
    snapshots.push_back(lb::build_snapshot(spec, snapshots.empty() ? nullptr : snapshots.back().get()));
    for (auto& w : workers) w->fwd.begin(snapshots.back().get(), 0);
  }
  const lb::ServiceTable* web() const {
    return snapshots.back()->find(ip("198.18.1.10").be(), net::hton16(80), net::kProtoTcp);
  }
  lb::SnapshotSpec spec;
  std::vector<std::shared_ptr<lb::Snapshot>> snapshots;  // all kept: table addresses stay unique
  std::unique_ptr<Worker> workers[2] = {std::make_unique<Worker>(0), std::make_unique<Worker>(1)};
};

using Slots = std::vector<int>;

}  // namespace

// Worker 0 starts at the head of the sequence, worker 1 halfway; neither moves the other's cursor.
TEST_F(RrCursors, WorkersStartApartAndWalkIndependently) {
  EXPECT_EQ(workers[0]->next(1), Slots{0});
  EXPECT_EQ(workers[1]->next(3), (Slots{2, 3, 0}));
  EXPECT_EQ(workers[0]->next(2), (Slots{1, 2}));
  EXPECT_EQ(workers[1]->next(2), (Slots{1, 2}));
  EXPECT_EQ(workers[0]->next(5), (Slots{3, 0, 1, 2, 3}));
}

// A new table for the service (here: a weight changed) starts each cursor afresh at its share.
TEST_F(RrCursors, ChangedTableResetsTheCursors) {
  EXPECT_EQ(workers[0]->next(1), Slots{0});
  EXPECT_EQ(workers[1]->next(1), Slots{2});
  const lb::ServiceTable* before = web();
  spec.services[0].rs[3].weight = 2;
  publish();
  ASSERT_NE(web(), before);
  EXPECT_EQ(workers[0]->next(2), (Slots{0, 1})) << "from the start again, not from 1";
  EXPECT_EQ(workers[1]->next(2), (Slots{2, 3})) << "from its share again, not from 3";
}

// A snapshot that keeps the service's table (another service changed) keeps the cursors where they were.
TEST_F(RrCursors, UnchangedTableKeepsTheCursors) {
  EXPECT_EQ(workers[0]->next(1), Slots{0});
  EXPECT_EQ(workers[1]->next(1), Slots{2});
  const lb::ServiceTable* before = web();
  spec.services[1].rs.push_back(rs(5, "198.18.0.16"));
  spec.timeouts.tcp() = 600;
  publish();
  ASSERT_EQ(web(), before);
  EXPECT_EQ(workers[0]->next(2), (Slots{1, 2}));
  EXPECT_EQ(workers[1]->next(2), (Slots{3, 0}));
}

// Even start (issue 13; DPVS had all workers start at the same RS, fixed in dpvs PR #730):
// with two workers the first two passes' worth of connections (2 x the sequence: 2N over
// N RSs for rr) land as one worker's two passes would, each RS its share twice +-1,
// however the connections split between the workers (RSS decides that).
TEST(EvenStart, TwoWorkersSplitTheFirstConnectionsEvenly) {
  struct Case {
    lb::Sched sched;
    std::vector<uint32_t> weights;
  };
  for (const Case& c : {Case{lb::Sched::kRr, {1, 1, 1, 1}}, Case{lb::Sched::kRr, {1, 1, 1}},
                        Case{lb::Sched::kRr, {1, 1, 1, 1, 1, 1, 1}}, Case{lb::Sched::kRr, {1, 5}},
                        Case{lb::Sched::kWrr, {2, 2, 2, 2, 2}}, Case{lb::Sched::kWrr, {1, 2, 3}},
                        Case{lb::Sched::kWrr, {5, 1, 1, 2}}, Case{lb::Sched::kWrr, {3, 1}},
                        Case{lb::Sched::kWrr, {4, 3, 2, 1, 1}}}) {
    lb::SnapshotSpec spec;
    spec.ports = ports(1);
    spec.workers = 2;
    std::vector<lb::RsSpec> servers;
    for (uint32_t i = 0; i < c.weights.size(); ++i) {
      const std::string addr = "198.18.0." + std::to_string(11 + i);
      servers.push_back(rs(i, addr.c_str(), c.weights[i]));
    }
    spec.services = {service(0, "198.18.1.10", net::kProtoTcp, 80, c.sched, servers)};
    Worker a(0), b(1);
    const std::string what = std::string(lb::sched_name(c.sched)) + " over " + std::to_string(c.weights.size());
    for (int k = 0;; ++k) {
      // A table built afresh: both cursors start again at their shares.
      const auto snap = lb::build_snapshot(spec, nullptr);
      const lb::ServiceTable* t = snap->find(ip("198.18.1.10").be(), net::hton16(80), net::kProtoTcp);
      const int pass = static_cast<int>(t->table.size());
      if (k > 2 * pass) break;
      std::vector<int> share(c.weights.size(), 0);  // turns per pass of the sequence
      for (uint16_t i : t->table) ++share[t->usable[i]];
      for (Worker* w : {&a, &b}) w->fwd.begin(snap.get(), 0);
      std::vector<int> per_rs(c.weights.size(), 0);
      for (int r : a.next(k)) ++per_rs[static_cast<size_t>(r)];
      for (int r : b.next(2 * pass - k)) ++per_rs[static_cast<size_t>(r)];
      for (size_t r = 0; r < per_rs.size(); ++r)
        EXPECT_LE(std::abs(per_rs[r] - 2 * share[r]), 1)
            << what << ", " << k << " of " << 2 * pass << " on worker 0: RS " << r << " got " << per_rs[r];
      // What +-1 cannot tell from workers that all start at the head: one pass of an even
      // sequence split evenly is the sequence itself, each RS exactly its share (from the
      // head, the first half twice and the second half never).
      if (k == 0 && pass % 2 == 0) {
        const auto fresh = lb::build_snapshot(spec, nullptr);
        for (Worker* w : {&a, &b}) w->fwd.begin(fresh.get(), 0);
        std::vector<int> once(c.weights.size(), 0);
        for (Worker* w : {&a, &b})
          for (int r : w->next(pass / 2)) ++once[static_cast<size_t>(r)];
        EXPECT_EQ(once, share) << what << ": one pass split evenly between the workers";
        for (Worker* w : {&a, &b}) w->fwd.begin(snap.get(), 0);
      }
    }
  }
}
