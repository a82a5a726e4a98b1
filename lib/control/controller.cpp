#include "control/controller.hpp"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <thread>

#include "config/json.hpp"
#include "lb/sched.hpp"
#include "net/arp.hpp"
#include "net/parse.hpp"

namespace drfwd::control {

namespace {
constexpr unsigned kExceptionBudget = 256;  // frames per ring per round: the loop keeps turning
}  // namespace

Controller::Controller(config::Model model, std::vector<dp::PortInfo>& ports,
                       std::vector<std::unique_ptr<dp::Worker>>& workers, Publisher& publisher, rte_mempool* pool,
                       ControllerOptions opts)
    : model_(std::move(model)),
      ports_(ports),
      workers_(workers),
      publisher_(publisher),
      pool_(pool),
      opts_(std::move(opts)),
      neigh_(opts_.neigh),
      health_(std::make_unique<SocketProber>()),
      kernel_(ports.size()) {
  runtime_.workers = static_cast<uint32_t>(workers_.size());
  for (const dp::PortInfo& p : ports_) runtime_.port_macs.push_back(p.mac);
  runtime_.learned_mac = [this](net::Ipv4 ip) { return neigh_.mac(ip); };
  runtime_.health = [this](uint32_t slot) { return health_.health(slot); };
  rs_baseline_.resize(lb::kMaxRsSlots);
}

Controller::~Controller() {
  for (auto& k : kernel_)
    if (k) destroy_kernel_interface(*k);
}

double Controller::now() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_).count();
}

std::optional<net::Ipv4> Controller::dip(uint16_t port) const {
  auto it = model_.port_addresses().find(port);
  if (it == model_.port_addresses().end()) return std::nullopt;
  return it->second.addr;
}

// A VIP is answered on the ports whose subnet holds it, or on every port if none does.
bool Controller::serves(uint16_t port, net::Ipv4 vip) const {
  bool any = false;
  for (auto& [p, prefix] : model_.port_addresses())
    if (prefix.contains(vip)) {
      any = true;
      if (p == port) return true;
    }
  return !any;
}

void Controller::start() {
  if (opts_.kernel_interfaces) {
    for (const dp::PortInfo& p : ports_) {
      kernel_[p.id] = create_kernel_interface(p.id, p.mac, opts_.kernel_ifname + std::to_string(p.id), opts_.mtu,
                                               pool_);
      if (auto it = model_.port_addresses().find(p.id); it != model_.port_addresses().end())
        set_kernel_address(*kernel_[p.id], it->second);
      spdlog::info("port {}: kernel interface {}{}", p.id, kernel_[p.id]->ifname,
                   dip(p.id) ? " with " + net::to_string(model_.port_addresses().at(p.id)) : "");
    }
  }
  refresh_targets();
  publish();
  announce_new_vips();
}

void Controller::publish() {
  auto spec = config::make_spec(model_, runtime_);
  publisher_.publish(lb::build_snapshot(spec, publisher_.current().get()));
  ++cc_.publishes;
  need_publish_ = false;
}

// What to resolve and what to check, from the model: every RS without a static
// neighbour is resolved on the port that reaches it; every RS is checked, from the DIP
// of that port through its kernel interface (no kernel path: unchecked, always up).
void Controller::refresh_targets() {
  const double t = now();
  std::vector<NeighTarget> resolve;
  std::set<net::Ipv4> seen;
  std::vector<HealthTarget> checks;
  for (const config::Service& s : model_.services()) {
    for (const config::RealServer& r : s.rs) {
      const auto port = model_.egress_port(r.ip);
      const std::optional<net::Ipv4> src_dip = port ? dip(*port) : std::nullopt;
      const net::Ipv4 src = src_dip ? *src_dip : net::Ipv4{};  // 0.0.0.0: the port has no DIP
      if (port && !model_.neighbours().count(r.ip) && seen.insert(r.ip).second)
        resolve.push_back({r.ip, *port, src, ports_[*port].mac});
      HealthTarget h;
      h.slot = r.slot;
      h.gen = r.gen;
      h.ip = r.ip;
      h.spec = model_.effective_check(s, r);
      h.port = h.spec.port ? h.spec.port : s.key.port;
      h.src = src;
      if (!port || !kernel_[*port] || !src_dip) h.spec.kind = config::CheckKind::kNone;
      h.name = config::to_string(s.key) + " -> " + net::to_string(r.ip);
      checks.push_back(std::move(h));
    }
  }
  if (neigh_.set_targets(resolve, t)) need_publish_ = true;
  health_.set_targets(checks, t);
}

lb::RsCounters Controller::rs_totals(uint32_t slot) const {
  lb::RsCounters t;
  for (const auto& w : workers_) lb::add(t, w->rs_counters()[slot]);
  lb::subtract(t, rs_baseline_[slot]);
  return t;
}

void Controller::baseline_slot(uint32_t slot) {
  rs_baseline_[slot] = lb::RsCounters{};
  rs_baseline_[slot] = rs_totals(slot);
}

std::string Controller::apply(const config::Command& c) {
  model_.reclaim_slots(publisher_.seen());
  model_.set_epoch(publisher_.published() + 1);  // the snapshot this change goes out in
  config::Applied a = model_.apply(c);
  for (auto [slot, gen] : a.new_rs_slots) baseline_slot(slot);
  if (auto* pa = std::get_if<config::cmd::PortAddress>(&c); pa && pa->port < kernel_.size() && kernel_[pa->port]) {
    try {
      set_kernel_address(*kernel_[pa->port], pa->address);
    } catch (const KernelIfError& e) {
      spdlog::error("{}", e.what());  // the model has it; the kernel side is reported
    }
  }
  refresh_targets();
  publish();
  announce_new_vips();
  spdlog::info("config: {}", a.summary);
  return a.summary;
}

namespace {
Reply refused(const config::ConfigError& e) {
  std::string text = e.what();
  if (!e.usage().empty()) text += "\nusage: " + e.usage();
  return Reply{false, text + "\n"};
}
}  // namespace

Reply Controller::execute(std::string_view line) {
  try {
    auto r = config::parse_request(line);
    if (!r) return {};
    if (auto* c = std::get_if<config::Command>(&*r)) return Reply{true, apply(*c) + "\n"};
    return query(std::get<config::Query>(*r));
  } catch (const config::ConfigError& e) {
    spdlog::info("refused '{}': {}", line, e.what());
    return refused(e);
  } catch (const std::exception& e) {
    spdlog::error("command '{}': {}", line, e.what());
    return Reply{false, std::string("internal error: ") + e.what() + "\n"};
  }
}

Reply Controller::execute_batch(const std::vector<std::string>& lines) {
  model_.reclaim_slots(publisher_.seen());
  model_.set_epoch(publisher_.published() + 1);
  config::Model next = model_;
  std::vector<std::pair<uint32_t, uint32_t>> new_slots;
  size_t applied = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    try {
      auto r = config::parse_request(lines[i]);
      if (!r) continue;
      auto* c = std::get_if<config::Command>(&*r);
      if (!c) throw config::ConfigError("only configuration commands can be part of a batch");
      auto a = next.apply(*c);
      new_slots.insert(new_slots.end(), a.new_rs_slots.begin(), a.new_rs_slots.end());
      ++applied;
    } catch (const config::ConfigError& e) {
      Reply r = refused(e);
      r.text = "line " + std::to_string(i + 1) + ": " + r.text + "nothing was applied\n";
      return r;
    } catch (const std::exception& e) {
      return Reply{false, "line " + std::to_string(i + 1) + ": internal error: " + e.what() + "\nnothing was applied\n"};
    }
  }
  std::set<uint16_t> addr_ports;
  for (auto& [p, a] : next.port_addresses())
    if (!model_.port_addresses().count(p) || !(model_.port_addresses().at(p) == a)) addr_ports.insert(p);
  for (auto& [p, a] : model_.port_addresses())
    if (!next.port_addresses().count(p)) addr_ports.insert(p);
  model_ = std::move(next);
  for (auto [slot, gen] : new_slots) baseline_slot(slot);
  for (uint16_t p : addr_ports)
    if (p < kernel_.size() && kernel_[p]) {
      try {
        auto it = model_.port_addresses().find(p);
        set_kernel_address(*kernel_[p], it == model_.port_addresses().end() ? std::nullopt
                                                                            : std::optional<net::Prefix>(it->second));
      } catch (const KernelIfError& e) {
        spdlog::error("{}", e.what());
      }
    }
  refresh_targets();
  publish();
  announce_new_vips();
  spdlog::info("config: batch of {} command(s) applied", applied);
  return Reply{true, std::to_string(applied) + " command(s) applied\n"};
}

uint64_t Controller::conn_capacity() const {
  uint64_t c = 0;
  for (const auto& w : workers_) c += const_cast<dp::Worker&>(*w).conns().capacity();
  return c;
}

std::vector<config::ServiceStatus> Controller::service_status() const {
  std::vector<config::ServiceStatus> out;
  for (const config::Service& s : model_.services()) {
    config::ServiceStatus st = config::status_of(s);
    // The service's own check (a real server may override it; show rs shows each).
    st.check = config::describe(model_.effective_check(s, config::RealServer{}), s.key.port);
    if (!opts_.kernel_interfaces) st.check += " (off: no kernel interfaces)";
    for (size_t i = 0; i < s.rs.size(); ++i) {
      const config::RealServer& r = s.rs[i];
      config::RsStatus& rs = st.rs[i];
      static_cast<lb::RsSpec&>(rs) = config::rs_spec(model_, runtime_, r);
      if (const HealthChecker::Status* h = health_.status(r.slot)) rs.health_detail = h->last;
      if (model_.neighbours().count(r.ip)) {
        rs.neigh = "static";
      } else if (auto e = neigh_.entries().find(r.ip); e != neigh_.entries().end()) {
        rs.neigh = std::string(neigh_state_name(e->second.state));
      } else {
        rs.neigh = "none";
      }
      const lb::RsCounters t = rs_totals(r.slot);
      rs.active = t.active;
      rs.inactive = t.inactive;
      rs.persist = t.persist;
      rs.conns = t.conns;
      rs.packets = t.packets;
      rs.bytes = t.bytes;
      if (auto it = rs_rates_.find(r.slot); it != rs_rates_.end()) {
        rs.cps = it->second.cps;
        rs.pps = it->second.pps;
        rs.bps = it->second.bps;
      }
    }
    out.push_back(std::move(st));
  }
  return out;
}

std::vector<config::ConnStatus> Controller::dump_conns(std::optional<net::Ipv4> vip, uint32_t limit, uint64_t& in_use) {
  // Ask every worker, then wait (bounded) for all of them: each answers within a few
  // loops of its own, walking its table a slice at a time.
  for (auto& w : workers_) {
    dp::ConnDump& d = w->conn_dump();
    d.vip_be = vip ? vip->be() : 0;
    d.limit = limit;
    d.out.resize(limit);
    d.request.fetch_add(1, std::memory_order_release);
  }
  const double deadline = now() + 2.0;
  for (auto& w : workers_) {
    dp::ConnDump& d = w->conn_dump();
    while (d.done.load(std::memory_order_acquire) != d.request.load(std::memory_order_relaxed) && now() < deadline)
      std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  std::vector<config::ConnStatus> out;
  in_use = 0;
  const auto* snap = publisher_.current().get();
  for (auto& w : workers_) {
    dp::ConnDump& d = w->conn_dump();
    if (d.done.load(std::memory_order_acquire) != d.request.load(std::memory_order_relaxed)) continue;  // late
    in_use += d.in_use;
    for (uint32_t i = 0; i < d.count && out.size() < limit; ++i) {
      const auto& r = d.out[i];
      config::ConnStatus c;
      c.proto = r.key.proto;
      c.client = net::Ipv4::from_be(r.key.src);
      c.cport = net::ntoh16(r.key.sport);
      c.vip = net::Ipv4::from_be(r.key.dst);
      c.vport = net::ntoh16(r.key.dport);
      if (snap && r.rs_slot < snap->rs_count) c.rs = net::Ipv4::from_be(snap->rs_view[r.rs_slot].ip_be);
      c.rport = c.vport;  // direct routing: the same port
      c.state = r.key.is_template() ? "NONE" : std::string(lb::state_name(r.state));  // templates as IPVS shows them
      c.expires = r.expires;
      out.push_back(c);
    }
  }
  return out;
}

void Controller::sample_rates() {
  const double t = now();
  if (t - last_sample_time_ < 1.0) return;
  const double dt = last_sample_time_ > 0 ? t - last_sample_time_ : 0;
  for (const config::Service& s : model_.services())
    for (const config::RealServer& r : s.rs) {
      const lb::RsCounters c = rs_totals(r.slot);
      Rate& rate = rs_rates_[r.slot];
      if (dt > 0) {
        rate.cps = (c.conns - std::min(c.conns, rate.conns)) / dt;
        rate.pps = (c.packets - std::min(c.packets, rate.packets)) / dt;
        rate.bps = (c.bytes - std::min(c.bytes, rate.bytes)) * 8 / dt;
      }
      rate.conns = c.conns;
      rate.packets = c.packets;
      rate.bytes = c.bytes;
    }
  dp::Totals cur = totals();
  if (dt > 0 && last_sample_.ports.size() == cur.ports.size()) {
    rates_ = cur;
    for (size_t p = 0; p < cur.ports.size(); ++p) {
      auto d = [&](uint64_t a, uint64_t b) { return static_cast<uint64_t>((a >= b ? a - b : 0) / dt); };
      rates_.ports[p].nic.rx_packets = d(cur.ports[p].nic.rx_packets, last_sample_.ports[p].nic.rx_packets);
      rates_.ports[p].nic.tx_packets = d(cur.ports[p].nic.tx_packets, last_sample_.ports[p].nic.tx_packets);
      rates_.ports[p].sw.forwarded = d(cur.ports[p].sw.forwarded, last_sample_.ports[p].sw.forwarded);
    }
    for (size_t w = 0; w < cur.workers.size() && w < last_sample_.workers.size(); ++w) {
      rates_.workers[w].sw.received = static_cast<uint64_t>(
          (cur.workers[w].sw.received - last_sample_.workers[w].sw.received) / dt);
      rates_.workers[w].sw.forwarded = static_cast<uint64_t>(
          (cur.workers[w].sw.forwarded - last_sample_.workers[w].sw.forwarded) / dt);
    }
  }
  last_sample_ = std::move(cur);
  last_sample_time_ = t;
}

namespace {
std::string drop_list(const lb::PortCounters& c) {
  std::string s;
  for (int d = 1; d < net::kDropCount; ++d)
    if (c.drops[d]) s += (s.empty() ? "" : ", ") + std::string(net::drop_name(static_cast<net::Drop>(d))) + " " +
                         std::to_string(c.drops[d]);
  return s.empty() ? "none" : s;
}
}  // namespace

void Controller::clear_stats() {
  stats_baseline_ = totals();
  zero_service(std::nullopt);
}

void Controller::zero_service(const std::optional<config::ServiceKey>& key) {
  for (const config::Service& s : model_.services()) {
    if (key && !(s.key == *key)) continue;
    for (const config::RealServer& r : s.rs) {
      // Counters only: the connection gauges are state, not history.
      lb::RsCounters raw;
      for (const auto& w : workers_) lb::add(raw, w->rs_counters()[r.slot]);
      for (const auto& f : lb::kRsCounterFields) rs_baseline_[r.slot].*f.member = raw.*f.member;
      rs_rates_.erase(r.slot);
    }
  }
}

std::string Controller::show_stats() const {
  dp::Totals t = totals();
  char line[512];
  std::string out;
  std::snprintf(line, sizeof line, "%-4s %-16s %12s %10s %12s %10s %10s %10s %10s\n", "PORT", "NAME", "RECEIVED",
                "RX-PPS", "FORWARDED", "TX-PPS", "TO-CTL", "DROPPED", "MALFORMED");
  out += line;
  for (size_t p = 0; p < t.ports.size(); ++p) {
    lb::PortCounters sw = t.ports[p].sw;
    if (p < stats_baseline_.ports.size()) lb::subtract(sw, stats_baseline_.ports[p].sw);
    uint64_t dropped = 0, malformed = 0;
    for (int d = 1; d < net::kDropCount; ++d) {
      dropped += sw.drops[d];
      if (net::is_malformed(static_cast<net::Drop>(d))) malformed += sw.drops[d];
    }
    const uint64_t rxpps = p < rates_.ports.size() ? rates_.ports[p].nic.rx_packets : 0;
    const uint64_t txpps = p < rates_.ports.size() ? rates_.ports[p].sw.forwarded : 0;
    std::snprintf(line, sizeof line, "%-4zu %-16s %12" PRIu64 " %10" PRIu64 " %12" PRIu64 " %10" PRIu64 " %10" PRIu64
                  " %10" PRIu64 " %10" PRIu64 "\n", p, ports_[p].name.c_str(), sw.received, rxpps, sw.forwarded, txpps,
                  sw.to_control, dropped, malformed);
    out += line;
    out += "     drops: " + drop_list(sw) + "\n";
  }
  std::snprintf(line, sizeof line, "\n%-6s %-5s %12s %10s %12s %10s %10s %10s %9s %9s %9s %6s\n", "WORKER", "LCORE",
                "RECEIVED", "RX-PPS", "FORWARDED", "DROPPED", "CONNS", "NEW", "RESCHED", "EXPIRED", "EVICTED", "BUSY%");
  out += line;
  for (size_t w = 0; w < t.workers.size(); ++w) {
    dp::WorkerTotals wt = t.workers[w];
    if (w < stats_baseline_.workers.size()) {
      lb::subtract(wt.sw, stats_baseline_.workers[w].sw);
      lb::subtract(wt.w, stats_baseline_.workers[w].w);
    }
    const uint64_t rxpps = w < rates_.workers.size() ? rates_.workers[w].sw.received : 0;
    const double busy = wt.w.polls ? 100.0 * wt.w.busy_polls / wt.w.polls : 0;
    std::snprintf(line, sizeof line, "%-6zu %-5u %12" PRIu64 " %10" PRIu64 " %12" PRIu64 " %10" PRIu64 " %10" PRIu64
                  " %10" PRIu64 " %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %6.1f\n", w, wt.lcore, wt.sw.received, rxpps,
                  wt.sw.forwarded, lb::dropped(wt.sw), wt.w.conns_in_use, wt.w.conn_new, wt.w.conn_resched, wt.w.conn_expired,
                  wt.w.conn_evicted, busy);
    out += line;
  }
  std::snprintf(line, sizeof line,
                "\ncontrol: exception in %" PRIu64 ", to kernel %" PRIu64 " (dropped %" PRIu64 "), from kernel %" PRIu64
                ", ARP in %" PRIu64 " (malformed %" PRIu64 ", ignored %" PRIu64 ", conflicting %" PRIu64
                "), VIP replies %" PRIu64 ", announcements %" PRIu64 ", resolution requests %" PRIu64
                " (answered by two MACs %" PRIu64 ")\n",
                cc_.exception_in, cc_.to_kernel, cc_.to_kernel_dropped, cc_.from_kernel, cc_.arp_in, cc_.arp_malformed,
                neigh_.ignored(), cc_.arp_conflicting, cc_.arp_vip_replies, cc_.arp_announces, cc_.arp_requests,
                neigh_.conflicts());
  out += line;
  return out;
}

std::string Controller::show_ports() const {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-4s %-16s %-14s %-17s %-18s %-6s %-5s %-4s %-5s %s\n", "PORT", "NAME", "DRIVER",
                "MAC", "ADDRESS", "QUEUES", "MTU", "RSS", "LINK", "KERNEL-IF");
  out += line;
  for (const dp::PortInfo& p : ports_) {
    rte_eth_link link{};
    rte_eth_link_get_nowait(p.id, &link);
    auto a = model_.port_addresses().find(p.id);
    std::snprintf(line, sizeof line, "%-4u %-16s %-14s %-17s %-18s %-6zu %-5u %-4s %-5s %s\n", p.id, p.name.c_str(),
                  p.driver.c_str(), net::to_string(p.mac).c_str(),
                  a == model_.port_addresses().end() ? "-" : net::to_string(a->second).c_str(), workers_.size(),
                  unsigned{p.mtu}, p.rss ? "on" : "off", link.link_status ? "up" : "down",
                  kernel_[p.id] ? kernel_[p.id]->ifname.c_str() : "-");
    out += line;
  }
  return out;
}

std::string Controller::show_neigh() const {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-16s %-4s %-17s %s\n", "ADDRESS", "PORT", "MAC", "STATE");
  out += line;
  for (auto& [ip, n] : model_.neighbours()) {
    const auto port = n.port ? n.port : model_.egress_port(ip);
    std::snprintf(line, sizeof line, "%-16s %-4s %-17s %s\n", net::to_string(ip).c_str(),
                  port ? std::to_string(*port).c_str() : "-", net::to_string(n.mac).c_str(), "static");
    out += line;
  }
  for (auto& [ip, e] : neigh_.entries()) {
    std::snprintf(line, sizeof line, "%-16s %-4u %-17s %s\n", net::to_string(ip).c_str(), e.target.port,
                  e.mac ? net::to_string(*e.mac).c_str() : "-", std::string(neigh_state_name(e.state)).c_str());
    out += line;
  }
  return out;
}

Reply Controller::query(const config::Query& q) {
  using namespace config::query;
  return std::visit(
      [&](auto&& x) -> Reply {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, ShowVips>) {
          return {true, config::format_vips(service_status())};
        } else if constexpr (std::is_same_v<T, ShowRs>) {
          auto all = service_status();
          if (!x.vips.empty())
            std::erase_if(all, [&](const config::ServiceStatus& s) {
              return std::find(x.vips.begin(), x.vips.end(), s.key.vip) == x.vips.end();
            });
          return {true, config::format_rs(all)};
        } else if constexpr (std::is_same_v<T, ShowStats>) {
          return {true, show_stats()};
        } else if constexpr (std::is_same_v<T, ShowPorts>) {
          return {true, show_ports()};
        } else if constexpr (std::is_same_v<T, ShowNeigh>) {
          return {true, show_neigh()};
        } else if constexpr (std::is_same_v<T, ShowConns>) {
          uint64_t in_use = 0;
          auto conns = dump_conns(x.vip, x.limit, in_use);
          return {true, config::format_conns(conns, in_use, x.limit)};
        } else if constexpr (std::is_same_v<T, ShowConfig>) {
          return {true, config::model_to_commands(model_)};
        } else if constexpr (std::is_same_v<T, SaveConfig>) {
          const std::string tmp = x.path + ".tmp";
          {
            std::ofstream f(tmp, std::ios::trunc);
            f << config::model_to_commands(model_);
            if (!f) return {false, "cannot write " + tmp + "\n"};
          }
          if (std::rename(tmp.c_str(), x.path.c_str()) != 0) return {false, "cannot rename " + tmp + " to " + x.path + "\n"};
          return {true, "saved to " + x.path + "\n"};
        } else if constexpr (std::is_same_v<T, ClearStats>) {
          clear_stats();
          return {true, "statistics cleared\n"};
        } else if constexpr (std::is_same_v<T, SetLogLevel>) {
          spdlog::set_level(spdlog::level::from_str(x.level));
          return {true, "log level " + x.level + "\n"};
        } else if constexpr (std::is_same_v<T, Quit>) {
          if (stop_) stop_->store(true);
          return {true, "stopping\n"};
        } else if constexpr (std::is_same_v<T, Help>) {
          return {true, config::help_text(x.topic)};
        } else if constexpr (std::is_same_v<T, IpvsList>) {
          std::vector<config::ConnStatus> conns;
          if (x.connection) {
            uint64_t in_use = 0;
            conns = dump_conns(x.service ? std::optional<net::Ipv4>(x.service->vip) : std::nullopt, 100000, in_use);
          }
          if (x.service && !model_.find(*x.service))
            return {false, "ipvsadm: no such service " + config::to_string(*x.service) + "\n"};
          return {true, config::ipvsadm_list(service_status(), x, conn_capacity(), model_.timeouts(), conns)};
        } else if constexpr (std::is_same_v<T, IpvsZero>) {
          if (x.service && !model_.find(*x.service))
            return {false, "ipvsadm: no such service " + config::to_string(*x.service) + "\n"};
          zero_service(x.service);
          return {true, ""};
        } else if constexpr (std::is_same_v<T, IpvsSave>) {
          return {true, config::ipvsadm_save(service_status(), x.numeric)};
        } else {
          return {false, "ipvsadm -R reads rules that follow it: use drfwdctl -R < rules (applied as one batch)\n"};
        }
      },
      q);
}

// ---- frames in and out ----------------------------------------------------------------

void Controller::transmit(uint16_t port, rte_mbuf* m) {
  m->port = port;
  if (workers_.empty() || rte_ring_enqueue(workers_[0]->transmit_ring(), m) != 0) {
    ++cc_.tx_dropped;
    rte_pktmbuf_free(m);
  }
}

void Controller::send_arp(uint16_t port, const net::Arp& a) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  if (!m) {
    ++cc_.tx_dropped;
    return;
  }
  auto* buf = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, net::kMinFrameLen));
  net::build_arp(buf, a);
  transmit(port, m);
}

void Controller::to_kernel(uint16_t port, rte_mbuf* m) {
  if (port < kernel_.size() && kernel_[port] && rte_eth_tx_burst(kernel_[port]->tap_port, 0, &m, 1) == 1) {
    ++cc_.to_kernel;
    return;
  }
  ++cc_.to_kernel_dropped;
  rte_pktmbuf_free(m);
}

std::optional<net::Mac> Controller::known_mac(net::Ipv4 ip) const {
  return config::neighbour_mac(model_, runtime_, ip);
}

void Controller::handle_arp(uint16_t port, rte_mbuf* m) {
  ++cc_.arp_in;
  const auto a = net::parse_arp(rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m));
  if (!a) {
    ++cc_.arp_malformed;
    rte_pktmbuf_free(m);
    return;
  }
  if (neigh_.on_arp(port, *a, now())) {
    need_publish_ = true;
    if (auto mac = neigh_.mac(a->spa))
      spdlog::info("neighbour {} is at {} (port {})", net::to_string(a->spa), net::to_string(*mac), port);
  }
  log_neigh_events();
  // ARP that claims a real server's address for a MAC other than the one drfwd knows
  // (static, or resolved by its own solicited requests) goes no further: the kernel
  // would otherwise take it, and health checks, which leave from the kernel, would
  // follow the redirection. A real change of MAC reaches drfwd's table through its own
  // requests first (on_arp above), and passes from then on.
  if (auto known = known_mac(a->spa); known && *known != a->sha) {
    if (cc_.arp_conflicting++ % 1000 == 0)
      spdlog::warn("ARP from {} claims {} is at {}; drfwd knows it at {}: ignored ({} so far)",
                   net::to_string(a->eth_src), net::to_string(a->spa), net::to_string(a->sha),
                   net::to_string(*known), cc_.arp_conflicting);
    rte_pktmbuf_free(m);
    return;
  }
  if (a->op == net::kArpRequest && vips_.count(a->tpa) && serves(port, a->tpa)) {
    send_arp(port, net::arp_reply(ports_[port].mac, a->tpa, a->sha, a->spa));
    ++cc_.arp_vip_replies;
    rte_pktmbuf_free(m);
    return;
  }
  // Everything else is the kernel's business: requests for the DIP, replies to its own
  // requests. It answers only for its own address (arp_ignore=1).
  to_kernel(port, m);
}

void Controller::log_neigh_events() {
  for (const NeighEvent& ev : neigh_.take_events()) {
    const std::string ip = net::to_string(ev.ip), a = net::to_string(ev.mac), b = net::to_string(ev.other);
    switch (ev.kind) {
      case NeighEvent::Kind::kConflictKept:
        spdlog::warn("neighbour {}: {} answered for it besides {}: kept {} (another host claims the address?)", ip,
                     b, a, a);
        break;
      case NeighEvent::Kind::kConflictDropped:
        spdlog::warn("neighbour {}: both {} and {} answered: neither used, retried in {}s (another host claims the "
                     "address? a static `neigh add` decides)", ip, a, b, neigh_.config().failed_retry);
        break;
      case NeighEvent::Kind::kMoved:
        spdlog::warn("neighbour {}: moved from {} to {} ({} stopped answering)", ip, a, b, a);
        break;
    }
  }
}

void Controller::poll_exceptions() {
  for (const auto& w : workers_) {
    rte_mbuf* pkts[32];
    unsigned total = 0, n;
    while (total < kExceptionBudget &&
           (n = rte_ring_dequeue_burst(w->control_ring(), reinterpret_cast<void**>(pkts), 32, nullptr)) > 0) {
      total += n;
      cc_.exception_in += n;
      for (unsigned i = 0; i < n; ++i) {
        rte_mbuf* m = pkts[i];
        const uint16_t port = m->port;
        const auto* d = rte_pktmbuf_mtod(m, const uint8_t*);
        if (port >= ports_.size()) {
          rte_pktmbuf_free(m);
          continue;
        }
        if (rte_pktmbuf_data_len(m) >= net::kEtherHdrLen && net::ntoh16(net::load16(d + 12)) == net::kEtherArp)
          handle_arp(port, m);
        else
          to_kernel(port, m);
      }
    }
  }
}

void Controller::poll_kernel() {
  for (auto& k : kernel_) {
    if (!k) continue;
    rte_mbuf* pkts[32];
    const uint16_t n = rte_eth_rx_burst(k->tap_port, 0, pkts, 32);
    for (uint16_t i = 0; i < n; ++i) {
      ++cc_.from_kernel;
      transmit(k->data_port, pkts[i]);
    }
  }
}

// ---- VIP announcements ----------------------------------------------------------------

void Controller::announce_new_vips() {
  std::set<net::Ipv4> current;
  for (const config::Service& s : model_.services()) current.insert(s.key.vip);
  const double t = now();
  for (net::Ipv4 vip : current)
    if (!vips_.count(vip))
      for (const dp::PortInfo& p : ports_)
        if (serves(p.id, vip)) announcements_.push_back({t, p.id, vip, opts_.announce_count});
  // A VIP that went away is no longer announced (or answered).
  std::erase_if(announcements_, [&](const Announcement& a) { return !current.count(a.vip); });
  vips_ = std::move(current);
}

void Controller::send_due_announcements() {
  const double t = now();
  for (Announcement& a : announcements_) {
    if (a.when > t || a.left == 0) continue;
    send_arp(a.port, net::arp_announce(ports_[a.port].mac, a.vip));
    ++cc_.arp_announces;
    --a.left;
    a.when = t + opts_.announce_interval;
  }
  std::erase_if(announcements_, [](const Announcement& a) { return a.left == 0; });
}

// ---- the loop -------------------------------------------------------------------------

void Controller::run(const std::atomic<bool>& stop) {
  using clock = std::chrono::steady_clock;
  auto next_stats = clock::now() + std::chrono::duration_cast<clock::duration>(
                                       std::chrono::duration<double>(opts_.stats_period));
  dp::Totals prev = totals();
  while (!stop.load(std::memory_order_relaxed)) {
    poll_exceptions();
    poll_kernel();
    const double t = now();
    auto tick = neigh_.tick(t);
    for (const ArpOut& o : tick.send) {
      send_arp(o.port, o.arp);
      ++cc_.arp_requests;
    }
    if (tick.changed) need_publish_ = true;
    for (net::Ipv4 ip : tick.lost)
      spdlog::warn("neighbour {}: no answer to {} ARP requests, unreachable (no traffic until it answers)",
                   net::to_string(ip), neigh_.config().max_probes);
    log_neigh_events();
    send_due_announcements();
    for (const HealthChecker::Change& c : health_.run(t)) {
      ++cc_.health_changes;
      need_publish_ = true;
      if (c.up)
        spdlog::info("health: {} is up ({})", c.name, c.detail);
      else
        spdlog::warn("health: {} is down ({})", c.name, c.detail);
    }
    if (need_publish_) publish();
    publisher_.reclaim();
    model_.reclaim_slots(publisher_.seen());
    sample_rates();
    for (auto& f : pollers_) f();
    for (const auto& w : workers_)
      if (!w->failure().empty()) {
        spdlog::critical("worker {} (lcore {}) stopped: {}", w->index(), w->lcore(), w->failure());
        return;
      }
    if (opts_.stats_period > 0 && clock::now() >= next_stats) {
      dp::Totals cur = totals();
      std::fputs(port_stats(cur, &prev).c_str(), stdout);
      std::fflush(stdout);
      prev = std::move(cur);
      next_stats += std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(opts_.stats_period));
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

void Controller::shutdown() {
  for (const auto& w : workers_) {
    for (rte_ring* r : {w->control_ring(), w->transmit_ring()}) {
      void* m;
      while (rte_ring_dequeue(r, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
    }
  }
  for (auto& k : kernel_)
    if (k) {
      rte_mbuf* pkts[32];
      uint16_t n;
      while ((n = rte_eth_rx_burst(k->tap_port, 0, pkts, 32)) > 0) rte_pktmbuf_free_bulk(pkts, n);
    }
  // Kernel interfaces hold mbufs in their rings: close them now, so the pool count at
  // exit is exact.
  for (auto& k : kernel_)
    if (k) {
      destroy_kernel_interface(*k);
      k.reset();
    }
  publisher_.reclaim_all();
}

std::vector<std::string> Controller::conn_accounting() const {
  std::vector<std::string> problems;
  std::map<std::pair<uint32_t, uint32_t>, lb::BoundCounts> counted;  // (slot, gen) -> entries
  for (const auto& w : workers_) {
    const lb::FlowTable& t = w->conns();
    if (std::string why = t.check(); !why.empty())
      problems.push_back("worker " + std::to_string(w->index()) + ": connection table: " + why);
    uint64_t unbound = 0;
    for (const auto& [key, c] : lb::count_bound(t, unbound)) {
      lb::BoundCounts& sum = counted[key];
      sum.active += c.active;
      sum.inactive += c.inactive;
      sum.persist += c.persist;
    }
    if (unbound)
      problems.push_back("worker " + std::to_string(w->index()) + ": " + std::to_string(unbound) +
                         " connection entries bound to no real server");
  }
  for (const config::Service& s : model_.services())
    for (const config::RealServer& r : s.rs) {
      const lb::RsCounters g = rs_totals(r.slot);
      const auto it = counted.find({r.slot, r.gen});
      const lb::BoundCounts c = it == counted.end() ? lb::BoundCounts{} : it->second;
      if (g.active != c.active || g.inactive != c.inactive || g.persist != c.persist)
        problems.push_back(fmt::format("real server {} in {}: counters say {}/{}/{} active/inactive/persistent, "
                                       "the tables hold {}/{}/{}",
                                       net::to_string(r.ip), config::to_string(s.key), g.active, g.inactive,
                                       g.persist, c.active, c.inactive, c.persist));
    }
  return problems;
}

std::string Controller::stats_json(const dp::Totals& t, const std::string& extra_fields) const {
  config::JsonWriter j;
  auto drops = [&](const lb::PortCounters& c) {
    j.key("drops").begin_object();
    for (int d = 1; d < net::kDropCount; ++d) j.field(net::drop_name(static_cast<net::Drop>(d)), c.drops[d]);
    j.end_object();
  };
  auto malformed = [](const lb::PortCounters& c) {
    uint64_t m = 0;
    for (int d = 1; d < net::kDropCount; ++d)
      if (net::is_malformed(static_cast<net::Drop>(d))) m += c.drops[d];
    return m;
  };

  j.begin_object();
  j.field("version", DRFWD_VERSION);
  j.field("tsc_hz", uint64_t{rte_get_tsc_hz()});
  j.key("ports").begin_array();
  lb::PortCounters all;
  for (size_t p = 0; p < ports_.size(); ++p) {
    const dp::PortTotals& pt = t.ports[p];
    lb::add(all, pt.sw);
    j.begin_object()
        .field("id", uint64_t{ports_[p].id})
        .field("name", ports_[p].name)
        .field("driver", ports_[p].driver)
        .field("mac", net::to_string(ports_[p].mac))
        .field("rx_packets", pt.nic.rx_packets)
        .field("rx_bytes", pt.nic.rx_bytes)
        .field("rx_missed", pt.nic.rx_missed)
        .field("rx_errors", pt.nic.rx_errors)
        .field("rx_nombuf", pt.nic.rx_nombuf)
        .field("tx_packets", pt.nic.tx_packets)
        .field("tx_bytes", pt.nic.tx_bytes)
        .field("tx_errors", pt.nic.tx_errors)
        .field("received", pt.sw.received)
        .field("forwarded", pt.sw.forwarded)
        .field("forwarded_bytes", pt.sw.forwarded_bytes)
        .field("to_control", pt.sw.to_control)
        .field("dropped", lb::dropped(pt.sw))
        .field("malformed", malformed(pt.sw));
    drops(pt.sw);
    j.end_object();
  }
  j.end_array();

  j.key("workers").begin_array();
  for (const dp::WorkerTotals& w : t.workers) {
    j.begin_object()
        .field("lcore", uint64_t{w.lcore})
        .field("received", w.sw.received)
        .field("forwarded", w.sw.forwarded)
        .field("to_control", w.sw.to_control)
        .field("dropped", lb::dropped(w.sw))
    ;
    for (const auto& f : lb::kWorkerFields) j.field(f.name, w.w.*f.member);
    // Loop durations in TSC cycles, quarter octaves: element b counts durations d with
    // lb::loop_hist_bucket(d) == b, i.e. from 2^(b/4) (roughly); the longest in us.
    for (const lb::HistogramField& hf : lb::kWorkerHistograms) {
      const lb::LoopHistogram& h = w.w.*hf.member;
      j.field(std::string(hf.name) + "_max_us", static_cast<double>(h.max) * 1e6 / static_cast<double>(rte_get_tsc_hz()));
      int last = 0;
      for (int b = 0; b < lb::kLoopHistBuckets; ++b)
        if (h.buckets[b]) last = b + 1;
      j.key(std::string(hf.name) + "_cycles").begin_array();
      for (int b = 0; b < last; ++b) j.value(h.buckets[b]);
      j.end_array();
    }
    drops(w.sw);
    j.end_object();
  }
  j.end_array();

  const uint64_t dropped = lb::dropped(all);
  j.key("totals").begin_object()
      .field("received", all.received)
      .field("forwarded", all.forwarded)
      .field("to_control", all.to_control)
      .field("exception_in", cc_.exception_in)
      .field("dropped", dropped)
      .field("malformed", malformed(all));
  drops(all);
  j.end_object();

  j.key("control").begin_object()
      .field("exception_in", cc_.exception_in)
      .field("arp_in", cc_.arp_in)
      .field("arp_malformed", cc_.arp_malformed)
      .field("arp_conflicting", cc_.arp_conflicting)
      .field("arp_vip_replies", cc_.arp_vip_replies)
      .field("arp_announces", cc_.arp_announces)
      .field("arp_requests", cc_.arp_requests)
      .field("arp_ignored", neigh_.ignored())
      .field("neigh_conflicts", neigh_.conflicts())
      .field("to_kernel", cc_.to_kernel)
      .field("to_kernel_dropped", cc_.to_kernel_dropped)
      .field("from_kernel", cc_.from_kernel)
      .field("from_kernel_dropped", cc_.from_kernel_dropped)
      .field("tx_dropped", cc_.tx_dropped)
      .field("health_changes", cc_.health_changes)
      .field("publishes", cc_.publishes)
      .end_object();

  j.key("neighbours").begin_array();
  for (auto& [ip, e] : neigh_.entries()) {
    j.begin_object()
        .field("ip", net::to_string(ip))
        .field("port", uint64_t{e.target.port})
        .field("state", neigh_state_name(e.state))
        .field("mac", e.mac ? net::to_string(*e.mac) : std::string())
        .end_object();
  }
  for (auto& [ip, n] : model_.neighbours())
    j.begin_object()
        .field("ip", net::to_string(ip))
        .field("port", n.port ? int64_t{*n.port} : int64_t{-1})
        .field("state", "static")
        .field("mac", net::to_string(n.mac))
        .end_object();
  j.end_array();

  j.key("services").begin_array();
  for (const config::Service& s : model_.services()) {
    j.begin_object()
        .field("vip", net::to_string(s.key.vip))
        .field("proto", config::proto_name(s.key.proto))
        .field("port", uint64_t{s.key.port})
        .field("sched", lb::sched_name(s.params.sched))
        .field("persist", uint64_t{s.params.persist});
    j.key("real_servers").begin_array();
    for (const config::RealServer& r : s.rs) {
      lb::RsCounters rt = rs_totals(r.slot);
      j.begin_object()
          .field("ip", net::to_string(r.ip))
          .field("weight", uint64_t{r.weight})
          .field("health", lb::health_name(health_.health(r.slot)))
          .field("packets", rt.packets)
          .field("bytes", rt.bytes)
          .field("conns", rt.conns)
          .field("active", rt.active)
          .field("inactive", rt.inactive)
          .field("persist", rt.persist)
          .end_object();
    }
    j.end_array().end_object();
  }
  j.end_array();
  j.end_object();
  std::string out = j.str();
  out.pop_back();  // reopen the object for the caller's extra fields
  if (!extra_fields.empty()) out += "," + extra_fields;
  out += "}\n";
  return out;
}

}  // namespace drfwd::control
