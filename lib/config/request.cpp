#include "config/request.hpp"

#include <algorithm>

#include "config/values.hpp"

namespace drfwd::config {

namespace {

struct QueryForm {
  std::string_view name;
  std::string_view usage;
  std::string_view what;
};

const std::vector<QueryForm> kQueries = {
    {"show vips", "show vips", "services: VIP, protocol, port, scheduler, options, real servers"},
    {"show rs", "show rs [<vip> ...]", "real servers: weight, health, neighbour, connections, packets, bytes, rates"},
    {"show stats", "show stats", "per port and per worker: received, forwarded, dropped by reason, rates"},
    {"show ports", "show ports", "ports: driver, MAC, address, queues, link, kernel interface"},
    {"show neigh", "show neigh", "neighbours: resolved and static, with their state"},
    {"show conns", "show conns [<vip>] [limit <n>]", "connections (up to limit, default 100)"},
    {"show config", "show config", "the running configuration, as commands that rebuild it"},
    {"save config", "save config <file>", "write the running configuration to a file"},
    {"clear stats", "clear stats", "zero the counters shown by show and ipvsadm -L --stats"},
    {"set log-level", "set log-level trace|debug|info|warn|error|critical|off", "change the log level now"},
    {"help", "help [<command>]", "this help"},
    {"quit", "quit", "stop drfwd (as SIGINT)"},
};

[[noreturn]] void fail(const std::string& msg, std::string_view usage) { throw ConfigError(msg, std::string(usage)); }

std::string_view query_usage(std::string_view name) {
  for (auto& q : kQueries)
    if (q.name == name) return q.usage;
  return {};
}

std::optional<Query> parse_native_query(const std::vector<std::string_view>& w) {
  const std::string_view verb = w[0];
  const std::string_view sub = w.size() > 1 ? w[1] : std::string_view{};
  auto no_more = [&](size_t n, std::string_view name) {
    if (w.size() > n) fail("unexpected " + quote(w[n]), query_usage(name));
  };
  if (verb == "show") {
    if (sub == "vips") return no_more(2, "show vips"), Query{query::ShowVips{}};
    if (sub == "stats") return no_more(2, "show stats"), Query{query::ShowStats{}};
    if (sub == "ports") return no_more(2, "show ports"), Query{query::ShowPorts{}};
    if (sub == "neigh") return no_more(2, "show neigh"), Query{query::ShowNeigh{}};
    if (sub == "config") return no_more(2, "show config"), Query{query::ShowConfig{}};
    if (sub == "rs") {
      query::ShowRs q;
      for (size_t i = 2; i < w.size(); ++i) {
        try {
          q.vips.push_back(parse_unicast(w[i], "VIP"));
        } catch (const ConfigError& e) {
          fail(e.what(), query_usage("show rs"));
        }
      }
      return Query{q};
    }
    if (sub == "conns") {
      query::ShowConns q;
      for (size_t i = 2; i < w.size(); ++i) {
        try {
          if (w[i] == "limit") {
            if (i + 1 >= w.size()) fail("missing value for limit", query_usage("show conns"));
            q.limit = parse_number(w[++i], "limit", 1, 100000);
          } else if (!q.vip) {
            q.vip = parse_unicast(w[i], "VIP");
          } else {
            fail("unexpected " + quote(w[i]), query_usage("show conns"));
          }
        } catch (const ConfigError& e) {
          fail(e.what(), query_usage("show conns"));
        }
      }
      return Query{q};
    }
    std::string forms;
    for (auto& q : kQueries)
      if (q.name.substr(0, 4) == "show") forms += (forms.empty() ? "" : "\n") + std::string(q.usage);
    fail(sub.empty() ? "show what?" : "unknown: show " + quote(sub), forms);
  }
  if (verb == "save" && sub == "config") {
    if (w.size() != 3) fail("give one file name", query_usage("save config"));
    return Query{query::SaveConfig{std::string(w[2])}};
  }
  if (verb == "clear" && sub == "stats") return no_more(2, "clear stats"), Query{query::ClearStats{}};
  if (verb == "set" && sub == "log-level") {
    if (w.size() != 3) fail("give one level", query_usage("set log-level"));
    static const char* levels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
    if (std::none_of(std::begin(levels), std::end(levels), [&](const char* l) { return w[2] == l; }))
      fail("unknown log level " + quote(w[2]), query_usage("set log-level"));
    return Query{query::SetLogLevel{std::string(w[2])}};
  }
  if ((verb == "quit" || verb == "exit") && w.size() == 1) return Query{query::Quit{}};
  if (verb == "help") {
    std::string topic;
    for (size_t i = 1; i < w.size(); ++i) topic += (i > 1 ? " " : "") + std::string(w[i]);
    return Query{query::Help{topic}};
  }
  return std::nullopt;
}

}  // namespace

std::optional<Request> parse_request(std::string_view line) {
  auto words = tokenize(line);
  if (words.empty()) return std::nullopt;
  if (words[0] == "ipvsadm") return parse_ipvsadm_request(words);
  if (auto q = parse_native_query(words)) return Request{*q};
  return Request{parse_native(words)};
}

std::string help_text(std::string_view topic) {
  std::string out;
  auto want = [&](std::string_view name) { return topic.empty() || name.substr(0, topic.size()) == topic; };
  for (auto& [name, usage] : kNativeUsage)
    if (want(name)) out += "  " + std::string(usage) + "\n";
  if (want("check") && !topic.empty()) out += "  " + std::string(kCheckUsage) + "\n";
  for (auto& q : kQueries)
    if (want(q.name)) out += "  " + std::string(q.usage) + "\n      " + std::string(q.what) + "\n";
  if (want("ipvsadm"))
    out += "  ipvsadm ...   (ipvsadm's own command line: -A -E -D -a -e -d -C -L -Z -S -R --set;\n"
           "                 help ipvsadm for the forms)\n";
  if (topic == "ipvsadm") {
    try {
      parse_request("ipvsadm");
    } catch (const ConfigError& e) {
      std::string u = e.usage();
      size_t pos = 0;
      out.clear();
      while (pos < u.size()) {
        size_t nl = u.find('\n', pos);
        out += "  " + u.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos) + "\n";
        if (nl == std::string::npos) break;
        pos = nl + 1;
      }
    }
  }
  if (topic == "version") out = "drfwd " DRFWD_VERSION "\n";
  if (out.empty()) out = "no command starts with '" + std::string(topic) + "': try help\n";
  if (topic.empty())
    out = "Commands (native grammar; a line starting with ipvsadm is read as ipvsadm's command line):\n" + out +
          "  check ... = " + std::string(kCheckUsage) + "\n";
  return out;
}

std::vector<std::string> completions(const std::vector<std::string_view>& words) {
  static const std::vector<std::pair<std::string, std::vector<std::string>>> kTree = {
      {"", {"port", "vip", "rs", "neigh", "set", "clear", "show", "save", "help", "quit", "ipvsadm"}},
      {"vip", {"add", "set", "del"}},
      {"rs", {"add", "set", "del"}},
      {"neigh", {"add", "del"}},
      {"set", {"timeout", "check", "log-level"}},
      {"show", {"vips", "rs", "stats", "ports", "neigh", "conns", "config"}},
      {"save", {"config"}},
      {"clear", {"stats"}},
      {"set log-level", {"trace", "debug", "info", "warn", "error", "critical", "off"}},
      {"set timeout", {"tcp", "tcpfin", "udp"}},
      {"ipvsadm", {"-A", "-E", "-D", "-C", "-a", "-e", "-d", "-L", "-Z", "-S", "-R", "--set"}},
  };
  std::string key;
  for (size_t i = 0; i < words.size() && i < 2; ++i) key += (i ? " " : "") + std::string(words[i]);
  for (auto& [k, v] : kTree)
    if (k == key) return v;
  // After the service triple of vip/rs commands: their options.
  if (words.size() >= 5 && (words[0] == "vip") && words[1] != "del")
    return {"sched", "persist", "netmask", "mh-size", "flags", "check"};
  if (words.size() >= 6 && words[0] == "rs" && words[1] != "del") return {"weight", "check"};
  return {};
}

}  // namespace drfwd::config
