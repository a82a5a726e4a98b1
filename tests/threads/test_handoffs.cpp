// The worker/control hand-offs under real threads, without EAL or ports, built with
// ThreadSanitizer (-Db_sanitize=thread): any data race fails the test.
//
// Workers loop as lib/dataplane/worker.cpp does: register with the real Publisher's
// rte_rcu_qsbr, load the snapshot pointer with acquire once per burst, run the Forwarder
// over a burst of synthetic frames (IPv4 and IPv6), answer connection listings (both
// connection tables) between bursts, expire
// connections, report a quiescent state once per loop and go offline around a pause. One
// more worker fails partway (WorkerStatus). The test's main thread is the control core:
// hundreds of batches through the Director and the Publisher, control rounds (tick:
// resolution, health, reclaiming snapshots and slots), ARP answers, listings
// (ConnQuery), counters read (RsStats, lb::add), worker status read. At the end the
// connection accounting must hold and every snapshot and table must have been freed.
#include <gtest/gtest.h>
#include <rte_rcu_qsbr.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <iterator>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "config/command.hpp"
#include "config/model.hpp"
#include "control/accounting.hpp"
#include "control/conn_query.hpp"
#include "control/director.hpp"
#include "control/publisher.hpp"
#include "control/status.hpp"
#include "control_fakes.hpp"
#include "lb/forwarder.hpp"
#include "lb/handoff.hpp"
#include "net/arp.hpp"
#include "specs.hpp"

using namespace drfwd;
using test::ip;

namespace {

constexpr uint32_t kForwarding = 2;             // workers that run to the end
constexpr uint32_t kWorkers = kForwarding + 1;  // and one that fails
constexpr uint64_t kFailAfterLoops = 2000;
constexpr uint64_t kLoopsPerSecond = 100;  // the workers' clock runs fast: connections time out during the test
constexpr int kRounds = 2000;              // control rounds (batches)
constexpr double kRoundSeconds = 0.01;     // control clock per round

const char* const kVips[] = {"198.18.1.10", "198.18.1.11", "198.18.1.12", "198.18.1.13"};
constexpr int kFirstRs = 11, kRsCount = 16;  // real servers 198.18.0.11-26
// An IPv6 service, configured at the start and never changed (the random commands are
// about the IPv4 ones): its real servers are the hosts of 198.18.0.11 and .12 (same MACs),
// static neighbours on port 0, not health-checked, so it forwards throughout.
const char* const kVip6 = "2001:2::100";

// Every real server's MAC, static or resolved: 02:00:00:00:00:<last byte of its address>.
net::Mac mac_of(net::Ipv4 rs) { return net::Mac{{0x02, 0, 0, 0, 0, static_cast<uint8_t>(rs.value & 0xff)}}; }

// What the workers share with the control core (dp::WorkerShared without the ports).
struct Shared {
  const std::atomic<const lb::Snapshot*>* snapshot = nullptr;
  rte_rcu_qsbr* qsbr = nullptr;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> bad_forwards{0};  // forwarded frames whose new header no real server has
};

// A worker lcore as dp::Worker, with a pool of synthetic frames in place of its RX queue.
class Worker {
 public:
  Worker(uint32_t index, Shared& shared, uint64_t fail_after = 0)
      : index_(index),
        shared_(shared),
        fail_after_(fail_after),
        rs_counters_(std::make_unique<lb::RsCounters[]>(lb::kMaxRsSlots)),
        fwd_(index, table_, *counters_, rs_counters_.get()) {
    std::mt19937 rng(100 + index);
    const uint8_t flags[] = {net::kTcpSyn, net::kTcpAck, net::kTcpAck, net::kTcpAck, net::kTcpFin | net::kTcpAck,
                             net::kTcpRst};
    for (int i = 0; i < 256; ++i) {  // flows to every VIP there may be: 64 clients, 16 ports each
      test::FrameSpec s;
      s.dst = test::port_mac(static_cast<uint16_t>(i % 2));  // received on port i % 2
      s.saddr = net::Ipv4{ip("198.18.2.0").value + 1 + static_cast<uint32_t>(rng() % 64)};
      s.sport = static_cast<uint16_t>(1000 + rng() % 16);
      s.daddr = ip(kVips[rng() % 4]);
      if (rng() % 3 == 0) {
        s.proto = net::kProtoUdp;
        s.dport = 53;
      } else {
        s.tcp_flags = flags[rng() % 6];
      }
      pool_[i % 2].push_back(test::build(s));
    }
    for (int i = 0; i < 64; ++i) {  // IPv6 flows: 16 clients, 8 ports each
      test::Frame6Spec s;
      s.dst = test::port_mac(static_cast<uint16_t>(i % 2));
      s.saddr = test::ip6("2001:db8:2::1");
      s.saddr.bytes[15] = static_cast<uint8_t>(1 + rng() % 16);
      s.daddr = test::ip6(kVip6);
      s.sport = static_cast<uint16_t>(2000 + rng() % 8);
      s.tcp_flags = flags[rng() % 6];
      pool_[i % 2].push_back(test::build6(s));
    }
    for (const char* vip : kVips) {  // and clients asking for the VIPs: for the control core
      std::vector<uint8_t> f(net::kMinFrameLen);
      net::build_arp(f.data(), net::arp_request(test::mac("02:00:00:00:01:01"), ip("198.18.2.1"), ip(vip)));
      pool_[0].push_back(std::move(f));
    }
  }

  // The lcore entry point, as dp::Worker::main.
  static void main(Worker* w) {
    try {
      w->run();
      w->status_.stopped();
    } catch (const std::exception& e) {
      // dp::Worker::main leaves a failed worker online, holding back every later grace
      // period: harmless there, the control loop stops drfwd when it sees the failure.
      // The test goes on, so the worker goes offline. It stays registered: unregistering
      // happens inside librte_rcu, whose release ThreadSanitizer cannot see.
      rte_rcu_qsbr_thread_offline(w->shared_.qsbr, w->index_);
      w->status_.failed(e.what());
    }
  }

  const lb::WorkerCounters& counters() const { return *counters_; }
  const lb::RsCounters* rs_counters() const { return rs_counters_.get(); }
  // Before the threads start: every worker's per-RS counters (dp::WorkerSet).
  void set_peers(std::span<const lb::RsCounters* const> peers) { fwd_.set_peers(peers); }
  const lb::FlowTable& table() const { return table_; }
  const lb::FlowTable6& table6() const { return fwd_.conns6(); }
  lb::ConnDump& dump() { return dump_; }
  const lb::WorkerStatus& status() const { return status_; }

 private:
  void run() {
    rte_rcu_qsbr_thread_register(shared_.qsbr, index_);
    rte_rcu_qsbr_thread_online(shared_.qsbr, index_);
    status_.running();
    std::mt19937 rng(index_);
    uint64_t loops = 0;
    while (!shared_.stop.load(std::memory_order_relaxed)) {
      ++loops;
      const uint32_t now = static_cast<uint32_t>(loops / kLoopsPerSecond);
      const auto start = std::chrono::steady_clock::now();
      for (uint16_t port : {0, 1}) forward_burst(rng, port, now);  // the worker's RX queues
      fwd_.begin(shared_.snapshot->load(std::memory_order_acquire), now);
      if (dump_.pending()) dump_.step(table_, fwd_.conns6(), now);
      fwd_.expire(32);
      rte_rcu_qsbr_quiescent(shared_.qsbr, index_);
      counters_->busy_loop.record(static_cast<uint64_t>((std::chrono::steady_clock::now() - start).count()));
      if (fail_after_ && loops == fail_after_) throw std::runtime_error("injected failure");
      if (loops % 64 == 0) {  // the idle back-off: offline before pausing
        rte_rcu_qsbr_thread_offline(shared_.qsbr, index_);
        std::this_thread::yield();
        rte_rcu_qsbr_thread_online(shared_.qsbr, index_);
        lb::bump(counters_->idle_sleeps);
      }
      if ((loops & 0xff) == 0) {
        lb::bump(counters_->polls, 256);
        lb::store<uint64_t>(counters_->conns_in_use, table_.size());
      }
    }
    lb::store<uint64_t>(counters_->conns_in_use, table_.size());
    rte_rcu_qsbr_thread_offline(shared_.qsbr, index_);
    rte_rcu_qsbr_thread_unregister(shared_.qsbr, index_);
  }

  // dp::Worker::poll: the snapshot as published now, one burst received on `port` through the Forwarder.
  void forward_burst(std::mt19937& rng, uint16_t port, uint32_t now) {
    const uint32_t n = 1 + rng() % lb::kBurst;
    lb::Frame frames[lb::kBurst];
    lb::Verdict verdicts[lb::kBurst];
    for (uint32_t i = 0; i < n; ++i) {
      const std::vector<uint8_t>& f = pool_[port][rng() % pool_[port].size()];
      std::copy(f.begin(), f.end(), buffers_[i]);
      frames[i] = lb::Frame{buffers_[i], static_cast<uint32_t>(f.size()), static_cast<uint32_t>(f.size()), port, 0, {}};
      lb::bump(counters_->port[port].received);
      lb::bump(counters_->port[port].received_bytes, f.size());
    }
    fwd_.begin(shared_.snapshot->load(std::memory_order_acquire), now);
    fwd_.process_burst(frames, verdicts, n);
    for (uint32_t i = 0; i < n; ++i) {
      if (verdicts[i].action != lb::Verdict::Action::kForward) continue;
      const uint8_t* d = frames[i].data;  // RS MAC, then port 0's MAC: every RS is on port 0
      const bool sane = verdicts[i].port == 0 && d[0] == 2 && d[1] == 0 && d[4] == 0 && d[5] >= kFirstRs &&
                        d[5] < kFirstRs + kRsCount && std::equal(d + 6, d + 12, test::port_mac(0).bytes.begin());
      if (!sane) shared_.bad_forwards.fetch_add(1, std::memory_order_relaxed);
      lb::bump(counters_->port[0].forwarded);
    }
  }

  uint32_t index_;
  Shared& shared_;
  uint64_t fail_after_;
  lb::FlowTable table_{4096};
  std::unique_ptr<lb::WorkerCounters> counters_ = std::make_unique<lb::WorkerCounters>();
  std::unique_ptr<lb::RsCounters[]> rs_counters_;
  lb::Forwarder fwd_;
  lb::ConnDump dump_{4096};
  lb::WorkerStatus status_;
  std::vector<std::vector<uint8_t>> pool_[2];  // by receiving port
  uint8_t buffers_[lb::kBurst][128];
};

// The real Publisher, recording every snapshot and service table it is given, so the
// test can tell that each was freed.
class TrackingSink : public control::SnapshotSink {
 public:
  explicit TrackingSink(control::Publisher& pub) : pub_(pub) {}
  uint64_t publish(std::shared_ptr<const lb::Snapshot> next) override {
    snapshots.emplace_back(next);
    for (const auto& t : next->services) tables.emplace_back(t);
    return pub_.publish(std::move(next));
  }
  const lb::Snapshot* current() const override { return pub_.current(); }
  uint64_t published() const override { return pub_.published(); }
  uint64_t seen() const override { return pub_.seen(); }
  size_t reclaim() override { return pub_.reclaim(); }

  template <class T>
  static size_t alive(const std::vector<std::weak_ptr<T>>& v) {
    return static_cast<size_t>(std::count_if(v.begin(), v.end(), [](auto& w) { return !w.expired(); }));
  }
  std::vector<std::weak_ptr<const lb::Snapshot>> snapshots;
  std::vector<std::weak_ptr<const lb::ServiceTable>> tables;

 private:
  control::Publisher& pub_;
};

std::string service_words(int k) { return std::string(kVips[k % 4]) + (k < 4 ? " tcp 80" : " udp 53"); }
std::string service_words(const config::Service& s) {
  return net::to_string(s.key.vip) + " " + std::string(config::proto_name(s.key.proto)) + " " +
         std::to_string(s.key.port);
}
net::Ipv4 rs_ip(int r) { return net::Ipv4{ip("198.18.0.0").value + static_cast<uint32_t>(kFirstRs + r)}; }

// One command against the model as it is: mostly valid, sometimes not (a duplicate, a
// server that is not there), which refuses its whole batch.
std::string random_command(std::mt19937& rng, const config::Model& m) {
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  // lc, wlc, sed, nq and thresholds: each worker reads the others' per-RS counters.
  const char* const scheds[] = {"rr", "wrr", "sh", "mh", "hash", "lc", "wlc", "sed", "nq"};
  const size_t n_scheds = std::size(scheds);
  const auto& services = m.services();
  std::vector<const config::Service*> v4;  // the IPv6 service is left alone
  for (const config::Service& x : services)
    if (x.key.vip.is_v4()) v4.push_back(&x);
  const config::Service* s = v4.empty() ? nullptr : v4[pick(v4.size())];
  const std::string svc = s ? service_words(*s) : service_words(static_cast<int>(pick(8)));
  const net::Ipv4 any_rs = rs_ip(static_cast<int>(pick(kRsCount)));
  const net::Ipv4 its_rs = s && !s->rs.empty() ? s->rs[pick(s->rs.size())].ip.v4() : any_rs;
  auto first_v4_neighbour = [&]() -> net::IpAddr {
    for (const auto& [addr, n] : m.neighbours())
      if (addr.is_v4()) return addr;
    return any_rs;
  };
  switch (pick(12)) {
    case 0:
    case 1:
      return "vip add " + service_words(static_cast<int>(pick(8))) + " sched " + scheds[pick(n_scheds)] + " mh-size 251" +
             (pick(3) == 0 ? " persist 30" : "");
    case 2: return "vip del " + svc;
    case 3: return "vip set " + svc + " sched " + scheds[pick(n_scheds)];
    case 4:
    case 5:
    case 6:
      return "rs add " + svc + " " + net::to_string(any_rs) + " weight " + std::to_string(pick(4)) +
             (pick(3) == 0 ? " uthreshold " + std::to_string(1 + pick(8)) : "");
    case 7: return "rs del " + svc + " " + net::to_string(its_rs);
    case 8: return "rs set " + svc + " " + net::to_string(its_rs) + " weight " + std::to_string(pick(4));
    case 9: return "neigh add " + net::to_string(any_rs) + " " + net::to_string(mac_of(any_rs));
    case 10: return "neigh del " + net::to_string(first_v4_neighbour());
    default: return "set timeout udp " + std::to_string(30 + pick(300));
  }
}

std::vector<config::Command> random_batch(std::mt19937& rng, const config::Model& m) {
  std::vector<config::Command> batch;
  for (size_t n = 1 + rng() % 4; batch.size() < n;) batch.push_back(*config::parse_line(random_command(rng, m)));
  return batch;
}

// Stops and joins the workers however the test ends.
struct Joiner {
  Shared& shared;
  std::vector<std::thread>& threads;
  void join() {
    shared.stop.store(true);
    for (std::thread& t : threads)
      if (t.joinable()) t.join();
  }
  ~Joiner() { join(); }
};

}  // namespace

TEST(Handoffs, WorkersAndControlCoreUnderThreadSanitizer) {
  spdlog::set_level(spdlog::level::err);  // thousands of neighbour and health changes
  auto pub = std::make_unique<control::Publisher>(kWorkers);
  TrackingSink sink(*pub);
  Shared shared;
  shared.snapshot = &pub->pointer();
  shared.qsbr = pub->qsbr();
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<const lb::RsCounters*> rs_counters;
  std::vector<lb::ConnDump*> dumps;
  for (uint32_t i = 0; i < kWorkers; ++i) {
    workers.push_back(std::make_unique<Worker>(i, shared, i == kForwarding ? kFailAfterLoops : 0));
    rs_counters.push_back(workers.back()->rs_counters());
    dumps.push_back(&workers.back()->dump());
  }
  for (auto& w : workers) w->set_peers(rs_counters);

  config::Model model(2);
  for (const char* line : {"port 0 address 198.18.0.2/24", "port 1 address 198.18.4.2/24",
                           "set check interval 100ms timeout 100ms fall 2 rise 1",  // a probe every 10 rounds
                           "vip add 198.18.1.10 tcp 80 sched rr", "rs add 198.18.1.10 tcp 80 198.18.0.11",
                           "rs add 198.18.1.10 tcp 80 198.18.0.12", "neigh add 198.18.0.11 02:00:00:00:00:0b",
                           "vip add 2001:2::100 tcp 80 sched rr", "rs add 2001:2::100 tcp 80 2001:2::11",
                           "rs add 2001:2::100 tcp 80 2001:2::12", "neigh add 2001:2::11 02:00:00:00:00:0b port 0",
                           "neigh add 2001:2::12 02:00:00:00:00:0c port 0"})
    model.apply(*config::parse_line(line));
  control::DirectorSetup setup;
  setup.port_macs = {test::port_mac(0), test::port_mac(1)};
  setup.workers = kWorkers;
  auto prober = std::make_unique<test::FakeProber>();
  test::FakeProber* probes = prober.get();
  auto director = std::make_unique<control::Director>(std::move(model), setup, sink, rs_counters, std::move(prober));
  control::Director& d = *director;
  double now = 0;
  d.start(now);  // the first snapshot, before any worker runs (as the appliance does)

  std::vector<std::thread> threads;
  Joiner joiner{shared, threads};
  for (auto& w : workers) threads.emplace_back(Worker::main, w.get());

  control::ConnQuery query(dumps, sink);
  std::mt19937 rng(7);
  unsigned accepted = 0, refused = 0, listings = 0, slot_reuses = 0;  // slot_reuses: RSs seen in a reused slot
  unsigned listed6 = 0;  // IPv6 entries listed
  bool failure_seen = false;
  lb::WorkerScalars last_sum;
  for (int round = 0; round < kRounds; ++round) {
    now += kRoundSeconds;
    const std::vector<config::Command> batch = random_batch(rng, d.model());
    (d.apply(batch, now).ok ? accepted : refused)++;
    probes->results.push_back({rng() % 2 != 0, "probe"});  // half fail: servers go down and come back
    for (const control::ArpOut& q : d.tick(now).requests)
      if (rng() % 8)  // most servers answer
        d.on_arp(q.port, net::arp_reply(mac_of(q.arp.tpa), q.arp.tpa, q.arp.sha, q.arp.spa), now);
    if (round % 8 == 0 && !query.busy()) {
      std::optional<net::IpAddr> vip;  // any, an IPv4 VIP or the IPv6 one
      if (const auto k = rng() % 6; k < 4) vip = ip(kVips[k]);
      else if (k == 4) vip = test::any_ip(kVip6);
      const uint32_t limit = 1 + rng() % 2000;
      query.start(vip, limit, now, [&listings, &listed6, vip, limit](control::ConnListing l) {
        ++listings;
        EXPECT_LE(l.conns.size(), limit);
        for (const control::ConnStatus& c : l.conns) {
          if (vip) EXPECT_EQ(c.vip, *vip);
          EXPECT_EQ(c.client.is_v4(), c.vip.is_v4());
          listed6 += c.vip.is_v6();
        }
      });
    }
    query.poll(now);
    // Counters as every view reads them: per RS, and per worker summed.
    for (const control::ServiceStatus& s : control::service_status(d))
      for (const control::RsStatus& r : s.rs) {
        // Packets are read before bytes: a burst per worker may be in the bytes only.
        EXPECT_LE(r.counters.bytes, (r.counters.packets + kWorkers * lb::kBurst) * 128);
        slot_reuses += r.gen > 1;
      }
    lb::WorkerScalars sum;
    for (const auto& w : workers) lb::add(sum, w->counters());
    EXPECT_GE(sum.conn_new, last_sum.conn_new);
    EXPECT_GE(sum.idle_sleeps, last_sum.idle_sleeps);
    last_sum = sum;
    for (uint32_t i = 0; i < kForwarding; ++i) EXPECT_FALSE(workers[i]->status().has_failed()) << "worker " << i;
    if (!failure_seen && workers[kForwarding]->status().has_failed()) {
      EXPECT_EQ(workers[kForwarding]->status().failure(), "injected failure");
      failure_seen = true;
    }
    std::this_thread::yield();
  }

  // A last listing, the control clock standing still until the forwarding workers have
  // answered (a worker still busy with an abandoned request is asked once it is free):
  // at its deadline the failed worker is the only one missing.
  query.poll(now += control::ConnQuery::kTimeout);  // any listing under way ends
  std::optional<control::ConnListing> last;
  query.start(std::nullopt, lb::ConnDump::kMaxRecords, now, [&](control::ConnListing l) { last = std::move(l); });
  auto wait_for_answers = [&] {
    for (int spin = 0; spin < 10'000'000 && !(dumps[0]->idle() && dumps[1]->idle()); ++spin) std::this_thread::yield();
  };
  wait_for_answers();
  query.poll(now);
  wait_for_answers();
  query.poll(now + control::ConnQuery::kTimeout);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->missing, std::vector<uint32_t>{kForwarding});
  EXPECT_GT(last->conns.size(), 0u);
  const auto v6 = std::count_if(last->conns.begin(), last->conns.end(), [](auto& c) { return c.vip.is_v6(); });
  EXPECT_GT(v6, 0) << "no IPv6 connection in the last listing";
  EXPECT_LT(static_cast<size_t>(v6), last->conns.size()) << "no IPv4 connection in the last listing";

  const size_t freed_while_running = sink.snapshots.size() - TrackingSink::alive(sink.snapshots);
  joiner.join();
  for (uint32_t i = 0; i < kForwarding; ++i) EXPECT_EQ(workers[i]->status().state(), lb::WorkerStatus::State::kStopped);
  EXPECT_TRUE(workers[kForwarding]->status().has_failed());
  EXPECT_EQ(workers[kForwarding]->status().failure(), "injected failure");

  // What the run did: enough of everything to mean something.
  EXPECT_EQ(shared.bad_forwards.load(), 0u);
  EXPECT_GT(accepted, kRounds / 4u);
  EXPECT_GT(refused, 0u);
  EXPECT_GT(listings, 5u);
  EXPECT_GT(listed6, 0u);
  EXPECT_GT(slot_reuses, 0u) << "no RS slot was reused: RsStats::rebase did not run against live workers";
  EXPECT_GT(last_sum.conn_new, 1000u);
  EXPECT_GT(last_sum.conn_expired, 0u);
  EXPECT_GT(d.counters().health_changes, 0u);
  EXPECT_GT(freed_while_running, sink.snapshots.size() / 2) << "snapshots were freed only at the end";

  // Accounting at exit, as the appliance does it once the workers have stopped.
  std::vector<const lb::FlowTable*> tables;
  std::vector<const lb::FlowTable6*> tables6;
  for (const auto& w : workers) {
    tables.push_back(&w->table());
    tables6.push_back(&w->table6());
  }
  for (const std::string& p : control::conn_accounting(tables, d.model(), d.rs_stats(), tables6)) ADD_FAILURE() << p;

  std::printf("%zu snapshots published (%zu freed while the workers ran), %u batches accepted, %u refused, "
              "%u listings (%u IPv6 entries), %lu health changes, %lu connections scheduled, %lu expired\n",
              sink.snapshots.size(), freed_while_running, accepted, refused, listings, listed6,
              static_cast<unsigned long>(d.counters().health_changes), static_cast<unsigned long>(last_sum.conn_new),
              static_cast<unsigned long>(last_sum.conn_expired));

  // Every retired snapshot is freed by the next control round now that every worker is
  // offline; the current one goes with the Publisher. Service tables go with them.
  d.tick(now += 1);
  EXPECT_EQ(pub->retired(), 0u);
  EXPECT_EQ(TrackingSink::alive(sink.snapshots), 1u);
  director.reset();
  pub.reset();
  EXPECT_EQ(TrackingSink::alive(sink.snapshots), 0u);
  EXPECT_EQ(TrackingSink::alive(sink.tables), 0u);
}
