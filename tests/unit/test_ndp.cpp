// IPv6 Neighbor Discovery: the multicast addresses, the ICMPv6 checksum and the NS/NA
// frames against scapy's bytes, every builder through the parser, and each RFC 4861 7.1
// refusal. Every cut of a frame is parsed from a buffer of exactly that size, so the
// sanitizer tier sees any read past the end.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "net/addr.hpp"
#include "net/bytes.hpp"
#include "net/ndp.hpp"
#include "net/parse6.hpp"

using namespace drfwd;
using Bytes = std::vector<uint8_t>;

namespace {

net::Ipv6 ip6(const char* s) { return *net::parse_ipv6(s); }
net::Mac mac(const char* s) { return *net::parse_mac(s); }

const net::Mac kA = mac("02:00:00:00:00:01");
const net::Mac kB = mac("02:00:00:00:00:02");

// scapy: Ether(src=kA, dst='33:33:ff:00:00:02')/IPv6(src='2001:2::1', dst='ff02::1:ff00:2',
// hlim=255)/ICMPv6ND_NS(tgt='2001:2::2')/ICMPv6NDOptSrcLLAddr(lladdr=kA); checksum 0x3793.
const Bytes kNs = {
    0x33, 0x33, 0xff, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x86, 0xdd, 0x60, 0x00, 0x00, 0x00,
    0x00, 0x20, 0x3a, 0xff, 0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x01, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xff, 0x00, 0x00, 0x02,
    0x87, 0x00, 0x37, 0x93, 0x00, 0x00, 0x00, 0x00, 0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01};

// scapy: Ether(src=kB, dst=kA)/IPv6(src='2001:2::2', dst='2001:2::1', hlim=255)/
// ICMPv6ND_NA(tgt='2001:2::2', R=0, S=1, O=1)/ICMPv6NDOptDstLLAddr(lladdr=kB); checksum 0xb393.
const Bytes kNa = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x86, 0xdd, 0x60, 0x00, 0x00, 0x00,
    0x00, 0x20, 0x3a, 0xff, 0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x02, 0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x88, 0x00, 0xb3, 0x93, 0x60, 0x00, 0x00, 0x00, 0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02};

// scapy: Ether(src=kB, dst='33:33:00:00:00:01')/IPv6(src='2001:2::2', dst='ff02::1', hlim=255)/
// ICMPv6ND_NA(tgt='2001:2::2', R=0, S=0, O=1)/ICMPv6NDOptDstLLAddr(lladdr=kB).
const Bytes kAnnounce = {
    0x33, 0x33, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x86, 0xdd, 0x60, 0x00, 0x00, 0x00,
    0x00, 0x20, 0x3a, 0xff, 0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x02, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x88, 0x00, 0x14, 0x94, 0x20, 0x00, 0x00, 0x00, 0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02};

// scapy: Ether(src=kA, dst='33:33:ff:00:00:02')/IPv6(src='::', dst='ff02::1:ff00:2', hlim=255)/
// ICMPv6ND_NS(tgt='2001:2::2'): duplicate address detection, no option.
const Bytes kDad = {
    0x33, 0x33, 0xff, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x86, 0xdd, 0x60, 0x00, 0x00, 0x00,
    0x00, 0x18, 0x3a, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xff, 0x00, 0x00, 0x02,
    0x87, 0x00, 0x5a, 0xa1, 0x00, 0x00, 0x00, 0x00, 0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x02};

constexpr size_t kIp = 14;        // IPv6 header
constexpr size_t kMsg = 14 + 40;  // ICMPv6 message

// Parses a copy of exactly the frame's bytes (a read past them is a sanitizer report).
std::optional<net::Ndp> parse(const Bytes& f, size_t len) {
  auto copy = std::make_unique<uint8_t[]>(len);
  std::copy(f.begin(), f.begin() + static_cast<std::ptrdiff_t>(len), copy.get());
  return net::parse_ndp(copy.get(), static_cast<uint32_t>(len));
}
std::optional<net::Ndp> parse(const Bytes& f) { return parse(f, f.size()); }

Bytes build(const net::Ndp& n) {
  Bytes f(net::kNdpMaxFrameLen);
  f.resize(net::build_ndp(f.data(), n));
  return f;
}

uint16_t payload_len(const Bytes& f) { return net::ntoh16(net::load16(f.data() + kIp + 4)); }
void set_payload_len(Bytes& f, uint16_t v) { net::store16(f.data() + kIp + 4, net::hton16(v)); }

void set_addr(Bytes& f, size_t at, const char* a) {
  const auto v = ip6(a);
  std::copy(v.bytes.begin(), v.bytes.end(), f.begin() + static_cast<std::ptrdiff_t>(at));
}
void set_src(Bytes& f, const char* a) { set_addr(f, kIp + 8, a); }
void set_dst(Bytes& f, const char* a) { set_addr(f, kIp + 24, a); }
void set_target(Bytes& f, const char* a) { set_addr(f, kMsg + 8, a); }

// Recomputes the checksum of the ICMPv6 message right after the IPv6 header, so that a
// mutated frame is refused for the mutation only.
void fix_checksum(Bytes& f) {
  net::Ipv6 src, dst;
  std::copy(f.begin() + kIp + 8, f.begin() + kIp + 24, src.bytes.begin());
  std::copy(f.begin() + kIp + 24, f.begin() + kIp + 40, dst.bytes.begin());
  uint8_t* m = f.data() + kMsg;
  m[2] = m[3] = 0;
  net::store16(m + 2, net::icmp6_checksum(src, dst, m, payload_len(f)));
}

// Appends bytes to the message (before any Ethernet padding), with the payload length
// and checksum to match.
void append(Bytes& f, const Bytes& opt) {
  const size_t end = kMsg + payload_len(f);
  f.insert(f.begin() + static_cast<std::ptrdiff_t>(end), opt.begin(), opt.end());
  set_payload_len(f, static_cast<uint16_t>(payload_len(f) + opt.size()));
  fix_checksum(f);
}

// The frame with `change` applied and the checksum fixed is refused.
template <class Change>
void expect_refused(const Bytes& base, Change&& change, const char* what) {
  Bytes f = base;
  change(f);
  fix_checksum(f);
  EXPECT_FALSE(parse(f)) << what;
}

}  // namespace

TEST(NdpAddr, SolicitedNodeAndMulticastMac) {
  EXPECT_EQ(net::solicited_node(ip6("2001:db8::1:2:3")), ip6("ff02::1:ff02:3"));
  EXPECT_EQ(net::ipv6_multicast_mac(ip6("ff02::1:ff02:3")), mac("33:33:ff:02:00:03"));
  EXPECT_EQ(net::solicited_node(ip6("2001:2::2")), ip6("ff02::1:ff00:2"));
  EXPECT_EQ(net::solicited_node(ip6("2001:db8::abcd:ef12:3456")), ip6("ff02::1:ff12:3456"));
  EXPECT_EQ(net::all_nodes(), ip6("ff02::1"));
  EXPECT_EQ(net::ipv6_multicast_mac(net::all_nodes()), mac("33:33:00:00:00:01"));
  EXPECT_TRUE(net::is_solicited_node(ip6("ff02::1:ff02:3")));
  EXPECT_TRUE(net::is_solicited_node(ip6("ff02::1:ff00:0")));
  EXPECT_TRUE(net::is_solicited_node(ip6("ff02::1:ffff:ffff")));
  EXPECT_FALSE(net::is_solicited_node(ip6("ff02::1")));
  EXPECT_FALSE(net::is_solicited_node(ip6("ff02::1:fe02:3")));
  EXPECT_FALSE(net::is_solicited_node(ip6("ff05::1:ff02:3")));  // site scope
  EXPECT_FALSE(net::is_solicited_node(ip6("2001:db8::1:ff02:3")));
}

TEST(NdpChecksum, AgreesWithScapy) {
  for (const Bytes* f : {&kNs, &kNa, &kAnnounce, &kDad}) {
    Bytes g = *f;
    net::Ipv6 src, dst;
    std::copy(g.begin() + kIp + 8, g.begin() + kIp + 24, src.bytes.begin());
    std::copy(g.begin() + kIp + 24, g.begin() + kIp + 40, dst.bytes.begin());
    uint8_t* m = g.data() + kMsg;
    const uint32_t len = payload_len(g);
    EXPECT_EQ(net::icmp6_checksum(src, dst, m, len), 0);  // a correct message sums to 0
    const uint16_t stored = net::load16(m + 2);
    m[2] = m[3] = 0;
    EXPECT_EQ(net::icmp6_checksum(src, dst, m, len), stored);
  }
  // Odd length: scapy's IPv6(src='2001:2::1', dst='2001:2::2')/ICMPv6EchoRequest(id=1,
  // seq=1, data=b'abc'), checksum 0x7b4c.
  uint8_t echo[] = {0x80, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x61, 0x62, 0x63};
  EXPECT_EQ(net::ntoh16(net::icmp6_checksum(ip6("2001:2::1"), ip6("2001:2::2"), echo, sizeof echo)), 0x7b4c);
}

TEST(NdpParse, ScapyFrames) {
  auto ns = parse(kNs);
  ASSERT_TRUE(ns);
  EXPECT_EQ(ns->type, net::kNdpNeighborSolicit);
  EXPECT_EQ(ns->eth_src, kA);
  EXPECT_EQ(ns->eth_dst, mac("33:33:ff:00:00:02"));
  EXPECT_EQ(ns->src, ip6("2001:2::1"));
  EXPECT_EQ(ns->dst, ip6("ff02::1:ff00:2"));
  EXPECT_EQ(ns->target, ip6("2001:2::2"));
  EXPECT_EQ(ns->lladdr, kA);
  EXPECT_FALSE(ns->router || ns->solicited || ns->override_flag);

  auto na = parse(kNa);
  ASSERT_TRUE(na);
  EXPECT_EQ(na->type, net::kNdpNeighborAdvert);
  EXPECT_EQ(na->eth_src, kB);
  EXPECT_EQ(na->eth_dst, kA);
  EXPECT_EQ(na->src, ip6("2001:2::2"));
  EXPECT_EQ(na->dst, ip6("2001:2::1"));
  EXPECT_EQ(na->target, ip6("2001:2::2"));
  EXPECT_FALSE(na->router);
  EXPECT_TRUE(na->solicited);
  EXPECT_TRUE(na->override_flag);
  EXPECT_EQ(na->lladdr, kB);

  auto an = parse(kAnnounce);
  ASSERT_TRUE(an);
  EXPECT_EQ(an->dst, net::all_nodes());
  EXPECT_FALSE(an->solicited);
  EXPECT_TRUE(an->override_flag);

  auto dad = parse(kDad);
  ASSERT_TRUE(dad);
  EXPECT_TRUE(dad->src.is_unspecified());
  EXPECT_FALSE(dad->lladdr);

  // Ethernet padding after the IPv6 payload is not part of the message.
  Bytes padded = kDad;
  padded.resize(kDad.size() + 4, 0xee);
  EXPECT_TRUE(parse(padded));
}

TEST(NdpBuild, MatchesScapy) {
  EXPECT_EQ(build(net::ndp_solicit(kA, ip6("2001:2::1"), ip6("2001:2::2"))), kNs);
  EXPECT_EQ(build(net::ndp_advert(kB, ip6("2001:2::2"), *parse(kNs))), kNa);
  EXPECT_EQ(build(net::ndp_announce(kB, ip6("2001:2::2"))), kAnnounce);
  EXPECT_EQ(build(net::ndp_solicit(kA, ip6("::"), ip6("2001:2::2"))), kDad);  // no SLLA from ::
}

TEST(NdpBuild, EveryBuilderRoundTrips) {
  const net::Ipv6 us = ip6("2001:db8:1::10"), peer = ip6("2001:db8:1::20");
  const net::Mac our = mac("02:70:63:61:70:00"), their = mac("02:00:00:00:00:11");

  const auto ns = net::ndp_solicit(our, us, peer);
  auto p = parse(build(ns));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->type, net::kNdpNeighborSolicit);
  EXPECT_EQ(p->dst, ip6("ff02::1:ff00:20"));
  EXPECT_EQ(p->eth_dst, mac("33:33:ff:00:00:20"));
  EXPECT_EQ(p->eth_src, our);
  EXPECT_EQ(p->src, us);
  EXPECT_EQ(p->target, peer);
  EXPECT_EQ(p->lladdr, our);

  const auto refresh = net::ndp_solicit(our, us, peer, their);
  p = parse(build(refresh));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->dst, peer);
  EXPECT_EQ(p->eth_dst, their);
  EXPECT_EQ(p->lladdr, our);

  // Their NS to us, answered: to its SLLA.
  const auto asked = *parse(build(net::ndp_solicit(their, peer, us)));
  const auto na = net::ndp_advert(our, us, asked);
  Bytes f = build(na);
  EXPECT_EQ(f.size(), net::kNdpMaxFrameLen);
  p = parse(f);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->type, net::kNdpNeighborAdvert);
  EXPECT_EQ(p->src, us);
  EXPECT_EQ(p->dst, peer);
  EXPECT_EQ(p->eth_dst, their);
  EXPECT_EQ(p->eth_src, our);
  EXPECT_EQ(p->target, us);
  EXPECT_EQ(p->lladdr, our);
  EXPECT_TRUE(p->solicited && p->override_flag && !p->router);

  // An NS without SLLA is answered at its Ethernet source.
  net::Ndp bare = asked;
  bare.lladdr.reset();
  bare.eth_src = mac("02:00:00:00:00:99");
  p = parse(build(net::ndp_advert(our, us, *parse(build(bare)))));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->eth_dst, mac("02:00:00:00:00:99"));

  // Duplicate address detection for our address: answered to all-nodes, S clear.
  const auto dad = *parse(build(net::ndp_solicit(their, ip6("::"), us)));
  p = parse(build(net::ndp_advert(our, us, dad)));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->dst, net::all_nodes());
  EXPECT_EQ(p->eth_dst, mac("33:33:00:00:00:01"));
  EXPECT_FALSE(p->solicited);
  EXPECT_TRUE(p->override_flag);

  p = parse(build(net::ndp_announce(our, us)));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->src, us);
  EXPECT_EQ(p->target, us);
  EXPECT_EQ(p->dst, net::all_nodes());
  EXPECT_EQ(p->eth_dst, mac("33:33:00:00:00:01"));
  EXPECT_EQ(p->lladdr, our);
  EXPECT_FALSE(p->solicited);
  EXPECT_TRUE(p->override_flag);

  // Every flag, no option: the shortest frame, still over Ethernet's minimum.
  net::Ndp all = na;
  all.router = true;
  all.lladdr.reset();
  f = build(all);
  EXPECT_EQ(f.size(), 78u);
  p = parse(f);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->router && p->solicited && p->override_flag);
  EXPECT_FALSE(p->lladdr);
}

TEST(NdpParse, Options) {
  // An unknown option (a nonce, RFC 3971) before the SLLA is skipped.
  Bytes f = kDad;
  set_src(f, "2001:2::1");
  append(f, {14, 1, 1, 2, 3, 4, 5, 6});
  append(f, {net::kNdpOptSrcLladdr, 1, 0x02, 0, 0, 0, 0, 0x33});
  auto p = parse(f);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->lladdr, mac("02:00:00:00:00:33"));

  // The first SLLA is the one taken.
  f = kNs;
  append(f, {net::kNdpOptSrcLladdr, 1, 0x02, 0, 0, 0, 0, 0x44});
  p = parse(f);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->lladdr, kA);

  // A TLLA in an NS (the wrong kind) is not its lladdr.
  f = kNs;
  f[kMsg + 24] = net::kNdpOptTgtLladdr;
  fix_checksum(f);
  p = parse(f);
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->lladdr);

  // An SLLA of 16 bytes is no Ethernet address: valid message, no lladdr.
  f = kDad;
  set_src(f, "2001:2::1");
  append(f, {net::kNdpOptSrcLladdr, 2, 0x02, 0, 0, 0, 0, 0x55, 0, 0, 0, 0, 0, 0, 0, 0});
  p = parse(f);
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->lladdr);

  // Nor is a group or zero MAC.
  for (const char* m : {"01:00:5e:00:00:01", "00:00:00:00:00:00"}) {
    f = kNa;
    const auto bad = mac(m);
    std::copy(bad.bytes.begin(), bad.bytes.end(), f.begin() + kMsg + 26);
    fix_checksum(f);
    p = parse(f);
    ASSERT_TRUE(p) << m;
    EXPECT_FALSE(p->lladdr) << m;
  }
}

TEST(NdpParse, TruncatedAtEveryLength) {
  for (const Bytes* f : {&kNs, &kNa, &kAnnounce, &kDad}) {
    ASSERT_TRUE(parse(*f));
    for (size_t n = 0; n < f->size(); ++n) EXPECT_FALSE(parse(*f, n)) << n;
  }
}

TEST(NdpParse, Refusals) {
  Bytes f = kNs;
  f[kIp + 7] = 254;  // not in the pseudo-header: the checksum stays right
  EXPECT_FALSE(parse(f)) << "hop limit 254";
  f = kNs;
  f[kMsg + 3] ^= 1;
  EXPECT_FALSE(parse(f)) << "bad checksum";

  expect_refused(kNs, [](Bytes& g) { g[kMsg + 1] = 1; }, "code 1");
  expect_refused(kNa, [](Bytes& g) { g[kMsg + 1] = 1; }, "NA code 1");
  expect_refused(kNs, [](Bytes& g) { g[kMsg + 25] = 0; }, "option length 0");
  expect_refused(kNs, [](Bytes& g) { g[kMsg + 25] = 2; }, "option past the end");
  expect_refused(kNa, [](Bytes& g) { g[kMsg + 25] = 0xff; }, "NA option past the end");
  expect_refused(kNs, [](Bytes& g) { set_target(g, "ff02::1"); }, "multicast target");
  expect_refused(kNa, [](Bytes& g) { set_target(g, "ff02::1:ff00:2"); }, "NA multicast target");
  expect_refused(kNs, [](Bytes& g) { set_src(g, "::"); }, "NS from :: with SLLA");
  expect_refused(kDad, [](Bytes& g) { set_dst(g, "2001:2::2"); }, "NS from :: to unicast");
  expect_refused(kDad, [](Bytes& g) { set_dst(g, "ff02::1"); }, "NS from :: to all-nodes");
  expect_refused(kAnnounce, [](Bytes& g) { g[kMsg + 4] |= net::kNdpFlagSolicited; }, "NA to multicast, S set");
  expect_refused(kNs, [](Bytes& g) { set_src(g, "ff02::1"); }, "multicast source");
  expect_refused(kNs, [](Bytes& g) { set_src(g, "::1"); }, "loopback source");
  expect_refused(kNs, [](Bytes& g) { g[kIp] = 0x40; }, "IP version 4");
  expect_refused(kNs, [](Bytes& g) { g[12] = 0x08; g[13] = 0x00; }, "EtherType IPv4");
  expect_refused(kNs, [](Bytes& g) { g[kIp + 6] = 17; }, "not ICMPv6");
  for (uint8_t type : {net::kIcmp6EchoRequest, net::kIcmp6EchoReply, net::kNdpRouterSolicit,
                       net::kNdpRouterAdvert, net::kNdpRedirect, net::kIcmp6DestUnreach})
    expect_refused(kNs, [&](Bytes& g) { g[kMsg] = type; }, "other ICMPv6 type");

  // The payload length: beyond the frame, and short of a whole NS.
  f = kNs;
  set_payload_len(f, static_cast<uint16_t>(payload_len(f) + 8));
  EXPECT_FALSE(parse(f)) << "payload length beyond the frame";
  f = kDad;
  f.resize(f.size() + 8);  // Ethernet padding: the frame is long enough, the message is not
  set_payload_len(f, 20);
  fix_checksum(f);
  EXPECT_FALSE(parse(f)) << "ICMPv6 length 20";

  // Trailing bytes too few for an option header.
  f = kDad;
  set_src(f, "2001:2::1");
  append(f, {net::kNdpOptSrcLladdr});
  EXPECT_FALSE(parse(f)) << "one trailing byte";

  // A hop-by-hop header (PadN) before ICMPv6: the message and its checksum are intact.
  f = kNs;
  f.insert(f.begin() + kMsg, {net::kProtoIcmp6, 0, 1, 4, 0, 0, 0, 0});
  f[kIp + 6] = 0;
  set_payload_len(f, static_cast<uint16_t>(payload_len(f) + 8));
  EXPECT_FALSE(parse(f)) << "extension header";
}
