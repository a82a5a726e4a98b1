// The per-worker connection table: lookups, expiry order, eviction of the longest-idle
// entry, and its invariants under a long random workload checked against a simple model.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "lb/flow_table.hpp"
#include "lb/hash.hpp"

using namespace drfwd;
using namespace drfwd::lb;

namespace {
net::FlowKey key(uint32_t i) {
  net::FlowKey k{};
  k.src = 0xc6120000u + i;
  k.dst = 0xc6120101u;
  k.sport = static_cast<uint16_t>(i * 7);
  k.dport = 80;
  k.proto = 6;
  return k;
}
auto nop = [](const FlowEntry&) {};
}  // namespace

TEST(FlowTable, InsertFindErase) {
  FlowTable t(64);
  EXPECT_EQ(t.capacity(), 64u);
  for (uint32_t i = 0; i < 50; ++i) {
    auto k = key(i);
    uint32_t idx = t.insert(k, flow_hash(k), ConnState::kTcpSynRecv, 60, 1, nop);
    t.at(idx).rs_slot = i;
  }
  EXPECT_EQ(t.size(), 50u);
  for (uint32_t i = 0; i < 50; ++i) {
    auto k = key(i);
    uint32_t idx = t.find(k, flow_hash(k));
    ASSERT_NE(idx, kNil);
    EXPECT_EQ(t.at(idx).rs_slot, i);
  }
  EXPECT_EQ(t.find(key(99), flow_hash(key(99))), kNil);
  t.erase(t.find(key(7), flow_hash(key(7))));
  EXPECT_EQ(t.find(key(7), flow_hash(key(7))), kNil);
  EXPECT_EQ(t.size(), 49u);
  EXPECT_EQ(t.check(), "");
  EXPECT_THROW(FlowTable(0), std::invalid_argument);
}

TEST(FlowTable, ExpiresPerStateTimeoutOldestFirst) {
  FlowTable t(16);
  auto ins = [&](uint32_t i, ConnState s, uint32_t timeout, uint32_t now) {
    return t.insert(key(i), flow_hash(key(i)), s, timeout, now, nop);
  };
  ins(1, ConnState::kTcpEstablished, 900, 0);
  ins(2, ConnState::kTcpFinWait, 120, 0);
  ins(3, ConnState::kUdp, 300, 10);
  std::vector<uint32_t> gone;
  auto rec = [&](const FlowEntry& e) { gone.push_back(e.key.src & 0xffff); };
  EXPECT_EQ(t.expire(119, 100, rec), 0u);
  EXPECT_EQ(t.expire(120, 100, rec), 1u);  // FIN_WAIT after 120 s
  EXPECT_EQ(gone, std::vector<uint32_t>{2});
  EXPECT_EQ(t.expire(309, 100, rec), 0u);
  EXPECT_EQ(t.expire(310, 100, rec), 1u);  // UDP 300 s after its last use at 10
  EXPECT_EQ(t.expire(899, 100, rec), 0u);
  EXPECT_EQ(t.expire(900, 100, rec), 1u);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.check(), "");
}

TEST(FlowTable, TouchDefersExpiry) {
  FlowTable t(16);
  uint32_t idx = t.insert(key(1), flow_hash(key(1)), ConnState::kUdp, 300, 0, nop);
  t.touch(idx, 200);
  EXPECT_EQ(t.expire(300, 10, nop), 0u);
  EXPECT_EQ(t.expire(500, 10, nop), 1u);
}

TEST(FlowTable, ExpiryBudgetIsHonoured) {
  FlowTable t(128);
  for (uint32_t i = 0; i < 100; ++i) t.insert(key(i), flow_hash(key(i)), ConnState::kUdp, 5, 0, nop);
  EXPECT_EQ(t.expire(10, 32, nop), 32u);
  EXPECT_EQ(t.size(), 68u);
  EXPECT_EQ(t.expire(10, 1000, nop), 68u);
  EXPECT_EQ(t.check(), "");
}

TEST(FlowTable, FullTableEvictsTheLongestIdle) {
  FlowTable t(8);
  for (uint32_t i = 0; i < 8; ++i)
    t.insert(key(i), flow_hash(key(i)), i % 2 ? ConnState::kTcpEstablished : ConnState::kUdp, 1000, i, nop);
  // Entry 0 (last used at 0) is idle longest, until it is touched; then entry 1 is.
  t.touch(t.find(key(0), flow_hash(key(0))), 20);
  std::vector<uint32_t> evicted;
  auto rec = [&](const FlowEntry& e) { evicted.push_back(e.key.src & 0xffff); };
  t.insert(key(100), flow_hash(key(100)), ConnState::kUdp, 1000, 21, rec);
  ASSERT_EQ(evicted.size(), 1u);
  EXPECT_EQ(evicted[0], 1u);
  t.insert(key(101), flow_hash(key(101)), ConnState::kUdp, 1000, 22, rec);
  EXPECT_EQ(evicted.back(), 2u);
  EXPECT_EQ(t.size(), 8u);
  EXPECT_NE(t.find(key(0), flow_hash(key(0))), kNil);
  EXPECT_EQ(t.check(), "");
}

TEST(FlowTable, FullBucketEvictsItsOldestWay) {
  // Keys forced into one bucket by giving them hashes with equal low bits.
  FlowTable t(1024);
  std::vector<uint32_t> evicted;
  auto rec = [&](const FlowEntry& e) { evicted.push_back(e.key.src & 0xffff); };
  for (uint32_t i = 0; i < FlowTable::kWays; ++i)
    t.insert(key(i), (uint64_t{i + 1} << 48), ConnState::kUdp, 1000, 10 + i, rec);
  EXPECT_TRUE(evicted.empty());
  t.insert(key(50), uint64_t{77} << 48, ConnState::kUdp, 1000, 30, rec);
  ASSERT_EQ(evicted.size(), 1u);
  EXPECT_EQ(evicted[0], 0u);  // the bucket's oldest way
  EXPECT_EQ(t.find(key(50), uint64_t{77} << 48), t.find(key(50), uint64_t{77} << 48));
  EXPECT_NE(t.find(key(50), uint64_t{77} << 48), kNil);
  EXPECT_EQ(t.check(), "");
}

// Under a SYN flood the half-open entries go first: established connections, UDP flows
// and templates survive any number of SYNs, in the whole table and in a full bucket.
TEST(FlowTable, FloodEvictsHalfOpenEntriesFirst) {
  FlowTable t(256);
  const ConnState keep[] = {ConnState::kTcpEstablished, ConnState::kUdp, ConnState::kTemplate};
  for (uint32_t i = 0; i < 96; ++i) t.insert(key(i), flow_hash(key(i)), keep[i % 3], 900, 0, nop);
  uint64_t evicted_kept = 0, evicted = 0;
  auto rec = [&](const FlowEntry& e) {
    ++evicted;
    evicted_kept += !state_is_expendable(e.state);
  };
  std::mt19937 rng(5);
  for (uint32_t n = 0; n < 100000; ++n) {
    net::FlowKey k = key(1000 + n);
    k.src = rng();
    t.insert(k, flow_hash(k), ConnState::kTcpSynRecv, 60, 1 + n / 1000, rec);
  }
  EXPECT_GT(evicted, 90000u);
  EXPECT_EQ(evicted_kept, 0u);
  for (uint32_t i = 0; i < 96; ++i) EXPECT_NE(t.find(key(i), flow_hash(key(i))), kNil) << i;
  EXPECT_EQ(t.check(), "");
  // With nothing expendable left, the longest idle of the rest goes.
  FlowTable u(8);
  for (uint32_t i = 0; i < 8; ++i) u.insert(key(i), flow_hash(key(i)), ConnState::kTcpEstablished, 900, i, nop);
  std::vector<uint32_t> gone;
  u.insert(key(9), flow_hash(key(9)), ConnState::kTcpSynRecv, 60, 20,
           [&](const FlowEntry& e) { gone.push_back(e.key.src & 0xffff); });
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0], 0u);
}

TEST(FlowTable, FullBucketGivesUpAHalfOpenWayFirst) {
  FlowTable t(1024);
  std::vector<uint32_t> evicted;
  auto rec = [&](const FlowEntry& e) { evicted.push_back(e.key.src & 0xffff); };
  for (uint32_t i = 0; i < FlowTable::kWays; ++i)  // way 5 is the only half-open one, and the newest
    t.insert(key(i), uint64_t{i + 1} << 48, i == 5 ? ConnState::kTcpSynRecv : ConnState::kTcpEstablished, 900,
             10 + i, rec);
  t.insert(key(50), uint64_t{77} << 48, ConnState::kTcpSynRecv, 60, 30, rec);
  ASSERT_EQ(evicted.size(), 1u);
  EXPECT_EQ(evicted[0], 5u);
  EXPECT_EQ(t.check(), "");
}

TEST(FlowTable, StateChangesMoveBetweenLists) {
  FlowTable t(16);
  uint32_t idx = t.insert(key(1), flow_hash(key(1)), ConnState::kTcpSynRecv, 60, 0, nop);
  EXPECT_EQ(t.state_count(ConnState::kTcpSynRecv), 1u);
  t.set_state(idx, ConnState::kTcpEstablished, 900, 5);
  EXPECT_EQ(t.state_count(ConnState::kTcpSynRecv), 0u);
  EXPECT_EQ(t.state_count(ConnState::kTcpEstablished), 1u);
  EXPECT_EQ(t.at(idx).last_seen, 5u);
  EXPECT_EQ(t.expire(100, 10, nop), 0u);  // no longer under the 60 s SYN_RECV timeout
  EXPECT_EQ(t.check(), "");
}

// A long random mix of inserts, touches, state changes, erasures and expiry, checked
// against a std::map model: nothing lost, nothing duplicated, every structure intact.
TEST(FlowTable, RandomWorkloadKeepsInvariants) {
  const uint32_t cap = 500;
  FlowTable t(cap);
  std::map<uint32_t, uint32_t> model;  // key id -> last_seen
  std::mt19937 rng(7);
  uint32_t now = 0;
  auto remove_model = [&](const FlowEntry& e) {
    ASSERT_EQ(model.erase(e.key.src - 0xc6120000u), 1u);
  };
  for (int step = 0; step < 200000; ++step) {
    if (rng() % 50 == 0) ++now;
    const uint32_t id = rng() % 2000;
    const auto k = key(id);
    const uint64_t h = flow_hash(k);
    const uint32_t idx = t.find(k, h);
    ASSERT_EQ(idx != kNil, model.count(id) == 1) << "step " << step;
    switch (rng() % 5) {
      case 0:
      case 1:
        if (idx == kNil) {
          t.insert(k, h, rng() % 2 ? ConnState::kUdp : ConnState::kTcpEstablished, 5 + rng() % 20, now,
                   remove_model);
          model[id] = now;
          ASSERT_LE(t.size(), cap);
        } else {
          t.touch(idx, now);
          model[id] = now;
        }
        break;
      case 2:
        if (idx != kNil) {
          t.set_state(idx, ConnState::kTcpFinWait, 3, now);
          model[id] = now;
        }
        break;
      case 3:
        if (idx != kNil) {
          t.erase(idx);
          model.erase(id);
        }
        break;
      case 4:
        t.expire(now, 8, remove_model);
        break;
    }
    ASSERT_EQ(t.size(), model.size());
    if (step % 10000 == 0) {
      ASSERT_EQ(t.check(), "") << "step " << step;
    }
  }
  EXPECT_EQ(t.check(), "");
}
