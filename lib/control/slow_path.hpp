// The control core's frames: what the workers hand over through their exception rings
// (ARP, traffic to the appliance's own addresses), what the kernel exception interfaces
// send, and the ARP frames the director decides to send. It moves frames; the director
// decides (which ARP to answer, what to resolve and announce).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "control/director.hpp"
#include "control/slow_path_counters.hpp"
#include "control/kernel_if.hpp"
#include "dataplane/port.hpp"
#include "dataplane/worker.hpp"
#include "lb/counters.hpp"

struct rte_mbuf;
struct rte_mempool;

namespace drfwd::control {

struct SlowPathSetup {
  bool kernel_interfaces = true;        // a TAP per port for the appliance's own traffic
  std::string kernel_ifname = "drfwd";  // prefix: drfwd0, drfwd1, ...
  uint16_t mtu = 1500;                  // the kernel interfaces', as the ports'
};

class SlowPath {
 public:
  SlowPath(const std::vector<dp::PortInfo>& ports, const std::vector<std::unique_ptr<dp::Worker>>& workers,
           rte_mempool* pool, SlowPathSetup setup, Director& director);
  ~SlowPath();  // closes the kernel interfaces
  SlowPath(const SlowPath&) = delete;
  SlowPath& operator=(const SlowPath&) = delete;

  // Creates the kernel interfaces with the ports' addresses. Throws KernelIfError.
  void start();
  // One round: the exception rings (a bounded number of frames each), then the kernel
  // interfaces.
  void poll(double now);
  // Sends what the director's tick asks for.
  void send(const Director::Tick& t);
  // An interface's address changed, or a VLAN interface came or went: the kernel side
  // follows (errors are logged).
  void readdress(lb::Iface at);
  // Once the workers have stopped: frees every frame in the rings and the kernel
  // interfaces and closes them, so the pool's count at exit is exact.
  void shutdown();

  const SlowPathCounters& counters() const { return cc_; }
  const std::vector<std::optional<KernelInterface>>& kernel_interfaces() const { return kernel_; }
  // Every kernel interface's index and the interface it stands for (TAPs and VLAN
  // devices); `kernel_serial` changes whenever this does.
  std::map<int, lb::Iface> kernel_ifindexes() const;
  uint64_t kernel_serial() const { return kernel_serial_; }
  // Interfaces whose kernel side had its IPv6 turned off and on again (a new IPv6 DIP):
  // the kernel dropped their IPv6 routes, which KernelState must put back. Cleared by the call.
  std::vector<lb::Iface> take_ipv6_resets() { return std::exchange(ipv6_resets_, {}); }
  bool has_kernel_interfaces() const { return setup_.kernel_interfaces; }

 private:
  void handle(uint16_t port, rte_mbuf* m, double now);
  void handle_arp(lb::Iface at, rte_mbuf* m, double now);
  void to_kernel(lb::Iface at, rte_mbuf* m);
  void handle_ndp(lb::Iface at, rte_mbuf* m, double now);
  void send_arp(const ArpOut& a);
  void send_ndp(const NdpOut& n);
  void send_frame(uint16_t port, uint16_t vlan, const uint8_t* frame, uint32_t len);
  bool transmit(uint16_t port, rte_mbuf* m);  // false: dropped (counted tx_dropped)
  bool withheld(lb::Iface at, rte_mbuf* m);   // true: ARP for an unclaimed VIP, freed
  bool tag(rte_mbuf* m, uint16_t vlan);       // false: no room, freed
  void drain_and_destroy(KernelInterface& k);
  void make_vlan(lb::Iface at, const net::Prefix& address);  // throws KernelIfError
  // The kernel side's IPv6 address follows the model's, only when it changed (setting it
  // turns IPv6 off and on: every IPv6 address and route there goes). Throws KernelIfError.
  void readdress6(lb::Iface at, const KernelInterface& k);
  void from_kernel(const KernelInterface& k);

  const std::vector<dp::PortInfo>& ports_;
  const std::vector<std::unique_ptr<dp::Worker>>& workers_;
  rte_mempool* pool_;
  SlowPathSetup setup_;
  Director& director_;
  std::vector<std::optional<KernelInterface>> kernel_;  // by data port
  std::map<lb::Iface, KernelInterface> vlans_;         // one per VLAN interface
  uint64_t kernel_serial_ = 0;
  std::map<lb::Iface, std::optional<net::Prefix6>> applied6_;  // what each kernel side has
  std::vector<lb::Iface> ipv6_resets_;
  SlowPathCounters cc_;
};

}  // namespace drfwd::control
