// What the exception path counts (control/slow_path.hpp moves the frames): apart, so the
// views and tests that show these counters need none of the EAL side.
#pragma once

#include "lb/counters.hpp"

namespace drfwd::control {

#define DRFWD_SLOW_PATH_COUNTERS(X)                                                                  \
  X(exception_in, kCounter, "frames taken off the workers' exception rings")                       \
  X(arp_in, kCounter, "ARP frames received")                                                        \
  X(arp_malformed, kCounter, "not a well-formed Ethernet/IPv4 ARP request or reply")                \
  X(arp_conflicting, kCounter, "ARP claiming a real server's address for another MAC: not passed on") \
  X(arp_vip_replies, kCounter, "ARP replies sent for VIPs")                                         \
  X(arp_vip_withheld, kCounter, "ARP or neighbor advertisements from the kernel for a VIP not claimed (yet): not sent")         \
  X(arp_announces, kCounter, "gratuitous ARPs sent for VIPs")                                       \
  X(arp_requests, kCounter, "resolution requests sent for real servers")                            \
  X(ndp_in, kCounter, "IPv6 neighbor discovery frames received (solicitations, advertisements)")     \
  X(ndp_malformed, kCounter, "ICMPv6 neighbor discovery failing RFC 4861's checks: dropped")          \
  X(ndp_conflicting, kCounter, "advertisements claiming a real server's address for another MAC: not passed on") \
  X(ndp_vip_replies, kCounter, "neighbor advertisements sent for VIPs (and the ports' link-local addresses)") \
  X(ndp_announces, kCounter, "unsolicited neighbor advertisements sent for VIPs")                    \
  X(ndp_requests, kCounter, "neighbor solicitations sent to resolve real servers")                   \
  X(to_kernel, kCounter, "frames passed to a kernel interface")                                     \
  X(to_kernel_dropped, kCounter, "frames for a port without a kernel interface, or whose queue was full") \
  X(from_kernel, kCounter, "frames the kernel interfaces sent")                                     \
  X(from_kernel_dropped, kCounter, "kernel frames that could not be handed to the transmitting worker") \
  X(tx_dropped, kCounter, "frames that could not be handed to the transmitting worker")

DRFWD_COUNTERS(SlowPathCounters, kSlowPathFields, DRFWD_SLOW_PATH_COUNTERS);

}  // namespace drfwd::control
