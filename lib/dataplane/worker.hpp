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
#include "lb/handoff.hpp"
#include "lb/snapshot.hpp"

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
  uint32_t exception_pps = 0;    // this worker's share of the exception rate limit; 0: none
  uint64_t start_tsc = 0;
  uint64_t tsc_hz = 0;
};

class Worker {
 public:
  // index: this worker's queue id on every port and its RCU thread id.
  Worker(uint32_t index, unsigned lcore, uint32_t conn_capacity, const WorkerShared& shared);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  lb::ConnDump& conn_dump() { return dump_; }
  const lb::WorkerStatus& status() const { return status_; }

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

 private:
  void run();
  uint16_t poll_port(uint16_t port);  // returns packets received
  void send_for_control();
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
  lb::ConnDump dump_;
  lb::WorkerStatus status_;
};

// The workers, one per worker lcore: made, launched, stopped and joined. Whichever way
// the owner leaves, the workers are stopped and joined before any of them is freed.
class WorkerSet {
 public:
  // Throws std::runtime_error (EAL memory).
  WorkerSet(const std::vector<unsigned>& lcores, uint32_t conn_capacity, const WorkerShared& shared);
  ~WorkerSet() { stop(); }
  WorkerSet(const WorkerSet&) = delete;
  WorkerSet& operator=(const WorkerSet&) = delete;

  // Starts every worker's loop on its lcore; ip_csum_ports: ports with RX IPv4 checksum offload.
  void launch(uint32_t ip_csum_ports);
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
