// Where the director's snapshots go: the workers (control/publisher.hpp, RCU), or a
// recorder in tests. Publishing never blocks; a retired snapshot is freed by reclaim()
// once every worker has moved past it.
#pragma once

#include <cstdint>
#include <memory>

#include "lb/snapshot.hpp"

namespace drfwd::control {

class SnapshotSink {
 public:
  virtual ~SnapshotSink() = default;
  // Makes `next` the snapshot the workers use; returns its sequence number (1, 2, ...).
  virtual uint64_t publish(std::shared_ptr<const lb::Snapshot> next) = 0;
  virtual const lb::Snapshot* current() const = 0;
  virtual uint64_t published() const = 0;
  // The highest sequence number every worker has moved to (or beyond): nothing older
  // is in use. Advanced by reclaim().
  virtual uint64_t seen() const = 0;
  // Frees retired snapshots whose grace period is over; returns how many remain.
  virtual size_t reclaim() = 0;
};

}  // namespace drfwd::control
