// The control core's work, run on the main lcore: applies configuration and publishes
// snapshots; answers ARP for VIPs and announces them; resolves real servers' MACs;
// runs health checks; moves the appliance's own traffic between the ports and the
// kernel exception interfaces; prints statistics. Nothing here runs on a worker, and
// nothing here blocks.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "config/views.hpp"
#include "control/health.hpp"
#include "control/kernel_if.hpp"
#include "control/neighbours.hpp"
#include "control/publisher.hpp"
#include "dataplane/port.hpp"
#include "dataplane/stats.hpp"
#include "dataplane/worker.hpp"

struct rte_mbuf;
struct rte_mempool;

namespace drfwd::control {

struct ControllerOptions {
  double stats_period = 0;          // seconds; 0: none
  bool kernel_interfaces = true;    // create a TAP per port for the appliance's own traffic
  std::string kernel_ifname = "drfwd";  // prefix: drfwd0, drfwd1, ...
  uint16_t mtu = 1500;                   // the kernel interfaces', as the ports'
  NeighConfig neigh;
  unsigned announce_count = 3;      // gratuitous ARPs per VIP and port
  double announce_interval = 1.0;   // seconds between them
};

// What the control core itself did, for statistics.
struct ControlCounters {
  uint64_t exception_in = 0;    // frames taken off the workers' rings
  uint64_t arp_in = 0;
  uint64_t arp_malformed = 0;   // not a well-formed Ethernet/IPv4 ARP request or reply
  uint64_t arp_conflicting = 0; // claimed a real server's address for another MAC: not passed on
  uint64_t arp_vip_replies = 0;
  uint64_t arp_announces = 0;   // gratuitous ARPs sent for VIPs
  uint64_t arp_requests = 0;    // resolution requests sent for real servers
  uint64_t to_kernel = 0;
  uint64_t to_kernel_dropped = 0;  // no kernel interface on that port, or its queue was full
  uint64_t from_kernel = 0;
  uint64_t from_kernel_dropped = 0;
  uint64_t tx_dropped = 0;      // could not hand a frame to the transmitting worker
  uint64_t health_changes = 0;
  uint64_t publishes = 0;
};

// The answer to one request from the console or the control socket.
struct Reply {
  bool ok = true;
  std::string text;
};

class Controller {
 public:
  Controller(config::Model model, std::vector<dp::PortInfo>& ports,
             std::vector<std::unique_ptr<dp::Worker>>& workers, Publisher& publisher, rte_mempool* pool,
             ControllerOptions opts);
  ~Controller();

  // Creates the kernel interfaces, starts resolution and health checks, publishes the
  // first snapshot and schedules the VIP announcements. Throws on failure.
  void start();

  // Runs one line of either grammar: a configuration command (applied whole or not at
  // all) or a query. Never throws; a refusal is a Reply with ok == false.
  Reply execute(std::string_view line);
  // Configuration commands applied together: all of them or none.
  Reply execute_batch(const std::vector<std::string>& lines);

  // What `quit` sets; functions run every round of the loop (console, control socket).
  void set_stop_flag(std::atomic<bool>* stop) { stop_ = stop; }
  void add_poller(std::function<void()> f) { pollers_.push_back(std::move(f)); }

  // Status for the operator (also used by telemetry).
  std::vector<config::ServiceStatus> service_status() const;
  uint64_t conn_capacity() const;

  // The control loop; returns when `stop` becomes true.
  void run(const std::atomic<bool>& stop);
  // Called once the workers have stopped: drains rings, frees retired snapshots.
  void shutdown();
  // Once the workers have stopped: checks every worker's connection table (structure,
  // every entry bound to an RS) and that each RS's connection gauges (active, inactive,
  // persistence templates; summed over workers) equal the entries in the tables that
  // point at it. Returns what is wrong, one line each; empty when all is accounted for.
  std::vector<std::string> conn_accounting() const;

  const config::Model& model() const { return model_; }
  const NeighbourTable& neighbours() const { return neigh_; }
  const HealthChecker& health() const { return health_; }
  const ControlCounters& counters() const { return cc_; }
  const std::vector<std::optional<KernelInterface>>& kernel_interfaces() const { return kernel_; }

  dp::Totals totals() const { return dp::collect(ports_, workers_); }
  std::string port_stats(const dp::Totals& cur, const dp::Totals* prev) const {
    return dp::format_port_stats(ports_, cur, prev);
  }
  // Every counter as one JSON document (the --stats-json file).
  std::string stats_json(const dp::Totals& t, const std::string& extra_fields = {}) const;

  lb::RsCounters rs_totals(uint32_t slot) const;  // summed over workers, from the slot's baseline

 private:
  double now() const;
  void publish();
  std::string apply(const config::Command& c);  // throws ConfigError
  Reply query(const config::Query& q);
  std::vector<config::ConnStatus> dump_conns(std::optional<net::Ipv4> vip, uint32_t limit, uint64_t& in_use);
  std::string show_stats() const;
  std::string show_ports() const;
  std::string show_neigh() const;
  void sample_rates();
  void clear_stats();
  void zero_service(const std::optional<config::ServiceKey>& key);
  void refresh_targets();
  void poll_exceptions();
  void poll_kernel();
  // The MAC drfwd holds for a neighbour: static, else resolved; none if neither.
  std::optional<net::Mac> known_mac(net::Ipv4 ip) const;
  void handle_arp(uint16_t port, rte_mbuf* m);
  void log_neigh_events();
  void to_kernel(uint16_t port, rte_mbuf* m);
  void send_arp(uint16_t port, const net::Arp& a);
  void transmit(uint16_t port, rte_mbuf* m);
  void announce_new_vips();
  void send_due_announcements();
  bool serves(uint16_t port, net::Ipv4 vip) const;
  std::optional<net::Ipv4> dip(uint16_t port) const;
  void baseline_slot(uint32_t slot);

  config::Model model_;
  std::vector<dp::PortInfo>& ports_;
  std::vector<std::unique_ptr<dp::Worker>>& workers_;
  Publisher& publisher_;
  rte_mempool* pool_;
  ControllerOptions opts_;
  config::Runtime runtime_;
  NeighbourTable neigh_;
  HealthChecker health_;
  std::vector<std::optional<KernelInterface>> kernel_;  // by data port
  std::set<net::Ipv4> vips_;                            // announced so far
  struct Announcement {
    double when;
    uint16_t port;
    net::Ipv4 vip;
    unsigned left;
  };
  std::vector<Announcement> announcements_;
  bool need_publish_ = false;
  std::vector<lb::RsCounters> rs_baseline_;  // by slot: counters at the slot's latest hand-out
  ControlCounters cc_;
  std::chrono::steady_clock::time_point epoch_ = std::chrono::steady_clock::now();
  std::atomic<bool>* stop_ = nullptr;
  std::vector<std::function<void()>> pollers_;
  // Rates over the last second: per RS slot and per port.
  struct Rate {
    uint64_t conns = 0, packets = 0, bytes = 0;  // last sample
    double cps = 0, pps = 0, bps = 0;
  };
  std::map<uint32_t, Rate> rs_rates_;
  dp::Totals last_sample_;
  dp::Totals rates_;  // per-second deltas of the last sample period
  double last_sample_time_ = 0;
  dp::Totals stats_baseline_;  // clear stats
};

}  // namespace drfwd::control
