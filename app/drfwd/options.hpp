// drfwd's own command-line options: everything after "--" (EAL takes what comes before).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/loader.hpp"
#include "console/http_server.hpp"

namespace drfwd::app {

constexpr uint32_t kMbufHeadroom = 128;  // RTE_PKTMBUF_HEADROOM (main.cpp checks they agree)

struct Options {
  std::string config_file;
  std::string check_config;  // --check-config/-t FILE: check it (and the imports) and exit
  double stats_period = 0;
  std::string stats_json;
  std::string log_level = "info";
  uint32_t conn_table_size = 1u << 20;
  uint32_t conn6_table_size = 1u << 16;
  uint32_t idle_backoff_us = 0;
  uint16_t rxd = 1024;
  uint16_t txd = 1024;
  uint32_t total_num_mbufs = 0;  // 0: computed
  uint32_t mbuf_size = 2176;     // data room incl. headroom, as testpmd's --mbuf-size
  uint32_t mtu = 1500;           // every port's, and the kernel interfaces'
  bool trust_ipv4_checksum = false;  // --ipv4-checksum trust: not verified where the NIC does not
  bool promiscuous = false;
  bool kernel_interfaces = true;
  std::string kernel_ifname = "drfwd";
  uint32_t exception_pps = 20000;
  bool interactive = false;
  std::string socket_path = "/run/drfwd/drfwd.sock";  // "none": no control socket
  std::string import_ipvsadm;
  std::string import_keepalived;
  std::string log_file;
  std::string metrics;  // --metrics ADDR:PORT as given; empty: off
  std::optional<console::ListenAddress> metrics_at;  // ... parsed (parse_options)
};

struct ParseOutcome {
  std::optional<Options> options;  // empty: exit with `exit_code` after printing `text`
  int exit_code = 0;
  std::string text;
};

// The configuration files a start, a reload and a check read: -f (or the file
// --check-config names), --import-ipvsadm, --import-keepalived.
config::ConfigFiles config_files(const Options& o);

// args: the words after "--". Never throws.
ParseOutcome parse_options(const std::vector<std::string>& args);

std::string help_text();

}  // namespace drfwd::app
