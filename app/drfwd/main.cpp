// drfwd: options -> EAL -> ports -> lcores -> control loop. Nothing else lives here.
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <malloc.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "config/json.hpp"
#include "config/loader.hpp"
#include "console/console.hpp"
#include "console/ctlsock.hpp"
#include "console/feed.hpp"
#include "console/telemetry.hpp"
#include "control/controller.hpp"
#include "control/publisher.hpp"
#include "dataplane/port.hpp"
#include "dataplane/stats.hpp"
#include "dataplane/worker.hpp"
#include "drfwd/options.hpp"

namespace {

// Exit status when drfwd ran and stopped, but an mbuf or a connection entry was not
// accounted for at exit (1: failure, 2: bad command line).
constexpr int kExitAccounting = 3;

std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free);

void on_signal(int) { g_stop.store(true, std::memory_order_relaxed); }

struct EalGuard {
  bool active = false;
  ~EalGuard() {
    if (active) rte_eal_cleanup();
  }
};

uint32_t default_mbufs(size_t ports, size_t workers, const drfwd::app::Options& o) {
  const size_t per_queue = size_t{o.rxd} + o.txd + drfwd::dp::kBurst;
  const size_t n = ports * workers * per_queue + workers * (256 + 1024 + drfwd::dp::kBurst * (ports + 2)) + 4096;
  return static_cast<uint32_t>(std::max<size_t>(n, 8192));
}

int fail(const std::string& msg) {
  spdlog::critical("{}", msg);
  return 1;
}

int run(const drfwd::app::Options& opt, int eal_argc, char** eal_argv) {
  // The control core allocates and frees whole tables (a Maglev table is 256 KiB) on
  // every change. From the heap, never mmap/munmap: an munmap would shoot down TLB
  // entries on the worker cores too (an interrupt to each), and returning memory to the
  // kernel buys nothing on an appliance. (tools/reconfig-bench could not tell the
  // difference on the 2-vCPU lab machines, whose preemption noise is larger: see
  // docs/hardening.md. This follows the rule, not a measurement.)
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  using namespace drfwd;
  EalGuard eal;
  if (rte_eal_init(eal_argc, eal_argv) < 0)
    return fail(std::string("EAL initialisation failed: ") + rte_strerror(rte_errno));
  eal.active = true;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  std::vector<dp::PortInfo> ports;
  try {
    ports = dp::discover_ports();
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  if (ports.size() > lb::kMaxPorts) return fail("too many ports: drfwd handles up to 32");

  std::vector<unsigned> lcores;
  unsigned lc;
  RTE_LCORE_FOREACH_WORKER(lc) lcores.push_back(lc);
  if (lcores.empty())
    return fail("no worker lcore: the main lcore is the control core, give at least one more (e.g. -l 0,1; "
                "--lcores 0@0,1@1,2@1 puts two workers on CPU 1)");

  // Configuration before any port is touched: a bad file stops everything here.
  config::Model model(static_cast<uint16_t>(ports.size()));
  if (!opt.config_file.empty()) {
    try {
      config::load_file(opt.config_file, model);
    } catch (const config::ConfigError& e) {
      std::string msg = e.what();
      if (!e.usage().empty()) msg += "\n  usage: " + e.usage();
      return fail(msg);
    }
    spdlog::info("{}: {} service(s) loaded", opt.config_file, model.services().size());
  }
  if (!opt.import_ipvsadm.empty()) {
    try {
      config::load_ipvsadm_save(opt.import_ipvsadm, model);
    } catch (const config::ConfigError& e) {
      std::string msg = e.what();
      if (!e.usage().empty()) msg += "\n  usage: " + e.usage();
      return fail(msg);
    }
    spdlog::info("{}: ipvsadm rules imported ({} service(s) now)", opt.import_ipvsadm, model.services().size());
  }

  static_assert(app::kMbufHeadroom == RTE_PKTMBUF_HEADROOM, "options.cpp sizes frames with this headroom");
  dp::PortSetup setup;
  setup.mtu = static_cast<uint16_t>(opt.mtu);
  setup.queues = static_cast<uint16_t>(lcores.size());
  setup.rxd = opt.rxd;
  setup.txd = opt.txd;
  setup.promiscuous = opt.promiscuous;
  try {
    dp::check_ports(ports, setup);
  } catch (const std::exception& e) {
    return fail(e.what());
  }

  // The control socket before any port starts: a socket in use stops drfwd cleanly.
  std::unique_ptr<console::ControlSocket> socket;
  control::Controller* controller = nullptr;  // set once it exists; the socket answers only then
  if (opt.socket_path != "none") {
    try {
      socket = std::make_unique<console::ControlSocket>(
          opt.socket_path,
          [&controller](std::string_view line) {
            if (!controller) return console::Answer{false, "starting\n"};
            return console::handler_for(*controller)(line);
          },
          [&controller](const std::vector<std::string>& lines) {
            if (!controller) return console::Answer{false, "starting\n"};
            control::Reply r = controller->execute_batch(lines);
            return console::Answer{r.ok, r.text};
          });
    } catch (const std::exception& e) {
      return fail(e.what());
    }
  }

  const uint32_t nb_mbufs = opt.total_num_mbufs ? opt.total_num_mbufs : default_mbufs(ports.size(), lcores.size(), opt);
  rte_mempool* pool = rte_pktmbuf_pool_create("drfwd_mbufs", nb_mbufs, 256, 0, static_cast<uint16_t>(opt.mbuf_size),
                                              static_cast<int>(rte_socket_id()));
  if (!pool)
    return fail("cannot create a pool of " + std::to_string(nb_mbufs) + " mbufs: " + rte_strerror(rte_errno) +
                " (raise -m or lower --total-num-mbufs)");
  setup.pool = pool;

  int rc = 0;
  {
    std::unique_ptr<control::Publisher> publisher;
    std::vector<std::unique_ptr<dp::Worker>> workers;
    try {
      publisher = std::make_unique<control::Publisher>(static_cast<uint32_t>(lcores.size()));
      dp::WorkerShared shared;
      shared.snapshot = &publisher->pointer();
      shared.qsbr = publisher->qsbr();
      shared.stop = &g_stop;
      shared.n_ports = static_cast<uint16_t>(ports.size());
      shared.idle_backoff_us = opt.idle_backoff_us;
      shared.exception_pps = opt.exception_pps ? std::max<uint32_t>(1, opt.exception_pps / lcores.size()) : 0;
      shared.start_tsc = rte_rdtsc();
      shared.tsc_hz = rte_get_tsc_hz();
      for (size_t i = 0; i < lcores.size(); ++i)
        workers.push_back(std::make_unique<dp::Worker>(static_cast<uint32_t>(i), lcores[i], opt.conn_table_size, shared));
      for (dp::PortInfo& p : ports) dp::configure_and_start(p, setup);
    } catch (const std::exception& e) {
      dp::stop_and_close(ports);
      workers.clear();
      publisher.reset();
      rte_mempool_free(pool);
      return fail(e.what());
    }

    control::ControllerOptions copt;
    copt.stats_period = opt.stats_period;
    copt.kernel_interfaces = opt.kernel_interfaces;
    copt.kernel_ifname = opt.kernel_ifname;
    copt.mtu = static_cast<uint16_t>(opt.mtu);
    control::Controller ctl(std::move(model), ports, workers, *publisher, pool, copt);
    try {
      ctl.start();
    } catch (const std::exception& e) {
      ctl.shutdown();
      dp::stop_and_close(ports);
      return fail(e.what());
    }
    ctl.set_stop_flag(&g_stop);
    controller = &ctl;
    if (socket) {
      ctl.add_poller([&socket] { socket->poll(); });
      spdlog::info("control socket {}", socket->path());
    }
    if (console::Telemetry::install()) {
      auto next = std::make_shared<std::chrono::steady_clock::time_point>();
      ctl.add_poller([&ctl, next] {
        const auto t = std::chrono::steady_clock::now();
        if (t < *next) return;
        *next = t + std::chrono::seconds(1);
        console::Telemetry::update(console::telemetry_data(ctl));
      });
    }

    uint32_t csum_ports = 0;
    for (const dp::PortInfo& p : ports)
      if (p.ip_csum) csum_ports |= 1u << p.id;
    for (auto& w : workers) {
      w->set_ip_csum_ports(csum_ports);
      rte_eal_remote_launch(dp::Worker::main, w.get(), w->lcore());
    }
    spdlog::info("forwarding on {} port(s) with {} worker(s); Ctrl-C to stop", ports.size(), workers.size());
    std::unique_ptr<console::Console> cons;
    if (opt.interactive) {
      cons = std::make_unique<console::Console>(console::handler_for(ctl), [] { g_stop.store(true); });
      ctl.add_poller([&cons] { cons->poll(); });
    }

    try {
      ctl.run(g_stop);
    } catch (const std::exception& e) {
      spdlog::critical("control loop: {}", e.what());
      rc = 1;
    }
    g_stop.store(true);
    rte_eal_mp_wait_lcore();
    for (auto& w : workers)
      if (!w->failure().empty()) rc = 1;

    cons.reset();  // the terminal back to normal before the final statistics
    controller = nullptr;
    dp::Totals final_totals = ctl.totals();
    dp::stop_and_close(ports);
    ctl.shutdown();

    // Accounting at exit: every connection entry and every mbuf. A failure is logged
    // and makes the exit status 3, so tests and supervisors see it.
    const std::vector<std::string> conn_problems = ctl.conn_accounting();
    for (const std::string& p : conn_problems) spdlog::error("at exit: {}", p);
    const unsigned avail = rte_mempool_avail_count(pool);
    const unsigned size = pool->size;
    config::JsonWriter extra;
    extra.begin_object()
        .field("mbufs", uint64_t{size})
        .field("mbufs_available", uint64_t{avail})
        .field("mbufs_leaked", uint64_t{size - avail})
        .field("conn_tables_consistent", conn_problems.empty())
        .end_object();
    std::string extra_fields = extra.str().substr(1, extra.str().size() - 2);
    if (size != avail) spdlog::error("at exit: {} mbuf(s) not returned to the pool", size - avail);
    if ((size != avail || !conn_problems.empty()) && rc == 0) rc = kExitAccounting;

    std::printf("\n  ---------------------- Final statistics ----------------------\n%s",
                ctl.port_stats(final_totals, nullptr).c_str());
    std::fflush(stdout);
    if (!opt.stats_json.empty()) {
      std::ofstream f(opt.stats_json);
      f << ctl.stats_json(final_totals, extra_fields);
      if (!f) {
        spdlog::error("{}: cannot write statistics", opt.stats_json);
        rc = 1;
      }
    }
    workers.clear();
    publisher.reset();
  }
  rte_mempool_free(pool);
  spdlog::info("stopped");
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  // EAL takes the words before "--", drfwd the words after it (as dpdk-testpmd).
  int split = -1;
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--") == 0) {
      split = i;
      break;
    }
  std::vector<std::string> app_args;
  if (split >= 0) {
    for (int i = split + 1; i < argc; ++i) app_args.emplace_back(argv[i]);
  } else {
    for (int i = 1; i < argc; ++i)
      if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h") || !std::strcmp(argv[i], "--version"))
        app_args.emplace_back(argv[i]);
  }

  auto parsed = drfwd::app::parse_options(app_args);
  if (!parsed.options) {
    (parsed.exit_code ? std::cerr : std::cout) << parsed.text;
    return parsed.exit_code;
  }
  if (split < 0 && !app_args.empty()) return 0;

  std::shared_ptr<spdlog::logger> logger;
  try {
    logger = parsed.options->log_file.empty()
                 ? spdlog::stderr_color_mt("drfwd")
                 : spdlog::basic_logger_mt("drfwd", parsed.options->log_file);
  } catch (const spdlog::spdlog_ex& e) {
    std::cerr << "drfwd: --log-file: " << e.what() << "\n";
    return 2;
  }
  spdlog::set_default_logger(logger);
  spdlog::flush_on(spdlog::level::info);
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e [%^%l%$] %v");
  spdlog::set_level(spdlog::level::from_str(parsed.options->log_level));

  const int eal_argc = split >= 0 ? split : argc;
  try {
    return run(*parsed.options, eal_argc, argv);
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
}
