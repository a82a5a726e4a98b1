// The per-worker connection table: lookups, expiry order, eviction of the longest-idle
// entry, the index growing with the entries (linear hashing), and its invariants under
// long random workloads checked against simple models.
// Every test runs for both keys (FlowTable and FlowTable6); the hashes other directors
// must agree on are pinned to fixed values.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "lb/flow_table.hpp"
#include "lb/hash.hpp"
#include "net/addr.hpp"

using namespace drfwd;
using lb::BasicFlowEntry;
using lb::BasicFlowTable;
using lb::ConnState;
using lb::flow_hash;
using lb::kNil;
using lb::state_is_expendable;

namespace {

// Key number i of each kind, and back: i in the low bits of the source address.
template <class Key>
Key make_key(uint32_t i);
template <>
net::FlowKey make_key<net::FlowKey>(uint32_t i) {
  net::FlowKey k{};
  k.src = 0xc6120000u + i;
  k.dst = 0xc6120101u;
  k.sport = static_cast<uint16_t>(i * 7);
  k.dport = 80;
  k.proto = 6;
  return k;
}
template <>
net::FlowKey6 make_key<net::FlowKey6>(uint32_t i) {
  net::FlowKey6 k{};
  const auto src = net::parse_ipv6("2001:db8:2::");
  const auto dst = net::parse_ipv6("2001:2::10");
  std::copy(src->bytes.begin(), src->bytes.end(), k.src);
  std::copy(dst->bytes.begin(), dst->bytes.end(), k.dst);
  net::store32(k.src + 12, net::hton32(i));
  k.sport = static_cast<uint16_t>(i * 7);
  k.dport = net::hton16(80);
  k.proto = 6;
  return k;
}
uint32_t key_id(const net::FlowKey& k) { return k.src - 0xc6120000u; }
uint32_t key_id(const net::FlowKey6& k) { return net::ntoh32(net::load32(k.src + 12)); }
// A random source (for keys no test looks up again).
void random_source(net::FlowKey& k, uint32_t r) { k.src = r; }
void random_source(net::FlowKey6& k, uint32_t r) { net::store32(k.src + 8, r); }

const auto nop = [](const auto&) {};

template <class Key>
class FlowTable : public ::testing::Test {};
struct KeyNames {
  template <class Key>
  static std::string GetName(int) {
    return std::is_same_v<Key, net::FlowKey> ? "Ipv4" : "Ipv6";
  }
};
using Keys = ::testing::Types<net::FlowKey, net::FlowKey6>;
TYPED_TEST_SUITE(FlowTable, Keys, KeyNames);

}  // namespace

TYPED_TEST(FlowTable, InsertFindErase) {
  using Table = BasicFlowTable<TypeParam>;
  const auto key = make_key<TypeParam>;
  Table t(64);
  EXPECT_EQ(t.capacity(), 64u);
  for (uint32_t i = 0; i < 50; ++i) {
    auto k = key(i);
    uint32_t idx = t.insert(k, flow_hash(k), ConnState::kTcpSynRecv, 60, 1, nop);
    t.at(idx).rs_slot = i;
    t.at(idx).rs_offset = i * 64;  // (as the Forwarder binds it)
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
  // Every entry has a timeout of a second or more (the Forwarder's fast lane relies on it).
  const uint32_t some = t.find(key(3), flow_hash(key(3)));
  t.at(some).timeout = 0;
  EXPECT_EQ(t.check(), "entry without a timeout");
  t.at(some).timeout = 60;
  EXPECT_EQ(t.check(), "");
  // An RS offset is its slot's (the fast lane reads the RS's view and counters there).
  t.at(some).rs_offset += 64;
  EXPECT_EQ(t.check(), "RS offset is not its slot's");
  t.at(some).rs_offset -= 64;
  EXPECT_EQ(t.check(), "");
  EXPECT_THROW(Table(0), std::invalid_argument);
}

// A burst's lookup by signature yields the entry of a key present (or one sharing its
// signature), and for an absent key the no-entry: an entry number past the capacity,
// never in use, whose key no key is equal to (a zero key, a template's included), and
// which insert, erase, splits and eviction leave as it is.
TYPED_TEST(FlowTable, LookupOfAnAbsentKeyYieldsTheNoEntry) {
  using Table = BasicFlowTable<TypeParam>;
  const auto key = make_key<TypeParam>;
  Table t(8);
  EXPECT_EQ(t.no_entry(), 8u);
  const auto candidate = [&](const TypeParam& k) { return t.lookup().candidate_in(t.bucket_of(flow_hash(k)), flow_hash(k)); };
  EXPECT_EQ(candidate(key(1)), t.no_entry());
  for (uint32_t i = 0; i < 20; ++i) t.insert(key(i), flow_hash(key(i)), ConnState::kUdp, 60, i, nop);  // splits, evicts
  for (uint32_t i = 12; i < 20; ++i) EXPECT_EQ(candidate(key(i)), t.find(key(i), flow_hash(key(i))));
  t.erase(t.find(key(15), flow_hash(key(15))));
  EXPECT_EQ(candidate(key(15)), t.no_entry());
  const auto& none = t.at(t.no_entry());
  EXPECT_FALSE(none.in_use);
  TypeParam zero{};
  EXPECT_FALSE(none.key == zero);
  zero.kind = net::FlowKind::kTemplate;
  EXPECT_FALSE(none.key == zero);
  for (uint32_t i = 0; i < 20; ++i) EXPECT_FALSE(none.key == key(i));
  EXPECT_EQ(t.check(), "");
  // check() sees a no-entry that was written to
  t.at(t.no_entry()).in_use = 1;
  EXPECT_EQ(t.check(), "the no-entry was changed");
  t.at(t.no_entry()).in_use = 0;
  EXPECT_EQ(t.check(), "");
}

TYPED_TEST(FlowTable, ExpiresPerStateTimeoutOldestFirst) {
  using Table = BasicFlowTable<TypeParam>;
  using Entry = BasicFlowEntry<TypeParam>;
  const auto key = make_key<TypeParam>;
  Table t(16);
  auto ins = [&](uint32_t i, ConnState s, uint32_t timeout, uint32_t now) {
    return t.insert(key(i), flow_hash(key(i)), s, timeout, now, nop);
  };
  ins(1, ConnState::kTcpEstablished, 900, 0);
  ins(2, ConnState::kTcpFinWait, 120, 0);
  ins(3, ConnState::kUdp, 300, 10);
  std::vector<uint32_t> gone;
  auto rec = [&](const Entry& e) { gone.push_back(key_id(e.key)); };
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

TYPED_TEST(FlowTable, TouchDefersExpiry) {
  using Table = BasicFlowTable<TypeParam>;
  const auto key = make_key<TypeParam>;
  Table t(16);
  uint32_t idx = t.insert(key(1), flow_hash(key(1)), ConnState::kUdp, 300, 0, nop);
  t.touch(idx, 200);
  EXPECT_EQ(t.expire(300, 10, nop), 0u);
  EXPECT_EQ(t.expire(500, 10, nop), 1u);
}

TYPED_TEST(FlowTable, ExpiryBudgetIsHonoured) {
  using Table = BasicFlowTable<TypeParam>;
  const auto key = make_key<TypeParam>;
  Table t(128);
  for (uint32_t i = 0; i < 100; ++i) t.insert(key(i), flow_hash(key(i)), ConnState::kUdp, 5, 0, nop);
  EXPECT_EQ(t.expire(10, 32, nop), 32u);
  EXPECT_EQ(t.size(), 68u);
  EXPECT_EQ(t.expire(10, 1000, nop), 68u);
  EXPECT_EQ(t.check(), "");
}

TYPED_TEST(FlowTable, FullTableEvictsTheLongestIdle) {
  using Table = BasicFlowTable<TypeParam>;
  using Entry = BasicFlowEntry<TypeParam>;
  const auto key = make_key<TypeParam>;
  Table t(8);
  for (uint32_t i = 0; i < 8; ++i)
    t.insert(key(i), flow_hash(key(i)), i % 2 ? ConnState::kTcpEstablished : ConnState::kUdp, 1000, i, nop);
  // Entry 0 (last used at 0) is idle longest, until it is touched; then entry 1 is.
  t.touch(t.find(key(0), flow_hash(key(0))), 20);
  std::vector<uint32_t> evicted;
  auto rec = [&](const Entry& e) { evicted.push_back(key_id(e.key)); };
  t.insert(key(100), flow_hash(key(100)), ConnState::kUdp, 1000, 21, rec);
  ASSERT_EQ(evicted.size(), 1u);
  EXPECT_EQ(evicted[0], 1u);
  t.insert(key(101), flow_hash(key(101)), ConnState::kUdp, 1000, 22, rec);
  EXPECT_EQ(evicted.back(), 2u);
  EXPECT_EQ(t.size(), 8u);
  EXPECT_NE(t.find(key(0), flow_hash(key(0))), kNil);
  EXPECT_EQ(t.check(), "");
}

TYPED_TEST(FlowTable, FullBucketEvictsItsOldestWay) {
  using Table = BasicFlowTable<TypeParam>;
  using Entry = BasicFlowEntry<TypeParam>;
  const auto key = make_key<TypeParam>;
  // Keys forced into one bucket by giving them hashes with equal low bits.
  Table t(1024);
  std::vector<uint32_t> evicted;
  auto rec = [&](const Entry& e) { evicted.push_back(key_id(e.key)); };
  for (uint32_t i = 0; i < Table::kWays; ++i)
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
TYPED_TEST(FlowTable, FloodEvictsHalfOpenEntriesFirst) {
  using Table = BasicFlowTable<TypeParam>;
  using Entry = BasicFlowEntry<TypeParam>;
  const auto key = make_key<TypeParam>;
  Table t(256);
  const ConnState keep[] = {ConnState::kTcpEstablished, ConnState::kUdp, ConnState::kTemplate};
  for (uint32_t i = 0; i < 96; ++i) t.insert(key(i), flow_hash(key(i)), keep[i % 3], 900, 0, nop);
  uint64_t evicted_kept = 0, evicted = 0;
  auto rec = [&](const Entry& e) {
    ++evicted;
    evicted_kept += !state_is_expendable(e.state);
  };
  std::mt19937 rng(5);
  for (uint32_t n = 0; n < 100000; ++n) {
    TypeParam k = key(1000 + n);
    random_source(k, static_cast<uint32_t>(rng()));
    t.insert(k, flow_hash(k), ConnState::kTcpSynRecv, 60, 1 + n / 1000, rec);
  }
  EXPECT_GT(evicted, 90000u);
  EXPECT_EQ(evicted_kept, 0u);
  for (uint32_t i = 0; i < 96; ++i) EXPECT_NE(t.find(key(i), flow_hash(key(i))), kNil) << i;
  EXPECT_EQ(t.check(), "");
  // With nothing expendable left, the longest idle of the rest goes.
  Table u(8);
  for (uint32_t i = 0; i < 8; ++i) u.insert(key(i), flow_hash(key(i)), ConnState::kTcpEstablished, 900, i, nop);
  std::vector<uint32_t> gone;
  u.insert(key(9), flow_hash(key(9)), ConnState::kTcpSynRecv, 60, 20,
           [&](const Entry& e) { gone.push_back(key_id(e.key)); });
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0], 0u);
}

TYPED_TEST(FlowTable, FullBucketGivesUpAHalfOpenWayFirst) {
  using Table = BasicFlowTable<TypeParam>;
  using Entry = BasicFlowEntry<TypeParam>;
  const auto key = make_key<TypeParam>;
  Table t(1024);
  std::vector<uint32_t> evicted;
  auto rec = [&](const Entry& e) { evicted.push_back(key_id(e.key)); };
  for (uint32_t i = 0; i < Table::kWays; ++i)  // way 5 is the only half-open one, and the newest
    t.insert(key(i), uint64_t{i + 1} << 48, i == 5 ? ConnState::kTcpSynRecv : ConnState::kTcpEstablished, 900,
             10 + i, rec);
  t.insert(key(50), uint64_t{77} << 48, ConnState::kTcpSynRecv, 60, 30, rec);
  ASSERT_EQ(evicted.size(), 1u);
  EXPECT_EQ(evicted[0], 5u);
  EXPECT_EQ(t.check(), "");
}

TYPED_TEST(FlowTable, StateChangesMoveBetweenLists) {
  using Table = BasicFlowTable<TypeParam>;
  const auto key = make_key<TypeParam>;
  Table t(16);
  uint32_t idx = t.insert(key(1), flow_hash(key(1)), ConnState::kTcpSynRecv, 60, 0, nop);
  EXPECT_EQ(t.state_count(ConnState::kTcpSynRecv), 1u);
  t.set_state(idx, ConnState::kTcpEstablished, 900, 5);
  EXPECT_EQ(t.state_count(ConnState::kTcpSynRecv), 0u);
  EXPECT_EQ(t.state_count(ConnState::kTcpEstablished), 1u);
  EXPECT_EQ(t.at(idx).last_seen, 5u);
  EXPECT_EQ(t.expire(100, 10, nop), 0u);  // no longer under the 60 s SYN_RECV timeout
  EXPECT_EQ(t.check(), "");
}

namespace {

// A long random mix of inserts, touches, state changes, erasures and expiry on a table
// of `cap` entries, checked against a std::map model at every step (check() every
// `check_every` steps and at every new level of the index): nothing lost, nothing
// duplicated, entries where they were, and the index exactly as large as the high-water
// mark of entries makes it.
template <class Key>
void random_against_model(uint32_t cap, uint32_t steps, uint32_t seed, uint32_t check_every) {
  using Table = BasicFlowTable<Key>;
  using Entry = BasicFlowEntry<Key>;
  const auto key = make_key<Key>;
  Table t(cap);
  std::map<uint32_t, uint32_t> model;  // key id -> entry
  std::mt19937 rng(seed);
  uint32_t now = 0, high_water = 0, level = 0;
  const uint32_t ids = 4 * cap + 8;  // the table holds a quarter of the keys at most
  auto remove_model = [&](const Entry& e) { ASSERT_EQ(model.erase(key_id(e.key)), 1u); };
  for (uint32_t step = 0; step < steps; ++step) {
    if (rng() % 64 == 0) ++now;
    const uint32_t id = rng() % ids;
    const auto k = key(id);
    const uint64_t h = flow_hash(k);
    const uint32_t idx = t.find(k, h);
    ASSERT_EQ(idx != kNil, model.count(id) == 1) << "step " << step;
    if (idx != kNil) {
      ASSERT_EQ(idx, model[id]) << "step " << step;
    }
    // Mostly inserts while the table fills, so that a large one goes through every level.
    const uint32_t op = t.size() < cap * 3 / 4 && rng() % 4 ? 0 : rng() % 6;
    switch (op) {
      case 0:
      case 1:
        if (idx == kNil) {
          const uint32_t before = t.buckets();
          high_water = std::max(high_water, t.size() + 1);
          const uint32_t at = t.insert(k, h, rng() % 2 ? ConnState::kUdp : ConnState::kTcpSynRecv, 5 + rng() % 20,
                                       now, remove_model);
          model[id] = at;
          ASSERT_LE(t.buckets() - before, Table::kGrowth) << "bounded splits per insert";
        } else {
          t.touch(idx, now);
        }
        break;
      case 2:
        if (idx != kNil) t.set_state(idx, ConnState::kTcpEstablished, 10, now);
        break;
      case 3:
      case 4:
        if (idx != kNil) {
          t.erase(idx);
          model.erase(id);
        }
        break;
      case 5:
        t.expire(now, 1 + rng() % 8, remove_model);
        break;
    }
    ASSERT_EQ(t.size(), model.size()) << "step " << step;
    ASSERT_EQ(t.buckets(), std::min(std::max(high_water * Table::kGrowth, 1u), t.max_buckets())) << "step " << step;
    const bool new_level = (t.buckets() & (t.buckets() - 1)) == 0 && t.buckets() != level;
    if (new_level) level = t.buckets();
    if (step % check_every == 0 || new_level) {
      ASSERT_EQ(t.check(), "") << "step " << step;
    }
  }
  ASSERT_EQ(t.check(), "");
  for (const auto& [id, idx] : model) ASSERT_EQ(t.find(key(id), flow_hash(key(id))), idx) << id;
  EXPECT_EQ(t.buckets(), t.max_buckets()) << "went through every level";
}

}  // namespace

// A long random workload on a table of 500 entries, checked against a model.
TYPED_TEST(FlowTable, RandomWorkloadKeepsInvariants) { random_against_model<TypeParam>(500, 200000, 7, 10000); }

// The index grows with the live entries (linear hashing inside the bucket array
// allocated at construction): one bucket in use at first, then kGrowth per entry of the
// high-water mark, up to the whole array, and never fewer again. (An insert that evicts
// from a full bucket still splits first: it counts as one entry more.)
TYPED_TEST(FlowTable, IndexGrowsWithTheLiveEntries) {
  using Table = BasicFlowTable<TypeParam>;
  using Entry = BasicFlowEntry<TypeParam>;
  const auto key = make_key<TypeParam>;
  // The whole array is what it always was: capacity / 2 rounded up to a power of two.
  EXPECT_EQ(Table(1).max_buckets(), 1u);
  EXPECT_EQ(Table(2).max_buckets(), 1u);
  EXPECT_EQ(Table(3).max_buckets(), 2u);
  EXPECT_EQ(Table(1000).max_buckets(), 512u);
  EXPECT_EQ(Table::memory_bytes(1u << 20), (size_t{1} << 19) * 64 + ((size_t{1} << 20) + 1) * sizeof(Entry));
  const uint32_t cap = 65536;
  Table t(cap);
  EXPECT_EQ(t.max_buckets(), cap / 2);
  EXPECT_EQ(t.buckets(), 1u);
  std::set<uint32_t> evicted;
  auto rec = [&](const Entry& e) { evicted.insert(key_id(e.key)); };
  uint32_t high_water = 0;
  for (uint32_t i = 0; i < cap; ++i) {
    high_water = std::max(high_water, t.size() + 1);
    t.insert(key(i), flow_hash(key(i)), ConnState::kUdp, 1000, 0, rec);
    ASSERT_EQ(t.buckets(), std::min(high_water * Table::kGrowth, cap / 2)) << i;
    if ((i & (i + 1)) == 0 || i + 1 == cap) {  // at every level: all there, all in place
      ASSERT_EQ(t.check(), "") << i;
      for (uint32_t j = 0; j <= i; ++j)
        ASSERT_EQ(t.find(key(j), flow_hash(key(j))) != kNil, evicted.count(j) == 0) << j;
    }
  }
  // Only full buckets evict while the pool has room: almost never while the index grows
  // (at most one entry a bucket on average), rarely at full load (two).
  EXPECT_LT(evicted.size(), 32u);
  for (uint32_t i = 0; i < cap; ++i) {
    const uint32_t idx = t.find(key(i), flow_hash(key(i)));
    if (idx != kNil) t.erase(idx);
  }
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.buckets(), cap / 2);  // never shrinks
  EXPECT_EQ(t.check(), "");
}

TYPED_TEST(FlowTable, GrowthStopsAtTheArrayAndEvictionIsAsBefore) {
  using Table = BasicFlowTable<TypeParam>;
  using Entry = BasicFlowEntry<TypeParam>;
  const auto key = make_key<TypeParam>;
  std::vector<uint32_t> evicted;
  auto rec = [&](const Entry& e) { evicted.push_back(key_id(e.key)); };
  Table one(1);
  one.insert(key(1), flow_hash(key(1)), ConnState::kUdp, 100, 1, rec);
  one.insert(key(2), flow_hash(key(2)), ConnState::kUdp, 100, 2, rec);
  EXPECT_EQ(evicted, std::vector<uint32_t>{1});
  EXPECT_EQ(one.buckets(), 1u);
  EXPECT_NE(one.find(key(2), flow_hash(key(2))), kNil);
  EXPECT_EQ(one.check(), "");
  Table three(3);
  for (uint32_t i = 0; i < 10; ++i) {
    three.insert(key(i), flow_hash(key(i)), ConnState::kUdp, 100, i, rec);
    EXPECT_EQ(three.buckets(), std::min((i + 1) * Table::kGrowth, 2u));
    EXPECT_EQ(three.check(), "");
  }
  EXPECT_EQ(three.size(), 3u);
}

// A bucket splits before the new key chooses its way: the key goes to its bucket after
// the split, and a bucket that the split half empties takes it without evicting
// anything. Hashes are forced: 8 entries fill bucket 0 (their low bits below the level
// L reached after 8 inserts are 0, and every other one has the bit of L set), and the
// 9th insert splits bucket 0 first.
TYPED_TEST(FlowTable, SplitComesBeforeTheNewKeysWay) {
  using Table = BasicFlowTable<TypeParam>;
  using Entry = BasicFlowEntry<TypeParam>;
  const auto key = make_key<TypeParam>;
  auto hash = [](uint32_t id, uint32_t lo) { return uint64_t{id + 1} << 48 | lo; };
  const uint32_t level = Table::kWays * Table::kGrowth;
  for (const uint32_t last_lo : {2 * level * 8, level + 2 * level * 8}) {  // stays in bucket 0, goes to L
    Table t(1024);
    std::vector<uint32_t> evicted;
    auto rec = [&](const Entry& e) { evicted.push_back(key_id(e.key)); };
    std::map<uint32_t, uint64_t> hashes;
    std::map<uint32_t, uint32_t> where;
    uint32_t now = 0;
    auto add = [&](uint32_t id, uint32_t lo) {
      hashes[id] = hash(id, lo);
      const uint64_t m = t.mutations();
      const uint32_t before = t.buckets();
      where[id] = t.insert(key(id), hashes[id], ConnState::kUdp, 100, ++now, rec);
      EXPECT_EQ(t.mutations() - m, 1 + t.buckets() - before) << "a split is a mutation";
    };
    for (uint32_t i = 0; i < Table::kWays; ++i) add(i, 2 * level * i + (i % 2) * level);
    ASSERT_EQ(t.buckets(), level);
    ASSERT_EQ(t.check(), "");
    add(50, last_lo);
    EXPECT_EQ(t.buckets(), level + Table::kGrowth);
    EXPECT_TRUE(evicted.empty());
    EXPECT_EQ(t.check(), "");
    EXPECT_EQ(t.size(), Table::kWays + 1);
    for (const auto& [id, h] : hashes) EXPECT_EQ(t.find(key(id), h), where[id]) << id;  // entries stay put
  }
}

TYPED_TEST(FlowTable, RandomWorkloadAcrossLevelsMatchesAModel) {
  for (const uint32_t cap : {1u, 2u, 3u, 17u, 1000u}) {
    SCOPED_TRACE(cap);
    random_against_model<TypeParam>(cap, 10000, cap, 1);
  }
  SCOPED_TRACE(65536);
  random_against_model<TypeParam>(65536, 60000, 65536, 4096);
}

// At full load the whole array is in use and eviction is what it always was: a full
// bucket gives up its longest idle way, otherwise a full pool its longest idle entry,
// half-open entries first in both. Checked exactly against a model that knows each
// key's bucket; the hashes skip half the buckets (four entries a bucket at full load)
// so that both kinds of eviction are frequent.
TYPED_TEST(FlowTable, FullLoadEvictsExactlyAsBefore) {
  using Table = BasicFlowTable<TypeParam>;
  using Entry = BasicFlowEntry<TypeParam>;
  const auto key = make_key<TypeParam>;
  const uint32_t cap = 1024;
  Table t(cap);
  const uint32_t nb = t.max_buckets();
  auto hash = [&](uint32_t id) { return flow_hash(key(id)) & ~uint64_t{nb / 2}; };
  struct Live {
    uint32_t last_seen, bucket;
    bool expendable;
  };
  std::map<uint32_t, Live> live;  // key id -> model entry
  std::vector<uint32_t> evicted;
  auto rec = [&](const Entry& e) { evicted.push_back(key_id(e.key)); };
  std::mt19937 rng(3);
  uint32_t now = 1, id = 0;
  auto add = [&] {
    const ConnState s = rng() % 4 ? ConnState::kTcpEstablished : ConnState::kTcpSynRecv;
    const uint64_t h = hash(id);
    t.insert(key(id), h, s, 100000, now, rec);
    live[id++] = Live{now, static_cast<uint32_t>(h) & (nb - 1), state_is_expendable(s)};
  };
  while (t.size() < cap) {
    add();
    for (const uint32_t gone : evicted) live.erase(gone);
    evicted.clear();
    ++now;
  }
  ASSERT_EQ(t.buckets(), nb);
  // The first to go of a set: expendable before not, then the longest idle.
  auto before = [&](uint32_t a, uint32_t b) {
    const Live &x = live.at(a), &y = live.at(b);
    return x.expendable != y.expendable ? x.expendable : x.last_seen < y.last_seen;
  };
  uint32_t bucket_evictions = 0, pool_evictions = 0;
  for (uint32_t n = 0; n < 4000; ++n, ++now) {
    if (n % 2) {  // reorder: touch a random live key
      auto it = std::next(live.begin(), rng() % live.size());
      t.touch(t.find(key(it->first), hash(it->first)), now);
      it->second.last_seen = now;
      continue;
    }
    const uint32_t b = static_cast<uint32_t>(hash(id)) & (nb - 1);
    uint32_t in_bucket = 0, bucket_first = kNil, first = kNil;
    for (const auto& [k, e] : live) {
      if (first == kNil || before(k, first)) first = k;
      if (e.bucket != b) continue;
      ++in_bucket;
      if (bucket_first == kNil || before(k, bucket_first)) bucket_first = k;
    }
    add();
    ASSERT_EQ(evicted.size(), 1u) << n;
    ASSERT_EQ(evicted[0], in_bucket == Table::kWays ? bucket_first : first) << n;
    ++(in_bucket == Table::kWays ? bucket_evictions : pool_evictions);
    live.erase(evicted[0]);
    evicted.clear();
  }
  EXPECT_EQ(t.buckets(), nb);
  EXPECT_EQ(t.size(), cap);
  EXPECT_EQ(t.check(), "");
  EXPECT_GT(bucket_evictions, 50u);  // both kinds were checked (~90 and ~1,900)
  EXPECT_GT(pool_evictions, 50u);
}

namespace {
net::FlowKey6 key6(const char* src, const char* dst, uint16_t sport, uint16_t dport, uint8_t proto) {
  net::FlowKey6 k{};
  const auto s = net::parse_ipv6(src), d = net::parse_ipv6(dst);
  std::copy(s->bytes.begin(), s->bytes.end(), k.src);
  std::copy(d->bytes.begin(), d->bytes.end(), k.dst);
  k.sport = net::hton16(sport);
  k.dport = net::hton16(dport);
  k.proto = proto;
  return k;
}
}  // namespace

// Every director must map a connection to the same table slot and scheduler choice: the
// hashes are fixed functions of the key, the same on every machine and build (SSE4.2 or
// the software CRC). A change here makes directors of different versions disagree.
TEST(FlowTableHash, Ipv4HashesArePinned) {
  net::FlowKey k{};
  k.src = net::hton32(0xc6128001u);  // 198.18.128.1:40000 -> 198.18.1.10:80 TCP
  k.dst = net::hton32(0xc612010au);
  k.sport = net::hton16(40000);
  k.dport = net::hton16(80);
  k.proto = 6;
  EXPECT_EQ(flow_hash(k), 0xc93db7151002bb83ULL);
  k.sport = 0;
  k.kind = net::FlowKind::kTemplate;
  EXPECT_EQ(flow_hash(k), 0xe4763d2393e59de4ULL);
  EXPECT_EQ(lb::source_hash(net::hton32(0xc6128001u), 0), 0x1f227e0eec437a0bULL);
  EXPECT_EQ(lb::source_hash(net::hton32(0xc6128001u), net::hton16(40000)), 0x13b30a26f753b793ULL);
}

TEST(FlowTableHash, Ipv6HashesArePinned) {
  net::FlowKey6 k = key6("2001:db8:2::1", "2001:2::10", 40000, 80, 6);
  EXPECT_EQ(flow_hash(k), 0x50ace2761cb737c4ULL);
  k = key6("2001:db8:2::1", "2001:2::10", 40000, 53, 17);
  EXPECT_EQ(flow_hash(k), 0x262ce70f48032f9eULL);
  k = key6("2001:db8:2::", "2001:2::10", 0, 80, 6);  // a persistence template: /64, no client port
  k.kind = net::FlowKind::kTemplate;
  EXPECT_TRUE(k.is_template());
  EXPECT_EQ(flow_hash(k), 0xed22b93663ab5812ULL);
  const auto a = net::parse_ipv6("2001:db8:2::1");
  EXPECT_EQ(lb::source_hash6(a->bytes.data(), 0), 0xa222cc14df94f98cULL);
  EXPECT_EQ(lb::source_hash6(a->bytes.data(), net::hton16(40000)), 0xc888f3801695b8f1ULL);
  const auto b = net::parse_ipv6("2001:db8:ffff:1234:5678:9abc:def0:4242");
  EXPECT_EQ(lb::source_hash6(b->bytes.data(), 0), 0x9b02cab4b49128e9ULL);
}

// The IPv6 key is compared and hashed as five words: a change in any byte (addresses,
// ports, protocol, kind, pad) is another key and another hash; the source hash sees
// every address byte and the port.
TEST(FlowTableHash, Ipv6KeyComparesAndHashesEveryByte) {
  const net::FlowKey6 k = key6("2001:db8:2::1", "2001:2::10", 40000, 80, 6);
  EXPECT_TRUE(k == k);
  for (size_t i = 0; i < sizeof(k); ++i) {
    net::FlowKey6 o = k;
    reinterpret_cast<uint8_t*>(&o)[i] ^= 0x01;
    EXPECT_FALSE(o == k) << "byte " << i;
    EXPECT_NE(flow_hash(o), flow_hash(k)) << "byte " << i;
  }
  const uint64_t h = lb::source_hash6(k.src, 0);
  for (size_t i = 0; i < 16; ++i) {
    uint8_t a[16];
    std::copy(k.src, k.src + 16, a);
    a[i] ^= 0x80;
    EXPECT_NE(lb::source_hash6(a, 0), h) << "byte " << i;
  }
  EXPECT_NE(lb::source_hash6(k.src, 1), h);
}

// count_bound reads an IPv6 table as it reads an IPv4 one.
TEST(FlowTableHash, CountBoundReadsIpv6Tables) {
  lb::FlowTable6 t(16);
  auto add = [&](const net::FlowKey6& k, ConnState s, uint32_t slot, bool counted) {
    const uint32_t idx = t.insert(k, flow_hash(k), s, 60, 0, nop);
    t.at(idx).rs_slot = slot;
    t.at(idx).rs_offset = slot * 64;
    t.at(idx).rs_gen = 3;
    t.at(idx).counted = counted;
  };
  add(key6("2001:db8:2::1", "2001:2::10", 40000, 80, 6), ConnState::kTcpEstablished, 1, true);
  add(key6("2001:db8:2::2", "2001:2::10", 40000, 80, 6), ConnState::kTcpFinWait, 1, true);
  net::FlowKey6 tk = key6("2001:db8:2::", "2001:2::10", 0, 80, 6);
  tk.kind = net::FlowKind::kTemplate;
  add(tk, ConnState::kTemplate, 1, true);
  add(key6("2001:db8:2::3", "2001:2::10", 40000, 80, 6), ConnState::kTcpSynRecv, 2, false);
  uint64_t unbound = 0;
  const auto counts = lb::count_bound(t, unbound);
  EXPECT_EQ(unbound, 1u);
  ASSERT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts.at({1, 3}), (lb::BoundCounts{1, 1, 1}));
}
