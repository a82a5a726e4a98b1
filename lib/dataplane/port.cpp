#include "dataplane/port.hpp"

#include <rte_ethdev.h>
#include <rte_mempool.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

namespace drfwd::dp {

namespace {
std::string err(int rc) { return std::string(rte_strerror(rc < 0 ? -rc : rc)); }
}  // namespace

std::vector<PortInfo> discover_ports() {
  std::vector<PortInfo> ports;
  uint16_t id;
  RTE_ETH_FOREACH_DEV(id) {
    PortInfo p;
    p.id = id;
    if (id != ports.size())
      throw PortError("port ids are not contiguous (port " + std::to_string(id) + " after " +
                      std::to_string(ports.size()) + " ports)");
    rte_eth_dev_info info;
    int rc = rte_eth_dev_info_get(id, &info);
    if (rc != 0) throw PortError("port " + std::to_string(id) + ": cannot read device info: " + err(rc));
    char name[RTE_ETH_NAME_MAX_LEN] = {};
    rte_eth_dev_get_name_by_port(id, name);
    p.name = name;
    p.driver = info.driver_name ? info.driver_name : "?";
    p.max_rx_queues = info.max_rx_queues;
    p.max_tx_queues = info.max_tx_queues;
    p.rss_offloads = info.flow_type_rss_offloads;
    // The largest MTU rte_eth_dev_configure accepts: within [min_mtu, max_mtu], and the
    // frame (MTU plus the driver's overhead, by ethdev's rule) within max_rx_pktlen.
    const uint32_t overhead = info.max_mtu != UINT16_MAX && info.max_rx_pktlen > info.max_mtu
                                  ? info.max_rx_pktlen - info.max_mtu
                                  : RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN;
    p.min_mtu = info.min_mtu;
    p.max_mtu = static_cast<uint16_t>(
        std::min<uint32_t>(info.max_mtu, info.max_rx_pktlen > overhead ? info.max_rx_pktlen - overhead : 0));
    int sock = rte_eth_dev_socket_id(id);
    p.socket = sock < 0 ? 0 : static_cast<uint32_t>(sock);
    rte_ether_addr mac;
    rc = rte_eth_macaddr_get(id, &mac);
    if (rc != 0) throw PortError("port " + std::to_string(id) + ": cannot read MAC address: " + err(rc));
    std::memcpy(p.mac.bytes.data(), mac.addr_bytes, 6);
    ports.push_back(p);
  }
  if (ports.empty())
    throw PortError("no ports: give EAL a device, e.g. --vdev net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap "
                    "or --vdev net_af_packet0,iface=eth1 (see drivers-config/)");
  return ports;
}

void check_ports(const std::vector<PortInfo>& ports, const PortSetup& setup) {
  for (const PortInfo& p : ports) {
    if (setup.mtu < p.min_mtu || setup.mtu > p.max_mtu)
      throw PortError("port " + std::to_string(p.id) + " (" + p.name + ") takes an MTU between " +
                      std::to_string(p.min_mtu) + " and " + std::to_string(p.max_mtu) + ", not " +
                      std::to_string(setup.mtu) + " (--mtu)");
    if (p.max_rx_queues < setup.queues || p.max_tx_queues < setup.queues)
      throw PortError("port " + std::to_string(p.id) + " (" + p.name + ") supports " +
                      std::to_string(p.max_rx_queues) + " RX / " + std::to_string(p.max_tx_queues) +
                      " TX queues but " + std::to_string(setup.queues) +
                      " workers need one each: give the device more queues (net_pcap: one rx_pcap= "
                      "and tx_pcap= per queue; net_af_packet: qpairs=N) or use fewer worker lcores");
  }
}

namespace {

// The key and redirection table the port hashes with, so the control core can tell which
// worker a flow reaches (connection sync). Left empty if the driver does not tell.
void read_rss(PortInfo& p, const rte_eth_dev_info& info) {
  std::vector<uint8_t> key(info.hash_key_size ? info.hash_key_size : 40);
  rte_eth_rss_conf conf;
  std::memset(&conf, 0, sizeof conf);
  conf.rss_key = key.data();
  conf.rss_key_len = static_cast<uint8_t>(key.size());
  if (info.reta_size == 0 || rte_eth_dev_rss_hash_conf_get(p.id, &conf) != 0) return;
  std::vector<rte_eth_rss_reta_entry64> groups((info.reta_size + RTE_ETH_RETA_GROUP_SIZE - 1) / RTE_ETH_RETA_GROUP_SIZE);
  for (auto& g : groups) {
    std::memset(&g, 0, sizeof g);
    g.mask = ~uint64_t{0};
  }
  if (rte_eth_dev_rss_reta_query(p.id, groups.data(), info.reta_size) != 0) return;
  p.rss_reta.resize(info.reta_size);
  for (uint16_t i = 0; i < info.reta_size; ++i)
    p.rss_reta[i] = groups[i / RTE_ETH_RETA_GROUP_SIZE].reta[i % RTE_ETH_RETA_GROUP_SIZE];
  p.rss_key = std::move(key);
  p.rss_hf = conf.rss_hf;
}

}  // namespace

void configure_and_start(PortInfo& p, const PortSetup& s) {
  const std::string where = "port " + std::to_string(p.id) + " (" + p.name + ")";
  rte_eth_dev_info info;
  int rc = rte_eth_dev_info_get(p.id, &info);
  if (rc != 0) throw PortError(where + ": cannot read device info: " + err(rc));

  rte_eth_conf conf;
  std::memset(&conf, 0, sizeof conf);
  conf.rxmode.mtu = s.mtu;
  // RSS on the addresses and TCP/UDP ports, IPv4 and IPv6, so a connection always reaches
  // the same worker (its connection entry lives there). Fragments hash on addresses only.
  // (Without the IPv6 types every IPv6 frame would reach queue 0's worker.)
  const uint64_t want = RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_FRAG_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_TCP |
                        RTE_ETH_RSS_NONFRAG_IPV4_UDP | RTE_ETH_RSS_NONFRAG_IPV4_OTHER | RTE_ETH_RSS_IPV6 |
                        RTE_ETH_RSS_FRAG_IPV6 | RTE_ETH_RSS_NONFRAG_IPV6_TCP | RTE_ETH_RSS_NONFRAG_IPV6_UDP |
                        RTE_ETH_RSS_NONFRAG_IPV6_OTHER;
  const uint64_t hf = want & info.flow_type_rss_offloads;
  if (s.queues > 1 && hf != 0) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_hf = hf;
    p.rss = true;
  } else if (s.queues > 1) {
    spdlog::warn("{}: no RSS support; each RX queue gets what the driver gives it", where);
  }
  if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM) {
    conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
    p.ip_csum = true;
  }
  // 802.1Q tags: taken out and put in by the NIC where it can, by the workers otherwise.
  if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_VLAN_STRIP) {
    conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_VLAN_STRIP;
    p.vlan_strip = true;
  }
  if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_VLAN_INSERT) {
    conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_VLAN_INSERT;
    p.vlan_insert = true;
  }
  if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE)
    conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;

  rc = rte_eth_dev_configure(p.id, s.queues, s.queues, &conf);
  if (rc != 0) throw PortError(where + ": configure failed: " + err(rc));
  uint16_t rxd = s.rxd, txd = s.txd;
  rc = rte_eth_dev_adjust_nb_rx_tx_desc(p.id, &rxd, &txd);
  if (rc != 0) throw PortError(where + ": descriptor counts rejected: " + err(rc));

  for (uint16_t q = 0; q < s.queues; ++q) {
    rte_eth_rxconf rxc = info.default_rxconf;
    rxc.offloads = conf.rxmode.offloads;
    rc = rte_eth_rx_queue_setup(p.id, q, rxd, p.socket, &rxc, s.pool);
    if (rc != 0) throw PortError(where + ": RX queue " + std::to_string(q) + " setup failed: " + err(rc));
    rte_eth_txconf txc = info.default_txconf;
    txc.offloads = conf.txmode.offloads;
    rc = rte_eth_tx_queue_setup(p.id, q, txd, p.socket, &txc);
    if (rc != 0) throw PortError(where + ": TX queue " + std::to_string(q) + " setup failed: " + err(rc));
  }
  if (s.promiscuous) {
    rc = rte_eth_promiscuous_enable(p.id);
    if (rc != 0) spdlog::warn("{}: cannot enable promiscuous mode: {}", where, err(rc));
  }
  // IPv6 neighbor solicitations for the VIPs go to their solicited-node groups, which no
  // multicast filter of ours lists: every multicast frame in (drfwd sends no MLD).
  rc = rte_eth_allmulticast_enable(p.id);
  if (rc != 0 && rc != -ENOTSUP) spdlog::warn("{}: cannot enable all-multicast mode: {}", where, err(rc));
  rc = rte_eth_dev_start(p.id);
  if (rc != 0) throw PortError(where + ": start failed: " + err(rc));
  p.started = true;
  p.mtu = s.mtu;
  if (p.rss) read_rss(p, info);

  rte_eth_link link;
  std::memset(&link, 0, sizeof link);
  rte_eth_link_get_nowait(p.id, &link);
  spdlog::info("{}: {} MAC {} queues {} rxd {} txd {} MTU {} RSS {} link {}", where, p.driver,
               net::to_string(p.mac), s.queues, rxd, txd, s.mtu, p.rss ? "on" : "off",
               link.link_status ? "up" : "down");
}

void stop_and_close(std::vector<PortInfo>& ports) {
  for (PortInfo& p : ports) {
    if (!p.started) continue;
    int rc = rte_eth_dev_stop(p.id);
    if (rc != 0) spdlog::warn("port {}: stop failed: {}", p.id, err(rc));
    rc = rte_eth_dev_close(p.id);
    if (rc != 0) spdlog::warn("port {}: close failed: {}", p.id, err(rc));
    p.started = false;
  }
}

}  // namespace drfwd::dp
