// The control core's work, run on the main lcore: applies configuration and publishes
// snapshots, drains the workers' exception rings, prints periodic statistics. Nothing
// here runs on a worker.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "control/publisher.hpp"
#include "dataplane/port.hpp"
#include "dataplane/stats.hpp"
#include "dataplane/worker.hpp"

namespace drfwd::control {

struct ControllerOptions {
  double stats_period = 0;  // seconds; 0: none
};

class Controller {
 public:
  Controller(config::Model model, std::vector<dp::PortInfo>& ports,
             std::vector<std::unique_ptr<dp::Worker>>& workers, Publisher& publisher,
             ControllerOptions opts);

  // Builds the snapshot for the current model and publishes it.
  void publish();

  // Runs one configuration line (either grammar); throws config::ConfigError and
  // changes nothing if it is refused. Returns what changed.
  std::string execute(std::string_view line);

  // The control loop; returns when `stop` becomes true.
  void run(const std::atomic<bool>& stop);

  // Called once the workers have stopped: drains rings, frees retired snapshots.
  void shutdown();

  const config::Model& model() const { return model_; }
  dp::Totals totals() const { return dp::collect(ports_, workers_); }
  std::string port_stats(const dp::Totals& cur, const dp::Totals* prev) const {
    return dp::format_port_stats(ports_, cur, prev);
  }
  // Every counter as one JSON document (the --stats-json file).
  std::string stats_json(const dp::Totals& t, const std::string& extra_fields = {}) const;

  struct RsTotals {
    uint64_t packets = 0, bytes = 0, conns = 0;
    int64_t active = 0, inactive = 0, persist = 0;
  };
  RsTotals rs_totals(uint32_t slot) const;

 private:
  void drain_control_rings();
  void baseline_slot(uint32_t slot);

  config::Model model_;
  std::vector<dp::PortInfo>& ports_;
  std::vector<std::unique_ptr<dp::Worker>>& workers_;
  Publisher& publisher_;
  ControllerOptions opts_;
  config::Runtime runtime_;
  std::vector<RsTotals> rs_baseline_;  // by slot: counters at the slot's latest hand-out
  uint64_t control_packets_ = 0;       // exception packets taken off the rings
};

}  // namespace drfwd::control
