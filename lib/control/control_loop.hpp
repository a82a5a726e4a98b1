// The control core's loop, on the main lcore: each round moves the exception path's
// frames, reads the kernel interfaces' address changes, runs the director's periodic
// work and sends what it asks for, brings the kernel's VIP routes up to date, moves
// connection sync records (workers -> messages out, messages in -> workers), then the
// pollers (console, control socket, statistics), checks that every worker is still
// running, and sleeps 0.2 ms. Nothing in a round blocks.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "control/director.hpp"
#include "control/kernel_state.hpp"
#include "control/rss.hpp"
#include "control/slow_path.hpp"
#include "control/sync.hpp"
#include "dataplane/worker.hpp"

namespace drfwd::control {

class ControlLoop {
 public:
  using Poller = std::function<void(double now)>;

  // kernel: the kernel interfaces' addresses and VIP routes (none without kernel interfaces).
  // sync: connection synchronisation (none without kernel interfaces).
  ControlLoop(Director& director, SlowPath& slow_path, KernelState* kernel, SyncDaemon* sync,
              const std::vector<std::unique_ptr<dp::Worker>>& workers)
      : director_(director), slow_path_(slow_path), kernel_(kernel), sync_(sync), workers_(workers) {}

  // Seconds since the loop was made (monotonic): the clock every control decision uses.
  double now() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_).count();
  }
  void add_poller(Poller p) { pollers_.push_back(std::move(p)); }
  // Each port's RSS (by port id), so that received sync entries go to the worker the
  // flow reaches; a port whose RSS is not known makes them go to every worker.
  void set_rss(std::vector<RssView> rss) { rss_ = std::move(rss); }

  // Runs rounds until `stop`; returns false if a worker failed (logged).
  bool run(const std::atomic<bool>& stop);
  // One round (run() without the sleep), for tests and the first round.
  bool round();

 private:
  void pump_sync(double now);

  Director& director_;
  SlowPath& slow_path_;
  KernelState* kernel_;
  uint64_t kernel_serial_ = 0;  // the slow path's kernel interfaces KernelState knows
  SyncDaemon* sync_;
  const std::vector<std::unique_ptr<dp::Worker>>& workers_;
  std::vector<Poller> pollers_;
  std::vector<RssView> rss_;
  bool sync_ready_ = false;
  uint64_t sync_version_ = 0;  // the snapshot whose model the sync daemon follows
  bool bulk_due_ = false;
  double last_bulk_ = -1e9;
  std::chrono::steady_clock::time_point epoch_ = std::chrono::steady_clock::now();
};

}  // namespace drfwd::control
