// The control core's frames: what the workers hand over through their exception rings
// (ARP, traffic to the appliance's own addresses), what the kernel exception interfaces
// send, and the ARP frames the director decides to send. It moves frames; the director
// decides (which ARP to answer, what to resolve and announce).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "control/director.hpp"
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

#define DRFWD_SLOW_PATH_COUNTERS(X)                                                                  \
  X(exception_in, kCounter, "frames taken off the workers' exception rings")                       \
  X(arp_in, kCounter, "ARP frames received")                                                        \
  X(arp_malformed, kCounter, "not a well-formed Ethernet/IPv4 ARP request or reply")                \
  X(arp_conflicting, kCounter, "ARP claiming a real server's address for another MAC: not passed on") \
  X(arp_vip_replies, kCounter, "ARP replies sent for VIPs")                                         \
  X(arp_announces, kCounter, "gratuitous ARPs sent for VIPs")                                       \
  X(arp_requests, kCounter, "resolution requests sent for real servers")                            \
  X(to_kernel, kCounter, "frames passed to a kernel interface")                                     \
  X(to_kernel_dropped, kCounter, "frames for a port without a kernel interface, or whose queue was full") \
  X(from_kernel, kCounter, "frames the kernel interfaces sent")                                     \
  X(from_kernel_dropped, kCounter, "kernel frames that could not be sent")                          \
  X(tx_dropped, kCounter, "frames that could not be handed to the transmitting worker")

DRFWD_COUNTERS(SlowPathCounters, kSlowPathFields, DRFWD_SLOW_PATH_COUNTERS);

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
  // The port's address changed: the kernel interface follows (errors are logged).
  void readdress(uint16_t port);
  // Once the workers have stopped: frees every frame in the rings and the kernel
  // interfaces and closes them, so the pool's count at exit is exact.
  void shutdown();

  const SlowPathCounters& counters() const { return cc_; }
  const std::vector<std::optional<KernelInterface>>& kernel_interfaces() const { return kernel_; }
  bool has_kernel_interfaces() const { return setup_.kernel_interfaces; }

 private:
  void handle(uint16_t port, rte_mbuf* m, double now);
  void handle_arp(uint16_t port, rte_mbuf* m, double now);
  void to_kernel(uint16_t port, rte_mbuf* m);
  void send_arp(const ArpOut& a);
  void transmit(uint16_t port, rte_mbuf* m);

  const std::vector<dp::PortInfo>& ports_;
  const std::vector<std::unique_ptr<dp::Worker>>& workers_;
  rte_mempool* pool_;
  SlowPathSetup setup_;
  Director& director_;
  std::vector<std::optional<KernelInterface>> kernel_;  // by data port
  SlowPathCounters cc_;
};

}  // namespace drfwd::control
