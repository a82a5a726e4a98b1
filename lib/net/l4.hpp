// What the IPv4 and IPv6 parsers share above the IP layer: the TCP and UDP protocol
// numbers, header sizes and flags, the TCP/UDP header checks both make, and what a
// flow-table key stands for. Inline: this runs per packet.
#pragma once

#include <cstdint>

#include "net/bytes.hpp"

namespace drfwd::net {

constexpr uint32_t kTcpMinHdrLen = 20;
constexpr uint32_t kUdpHdrLen = 8;

constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;

constexpr uint8_t kTcpFin = 0x01;
constexpr uint8_t kTcpSyn = 0x02;
constexpr uint8_t kTcpRst = 0x04;
constexpr uint8_t kTcpAck = 0x10;

// What a flow-table key stands for: a connection, or a persistence template (the
// client's masked address, no ports, pointing at the RS its connections go to).
enum class FlowKind : uint8_t { kConnection = 0, kTemplate = 1 };

// The TCP data offset: at least the fixed header, within the segment.
inline bool tcp_offset_ok(const uint8_t* tcp, uint32_t l4_len) {
  const uint32_t doff = (tcp[12] >> 2) & 0x3cu;  // (the high nibble, times 4)
  return doff >= kTcpMinHdrLen && doff <= l4_len;
}
// The UDP length: at least the header; within the datagram unless this is a first
// fragment (which carries the whole datagram's length).
inline bool udp_length_ok(const uint8_t* udp, uint32_t l4_len, bool fragment) {
  const uint32_t ulen = ntoh16(load16(udp + 4));
  return ulen >= kUdpHdrLen && (fragment || ulen <= l4_len);
}

}  // namespace drfwd::net
