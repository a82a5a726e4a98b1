// drfwd: options -> EAL -> ports -> lcores -> configuration -> the appliance (app/drfwd/
// appliance.hpp), which owns and runs everything else. Or, with --check-config, only the
// configuration, without EAL.
#include <malloc.h>
#include <sys/stat.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <csignal>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "config/loader.hpp"
#include "dataplane/port.hpp"
#include "drfwd/appliance.hpp"
#include "drfwd/options.hpp"

namespace {

std::atomic<bool> g_stop{false};
std::atomic<bool> g_reload{false};
static_assert(std::atomic<bool>::is_always_lock_free);

void on_signal(int) { g_stop.store(true, std::memory_order_relaxed); }
void on_hangup(int) { g_reload.store(true, std::memory_order_relaxed); }

// A model with drfwd's kernel settings for `ports` ports.
drfwd::config::Model blank_model(const drfwd::app::Options& opt, size_t ports) {
  drfwd::config::Model model(static_cast<uint16_t>(ports));
  model.set_kernel_ifname(opt.kernel_ifname);  // sync start interface <name>
  model.set_kernel_interfaces(opt.kernel_interfaces);
  // DPDK's port slots: the data ports, their TAPs, and one TAP per VLAN interface.
  const size_t slots = RTE_MAX_ETHPORTS, taken = 2 * ports;
  model.set_max_kernel_vlans(slots > taken ? slots - taken : 0);
  return model;
}

// drfwd --check-config: the files as a start would read them, without EAL. The number of
// ports is known only at start: every port id drfwd can have (32) is accepted here.
int check_config(const drfwd::app::Options& opt) {
  using namespace drfwd;
  const config::ConfigFiles files = app::config_files(opt);
  config::Model model = blank_model(opt, lb::kMaxPorts);
  model.set_max_kernel_vlans(RTE_MAX_ETHPORTS - 2);  // VLAN interfaces: as many as one port can have
  std::vector<std::string> notes;
  const std::vector<std::string> errors = config::check_files(files, model, notes);
  for (const std::string& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
  if (!errors.empty()) {
    std::fprintf(stderr, "drfwd: %zu error(s): configuration refused\n", errors.size());
    return 1;
  }
  size_t rs = 0;
  for (const config::Service& s : model.services()) rs += s.rs.size();
  std::string names;
  for (const std::string* f : {&files.config, &files.ipvsadm, &files.keepalived})
    if (!f->empty()) names += (names.empty() ? "" : ", ") + *f;
  std::printf("drfwd: %s: configuration OK: %zu service(s), %zu real server(s)\n", names.c_str(),
              model.services().size(), rs);
  return 0;
}

// Started by systemd with standard error on the journal (JOURNAL_STREAM names it): the
// journal stamps each line itself and takes its priority from a "<N>" prefix.
bool stderr_is_journal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  struct stat st {};
  if (!stream || fstat(2, &st) != 0) return false;
  unsigned long long dev = 0, ino = 0;
  return std::sscanf(stream, "%llu:%llu", &dev, &ino) == 2 && dev == st.st_dev && ino == st.st_ino;
}

// "<N>": the syslog priority of a record's level (sd-daemon(3)).
class SyslogPriority final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    static constexpr char kPriority[] = {'7', '7', '6', '4', '3', '2', '6'};  // trace .. critical, off
    const char text[] = {'<', kPriority[std::min<size_t>(msg.level, sizeof kPriority - 1)], '>'};
    dest.append(text, text + sizeof text);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<SyslogPriority>(); }
};

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

#ifdef DRFWD_FORWARDER_BYPASS
  spdlog::warn("built with -Dforwarder_bypass=true: every frame of a burst takes the first frame's verdict; "
               "this drfwd does not load-balance (benchmarks only)");
#endif
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

  // The configuration files given at start, before any port is touched: a bad file stops
  // everything here, naming the file and line.
  config::Model model = blank_model(opt, ports.size());
  try {
    std::vector<std::string> notes;
    config::load_files(app::config_files(opt), model, notes);
    for (const std::string& note : notes) spdlog::info("{}", note);
  } catch (const config::ConfigError& e) {
    return fail(std::string(e.what()) + (e.usage().empty() ? "" : "\n  usage: " + e.usage()));
  }

  int rc;
  try {
    app::Appliance appliance(opt, std::move(model), std::move(ports), std::move(lcores), g_stop, g_reload);
    rc = appliance.run();
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  spdlog::info("stopped");
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  // First of all: a reload asked for while drfwd starts waits for the control loop
  // (SIGHUP's default action would end the process).
  std::signal(SIGHUP, on_hangup);
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
    // Without "--": a configuration check takes every word (drfwd -t FILE); otherwise
    // only --help and --version are drfwd's.
    bool check = false;  // -t FILE, -tFILE, --check-config FILE, --check-config=FILE
    for (int i = 1; i < argc; ++i)
      check = check || !std::strncmp(argv[i], "-t", 2) || !std::strncmp(argv[i], "--check-config", 14);
    for (int i = 1; i < argc; ++i)
      if (check || !std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h") || !std::strcmp(argv[i], "--version"))
        app_args.emplace_back(argv[i]);
  }

  auto parsed = drfwd::app::parse_options(app_args);
  if (!parsed.options) {
    (parsed.exit_code ? std::cerr : std::cout) << parsed.text;
    return parsed.exit_code;
  }
  if (!parsed.options->check_config.empty()) {
    try {
      return check_config(*parsed.options);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "drfwd: %s\n", e.what());
      return 1;
    }
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
  if (parsed.options->log_file.empty() && stderr_is_journal()) {
    auto f = std::make_unique<spdlog::pattern_formatter>();
    f->add_flag<SyslogPriority>('*').set_pattern("%*[%l] %v");
    spdlog::set_formatter(std::move(f));
  } else {
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e [%^%l%$] %v");
  }
  spdlog::set_level(spdlog::level::from_str(parsed.options->log_level));

  const int eal_argc = split >= 0 ? split : argc;
  try {
    return run(*parsed.options, eal_argc, argv);
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
}
