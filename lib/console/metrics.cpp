#include "console/metrics.hpp"

#include <fmt/format.h>

#include <cmath>

#include "config/values.hpp"
#include "console/text.hpp"

namespace drfwd::console {

namespace {

// Backslash and newline escaped, and double quotes too in a label value.
std::string escape(std::string_view v, bool quotes) {
  std::string out;
  out.reserve(v.size());
  for (const char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '"' && quotes) out += "\\\"";
    else out += c;
  }
  return out;
}

}  // namespace

std::string escape_label_value(std::string_view v) { return escape(v, true); }
std::string escape_help(std::string_view v) { return escape(v, false); }

namespace {

// The inside of "{a="x",b="y"}", built one label at a time.
class Labels {
 public:
  Labels() = default;
  Labels& add(std::string_view name, std::string_view value) {
    if (!s_.empty()) s_ += ',';
    s_ += name;
    s_ += "=\"";
    s_ += escape_label_value(value);
    s_ += '"';
    return *this;
  }
  Labels& add(std::string_view name, uint64_t value) { return add(name, std::to_string(value)); }
  // Another set's labels after these.
  Labels with(const Labels& more) const {
    Labels l = *this;
    if (!more.s_.empty()) l.s_ += (l.s_.empty() ? "" : ",") + more.s_;
    return l;
  }
  const std::string& body() const { return s_; }

 private:
  std::string s_;
};

// One family at a time: HELP and TYPE once, then its samples.
class Exposition {
 public:
  void counter(std::string_view name, std::string_view help) { begin(name, "counter", help); }
  void gauge(std::string_view name, std::string_view help) { begin(name, "gauge", help); }
  // A family of either type; a counter's name gets its _total here.
  void family(std::string_view base, lb::CounterKind kind, std::string_view help) {
    if (kind == lb::CounterKind::kCounter)
      counter(std::string(base) + "_total", help);
    else
      gauge(base, help);
  }

  void sample(const Labels& l, uint64_t v) { line(l, std::to_string(v)); }
  void sample(const Labels& l, int64_t v) { line(l, std::to_string(v)); }
  void sample(const Labels& l, bool v) { line(l, v ? "1" : "0"); }
  void sample(const Labels& l, double v) {
    if (std::isnan(v)) return line(l, "NaN");
    if (std::isinf(v)) return line(l, v > 0 ? "+Inf" : "-Inf");
    line(l, fmt::format("{}", v));
  }

  void reserve(size_t bytes) { out_.reserve(bytes); }
  std::string take() { return std::move(out_); }

 private:
  void begin(std::string_view name, std::string_view type, std::string_view help) {
    name_ = name;
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += escape_help(help);
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  void line(const Labels& l, const std::string& value) {
    out_ += name_;
    if (!l.body().empty()) {
      out_ += '{';
      out_ += l.body();
      out_ += '}';
    }
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  }
  std::string out_;
  std::string name_;
};

// Every field of a table as one family each, a sample per element of `items`: `get(item)`
// gives the struct the table reads, `labels(i)` the item's labels.
template <class S, class T, size_t N, class Items, class Get, class LabelsOf>
void table_families(Exposition& e, std::string_view prefix, const lb::CounterField<S, T> (&table)[N],
                    const Items& items, Get get, LabelsOf labels) {
  for (const auto& f : table) {
    e.family(std::string(prefix) + std::string(f.name), f.kind, f.help);
    for (size_t i = 0; i < items.size(); ++i) e.sample(labels(i), lb::read(get(items[i]).*f.member));
  }
}

// Control-core counters: one family each, no labels.
template <class S, size_t N>
void control_families(Exposition& e, std::string_view prefix, const S& s, const lb::CounterField<S> (&table)[N]) {
  const std::vector<const S*> one{&s};
  table_families(e, prefix, table, one, [](const S* p) -> const S& { return *p; }, [](size_t) { return Labels(); });
}

std::string proto_label(uint8_t proto) { return proto_upper(proto); }

Labels service_labels(const control::ServiceStatus& s) {
  Labels l;
  l.add("local_address", net::to_string(s.key.vip)).add("local_port", s.key.port).add("proto", proto_label(s.key.proto));
  return l;
}

// node_exporter's backend labels, in its order: the service, then the real server (in
// direct routing the real server's port is the service's).
Labels backend_labels(const control::ServiceStatus& s, const control::RsStatus& r) {
  Labels l;
  l.add("local_address", net::to_string(s.key.vip))
      .add("local_port", s.key.port)
      .add("remote_address", net::to_string(r.ip))
      .add("remote_port", s.key.port)
      .add("proto", proto_label(s.key.proto));
  return l;
}

struct Backend {
  const control::ServiceStatus* service;
  const control::RsStatus* rs;
  Labels labels;
  bool listed;  // as ipvsadm -L lists it: a sorry server only while it takes the traffic
};

void ipvs_families(Exposition& e, const MetricsInputs& in, const std::vector<Backend>& backends) {
  uint64_t conns = 0, packets = 0, bytes = 0;
  for (const dp::WorkerTotals& w : in.totals.workers) conns += lb::read(w.w.conn_new);
  for (const dp::PortTotals& p : in.totals.ports) {
    packets += lb::read(p.sw.forwarded);
    bytes += lb::read(p.sw.forwarded_bytes);
  }
  const Labels none;
  e.counter("drfwd_ipvs_connections_total", "The total number of connections made.");
  e.sample(none, conns);
  e.counter("drfwd_ipvs_incoming_packets_total", "The total number of incoming packets.");
  e.sample(none, packets);
  e.counter("drfwd_ipvs_outgoing_packets_total",
            "The total number of outgoing packets (always 0: in direct routing replies never cross the director).");
  e.sample(none, uint64_t{0});
  e.counter("drfwd_ipvs_incoming_bytes_total", "The total amount of incoming data.");
  e.sample(none, bytes);
  e.counter("drfwd_ipvs_outgoing_bytes_total",
            "The total amount of outgoing data (always 0: in direct routing replies never cross the director).");
  e.sample(none, uint64_t{0});

  e.gauge("drfwd_ipvs_backend_connections_active", "The current active connections by local and remote address.");
  for (const Backend& b : backends)
    if (b.listed) e.sample(b.labels, b.rs->counters.active);
  e.gauge("drfwd_ipvs_backend_connections_inactive", "The current inactive connections by local and remote address.");
  for (const Backend& b : backends)
    if (b.listed) e.sample(b.labels, b.rs->counters.inactive);
  e.gauge("drfwd_ipvs_backend_weight", "The current backend weight by local and remote address.");
  for (const Backend& b : backends)
    if (b.listed) e.sample(b.labels, uint64_t{b.rs->weight});
}

void service_families(Exposition& e, const std::vector<control::ServiceStatus>& services) {
  std::vector<Labels> labels;
  labels.reserve(services.size());
  for (const control::ServiceStatus& s : services) labels.push_back(service_labels(s));
  e.gauge("drfwd_service_info", "A virtual service, with its scheduler (always 1).");
  for (size_t i = 0; i < services.size(); ++i)
    e.sample(Labels(labels[i]).add("sched", lb::sched_name(services[i].params.sched)), uint64_t{1});
  auto flag = [&](std::string_view name, std::string_view help, auto get) {
    e.gauge(name, help);
    for (size_t i = 0; i < services.size(); ++i) e.sample(labels[i], get(services[i]));
  };
  flag("drfwd_service_real_servers", "Real servers of the service (sorry servers included).",
       [](const control::ServiceStatus& s) { return uint64_t{s.rs.size()}; });
  flag("drfwd_service_real_servers_accepting", "Real servers that new connections go to now.",
       [](const control::ServiceStatus& s) {
         uint64_t n = 0;
         for (const control::RsStatus& r : s.rs) n += r.takes_new;
         return n;
       });
  flag("drfwd_service_below_quorum", "1 while the service's quorum is lost (it counts as down).",
       [](const control::ServiceStatus& s) { return s.below_quorum; });
  flag("drfwd_service_sorry_mode", "1 while the service's sorry servers take the new connections.",
       [](const control::ServiceStatus& s) { return s.sorry_mode; });
  flag("drfwd_service_vip_claimed", "1 while this director answers ARP (neighbor discovery) for the VIP.",
       [](const control::ServiceStatus& s) { return s.arp_claimed; });
}

void backend_families(Exposition& e, const std::vector<Backend>& backends) {
  // The real server's counters and gauges, from their tables.
  table_families(e, "drfwd_backend_", lb::kRsCounterFields, backends,
                 [](const Backend& b) -> const lb::RsCounters& { return b.rs->counters; },
                 [&](size_t i) -> const Labels& { return backends[i].labels; });
  table_families(e, "drfwd_backend_", lb::kRsGaugeFields, backends,
                 [](const Backend& b) -> const lb::RsCounters& { return b.rs->counters; },
                 [&](size_t i) -> const Labels& { return backends[i].labels; });
  e.gauge("drfwd_backend_up", "1 unless the real server's health check says it is down (unchecked counts as up).");
  for (const Backend& b : backends) e.sample(b.labels, b.rs->healthy());
  e.gauge("drfwd_backend_health", "The real server's health: 1 for its state, 0 for the others.");
  for (const Backend& b : backends)
    for (const lb::Health h : {lb::Health::kUnchecked, lb::Health::kUp, lb::Health::kDown})
      e.sample(b.labels.with(Labels().add("state", lb::health_name(h))), b.rs->health == h);
  e.gauge("drfwd_backend_accepting", "1 while new connections go to the real server.");
  for (const Backend& b : backends) e.sample(b.labels, b.rs->takes_new);
  e.gauge("drfwd_backend_resolved", "1 while the real server's MAC address and port are known.");
  for (const Backend& b : backends) e.sample(b.labels, b.rs->resolved());
  e.gauge("drfwd_backend_sorry", "1 for a sorry server (it takes new connections only in sorry mode).");
  for (const Backend& b : backends) e.sample(b.labels, b.rs->sorry);
}

void port_families(Exposition& e, const MetricsInputs& in) {
  const size_t n = std::min(in.ports.size(), in.totals.ports.size());
  std::vector<Labels> labels(n);
  for (size_t p = 0; p < n; ++p) labels[p].add("port", uint64_t{in.ports[p].id});
  auto of = [&](size_t i) -> const Labels& { return labels[i]; };
  const std::span<const dp::PortTotals> totals(in.totals.ports.data(), n);

  e.gauge("drfwd_port_info", "A DPDK port drfwd forwards on (always 1).");
  for (size_t p = 0; p < n; ++p)
    e.sample(Labels(labels[p])
                 .add("name", in.ports[p].name)
                 .add("driver", in.ports[p].driver)
                 .add("mac", net::to_string(in.ports[p].mac)),
             uint64_t{1});
  table_families(e, "drfwd_nic_", dp::kNicFields, totals, [](const dp::PortTotals& t) -> const auto& { return t.nic; },
                 of);
  table_families(e, "drfwd_port_", lb::kPortFields, totals, [](const dp::PortTotals& t) -> const auto& { return t.sw; },
                 of);
  e.counter("drfwd_port_dropped_total", "Frames received on the port and dropped, for any reason (drfwd_drops_total).");
  for (size_t p = 0; p < n; ++p) e.sample(labels[p], lb::dropped(totals[p].sw));
  e.counter("drfwd_drops_total", "Frames received on the port and dropped, by reason.");
  for (size_t p = 0; p < n; ++p)
    for (int d = 1; d < net::kDropCount; ++d)
      e.sample(labels[p].with(Labels().add("reason", net::drop_name(static_cast<net::Drop>(d)))),
               lb::read(totals[p].sw.drops[d]));
}

void worker_families(Exposition& e, const MetricsInputs& in) {
  const auto& workers = in.totals.workers;
  std::vector<Labels> labels(workers.size());
  for (size_t w = 0; w < workers.size(); ++w) labels[w].add("worker", uint64_t{w});
  auto of = [&](size_t i) -> const Labels& { return labels[i]; };

  e.gauge("drfwd_worker_info", "A forwarding worker and its lcore (always 1).");
  for (size_t w = 0; w < workers.size(); ++w)
    e.sample(Labels(labels[w]).add("lcore", uint64_t{workers[w].lcore}), uint64_t{1});
  table_families(e, "drfwd_worker_", lb::kWorkerFields, workers,
                 [](const dp::WorkerTotals& t) -> const auto& { return t.w; }, of);
  // The port counters, summed over the ports the worker polls.
  table_families(e, "drfwd_worker_", lb::kPortFields, workers,
                 [](const dp::WorkerTotals& t) -> const auto& { return t.sw; }, of);
  e.counter("drfwd_worker_dropped_total", "Frames the worker dropped, for any reason.");
  for (size_t w = 0; w < workers.size(); ++w) e.sample(labels[w], lb::dropped(workers[w].sw));
  for (const lb::HistogramField& h : lb::kWorkerHistograms) {
    e.gauge("drfwd_worker_" + std::string(h.name) + "_max_seconds", "The longest of " + std::string(h.help) + ".");
    for (size_t w = 0; w < workers.size(); ++w)
      e.sample(labels[w], static_cast<double>(lb::read((workers[w].w.*h.member).max)) / in.tsc_hz);
  }
  e.gauge("drfwd_conn_table_capacity",
          "Connection table entries of the worker, IPv4 and IPv6 (drfwd_worker_conns_in_use counts those in use).");
  for (size_t w = 0; w < workers.size() && w < in.conn_capacity.size(); ++w)
    e.sample(labels[w], in.conn_capacity[w]);
}

}  // namespace

std::string render_metrics(const MetricsInputs& in) {
  size_t n = 0;
  for (const control::ServiceStatus& s : in.services) n += s.rs.size();
  Exposition e;
  // About what it takes (a real server's lines are some 2 KB): one allocation, not a
  // dozen reallocations and copies of a growing page.
  e.reserve(32768 + n * 2400 + in.services.size() * 800 + in.totals.ports.size() * (net::kDropCount * 48 + 2048) +
            in.totals.workers.size() * 4096);
  e.gauge("drfwd_build_info", "drfwd's version (always 1).");
  e.sample(Labels().add("version", DRFWD_VERSION), uint64_t{1});

  std::vector<Backend> backends;
  backends.reserve(n);
  for (const control::ServiceStatus& s : in.services)
    for (const control::RsStatus& r : s.rs) backends.push_back({&s, &r, backend_labels(s, r), !r.sorry || r.takes_new});

  ipvs_families(e, in, backends);
  service_families(e, in.services);
  backend_families(e, backends);
  port_families(e, in);
  worker_families(e, in);
  control_families(e, "drfwd_slow_path_", in.control.slow, control::kSlowPathFields);
  control_families(e, "drfwd_director_", in.control.director, control::kDirectorFields);
  control_families(e, "drfwd_director_", in.control.neigh, control::kNeighFields);
  if (in.sync) control_families(e, "drfwd_sync_", *in.sync, control::kSyncFields);
  return e.take();
}

}  // namespace drfwd::console
