// Publishes snapshots to the workers: one atomic pointer store, then the old snapshot
// is kept until an rte_rcu_qsbr grace period has passed (every worker reported a
// quiescent state or went offline), and freed by a later reclaim(). Never blocks.
// DPDK's RCU library needs no EAL: this runs in the unit and ThreadSanitizer tests too.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>

#include "control/snapshot_sink.hpp"
#include "lb/snapshot.hpp"

struct rte_rcu_qsbr;

namespace drfwd::control {

class Publisher : public SnapshotSink {
 public:
  explicit Publisher(uint32_t workers);  // throws std::runtime_error
  ~Publisher() override;
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  rte_rcu_qsbr* qsbr() const { return qsbr_; }
  const std::atomic<const lb::Snapshot*>& pointer() const { return current_ptr_; }

  uint64_t publish(std::shared_ptr<const lb::Snapshot> next) override;
  const lb::Snapshot* current() const override { return current_.get(); }
  uint64_t published() const override { return published_; }
  uint64_t seen() const override { return seen_; }
  size_t reclaim() override;
  // After the workers have stopped: free everything retired.
  void reclaim_all();
  size_t retired() const { return retired_.size(); }

 private:
  struct Retired {
    std::shared_ptr<const lb::Snapshot> snap;
    uint64_t token;
    uint64_t replaced_by;  // the sequence number published when this one retired
  };
  uint64_t published_ = 0;
  uint64_t seen_ = 0;
  rte_rcu_qsbr* qsbr_ = nullptr;
  std::atomic<const lb::Snapshot*> current_ptr_{nullptr};
  std::shared_ptr<const lb::Snapshot> current_;
  std::deque<Retired> retired_;
};

}  // namespace drfwd::control
