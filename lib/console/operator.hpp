// What an operator's line does: the console, the control socket and drfwdctl's batches
// all come here. A configuration command goes to the director as a batch of one; a
// batch as one batch (all or nothing); a query is answered from the director's state,
// the workers' counters and the ports. Answers that need the workers (connection
// listings) come later, from poll(): nothing here waits.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/request.hpp"
#include "console/answer.hpp"
#include "console/stats_views.hpp"
#include "control/conn_query.hpp"
#include "control/director.hpp"
#include "control/slow_path.hpp"
#include "control/sync.hpp"
#include "dataplane/port.hpp"
#include "dataplane/worker.hpp"

namespace drfwd::console {

class Operator {
 public:
  struct Parts {
    control::Director& director;
    control::SlowPath& slow_path;
    const std::vector<dp::PortInfo>& ports;
    const std::vector<std::unique_ptr<dp::Worker>>& workers;
    std::atomic<bool>& stop;  // what quit sets
    const control::SyncDaemon* sync = nullptr;  // none: no connection sync (tests)
  };
  explicit Operator(Parts p);

  // One line of either grammar. `reply` runs once, now or from a later poll().
  void execute(std::string_view line, double now, Reply reply);
  // Configuration commands applied together: all of them or none.
  void execute_batch(const std::vector<std::string>& lines, double now, Reply reply);
  // A reload: what differs between the running configuration and `wanted` (the files
  // read again), applied as one batch (config::reconcile); every change logged. The
  // answer says how many changes, or why nothing changed.
  Answer reload(const config::Model& wanted, double now);
  // Each control round: finishes connection listings, samples rates once a second,
  // refreshes the telemetry copy (if `telemetry`).
  void poll(double now);
  void set_telemetry(bool on) { telemetry_ = on; }

  // Every counter now (since start).
  dp::Totals totals() const;
  ControlReading control_reading() const;
  uint64_t conn_capacity() const;
  // The --stats-json document from totals read at exit.
  std::string stats_json(const dp::Totals& t, const std::string& extra_fields) const;
  // The --metrics body (Prometheus' text format) from the counters now, read as show
  // stats reads them: nothing on a worker changes.
  std::string metrics() const;

 private:
  void query(const config::Query& q, double now, Reply& reply);
  // The director applies the batch (all or nothing); the kernel interfaces whose address
  // it changed follow. Every configuration change goes through here.
  control::BatchResult commit(std::span<const config::Command> batch, double now);
  Answer apply(std::span<const config::Command> batch, double now);
  void list_conns(const config::query::ShowConns& q, double now, Reply& reply);
  void ipvsadm_list(const config::query::IpvsList& q, double now, Reply& reply);
  Answer save_config(const std::string& path) const;
  Answer show_stats() const;
  Answer show_ports() const;
  // Zeroes the real-server counters of `key` (every service if none) and, if
  // port_and_worker, the port and worker counters show stats shows.
  void clear_stats(const std::optional<config::ServiceKey>& key, bool port_and_worker);
  void sample_rates(double now);

  Parts p_;
  control::ConnQuery conns_;
  dp::Totals baseline_;  // clear stats
  dp::Totals last_sample_;
  dp::Totals rates_;     // per second, over the last sample period
  double last_sample_time_ = -1;
  bool telemetry_ = false;
};

}  // namespace drfwd::console
