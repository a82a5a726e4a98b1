#include "control/kernel_if.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <rte_bus_vdev.h>
#include <rte_ethdev.h>
#include <linux/ipv6.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace drfwd::control {

namespace {

void write_sysctl(const std::string& path, const char* value) {
  std::ofstream f(path);
  f << value;
  if (!f) throw KernelIfError("cannot write " + path);
}

struct Sock {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ~Sock() {
    if (fd >= 0) ::close(fd);
  }
};

ifreq request_for(const std::string& ifname) {
  ifreq r{};
  std::strncpy(r.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  return r;
}

void set_addr(int fd, const std::string& ifname, unsigned long op, uint32_t addr_be, const char* what) {
  ifreq r = request_for(ifname);
  auto* sin = reinterpret_cast<sockaddr_in*>(&r.ifr_addr);
  sin->sin_family = AF_INET;
  sin->sin_addr.s_addr = addr_be;
  if (::ioctl(fd, op, &r) != 0)
    throw KernelIfError(ifname + ": cannot set the " + what + ": " + std::strerror(errno));
}

}  // namespace

KernelInterface create_kernel_interface(uint16_t data_port, const net::Mac& mac, const std::string& ifname,
                                        uint16_t mtu, rte_mempool* pool, uint16_t vlan) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ)
    throw KernelIfError("kernel interface name '" + ifname + "' must be 1 to 15 characters");
  KernelInterface k;
  k.data_port = data_port;
  k.vlan = vlan;
  k.ifname = ifname;
  k.vdev = "net_tap_drfwd" + std::to_string(data_port) + (vlan ? "_" + std::to_string(vlan) : "");
  const std::string args = "iface=" + ifname + ",mac=" + net::to_string(mac);
  if (rte_vdev_init(k.vdev.c_str(), args.c_str()) != 0)
    throw KernelIfError("cannot create kernel interface " + ifname + " (" + k.vdev + "," + args +
                        "): needs root and /dev/net/tun; start with --no-kernel-interfaces to run without");
  if (rte_eth_dev_get_port_by_name(k.vdev.c_str(), &k.tap_port) != 0) {
    rte_vdev_uninit(k.vdev.c_str());
    throw KernelIfError(k.vdev + ": created but not found");
  }
  rte_eth_conf conf{};
  int rc = rte_eth_dev_configure(k.tap_port, 1, 1, &conf);
  // A VLAN's TAP holds fewer mbufs: there may be many of them, made at run time.
  const uint16_t rxd = vlan ? 64 : 512;
  if (rc == 0) rc = rte_eth_rx_queue_setup(k.tap_port, 0, rxd, rte_eth_dev_socket_id(k.tap_port), nullptr, pool);
  if (rc == 0) rc = rte_eth_tx_queue_setup(k.tap_port, 0, 512, rte_eth_dev_socket_id(k.tap_port), nullptr);
  if (rc == 0) {
    // The kernel side before it comes up: IPv4 only, and answer ARP only for this
    // interface's own address, announcing it from this interface.
    try {
      write_sysctl("/proc/sys/net/ipv6/conf/" + ifname + "/disable_ipv6", "1");
      write_sysctl("/proc/sys/net/ipv4/conf/" + ifname + "/arp_ignore", "1");
      write_sysctl("/proc/sys/net/ipv4/conf/" + ifname + "/arp_announce", "2");
    } catch (const KernelIfError&) {
      rte_eth_dev_close(k.tap_port);
      rte_vdev_uninit(k.vdev.c_str());
      throw;
    }
    rc = rte_eth_dev_start(k.tap_port);
  }
  if (rc != 0) {
    rte_eth_dev_close(k.tap_port);
    rte_vdev_uninit(k.vdev.c_str());
    throw KernelIfError(ifname + ": cannot start its TAP port: " + rte_strerror(-rc));
  }
  Sock s;
  // The data port's MTU, set on the Linux side (net_tap's own MTU limit is the standard
  // frame): the kernel then sends nothing the port could not carry, and takes whatever
  // the port receives for the DIP. TAP frames are read into the same mbufs, which hold
  // a whole frame of this MTU (checked at start).
  ifreq m = request_for(ifname);
  m.ifr_mtu = mtu;
  if (s.fd < 0 || ::ioctl(s.fd, SIOCSIFMTU, &m) != 0) {
    const std::string why = std::strerror(errno);
    destroy_kernel_interface(k);
    throw KernelIfError(ifname + ": cannot set its MTU to " + std::to_string(mtu) + ": " + why);
  }
  ifreq r = request_for(ifname);
  if (::ioctl(s.fd, SIOCGIFFLAGS, &r) != 0 || ((r.ifr_flags |= IFF_UP), ::ioctl(s.fd, SIOCSIFFLAGS, &r)) != 0) {
    const std::string why = std::strerror(errno);
    destroy_kernel_interface(k);
    throw KernelIfError(ifname + ": cannot bring it up: " + why);
  }
  return k;
}

void set_kernel_address(const KernelInterface& k, const std::optional<net::Prefix>& address) {
  Sock s;
  if (s.fd < 0) throw KernelIfError(std::string("socket: ") + std::strerror(errno));
  if (!address) {
    ifreq r = request_for(k.ifname);
    auto* sin = reinterpret_cast<sockaddr_in*>(&r.ifr_addr);
    sin->sin_family = AF_INET;
    if (::ioctl(s.fd, SIOCSIFADDR, &r) != 0 && errno != EADDRNOTAVAIL)
      throw KernelIfError(k.ifname + ": cannot remove its address: " + std::strerror(errno));
    return;
  }
  set_addr(s.fd, k.ifname, SIOCSIFADDR, address->addr.be(), "address");
  set_addr(s.fd, k.ifname, SIOCSIFNETMASK, htonl(address->mask()), "netmask");
  ifreq r = request_for(k.ifname);
  if (::ioctl(s.fd, SIOCGIFFLAGS, &r) == 0 && !(r.ifr_flags & IFF_UP)) {
    r.ifr_flags |= IFF_UP;
    ::ioctl(s.fd, SIOCSIFFLAGS, &r);
  }
}

void set_kernel_address6(const KernelInterface& k, const std::optional<net::Prefix6>& address) {
  const std::string conf = "/proc/sys/net/ipv6/conf/" + k.ifname + "/";
  // Turning IPv6 off removes every IPv6 address: the old one goes, as on replacing it.
  write_sysctl(conf + "disable_ipv6", "1");
  if (!address) return;
  // drfwd's own address, on a link drfwd answers for: no DAD (the address is usable at
  // once), and the kernel takes no router's word for its addresses or routes.
  write_sysctl(conf + "accept_dad", "0");
  write_sysctl(conf + "accept_ra", "0");
  write_sysctl(conf + "autoconf", "0");
  write_sysctl(conf + "disable_ipv6", "0");
  const int fd = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw KernelIfError(std::string("socket: ") + std::strerror(errno));
  in6_ifreq r{};
  std::memcpy(r.ifr6_addr.s6_addr, address->addr.bytes.data(), 16);
  r.ifr6_prefixlen = address->len;
  r.ifr6_ifindex = static_cast<int>(::if_nametoindex(k.ifname.c_str()));
  const int rc = r.ifr6_ifindex > 0 ? ::ioctl(fd, SIOCSIFADDR, &r) : -1;
  const int err = errno;
  ::close(fd);
  if (rc != 0 && err != EEXIST)
    throw KernelIfError(k.ifname + ": cannot set its IPv6 address " + net::to_string(*address) + ": " + std::strerror(err));
}

void destroy_kernel_interface(KernelInterface& k) {
  rte_eth_dev_stop(k.tap_port);
  rte_eth_dev_close(k.tap_port);
  rte_vdev_uninit(k.vdev.c_str());
}

}  // namespace drfwd::control
