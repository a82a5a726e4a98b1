// Stand-ins for what the control core talks to, for tests of the control side without
// EAL (unit and thread tiers): a health prober whose probes finish when the test says,
// and a snapshot sink that records what it is given and whose grace periods the test
// ends by hand.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "control/health.hpp"
#include "control/snapshot_sink.hpp"
#include "lb/snapshot.hpp"

namespace drfwd::test {

// A prober whose probes finish when the test says, with the result it says.
class FakeProber : public control::Prober {
 public:
  std::deque<control::ProbeResult> results;  // consumed in order; empty: probes stay running
  unsigned started = 0;
  std::vector<control::HealthTarget> targets;  // every probe started, in order
  uint64_t start(const control::HealthTarget& t, double) override {
    ++started;
    targets.push_back(t);
    running.push_back(next_id);
    return next_id++;
  }
  std::vector<std::pair<uint64_t, control::ProbeResult>> poll(double) override {
    std::vector<std::pair<uint64_t, control::ProbeResult>> out;
    while (!running.empty() && !results.empty()) {
      out.emplace_back(running.front(), results.front());
      running.pop_front();
      results.pop_front();
    }
    return out;
  }
  void cancel(uint64_t id) override { std::erase(running, id); }
  std::deque<uint64_t> running;
  uint64_t next_id = 1;
};

// A sink that keeps every snapshot it is given (history) and reports as seen what the
// test sets: the workers "move on" when the test says so.
class RecordingSink : public control::SnapshotSink {
 public:
  uint64_t publish(std::shared_ptr<const lb::Snapshot> next) override {
    history.push_back(next);
    current_ = std::move(next);
    return ++published_;
  }
  const lb::Snapshot* current() const override {
    if (fail_current) throw std::bad_alloc();  // the director builds on current(): the build fails
    return current_.get();
  }
  uint64_t published() const override { return published_; }
  uint64_t seen() const override { return seen_by_workers; }
  size_t reclaim() override {
    ++reclaims;
    return 0;
  }

  std::vector<std::shared_ptr<const lb::Snapshot>> history;
  uint64_t seen_by_workers = 0;  // what seen() reports
  bool fail_current = false;
  unsigned reclaims = 0;

 private:
  std::shared_ptr<const lb::Snapshot> current_;
  uint64_t published_ = 0;
};

}  // namespace drfwd::test
