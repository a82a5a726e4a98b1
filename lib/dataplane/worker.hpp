// A worker lcore: polls its RX queues (LcoreConf), runs the Forwarder over each burst,
// sends what it forwards on its own TX queue of the egress port, hands ARP and the
// appliance's own traffic to the control core through its ring, frees the rest.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dataplane/port.hpp"
#include "lb/counters.hpp"
#include "lb/flow_table.hpp"
#include "lb/forwarder.hpp"
#include "lb/handoff.hpp"
#include "lb/snapshot.hpp"

struct rte_mbuf;
struct rte_ring;
struct rte_rcu_qsbr;

namespace drfwd::dp {

using lb::kBurst;

struct WorkerShared {
  const std::atomic<const lb::Snapshot*>* snapshot = nullptr;
  rte_rcu_qsbr* qsbr = nullptr;
  std::atomic<bool>* stop = nullptr;
  uint16_t n_ports = 0;
  uint32_t idle_backoff_us = 0;  // 0: busy-poll always
  bool trust_ipv4_checksum = false;  // frames the NIC did not check are taken as correct
  uint32_t exception_pps = 0;    // this worker's share of the exception rate limit; 0: none
  uint64_t start_tsc = 0;
  uint64_t tsc_hz = 0;
};

// Frees every frame still in `r` (a worker's exception or transmit ring).
void drain(rte_ring* r);

// A worker's share of the ports, as data (l3fwd's lcore_conf): the RX queues it polls,
// in order, and its TX queue (the same id on every port: one writer per TX queue).
struct RxQueue {
  uint16_t port;
  uint16_t queue;
};
struct LcoreConf {
  std::vector<RxQueue> rx;
  uint16_t tx_queue = 0;
  uint32_t ip_csum_ports = 0;  // ports whose NIC verifies IPv4 header checksums (bitmap)
  uint32_t vlan_rx_ports = 0;  // ports whose NIC strips 802.1Q tags (bitmap)
  uint32_t vlan_tx_ports = 0;  // ports whose NIC inserts 802.1Q tags (bitmap)
};

// Writes an 802.1Q tag in front of the frame, into the mbuf's headroom; false (nothing
// changed) when there is no room.
bool push_vlan_tag(rte_mbuf* m, uint16_t vlan);

// The worker clock: whole seconds since start. A compare per loop; a division only when
// the TSC passes the next second's mark.
class SecondClock {
 public:
  SecondClock(uint64_t start_tsc, uint64_t hz) : start_(start_tsc), hz_(hz), next_(start_tsc) {}
  uint32_t advance(uint64_t tsc) {
    if (__builtin_expect(tsc >= next_, 0)) {
      const uint64_t seconds = (tsc - start_) / hz_;
      now_ = static_cast<uint32_t>(seconds);
      next_ = start_ + (seconds + 1) * hz_;
    }
    return now_;
  }
  uint32_t now() const { return now_; }

 private:
  uint64_t start_, hz_, next_;
  uint32_t now_ = 0;
};

class Worker {
 public:
  // index: this worker's RCU thread id (and, by WorkerSet's convention, its queue id).
  // Throws std::runtime_error (EAL memory).
  Worker(uint32_t index, unsigned lcore, LcoreConf conf, uint32_t conn_capacity, uint32_t conn6_capacity,
         const WorkerShared& shared);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // lcore entry point (rte_eal_remote_launch). Never throws.
  static int main(void* self);

  uint32_t index() const { return index_; }
  unsigned lcore() const { return lcore_; }
  const LcoreConf& conf() const { return conf_; }
  // Before launch: which ports' NICs verify IPv4 checksums and insert VLAN tags.
  void set_offloads(uint32_t ip_csum_ports, uint32_t vlan_rx_ports, uint32_t vlan_tx_ports) {
    conf_.ip_csum_ports = ip_csum_ports;
    conf_.vlan_rx_ports = vlan_rx_ports;
    conf_.vlan_tx_ports = vlan_tx_ports;
  }
  rte_ring* control_ring() const { return ring_.get(); }
  // Frames the control core wants sent (mbuf->port = the data port to send them on).
  rte_ring* transmit_ring() const { return tx_ring_.get(); }
  // Connection sync: records this worker announces (worker enqueues, control core
  // dequeues) and records from the other directors (control core enqueues, worker
  // dequeues between bursts). Elements are lb::SyncRecord.
  rte_ring* sync_out_ring() const { return sync_out_.get(); }
  rte_ring* sync_in_ring() const { return sync_in_.get(); }
  static constexpr unsigned kSyncOutRing = 4096, kSyncInRing = 8192;
  // Control core: announce every connection again (another director instance appeared).
  // The worker walks its table a slice per loop, within the sync rate cap.
  void post_bulk_announce() { bulk_request_.fetch_add(1, std::memory_order_release); }
  bool bulk_announcing() const { return bulk_busy_.load(std::memory_order_acquire); }
  const lb::WorkerCounters& counters() const { return *counters_; }
  const lb::RsCounters* rs_counters() const { return rs_counters_.get(); }
  // Before launch: every worker's RS counters, this one's included (Forwarder::set_peers).
  void set_peers(std::span<const lb::RsCounters* const> peers) { fwd_->set_peers(peers); }
  lb::FlowTable& conns() { return *conns_; }
  const lb::FlowTable& conns() const { return *conns_; }
  // The IPv6 connection table (the Forwarder holds it). Read only once the workers stopped.
  const lb::FlowTable6& conns6() const { return fwd_->conns6(); }
  lb::ConnDump& conn_dump() { return dump_; }
  const lb::WorkerStatus& status() const { return status_; }

 private:
  struct EalFree {
    void operator()(void* p) const;
  };
  struct RingFree {  // frees the frames still in it, then the ring
    void operator()(rte_ring* r) const;
  };
  struct RecordRingFree {  // a ring of records, not frames
    void operator()(rte_ring* r) const;
  };
  class RcuReader;

  void run();
  uint16_t poll(const RxQueue& q);  // returns frames received
  // vlans: the OR of the frames' VLANs (0: none came tagged).
  uint64_t to_frames(uint16_t port, rte_mbuf** rx, lb::Frame* frames, uint16_t n, uint16_t& vlans) const;
  static uint16_t untag(rte_mbuf* m);
  void tag(rte_mbuf* m, uint16_t out, uint16_t vlan) const;

  void dispatch(uint16_t port, rte_mbuf** rx, const lb::Frame* frames, const lb::Verdict* v, uint16_t n,
                uint64_t bytes);
  void sort_and_send(uint16_t port, rte_mbuf** rx, const lb::Frame* frames, const lb::Verdict* v, uint16_t n);
  void transmit(uint16_t out, rte_mbuf** m, uint16_t n, uint64_t bytes, lb::PortCounters& in);
  void to_control(rte_mbuf** m, const uint8_t* cls, uint16_t n, lb::PortCounters& in);
  void housekeeping();
  void send_for_control();
  uint32_t exception_allowance(int cls, uint32_t wanted);  // token bucket per class
  double sync_rate() const;  // this worker's share of the sync rate cap, records per second
  void hand_sync();  // this burst's sync records to the control core (capped by rate)
  void take_sync();  // records from the other directors into the table
  void bulk_step();  // the next slice of a bulk re-announcement

  uint32_t index_;
  unsigned lcore_;
  LcoreConf conf_;
  WorkerShared shared_;
  SecondClock clock_;
  std::unique_ptr<lb::WorkerCounters, EalFree> counters_;  // cache aligned, on the worker's socket
  std::unique_ptr<lb::RsCounters[], EalFree> rs_counters_;  // kMaxRsSlots entries
  std::unique_ptr<lb::FlowTable> conns_;
  std::unique_ptr<lb::Forwarder> fwd_;
  std::unique_ptr<rte_ring, RingFree> ring_;
  std::unique_ptr<rte_ring, RingFree> tx_ring_;
  std::unique_ptr<rte_ring, RecordRingFree> sync_out_;
  std::unique_ptr<rte_ring, RecordRingFree> sync_in_;
  struct Bucket {
    double tokens = 0;
    uint64_t last_tsc = 0;
    // Up to `wanted` tokens at `rate` per second, with 50 ms worth (at least 32) of burst.
    uint32_t take(double rate, uint32_t wanted, uint64_t now, uint64_t hz);
    uint32_t available(double rate, uint64_t now, uint64_t hz);  // refills, takes nothing
  };
  Bucket exc_[lb::kExcClasses];
  Bucket sync_bucket_;
  alignas(64) std::atomic<uint64_t> bulk_request_{0};  // control writes (a line of its own)
  alignas(64) std::atomic<bool> bulk_busy_{false};     // worker writes
  uint64_t bulk_seen_ = 0;
  uint32_t bulk_cursor_ = 0;
  bool bulk_again_ = false;
  lb::ConnDump dump_;
  lb::WorkerStatus status_;
};

// The workers, one per worker lcore: made, launched, stopped and joined. Whichever way
// the owner leaves, the workers are stopped and joined before any of them is freed.
class WorkerSet {
 public:
  // Worker i polls queue i of every port and sends on TX queue i. Throws
  // std::runtime_error (EAL memory).
  WorkerSet(const std::vector<unsigned>& lcores, uint32_t conn_capacity, uint32_t conn6_capacity, const WorkerShared& shared);
  ~WorkerSet() { stop(); }
  WorkerSet(const WorkerSet&) = delete;
  WorkerSet& operator=(const WorkerSet&) = delete;

  // Starts every worker's loop on its lcore, using the offloads the ports have enabled.
  void launch(const std::vector<PortInfo>& ports);
  // Sets the stop flag and waits until every loop has returned.
  void stop();
  bool any_failed() const;
  const std::vector<std::unique_ptr<Worker>>& all() const { return workers_; }
  size_t size() const { return workers_.size(); }

 private:
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<bool>* stop_;
  bool launched_ = false;
};

}  // namespace drfwd::dp
