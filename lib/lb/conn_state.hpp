// Connection states and timeouts, following IPVS for Direct Routing: the director sees
// only client -> server packets, so TCP uses IPVS's "input-only" state table.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "net/parse.hpp"

namespace drfwd::lb {

// TCP states in IPVS order, then UDP and the persistence template. The state also
// names the flow table's timeout class.
enum class ConnState : uint8_t {
  kTcpNone, kTcpEstablished, kTcpSynSent, kTcpSynRecv, kTcpFinWait, kTcpTimeWait,
  kTcpClose, kTcpCloseWait, kTcpLastAck, kTcpListen, kTcpSynAck,
  kUdp,
  kTemplate,
  kCount
};
constexpr int kStateCount = static_cast<int>(ConnState::kCount);

constexpr std::string_view state_name(ConnState s) {
  constexpr std::array<std::string_view, kStateCount> names = {
      "NONE", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT", "TIME_WAIT", "CLOSE",
      "CLOSE_WAIT", "LAST_ACK", "LISTEN", "SYNACK", "UDP", "TEMPLATE"};
  return names[static_cast<int>(s)];
}

// Next state for a client -> server segment (IPVS tcp_states, INPUT-ONLY rows).
// Flag priority as in IPVS: RST, then SYN, then FIN, then ACK; none of them -> CLOSE.
constexpr ConnState tcp_next_state_slow(ConnState cur, uint8_t tcp_flags) {
  using S = ConnState;
  constexpr S ES = S::kTcpEstablished, SS = S::kTcpSynSent, SR = S::kTcpSynRecv, FW = S::kTcpFinWait,
              TW = S::kTcpTimeWait, CL = S::kTcpClose, CW = S::kTcpCloseWait, LA = S::kTcpLastAck,
              LI = S::kTcpListen;
  //                        NO  ES  SS  SR  FW  TW  CL  CW  LA  LI  SA
  constexpr S syn[11] = {SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR};
  constexpr S fin[11] = {CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW};
  constexpr S ack[11] = {CL, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES};
  constexpr S rst[11] = {CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL};
  const int c = static_cast<int>(cur);
  if (c > static_cast<int>(S::kTcpSynAck)) return cur;
  if (tcp_flags & net::kTcpRst) return rst[c];
  if (tcp_flags & net::kTcpSyn) return syn[c];
  if (tcp_flags & net::kTcpFin) return fin[c];
  if (tcp_flags & net::kTcpAck) return ack[c];
  return CL;
}

// The same as one table lookup: [state][FIN|SYN|RST|ACK bits of the flags]. A state
// past SYNACK (UDP, a template: never a TCP connection's) stays what it is, so the
// lookup needs no range check.
struct TcpTransitions {
  ConnState next[kStateCount][32];
  constexpr TcpTransitions() : next{} {
    for (int s = 0; s < kStateCount; ++s)
      for (int f = 0; f < 32; ++f)
        next[s][f] = s <= static_cast<int>(ConnState::kTcpSynAck)
                         ? tcp_next_state_slow(static_cast<ConnState>(s), static_cast<uint8_t>(f))
                         : static_cast<ConnState>(s);
  }
};
inline constexpr TcpTransitions kTcpTransitions{};

// The flags that move a TCP connection: FIN SYN RST ACK (PSH, URG, ECE, CWR ignored).
constexpr uint8_t kTcpStateFlags = 0x17;
inline ConnState tcp_next_state(ConnState cur, uint8_t tcp_flags) {
  return kTcpTransitions.next[static_cast<int>(cur)][tcp_flags & kTcpStateFlags];
}
// The states a segment with these flags leaves as they are: bit s for state s, for every
// value of the flags byte (the flags that do not move a connection ignored), so the data
// path indexes it by the byte as it is, with no mask first.
struct TcpUnmoved {
  uint16_t states[256];
  constexpr TcpUnmoved() : states{} {
    for (int f = 0; f < 256; ++f)
      for (int s = 0; s < kStateCount; ++s)
        if (kTcpTransitions.next[s][f & kTcpStateFlags] == static_cast<ConnState>(s))
          states[f] |= static_cast<uint16_t>(1u << s);
  }
};
inline constexpr TcpUnmoved kTcpUnmoved{};
static_assert(kStateCount <= 16);
inline uint16_t tcp_unmoved(uint8_t tcp_flags) { return kTcpUnmoved.states[tcp_flags]; }

// Idle timeouts in seconds per state (IPVS defaults). ESTABLISHED, FIN_WAIT and UDP are
// the three `ipvsadm --set tcp tcpfin udp` changes; the template entry is unused (each
// template carries its service's persistence timeout).
struct Timeouts {
  std::array<uint32_t, kStateCount> seconds = {
      2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120,  // TCP
      300,                                               // UDP
      0};                                                // template (per service)
  uint32_t get(ConnState s) const { return seconds[static_cast<int>(s)]; }
  uint32_t& tcp() { return seconds[static_cast<int>(ConnState::kTcpEstablished)]; }
  uint32_t& tcp_fin() { return seconds[static_cast<int>(ConnState::kTcpFinWait)]; }
  uint32_t& udp() { return seconds[static_cast<int>(ConnState::kUdp)]; }
  uint32_t tcp() const { return get(ConnState::kTcpEstablished); }
  uint32_t tcp_fin() const { return get(ConnState::kTcpFinWait); }
  uint32_t udp() const { return get(ConnState::kUdp); }
  bool operator==(const Timeouts&) const = default;
};

// ipvsadm's ActiveConn / InActConn split, as IPVS keeps it: a connection is bound
// active, and only TCP state changes make it inactive (every TCP state but ESTABLISHED).
// UDP entries therefore count as active, as they do under LVS.
constexpr bool state_is_active(ConnState s) {
  return s == ConnState::kTcpEstablished || s == ConnState::kUdp;
}

// Entries given up first when the table (or a bucket) is full: TCP connections that are
// not established (half-open, closing). A SYN flood then evicts its own entries, never
// an established connection, a UDP flow or a persistence template.
constexpr bool state_is_expendable(ConnState s) { return !state_is_active(s) && s != ConnState::kTemplate; }

}  // namespace drfwd::lb
