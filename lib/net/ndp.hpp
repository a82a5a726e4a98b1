// IPv6 Neighbor Discovery (RFC 4861) over Ethernet: Neighbor Solicitations and
// Advertisements, parsed with every RFC 4861 7.1 check, and built; the ICMPv6 checksum.
// The IPv6 counterpart of arp.hpp.
#pragma once

#include <cstdint>
#include <optional>

#include "net/addr.hpp"

namespace drfwd::net {

// ICMPv6 types (RFC 4443, RFC 4861).
constexpr uint8_t kIcmp6DestUnreach = 1;
constexpr uint8_t kIcmp6PacketTooBig = 2;
constexpr uint8_t kIcmp6TimeExceeded = 3;
constexpr uint8_t kIcmp6ParamProblem = 4;
constexpr uint8_t kIcmp6EchoRequest = 128;
constexpr uint8_t kIcmp6EchoReply = 129;
constexpr uint8_t kNdpRouterSolicit = 133;
constexpr uint8_t kNdpRouterAdvert = 134;
constexpr uint8_t kNdpNeighborSolicit = 135;
constexpr uint8_t kNdpNeighborAdvert = 136;
constexpr uint8_t kNdpRedirect = 137;

// Neighbor Discovery options (RFC 4861 4.6.1): type, length in units of 8 bytes.
constexpr uint8_t kNdpOptSrcLladdr = 1;
constexpr uint8_t kNdpOptTgtLladdr = 2;

constexpr uint8_t kNdpHopLimit = 255;   // sent and required: proves the sender is on-link
constexpr uint32_t kNdpMsgLen = 24;     // NS or NA without options: ICMPv6 header + target
// NA flags, in the first byte after the checksum.
constexpr uint8_t kNdpFlagRouter = 0x80;
constexpr uint8_t kNdpFlagSolicited = 0x40;
constexpr uint8_t kNdpFlagOverride = 0x20;

Ipv6 solicited_node(const Ipv6& target);   // ff02::1:ffXX:XXXX from the target's low 24 bits
Ipv6 all_nodes();                           // ff02::1
Mac ipv6_multicast_mac(const Ipv6& group);  // 33:33 + the group's low 32 bits (RFC 2464 7)
bool is_solicited_node(const Ipv6& a);      // ff02::1:ff00:0/104

// The ICMPv6 checksum (RFC 4443 2.3) over the pseudo-header (src, dst, upper-layer
// length `len`, next header 58) and the `len` bytes of the message, its checksum field
// taken as it is. The result is in the data's byte order (store it with store16 as is):
// with the field zeroed it is the value to store; over a message with a correct checksum
// it is 0.
uint16_t icmp6_checksum(const Ipv6& src, const Ipv6& dst, const uint8_t* msg, uint32_t len);

struct Ndp {
  Mac eth_src;
  Mac eth_dst;
  Ipv6 src;   // IPv6 header
  Ipv6 dst;
  uint8_t type = 0;   // kNdpNeighborSolicit or kNdpNeighborAdvert
  Ipv6 target;
  // NA flags (R, S, O); always false in an NS.
  bool router = false;
  bool solicited = false;
  bool override_flag = false;
  // NS: the source link-layer address option; NA: the target link-layer address option.
  std::optional<Mac> lladdr;
};

// nullopt unless the frame is Ethernet + IPv6 with ICMPv6 as its next header (no
// extension headers: RFC 4861 messages carry none in practice, and a hop-by-hop header
// would not change what is checked) + an NS or NA valid per RFC 4861 7.1.1 / 7.1.2:
// hop limit 255, code 0, ICMPv6 length >= 24, checksum correct, target not multicast,
// every option of non-zero length and within the message; an NS from the unspecified
// address has no source link-layer option and goes to a solicited-node address; an NA to
// a multicast destination has S clear. The IPv6 payload length must be within the frame
// (what follows it, Ethernet padding, is ignored); the source must not be multicast,
// loopback or IPv4-mapped. Unknown options are ignored. `lladdr` is the first link-layer
// option of the message's kind (Linux keeps the first too); one that is not an Ethernet
// address (length other than 1, a group or zero MAC) leaves it absent without refusing
// the message: RFC 4861's validity checks do not cover it, and such an address is never
// learned or answered to.
std::optional<Ndp> parse_ndp(const uint8_t* frame, uint32_t len);

// Ethernet + IPv6 + NS/NA + one link-layer option.
constexpr uint32_t kNdpMaxFrameLen = 14 + 40 + kNdpMsgLen + 8;

// Writes Ethernet + IPv6 (hop limit 255, traffic class and flow label 0) + the NS or NA,
// with the link-layer option when `lladdr` is set, checksum computed, into buf (>=
// kNdpMaxFrameLen bytes); returns the frame's length (78 or 86: no padding needed).
uint32_t build_ndp(uint8_t* buf, const Ndp& n);

// A solicited NA answering `ns` for our address `target` at `our_mac`: S and O set, R
// clear, TLLA our_mac, IPv6 source `target`, to the NS's source at its source link-layer
// address (its Ethernet source when the option is absent). An NS from the unspecified
// address (duplicate address detection) is answered to all-nodes with S clear (RFC 4861
// 7.2.4).
Ndp ndp_advert(const Mac& our_mac, const Ipv6& target, const Ndp& ns);
// An unsolicited NA announcing `ip` at `mac` to all-nodes (ff02::1, 33:33:00:00:00:01):
// S clear, O set, TLLA mac, IPv6 source ip.
Ndp ndp_announce(const Mac& mac, const Ipv6& ip);
// An NS from (src_mac, src_ip) for `target` with SLLA src_mac (none when src_ip is the
// unspecified address: RFC 4861 4.3 forbids it there): to the target's solicited-node
// address at its multicast MAC, or, given `unicast` (a refresh of a known neighbour), to
// that MAC and the target itself.
Ndp ndp_solicit(const Mac& src_mac, const Ipv6& src_ip, const Ipv6& target,
                std::optional<Mac> unicast = std::nullopt);

}  // namespace drfwd::net
