// Every reason a frame can be dropped on the forwarding path. Each has its own counter;
// "malformed" in summaries is the sum of the header-validation reasons.
#pragma once

#include <cstdint>
#include <string_view>

namespace drfwd::net {

enum class Drop : uint8_t {
  kNone = 0,
  // Ethernet
  kRunt,           // shorter than an Ethernet header (with a tag: than 18 bytes)
  kOversize,       // does not fit one mbuf (beyond --mtu, or mbufs too small for it)
  kNotOurMac,      // unicast to another host's MAC
  kBadSrcMac,      // multicast, broadcast or zero source MAC
  kVlanUnknown,    // 802.1Q tagged with a VID for which the port has no VLAN interface
  kVlanDouble,     // two tags (QinQ), or an 802.1ad service tag
  kNotIpv4,        // another EtherType (LLDP, ...): neither IPv4, IPv6 nor ARP
  // IPv4 header
  kIpTruncated,    // frame ends inside the IPv4 header
  kIpBadVersion,   // version field is not 4 (not 6 in an IPv6 frame)
  kIpBadIhl,       // IHL < 5, or the header runs past the frame
  kIpBadLength,    // total length below the header length or beyond the frame
  kIpBadChecksum,  // IPv4 header checksum wrong
  kIpBadSrc,       // source is 0.0.0.0, loopback, multicast or broadcast (IPv6: multicast, ::1, IPv4-mapped)
  // IPv6 header
  kIp6Truncated,   // frame ends inside the IPv6 header
  kIp6BadLength,   // payload length beyond the frame
  kIp6BadExt,      // an extension header cut short, hop-by-hop not first, a second fragment header, one too many,
                   // a routing header with segments left, or neighbour discovery behind any of them
  // TCP / UDP header
  kL4Truncated,    // TCP or UDP header cut short (also tiny first fragments)
  kTcpBadDoff,     // TCP data offset < 5 or beyond the segment
  kUdpBadLength,   // UDP length < 8 or beyond the datagram
  kIcmpBadChecksum,  // an ICMP error about a VIP's connection with a wrong checksum
  // Forwarding decisions
  kNoService,      // IPv4 not for a configured service nor for the appliance
  kNoRs,           // the service has no real server that can take traffic
  kNoNeighbour,    // the service has real servers, but none with a known MAC
  kRsOverloaded,   // every real server that could take a new connection is over its upper threshold
  kFragOrphan,     // a non-first fragment whose first fragment was not seen
  kIcmpNoConn,     // an ICMP error about a VIP's connection that is not known here
  kTxFull,         // the TX queue refused the packet
  kControlFull,    // the exception path's ring to the control core was full
  kExceptionLimit, // over the exception path's rate limit (--exception-pps)
  kCount
};

constexpr int kDropCount = static_cast<int>(Drop::kCount);

constexpr std::string_view drop_name(Drop d) {
  switch (d) {
    case Drop::kNone: return "none";
    case Drop::kRunt: return "runt";
    case Drop::kOversize: return "oversize";
    case Drop::kNotOurMac: return "not-our-mac";
    case Drop::kBadSrcMac: return "bad-src-mac";
    case Drop::kVlanUnknown: return "vlan-unknown";
    case Drop::kVlanDouble: return "vlan-double";
    case Drop::kNotIpv4: return "not-ipv4";
    case Drop::kIpTruncated: return "ip-truncated";
    case Drop::kIpBadVersion: return "ip-bad-version";
    case Drop::kIpBadIhl: return "ip-bad-ihl";
    case Drop::kIpBadLength: return "ip-bad-length";
    case Drop::kIpBadChecksum: return "ip-bad-checksum";
    case Drop::kIpBadSrc: return "ip-bad-src";
    case Drop::kIp6Truncated: return "ip6-truncated";
    case Drop::kIp6BadLength: return "ip6-bad-length";
    case Drop::kIp6BadExt: return "ip6-bad-ext";
    case Drop::kL4Truncated: return "l4-truncated";
    case Drop::kTcpBadDoff: return "tcp-bad-doff";
    case Drop::kUdpBadLength: return "udp-bad-length";
    case Drop::kIcmpBadChecksum: return "icmp-bad-checksum";
    case Drop::kNoService: return "no-service";
    case Drop::kNoRs: return "no-rs";
    case Drop::kNoNeighbour: return "no-neighbour";
    case Drop::kRsOverloaded: return "rs-overloaded";
    case Drop::kFragOrphan: return "frag-orphan";
    case Drop::kIcmpNoConn: return "icmp-no-conn";
    case Drop::kTxFull: return "tx-full";
    case Drop::kControlFull: return "control-full";
    case Drop::kExceptionLimit: return "exception-limit";
    case Drop::kCount: break;
  }
  return "?";
}

// Header-validation failures: the frame itself is broken.
constexpr bool is_malformed(Drop d) {
  return d == Drop::kRunt || d == Drop::kOversize ||
         (d >= Drop::kIpTruncated && d <= Drop::kIcmpBadChecksum);
}

}  // namespace drfwd::net
