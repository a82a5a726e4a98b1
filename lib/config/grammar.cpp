// The command table and the parsers it points to (native grammar; ipvsadm's command
// line is one entry whose parser is ipvsadm.cpp).
#include "config/grammar.hpp"

#include <algorithm>
#include <array>

#include "config/values.hpp"
#include "net/vlan.hpp"

namespace drfwd::config {

// ---- Words ----------------------------------------------------------------------------

void Words::fail(const std::string& msg) const { throw ConfigError(msg, usage_); }

std::string_view Words::next(std::string_view what) {
  if (done()) fail("missing " + std::string(what));
  return w_[i_++];
}

void Words::end() const {
  if (!done()) fail("unexpected " + quote(w_[i_]));
}

std::vector<std::string_view> Words::rest() {
  std::vector<std::string_view> r(w_.begin() + static_cast<long>(std::min(i_, w_.size())), w_.end());
  i_ = w_.size();
  return r;
}

ServiceKey Words::service() {
  const auto vip = next("<vip>");
  const auto proto = next("<tcp|udp>");
  const auto port = next("<port>");
  return guard([&] { return ServiceKey{parse_unicast(vip, "VIP"), parse_proto(proto), parse_port_number(port, "service port")}; });
}

net::IpAddr Words::real_server(const ServiceKey& svc) {
  const auto word = next("<rip>");
  return guard([&] {
    auto [ip, port] = parse_addr_port(word, "real server");
    if (port && *port != svc.port)
      throw ConfigError("real server port " + std::to_string(*port) + " differs from the service port " +
                        std::to_string(svc.port) + ": direct routing forwards to the same port and cannot translate it");
    return ip;
  });
}

CheckOverride Words::check() {
  return guard([&] { return parse_check(w_, i_); });
}

namespace {

// Keyword options: each keyword with how it sets its value. The parsers walk these, and
// completion offers their keywords (plus "check", which takes the rest of the line).
template <class Target>
struct Option {
  std::string_view word;
  void (*set)(Target& t, std::string_view value);
};

constexpr uint32_t kMaxQuorum = 0xffffffffu;  // a sum of weights

constexpr Option<ServiceOptions> kServiceOptions[] = {
    {"sched", [](ServiceOptions& o, std::string_view v) { o.sched = parse_scheduler(v); }},
    {"persist", [](ServiceOptions& o, std::string_view v) {
       o.persist = parse_number(v, "persistence timeout", 0, kMaxTimeout); }},
    {"netmask", [](ServiceOptions& o, std::string_view v) { o.persist_mask = parse_mask(v); }},
    {"mh-size", [](ServiceOptions& o, std::string_view v) { o.mh_size = parse_mh_size(v); }},
    {"flags", [](ServiceOptions& o, std::string_view v) { o.flags = parse_sched_flags(v); }},
    {"quorum", [](ServiceOptions& o, std::string_view v) { o.quorum = parse_number(v, "quorum", 0, kMaxQuorum); }},
    {"hysteresis", [](ServiceOptions& o, std::string_view v) {
       o.hysteresis = parse_number(v, "hysteresis", 0, kMaxQuorum); }},
    {"on-failure", [](ServiceOptions& o, std::string_view v) {
       if (v != "inhibit" && v != "reschedule")
         throw ConfigError("on-failure " + quote(v) + ": expected 'inhibit' or 'reschedule'");
       o.inhibit = v == "inhibit"; }},
};

struct RsOptions {
  std::optional<uint32_t> weight;
  std::optional<CheckOverride> check;
  std::optional<OnFailure> on_failure;
  std::optional<uint32_t> uthreshold, lthreshold;
};
constexpr Option<RsOptions> kRsOptions[] = {
    {"weight", [](RsOptions& o, std::string_view v) { o.weight = parse_number(v, "weight", 0, kMaxWeight); }},
    {"uthreshold", [](RsOptions& o, std::string_view v) {
       o.uthreshold = parse_number(v, "upper threshold", 0, lb::kMaxThreshold); }},
    {"lthreshold", [](RsOptions& o, std::string_view v) {
       o.lthreshold = parse_number(v, "lower threshold", 0, lb::kMaxThreshold); }},
    {"on-failure", [](RsOptions& o, std::string_view v) {
       if (v == "inhibit") o.on_failure = OnFailure::kInhibit;
       else if (v == "reschedule") o.on_failure = OnFailure::kReschedule;
       else if (v == "default") o.on_failure = OnFailure::kDefault;
       else throw ConfigError("on-failure " + quote(v) + ": expected 'inhibit', 'reschedule' or 'default'"); }},
};

constexpr Option<cmd::SyncStart> kSyncOptions[] = {
    {"interface", [](cmd::SyncStart& c, std::string_view v) { c.interface = std::string(v); }},
    {"syncid", [](cmd::SyncStart& c, std::string_view v) { c.syncid = parse_syncid(v); }},
    {"maxlen", [](cmd::SyncStart& c, std::string_view v) { c.maxlen = parse_sync_maxlen(v); }},
    {"group", [](cmd::SyncStart& c, std::string_view v) { c.group = parse_sync_group(v); }},
    {"port", [](cmd::SyncStart& c, std::string_view v) { c.udp_port = parse_port_number(v, "sync port"); }},
    {"ttl", [](cmd::SyncStart& c, std::string_view v) { c.ttl = static_cast<uint8_t>(parse_number(v, "multicast TTL", 1, 255)); }},
    {"peers", [](cmd::SyncStart& c, std::string_view v) { c.peers = parse_sync_peers(v); }},
};

constexpr Option<cmd::SetTimeouts> kTimeoutOptions[] = {
    {"tcp", [](cmd::SetTimeouts& c, std::string_view v) { c.tcp = parse_number(v, "timeout", 1, kMaxTimeout); }},
    {"tcpfin", [](cmd::SetTimeouts& c, std::string_view v) { c.tcp_fin = parse_number(v, "timeout", 1, kMaxTimeout); }},
    {"udp", [](cmd::SetTimeouts& c, std::string_view v) { c.udp = parse_number(v, "timeout", 1, kMaxTimeout); }},
};

// The keywords of `options`, and "check" after them if the form takes a check.
template <class Target, size_t N, size_t M = N + 1>
constexpr std::array<std::string_view, M> keywords(const Option<Target> (&options)[N]) {
  std::array<std::string_view, M> out{};
  for (size_t i = 0; i < N; ++i) out[i] = options[i].word;
  if constexpr (M > N) out[N] = "check";
  return out;
}

template <class Target, size_t N>
const Option<Target>* find_option(const Option<Target> (&options)[N], std::string_view word) {
  for (const auto& o : options)
    if (o.word == word) return &o;
  return nullptr;
}

// Walks "keyword value" pairs (and a final "check ..." where `check` is given).
template <class Target, size_t N>
void keyword_options(Words& w, const Option<Target> (&options)[N], Target& t, std::optional<CheckOverride>* check) {
  while (!w.done()) {
    const auto key = w.next("option");
    if (check && key == "check") {
      *check = w.check();
      return;
    }
    const Option<Target>* o = find_option(options, key);
    if (!o) w.fail("unknown option " + quote(key));
    const auto val = w.next("value for " + std::string(key));
    w.guard([&] {
      o->set(t, val);
      return 0;
    });
  }
}

}  // namespace

ServiceOptions Words::service_options() {
  ServiceOptions o;
  keyword_options(*this, kServiceOptions, o, &o.check);
  return o;
}

// ---- Parsers of the native forms -------------------------------------------------------

namespace {

constexpr std::string_view kLevels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
constexpr std::string_view kVipArpModes[] = {"always", "kernel"};
constexpr std::string_view kVipRoutes[] = {"table", "off"};
constexpr auto kVipOptions = keywords(kServiceOptions);
constexpr auto kRsOptionWords = keywords(kRsOptions);
constexpr std::string_view kSyncRoles[] = {"master", "backup"};
constexpr auto kSyncOptionWords = keywords<cmd::SyncStart, std::size(kSyncOptions), std::size(kSyncOptions)>(kSyncOptions);
constexpr auto kTimeouts = keywords<cmd::SetTimeouts, std::size(kTimeoutOptions), std::size(kTimeoutOptions)>(kTimeoutOptions);

uint16_t port_id(Words& w) {
  const auto id = w.next("<id>");
  return w.guard([&] { return static_cast<uint16_t>(parse_number(id, "port id", 0, 65535)); });
}

uint16_t vlan_id(Words& w) {
  const auto id = w.next("<vid>");
  return w.guard([&] { return static_cast<uint16_t>(parse_number(id, "VLAN id", 1, net::kMaxVid)); });
}

Request port_address(Words& w) {
  cmd::PortAddress c;
  c.port = port_id(w);
  std::string_view word = w.next("'address' or 'vlan'");
  if (word == "vlan") {
    c.vlan = vlan_id(w);
    word = w.next("'address'");
  }
  if (word != "address") w.fail("expected 'address' or 'vlan <vid> address' after the port id");
  const auto a = w.next("<ip>/<len>");
  if (a == "none") {
    c.remove = cmd::PortAddress::Remove::kAll;
    if (!w.done()) {
      const auto fam = w.next("ipv4 or ipv6");
      if (fam == "ipv4") c.remove = cmd::PortAddress::Remove::kIpv4;
      else if (fam == "ipv6") c.remove = cmd::PortAddress::Remove::kIpv6;
      else w.fail("expected 'ipv4' or 'ipv6' after 'none'");
    }
  } else if (a.find(':') != std::string_view::npos) {
    c.address6 = w.guard([&] {
      auto p = net::parse_prefix6(a);
      if (!p || p->len == 0 || p->len > 127)
        throw ConfigError(quote(a) + " is not an IPv6 address with a prefix length 1-127, e.g. 2001:db8::2/64");
      parse_unicast(net::to_string(p->addr), "port address");
      return *p;
    });
  } else {
    c.address = w.guard([&] {
      auto p = net::parse_prefix(a);
      if (!p || p->len == 0) throw ConfigError(quote(a) + " is not an address with a prefix length, e.g. 198.18.0.2/24");
      parse_unicast(net::to_string(p->addr), "port address");
      return *p;
    });
  }
  w.end();
  return c;
}

Request vip_add(Words& w) {
  const ServiceKey key = w.service();
  return Command{cmd::VipAdd{key, w.service_options()}};
}

Request vip_set(Words& w) {
  const ServiceKey key = w.service();
  return Command{cmd::VipEdit{key, w.service_options(), false}};
}

Request vip_del(Words& w) {
  const ServiceKey key = w.service();
  w.end();
  return Command{cmd::VipDel{key}};
}

// rs add|set: [weight <w>] [uthreshold <n>] [lthreshold <n>] [check ...]
RsOptions rs_options(Words& w) {
  RsOptions o;
  keyword_options(w, kRsOptions, o, &o.check);
  return o;
}

// rs add: "sorry" right after the address makes it a sorry server.
Request rs_add(Words& w) {
  const ServiceKey key = w.service();
  const net::IpAddr rip = w.real_server(key);
  const bool sorry = !w.done() && w.all()[w.pos()] == "sorry";
  if (sorry) ++w.pos();
  const RsOptions o = rs_options(w);
  return Command{cmd::RsAdd{key, rip, o.weight, o.check, o.uthreshold, o.lthreshold, o.on_failure, sorry}};
}

Request rs_set(Words& w) {
  const ServiceKey key = w.service();
  const net::IpAddr rip = w.real_server(key);
  if (!w.done() && w.all()[w.pos()] == "sorry")
    w.fail("a real server cannot become a sorry server (or stop being one): rs del, then rs add ... sorry");
  const RsOptions o = rs_options(w);
  if (!o.weight && !o.check && !o.on_failure && !o.uthreshold && !o.lthreshold)
    w.fail("missing weight, uthreshold, lthreshold, on-failure or check");
  return Command{cmd::RsEdit{key, rip, o.weight, o.check, o.uthreshold, o.lthreshold, o.on_failure}};
}

Request rs_del(Words& w) {
  const ServiceKey key = w.service();
  const net::IpAddr rip = w.real_server(key);
  w.end();
  return Command{cmd::RsDel{key, rip}};
}

net::IpAddr neighbour_ip(Words& w) {
  const auto ipw = w.next("<ip>");
  return w.guard([&] { return parse_unicast(ipw, "neighbour"); });
}

Request neigh_add(Words& w) {
  const net::IpAddr ip = neighbour_ip(w);
  const auto macw = w.next("<mac>");
  cmd::NeighAdd c{ip, w.guard([&] { return parse_neighbour_mac(macw); }), std::nullopt};
  if (!w.done()) {
    if (w.next("option") != "port") w.fail("expected 'port <id>'");
    c.port = port_id(w);
    if (!w.done()) {
      if (w.next("option") != "vlan") w.fail("expected 'vlan <vid>'");
      c.vlan = vlan_id(w);
    }
  }
  w.end();
  return Command{c};
}

Request neigh_del(Words& w) {
  const net::IpAddr ip = neighbour_ip(w);
  w.end();
  return Command{cmd::NeighDel{ip}};
}

Request set_timeout(Words& w) {
  cmd::SetTimeouts c;
  if (w.done()) w.fail("give at least one of tcp, tcpfin, udp");
  while (!w.done()) {
    const auto k = w.next("tcp, tcpfin or udp");
    const Option<cmd::SetTimeouts>* o = find_option(kTimeoutOptions, k);
    if (!o) w.fail("unknown timeout " + quote(k) + ": expected tcp, tcpfin or udp");
    const auto v = w.next("seconds for " + std::string(k));
    w.guard([&] {
      o->set(c, v);
      return 0;
    });
  }
  return Command{c};
}

Request set_check(Words& w) {
  if (w.done()) w.fail("give the check settings to change");
  cmd::SetCheck c{w.check()};
  if (c.check.reset) w.fail("set check default: give the settings instead");
  return Command{c};
}

template <class T>
Request bare(Words& w) {
  w.end();
  if constexpr (std::is_constructible_v<Command, T>)
    return Command{T{}};
  else
    return Query{T{}};
}

Request show_rs(Words& w) {
  query::ShowRs q;
  while (!w.done()) {
    const auto v = w.next("<vip>");
    q.vips.push_back(w.guard([&] { return parse_unicast(v, "VIP"); }));
  }
  return Query{q};
}

Request show_conns(Words& w) {
  query::ShowConns q;
  while (!w.done()) {
    const auto word = w.next("<vip>");
    if (word == "limit") {
      const auto n = w.next("value for limit");
      q.limit = w.guard([&] { return parse_number(n, "limit", 1, 100000); });
    } else if (!q.vip) {
      q.vip = w.guard([&] { return parse_unicast(word, "VIP"); });
    } else {
      w.fail("unexpected " + quote(word));
    }
  }
  return Query{q};
}

Request save_config(Words& w) {
  if (w.all().size() != w.pos() + 1) w.fail("give one file name");
  return Query{query::SaveConfig{std::string(w.next("<file>"))}};
}

Request set_vip_arp(Words& w) {
  const auto mode = w.next("always|kernel");
  w.end();
  if (mode == "always") return Command{cmd::SetVipArp{VipArp::kAlways}};
  if (mode == "kernel") return Command{cmd::SetVipArp{VipArp::kKernel}};
  w.fail("unknown vip-arp mode " + quote(mode) + ": expected always or kernel");
}

// Linux's reserved tables: 0 (unspecified), 253 (default), 254 (main), 255 (local).
Request set_vip_routes(Words& w) {
  const auto what = w.next("table <N>|off");
  if (what == "off") {
    w.end();
    return Command{cmd::SetVipRoutes{std::nullopt}};
  }
  if (what != "table") w.fail("expected 'table <N>' or 'off'");
  const auto n = w.next("<N>");
  w.end();
  const uint32_t table = w.guard([&] { return parse_number(n, "routing table", 1, 0xffffffffu); });
  if (table >= 253 && table <= 255)
    w.fail("table " + std::to_string(table) + " is one of the kernel's own (default, main, local): give drfwd a table of its own");
  return Command{cmd::SetVipRoutes{table}};
}

Request set_vip_holddown(Words& w) {
  const auto secs = w.next("<seconds>");
  w.end();
  return Command{cmd::SetVipHolddown{w.guard([&] { return parse_number(secs, "hold-down", 0, 3600); })}};
}

Request sync_start(Words& w) {
  cmd::SyncStart c;
  const auto role = w.next("master|backup");
  c.role = w.guard([&] { return parse_sync_role(role); });
  keyword_options(w, kSyncOptions, c, nullptr);
  return Command{c};
}

Request sync_stop(Words& w) {
  cmd::SyncStop c;
  if (!w.done()) {
    const auto role = w.next("master|backup");
    c.role = w.guard([&] { return parse_sync_role(role); });
  }
  w.end();
  return Command{c};
}

Request set_sync_rate(Words& w) {
  const auto n = w.next("<records/s>");
  w.end();
  return Command{cmd::SetSyncRate{w.guard([&] { return parse_number(n, "sync rate", 1, 10000000); })}};
}

Request set_sync_refresh(Words& w) {
  const auto n = w.next("<seconds>");
  w.end();
  return Command{cmd::SetSyncRefresh{w.guard([&] { return parse_number(n, "sync refresh", 1, 3600); })}};
}

Request set_log_level(Words& w) {
  if (w.all().size() != w.pos() + 1) w.fail("give one level");
  const auto level = w.next("<level>");
  if (std::find(std::begin(kLevels), std::end(kLevels), level) == std::end(kLevels))
    w.fail("unknown log level " + quote(level));
  return Query{query::SetLogLevel{std::string(level)}};
}

Request help(Words& w) {
  std::string topic;
  for (std::string_view word : w.rest()) topic += (topic.empty() ? "" : " ") + std::string(word);
  return Query{query::Help{topic}};
}

Request ipvsadm(Words& w) { return parse_ipvsadm_request(w.all()); }

const std::string& log_level_args() {
  static const std::string args = [] {
    std::string s;
    for (std::string_view l : kLevels) s += (s.empty() ? "" : "|") + std::string(l);
    return s;
  }();
  return args;
}

const std::vector<CommandForm>& table() {
  static const std::vector<CommandForm> forms = {
      // Configuration
      {"port", "<id> [vlan <vid>] address <ip>/<len>|none [ipv4|ipv6]",
       "give a port its address of a family (the DIP: an IPv4 and an IPv6 one), or take them away; with vlan: make "
       "(or remove) an 802.1Q VLAN interface with that address", port_address},
      {"vip add", "<vip> <tcp|udp> <port> [sched rr|wrr|sh|hash|mh|lc|wlc|sed|nq] [persist <sec>] [netmask <mask>] "
                  "[mh-size <prime>] [flags <sh-port,...>] [quorum <w> [hysteresis <w>]] "
                  "[on-failure inhibit|reschedule] [check ...]",
       "add a service", vip_add, 3, {}, kVipOptions},
      {"vip set", "<vip> <tcp|udp> <port> [sched <s>] [persist <sec>] [netmask <mask>] [mh-size <prime>] "
                  "[flags <f,...>] [quorum <w>] [hysteresis <w>] [on-failure inhibit|reschedule] [check ...]",
       "change a service's options (those not named stay)", vip_set, 3, {}, kVipOptions},
      {"vip del", "<vip> <tcp|udp> <port>", "delete a service and its real servers", vip_del},
      {"rs add", "<vip> <tcp|udp> <port> <rip>[:<port>] [sorry] [weight <0-65535>] [uthreshold <n>] [lthreshold <n>] "
                 "[on-failure inhibit|reschedule|default] [check ...]",
       "add a real server to a service (sorry: a sorry server, used while no real server can be)", rs_add, 4, {},
       kRsOptionWords},
      {"rs set", "<vip> <tcp|udp> <port> <rip>[:<port>] [weight <0-65535>] [uthreshold <n>] [lthreshold <n>] "
                 "[on-failure inhibit|reschedule|default] [check ...]",
       "change a real server's weight, connection thresholds, on-failure or check (weight 0 drains it)", rs_set, 4,
       {}, kRsOptionWords},
      {"rs del", "<vip> <tcp|udp> <port> <rip>[:<port>]", "delete a real server", rs_del},
      {"neigh add", "<ip> <mac> [port <id> [vlan <vid>]]",
       "a static neighbour: this MAC for this address, never resolved (reached on that port's interface, or VLAN "
       "interface)",
       neigh_add},
      {"neigh del", "<ip>", "delete a static neighbour", neigh_del},
      {"set timeout", "[tcp <sec>] [tcpfin <sec>] [udp <sec>]", "connection idle timeouts", set_timeout, 0, {},
       kTimeouts},
      {"set check", "[none|tcp|http|exec] [port <p>] [path </p>] [expect <code>] [host <name>] [interval <t>] "
                    "[timeout <t>] [rise <n>] [fall <n>] [initial up|down] [command <shell command...>]",
       "the health-check settings every service starts from", set_check},
      {"set vip-arp", "always|kernel",
       "claim VIPs by ARP always (default), or only while the kernel interface holds the VIP (VRRP)", set_vip_arp,
       1, kVipArpModes},
      {"set vip-routes", "table <N>|off",
       "keep a /32 route in kernel table N for every VIP with a usable real server (BGP, ECMP)", set_vip_routes, 1,
       kVipRoutes},
      {"set vip-holddown", "<seconds>",
       "at most this long a VIP waits for its real servers' first resolution and check before it is claimed "
       "(default 10)",
       set_vip_holddown},
      {"sync start", "master|backup [interface <if>] [syncid <0-255>] [maxlen <bytes>] [group <addr>] [port <p>] "
                     "[ttl <n>] [peers <ip>[,<ip>...]]",
       "start a connection sync daemon (ipvsadm --start-daemon): a master announces this director's connections, "
       "a backup takes the others'; both may run",
       sync_start, 1, kSyncRoles, kSyncOptionWords},
      {"sync stop", "[master|backup]", "stop a sync daemon (both if none is named)", sync_stop, 1, kSyncRoles},
      {"set sync-rate", "<records/s>",
       "the most connection records the workers hand to the sync master per second, all together (default 100000)",
       set_sync_rate},
      {"set sync-refresh", "<seconds>",
       "how often a connection in use is announced again (default 60)", set_sync_refresh},
      {"clear", "", "delete every service (neighbours and addresses stay)", bare<cmd::Clear>},
      // Queries
      {"show vips", "", "services: VIP, protocol, port, scheduler, options, real servers", bare<query::ShowVips>},
      {"show rs", "[<vip> ...]", "real servers: weight, health, neighbour, connections, packets, bytes, rates",
       show_rs},
      {"show stats", "", "per port and per worker: received, forwarded, dropped by reason, rates",
       bare<query::ShowStats>},
      {"show ports", "", "ports: driver, MAC, address, queues, link, kernel interface", bare<query::ShowPorts>},
      {"show neigh", "", "neighbours: resolved and static, with their state", bare<query::ShowNeigh>},
      {"show conns", "[<vip>] [limit <n>]", "connections (up to limit, default 100)", show_conns},
      {"show config", "", "the running configuration, as commands that rebuild it", bare<query::ShowConfig>},
      {"show sync", "", "connection sync: daemons, sent, received, applied, refused by reason, capped",
       bare<query::ShowSync>},
      {"save config", "<file>", "write the running configuration to a file", save_config},
      {"clear stats", "", "zero the counters shown by show and ipvsadm -L --stats", bare<query::ClearStats>},
      {"set log-level", log_level_args(), "change the log level now", set_log_level, 1, kLevels},
      {"help", "[<command>]", "this help", help},
      {"quit", "", "stop drfwd (as SIGINT)", bare<query::Quit>},
      {"exit", "", "the same as quit", bare<query::Quit>},
      {"ipvsadm", "...",
       "ipvsadm's own command line: -A -E -D -a -e -d -C -L -Z -S -R --set (help ipvsadm for the forms)", ipvsadm, 0,
       {}, ipvsadm_commands(), kIpvsadmUsage},
  };
  return forms;
}

// The words of a form's name.
std::vector<std::string_view> name_words(const CommandForm& f) { return tokenize(f.name); }

// The forms whose name starts with `verb`, one usage per line.
std::string family_usage(std::string_view verb) {
  std::string forms;
  for (const CommandForm& f : table())
    if (name_words(f)[0] == verb) forms += (forms.empty() ? "" : "\n") + f.usage();
  return forms;
}

[[noreturn]] void unknown(const std::vector<std::string_view>& w) {
  constexpr std::string_view kHint = "\n(help lists every command, show and ipvsadm included)";
  const std::string named = "unknown command " + quote(w[0]) + (w.size() > 1 ? " " + quote(w[1]) : "");
  std::string forms = family_usage(w[0]);
  if (forms.empty()) {
    for (const CommandForm& f : table()) forms += (forms.empty() ? "" : "\n") + f.usage();
    throw ConfigError(named, forms + std::string(kHint));
  }
  if (w.size() == 1) throw ConfigError(std::string(w[0]) + " what?", forms + std::string(kHint));
  throw ConfigError(named, forms + std::string(kHint));
}

}  // namespace

const std::span<const std::string_view> kLogLevels{kLevels};

std::span<const CommandForm> commands() { return table(); }

const CommandForm* find_form(const std::vector<std::string_view>& words, size_t& consumed) {
  const CommandForm* best = nullptr;
  consumed = 0;
  for (const CommandForm& f : table()) {
    const auto name = name_words(f);
    if (name.size() <= words.size() && name.size() > consumed && std::equal(name.begin(), name.end(), words.begin())) {
      best = &f;
      consumed = name.size();
    }
  }
  return best;
}

std::optional<Request> parse_request(std::string_view line) {
  const auto words = tokenize(line);
  if (words.empty()) return std::nullopt;
  size_t consumed = 0;
  const CommandForm* f = find_form(words, consumed);
  // A word after a form that takes none is more likely a mistyped command than an
  // argument: "clear all" is not "clear".
  if (!f || (consumed == 1 && f->args.empty() && words.size() > 1 && family_usage(words[0]) != f->usage()))
    unknown(words);
  Words w(words, consumed, f->usage());
  return f->parse(w);
}

std::optional<Command> parse_line(std::string_view line) {
  auto r = parse_request(line);
  if (!r) return std::nullopt;
  if (auto* c = std::get_if<Command>(&*r)) return *c;
  const auto words = tokenize(line);
  throw ConfigError(quote(words[0]) + (words.size() > 1 ? " " + quote(words[1]) : "") +
                    " reads or controls the running drfwd; it is not a configuration command");
}

std::vector<std::string_view> tokenize(std::string_view line) {
  std::vector<std::string_view> words;
  if (const size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
  constexpr std::string_view kSpace = " \t\r\n";
  size_t i = 0;
  while ((i = line.find_first_not_of(kSpace, i)) != std::string_view::npos) {
    const size_t j = std::min(line.find_first_of(kSpace, i), line.size());
    words.push_back(line.substr(i, j - i));
    i = j;
  }
  return words;
}

}  // namespace drfwd::config
