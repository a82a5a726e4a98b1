// Maglev table construction and the weighted sequences behind rr, wrr and hash.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

#include "lb/conn_state.hpp"
#include "lb/maglev.hpp"
#include "lb/wrr.hpp"

using namespace drfwd::lb;

namespace {
std::vector<MaglevBackend> backends(size_t n, uint32_t weight = 1) {
  std::vector<MaglevBackend> b;
  for (size_t i = 0; i < n; ++i) b.push_back({0xc6120000ull + i * 7 + 1, weight});
  return b;
}
std::vector<size_t> counts(const std::vector<uint16_t>& t, size_t n) {
  std::vector<size_t> c(n, 0);
  for (auto i : t) c.at(i)++;
  return c;
}
}  // namespace

TEST(Maglev, Primes) {
  EXPECT_TRUE(is_prime(65537));
  EXPECT_TRUE(is_prime(7));
  EXPECT_FALSE(is_prime(65536));
  EXPECT_FALSE(is_prime(1));
  EXPECT_FALSE(is_prime(9));
  EXPECT_THROW(maglev_build(backends(3), 65536), std::invalid_argument);
  EXPECT_THROW(maglev_build({}, 7), std::invalid_argument);
  EXPECT_THROW(maglev_build(backends(11), 7), std::invalid_argument);
}

TEST(Maglev, FillsEveryEntryAndBalances) {
  for (size_t n : {1, 2, 3, 10, 100}) {
    auto t = maglev_build(backends(n), 65537);
    ASSERT_EQ(t.size(), 65537u);
    auto c = counts(t, n);
    const double ideal = 65537.0 / n;
    for (size_t i = 0; i < n; ++i) {
      // The paper's fill gives every backend within one round of M/N entries.
      EXPECT_NEAR(c[i], ideal, 1.0 + ideal * 0.01) << "n=" << n << " backend " << i;
    }
  }
}

TEST(Maglev, IndependentOfOrder) {
  auto b = backends(9);
  auto t1 = maglev_build(b, 4093);
  std::mt19937 rng(42);
  for (int round = 0; round < 10; ++round) {
    auto shuffled = b;
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    auto t2 = maglev_build(shuffled, 4093);
    // Same backend (by id) in every slot.
    for (size_t s = 0; s < t1.size(); ++s) ASSERT_EQ(b[t1[s]].id, shuffled[t2[s]].id) << "slot " << s;
  }
}

TEST(Maglev, MinimalDisruptionWhenOneLeaves) {
  const size_t n = 10;
  auto b = backends(n);
  auto before = maglev_build(b, 65537);
  auto fewer = b;
  const uint64_t gone = fewer[3].id;
  fewer.erase(fewer.begin() + 3);
  auto after = maglev_build(fewer, 65537);
  size_t moved_from_survivors = 0, owned_by_gone = 0;
  for (size_t s = 0; s < before.size(); ++s) {
    const uint64_t old_id = b[before[s]].id, new_id = fewer[after[s]].id;
    if (old_id == gone) {
      ++owned_by_gone;
      continue;
    }
    if (old_id != new_id) ++moved_from_survivors;
  }
  EXPECT_NEAR(owned_by_gone, 65537.0 / n, 100);
  // Only the departed backend's slots must move; Maglev moves a few more, but few.
  EXPECT_LT(moved_from_survivors, 65537 * 0.03) << "survivors' slots reassigned";
}

TEST(Maglev, WeightsAreHonoured) {
  std::vector<MaglevBackend> b = {{1, 1}, {2, 2}, {3, 5}};
  auto c = counts(maglev_build(b, 65537), 3);
  EXPECT_NEAR(c[0] / 65537.0, 1.0 / 8, 0.01);
  EXPECT_NEAR(c[1] / 65537.0, 2.0 / 8, 0.01);
  EXPECT_NEAR(c[2] / 65537.0, 5.0 / 8, 0.01);
  // Extreme ratio still gives the light backend its share.
  std::vector<MaglevBackend> x = {{1, 1}, {2, 65535}};
  auto cx = counts(maglev_build(x, 65537), 2);
  EXPECT_GE(cx[0], 1u);
  EXPECT_LE(cx[0], 3u);
}

TEST(Wrr, SequenceProportionsAndSmoothness) {
  std::vector<uint32_t> w = {5, 1, 1};
  auto seq = wrr_sequence(w);
  ASSERT_EQ(seq.size(), 7u);
  // nginx's smooth WRR for {5,1,1}: a a b a c a a -- never more than 2 a's before b/c.
  std::vector<uint16_t> expect = {0, 0, 1, 0, 2, 0, 0};
  EXPECT_EQ(seq, expect);
}

TEST(Wrr, NoBurstsOnTheHeaviest) {
  std::vector<uint32_t> w = {100, 1, 1, 1};
  auto seq = wrr_sequence(w);
  ASSERT_EQ(seq.size(), 103u);
  auto c = counts(seq, 4);
  EXPECT_EQ(c[0], 100u);
  // The three light RSs are spread out, not bunched together.
  std::vector<size_t> pos;
  for (size_t i = 0; i < seq.size(); ++i)
    if (seq[i] != 0) pos.push_back(i);
  ASSERT_EQ(pos.size(), 3u);
  EXPECT_GT(pos[1] - pos[0], 20u);
  EXPECT_GT(pos[2] - pos[1], 20u);
}

TEST(Wrr, GcdAndScaling) {
  std::vector<uint32_t> w = {300, 200};
  auto seq = wrr_sequence(w);
  EXPECT_EQ(seq.size(), 5u);  // divided by gcd 100
  std::vector<uint32_t> big = {65535, 65534, 3};
  auto s2 = wrr_sequence(big, 65536);
  EXPECT_LE(s2.size(), 65536u + 3);
  auto c = counts(s2, 3);
  EXPECT_NEAR(double(c[0]) / c[1], 65535.0 / 65534, 0.001);
  EXPECT_GE(c[2], 1u);
  EXPECT_THROW(wrr_sequence(std::vector<uint32_t>{1, 0}), std::invalid_argument);
}

TEST(ConnState, InputOnlyTcpTransitions) {
  using S = ConnState;
  EXPECT_EQ(tcp_next_state(S::kTcpNone, drfwd::net::kTcpSyn), S::kTcpSynRecv);
  EXPECT_EQ(tcp_next_state(S::kTcpSynRecv, drfwd::net::kTcpAck), S::kTcpEstablished);
  EXPECT_EQ(tcp_next_state(S::kTcpEstablished, drfwd::net::kTcpAck), S::kTcpEstablished);
  EXPECT_EQ(tcp_next_state(S::kTcpEstablished, drfwd::net::kTcpFin | drfwd::net::kTcpAck), S::kTcpFinWait);
  EXPECT_EQ(tcp_next_state(S::kTcpFinWait, drfwd::net::kTcpAck), S::kTcpFinWait);
  EXPECT_EQ(tcp_next_state(S::kTcpEstablished, drfwd::net::kTcpRst), S::kTcpClose);
  EXPECT_EQ(tcp_next_state(S::kTcpNone, drfwd::net::kTcpAck), S::kTcpClose);  // mid-stream pick-up
  EXPECT_EQ(tcp_next_state(S::kTcpEstablished, 0), S::kTcpClose);          // no flags
  EXPECT_EQ(tcp_next_state(S::kTcpSynRecv, drfwd::net::kTcpRst), S::kTcpSynRecv);
  for (int st = 0; st <= static_cast<int>(S::kTcpSynAck); ++st)
    for (int f = 0; f < 256; ++f)
      ASSERT_EQ(tcp_next_state(static_cast<S>(st), static_cast<uint8_t>(f)),
                tcp_next_state_slow(static_cast<S>(st), static_cast<uint8_t>(f)))
          << "state " << st << " flags " << f;
  // The Forwarder's fast lane: the states a segment leaves as they are, by its flags.
  for (int st = 0; st < kStateCount; ++st)
    for (int f = 0; f < 256; ++f) {
      const bool unmoved = tcp_next_state(static_cast<S>(st), static_cast<uint8_t>(f)) == static_cast<S>(st);
      ASSERT_EQ((tcp_unmoved(static_cast<uint8_t>(f)) >> st) & 1, unmoved ? 1 : 0) << "state " << st << " flags " << f;
    }
  EXPECT_TRUE((tcp_unmoved(drfwd::net::kTcpAck | 0x08) >> static_cast<int>(S::kTcpEstablished)) & 1);
  EXPECT_FALSE((tcp_unmoved(drfwd::net::kTcpAck | drfwd::net::kTcpFin) >> static_cast<int>(S::kTcpEstablished)) & 1);
  Timeouts t;
  EXPECT_EQ(t.tcp(), 900u);
  EXPECT_EQ(t.tcp_fin(), 120u);
  EXPECT_EQ(t.udp(), 300u);
  EXPECT_EQ(t.get(S::kTcpSynRecv), 60u);
  EXPECT_TRUE(state_is_active(S::kTcpEstablished));
  EXPECT_TRUE(state_is_active(S::kUdp));
  EXPECT_FALSE(state_is_active(S::kTcpSynRecv));
}
