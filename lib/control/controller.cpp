#include "control/controller.hpp"

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
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
  runtime_.healthy = [this](uint32_t slot) { return health_.healthy(slot); };
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
      kernel_[p.id] = create_kernel_interface(p.id, p.mac, opts_.kernel_ifname + std::to_string(p.id), pool_);
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
      const auto src = port ? dip(*port) : std::nullopt;
      if (port && !model_.neighbours().count(r.ip) && seen.insert(r.ip).second)
        resolve.push_back({r.ip, *port, src.value_or(net::Ipv4{}), ports_[*port].mac});
      HealthTarget h;
      h.slot = r.slot;
      h.gen = r.gen;
      h.ip = r.ip;
      h.spec = model_.effective_check(s, r);
      h.port = h.spec.port ? h.spec.port : s.key.port;
      h.src = src.value_or(net::Ipv4{});
      if (!port || !kernel_[*port] || !src) h.spec.kind = config::CheckKind::kNone;
      h.name = config::to_string(s.key) + " -> " + net::to_string(r.ip);
      checks.push_back(std::move(h));
    }
  }
  if (neigh_.set_targets(resolve, t)) need_publish_ = true;
  health_.set_targets(checks, t);
}

Controller::RsTotals Controller::rs_totals(uint32_t slot) const {
  RsTotals t;
  for (const auto& w : workers_) {
    const lb::RsCounters& c = w->rs_counters()[slot];
    t.packets += lb::read(c.packets);
    t.bytes += lb::read(c.bytes);
    t.conns += lb::read(c.conns);
    t.active += lb::read(c.active);
    t.inactive += lb::read(c.inactive);
    t.persist += lb::read(c.persist);
  }
  const RsTotals& b = rs_baseline_[slot];
  t.packets -= b.packets;
  t.bytes -= b.bytes;
  t.conns -= b.conns;
  t.active -= b.active;
  t.inactive -= b.inactive;
  t.persist -= b.persist;
  return t;
}

void Controller::baseline_slot(uint32_t slot) {
  rs_baseline_[slot] = RsTotals{};
  rs_baseline_[slot] = rs_totals(slot);
}

std::string Controller::execute(std::string_view line) {
  auto c = config::parse_line(line);
  if (!c) return {};
  config::Applied a = model_.apply(*c);
  for (auto [slot, gen] : a.new_rs_slots) baseline_slot(slot);
  if (auto* pa = std::get_if<config::cmd::PortAddress>(&*c); pa && pa->port < kernel_.size() && kernel_[pa->port]) {
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

void Controller::handle_arp(uint16_t port, rte_mbuf* m) {
  ++cc_.arp_in;
  const auto a = net::parse_arp(rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m));
  if (!a) {
    ++cc_.arp_malformed;
    rte_pktmbuf_free(m);
    return;
  }
  if (neigh_.on_arp(port, *a, now())) need_publish_ = true;
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
    if (tick.changed) {
      need_publish_ = true;
      spdlog::warn("neighbour unreachable: a real server's MAC no longer answers");
    }
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
  j.key("ports").begin_array();
  lb::PortCounters all;
  for (size_t p = 0; p < ports_.size(); ++p) {
    const dp::PortTotals& pt = t.ports[p];
    dp::add(all, pt.sw);
    j.begin_object()
        .field("id", uint64_t{ports_[p].id})
        .field("name", ports_[p].name)
        .field("driver", ports_[p].driver)
        .field("mac", net::to_string(ports_[p].mac))
        .field("rx_packets", pt.nic.ipackets)
        .field("rx_bytes", pt.nic.ibytes)
        .field("rx_missed", pt.nic.imissed)
        .field("rx_errors", pt.nic.ierrors)
        .field("rx_nombuf", pt.nic.rx_nombuf)
        .field("tx_packets", pt.nic.opackets)
        .field("tx_bytes", pt.nic.obytes)
        .field("tx_errors", pt.nic.oerrors)
        .field("received", pt.sw.rx_packets)
        .field("forwarded", pt.sw.tx_packets)
        .field("forwarded_bytes", pt.sw.tx_bytes)
        .field("to_control", pt.sw.to_control)
        .field("dropped", pt.dropped())
        .field("malformed", malformed(pt.sw));
    drops(pt.sw);
    j.end_object();
  }
  j.end_array();

  j.key("workers").begin_array();
  for (const dp::WorkerTotals& w : t.workers) {
    j.begin_object()
        .field("lcore", uint64_t{w.lcore})
        .field("received", w.sw.rx_packets)
        .field("forwarded", w.sw.tx_packets)
        .field("to_control", w.sw.to_control)
        .field("dropped", w.dropped())
        .field("conn_new", w.conn_new)
        .field("conn_resched", w.conn_resched)
        .field("conn_expired", w.conn_expired)
        .field("conn_evicted", w.conn_evicted)
        .field("tmpl_new", w.tmpl_new)
        .field("frag_forwarded", w.frag_forwarded)
        .field("conns_in_use", w.conns_in_use)
        .field("polls", w.polls)
        .field("busy_polls", w.busy_polls)
        .field("idle_sleeps", w.idle_sleeps);
    drops(w.sw);
    j.end_object();
  }
  j.end_array();

  uint64_t dropped = 0;
  for (uint64_t v : all.drops) dropped += v;
  j.key("totals").begin_object()
      .field("received", all.rx_packets)
      .field("forwarded", all.tx_packets)
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
      .field("arp_vip_replies", cc_.arp_vip_replies)
      .field("arp_announces", cc_.arp_announces)
      .field("arp_requests", cc_.arp_requests)
      .field("arp_ignored", neigh_.ignored())
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
        .field("sched", lb::sched_name(s.sched))
        .field("persist", uint64_t{s.persist});
    j.key("real_servers").begin_array();
    for (const config::RealServer& r : s.rs) {
      RsTotals rt = rs_totals(r.slot);
      const HealthChecker::Status* hs = health_.status(r.slot);
      j.begin_object()
          .field("ip", net::to_string(r.ip))
          .field("weight", uint64_t{r.weight})
          .field("health", !hs || !hs->checked ? "unchecked" : hs->up ? "up" : "down")
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
