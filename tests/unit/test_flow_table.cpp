// The per-worker connection table: lookups, expiry order, eviction of the longest-idle
// entry, and its invariants under a long random workload checked against a simple model.
// Every test runs for both keys (FlowTable and FlowTable6); the hashes other directors
// must agree on are pinned to fixed values.
#include <gtest/gtest.h>

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
  EXPECT_THROW(Table(0), std::invalid_argument);
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

// A long random mix of inserts, touches, state changes, erasures and expiry, checked
// against a std::map model: nothing lost, nothing duplicated, every structure intact.
TYPED_TEST(FlowTable, RandomWorkloadKeepsInvariants) {
  using Table = BasicFlowTable<TypeParam>;
  using Entry = BasicFlowEntry<TypeParam>;
  const auto key = make_key<TypeParam>;
  const uint32_t cap = 500;
  Table t(cap);
  std::map<uint32_t, uint32_t> model;  // key id -> last_seen
  std::mt19937 rng(7);
  uint32_t now = 0;
  auto remove_model = [&](const Entry& e) {
    ASSERT_EQ(model.erase(key_id(e.key)), 1u);
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
