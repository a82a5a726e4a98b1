// A worker lcore: polls its RX queue on every port, runs the Forwarder over each burst,
// sends what it forwards on its own TX queue of the egress port, hands ARP and the
// appliance's own traffic to the control core through its ring, frees the rest.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lb/counters.hpp"
#include "lb/flow_table.hpp"
#include "lb/forwarder.hpp"
#include "lb/snapshot.hpp"

struct rte_ring;
struct rte_rcu_qsbr;

namespace drfwd::dp {

constexpr uint16_t kBurst = 32;

struct WorkerShared {
  const std::atomic<const lb::Snapshot*>* snapshot = nullptr;
  rte_rcu_qsbr* qsbr = nullptr;
  std::atomic<bool>* stop = nullptr;
  uint16_t n_ports = 0;
  uint32_t idle_backoff_us = 0;  // 0: busy-poll always
  uint32_t exception_pps = 0;    // this worker's share of the exception rate limit; 0: none
  uint64_t start_tsc = 0;
  uint64_t tsc_hz = 0;
};

// A snapshot of some of a worker's connections, for show conns / ipvsadm -lc. The
// control core sets the filter and sizes `out`, then bumps `request`; the worker walks
// its table a few hundred entries per loop (forwarding goes on), fills `out` and sets
// `done` to `request`. Nothing else is shared.
struct ConnDump {
  struct Record {
    net::FlowKey key;
    uint32_t rs_slot;
    uint32_t rs_gen;
    lb::ConnState state;
    uint32_t expires;  // seconds left
  };
  // filter (network order; zero fields match anything)
  uint32_t vip_be = 0;
  uint32_t limit = 0;
  std::vector<Record> out;  // capacity >= limit, set by the control core
  uint32_t count = 0;
  uint64_t in_use = 0;
  std::atomic<uint64_t> request{0};
  std::atomic<uint64_t> done{0};
  uint32_t cursor = 0;  // worker's position
};

class Worker {
 public:
  // index: this worker's queue id on every port and its RCU thread id.
  Worker(uint32_t index, unsigned lcore, uint32_t conn_capacity, const WorkerShared& shared);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  ConnDump& conn_dump() { return dump_; }

  // Ports whose RX IPv4 checksum offload is on (bitmap); set before launch.
  void set_ip_csum_ports(uint32_t bitmap) { ip_csum_offload_ = bitmap; }

  // lcore entry point (rte_eal_remote_launch). Never throws.
  static int main(void* self);

  uint32_t index() const { return index_; }
  unsigned lcore() const { return lcore_; }
  rte_ring* control_ring() const { return ring_; }
  // Frames the control core wants sent (mbuf->port = the data port to send them on).
  rte_ring* transmit_ring() const { return tx_ring_; }
  const lb::WorkerCounters& counters() const { return *counters_; }
  const lb::RsCounters* rs_counters() const { return rs_counters_; }
  lb::FlowTable& conns() { return *conns_; }
  const std::string& failure() const { return failure_; }  // set if the loop died

 private:
  void run();
  uint16_t poll_port(uint16_t port);  // returns packets received
  void send_for_control();
  void dump_step();
  uint32_t exception_allowance(int cls, uint32_t wanted);  // token bucket per class

  uint32_t index_;
  unsigned lcore_;
  WorkerShared shared_;
  uint32_t ip_csum_offload_ = 0;
  lb::WorkerCounters* counters_ = nullptr;  // rte_zmalloc, cache aligned
  lb::RsCounters* rs_counters_ = nullptr;   // kMaxRsSlots entries
  std::unique_ptr<lb::FlowTable> conns_;
  std::unique_ptr<lb::Forwarder> fwd_;
  rte_ring* ring_ = nullptr;
  rte_ring* tx_ring_ = nullptr;
  uint32_t now_ = 0;  // worker clock, seconds since start
  struct Bucket {
    double tokens = 0;
    uint64_t last_tsc = 0;
  };
  Bucket exc_[lb::kExcClasses];
  ConnDump dump_;
  std::string failure_;
};

}  // namespace drfwd::dp
