#include "control/control_loop.hpp"

#include <spdlog/spdlog.h>

#include <thread>

namespace drfwd::control {

bool ControlLoop::round() {
  const double t = now();
  slow_path_.poll(t);
  if (kernel_) kernel_->poll(director_, t);
  slow_path_.send(director_.tick(t));
  if (kernel_) kernel_->sync(director_.routes(), director_.model().vip_claim().route_table, t);
  for (auto& p : pollers_) p(t);
  for (const auto& w : workers_)
    if (w->status().has_failed()) {
      spdlog::critical("worker {} (lcore {}) stopped: {}", w->index(), w->lcore(), w->status().failure());
      return false;
    }
  return true;
}

bool ControlLoop::run(const std::atomic<bool>& stop) {
  while (!stop.load(std::memory_order_relaxed)) {
    if (!round()) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

}  // namespace drfwd::control
