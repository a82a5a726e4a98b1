// IPv6 frames: the header checks and the bounded walk over extension headers, and what
// parse_frame makes of IPv6 today (each malformation by its reason; a well-formed frame
// is not-ipv4 until IPv6 services exist). Every cut of every frame is parsed too: no
// read past the frame (the sanitizer tier runs this), always a reason.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
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
  uint8_t tcp_doff = 5;
  std::optional<uint16_t> udp_len;  // none: the real length
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
    put16(40000);
    put16(80);
    f.insert(f.end(), 8, 0);
    f.push_back(static_cast<uint8_t>(s.tcp_doff << 4));
    f.push_back(net::kTcpSyn);
    f.insert(f.end(), 6, 0);
  } else if (s.proto == net::kProtoUdp) {
    put16(40000);
    put16(53);
    put16(s.udp_len ? *s.udp_len : static_cast<uint16_t>(8 + s.payload));
    put16(0);
  }
  f.insert(f.end(), s.payload, 0xab);
  const int payload_len = static_cast<int>(f.size() - ip - 40) + s.payload_len_delta;
  f[ip + 4] = static_cast<uint8_t>(payload_len >> 8);
  f[ip + 5] = static_cast<uint8_t>(payload_len);
  return f;
}

Drop parse(const std::vector<uint8_t>& f, uint32_t len = 0) {
  const uint32_t n = len ? len : static_cast<uint32_t>(f.size());
  const net::Parsed p = net::parse_frame(f.data(), n, n);
  EXPECT_EQ(p.kind, net::FrameKind::kDrop);
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
      const net::Ipv6Walk w = net::walk_ipv6(seg.data() + 14, cut - 14, static_cast<uint32_t>(whole.size()) - 14);
      if (w.drop == Drop::kNone) EXPECT_LE(w.l4, cut - 14u) << "the transport header starts inside the segment";
    }
  }
}

}  // namespace
