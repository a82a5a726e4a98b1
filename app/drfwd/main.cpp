// drfwd: options -> EAL -> ports -> lcores -> configuration -> the appliance (app/drfwd/
// appliance.hpp), which owns and runs everything else.
#include <malloc.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "config/keepalived.hpp"
#include "config/loader.hpp"
#include "dataplane/port.hpp"
#include "drfwd/appliance.hpp"
#include "drfwd/options.hpp"

namespace {

std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free);

void on_signal(int) { g_stop.store(true, std::memory_order_relaxed); }

struct EalSession {
  bool active = false;
  ~EalSession() {
    if (active) rte_eal_cleanup();
  }
};

int fail(const std::string& msg) {
  spdlog::critical("{}", msg);
  return drfwd::app::kExitFailure;
}

// The configuration files given at start, before any port is touched: a bad file stops
// everything here, naming the file and line.
void load_configuration(const drfwd::app::Options& opt, drfwd::config::Model& model) {
  using namespace drfwd;
  if (!opt.config_file.empty()) {
    config::load_file(opt.config_file, model);
    spdlog::info("{}: {} service(s) loaded", opt.config_file, model.services().size());
  }
  if (!opt.import_ipvsadm.empty()) {
    config::load_ipvsadm_save(opt.import_ipvsadm, model);
    spdlog::info("{}: ipvsadm rules imported ({} service(s) now)", opt.import_ipvsadm, model.services().size());
  }
  if (!opt.import_keepalived.empty()) {
    const config::KeepalivedConfig k = config::translate_keepalived(opt.import_keepalived);
    for (const std::string& note : k.notes) spdlog::info("{}", note);
    config::load_translated(k, model);
    spdlog::info("{}: keepalived configuration imported: {} command(s), {} note(s) ({} service(s) now)",
                 opt.import_keepalived, k.lines.size(), k.notes.size(), model.services().size());
  }
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
  EalSession eal;
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

  config::Model model(static_cast<uint16_t>(ports.size()));
  model.set_kernel_ifname(opt.kernel_ifname);  // sync start interface <name>
  model.set_kernel_interfaces(opt.kernel_interfaces);
  // DPDK's port slots: the data ports, their TAPs, and one TAP per VLAN interface.
  const size_t slots = RTE_MAX_ETHPORTS, taken = 2 * ports.size();
  model.set_max_kernel_vlans(slots > taken ? slots - taken : 0);
  try {
    load_configuration(opt, model);
  } catch (const config::ConfigError& e) {
    return fail(std::string(e.what()) + (e.usage().empty() ? "" : "\n  usage: " + e.usage()));
  }

  int rc;
  try {
    app::Appliance appliance(opt, std::move(model), std::move(ports), std::move(lcores), g_stop);
    rc = appliance.run();
  } catch (const std::exception& e) {
    return fail(e.what());
  }
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
