// IPVS's least-connection schedulers (lc, wlc, sed, nq) and connection thresholds, on
// counts summed over workers: the Forwarder's choice against a small model of the
// kernel's rules (ip_vs_lc.c, ip_vs_wlc.c, ip_vs_sed.c, ip_vs_nq.c, and the overload
// flag of ip_vs_conn.c) at every step of random connection lives.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "lb/forwarder.hpp"
#include "specs.hpp"

using namespace drfwd;
using namespace drfwd::lb;
using namespace drfwd::test;
using Action = Verdict::Action;

namespace {

constexpr Sched kLeastScheds[] = {Sched::kLc, Sched::kWlc, Sched::kSed, Sched::kNq};

// The kernel's side: per RS its weight, thresholds, counts and overload flag, in the
// order the schedulers walk them (drfwd's canonical order: by address).
struct IpvsDest {
  uint32_t slot = 0;
  uint32_t weight = 1;
  RsThresholds t;
  int64_t active = 0, inactive = 0;
  bool overload = false;
  int64_t total() const { return active + inactive; }
};

struct Ipvs {
  std::vector<IpvsDest> dests;

  IpvsDest& at(uint32_t slot) {
    for (IpvsDest& d : dests)
      if (d.slot == slot) return d;
    throw std::logic_error("no such dest");
  }

  // The schedule functions as the kernel writes them; -1: none.
  int schedule(Sched s) {
    IpvsDest* least = nullptr;
    int64_t loh = 0;
    if (s == Sched::kLc) {  // ip_vs_lc_schedule
      for (IpvsDest& d : dests) {
        if (d.overload || d.weight == 0) continue;
        const int64_t doh = (d.active << 8) + d.inactive;
        if (!least || doh < loh) least = &d, loh = doh;
      }
    } else if (s == Sched::kNq) {  // ip_vs_nq_schedule
      for (IpvsDest& d : dests) {
        if (d.overload || d.weight == 0) continue;
        const int64_t doh = d.active + 1;
        if (d.active == 0) return static_cast<int>(d.slot);
        if (!least || loh * d.weight > doh * least->weight) least = &d, loh = doh;
      }
    } else {  // ip_vs_wlc_schedule, ip_vs_sed_schedule: the first available, then the rest
      auto overhead = [s](const IpvsDest& d) { return s == Sched::kWlc ? (d.active << 8) + d.inactive : d.active + 1; };
      size_t i = 0;
      for (; i < dests.size(); ++i)
        if (!dests[i].overload && dests[i].weight > 0) break;
      if (i == dests.size()) return -1;
      least = &dests[i];
      loh = overhead(*least);
      for (++i; i < dests.size(); ++i) {
        IpvsDest& d = dests[i];
        if (d.overload) continue;
        const int64_t doh = overhead(d);
        if (loh * d.weight > doh * least->weight) least = &d, loh = doh;
      }
    }
    return least ? static_cast<int>(least->slot) : -1;
  }

  // ip_vs_bind_dest for a new TCP connection (SYN: inactive).
  void bind(uint32_t slot) {
    IpvsDest& d = at(slot);
    ++d.inactive;
    if (d.t.upper != 0 && d.total() >= d.t.upper) d.overload = true;
  }
  // ip_vs_unbind_dest.
  void unbind(uint32_t slot, bool active) {
    IpvsDest& d = at(slot);
    --(active ? d.active : d.inactive);
    if (d.t.lower != 0) {
      if (d.total() < d.t.lower) d.overload = false;
    } else if (d.t.upper != 0) {
      if (d.total() * 4 < int64_t{d.t.upper} * 3) d.overload = false;
    } else {
      d.overload = false;
    }
  }
  void activate(uint32_t slot, bool on) {
    IpvsDest& d = at(slot);
    d.active += on ? 1 : -1;
    d.inactive += on ? -1 : 1;
  }
};

// One worker's forwarding state.
struct Worker {
  explicit Worker(uint32_t index)
      : rs(std::make_unique<RsCounters[]>(kMaxRsSlots)), fwd(index, table, counters, rs.get()) {}
  // The frame `s` through this worker; the RS slot it went to (-1: not forwarded).
  int send(const FrameSpec& s, Verdict* out = nullptr) {
    std::vector<uint8_t> f = build(s);
    const Frame fr{f.data(), static_cast<uint32_t>(f.size()), static_cast<uint32_t>(f.size()), 0, 0, net::IpCsum::kUnknown};
    const Verdict v = fwd.process(fr);
    if (out) *out = v;
    return v.action == Action::kForward ? rs_of_mac(f.data()) : -1;
  }
  uint64_t dropped(net::Drop d) const { return counters.port[0].drops[static_cast<int>(d)]; }
  FlowTable table{8192};
  WorkerCounters counters;
  std::unique_ptr<RsCounters[]> rs;
  Forwarder fwd;
};

FrameSpec segment(uint16_t client, uint8_t flags) {
  FrameSpec s;
  s.saddr = net::Ipv4{0xc6120201u + client};  // 198.18.2.1, ...: sh sees them all apart
  s.sport = static_cast<uint16_t>(10000 + client);
  s.tcp_flags = flags;
  return s;
}

// Workers over one service at 198.18.1.10:80 whose RS in slot i is 198.18.0.(11 + i)
// (so slot order is address order, the order the schedulers walk), with timeouts that
// keep every connection but a closed one: a reset connection is gone two seconds later.
struct Rig {
  void start(uint32_t workers, Sched sched, std::vector<uint32_t> weights, std::vector<RsThresholds> thresholds = {}) {
    spec.ports = ports(1);
    spec.workers = workers;
    for (auto& s : spec.timeouts.seconds) s = 1000000;
    spec.timeouts.seconds[static_cast<int>(ConnState::kTcpClose)] = 1;
    std::vector<RsSpec> servers;
    for (uint32_t i = 0; i < weights.size(); ++i) {
      const std::string addr = "198.18.0." + std::to_string(11 + i);
      servers.push_back(rs(i, addr.c_str(), weights[i]));
      if (i < thresholds.size()) servers.back().thresholds = thresholds[i];
      model.dests.push_back({i, weights[i], i < thresholds.size() ? thresholds[i] : RsThresholds{}});
    }
    spec.services = {service(0, "198.18.1.10", net::kProtoTcp, 80, sched, servers)};
    for (uint32_t w = 0; w < workers; ++w) w_.push_back(std::make_unique<Worker>(w));
    std::vector<const RsCounters*> peers;
    for (auto& w : w_) peers.push_back(w->rs.get());
    for (auto& w : w_) w->fwd.set_peers(peers);
    publish();
  }
  void publish() {
    snaps.push_back(build_snapshot(spec, snaps.empty() ? nullptr : snaps.back().get()));
    for (auto& w : w_) w->fwd.begin(snaps.back().get(), now);
  }
  void tick(uint32_t seconds) {
    now += seconds;
    for (auto& w : w_) {
      w->fwd.begin(snaps.back().get(), now);
      w->fwd.expire(1u << 20);
    }
  }

  SnapshotSpec spec;
  std::vector<std::shared_ptr<Snapshot>> snaps;
  std::vector<std::unique_ptr<Worker>> w_;
  Ipvs model;
  uint32_t now = 0;
};

// A connection of the random runs, on the worker whose table holds it.
struct Conn {
  uint16_t client;
  uint32_t worker;
  uint32_t slot;
  enum State { kSynRecv, kEstablished, kFinWait, kClosed } state;
};

// Random lives: new connections (on a random worker), handshakes completed, FINs,
// resets (gone at the next tick), weight changes (0 included). Every new connection
// must go where the kernel's rule sends it.
void random_run(Rig& t, Sched sched, uint32_t workers, bool thresholds, uint32_t seed) {
  std::mt19937 rng(seed);
  const uint32_t n_rs = 2 + rng() % 4;
  std::vector<uint32_t> weights;
  std::vector<RsThresholds> th;
  for (uint32_t i = 0; i < n_rs; ++i) {
    weights.push_back(rng() % 4 == 0 ? 0 : 1 + rng() % 5);
    if (thresholds && rng() % 2) {
      const uint32_t u = 2 + rng() % 8;
      th.push_back({u, rng() % 2 ? static_cast<uint32_t>(rng() % u) : 0});
    } else {
      th.push_back({});
    }
  }
  if (std::all_of(weights.begin(), weights.end(), [](uint32_t w) { return w == 0; })) weights[0] = 1;
  t.start(workers, sched, weights, th);
  std::vector<Conn> conns;
  uint16_t next_client = 0;
  const std::string what = std::string(sched_name(sched)) + " seed " + std::to_string(seed);
  for (int step = 0; step < 400; ++step) {
    const uint32_t op = rng() % 100;
    if (op < 40 || conns.empty()) {
      const uint32_t w = rng() % workers;
      const int want = t.model.schedule(sched);
      Verdict v;
      const int got = t.w_[w]->send(segment(next_client, net::kTcpSyn), &v);
      ASSERT_EQ(got, want) << what << " step " << step << ": drfwd sent the new connection to slot " << got
                           << ", IPVS's rule to " << want;
      if (got < 0) {
        const bool none_weighted = std::all_of(t.model.dests.begin(), t.model.dests.end(),
                                               [](const IpvsDest& d) { return d.weight == 0; });
        EXPECT_EQ(v.drop, none_weighted ? net::Drop::kNoRs : net::Drop::kRsOverloaded) << what;
        ++next_client;
        continue;
      }
      t.model.bind(static_cast<uint32_t>(got));
      conns.push_back({next_client++, w, static_cast<uint32_t>(got), Conn::kSynRecv});
      continue;
    }
    Conn& c = conns[rng() % conns.size()];
    Worker& w = *t.w_[c.worker];
    if (op < 65) {  // complete the handshake, or FIN an established connection
      if (c.state == Conn::kSynRecv) {
        ASSERT_EQ(w.send(segment(c.client, net::kTcpAck)), static_cast<int>(c.slot)) << what;
        t.model.activate(c.slot, true);
        c.state = Conn::kEstablished;
      } else if (c.state == Conn::kEstablished) {
        ASSERT_EQ(w.send(segment(c.client, net::kTcpFin | net::kTcpAck)), static_cast<int>(c.slot)) << what;
        t.model.activate(c.slot, false);
        c.state = Conn::kFinWait;
      }
    } else if (op < 85) {  // reset: CLOSE (inactive), gone at the next tick
      if (c.state == Conn::kEstablished || c.state == Conn::kFinWait) {
        ASSERT_EQ(w.send(segment(c.client, net::kTcpRst)), static_cast<int>(c.slot)) << what;
        if (c.state == Conn::kEstablished) t.model.activate(c.slot, false);
        c.state = Conn::kClosed;
      }
    } else if (op < 95) {  // time passes: the closed ones expire
      t.tick(2);
      for (const Conn& x : conns)
        if (x.state == Conn::kClosed) t.model.unbind(x.slot, false);
      std::erase_if(conns, [](const Conn& x) { return x.state == Conn::kClosed; });
    } else {  // a weight changes (0: drained, no new connections)
      const uint32_t i = rng() % n_rs;
      const uint32_t weight = rng() % 3 == 0 ? 0 : 1 + rng() % 5;
      t.spec.services[0].rs[i].weight = weight;
      t.model.at(i).weight = weight;
      t.publish();
    }
  }
  // The gauges every worker keeps sum to the model's counts.
  for (const IpvsDest& d : t.model.dests) {
    int64_t active = 0, inactive = 0;
    for (auto& w : t.w_) {
      active += w->rs[d.slot].active;
      inactive += w->rs[d.slot].inactive;
    }
    EXPECT_EQ(active, d.active) << what << " slot " << d.slot;
    EXPECT_EQ(inactive, d.inactive) << what << " slot " << d.slot;
  }
}

// Twelve random runs of each scheduler.
void random_runs(uint32_t workers, bool thresholds, uint32_t first_seed) {
  for (Sched s : kLeastScheds)
    for (uint32_t seed = first_seed; seed < first_seed + 6; ++seed) {
      Rig t;
      random_run(t, s, workers, thresholds, seed);
      if (::testing::Test::HasFatalFailure()) return;
    }
}

}  // namespace

TEST(LeastConn, EachSchedulerFollowsTheKernelsRule) { random_runs(1, false, 1); }

// Two workers, each scheduling its own connections, see one count per RS: the sum of both.
TEST(LeastConn, CountsAreGlobalAcrossWorkers) { random_runs(2, false, 100); }

// With thresholds (one worker, whose overload flags are IPVS's exactly): overloaded RSs
// are skipped, and everything overloaded drops with rs-overloaded.
TEST(LeastConn, ThresholdsFollowTheKernelsRule) { random_runs(1, true, 200); }

// Worked examples of each rule, three RSs of weights 1, 2, 3.
TEST(LeastConn, WeightedRules) {
  struct Case {
    Sched sched;
    std::vector<int> first_nine;  // established at once, never closed
  };
  for (const Case& c : {Case{Sched::kLc, {0, 1, 2, 0, 1, 2, 0, 1, 2}},
                        // wlc: ties (0/w) go to the first; then least active/weight
                        Case{Sched::kWlc, {0, 1, 2, 2, 1, 2, 0, 1, 2}},
                        // sed: (active + 1) / weight: 1/1 > 1/2 > 1/3 first
                        Case{Sched::kSed, {2, 1, 2, 0, 1, 2, 2, 1, 2}},
                        // nq: every idle RS first, in order; then as sed
                        Case{Sched::kNq, {0, 1, 2, 2, 1, 2, 2, 1, 2}}}) {
    Rig t;
    t.start(1, c.sched, {1, 2, 3});
    std::vector<int> got;
    for (uint16_t i = 0; i < 9; ++i) {
      got.push_back(t.w_[0]->send(segment(i, net::kTcpSyn)));
      t.w_[0]->send(segment(i, net::kTcpAck));
    }
    std::vector<int> want;
    for (uint16_t i = 0; i < 9; ++i) {
      want.push_back(t.model.schedule(c.sched));
      t.model.bind(static_cast<uint32_t>(want.back()));
      t.model.activate(static_cast<uint32_t>(want.back()), true);
    }
    EXPECT_EQ(got, want) << sched_name(c.sched);
    EXPECT_EQ(got, c.first_nine) << sched_name(c.sched);
  }
}

// A reused slot's gauges hold what the former occupant's connections left (release()
// does not undo an older generation's): the snapshot carries that leftover, and the
// schedulers count sum(workers) - leftover.
TEST(LeastConn, LeftoverGaugesOfAReusedSlotDoNotCount) {
  Rig t;
  t.start(2, Sched::kLc, {1, 1});
  // Slot 1's former occupant left 3 active and 2 inactive on worker 0, 4 active on 1.
  t.w_[0]->rs[1].active = 3;
  t.w_[0]->rs[1].inactive = 2;
  t.w_[1]->rs[1].active = 4;
  t.spec.services[0].rs[1].gen = 2;
  t.spec.services[0].rs[1].leftover = {7, 2};
  t.publish();
  std::vector<int> got;
  for (uint16_t i = 0; i < 6; ++i) {
    got.push_back(t.w_[i % 2]->send(segment(i, net::kTcpSyn)));
    t.w_[i % 2]->send(segment(i, net::kTcpAck));
  }
  EXPECT_EQ(got, (std::vector<int>{0, 1, 0, 1, 0, 1})) << "the new occupant starts from zero";
  // Without the leftover, slot 1 would look busy: everything to slot 0.
  t.spec.services[0].rs[1].leftover = {};
  t.publish();
  for (uint16_t i = 6; i < 10; ++i) EXPECT_EQ(t.w_[0]->send(segment(i, net::kTcpSyn)), 0);
}

// Native rr with an upper threshold alone: overloaded at u, back under 3/4 of u.
TEST(LeastConn, RoundRobinSkipsAnOverloadedServer) {
  Rig t;
  t.start(1, Sched::kRr, {1, 1}, {{4, 0}});
  Worker& w = *t.w_[0];
  std::vector<int> got;
  for (uint16_t i = 0; i < 10; ++i) {
    got.push_back(w.send(segment(i, net::kTcpSyn)));
    w.send(segment(i, net::kTcpAck));
  }
  // Slot 0 takes 0, 2, 4, 6 and is full at 4: the rest go to slot 1.
  EXPECT_EQ(got, (std::vector<int>{0, 1, 0, 1, 0, 1, 0, 1, 1, 1}));
  auto close = [&](uint16_t client) {
    w.send(segment(client, net::kTcpRst));
    t.tick(2);
  };
  close(0);  // slot 0: 3 connections, 3 * 4 < 4 * 3 is false: still overloaded
  EXPECT_EQ(w.send(segment(20, net::kTcpSyn)), 1);
  close(2);  // 2: cleared
  EXPECT_EQ(w.send(segment(21, net::kTcpSyn)), 0);
  EXPECT_EQ(w.send(segment(22, net::kTcpSyn)), 1);
  EXPECT_EQ(w.send(segment(23, net::kTcpSyn)), 0);  // 4 again: overloaded
  EXPECT_EQ(w.send(segment(24, net::kTcpSyn)), 1);
  EXPECT_EQ(w.send(segment(25, net::kTcpSyn)), 1);
}

// lc with upper and lower thresholds: the hysteresis band [l, u).
TEST(LeastConn, LowerThresholdEndsTheOverload) {
  Rig t;
  t.start(1, Sched::kLc, {1, 1}, {{3, 1}});
  Worker& w = *t.w_[0];
  for (uint16_t i = 0; i < 6; ++i) {
    w.send(segment(i, net::kTcpSyn));
    w.send(segment(i, net::kTcpAck));
  }
  // 0, 2, 4 on slot 0 (full at 3); 1, 3, 5 on slot 1.
  EXPECT_EQ(w.send(segment(10, net::kTcpSyn)), 1);
  w.send(segment(10, net::kTcpAck));
  auto close = [&](uint16_t client) {
    w.send(segment(client, net::kTcpRst));
    t.tick(2);
  };
  close(0);
  close(2);  // slot 0 down to 1 connection: not below the lower threshold (1)
  EXPECT_EQ(w.send(segment(11, net::kTcpSyn)), 1) << "slot 0 is still overloaded";
  close(4);  // 0 < 1: cleared
  EXPECT_EQ(w.send(segment(12, net::kTcpSyn)), 0);
}

// Every usable RS over its threshold: dropped, and counted as rs-overloaded.
TEST(LeastConn, EverythingOverloadedDrops) {
  for (Sched s : {Sched::kRr, Sched::kWrr, Sched::kSh, Sched::kHash, Sched::kMh, Sched::kLc, Sched::kWlc}) {
    Rig t;
    t.start(1, s, {1, 2}, {{2, 0}, {1, 0}});
    Worker& w = *t.w_[0];
    std::vector<int> per_rs(2, 0);
    uint16_t client = 0;
    for (; client < 3; ++client) {
      const int r = w.send(segment(client, net::kTcpSyn));
      ASSERT_TRUE(r == 0 || r == 1) << sched_name(s);
      ++per_rs[static_cast<size_t>(r)];
    }
    EXPECT_EQ(per_rs, (std::vector<int>{2, 1})) << sched_name(s) << ": each up to its threshold";
    Verdict v;
    EXPECT_EQ(w.send(segment(client, net::kTcpSyn), &v), -1) << sched_name(s);
    EXPECT_EQ(v.drop, net::Drop::kRsOverloaded) << sched_name(s);
    EXPECT_EQ(w.dropped(net::Drop::kRsOverloaded), 1u) << sched_name(s);
    // An existing connection still forwards.
    EXPECT_EQ(w.send(segment(0, net::kTcpAck)) >= 0, true) << sched_name(s);
  }
}

// A hash scheduler's flow whose RS is overloaded goes to the next entry of the table,
// the same one every time while the flags stay.
TEST(LeastConn, HashSchedulersWalkOnPastAnOverloadedServer) {
  for (Sched s : {Sched::kSh, Sched::kHash, Sched::kMh}) {
    Rig t;
    t.start(1, s, {1, 1, 1}, {{1, 0}, {1, 0}});
    Worker& w = *t.w_[0];
    std::vector<int> per_rs(3, 0);
    for (uint16_t c = 0; c < 40; ++c) {
      const int r = w.send(segment(c, net::kTcpSyn));
      ASSERT_GE(r, 0) << sched_name(s);
      ++per_rs[static_cast<size_t>(r)];
    }
    EXPECT_LE(per_rs[0], 1) << sched_name(s);
    EXPECT_LE(per_rs[1], 1) << sched_name(s);
    EXPECT_GE(per_rs[2], 38) << sched_name(s);
  }
}
