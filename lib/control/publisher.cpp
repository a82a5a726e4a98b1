#include "control/publisher.hpp"

#include <rte_rcu_qsbr.h>

#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace drfwd::control {

Publisher::Publisher(uint32_t workers) {
  // Ordinary memory: a few cache lines, read by every worker once per loop.
  const size_t sz = (rte_rcu_qsbr_get_memsize(workers) + RTE_CACHE_LINE_SIZE - 1) & ~size_t{RTE_CACHE_LINE_SIZE - 1};
  qsbr_ = static_cast<rte_rcu_qsbr*>(std::aligned_alloc(RTE_CACHE_LINE_SIZE, sz));
  if (!qsbr_) throw std::runtime_error("cannot allocate the RCU state");
  std::memset(qsbr_, 0, sz);
  if (rte_rcu_qsbr_init(qsbr_, workers) != 0) {
    std::free(qsbr_);
    throw std::runtime_error("cannot initialise the RCU state");
  }
}

Publisher::~Publisher() {
  current_ptr_.store(nullptr, std::memory_order_release);
  retired_.clear();
  current_.reset();
  std::free(qsbr_);
}

uint64_t Publisher::publish(std::shared_ptr<const lb::Snapshot> next) {
  current_ptr_.store(next.get(), std::memory_order_release);
  ++published_;
  if (current_)
    retired_.push_back({std::move(current_), rte_rcu_qsbr_start(qsbr_), published_});
  else
    seen_ = published_;  // the first: there is nothing older for a worker to hold
  current_ = std::move(next);
  return published_;
}

size_t Publisher::reclaim() {
  while (!retired_.empty() && rte_rcu_qsbr_check(qsbr_, retired_.front().token, false) == 1) {
    seen_ = retired_.front().replaced_by;
    retired_.pop_front();
  }
  return retired_.size();
}

void Publisher::reclaim_all() {
  retired_.clear();
  seen_ = published_;
}

}  // namespace drfwd::control
