// The kernel exception interfaces: one TAP per data port (net_tap), with the port's MAC
// and its DIP, so the appliance's Linux stack owns the DIP (ARP for it, ping, SSH,
// health-check probes, routing daemons) while drfwd moves its frames; and one more TAP
// per VLAN interface, carrying that VLAN's frames untagged (drfwd tags them on the wire,
// so no 802.1Q support is needed in the kernel).
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include "net/addr.hpp"

struct rte_mempool;

namespace drfwd::control {

class KernelIfError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct KernelInterface {
  uint16_t data_port = 0;  // the drfwd port it stands for
  uint16_t vlan = 0;       // and its VLAN interface (0: the untagged one)
  uint16_t tap_port = 0;   // its ethdev port id (polled by the control core only)
  std::string ifname;      // the Linux interface
  std::string vdev;        // the net_tap device name
};

// Creates, configures (1 RX and 1 TX queue) and starts the TAP; sets up the kernel side
// (no IPv6, arp_ignore=1, arp_announce=2, up). Throws KernelIfError.
KernelInterface create_kernel_interface(uint16_t data_port, const net::Mac& mac, const std::string& ifname,
                                        uint16_t mtu, rte_mempool* pool, uint16_t vlan = 0);

// Gives the interface `address` (replacing any), or removes it. Throws KernelIfError.
void set_kernel_address(const KernelInterface& k, const std::optional<net::Prefix>& address);

// Gives the interface the IPv6 `address` (replacing any: IPv6 is turned on, without
// duplicate address detection, router advertisements or autoconfiguration), or removes
// it (IPv6 turned off again). Throws KernelIfError.
void set_kernel_address6(const KernelInterface& k, const std::optional<net::Prefix6>& address);

void destroy_kernel_interface(KernelInterface& k);

}  // namespace drfwd::control
