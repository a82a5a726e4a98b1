// IPv6 frames: the header checks and the bounded walk over extension headers, what
// parse_frame makes of IPv6 today (each malformation by its reason; a well-formed frame
// is not-ipv4 until IPv6 services exist), and parse_ipv6's keys (TCP/UDP, fragments,
// NDP, ICMPv6 errors about the VIP's connections), which drop exactly what parse_frame
// drops. Every cut of every frame is parsed too: no read past the frame (the sanitizer
// tier runs this), always a reason.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "net/addr.hpp"
#include "net/parse.hpp"

using namespace drfwd;
using net::Drop;

namespace {

struct Ext {
  uint8_t type;             // kNhHopByHop, kNhRouting, kNhDestOpts, kNhFragment
  uint8_t len8 = 0;         // (length / 8) - 1, as on the wire (fragment: 0)
  uint16_t frag_off = 0;    // fragment: offset in 8-byte units
  bool more = false;        // fragment: M flag
};

struct Frame6 {
  const char* src = "2001:db8:2::1";
  const char* dst = "2001:db8:1::10";
  uint8_t version = 6;
  std::vector<Ext> ext;
  uint8_t proto = net::kProtoTcp;
  uint16_t sport = 40000;
  std::optional<uint16_t> dport;    // none: 80 for TCP, 53 for UDP
  uint8_t tcp_doff = 5;
  std::optional<uint16_t> udp_len;  // none: the real length
  std::vector<uint8_t> l4;          // another protocol's header and data (before the payload)
  size_t payload = 16;
  int payload_len_delta = 0; // added to the IPv6 payload length field
};

std::vector<uint8_t> build(const Frame6& s) {
  std::vector<uint8_t> f = {0x02, 0x70, 0x63, 0x61, 0x70, 0x00, 0x02, 0, 0, 0, 0x01, 0x01, 0x86, 0xdd};
  auto put16 = [&](uint16_t v) {
    f.push_back(static_cast<uint8_t>(v >> 8));
    f.push_back(static_cast<uint8_t>(v));
  };
  const size_t ip = f.size();
  f.insert(f.end(), {static_cast<uint8_t>(s.version << 4), 0, 0, 0, 0, 0, 0, 64});
  for (const char* a : {s.src, s.dst}) {
    const auto x = net::parse_ipv6(a);
    f.insert(f.end(), x->bytes.begin(), x->bytes.end());
  }
  size_t next_at = ip + 6;
  for (const Ext& e : s.ext) {
    f[next_at] = e.type;
    next_at = f.size();
    f.push_back(0);
    if (e.type == net::kNhFragment) {
      f.push_back(0);
      put16(static_cast<uint16_t>(e.frag_off << 3 | (e.more ? 1 : 0)));
      f.insert(f.end(), {0x12, 0x34, 0x56, 0x78});
    } else {
      f.push_back(e.len8);
      f.insert(f.end(), (e.len8 + 1) * 8 - 2, 0);
    }
  }
  f[next_at] = s.proto;
  if (s.proto == net::kProtoTcp) {
    put16(s.sport);
    put16(s.dport.value_or(80));
    f.insert(f.end(), 8, 0);
    f.push_back(static_cast<uint8_t>(s.tcp_doff << 4));
    f.push_back(net::kTcpSyn);
    f.insert(f.end(), 6, 0);
  } else if (s.proto == net::kProtoUdp) {
    put16(s.sport);
    put16(s.dport.value_or(53));
    put16(s.udp_len ? *s.udp_len : static_cast<uint16_t>(8 + s.payload));
    put16(0);
  } else {
    f.insert(f.end(), s.l4.begin(), s.l4.end());
  }
  f.insert(f.end(), s.payload, 0xab);
  const int payload_len = static_cast<int>(f.size() - ip - 40) + s.payload_len_delta;
  f[ip + 4] = static_cast<uint8_t>(payload_len >> 8);
  f[ip + 5] = static_cast<uint8_t>(payload_len);
  return f;
}

// parse_ipv6 drops exactly what parse_frame drops (one implementation of the checks,
// check_ipv6): the same reason, and no drop where parse_frame says not-ipv4 (but for an
// ICMPv6 error's bad checksum, which only parse_ipv6 looks at).
void expect_same_drop(const net::Parsed& p, const uint8_t* f, uint32_t seg_len, uint32_t pkt_len) {
  const net::Parsed6 p6 = net::parse_ipv6(f + 14, seg_len - 14, pkt_len - 14);
  if (p.drop != Drop::kNotIpv4) {
    EXPECT_EQ(p6.kind, net::Kind6::kDrop);
    EXPECT_EQ(net::drop_name(p6.drop), net::drop_name(p.drop));
  } else {
    EXPECT_TRUE(p6.kind != net::Kind6::kDrop || p6.drop == Drop::kIcmpBadChecksum) << net::drop_name(p6.drop);
  }
}

Drop parse(const std::vector<uint8_t>& f, uint32_t len = 0) {
  const uint32_t n = len ? len : static_cast<uint32_t>(f.size());
  const net::Parsed p = net::parse_frame(f.data(), n, n);
  EXPECT_EQ(p.kind, net::FrameKind::kDrop);
  expect_same_drop(p, f.data(), n, n);
  return p.drop;
}

net::Ipv6Walk walk(const std::vector<uint8_t>& f) {
  const uint32_t n = static_cast<uint32_t>(f.size()) - 14;
  return net::walk_ipv6(f.data() + 14, n, n);
}

TEST(Parse6, WellFormedFramesWalkToTheirTransportHeader) {
  Frame6 s;
  net::Ipv6Walk w = walk(build(s));
  EXPECT_EQ(w.drop, Drop::kNone);
  EXPECT_EQ(w.proto, net::kProtoTcp);
  EXPECT_EQ(w.l4, 40u);
  EXPECT_TRUE(w.first);
  EXPECT_FALSE(w.fragment);
  EXPECT_EQ(parse(build(s)), Drop::kNotIpv4) << "well formed: not forwarded yet";

  s.ext = {{net::kNhHopByHop}, {net::kNhDestOpts, 1}, {net::kNhRouting, 2}, {net::kNhFragment, 0, 0, true},
           {net::kNhDestOpts}};
  s.proto = net::kProtoUdp;
  w = walk(build(s));
  EXPECT_EQ(w.drop, Drop::kNone);
  EXPECT_EQ(w.proto, net::kProtoUdp);
  EXPECT_EQ(w.l4, 40u + 8 + 16 + 24 + 8 + 8);
  EXPECT_TRUE(w.fragment);
  EXPECT_TRUE(w.first) << "offset 0 with M: the first fragment";
  EXPECT_EQ(w.frag_id, net::hton32(0x12345678));
  EXPECT_TRUE(w.more);
  EXPECT_EQ(parse(build(s)), Drop::kNotIpv4);
  s.udp_len = 900;  // the whole datagram's length, carried by its first fragment
  EXPECT_EQ(parse(build(s)), Drop::kNotIpv4);
  s.udp_len.reset();

  // A later fragment: the walk stops at the fragment header, no transport header.
  s.ext = {{net::kNhFragment, 0, 185, false}};
  s.proto = net::kProtoTcp;
  s.tcp_doff = 1;  // would be bad in a first fragment; here it is payload
  w = walk(build(s));
  EXPECT_EQ(w.drop, Drop::kNone);
  EXPECT_FALSE(w.first);
  EXPECT_EQ(w.proto, net::kProtoTcp);
  EXPECT_EQ(parse(build(s)), Drop::kNotIpv4);

  s = Frame6{};
  s.proto = net::kProtoIcmp6;
  EXPECT_EQ(parse(build(s)), Drop::kNotIpv4);
  s.proto = net::kNhNone;
  s.payload = 0;
  EXPECT_EQ(walk(build(s)).proto, net::kNhNone);
  // The unspecified source (duplicate address detection) is not a martian.
  s.src = "::";
  EXPECT_EQ(walk(build(s)).drop, Drop::kNone);
}

TEST(Parse6, EveryMalformationHasItsReason) {
  struct Case {
    const char* what;
    Frame6 s;
    Drop want;
  };
  auto with = [](auto f) {
    Frame6 s;
    f(s);
    return s;
  };
  const Case cases[] = {
      {"version 4 in an IPv6 frame", with([](Frame6& s) { s.version = 4; }), Drop::kIpBadVersion},
      {"payload length beyond the frame", with([](Frame6& s) { s.payload_len_delta = 1; }), Drop::kIp6BadLength},
      {"jumbogram (payload length 0, hop-by-hop)", with([](Frame6& s) {
         s.ext = {{net::kNhHopByHop}};
         s.payload_len_delta = -(8 + 20 + 16);
       }),
       Drop::kIp6BadExt},
      {"multicast source", with([](Frame6& s) { s.src = "ff02::1"; }), Drop::kIpBadSrc},
      {"loopback source", with([](Frame6& s) { s.src = "::1"; }), Drop::kIpBadSrc},
      {"IPv4-mapped source", with([](Frame6& s) { s.src = "::ffff:198.18.0.1"; }), Drop::kIpBadSrc},
      {"hop-by-hop not first", with([](Frame6& s) { s.ext = {{net::kNhDestOpts}, {net::kNhHopByHop}}; }),
       Drop::kIp6BadExt},
      {"two fragment headers",
       with([](Frame6& s) { s.ext = {{net::kNhFragment, 0, 0, true}, {net::kNhFragment, 0, 0, true}}; }),
       Drop::kIp6BadExt},
      {"six extension headers", with([](Frame6& s) {
         s.ext = {{net::kNhHopByHop}, {net::kNhDestOpts}, {net::kNhRouting}, {net::kNhRouting}, {net::kNhDestOpts},
                  {net::kNhDestOpts}};
       }),
       Drop::kIp6BadExt},
      {"extension header past the datagram", with([](Frame6& s) {
         s.ext = {{net::kNhDestOpts, 2}};  // 24 bytes; the datagram ends 8 bytes into it
         s.payload = 0;
         s.payload_len_delta = -(20 + 16);
       }),
       Drop::kIp6BadExt},
      {"TCP data offset 4", with([](Frame6& s) { s.tcp_doff = 4; }), Drop::kTcpBadDoff},
      {"TCP data offset past the segment", with([](Frame6& s) {
         s.tcp_doff = 15;
         s.payload = 0;
       }),
       Drop::kTcpBadDoff},
      {"UDP length 0", with([](Frame6& s) {
         s.proto = net::kProtoUdp;
         s.udp_len = 0;
       }),
       Drop::kUdpBadLength},
      {"UDP length beyond the datagram", with([](Frame6& s) {
         s.proto = net::kProtoUdp;
         s.udp_len = 900;
       }),
       Drop::kUdpBadLength},
      {"UDP length beyond an atomic fragment (offset 0, no M: a whole datagram)", with([](Frame6& s) {
         s.ext = {{net::kNhFragment, 0, 0, false}};
         s.proto = net::kProtoUdp;
         s.udp_len = 900;
       }),
       Drop::kUdpBadLength},
      {"UDP length below its header", with([](Frame6& s) {
         s.proto = net::kProtoUdp;
         s.udp_len = 7;
       }),
       Drop::kUdpBadLength},
      {"TCP header cut by the payload length", with([](Frame6& s) {
         s.payload = 0;
         s.payload_len_delta = -1;
       }),
       Drop::kL4Truncated},
  };
  for (const Case& c : cases) EXPECT_EQ(net::drop_name(parse(build(c.s))), net::drop_name(c.want)) << c.what;
  // Cut inside the IPv6 header.
  const auto f = build(Frame6{});
  EXPECT_EQ(parse(f, 14 + 39), Drop::kIp6Truncated);
  EXPECT_EQ(parse(f, 14), Drop::kIp6Truncated);
}

// Every prefix of frames with every kind of extension header: a reason, never a read
// past the cut (ASan), and the reason follows where the cut falls.
TEST(Parse6, EveryCutIsDroppedWithAReason) {
  Frame6 rich;
  rich.ext = {{net::kNhHopByHop}, {net::kNhDestOpts, 1}, {net::kNhRouting}, {net::kNhFragment, 0, 0, true}};
  Frame6 udp;
  udp.proto = net::kProtoUdp;
  for (const Frame6& s : {Frame6{}, rich, udp}) {
    const auto whole = build(s);
    for (uint32_t cut = 14; cut < whole.size(); ++cut) {
      std::vector<uint8_t> f(whole.begin(), whole.begin() + cut);  // exactly `cut` bytes: ASan sees any over-read
      const Drop d = parse(f);
      if (cut < 14 + 40)
        EXPECT_EQ(d, Drop::kIp6Truncated) << cut;
      else
        EXPECT_EQ(d, Drop::kIp6BadLength) << cut << ": the payload length claims the whole datagram";
    }
    EXPECT_EQ(parse(whole), Drop::kNotIpv4);
    // A first segment that ends early (the rest in other mbufs): headers beyond it are
    // not read; an extension header there is refused, a transport header is truncated.
    for (uint32_t cut = 14 + 40; cut < whole.size(); ++cut) {
      std::vector<uint8_t> seg(whole.begin(), whole.begin() + cut);
      const net::Parsed p = net::parse_frame(seg.data(), cut, static_cast<uint32_t>(whole.size()));
      EXPECT_TRUE(p.drop == Drop::kIp6BadExt || p.drop == Drop::kL4Truncated || p.drop == Drop::kNotIpv4)
          << cut << ": " << net::drop_name(p.drop);
      expect_same_drop(p, seg.data(), cut, static_cast<uint32_t>(whole.size()));
      const net::Ipv6Walk w = net::walk_ipv6(seg.data() + 14, cut - 14, static_cast<uint32_t>(whole.size()) - 14);
      if (w.drop == Drop::kNone) {
        EXPECT_LE(w.l4, cut - 14u) << "the transport header starts inside the segment";
      }
    }
  }
}

// parse_ipv6: the keys.

net::Parsed6 parse6(const std::vector<uint8_t>& f, uint32_t seg_len = 0) {
  const uint32_t n = static_cast<uint32_t>(f.size());
  return net::parse_ipv6(f.data() + 14, (seg_len ? seg_len : n) - 14, n - 14);
}

std::string addr(const uint8_t* a) {
  net::Ipv6 x{};
  std::memcpy(x.bytes.data(), a, 16);
  return net::to_string(x);
}

// The key's fields, for readable comparisons.
std::string key_str(const net::FlowKey6& k) {
  return "[" + addr(k.src) + "]:" + std::to_string(net::ntoh16(k.sport)) + " -> [" + addr(k.dst) +
         "]:" + std::to_string(net::ntoh16(k.dport)) + " proto " + std::to_string(k.proto) +
         (k.is_template() ? " template" : "") + (k.pad ? " pad" : "");
}

TEST(Parse6, TcpAndUdpAreKeyedWithTheirPorts) {
  Frame6 s;
  net::Parsed6 p = parse6(build(s));
  EXPECT_EQ(p.kind, net::Kind6::kL4);
  EXPECT_EQ(p.drop, Drop::kNone);
  EXPECT_EQ(key_str(p.key), "[2001:db8:2::1]:40000 -> [2001:db8:1::10]:80 proto 6");
  EXPECT_EQ(p.tcp_flags, net::kTcpSyn);
  EXPECT_FALSE(p.fragment);
  EXPECT_EQ(p.frag_id, 0u);
  EXPECT_EQ(p.l4, 40u);
  EXPECT_EQ(p.icmp_type, 0);

  s.proto = net::kProtoUdp;
  s.ext = {{net::kNhHopByHop}, {net::kNhDestOpts, 1}};
  p = parse6(build(s));
  EXPECT_EQ(p.kind, net::Kind6::kL4);
  EXPECT_EQ(key_str(p.key), "[2001:db8:2::1]:40000 -> [2001:db8:1::10]:53 proto 17");
  EXPECT_EQ(p.tcp_flags, 0);
  EXPECT_EQ(p.l4, 40u + 8 + 16);
}

TEST(Parse6, FragmentsAreKeyedAsIpv4Ones) {
  Frame6 s;
  s.proto = net::kProtoUdp;
  s.ext = {{net::kNhFragment, 0, 0, true}};  // the first fragment: ports
  net::Parsed6 p = parse6(build(s));
  EXPECT_EQ(p.kind, net::Kind6::kL4);
  EXPECT_EQ(key_str(p.key), "[2001:db8:2::1]:40000 -> [2001:db8:1::10]:53 proto 17");
  EXPECT_TRUE(p.fragment);
  EXPECT_EQ(p.frag_id, net::hton32(0x12345678));
  EXPECT_EQ(p.l4, 48u);

  s.ext = {{net::kNhFragment, 0, 185, true}};  // a middle fragment: no ports
  p = parse6(build(s));
  EXPECT_EQ(p.kind, net::Kind6::kFrag);
  EXPECT_EQ(key_str(p.key), "[2001:db8:2::1]:0 -> [2001:db8:1::10]:0 proto 17") << "the fragment header's next header";
  EXPECT_TRUE(p.fragment);
  EXPECT_EQ(p.frag_id, net::hton32(0x12345678));
  EXPECT_EQ(p.l4, 48u);

  s.proto = net::kProtoTcp;
  s.tcp_doff = 1;  // payload, not a header
  s.ext = {{net::kNhFragment, 0, 185, false}};  // the last fragment
  p = parse6(build(s));
  EXPECT_EQ(p.kind, net::Kind6::kFrag);
  EXPECT_EQ(p.key.proto, net::kProtoTcp);
  EXPECT_TRUE(p.fragment);
  EXPECT_EQ(p.tcp_flags, 0);

  // An atomic fragment (offset 0, no M) is a whole datagram.
  s = Frame6{};
  s.ext = {{net::kNhFragment, 0, 0, false}};
  p = parse6(build(s));
  EXPECT_EQ(p.kind, net::Kind6::kL4);
  EXPECT_FALSE(p.fragment);
  EXPECT_EQ(p.frag_id, net::hton32(0x12345678));

  // A fragment of another protocol.
  s.proto = net::kProtoIcmp6;
  s.l4 = {128, 0, 0, 0, 0, 1, 0, 1};
  s.payload = 0;
  s.ext = {{net::kNhFragment, 0, 0, true}};
  p = parse6(build(s));
  EXPECT_EQ(p.kind, net::Kind6::kOther);
  EXPECT_TRUE(p.fragment);
  s.ext = {{net::kNhFragment, 0, 10, false}};
  p = parse6(build(s));
  EXPECT_EQ(p.kind, net::Kind6::kOther);
  EXPECT_EQ(p.icmp_type, 0) << "no ICMPv6 header in a later fragment";
}

TEST(Parse6, OtherProtocolsAndIcmp6) {
  Frame6 s;
  s.proto = net::kNhNone;
  s.payload = 0;
  net::Parsed6 p = parse6(build(s));
  EXPECT_EQ(p.kind, net::Kind6::kOther);
  EXPECT_EQ(key_str(p.key), "[2001:db8:2::1]:0 -> [2001:db8:1::10]:0 proto 59");
  s.proto = 50;  // ESP
  s.payload = 40;
  EXPECT_EQ(parse6(build(s)).kind, net::Kind6::kOther);

  // An echo request: another ICMPv6 message.
  s.proto = net::kProtoIcmp6;
  s.l4 = {128, 0, 0, 0, 0, 1, 0, 1};
  s.payload = 8;
  p = parse6(build(s));
  EXPECT_EQ(p.kind, net::Kind6::kOther);
  EXPECT_EQ(p.icmp_type, 128);
  EXPECT_EQ(p.key.sport | p.key.dport, 0);

  // Neighbour discovery: router solicitation/advertisement, neighbour
  // solicitation/advertisement, redirect. Not with a fragment header (RFC 6980).
  s.dst = "ff02::1:ff00:10";
  for (uint8_t type = 133; type <= 137; ++type) {
    s.l4 = {type, 0, 0, 0, 0, 0, 0, 0};
    s.payload = 16;
    s.ext = {};
    p = parse6(build(s));
    EXPECT_EQ(p.kind, net::Kind6::kNdp) << int{type};
    EXPECT_EQ(p.icmp_type, type);
    s.ext = {{net::kNhFragment, 0, 0, false}};
    p = parse6(build(s));
    EXPECT_EQ(p.kind, net::Kind6::kDrop) << int{type} << " in an atomic fragment";
    EXPECT_EQ(p.drop, net::Drop::kIp6BadExt) << int{type} << " in an atomic fragment";
    s.ext = {{net::kNhDestOpts, 0, 0, false}};
    p = parse6(build(s));
    EXPECT_EQ(p.drop, net::Drop::kIp6BadExt) << int{type} << " behind destination options";
  }
  s.l4 = {132, 0, 0, 0};  // multicast listener done: not NDP
  s.ext = {};
  EXPECT_EQ(parse6(build(s)).kind, net::Kind6::kOther);
  s.l4 = {135, 0, 0};  // no whole ICMPv6 header
  s.payload = 0;
  p = parse6(build(s));
  EXPECT_EQ(p.kind, net::Kind6::kOther);
  EXPECT_EQ(p.icmp_type, 0);
}

// ICMPv6 errors. The test's own checksum (RFC 4443 2.3, big-endian words), checked
// against scapy below.
uint16_t icmp6_checksum(const std::vector<uint8_t>& f, size_t l4) {
  uint64_t sum = 0;
  auto word = [&](size_t i) { return uint32_t{f[i]} << 8 | (i + 1 < f.size() ? f[i + 1] : 0); };
  for (size_t i = 14 + 8; i < 14 + 40; i += 2) sum += word(i);
  const size_t len = f.size() - l4;
  sum += (len >> 16) + (len & 0xffff) + net::kProtoIcmp6;
  for (size_t i = l4; i < f.size(); i += 2) sum += word(i);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

struct Error6 {
  uint8_t type = 2;      // packet too big
  uint8_t code = 0;
  uint32_t word = 1280;  // the MTU
  Frame6 outer = [] {    // a router tells the VIP
    Frame6 s;
    s.src = "2001:db8:ffff::1";
    s.dst = "2001:2::10";
    s.proto = net::kProtoIcmp6;
    s.payload = 0;
    return s;
  }();
  Frame6 quoted = [] {   // about the real server's reply from the VIP to the client
    Frame6 s;
    s.src = "2001:2::10";
    s.dst = "2001:db8:2::1";
    s.sport = 80;
    s.dport = 40000;
    s.payload = 64;
    return s;
  }();
  std::optional<size_t> quote;  // cut the quoted datagram to this many bytes
  bool bad_checksum = false;
};

std::vector<uint8_t> build(const Error6& e) {
  std::vector<uint8_t> in = build(e.quoted);
  in.erase(in.begin(), in.begin() + 14);
  if (e.quote) in.resize(*e.quote);
  Frame6 o = e.outer;
  o.l4 = {e.type, e.code, 0, 0, static_cast<uint8_t>(e.word >> 24), static_cast<uint8_t>(e.word >> 16),
          static_cast<uint8_t>(e.word >> 8), static_cast<uint8_t>(e.word)};
  o.l4.insert(o.l4.end(), in.begin(), in.end());
  std::vector<uint8_t> f = build(o);
  const size_t l4 = f.size() - o.l4.size();
  const uint16_t c = static_cast<uint16_t>(icmp6_checksum(f, l4) ^ (e.bad_checksum ? 0x0100 : 0));
  f[l4 + 2] = static_cast<uint8_t>(c >> 8);
  f[l4 + 3] = static_cast<uint8_t>(c);
  return f;
}

std::vector<uint8_t> unhex(const std::string& h) {
  std::vector<uint8_t> b;
  for (size_t i = 0; i + 1 < h.size(); i += 2) b.push_back(static_cast<uint8_t>(std::stoi(h.substr(i, 2), nullptr, 16)));
  return b;
}

// Built by scapy: the real server's SYN-ACK from the VIP [2001:2::10]:80 to the client
// [2001:db8:2::1]:40000 was too big for a router's next hop, which tells the VIP:
//   Ether()/IPv6(src="2001:db8:ffff::1", dst="2001:2::10")/ICMPv6PacketTooBig(mtu=1280)/
//   raw(IPv6(src="2001:2::10", dst="2001:db8:2::1", hlim=63)/
//       TCP(sport=80, dport=40000, flags="SA", seq=1, ack=2)/(b"x"*8))
const char* const kScapyPtb =
    "02706361700002000000010186dd60000000004c3a4020010db8ffff00000000"
    "0000000000012001000200000000000000000000001002004473000005006000"
    "0000001c063f2001000200000000000000000000001020010db8000200000000"
    "00000000000100509c40000000010000000250122000c3860000787878787878"
    "7878";

TEST(Parse6, PacketTooBigFollowsTheClientsConnection) {
  std::vector<uint8_t> f = unhex(kScapyPtb);
  ASSERT_EQ(f.size(), 130u);
  net::Parsed6 p = parse6(f);
  EXPECT_EQ(p.kind, net::Kind6::kIcmpError);
  EXPECT_EQ(p.icmp_type, 2);
  EXPECT_EQ(p.l4, 40u);
  EXPECT_EQ(key_str(p.key), "[2001:db8:2::1]:40000 -> [2001:2::10]:80 proto 6") << "as the client sends";
  EXPECT_EQ(p.key.kind, net::FlowKind::kConnection);
  EXPECT_EQ(parse(f), Drop::kNotIpv4) << "parse_frame: not forwarded yet";
  // The test's checksum agrees with scapy's, so the frames below are right too.
  const uint16_t want = static_cast<uint16_t>(f[54 + 2] << 8 | f[54 + 3]);
  f[54 + 2] = f[54 + 3] = 0;
  EXPECT_EQ(icmp6_checksum(f, 54), want);
  // One bit off: dropped as a bad checksum (and still not-ipv4 for parse_frame).
  f = unhex(kScapyPtb);
  f.back() ^= 1;
  p = parse6(f);
  EXPECT_EQ(p.kind, net::Kind6::kDrop);
  EXPECT_EQ(p.drop, Drop::kIcmpBadChecksum);
  EXPECT_EQ(parse(f), Drop::kNotIpv4);
}

TEST(Parse6, IcmpErrorsAreKeyedOnlyWhenTheyQuoteAConnectionFromHere) {
  // Every error type, TCP and UDP, with an odd length (the checksum's last byte).
  for (uint8_t type : {1, 2, 3, 4}) {
    for (uint8_t proto : {net::kProtoTcp, net::kProtoUdp}) {
      Error6 e;
      e.type = type;
      e.quoted.proto = proto;
      e.quoted.payload = 33;
      const net::Parsed6 p = parse6(build(e));
      EXPECT_EQ(p.kind, net::Kind6::kIcmpError) << int{type} << "/" << int{proto};
      EXPECT_EQ(key_str(p.key), "[2001:db8:2::1]:40000 -> [2001:2::10]:80 proto " + std::to_string(proto));
      EXPECT_EQ(p.icmp_type, type);
    }
  }
  // Behind extension headers of its own (not fragmented).
  {
    Error6 e;
    e.outer.ext = {{net::kNhHopByHop}, {net::kNhDestOpts, 1}};
    const net::Parsed6 p = parse6(build(e));
    EXPECT_EQ(p.kind, net::Kind6::kIcmpError);
    EXPECT_EQ(p.l4, 40u + 8 + 16);
    e.bad_checksum = true;
    EXPECT_EQ(parse6(build(e)).drop, Drop::kIcmpBadChecksum);
  }
  // The quote cut to the header and the ports: enough; a byte less is not.
  {
    Error6 e;
    e.quote = 40 + 4;
    EXPECT_EQ(parse6(build(e)).kind, net::Kind6::kIcmpError);
    for (size_t q : {0, 1, 39, 40, 43}) {
      e.quote = q;
      EXPECT_EQ(parse6(build(e)).kind, net::Kind6::kOther) << "quote of " << q;
    }
  }
  struct Case {
    const char* what;
    Error6 e;
  };
  auto with = [](auto f) {
    Error6 e;
    f(e);
    return e;
  };
  const Case others[] = {
      {"an echo reply", with([](Error6& e) { e.type = 129; })},
      {"a type beyond the errors", with([](Error6& e) { e.type = 5; })},
      {"quoted source not this destination",
       with([](Error6& e) { e.quoted.src = "2001:2::11"; })},
      {"quoted extension header", with([](Error6& e) { e.quoted.ext = {{net::kNhDestOpts}}; })},
      {"quoted fragment header", with([](Error6& e) { e.quoted.ext = {{net::kNhFragment, 0, 0, true}}; })},
      {"quoted ICMPv6", with([](Error6& e) {
         e.quoted.proto = net::kProtoIcmp6;
         e.quoted.l4 = {128, 0, 0, 0, 0, 1, 0, 1};
       })},
      {"quoted version 4", with([](Error6& e) { e.quoted.version = 4; })},
      {"a fragment of an error", with([](Error6& e) { e.outer.ext = {{net::kNhFragment, 0, 0, true}}; })},
  };
  for (const Case& c : others) {
    for (bool bad : {false, true}) {
      Error6 e = c.e;
      e.bad_checksum = bad;  // not looked at: not an error this host keys
      const net::Parsed6 p = parse6(build(e));
      EXPECT_EQ(p.kind, net::Kind6::kOther) << c.what << (bad ? ", bad checksum" : "");
      EXPECT_EQ(key_str(p.key), "[2001:db8:ffff::1]:0 -> [2001:2::10]:0 proto 58") << c.what;
    }
  }
  // An atomic fragment is a whole datagram: keyed.
  Error6 e;
  e.outer.ext = {{net::kNhFragment, 0, 0, false}};
  EXPECT_EQ(parse6(build(e)).kind, net::Kind6::kIcmpError);
}

// Errors in frames cut short, or whose first segment ends early: never read past either
// (the sanitizer tier), never keyed unless the whole error is in the first segment.
TEST(Parse6, IcmpErrorsCutShort) {
  Error6 e;
  e.quoted.payload = 7;
  const auto whole = build(e);
  ASSERT_EQ(parse6(whole).kind, net::Kind6::kIcmpError);
  for (uint32_t cut = 14; cut < whole.size(); ++cut) {
    std::vector<uint8_t> f(whole.begin(), whole.begin() + cut);
    EXPECT_EQ(parse6(f).kind, net::Kind6::kDrop) << cut << ": the payload length claims the whole datagram";
    parse(f);  // the same drop in parse_frame
    if (cut < 14 + 40) continue;
    // The first segment ends at `cut`, the frame goes on.
    std::vector<uint8_t> seg(whole.begin(), whole.begin() + cut);
    const net::Parsed6 p = net::parse_ipv6(seg.data() + 14, cut - 14, static_cast<uint32_t>(whole.size()) - 14);
    EXPECT_EQ(p.kind, net::Kind6::kOther) << cut;
    EXPECT_EQ(p.icmp_type, cut >= 14 + 40 + 4 ? 2 : 0) << cut;
  }
  // The payload length ends the datagram inside the frame (Ethernet padding after it):
  // the quote is what the datagram holds.
  std::vector<uint8_t> padded = whole;
  padded.insert(padded.end(), 20, 0);
  EXPECT_EQ(parse6(padded).kind, net::Kind6::kIcmpError);
}

}  // namespace

// What a service never gets over IPv6: TCP or UDP from the unspecified address (duplicate
// address detection's, as IPv4's 0/8), and a datagram whose routing header still has
// segments left (its destination is not here).
TEST(Parse6, UnspecifiedSourcesAndRoutingHeadersWithSegmentsLeft) {
  Frame6 s;
  s.src = "::";
  for (uint8_t proto : {net::kProtoTcp, net::kProtoUdp}) {
    s.proto = proto;
    const net::Parsed6 p = parse6(build(s));
    EXPECT_EQ(p.kind, net::Kind6::kDrop);
    EXPECT_EQ(p.drop, net::Drop::kIpBadSrc);
  }
  Frame6 r;
  r.ext = {{net::kNhRouting}};
  std::vector<uint8_t> f = build(r);
  EXPECT_EQ(parse6(f).kind, net::Kind6::kL4) << "segments left 0: this is the destination";
  f[14 + 40 + 3] = 1;  // segments left
  const net::Parsed6 p = parse6(f);
  EXPECT_EQ(p.kind, net::Kind6::kDrop);
  EXPECT_EQ(p.drop, net::Drop::kIp6BadExt);
}
