// The native grammar: short verbs, positional addresses, "key value" options.
#include <algorithm>

#include "config/command.hpp"
#include "config/request.hpp"
#include "config/values.hpp"
#include "net/parse.hpp"

namespace drfwd::config {

const std::vector<std::pair<std::string_view, std::string_view>> kNativeUsage = {
    {"port address", "port <id> address <ip>/<len>|none"},
    {"vip add",
     "vip add <vip> <tcp|udp> <port> [sched rr|wrr|sh|hash|mh] [persist <sec>] "
     "[netmask <mask>] [mh-size <prime>] [flags <sh-port,...>] [check ...]"},
    {"vip set",
     "vip set <vip> <tcp|udp> <port> [sched <s>] [persist <sec>] [netmask <mask>] "
     "[mh-size <prime>] [flags <f,...>] [check ...]"},
    {"vip del", "vip del <vip> <tcp|udp> <port>"},
    {"rs add", "rs add <vip> <tcp|udp> <port> <rip>[:<port>] [weight <0-65535>] [check ...]"},
    {"rs set", "rs set <vip> <tcp|udp> <port> <rip>[:<port>] [weight <0-65535>] [check ...]"},
    {"rs del", "rs del <vip> <tcp|udp> <port> <rip>[:<port>]"},
    {"neigh add", "neigh add <ip> <mac> [port <id>]"},
    {"neigh del", "neigh del <ip>"},
    {"set timeout", "set timeout [tcp <sec>] [tcpfin <sec>] [udp <sec>]"},
    {"set check", "set check [none|tcp|http] [port <p>] [path </p>] [expect <code>] [host <name>] "
                  "[interval <t>] [timeout <t>] [rise <n>] [fall <n>]"},
    {"clear", "clear"},
};

std::vector<std::string_view> tokenize(std::string_view line) {
  std::vector<std::string_view> words;
  size_t hash = line.find('#');
  if (hash != std::string_view::npos) line = line.substr(0, hash);
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r' || line[i] == '\n'))
      ++i;
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != '\r' && line[j] != '\n')
      ++j;
    if (j > i) words.push_back(line.substr(i, j - i));
    i = j;
  }
  return words;
}

std::optional<Command> parse_line(std::string_view line) {
  auto r = parse_request(line);
  if (!r) return std::nullopt;
  if (auto* c = std::get_if<Command>(&*r)) return *c;
  const auto words = tokenize(line);
  throw ConfigError(quote(words[0]) + (words.size() > 1 ? " " + quote(words[1]) : "") +
                    " reads or controls the running drfwd; it is not a configuration command");
}

namespace {

std::string_view usage_of(std::string_view key) {
  for (auto& [k, u] : kNativeUsage)
    if (k == key) return u;
  return {};
}

// Walks the words of one command; errors carry that command's usage line.
class Words {
 public:
  Words(const std::vector<std::string_view>& w, size_t start, std::string_view usage)
      : w_(w), i_(start), usage_(usage) {}

  [[noreturn]] void fail(const std::string& msg) const { throw ConfigError(msg, std::string(usage_)); }
  template <class F>
  auto guard(F&& f) const {
    try {
      return f();
    } catch (const ConfigError& e) {
      fail(e.what());
    }
  }
  bool done() const { return i_ >= w_.size(); }
  std::string_view next(std::string_view what) {
    if (done()) fail("missing " + std::string(what));
    return w_[i_++];
  }
  void end() const {
    if (!done()) fail("unexpected " + quote(w_[i_]));
  }

  ServiceKey service() {
    ServiceKey k;
    auto vip = next("<vip>");
    auto proto = next("<tcp|udp>");
    auto port = next("<port>");
    guard([&] {
      k.vip = parse_unicast(vip, "VIP");
      k.proto = parse_proto(proto);
      k.port = parse_port_number(port, "service port");
      return 0;
    });
    return k;
  }

  // "<rip>[:<port>]"; a port, if given, must be the service's (DR cannot translate).
  net::Ipv4 real_server(const ServiceKey& svc) {
    auto word = next("<rip>");
    return guard([&] {
      auto [ip, port] = parse_addr_port(word, "real server");
      if (port && *port != svc.port)
        throw ConfigError("real server port " + std::to_string(*port) + " differs from the service port " +
                          std::to_string(svc.port) +
                          ": direct routing forwards to the same port and cannot translate it");
      return ip;
    });
  }

  // "check ..." takes the rest of the line.
  CheckOverride check() {
    return guard([&] { return parse_check(w_, i_); });
  }

  ServiceOptions service_options() {
    ServiceOptions o;
    while (!done()) {
      auto key = next("option");
      if (key == "check") {
        o.check = check();
        break;
      }
      auto val = next(std::string("value for ") + std::string(key));
      guard([&] {
        if (key == "sched") o.sched = parse_scheduler(val);
        else if (key == "persist") o.persist = parse_number(val, "persistence timeout", 0, kMaxTimeout);
        else if (key == "netmask") o.persist_mask = parse_mask(val);
        else if (key == "mh-size") o.mh_size = parse_mh_size(val);
        else if (key == "flags") o.flags = parse_sched_flags(val);
        else throw ConfigError("unknown option " + quote(key));
        return 0;
      });
    }
    return o;
  }

 private:
  const std::vector<std::string_view>& w_;
  size_t i_;
  std::string_view usage_;
};

}  // namespace

Command parse_native(const std::vector<std::string_view>& w) {
  const std::string_view verb = w[0];
  const std::string_view sub = w.size() > 1 ? w[1] : std::string_view{};

  if (verb == "port") {
    Words r(w, 1, usage_of("port address"));
    cmd::PortAddress c;
    auto id = r.next("<id>");
    c.port = r.guard([&] { return static_cast<uint16_t>(parse_number(id, "port id", 0, 65535)); });
    if (r.next("'address'") != "address") r.fail("expected 'address' after the port id");
    auto a = r.next("<ip>/<len>");
    if (a != "none") {
      c.address = r.guard([&] {
        auto p = net::parse_prefix(a);
        if (!p || p->len == 0)
          throw ConfigError(quote(a) + " is not an address with a prefix length, e.g. 198.18.0.2/24");
        parse_unicast(net::to_string(p->addr), "port address");
        return *p;
      });
    }
    r.end();
    return c;
  }

  if (verb == "vip" && (sub == "add" || sub == "set" || sub == "del")) {
    Words r(w, 2, usage_of(std::string("vip ") + std::string(sub)));
    ServiceKey key = r.service();
    if (sub == "del") {
      r.end();
      return cmd::VipDel{key};
    }
    ServiceOptions opts = r.service_options();
    if (sub == "add") return cmd::VipAdd{key, opts};
    return cmd::VipEdit{key, opts, false};
  }

  if (verb == "rs" && (sub == "add" || sub == "set" || sub == "del")) {
    Words r(w, 2, usage_of(std::string("rs ") + std::string(sub)));
    ServiceKey key = r.service();
    net::Ipv4 rip = r.real_server(key);
    if (sub == "del") {
      r.end();
      return cmd::RsDel{key, rip};
    }
    std::optional<uint32_t> weight;
    std::optional<CheckOverride> chk;
    while (!r.done()) {
      auto k = r.next("option");
      if (k == "check") {
        chk = r.check();
        break;
      }
      if (k != "weight") r.fail("unknown option " + quote(k));
      auto v = r.next("value for weight");
      weight = r.guard([&] { return parse_number(v, "weight", 0, kMaxWeight); });
    }
    if (sub == "add") return cmd::RsAdd{key, rip, weight, chk};
    if (!weight && !chk) r.fail("missing weight or check");
    return cmd::RsEdit{key, rip, weight, chk};
  }

  if (verb == "neigh" && (sub == "add" || sub == "del")) {
    Words r(w, 2, usage_of(std::string("neigh ") + std::string(sub)));
    auto ipw = r.next("<ip>");
    net::Ipv4 ip = r.guard([&] { return parse_unicast(ipw, "neighbour"); });
    if (sub == "del") {
      r.end();
      return cmd::NeighDel{ip};
    }
    auto macw = r.next("<mac>");
    cmd::NeighAdd c{ip, r.guard([&] { return parse_neighbour_mac(macw); }), std::nullopt};
    if (!r.done()) {
      if (r.next("option") != "port") r.fail("expected 'port <id>'");
      auto p = r.next("<id>");
      c.port = r.guard([&] { return static_cast<uint16_t>(parse_number(p, "port id", 0, 65535)); });
    }
    r.end();
    return c;
  }

  if (verb == "set" && sub == "timeout") {
    Words r(w, 2, usage_of("set timeout"));
    cmd::SetTimeouts c;
    if (r.done()) r.fail("give at least one of tcp, tcpfin, udp");
    while (!r.done()) {
      auto k = r.next("tcp, tcpfin or udp");
      auto v = r.next(std::string("seconds for ") + std::string(k));
      uint32_t secs = r.guard([&] { return parse_number(v, "timeout", 1, kMaxTimeout); });
      if (k == "tcp") c.tcp = secs;
      else if (k == "tcpfin") c.tcp_fin = secs;
      else if (k == "udp") c.udp = secs;
      else r.fail("unknown timeout " + quote(k) + ": expected tcp, tcpfin or udp");
    }
    return c;
  }

  if (verb == "set" && sub == "check") {
    Words r(w, 2, usage_of("set check"));
    if (r.done()) r.fail("give the check settings to change");
    cmd::SetCheck c{r.check()};
    if (c.check.reset) r.fail("set check default: give the settings instead");
    return c;
  }

  if (verb == "clear" && w.size() == 1) return cmd::Clear{};

  // Unknown: name the closest family so the operator sees the right forms.
  std::string msg = "unknown command " + quote(verb) + (sub.empty() ? "" : " " + quote(sub));
  std::string forms;
  for (auto& [k, u] : kNativeUsage)
    if (k.substr(0, k.find(' ')) == verb) forms += (forms.empty() ? "" : "\n") + std::string(u);
  if (forms.empty())
    for (auto& [k, u] : kNativeUsage) forms += (forms.empty() ? "" : "\n") + std::string(u);
  throw ConfigError(msg, forms + "\n(help lists every command, show and ipvsadm included)");
}

}  // namespace drfwd::config
