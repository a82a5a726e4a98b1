// Ethernet ports: discovery, configuration (one RX and one TX queue per worker), start,
// stop and close. Errors are returned as exceptions to main, never rte_exit.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "net/addr.hpp"

struct rte_mempool;

namespace drfwd::dp {

class PortError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct PortInfo {
  uint16_t id = 0;
  std::string name;    // e.g. net_pcap0
  std::string driver;  // e.g. net_pcap
  net::Mac mac;
  uint16_t max_rx_queues = 0;
  uint16_t max_tx_queues = 0;
  uint64_t rss_offloads = 0;  // flow types the port can hash on
  uint16_t min_mtu = 0, max_mtu = 0;
  uint32_t socket = 0;
  bool started = false;
  bool rss = false;        // configured with RSS
  bool ip_csum = false;    // RX IPv4 checksum offload enabled
  bool vlan_strip = false; // RX VLAN tag stripping offload enabled (else the worker strips)
  bool vlan_insert = false;// TX VLAN tag insertion offload enabled (else the worker inserts)
  uint16_t mtu = 0;        // as configured
  // RSS as the port applies it (empty if RSS is off or the driver does not say): which
  // worker a flow reaches (control/rss.hpp).
  std::vector<uint8_t> rss_key;
  std::vector<uint16_t> rss_reta;
  uint64_t rss_hf = 0;
};

struct PortSetup {
  uint16_t queues = 1;  // RX and TX queues: one per worker
  uint16_t mtu = 1500;
  uint16_t rxd = 1024;
  uint16_t txd = 1024;
  bool promiscuous = false;
  rte_mempool* pool = nullptr;
};

// Every port EAL probed, in port-id order. Throws PortError if there is none or the ids
// are not 0..n-1.
std::vector<PortInfo> discover_ports();

// Checks what `setup` needs against each port's limits before anything is configured.
void check_ports(const std::vector<PortInfo>& ports, const PortSetup& setup);

void configure_and_start(PortInfo& port, const PortSetup& setup);
// Stops and closes every port that was started (pcap output is flushed on close).
void stop_and_close(std::vector<PortInfo>& ports);

// The ports for as long as drfwd runs: stopped and closed by stop_and_close() or, on any
// other way out, by the destructor.
class PortSet {
 public:
  explicit PortSet(std::vector<PortInfo> ports) : ports_(std::move(ports)) {}
  ~PortSet() { dp::stop_and_close(ports_); }
  PortSet(const PortSet&) = delete;
  PortSet& operator=(const PortSet&) = delete;
  void start(const PortSetup& setup) {
    for (PortInfo& p : ports_) configure_and_start(p, setup);
  }
  void stop_and_close() { dp::stop_and_close(ports_); }
  const std::vector<PortInfo>& info() const { return ports_; }
  size_t size() const { return ports_.size(); }

 private:
  std::vector<PortInfo> ports_;
};

}  // namespace drfwd::dp
