// ipvsadm's command line, as LVS operators write it (and as ipvsadm-save prints it).
#include <map>

#include "config/command.hpp"
#include "config/request.hpp"
#include "config/values.hpp"
#include "net/parse.hpp"

namespace drfwd::config {

const std::string_view kIpvsadmUsage =
    "ipvsadm -A|-E -t|-u VIP:PORT [-s rr|wrr|sh|hash|mh] [-p [SEC]] [-M MASK] [-b FLAGS]\n"
    "ipvsadm -D -t|-u VIP:PORT\n"
    "ipvsadm -a|-e -t|-u VIP:PORT -r RIP[:PORT] [-g] [-w WEIGHT]\n"
    "ipvsadm -d -t|-u VIP:PORT -r RIP[:PORT]\n"
    "ipvsadm -C\n"
    "ipvsadm --set TCP TCPFIN UDP\n"
    "ipvsadm -L|-l [-t|-u VIP:PORT] [-n] [--stats|--rate|--timeout|--connection|--thresholds|--persistent-conn] [--exact]\n"
    "ipvsadm -Z [-t|-u VIP:PORT]\n"
    "ipvsadm -S [-n]\n"
    "ipvsadm -R  (rules follow: drfwdctl -R < rules)";

namespace {

enum class Arg { kNone, kRequired, kOptional };

struct OptDef {
  std::string_view long_name;
  char short_name;  // 0: long only
  Arg arg;
};

// Every option ipvsadm knows, so that unsupported ones get a precise refusal rather
// than "unknown option".
constexpr OptDef kOpts[] = {
    {"add-service", 'A', Arg::kNone},      {"edit-service", 'E', Arg::kNone},
    {"delete-service", 'D', Arg::kNone},   {"clear", 'C', Arg::kNone},
    {"restore", 'R', Arg::kNone},          {"save", 'S', Arg::kNone},
    {"add-server", 'a', Arg::kNone},       {"edit-server", 'e', Arg::kNone},
    {"delete-server", 'd', Arg::kNone},    {"list", 'L', Arg::kNone},
    {"zero", 'Z', Arg::kNone},             {"set", 0, Arg::kNone},
    {"list-lower", 'l', Arg::kNone},  // ipvsadm -l is -L
    {"start-daemon", 0, Arg::kRequired},   {"stop-daemon", 0, Arg::kRequired},
    {"help", 'h', Arg::kNone},             {"version", 'v', Arg::kNone},
    {"tcp-service", 't', Arg::kRequired},  {"udp-service", 'u', Arg::kRequired},
    {"sctp-service", 0, Arg::kRequired},   {"fwmark-service", 'f', Arg::kRequired},
    {"scheduler", 's', Arg::kRequired},    {"persistent", 'p', Arg::kOptional},
    {"netmask", 'M', Arg::kRequired},      {"real-server", 'r', Arg::kRequired},
    {"gatewaying", 'g', Arg::kNone},       {"masquerading", 'm', Arg::kNone},
    {"ipip", 'i', Arg::kNone},             {"weight", 'w', Arg::kRequired},
    {"u-threshold", 'x', Arg::kRequired},  {"l-threshold", 'y', Arg::kRequired},
    {"sched-flags", 'b', Arg::kRequired},  {"pe", 0, Arg::kRequired},
    {"numeric", 'n', Arg::kNone},          {"connection", 'c', Arg::kNone},
    {"stats", 0, Arg::kNone},              {"rate", 0, Arg::kNone},
    {"timeout", 0, Arg::kNone},            {"exact", 'X', Arg::kNone},
    {"thresholds", 0, Arg::kNone},         {"persistent-conn", 0, Arg::kNone},
    {"sort", 0, Arg::kNone},               {"ops", 'o', Arg::kNone},
    {"tun-type", 0, Arg::kRequired},       {"tun-port", 0, Arg::kRequired},
    {"tun-nocsum", 0, Arg::kNone},         {"tun-csum", 0, Arg::kNone},
    {"tun-remcsum", 0, Arg::kNone},        {"mcast-interface", 0, Arg::kRequired},
    {"syncid", 0, Arg::kRequired},
};

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

Request parse(const std::vector<std::string_view>& w) {
  Scan s = scan(w);
  query::IpvsList list;  // format switches, used by -L

  char command = 0;
  std::string_view command_name;
  std::optional<ServiceKey> service;
  ServiceOptions opts;
  std::optional<std::pair<net::Ipv4, std::optional<uint16_t>>> real;
  std::optional<uint32_t> weight;
  std::map<std::string_view, int> seen;

  auto set_command = [&](const OptDef* o) {
    if (command) fail("more than one command given (" + std::string(command_name) + " and " +
                      std::string(o->long_name) + ")");
    command = o->short_name == 'l' ? 'L' : o->short_name ? o->short_name : '=';  // -l is -L
    command_name = o->long_name;
  };

  for (auto& [o, val] : s.opts) {
    if (seen[o->long_name]++) fail("option --" + std::string(o->long_name) + " given twice");
    const std::string_view n = o->long_name;
    {
      if (n == "add-service" || n == "edit-service" || n == "delete-service" || n == "clear" ||
          n == "add-server" || n == "edit-server" || n == "delete-server" || n == "set" || n == "list" || n == "list-lower" ||
          n == "zero" || n == "save" || n == "restore" || n == "help" || n == "version") {
        set_command(o);
      } else if (n == "numeric") {
        list.numeric = true;
      } else if (n == "stats") {
        list.stats = true;
      } else if (n == "rate") {
        list.rate = true;
      } else if (n == "timeout") {
        list.timeout = true;
      } else if (n == "connection") {
        list.connection = true;
      } else if (n == "exact") {
        list.exact = true;
      } else if (n == "thresholds") {
        list.thresholds = true;
      } else if (n == "persistent-conn") {
        list.persistent_conn = true;
      } else if (n == "sort") {
        // listings are always sorted, as ipvsadm's default
      } else if (n == "tcp-service" || n == "udp-service") {
        if (service) fail("give one service: -t or -u, not both");
        auto [ip, port] = parse_addr_port(*val, "VIP");
        if (!port) fail("service " + quote(*val) + " needs a port: VIP:PORT");
        service = ServiceKey{ip, n == "tcp-service" ? net::kProtoTcp : net::kProtoUdp, *port};
      } else if (n == "scheduler") {
        opts.sched = parse_scheduler(*val);
      } else if (n == "persistent") {
        opts.persist = val ? parse_number(*val, "persistence timeout", 1, kMaxTimeout) : kDefaultPersist;
      } else if (n == "netmask") {
        opts.persist_mask = parse_mask(*val);
      } else if (n == "sched-flags") {
        opts.flags = parse_sched_flags(*val);
      } else if (n == "real-server") {
        real = parse_addr_port(*val, "real server");
      } else if (n == "gatewaying") {
        // direct routing: the only method, and the default
      } else if (n == "masquerading" || n == "ipip" || n.substr(0, 4) == "tun-") {
        fail("--" + std::string(n) + ": only direct routing (-g, --gatewaying) is supported; " +
             "drfwd rewrites the Ethernet header and cannot NAT or tunnel");
      } else if (n == "weight") {
        weight = parse_number(*val, "weight", 0, kMaxWeight);
      } else if (n == "u-threshold" || n == "l-threshold") {
        if (parse_number(*val, "threshold", 0, 0xffffffffu) != 0)
          fail("--" + std::string(n) + ": connection thresholds are not supported");
      } else if (n == "fwmark-service") {
        fail("firewall-mark services (-f) are not supported: use -t or -u VIP:PORT");
      } else if (n == "sctp-service") {
        fail("SCTP services are not supported: use -t or -u");
      } else if (n == "pe") {
        fail("persistence engines (--pe) are not supported");
      } else if (n == "ops") {
        fail("one-packet scheduling (-o) is not supported");
      } else {
        fail("-" + (o->short_name ? std::string(1, o->short_name) : "-" + std::string(n)) + " (" +
             std::string(n) + ") is not available in configuration");
      }
    }
  }

  // -c alone lists connections, as ipvsadm -lc does.
  if (!command && list.connection) command = 'L', command_name = "list";
  if (!command) fail("no command given (e.g. -A, -a, -D, -C, -L)");
  const bool listing_switches = list.numeric || list.stats || list.rate || list.timeout || list.connection ||
                                list.exact || list.thresholds || list.persistent_conn;
  if (listing_switches && command != 'L' && !(command == 'S' && list.numeric && !list.stats && !list.rate &&
                                               !list.timeout && !list.connection && !list.exact))
    fail("-n, -c, --stats, --rate, --timeout, --exact apply to -L (and -n to -S)");

  auto need_service = [&] {
    if (!service) fail(std::string(command_name) + " needs a service: -t VIP:PORT or -u VIP:PORT");
    return *service;
  };
  auto only_service_opts = [&](bool allowed) {
    if (!allowed && (opts.sched || opts.persist || opts.persist_mask || opts.flags))
      fail("-s, -p, -M and -b apply to -A and -E only");
  };
  auto only_server_opts = [&](bool allowed) {
    if (!allowed && (real || weight)) fail("-r and -w apply to -a, -e and -d only");
  };
  auto rip = [&](const ServiceKey& k) {
    if (!real) fail(std::string(command_name) + " needs a real server: -r RIP[:PORT]");
    if (real->second && *real->second != k.port)
      fail("real server port " + std::to_string(*real->second) + " differs from the service port " +
           std::to_string(k.port) + ": direct routing forwards to the same port and cannot translate it");
    return real->first;
  };

  switch (command) {
    case 'A':
    case 'E': {
      ServiceKey k = need_service();
      only_server_opts(false);
      if (command == 'A') return Command{cmd::VipAdd{k, opts}};
      return Command{cmd::VipEdit{k, opts, true}};
    }
    case 'D': {
      ServiceKey k = need_service();
      only_service_opts(false);
      only_server_opts(false);
      return Command{cmd::VipDel{k}};
    }
    case 'a':
    case 'e':
    case 'd': {
      ServiceKey k = need_service();
      only_service_opts(false);
      net::Ipv4 ip = rip(k);
      if (command == 'a') return Command{cmd::RsAdd{k, ip, weight, std::nullopt}};
      if (command == 'e') return Command{cmd::RsEdit{k, ip, weight.value_or(1), std::nullopt}};
      if (weight) fail("-w applies to -a and -e only");
      return Command{cmd::RsDel{k, ip}};
    }
    case 'C':
      if (service || real || weight) fail("-C takes no service or server");
      only_service_opts(false);
      return Command{cmd::Clear{}};
    case 'L':
    case 'l': {
      only_service_opts(false);
      only_server_opts(false);
      if ((list.stats + list.rate + list.timeout + list.connection + list.thresholds + list.persistent_conn) > 1)
        fail("give one of --stats, --rate, --timeout, --connection, --thresholds, --persistent-conn");
      list.service = service;
      return Query{list};
    }
    case 'Z':
      only_service_opts(false);
      only_server_opts(false);
      return Query{query::IpvsZero{service}};
    case 'S':
      if (service || real || weight) fail("-S takes no service");
      only_service_opts(false);
      return Query{query::IpvsSave{list.numeric}};
    case 'R':
      if (service || real || weight) fail("-R takes no service: the rules follow on their own lines");
      only_service_opts(false);
      return Query{query::IpvsRestore{}};
    case 'h':
      return Query{query::Help{"ipvsadm"}};
    case 'v':
      return Query{query::Help{"version"}};
    case '=': {
      if (service || real || weight) fail("--set takes only TCP TCPFIN UDP");
      only_service_opts(false);
      cmd::SetTimeouts c;
      uint32_t v[3];
      if (s.set_args.size() != 3) fail("--set needs three values: TCP TCPFIN UDP (seconds, 0 = unchanged)");
      for (int i = 0; i < 3; ++i) v[i] = parse_number(s.set_args[i], "timeout", 0, kMaxTimeout);
      if (v[0]) c.tcp = v[0];
      if (v[1]) c.tcp_fin = v[1];
      if (v[2]) c.udp = v[2];
      return Command{c};
    }
  }
  fail("unsupported command");
}

}  // namespace
}  // namespace drfwd::config
