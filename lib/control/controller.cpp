#include "control/controller.hpp"

#include <rte_mbuf.h>
#include <rte_ring.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

#include "config/json.hpp"
#include "lb/sched.hpp"

namespace drfwd::control {

Controller::Controller(config::Model model, std::vector<dp::PortInfo>& ports,
                       std::vector<std::unique_ptr<dp::Worker>>& workers, Publisher& publisher,
                       ControllerOptions opts)
    : model_(std::move(model)), ports_(ports), workers_(workers), publisher_(publisher), opts_(opts) {
  runtime_.workers = static_cast<uint32_t>(workers_.size());
  for (const dp::PortInfo& p : ports_) runtime_.port_macs.push_back(p.mac);
  rs_baseline_.resize(lb::kMaxRsSlots);
}

void Controller::publish() {
  auto spec = config::make_spec(model_, runtime_);
  publisher_.publish(lb::build_snapshot(spec, publisher_.current().get()));
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
  publish();
  spdlog::info("config: {}", a.summary);
  return a.summary;
}

void Controller::drain_control_rings() {
  // Until the control path lands, exception traffic is counted and dropped here.
  for (const auto& w : workers_) {
    void* pkts[32];
    unsigned n;
    while ((n = rte_ring_dequeue_burst(w->control_ring(), pkts, 32, nullptr)) > 0) {
      control_packets_ += n;
      rte_pktmbuf_free_bulk(reinterpret_cast<rte_mbuf**>(pkts), n);
    }
  }
}

void Controller::run(const std::atomic<bool>& stop) {
  using clock = std::chrono::steady_clock;
  auto next_stats = clock::now() + std::chrono::duration<double>(opts_.stats_period);
  dp::Totals prev = totals();
  while (!stop.load(std::memory_order_relaxed)) {
    drain_control_rings();
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
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
}

void Controller::shutdown() {
  drain_control_rings();
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
      .field("control_processed", control_packets_)
      .field("dropped", dropped)
      .field("malformed", malformed(all));
  drops(all);
  j.end_object();

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
      j.begin_object()
          .field("ip", net::to_string(r.ip))
          .field("weight", uint64_t{r.weight})
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
