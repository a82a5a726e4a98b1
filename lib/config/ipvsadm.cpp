// ipvsadm's command line, as LVS operators write it (and as ipvsadm-save prints it).
#include <map>

#include "config/command.hpp"
#include "config/request.hpp"
#include "config/values.hpp"
#include "net/parse.hpp"

namespace drfwd::config {

const std::string_view kIpvsadmUsage =
    "ipvsadm -A|-E -t|-u VIP:PORT [-s rr|wrr|sh|hash|mh|lc|wlc|sed|nq] [-p [SEC]] [-M MASK] [-b FLAGS]\n"
    "ipvsadm -D -t|-u VIP:PORT\n"
    "ipvsadm -a|-e -t|-u VIP:PORT -r RIP[:PORT] [-g] [-w WEIGHT] [-x UTHRESHOLD] [-y LTHRESHOLD]\n"
    "ipvsadm -d -t|-u VIP:PORT -r RIP[:PORT]\n"
    "ipvsadm -C\n"
    "ipvsadm --set TCP TCPFIN UDP\n"
    "ipvsadm -L|-l [-t|-u VIP:PORT] [-n] [--stats|--rate|--timeout|--connection|--thresholds|--persistent-conn] [--exact]\n"
    "ipvsadm -Z [-t|-u VIP:PORT]\n"
    "ipvsadm -S [-n]\n"
    "ipvsadm -R  (rules follow: drfwdctl -R < rules)\n"
    "ipvsadm --start-daemon master|backup [--mcast-interface IF] [--syncid N] [--sync-maxlen N] [--mcast-group ADDR] "
    "[--mcast-port P] [--mcast-ttl N]\n"
    "ipvsadm --stop-daemon master|backup\n"
    "ipvsadm -L --daemon";

namespace {

constexpr lb::Sched kIpvsadmSched = lb::Sched::kWlc;  // ipvsadm's DEF_SCHED: -A and -E without -s

enum class Arg { kNone, kRequired, kOptional };

// What an option does on a drfwd command line.
enum class Role : uint8_t {
  kCommand,     // -A, -E, ..., --set: the command (one per line)
  kSwitch,      // a listing switch (-n, --stats, ...): sets `flag`
  kNoop,        // accepted, changes nothing (-g: direct routing is the only method; --sort)
  kService,     // -t, -u
  kScheduler,   // -s
  kPersistent,  // -p [SEC]
  kNetmask,     // -M
  kSchedFlags,  // -b
  kRealServer,  // -r
  kWeight,      // -w
  kThreshold,   // -x, -y: the upper and lower connection thresholds
  kNotDirect,   // -m, -i, --tun-*: another forwarding method
  kRefused,     // refused with `why`
  kDaemon,      // --start-daemon, --stop-daemon ROLE: the command
  kDaemonOpt,   // --mcast-interface, --syncid, ...: a sync daemon setting
};

struct OptDef {
  std::string_view long_name;
  char short_name;  // 0: long only
  Arg arg;
  Role role;
  bool query::IpvsList::*flag = nullptr;  // kSwitch
  std::string_view why = {};               // kRefused
};

using L = query::IpvsList;

// Every option ipvsadm knows, so that unsupported ones get a precise refusal rather
// than "unknown option".
constexpr OptDef kOpts[] = {
    {"add-service", 'A', Arg::kNone, Role::kCommand},
    {"edit-service", 'E', Arg::kNone, Role::kCommand},
    {"delete-service", 'D', Arg::kNone, Role::kCommand},
    {"clear", 'C', Arg::kNone, Role::kCommand},
    {"restore", 'R', Arg::kNone, Role::kCommand},
    {"save", 'S', Arg::kNone, Role::kCommand},
    {"add-server", 'a', Arg::kNone, Role::kCommand},
    {"edit-server", 'e', Arg::kNone, Role::kCommand},
    {"delete-server", 'd', Arg::kNone, Role::kCommand},
    {"list", 'L', Arg::kNone, Role::kCommand},
    {"zero", 'Z', Arg::kNone, Role::kCommand},
    {"set", 0, Arg::kNone, Role::kCommand},
    {"list-lower", 'l', Arg::kNone, Role::kCommand},  // ipvsadm -l is -L
    {"help", 'h', Arg::kNone, Role::kCommand},
    {"version", 'v', Arg::kNone, Role::kCommand},
    {"start-daemon", 0, Arg::kRequired, Role::kDaemon},
    {"stop-daemon", 0, Arg::kRequired, Role::kDaemon},
    {"tcp-service", 't', Arg::kRequired, Role::kService},
    {"udp-service", 'u', Arg::kRequired, Role::kService},
    {"sctp-service", 0, Arg::kRequired, Role::kRefused, nullptr, "SCTP services are not supported: use -t or -u"},
    {"fwmark-service", 'f', Arg::kRequired, Role::kRefused, nullptr,
     "firewall-mark services (-f) are not supported: use -t or -u VIP:PORT"},
    {"scheduler", 's', Arg::kRequired, Role::kScheduler},
    {"persistent", 'p', Arg::kOptional, Role::kPersistent},
    {"netmask", 'M', Arg::kRequired, Role::kNetmask},
    {"real-server", 'r', Arg::kRequired, Role::kRealServer},
    {"gatewaying", 'g', Arg::kNone, Role::kNoop},
    {"masquerading", 'm', Arg::kNone, Role::kNotDirect},
    {"ipip", 'i', Arg::kNone, Role::kNotDirect},
    {"weight", 'w', Arg::kRequired, Role::kWeight},
    {"u-threshold", 'x', Arg::kRequired, Role::kThreshold},
    {"l-threshold", 'y', Arg::kRequired, Role::kThreshold},
    {"sched-flags", 'b', Arg::kRequired, Role::kSchedFlags},
    {"pe", 0, Arg::kRequired, Role::kRefused, nullptr, "persistence engines (--pe) are not supported"},
    {"numeric", 'n', Arg::kNone, Role::kSwitch, &L::numeric},
    {"connection", 'c', Arg::kNone, Role::kSwitch, &L::connection},
    {"stats", 0, Arg::kNone, Role::kSwitch, &L::stats},
    {"rate", 0, Arg::kNone, Role::kSwitch, &L::rate},
    {"timeout", 0, Arg::kNone, Role::kSwitch, &L::timeout},
    {"exact", 'X', Arg::kNone, Role::kSwitch, &L::exact},
    {"thresholds", 0, Arg::kNone, Role::kSwitch, &L::thresholds},
    {"persistent-conn", 0, Arg::kNone, Role::kSwitch, &L::persistent_conn},
    {"sort", 0, Arg::kNone, Role::kNoop},  // listings are always sorted, as ipvsadm's default
    {"ops", 'o', Arg::kNone, Role::kRefused, nullptr, "one-packet scheduling (-o) is not supported"},
    {"tun-type", 0, Arg::kRequired, Role::kNotDirect},
    {"tun-port", 0, Arg::kRequired, Role::kNotDirect},
    {"tun-nocsum", 0, Arg::kNone, Role::kNotDirect},
    {"tun-csum", 0, Arg::kNone, Role::kNotDirect},
    {"tun-remcsum", 0, Arg::kNone, Role::kNotDirect},
    {"mcast-interface", 0, Arg::kRequired, Role::kDaemonOpt},
    {"syncid", 0, Arg::kRequired, Role::kDaemonOpt},
    {"sync-maxlen", 0, Arg::kRequired, Role::kDaemonOpt},
    {"mcast-group", 0, Arg::kRequired, Role::kDaemonOpt},
    {"mcast-port", 0, Arg::kRequired, Role::kDaemonOpt},
    {"mcast-ttl", 0, Arg::kRequired, Role::kDaemonOpt},
    {"daemon", 0, Arg::kNone, Role::kSwitch, &L::daemon},
};

}  // namespace

std::span<const std::string_view> ipvsadm_commands() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const OptDef& o : kOpts)
      if (o.role == Role::kCommand || o.role == Role::kDaemon) v.push_back(o.short_name ? std::string("-") + o.short_name : "--" + std::string(o.long_name));
    return v;
  }();
  static const std::vector<std::string_view> views(names.begin(), names.end());
  return views;
}

namespace {

[[noreturn]] void fail(const std::string& msg) {
  throw ConfigError("ipvsadm: " + msg, std::string(kIpvsadmUsage));
}

const OptDef* find_long(std::string_view name) {
  for (const OptDef& o : kOpts)
    if (o.long_name == name) return &o;
  return nullptr;
}
const OptDef* find_short(char c) {
  if (c == 0) return nullptr;  // long-only options have short_name 0: "-\0" is no option
  for (const OptDef& o : kOpts)
    if (o.short_name == c) return &o;
  return nullptr;
}

bool looks_numeric(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

struct Scan {
  std::vector<std::pair<const OptDef*, std::optional<std::string_view>>> opts;
  std::vector<std::string_view> set_args;  // the three values after --set
};

Scan scan(const std::vector<std::string_view>& w) {
  Scan s;
  for (size_t i = 1; i < w.size(); ++i) {
    std::string_view t = w[i];
    auto take_next = [&](const OptDef* o) -> std::string_view {
      if (i + 1 >= w.size()) fail("option " + std::string(o->short_name ? std::string("-") + o->short_name : "--" + std::string(o->long_name)) + " needs a value");
      return w[++i];
    };
    if (t.size() > 2 && t.substr(0, 2) == "--") {
      std::string_view name = t.substr(2);
      std::optional<std::string_view> val;
      if (size_t eq = name.find('='); eq != std::string_view::npos) {
        val = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      const OptDef* o = find_long(name);
      if (!o) fail("unknown option " + quote(t));
      if (o->arg == Arg::kNone && val) fail("option --" + std::string(name) + " takes no value");
      if (o->arg == Arg::kRequired && !val) val = take_next(o);
      if (o->arg == Arg::kOptional && !val && i + 1 < w.size() && looks_numeric(w[i + 1])) val = w[++i];
      if (name == "set") {
        for (int k = 0; k < 3; ++k) {
          if (i + 1 >= w.size()) fail("--set needs three values: TCP TCPFIN UDP (seconds, 0 = unchanged)");
          s.set_args.push_back(w[++i]);
        }
      }
      s.opts.emplace_back(o, val);
      continue;
    }
    if (t.size() >= 2 && t[0] == '-') {
      for (size_t k = 1; k < t.size(); ++k) {
        const OptDef* o = find_short(t[k]);
        if (!o) fail("unknown option -" + std::string(1, t[k]));
        std::optional<std::string_view> val;
        std::string_view rest = t.substr(k + 1);
        if (o->arg == Arg::kRequired) {
          val = rest.empty() ? take_next(o) : rest;
          s.opts.emplace_back(o, val);
          break;
        }
        if (o->arg == Arg::kOptional) {
          if (!rest.empty()) val = rest;
          else if (i + 1 < w.size() && looks_numeric(w[i + 1])) val = w[++i];
          s.opts.emplace_back(o, val);
          break;
        }
        s.opts.emplace_back(o, std::nullopt);
      }
      continue;
    }
    fail("unexpected argument " + quote(t));
  }
  return s;
}

}  // namespace

namespace {
Request parse(const std::vector<std::string_view>& w);
}

// Every refusal reads "ipvsadm: ..." and carries the valid forms.
Request parse_ipvsadm_request(const std::vector<std::string_view>& w) {
  try {
    return parse(w);
  } catch (const ConfigError& e) {
    std::string what = e.what();
    if (what.rfind("ipvsadm: ", 0) == 0) throw;
    fail(what);
  }
}

namespace {

// One ipvsadm line, option by option, then the request it makes.
class Line {
 public:
  explicit Line(const Scan& s) : set_args_(s.set_args) {
    std::map<std::string_view, int> seen;
    for (auto& [o, val] : s.opts) {
      if (seen[o->long_name]++) fail("option --" + std::string(o->long_name) + " given twice");
      take(*o, val);
    }
    // -c alone lists connections, as ipvsadm -lc does.
    if (!command_ && list_.connection) command_ = 'L', command_name_ = "list";
    if (!command_) fail("no command given (e.g. -A, -a, -D, -C, -L)");
    const bool switches = list_.numeric || list_.stats || list_.rate || list_.timeout || list_.connection ||
                          list_.exact || list_.thresholds || list_.persistent_conn || list_.daemon;
    if (daemon_opts_ && command_ != 's') fail("--mcast-interface, --syncid, --sync-maxlen, --mcast-* apply to --start-daemon");
    const bool save_numeric =
        command_ == 'S' && list_.numeric && !list_.stats && !list_.rate && !list_.timeout && !list_.connection && !list_.exact;
    if (switches && command_ != 'L' && !save_numeric)
      fail("-n, -c, --stats, --rate, --timeout, --exact apply to -L (and -n to -S)");
  }

  Request request() const {
    switch (command_) {
      case 'A': case 'E': case 'D': return service_command();
      case 'a': case 'e': case 'd': return server_command();
      case 'L': case 'Z': case 'S': case 'R': case 'h': case 'v': return query();
      case 's': case 'x': return daemon_command();
      case 'C':
        if (service_ || server_options()) fail("-C takes no service or server");
        no_service_options();
        return Command{cmd::Clear{}};
      case '=': return set_timeouts();
    }
    fail("unsupported command");
  }

 private:
  void take(const OptDef& o, const std::optional<std::string_view>& val) {
    const std::string_view n = o.long_name;
    switch (o.role) {
      case Role::kCommand:
        if (command_)
          fail("more than one command given (" + std::string(command_name_) + " and " + std::string(n) + ")");
        command_ = o.short_name == 'l' ? 'L' : o.short_name ? o.short_name : '=';  // -l is -L
        command_name_ = n;
        return;
      case Role::kSwitch: list_.*o.flag = true; return;
      case Role::kNoop: return;
      case Role::kService: {
        if (service_) fail("give one service: -t or -u, not both");
        auto [ip, port] = parse_addr_port(*val, "VIP");
        if (!port) fail("service " + quote(*val) + " needs a port: VIP:PORT");
        service_ = ServiceKey{ip, n == "tcp-service" ? net::kProtoTcp : net::kProtoUdp, *port};
        return;
      }
      case Role::kScheduler: opts_.sched = parse_scheduler(*val); return;
      case Role::kPersistent:
        opts_.persist = val ? parse_number(*val, "persistence timeout", 1, kMaxTimeout) : kDefaultPersist;
        return;
      case Role::kNetmask: opts_.persist_mask = parse_mask(*val); return;
      case Role::kSchedFlags: opts_.flags = parse_sched_flags(*val); return;
      case Role::kRealServer: real_ = parse_addr_port(*val, "real server"); return;
      case Role::kWeight: weight_ = parse_number(*val, "weight", 0, kMaxWeight); return;
      case Role::kThreshold:
        (n == "u-threshold" ? uthreshold_ : lthreshold_) =
            parse_number(*val, n == "u-threshold" ? "upper threshold" : "lower threshold", 0, lb::kMaxThreshold);
        return;
      case Role::kNotDirect:
        fail("--" + std::string(n) + ": only direct routing (-g, --gatewaying) is supported; " +
             "drfwd rewrites the Ethernet header and cannot NAT or tunnel");
      case Role::kRefused: fail(std::string(o.why));
      case Role::kDaemon:
        if (command_)
          fail("more than one command given (" + std::string(command_name_) + " and " + std::string(n) + ")");
        command_ = n == "start-daemon" ? 's' : 'x';
        command_name_ = n;
        sync_.role = parse_sync_role(*val);
        return;
      case Role::kDaemonOpt:
        daemon_opts_ = true;
        if (n == "mcast-interface") sync_.interface = std::string(*val);
        else if (n == "syncid") sync_.syncid = parse_syncid(*val);
        else if (n == "sync-maxlen") sync_.maxlen = parse_sync_maxlen(*val);
        else if (n == "mcast-group") sync_.group = parse_sync_group(*val);
        else if (n == "mcast-port") sync_.udp_port = parse_port_number(*val, "sync port");
        else sync_.ttl = static_cast<uint8_t>(parse_number(*val, "multicast TTL", 1, 255));
        return;
    }
  }

  ServiceKey need_service() const {
    if (!service_) fail(std::string(command_name_) + " needs a service: -t VIP:PORT or -u VIP:PORT");
    return *service_;
  }
  void no_service_options() const {
    if (opts_.sched || opts_.persist || opts_.persist_mask || opts_.flags) fail("-s, -p, -M and -b apply to -A and -E only");
  }
  bool server_options() const { return real_ || weight_ || uthreshold_ || lthreshold_; }
  void no_server_options() const {
    if (server_options()) fail("-r, -w, -x and -y apply to -a, -e and -d only");
  }
  net::IpAddr rip(const ServiceKey& k) const {
    if (!real_) fail(std::string(command_name_) + " needs a real server: -r RIP[:PORT]");
    if (real_->second && *real_->second != k.port)
      fail("real server port " + std::to_string(*real_->second) + " differs from the service port " +
           std::to_string(k.port) + ": direct routing forwards to the same port and cannot translate it");
    return real_->first;
  }

  Request service_command() const {  // -A -E -D
    const ServiceKey k = need_service();
    if (command_ == 'D') no_service_options();
    no_server_options();
    // Without -s, ipvsadm's own default (DEF_SCHED, wlc), on -E too: ipvsadm sends every
    // service setting, and fills in the default scheduler when -s is missing.
    ServiceOptions o = opts_;
    if (!o.sched) o.sched = kIpvsadmSched;
    if (command_ == 'A') return Command{cmd::VipAdd{k, o}};
    if (command_ == 'E') return Command{cmd::VipEdit{k, o, true}};
    return Command{cmd::VipDel{k}};
  }

  Request server_command() const {  // -a -e -d
    const ServiceKey k = need_service();
    no_service_options();
    const net::IpAddr ip = rip(k);
    if (command_ == 'a') return Command{cmd::RsAdd{k, ip, weight_, std::nullopt, uthreshold_, lthreshold_}};
    // -e sets everything ipvsadm sends: what it does not name takes ipvsadm's defaults.
    if (command_ == 'e')
      return Command{cmd::RsEdit{k, ip, weight_.value_or(1), std::nullopt, uthreshold_.value_or(0), lthreshold_.value_or(0)}};
    if (weight_ || uthreshold_ || lthreshold_) fail("-w, -x and -y apply to -a and -e only");
    return Command{cmd::RsDel{k, ip}};
  }

  Request query() const {  // -L -Z -S -R -h -v
    if (command_ == 'h') return Query{query::Help{"ipvsadm"}};
    if (command_ == 'v') return Query{query::Help{"version"}};
    if ((command_ == 'S' || command_ == 'R') && (service_ || server_options()))
      fail(command_ == 'S' ? "-S takes no service" : "-R takes no service: the rules follow on their own lines");
    no_service_options();
    if (command_ == 'S') return Query{query::IpvsSave{list_.numeric}};
    if (command_ == 'R') return Query{query::IpvsRestore{}};
    no_server_options();
    if (command_ == 'Z') return Query{query::IpvsZero{service_}};
    if ((list_.stats + list_.rate + list_.timeout + list_.connection + list_.thresholds + list_.persistent_conn +
         list_.daemon) > 1)
      fail("give one of --stats, --rate, --timeout, --connection, --thresholds, --persistent-conn, --daemon");
    if (list_.daemon && service_) fail("--daemon lists the sync daemons: it takes no service");
    query::IpvsList l = list_;
    l.service = service_;
    return Query{l};
  }

  Request daemon_command() const {  // --start-daemon, --stop-daemon
    if (service_ || server_options()) fail(std::string("--") + std::string(command_name_) + " takes no service or server");
    no_service_options();
    if (command_ == 's') return Command{sync_};
    return Command{cmd::SyncStop{sync_.role}};
  }

  Request set_timeouts() const {  // --set TCP TCPFIN UDP (0: unchanged)
    if (service_ || server_options()) fail("--set takes only TCP TCPFIN UDP");
    no_service_options();
    if (set_args_.size() != 3) fail("--set needs three values: TCP TCPFIN UDP (seconds, 0 = unchanged)");
    uint32_t v[3];
    for (int i = 0; i < 3; ++i) v[i] = parse_number(set_args_[i], "timeout", 0, kMaxTimeout);
    cmd::SetTimeouts c;
    if (v[0]) c.tcp = v[0];
    if (v[1]) c.tcp_fin = v[1];
    if (v[2]) c.udp = v[2];
    return Command{c};
  }

  std::vector<std::string_view> set_args_;
  char command_ = 0;
  std::string_view command_name_;
  std::optional<ServiceKey> service_;
  ServiceOptions opts_;
  std::optional<std::pair<net::IpAddr, std::optional<uint16_t>>> real_;
  std::optional<uint32_t> weight_;
  std::optional<uint32_t> uthreshold_, lthreshold_;
  query::IpvsList list_;  // format switches, used by -L
  cmd::SyncStart sync_;   // --start-daemon, --stop-daemon and their settings
  bool daemon_opts_ = false;
};

Request parse(const std::vector<std::string_view>& w) { return Line(scan(w)).request(); }

}  // namespace
}  // namespace drfwd::config
