#include "control/slow_path.hpp"

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <spdlog/spdlog.h>

#include "lb/forwarder.hpp"
#include "net/arp.hpp"
#include "net/parse.hpp"

namespace drfwd::control {

namespace {
constexpr unsigned kExceptionBudget = 256;  // frames per ring per round: the loop keeps turning
}  // namespace

SlowPath::SlowPath(const std::vector<dp::PortInfo>& ports, const std::vector<std::unique_ptr<dp::Worker>>& workers,
                   rte_mempool* pool, SlowPathSetup setup, Director& director)
    : ports_(ports), workers_(workers), pool_(pool), setup_(std::move(setup)), director_(director),
      kernel_(ports.size()) {}

SlowPath::~SlowPath() {
  for (auto& k : kernel_)
    if (k) destroy_kernel_interface(*k);
}

void SlowPath::start() {
  if (!setup_.kernel_interfaces) return;
  for (const dp::PortInfo& p : ports_) {
    kernel_[p.id] = create_kernel_interface(p.id, p.mac, setup_.kernel_ifname + std::to_string(p.id), setup_.mtu, pool_);
    const auto& addrs = director_.model().port_addresses();
    const auto it = addrs.find(p.id);
    if (it != addrs.end()) set_kernel_address(*kernel_[p.id], it->second);
    spdlog::info("port {}: kernel interface {}{}", p.id, kernel_[p.id]->ifname,
                 it != addrs.end() ? " with " + net::to_string(it->second) : "");
  }
}

void SlowPath::readdress(uint16_t port) {
  if (port >= kernel_.size() || !kernel_[port]) return;
  const auto& addrs = director_.model().port_addresses();
  const auto it = addrs.find(port);
  try {
    set_kernel_address(*kernel_[port], it == addrs.end() ? std::nullopt : std::optional<net::Prefix>(it->second));
  } catch (const KernelIfError& e) {
    spdlog::error("{}", e.what());  // the model has it; the kernel side is reported
  }
}

void SlowPath::poll(double now) {
  for (const auto& w : workers_) {
    rte_mbuf* pkts[lb::kBurst];
    unsigned total = 0, n;
    while (total < kExceptionBudget &&
           (n = rte_ring_dequeue_burst(w->control_ring(), reinterpret_cast<void**>(pkts), lb::kBurst, nullptr)) > 0) {
      total += n;
      cc_.exception_in += n;
      for (unsigned i = 0; i < n; ++i) handle(pkts[i]->port, pkts[i], now);
    }
  }
  for (auto& k : kernel_) {
    if (!k) continue;
    rte_mbuf* pkts[lb::kBurst];
    const uint16_t n = rte_eth_rx_burst(k->tap_port, 0, pkts, lb::kBurst);
    for (uint16_t i = 0; i < n; ++i) {
      ++cc_.from_kernel;
      if (withheld(k->data_port, pkts[i])) continue;
      if (!transmit(k->data_port, pkts[i])) ++cc_.from_kernel_dropped;
    }
  }
}

void SlowPath::handle(uint16_t port, rte_mbuf* m, double now) {
  if (port >= ports_.size()) {
    rte_pktmbuf_free(m);
    return;
  }
  const auto* d = rte_pktmbuf_mtod(m, const uint8_t*);
  if (rte_pktmbuf_data_len(m) >= net::kEtherHdrLen && net::ntoh16(net::load16(d + net::kEthType)) == net::kEtherArp)
    handle_arp(port, m, now);
  else
    to_kernel(port, m);
}

void SlowPath::handle_arp(uint16_t port, rte_mbuf* m, double now) {
  ++cc_.arp_in;
  const auto a = net::parse_arp(rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m));
  if (!a) {
    ++cc_.arp_malformed;
    rte_pktmbuf_free(m);
    return;
  }
  const ArpDecision d = director_.on_arp(port, *a, now);
  switch (d.action) {
    case ArpDecision::Action::kConflict:
      if (cc_.arp_conflicting++ % 1000 == 0)
        spdlog::warn("ARP from {} claims {} is at {}; drfwd knows it at {}: ignored ({} so far)",
                     net::to_string(a->eth_src), net::to_string(a->spa), net::to_string(a->sha),
                     net::to_string(d.known), cc_.arp_conflicting);
      rte_pktmbuf_free(m);
      return;
    case ArpDecision::Action::kReply:
      send_arp({port, d.reply});
      ++cc_.arp_vip_replies;
      rte_pktmbuf_free(m);
      return;
    case ArpDecision::Action::kToKernel:
      to_kernel(port, m);
      return;
  }
}

void SlowPath::send(const Director::Tick& t) {
  for (const ArpOut& o : t.requests) {
    send_arp(o);
    ++cc_.arp_requests;
  }
  for (const ArpOut& o : t.announcements) {
    send_arp(o);
    ++cc_.arp_announces;
  }
}

// ARP the kernel sends for a VIP the director does not claim on that port is dropped
// (Director::withholds): with vip-arp kernel, a VRRP daemon's gratuitous ARP would
// otherwise claim the VIP before drfwd has converged.
bool SlowPath::withheld(uint16_t port, rte_mbuf* m) {
  const auto* d = rte_pktmbuf_mtod(m, const uint8_t*);
  if (rte_pktmbuf_data_len(m) < net::kEtherHdrLen || net::ntoh16(net::load16(d + net::kEthType)) != net::kEtherArp)
    return false;
  const auto a = net::parse_arp(d, rte_pktmbuf_data_len(m));
  if (!a || !director_.withholds(port, *a)) return false;
  ++cc_.arp_vip_withheld;
  rte_pktmbuf_free(m);
  return true;
}

// Frames for a data port go through worker 0's transmit ring and its TX queue, so
// every TX queue keeps a single writer.
bool SlowPath::transmit(uint16_t port, rte_mbuf* m) {
  m->port = port;
  if (!workers_.empty() && rte_ring_enqueue(workers_[0]->transmit_ring(), m) == 0) return true;
  ++cc_.tx_dropped;
  rte_pktmbuf_free(m);
  return false;
}

void SlowPath::send_arp(const ArpOut& a) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  if (!m) {
    ++cc_.tx_dropped;
    return;
  }
  auto* buf = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, net::kMinFrameLen));
  net::build_arp(buf, a.arp);
  transmit(a.port, m);
}

void SlowPath::to_kernel(uint16_t port, rte_mbuf* m) {
  if (port < kernel_.size() && kernel_[port] && rte_eth_tx_burst(kernel_[port]->tap_port, 0, &m, 1) == 1) {
    ++cc_.to_kernel;
    return;
  }
  ++cc_.to_kernel_dropped;
  rte_pktmbuf_free(m);
}

void SlowPath::shutdown() {
  for (const auto& w : workers_) {
    dp::drain(w->control_ring());
    dp::drain(w->transmit_ring());
  }
  for (auto& k : kernel_) {
    if (!k) continue;
    rte_mbuf* pkts[lb::kBurst];
    uint16_t n;
    while ((n = rte_eth_rx_burst(k->tap_port, 0, pkts, lb::kBurst)) > 0) rte_pktmbuf_free_bulk(pkts, n);
    destroy_kernel_interface(*k);  // it holds mbufs in its rings
    k.reset();
  }
}

}  // namespace drfwd::control
