#include "drfwd/appliance.hpp"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <spdlog/spdlog.h>

#include <net/if.h>
#include <systemd/sd-daemon.h>

#include <cstdio>
#include <fstream>
#include <stdexcept>

#include "config/loader.hpp"
#include "console/json.hpp"
#include "console/stats_views.hpp"
#include "console/telemetry.hpp"
#include "control/accounting.hpp"

namespace drfwd::app {

namespace {

uint32_t default_mbufs(size_t ports, size_t workers, const Options& o) {
  const size_t per_queue = size_t{o.rxd} + o.txd + lb::kBurst;
  // The control core's: its TAPs' receive rings (512 each, 64 for a VLAN's), ARP and so on.
  const size_t vlan_taps = o.kernel_interfaces && RTE_MAX_ETHPORTS > 2 * ports ? RTE_MAX_ETHPORTS - 2 * ports : 0;
  const size_t n = ports * workers * per_queue + workers * (256 + 1024 + lb::kBurst * (ports + 2)) + 4096 +
                   64 * vlan_taps;
  return static_cast<uint32_t>(std::max<size_t>(n, 8192));
}

dp::PortSetup port_setup(const Options& opt, size_t workers) {
  static_assert(kMbufHeadroom == RTE_PKTMBUF_HEADROOM, "options.cpp sizes frames with this headroom");
  dp::PortSetup setup;
  setup.mtu = static_cast<uint16_t>(opt.mtu);
  setup.queues = static_cast<uint16_t>(workers);
  setup.rxd = opt.rxd;
  setup.txd = opt.txd;
  setup.promiscuous = opt.promiscuous;
  return setup;
}

// A state change for systemd (Type=notify); nothing when not started by it.
void notify_systemd(const std::string& state) { sd_notify(0, state.c_str()); }

}  // namespace

void Appliance::PoolDeleter::operator()(rte_mempool* p) const { rte_mempool_free(p); }

Appliance::Appliance(const Options& opt, config::Model model, std::vector<dp::PortInfo> ports,
                     std::vector<unsigned> lcores, std::atomic<bool>& stop, std::atomic<bool>& reload)
    : opt_(opt), stop_(stop), reload_(reload), ports_(std::move(ports)) {
  dp::PortSetup setup = port_setup(opt, lcores.size());
  dp::check_ports(ports_.info(), setup);

  // The control socket before any port starts: a socket in use stops drfwd cleanly. It
  // answers "starting" until the operator exists.
  if (opt.socket_path != "none")
    socket_ = std::make_unique<console::ControlSocket>(
        opt.socket_path,
        [this](std::string_view line, console::Reply reply) {
          if (!operator_) return reply({false, "starting\n"});
          operator_->execute(line, loop_->now(), std::move(reply));
        },
        [this](const std::vector<std::string>& lines, console::Reply reply) {
          if (!operator_) return reply({false, "starting\n"});
          operator_->execute_batch(lines, loop_->now(), std::move(reply));
        });

  // --metrics likewise: an address in use stops drfwd before any port starts.
  if (opt.metrics_at)
    metrics_ = std::make_unique<console::HttpServer>(*opt.metrics_at, [this]() -> std::optional<std::string> {
      if (!operator_) return std::nullopt;
      return operator_->metrics();
    });

  const uint32_t nb_mbufs = opt.total_num_mbufs ? opt.total_num_mbufs : default_mbufs(ports_.size(), lcores.size(), opt);
  pool_.reset(rte_pktmbuf_pool_create("drfwd_mbufs", nb_mbufs, 256, 0, static_cast<uint16_t>(opt.mbuf_size),
                                      static_cast<int>(rte_socket_id())));
  if (!pool_)
    throw std::runtime_error("cannot create a pool of " + std::to_string(nb_mbufs) + " mbufs: " +
                             rte_strerror(rte_errno) + " (raise -m or lower --total-num-mbufs)");
  setup.pool = pool_.get();

  publisher_ = std::make_unique<control::Publisher>(static_cast<uint32_t>(lcores.size()));
  dp::WorkerShared shared;
  shared.snapshot = &publisher_->pointer();
  shared.qsbr = publisher_->qsbr();
  shared.stop = &stop_;
  shared.n_ports = static_cast<uint16_t>(ports_.size());
  shared.idle_backoff_us = opt.idle_backoff_us;
  shared.trust_ipv4_checksum = opt.trust_ipv4_checksum;
  if (opt.trust_ipv4_checksum)
    spdlog::info("--ipv4-checksum trust: IPv4 header checksums are checked only where the NIC checks them");
  if (opt.mtu < 1280)
    spdlog::warn("--mtu {}: below IPv6's minimum of 1280 (RFC 8200): IPv6 frames larger than that are dropped "
                 "and the kernel interfaces have no IPv6", opt.mtu);
  shared.exception_pps = opt.exception_pps ? std::max<uint32_t>(1, opt.exception_pps / lcores.size()) : 0;
  shared.start_tsc = rte_rdtsc();
  shared.tsc_hz = rte_get_tsc_hz();
  workers_ = std::make_unique<dp::WorkerSet>(lcores, opt.conn_table_size, opt.conn6_table_size, shared);
  ports_.start(setup);

  control::DirectorSetup ds;
  for (const dp::PortInfo& p : ports_.info()) ds.port_macs.push_back(p.mac);
  ds.workers = static_cast<uint32_t>(workers_->size());
  ds.health_checks = opt.kernel_interfaces;
  std::vector<const lb::RsCounters*> rs_counters;
  for (const auto& w : workers_->all()) rs_counters.push_back(w->rs_counters());
  director_ = std::make_unique<control::Director>(std::move(model), ds, *publisher_, std::move(rs_counters),
                                                  std::make_unique<control::CheckProber>());
  slow_path_ = std::make_unique<control::SlowPath>(
      ports_.info(), workers_->all(), pool_.get(),
      control::SlowPathSetup{opt.kernel_interfaces, opt.kernel_ifname, static_cast<uint16_t>(opt.mtu)}, *director_);
  slow_path_->start();
  if (opt.kernel_interfaces) {
    kernel_ = std::make_unique<control::KernelState>(slow_path_->kernel_ifindexes());
  }
  if (opt.kernel_interfaces) sync_ = std::make_unique<control::SyncDaemon>();
  loop_ = std::make_unique<control::ControlLoop>(*director_, *slow_path_, kernel_.get(), sync_.get(), workers_->all());
  std::vector<control::RssView> rss;
  for (const dp::PortInfo& p : ports_.info())
    rss.push_back({p.rss_key, p.rss_reta, (p.rss_hf & RTE_ETH_RSS_NONFRAG_IPV4_TCP) != 0,
                   (p.rss_hf & RTE_ETH_RSS_NONFRAG_IPV4_UDP) != 0});
  loop_->set_rss(std::move(rss));
  director_->start(loop_->now());
  operator_ = std::make_unique<console::Operator>(
      console::Operator::Parts{*director_, *slow_path_, ports_.info(), workers_->all(), stop_, sync_.get()});
  add_pollers();
}

Appliance::~Appliance() = default;

void Appliance::add_pollers() {
  loop_->add_poller([this](double now) { operator_->poll(now); });
  loop_->add_poller([this](double now) {
    if (reload_.exchange(false, std::memory_order_relaxed)) reload(now);
  });
  if (socket_) {
    loop_->add_poller([this](double) { socket_->poll(); });
    spdlog::info("control socket {}", socket_->path());
  }
  if (metrics_) {
    loop_->add_poller([this](double now) { metrics_->poll(now); });
    spdlog::info("metrics at http://{}/metrics", metrics_->address());
  }
  operator_->set_telemetry(console::Telemetry::install());
  if (opt_.stats_period > 0) {
    auto prev = std::make_shared<dp::Totals>(operator_->totals());
    auto next = std::make_shared<double>(opt_.stats_period);
    loop_->add_poller([this, prev, next](double now) {
      if (now < *next) return;
      dp::Totals cur = operator_->totals();
      std::fputs(console::period_stats(ports_.info(), cur, prev.get()).c_str(), stdout);
      std::fflush(stdout);
      *prev = std::move(cur);
      *next += opt_.stats_period;
    });
  }
}

void Appliance::reload(double now) {
  const config::ConfigFiles files = config_files(opt_);
  if (files.empty()) {
    spdlog::info("reload: drfwd was started without configuration files: nothing to read");
    return;
  }
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  notify_systemd("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(uint64_t(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000));
  spdlog::info("reload: reading the configuration files again");
  try {
    config::Model wanted = director_->model().blank();
    std::vector<std::string> notes;
    config::load_files(files, wanted, notes);
    for (const std::string& note : notes) spdlog::info("reload: {}", note);
    const console::Answer a = operator_->reload(wanted, now);
    const std::string text = a.text.substr(0, a.text.find('\n'));
    if (a.ok)
      spdlog::info("reload: {}", text);
    else
      spdlog::error("reload refused, nothing changed: {}", text);
  } catch (const config::ConfigError& e) {
    spdlog::error("reload refused, nothing changed: {}", e.what());
  } catch (const std::exception& e) {
    spdlog::error("reload failed, nothing changed: {}", e.what());
  }
  notify_systemd("READY=1");
}

int Appliance::run() {
  workers_->launch(ports_.info());
  spdlog::info("forwarding on {} port(s) with {} worker(s); Ctrl-C to stop", ports_.size(), workers_->size());
  // Every port is up and the configuration applied (the first snapshot went out when the
  // director started): ready, for systemd's Type=notify.
  notify_systemd("READY=1\nSTATUS=forwarding on " + std::to_string(ports_.size()) + " port(s) with " +
                 std::to_string(workers_->size()) + " worker(s)");
  if (opt_.interactive) {
    console_ = std::make_unique<console::Console>(
        [this](std::string_view line, console::Reply reply) {
          operator_->execute(line, loop_->now(), std::move(reply));
        },
        [this] { stop_.store(true); });
    loop_->add_poller([this](double) { console_->poll(); });
  }
  int rc = 0;
  try {
    if (!loop_->run(stop_)) rc = kExitFailure;
  } catch (const std::exception& e) {
    spdlog::critical("control loop: {}", e.what());
    rc = kExitFailure;
  }
  return finish(rc);
}

int Appliance::finish(int rc) {
  notify_systemd("STOPPING=1");
  workers_->stop();
  if (workers_->any_failed()) rc = kExitFailure;
  console_.reset();  // the terminal back to normal before the final statistics
  const dp::Totals final_totals = operator_->totals();
  ports_.stop_and_close();
  if (kernel_) kernel_->withdraw_all();
  slow_path_->shutdown();
  publisher_->reclaim_all();

  // Accounting at exit: every connection entry and every mbuf. A failure is logged and
  // makes the exit status 3, so tests and supervisors see it.
  std::vector<const lb::FlowTable*> tables;
  std::vector<const lb::FlowTable6*> tables6;
  for (const auto& w : workers_->all()) {
    tables.push_back(&w->conns());
    tables6.push_back(&w->conns6());
  }
  const std::vector<std::string> conn_problems =
      control::conn_accounting(tables, director_->model(), director_->rs_stats(), tables6);
  for (const std::string& p : conn_problems) spdlog::error("at exit: {}", p);
  const unsigned avail = rte_mempool_avail_count(pool_.get());
  const unsigned size = pool_->size;
  if (size != avail) spdlog::error("at exit: {} mbuf(s) not returned to the pool", size - avail);
  if ((size != avail || !conn_problems.empty()) && rc == 0) rc = kExitAccounting;

  std::printf("\n  ---------------------- Final statistics ----------------------\n%s",
              console::period_stats(ports_.info(), final_totals, nullptr).c_str());
  std::fflush(stdout);
  if (!opt_.stats_json.empty()) {
    console::JsonWriter extra;
    extra.begin_object()
        .field("mbufs", uint64_t{size})
        .field("mbufs_available", uint64_t{avail})
        .field("mbufs_leaked", uint64_t{size - avail})
        .field("conn_tables_consistent", conn_problems.empty())
        .end_object();
    std::ofstream f(opt_.stats_json);
    f << operator_->stats_json(final_totals, extra.str().substr(1, extra.str().size() - 2));
    if (!f) {
      spdlog::error("{}: cannot write statistics", opt_.stats_json);
      rc = kExitFailure;
    }
  }
  return rc;
}

}  // namespace drfwd::app
