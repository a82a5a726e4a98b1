#include "control/slow_path.hpp"

#include <net/if.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "lb/forwarder.hpp"
#include "net/arp.hpp"
#include "net/ndp.hpp"
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
  for (auto& [at, k] : vlans_) destroy_kernel_interface(k);
  for (auto& k : kernel_)
    if (k) destroy_kernel_interface(*k);
}

void SlowPath::start() {
  if (!setup_.kernel_interfaces) return;
  for (const dp::PortInfo& p : ports_) {
    kernel_[p.id] = create_kernel_interface(p.id, p.mac, setup_.kernel_ifname + std::to_string(p.id), setup_.mtu, pool_);
    const auto address = director_.model().address(lb::Iface{p.id, 0});
    const auto address6 = director_.model().address6(lb::Iface{p.id, 0});
    if (address) set_kernel_address(*kernel_[p.id], *address);
    readdress6(lb::Iface{p.id, 0}, *kernel_[p.id]);
    spdlog::info("port {}: kernel interface {}{}{}", p.id, kernel_[p.id]->ifname,
                 address ? " with " + net::to_string(*address) : "", address6 ? " and " + net::to_string(*address6) : "");
  }
  for (auto& [at, address] : director_.model().addresses())
    if (at.vlan) make_vlan(at, address);
  ++kernel_serial_;
}

void SlowPath::make_vlan(lb::Iface at, const net::Prefix& address) {
  if (at.port >= kernel_.size() || !kernel_[at.port]) return;
  auto it = vlans_.find(at);
  if (it == vlans_.end()) {
    const std::string name = kernel_[at.port]->ifname + "." + std::to_string(at.vlan);
    it = vlans_.emplace(at, create_kernel_interface(at.port, ports_[at.port].mac, name, setup_.mtu, pool_, at.vlan)).first;
    ++kernel_serial_;
  }
  set_kernel_address(it->second, address);
  const auto address6 = director_.model().address6(at);
  readdress6(at, it->second);
  spdlog::info("port {} vlan {}: kernel interface {} with {}{}", at.port, at.vlan, it->second.ifname,
               net::to_string(address), address6 ? " and " + net::to_string(*address6) : "");
}

void SlowPath::readdress6(lb::Iface at, const KernelInterface& k) {
  const auto want = director_.model().address6(at);
  const auto it = applied6_.find(at);
  if (it != applied6_.end() ? it->second == want : !want) return;  // a new TAP starts with IPv6 off
  applied6_[at] = want;
  set_kernel_address6(k, want);
  ipv6_resets_.push_back(at);
}

void SlowPath::readdress(lb::Iface at) {
  if (at.port >= kernel_.size() || !kernel_[at.port]) return;
  const auto address = director_.model().address(at);
  try {
    if (at.vlan == 0) {
      set_kernel_address(*kernel_[at.port], address);
      readdress6(at, *kernel_[at.port]);
    } else if (address) {
      make_vlan(at, *address);
    } else if (auto it = vlans_.find(at); it != vlans_.end()) {
      drain_and_destroy(it->second);
      spdlog::info("port {} vlan {}: kernel interface {} removed", at.port, at.vlan, it->second.ifname);
      vlans_.erase(it);
      applied6_.erase(at);
      ++kernel_serial_;
    }
  } catch (const KernelIfError& e) {
    spdlog::error("{}", e.what());  // the model has it; the kernel side is reported
  }
}

std::map<int, lb::Iface> SlowPath::kernel_ifindexes() const {
  std::map<int, lb::Iface> out;
  for (const auto& k : kernel_)
    if (k) {
      const int i = static_cast<int>(if_nametoindex(k->ifname.c_str()));
      if (i > 0) out[i] = lb::Iface{k->data_port, 0};
    }
  for (const auto& [at, k] : vlans_) {
    const int i = static_cast<int>(if_nametoindex(k.ifname.c_str()));
    if (i > 0) out[i] = at;
  }
  return out;
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
  for (auto& k : kernel_)
    if (k) from_kernel(*k);
  for (auto& [at, k] : vlans_) from_kernel(k);
}

// What the kernel sends out of an interface goes out of its port, tagged for a VLAN's.
void SlowPath::from_kernel(const KernelInterface& k) {
  rte_mbuf* pkts[lb::kBurst];
  const uint16_t n = rte_eth_rx_burst(k.tap_port, 0, pkts, lb::kBurst);
  for (uint16_t i = 0; i < n; ++i) {
    ++cc_.from_kernel;
    if (withheld(lb::Iface{k.data_port, k.vlan}, pkts[i])) continue;
    if (k.vlan && !tag(pkts[i], k.vlan)) {
      ++cc_.from_kernel_dropped;
      continue;
    }
    if (!transmit(k.data_port, pkts[i])) ++cc_.from_kernel_dropped;
  }
}

// Puts an 802.1Q tag in front of the frame (software: these are the control core's few
// frames); false, and the frame freed, when the mbuf has no room for it.
bool SlowPath::tag(rte_mbuf* m, uint16_t vlan) {
  if (dp::push_vlan_tag(m, vlan)) return true;
  rte_pktmbuf_free(m);
  return false;
}

// The workers hand frames over untagged, the VLAN they came on in the mbuf.
void SlowPath::handle(uint16_t port, rte_mbuf* m, double now) {
  if (port >= ports_.size()) {
    rte_pktmbuf_free(m);
    return;
  }
  const lb::Iface at{port, (m->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED) ? static_cast<uint16_t>(m->vlan_tci & net::kVidMask)
                                                                     : uint16_t{0}};
  const auto* d = rte_pktmbuf_mtod(m, const uint8_t*);
  const uint16_t type = rte_pktmbuf_data_len(m) >= net::kEtherHdrLen ? net::ntoh16(net::load16(d + net::kEthType)) : 0;
  // IPv6 neighbor solicitations and advertisements are the director's (ICMPv6 right
  // after the fixed header: the workers drop NDP behind extension headers as
  // ip6-bad-ext); other IPv6 (for a DIP, to a group address) is the kernel's.
  constexpr uint32_t kIcmpType = net::kEtherHdrLen + net::kIpv6HdrLen;
  const bool ndp = type == net::kEtherIpv6 && rte_pktmbuf_data_len(m) > kIcmpType && d[net::kEtherHdrLen + 6] == net::kProtoIcmp6 &&
                   (d[kIcmpType] == net::kNdpNeighborSolicit || d[kIcmpType] == net::kNdpNeighborAdvert);
  if (type == net::kEtherArp)
    handle_arp(at, m, now);
  else if (ndp)
    handle_ndp(at, m, now);
  else
    to_kernel(at, m);
}

void SlowPath::handle_ndp(lb::Iface at, rte_mbuf* m, double now) {
  ++cc_.ndp_in;
  const auto n = net::parse_ndp(rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m));
  if (!n) {
    ++cc_.ndp_malformed;
    rte_pktmbuf_free(m);
    return;
  }
  const NdpDecision d = director_.on_ndp(at, *n, now);
  switch (d.action) {
    case NdpDecision::Action::kConflict:
      // An advertisement claims its target; a solicitation its source.
      if (cc_.ndp_conflicting++ % 1000 == 0)
        spdlog::warn("neighbor {} from {} claims {} is at {}; drfwd knows it at {}: ignored ({} so far)",
                     n->type == net::kNdpNeighborAdvert ? "advertisement" : "solicitation", net::to_string(n->eth_src),
                     net::to_string(n->type == net::kNdpNeighborAdvert ? n->target : n->src),
                     net::to_string(*n->lladdr), net::to_string(d.known), cc_.ndp_conflicting);
      rte_pktmbuf_free(m);
      return;
    case NdpDecision::Action::kReply:
      send_ndp({at.port, d.reply, at.vlan});
      ++cc_.ndp_vip_replies;
      rte_pktmbuf_free(m);
      return;
    case NdpDecision::Action::kToKernel:
      to_kernel(at, m);
      return;
  }
}

void SlowPath::handle_arp(lb::Iface at, rte_mbuf* m, double now) {
  ++cc_.arp_in;
  const auto a = net::parse_arp(rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m));
  if (!a) {
    ++cc_.arp_malformed;
    rte_pktmbuf_free(m);
    return;
  }
  const ArpDecision d = director_.on_arp(at, *a, now);
  switch (d.action) {
    case ArpDecision::Action::kConflict:
      if (cc_.arp_conflicting++ % 1000 == 0)
        spdlog::warn("ARP from {} claims {} is at {}; drfwd knows it at {}: ignored ({} so far)",
                     net::to_string(a->eth_src), net::to_string(a->spa), net::to_string(a->sha),
                     net::to_string(d.known), cc_.arp_conflicting);
      rte_pktmbuf_free(m);
      return;
    case ArpDecision::Action::kReply:
      send_arp({at.port, d.reply, at.vlan});
      ++cc_.arp_vip_replies;
      rte_pktmbuf_free(m);
      return;
    case ArpDecision::Action::kToKernel:
      to_kernel(at, m);
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
  for (const NdpOut& o : t.requests6) {
    send_ndp(o);
    ++cc_.ndp_requests;
  }
  for (const NdpOut& o : t.announcements6) {
    send_ndp(o);
    ++cc_.ndp_announces;
  }
}

// ARP the kernel sends for a VIP the director does not claim on that port is dropped
// (Director::withholds): with vip-arp kernel, a VRRP daemon's gratuitous ARP would
// otherwise claim the VIP before drfwd has converged.
bool SlowPath::withheld(lb::Iface at, rte_mbuf* m) {
  const auto* d = rte_pktmbuf_mtod(m, const uint8_t*);
  if (rte_pktmbuf_data_len(m) < net::kEtherHdrLen) return false;
  const uint16_t type = net::ntoh16(net::load16(d + net::kEthType));
  bool withhold = false;
  if (type == net::kEtherArp) {
    const auto a = net::parse_arp(d, rte_pktmbuf_data_len(m));
    withhold = a && director_.withholds(at, *a);
  } else if (type == net::kEtherIpv6) {
    const auto n = net::parse_ndp(d, rte_pktmbuf_data_len(m));
    withhold = n && director_.withholds(at, *n);
  }
  if (!withhold) return false;
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
  uint8_t buf[net::kMinFrameLen];
  send_frame(a.port, a.vlan, buf, net::build_arp(buf, a.arp));
}

void SlowPath::send_ndp(const NdpOut& n) {
  uint8_t buf[net::kNdpMaxFrameLen];
  send_frame(n.port, n.vlan, buf, net::build_ndp(buf, n.ndp));
}

// A frame the control core built, out of `port` (tagged for `vlan`).
void SlowPath::send_frame(uint16_t port, uint16_t vlan, const uint8_t* frame, uint32_t len) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  auto* out = m ? reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(len))) : nullptr;
  if (!out) {
    if (m) rte_pktmbuf_free(m);
    ++cc_.tx_dropped;
    return;
  }
  std::memcpy(out, frame, len);
  if (vlan && !tag(m, vlan)) {
    ++cc_.tx_dropped;
    return;
  }
  transmit(port, m);
}

// A frame that came on a VLAN goes to that VLAN's TAP, untagged as the worker left it.
void SlowPath::to_kernel(lb::Iface at, rte_mbuf* m) {
  const KernelInterface* k = nullptr;
  if (at.vlan == 0) {
    if (at.port < kernel_.size() && kernel_[at.port]) k = &*kernel_[at.port];
  } else if (auto it = vlans_.find(at); it != vlans_.end()) {
    k = &it->second;
  }
  m->ol_flags &= ~(RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED);
  if (k && rte_eth_tx_burst(k->tap_port, 0, &m, 1) == 1) {
    ++cc_.to_kernel;
    return;
  }
  ++cc_.to_kernel_dropped;
  rte_pktmbuf_free(m);
}

// Stops reading a TAP: frees what it holds, then closes it.
void SlowPath::drain_and_destroy(KernelInterface& k) {
  rte_mbuf* pkts[lb::kBurst];
  uint16_t n;
  while ((n = rte_eth_rx_burst(k.tap_port, 0, pkts, lb::kBurst)) > 0) rte_pktmbuf_free_bulk(pkts, n);
  destroy_kernel_interface(k);  // it holds mbufs in its rings
}

void SlowPath::shutdown() {
  for (const auto& w : workers_) {
    dp::drain(w->control_ring());
    dp::drain(w->transmit_ring());
  }
  for (auto& [at, k] : vlans_) drain_and_destroy(k);
  vlans_.clear();
  for (auto& k : kernel_) {
    if (!k) continue;
    drain_and_destroy(*k);
    k.reset();
  }
}

}  // namespace drfwd::control
