// Per real-server statistics from the workers' per-slot counter arrays: sums, baselines
// (a slot handed to a new RS, clear stats) and rates.
#include <gtest/gtest.h>

#include <memory>

#include "control/rs_stats.hpp"

using namespace drfwd;
using drfwd::control::RsStats;

namespace {

constexpr uint32_t kSlot = 5;

// Three workers' arrays, as the workers own them.
class RsStatsTest : public ::testing::Test {
 protected:
  RsStatsTest() {
    for (auto& w : workers) w = std::make_unique<lb::RsCounters[]>(lb::kMaxRsSlots);
  }
  RsStats stats() const { return RsStats({workers[0].get(), workers[1].get(), workers[2].get()}); }
  // Worker w forwards `packets` packets of 100 bytes over `conns` new connections, `active` of them still open.
  void count(int w, uint64_t packets, uint64_t conns, int64_t active, uint32_t slot = kSlot) {
    lb::RsCounters& c = workers[w][slot];
    lb::bump(c.packets, packets);
    lb::bump(c.bytes, packets * 100);
    lb::bump(c.conns, conns);
    lb::bump(c.active, active);
  }
  std::unique_ptr<lb::RsCounters[]> workers[3];
};

}  // namespace

// The totals are the workers' counters and gauges summed, slot by slot.
TEST_F(RsStatsTest, SumsOverWorkers) {
  RsStats s = stats();
  count(0, 10, 2, 1);
  count(1, 20, 3, 2);
  count(2, 5, 1, -1);  // a worker's share of a gauge may be negative (closed elsewhere)
  workers[1][kSlot].persist = 4;
  workers[2][kSlot].inactive = 3;
  count(0, 1000, 100, 50, kSlot + 1);  // another slot
  const lb::RsCounters t = s.totals(kSlot);
  EXPECT_EQ(t.packets, 35u);
  EXPECT_EQ(t.bytes, 3500u);
  EXPECT_EQ(t.conns, 6u);
  EXPECT_EQ(t.active, 2);
  EXPECT_EQ(t.inactive, 3);
  EXPECT_EQ(t.persist, 4);
  EXPECT_EQ(s.totals(kSlot + 1).packets, 1000u);
  EXPECT_EQ(s.totals(kSlot + 2).packets, 0u);
}

// A slot handed to a new RS counts from zero: counters and the gauges its former
// occupant left behind alike; what the workers count afterwards shows.
TEST_F(RsStatsTest, RebaseStartsTheSlotAfresh) {
  RsStats s = stats();
  count(0, 10, 2, 1);
  count(1, 20, 3, 2);
  s.rebase(kSlot);
  const lb::RsCounters zero = s.totals(kSlot);
  for (const auto& f : lb::kRsCounterFields) EXPECT_EQ(zero.*f.member, 0u) << f.name;
  for (const auto& f : lb::kRsGaugeFields) EXPECT_EQ(zero.*f.member, 0) << f.name;
  count(2, 4, 1, 1);
  const lb::RsCounters t = s.totals(kSlot);
  EXPECT_EQ(t.packets, 4u);
  EXPECT_EQ(t.conns, 1u);
  EXPECT_EQ(t.active, 1);
}

// clear stats: the counters count from zero, the gauges (connections open now) stay.
TEST_F(RsStatsTest, ZeroKeepsTheGauges) {
  RsStats s = stats();
  count(0, 10, 2, 1);
  count(1, 20, 3, 2);
  workers[2][kSlot].persist = 1;
  s.zero(kSlot);
  lb::RsCounters t = s.totals(kSlot);
  EXPECT_EQ(t.packets, 0u);
  EXPECT_EQ(t.bytes, 0u);
  EXPECT_EQ(t.conns, 0u);
  EXPECT_EQ(t.active, 3);
  EXPECT_EQ(t.persist, 1);
  count(0, 1, 1, -1);  // one more packet, one connection opened, two closed
  count(1, 0, 0, -1);
  t = s.totals(kSlot);
  EXPECT_EQ(t.packets, 1u);
  EXPECT_EQ(t.conns, 1u);
  EXPECT_EQ(t.active, 1);
}

// Rates are the change of the totals between two samples, per second (bits for bytes);
// a slot gets a rate only from its second sample on, and a baseline change restarts it.
TEST_F(RsStatsTest, RatesFromSamples) {
  RsStats s = stats();
  const uint32_t slots[] = {kSlot, kSlot + 1};
  count(0, 100, 10, 0);
  s.sample(slots, 10);
  EXPECT_EQ(s.rate(kSlot).pps, 0) << "one sample: no rate yet";
  count(0, 300, 4, 0);
  count(2, 100, 2, 0);
  count(1, 50, 0, 0, kSlot + 1);
  s.sample(slots, 12);
  EXPECT_DOUBLE_EQ(s.rate(kSlot).pps, 200);
  EXPECT_DOUBLE_EQ(s.rate(kSlot).cps, 3);
  EXPECT_DOUBLE_EQ(s.rate(kSlot).bps, 200 * 100 * 8);
  EXPECT_DOUBLE_EQ(s.rate(kSlot + 1).pps, 25);
  EXPECT_EQ(s.rate(kSlot + 2).pps, 0) << "not sampled";
  s.zero(kSlot);
  EXPECT_EQ(s.rate(kSlot).pps, 0) << "cleared: the rate restarts";
  count(0, 10, 0, 0);
  s.sample(slots, 13);
  EXPECT_EQ(s.rate(kSlot).pps, 0) << "the first sample after clearing";
  count(0, 10, 0, 0);
  s.sample(slots, 14);
  EXPECT_DOUBLE_EQ(s.rate(kSlot).pps, 10);
  const uint32_t only_one[] = {kSlot + 1};
  s.sample(only_one, 15);
  EXPECT_EQ(s.rate(kSlot).pps, 0) << "a slot no longer sampled (its RS left) has no rate";
}
