// Publishes snapshots to the workers: one atomic pointer store, then the old snapshot
// is kept until an rte_rcu_qsbr grace period has passed (every worker reported a
// quiescent state or went offline), and freed by a later reclaim(). Never blocks.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>

#include "lb/snapshot.hpp"

struct rte_rcu_qsbr;

namespace drfwd::control {

class Publisher {
 public:
  explicit Publisher(uint32_t workers);  // throws std::runtime_error
  ~Publisher();
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  rte_rcu_qsbr* qsbr() const { return qsbr_; }
  const std::atomic<const lb::Snapshot*>& pointer() const { return current_ptr_; }
  const std::shared_ptr<const lb::Snapshot>& current() const { return current_; }

  void publish(std::shared_ptr<const lb::Snapshot> next);
  // Frees retired snapshots whose grace period is over; returns how many remain.
  size_t reclaim();
  // After the workers have stopped: free everything retired.
  void reclaim_all();
  size_t retired() const { return retired_.size(); }

 private:
  struct Retired {
    std::shared_ptr<const lb::Snapshot> snap;
    uint64_t token;
  };
  rte_rcu_qsbr* qsbr_ = nullptr;
  std::atomic<const lb::Snapshot*> current_ptr_{nullptr};
  std::shared_ptr<const lb::Snapshot> current_;
  std::deque<Retired> retired_;
};

}  // namespace drfwd::control
