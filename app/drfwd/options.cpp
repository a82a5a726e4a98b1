#include "drfwd/options.hpp"

#include <boost/program_options.hpp>
#include <algorithm>
#include <sstream>

#include "config/grammar.hpp"
#include "console/http_server.hpp"
#include "net/parse.hpp"

namespace po = boost::program_options;

namespace drfwd::app {

namespace {

po::options_description describe(Options& o) {
  po::options_description general("General");
  general.add_options()
      ("help,h", "print this help and exit")
      ("version,V", "print the version and exit")
      ("config,f", po::value(&o.config_file)->value_name("FILE"),
       "run the commands in FILE at start (native or ipvsadm grammar, one per line, # comments); "
       "an error stops drfwd before any port starts; SIGHUP reads it (and the imports) again and "
       "applies what changed")
      ("check-config,t", po::value(&o.check_config)->value_name("FILE"),
       "check FILE as --config would read it (and the files --import-ipvsadm and --import-keepalived "
       "name), without EAL or ports: every error as FILE:LINE, exit 1; exit 0 and a one-line summary "
       "if good (no \"--\" needed: drfwd -t FILE)")
      ("stats-period", po::value(&o.stats_period)->value_name("SEC"),
       "print per-port statistics every SEC seconds (decimals allowed), in dpdk-testpmd's wording")
      ("stats-json", po::value(&o.stats_json)->value_name("FILE"), "write every counter to FILE as JSON at exit")
      ("log-level", po::value(&o.log_level)->value_name("LEVEL"),
       "trace, debug, info, warn, error, critical or off (default info); set log-level changes it at runtime")
      ("log-file", po::value(&o.log_file)->value_name("FILE"), "log to FILE instead of standard error")
      ("interactive,i", po::bool_switch(&o.interactive),
       "start the console (prompt drfwd>, tab completion, help); works on a terminal and on a pipe, "
       "and end of input stops drfwd as quit does")
      ("socket", po::value(&o.socket_path)->value_name("PATH"),
       "serve the control socket (drfwdctl) at PATH, mode 0600, root and drfwd's user only "
       "(default /run/drfwd/drfwd.sock; none: no socket)")
      ("metrics", po::value(&o.metrics)->value_name("ADDR:PORT"),
       "serve Prometheus metrics at http://ADDR:PORT/metrics (ADDR an IPv4 address or [IPv6]; "
       "e.g. 127.0.0.1:9100); off by default")
      ("import-ipvsadm", po::value(&o.import_ipvsadm)->value_name("FILE"),
       "load an ipvsadm-save (ipvsadm -S) rules file at start, after --config")
      ("import-keepalived", po::value(&o.import_keepalived)->value_name("FILE"),
       "load keepalived.conf's LVS part (virtual_server, real_server and their checkers) at start, after "
       "--config and --import-ipvsadm: translated to drfwd's commands, VRRP and global sections skipped "
       "(keepalived keeps running VRRP); a keyword drfwd cannot honour stops drfwd, naming FILE:LINE "
       "(docs/migration.md)");
  po::options_description dataplane("Data plane");
  dataplane.add_options()
      ("conn-table-size", po::value(&o.conn_table_size)->value_name("N"),
       "connection entries per worker, fixed at start; when full the longest-idle half-open or "
       "closing TCP entry is evicted, else the longest-idle of all (default 1048576)")
      ("conn6-table-size", po::value(&o.conn6_table_size)->value_name("N"),
       "IPv6 connection entries per worker (128 bytes each), fixed at start, evicted as the IPv4 "
       "table's (default 65536)")
      ("idle-backoff", po::value(&o.idle_backoff_us)->value_name("USEC"),
       "workers sleep USEC microseconds after a stretch of empty polls (default 0: always busy-poll)")
      ("rxd", po::value(&o.rxd)->value_name("N"), "RX descriptors per queue (default 1024)")
      ("txd", po::value(&o.txd)->value_name("N"), "TX descriptors per queue (default 1024)")
      ("total-num-mbufs", po::value(&o.total_num_mbufs)->value_name("N"),
       "mbufs in the packet pool (default: enough for every queue and ring)")
      ("mbuf-size", po::value(&o.mbuf_size)->value_name("N"),
       "mbuf data room in bytes, headroom included (default 2176)")
      ("mtu", po::value(&o.mtu)->value_name("N"),
       "MTU of every port and kernel interface: the largest IP packet received and forwarded "
       "(default 1500; for jumbo frames, e.g. 9000, with --mbuf-size of at least MTU + 146: "
       "a frame, 802.1Q tag included, must fit one mbuf; IPv6 needs 1280 or more)")
      ("ipv4-checksum", po::value<std::string>()->value_name("MODE"),
       "verify (default): a frame whose IPv4 header checksum is wrong is dropped (ip-bad-checksum), "
       "checked by the NIC where the port offers it, else in software; trust: checked only where "
       "the NIC does it, the software check (about 7% of the forwarding path's instructions) "
       "skipped: a corrupted header is forwarded and its real server drops it")
      ("promisc", po::bool_switch(&o.promiscuous), "put every port in promiscuous mode");
  po::options_description control("Control path");
  control.add_options()
      ("kernel-ifname", po::value(&o.kernel_ifname)->value_name("PREFIX"),
       "name prefix of the kernel exception interfaces, one per port: PREFIX0, PREFIX1, ... (default drfwd)")
      ("no-kernel-interfaces", "create no kernel interfaces: traffic for the DIPs is counted and dropped, "
       "health checks are off (offline tests)")
      ("exception-pps", po::value(&o.exception_pps)->value_name("N"),
       "frames per second the workers hand to the control core, in each of five classes "
       "limited apart (routing protocols; connection sync; from real servers; other ARP; the rest: "
       "traffic to the DIPs, broadcast), shared among workers; more are dropped and counted "
       "(default 20000, 0: no limit)");
  po::options_description all;
  all.add(general).add(dataplane).add(control);
  return all;
}

}  // namespace

std::string help_text() {
  Options o;
  std::ostringstream s;
  s << "Usage: drfwd [EAL options] -- [drfwd options]\n"
       "       drfwd --check-config FILE [--import-ipvsadm FILE] [--import-keepalived FILE]\n\n"
       "drfwd is a Direct Routing (LVS -g) layer-4 load balancer on DPDK. EAL options come before\n"
       "\"--\" (e.g. -l 0,1 --no-huge -m 1024 --vdev net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap);\n"
       "the main lcore is the control core and every other lcore is a forwarding worker.\n\n"
    << describe(o);
  return s.str();
}

config::ConfigFiles config_files(const Options& o) {
  return {o.check_config.empty() ? o.config_file : o.check_config, o.import_ipvsadm, o.import_keepalived};
}

ParseOutcome parse_options(const std::vector<std::string>& args) {
  ParseOutcome out;
  Options o;
  po::options_description desc = describe(o);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(desc).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    out.exit_code = 2;
    out.text = std::string("drfwd: ") + e.what() + "\nTry 'drfwd -- --help'.\n";
    return out;
  }
  if (vm.count("help")) {
    out.text = help_text();
    return out;
  }
  if (vm.count("no-kernel-interfaces")) o.kernel_interfaces = false;
  if (vm.count("version")) {
    out.text = "drfwd " DRFWD_VERSION "\n";
    return out;
  }
  auto bad = [&](const std::string& msg) {
    out.exit_code = 2;
    out.text = "drfwd: " + msg + "\n";
    return out;
  };
  if (std::find(config::kLogLevels.begin(), config::kLogLevels.end(), o.log_level) == config::kLogLevels.end()) {
    std::string levels;
    for (std::string_view l : config::kLogLevels) levels += (levels.empty() ? "" : ", ") + std::string(l);
    return bad("--log-level '" + o.log_level + "': expected one of " + levels);
  }
  if (o.stats_period < 0 || o.stats_period > 86400) return bad("--stats-period must be between 0 and 86400 seconds");
  if (o.conn_table_size == 0 || o.conn_table_size > (1u << 30))
    return bad("--conn-table-size must be between 1 and 1073741824");
  if (o.conn6_table_size == 0 || o.conn6_table_size > (1u << 30))
    return bad("--conn6-table-size must be between 1 and 1073741824");
  if (o.idle_backoff_us > 1000000) return bad("--idle-backoff must be at most 1000000 microseconds");
  if (o.rxd == 0 || o.txd == 0) return bad("--rxd and --txd must be positive");
  if (o.kernel_ifname.empty() || o.kernel_ifname.size() > 12 ||
      o.kernel_ifname.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") !=
          std::string::npos)
    return bad("--kernel-ifname '" + o.kernel_ifname + "': 1 to 12 letters, digits, - or _");
  if (o.mbuf_size < 256 + 128 || o.mbuf_size > 65535)
    return bad("--mbuf-size must be between 384 and 65535 bytes");
  // 128: IPv4 allows 68, but a connection-sync message of one connection takes 72 (sync
  // messages larger than the MTU would be fragmented, and fragments lose their class).
  if (o.mtu < 128 || o.mtu > 65000) return bad("--mtu must be between 128 and 65000 bytes");
  if (vm.count("ipv4-checksum")) {
    const std::string mode = vm["ipv4-checksum"].as<std::string>();
    if (mode != "verify" && mode != "trust") return bad("--ipv4-checksum '" + mode + "': verify or trust");
    o.trust_ipv4_checksum = mode == "trust";
  }
  // Frames are never chained: the largest (Ethernet header, an 802.1Q tag, the MTU) must
  // fit one mbuf after its headroom (RTE_PKTMBUF_HEADROOM, 128 in Debian's DPDK).
  constexpr uint32_t kL2 = net::kEtherHdrLen + net::kVlanTagLen;
  if (o.mtu + kL2 > o.mbuf_size - kMbufHeadroom)
    return bad("--mtu " + std::to_string(o.mtu) + ": a " + std::to_string(o.mtu + kL2) +
               "-byte frame does not fit one mbuf of --mbuf-size " + std::to_string(o.mbuf_size) + " (" +
               std::to_string(kMbufHeadroom) + " bytes of headroom): give --mbuf-size " +
               std::to_string(o.mtu + kL2 + kMbufHeadroom) + " or more");
  if (vm.count("metrics")) {
    std::string err;
    o.metrics_at = console::parse_listen_address(o.metrics, err);
    if (!o.metrics_at) return bad("--metrics " + err);
  }
  out.options = o;
  return out;
}

}  // namespace drfwd::app
