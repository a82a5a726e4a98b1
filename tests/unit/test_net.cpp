// lib/net: address text, frame parsing and every malformation it must refuse.
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <cstring>
#include <random>

#include "packets.hpp"
#include "net/addr.hpp"
#include "net/parse.hpp"

using namespace drfwd;
using namespace drfwd::test;
using net::Drop;
using net::FrameKind;

TEST(Addr, Ipv4ParseAndFormat) {
  EXPECT_EQ(net::parse_ipv4("198.18.0.1")->value, 0xc6120001u);
  EXPECT_EQ(net::to_string(*net::parse_ipv4("255.255.255.255")), "255.255.255.255");
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1..2.3", "01.2.3.4", "1.2.3.4 ", "a.b.c.d",
                          "1.2.3.-4", "1.2.3.4/24"})
    EXPECT_FALSE(net::parse_ipv4(bad)) << bad;
}

TEST(Addr, MacParseAndFormat) {
  EXPECT_EQ(net::to_string(*net::parse_mac("02:AB:cd:00:00:01")), "02:ab:cd:00:00:01");
  EXPECT_TRUE(net::parse_mac("02-ab-cd-00-00-01"));
  for (const char* bad : {"", "02:ab:cd:00:00", "02:ab:cd:00:00:0g", "02:ab-cd:00:00:01", "02ab.cd00.0001"})
    EXPECT_FALSE(net::parse_mac(bad)) << bad;
  EXPECT_TRUE(net::parse_mac("ff:ff:ff:ff:ff:ff")->is_multicast());
  EXPECT_TRUE(net::parse_mac("00:00:00:00:00:00")->is_zero());
}

TEST(Addr, PrefixAndNetmask) {
  auto p = *net::parse_prefix("198.18.0.2/24");
  EXPECT_TRUE(p.contains(ip("198.18.0.200")));
  EXPECT_FALSE(p.contains(ip("198.18.1.2")));
  EXPECT_FALSE(net::parse_prefix("198.18.0.2"));
  EXPECT_FALSE(net::parse_prefix("198.18.0.2/33"));
  EXPECT_EQ(*net::parse_netmask("255.255.255.0"), 24);
  EXPECT_EQ(*net::parse_netmask("16"), 16);
  EXPECT_FALSE(net::parse_netmask("255.0.255.0"));
  EXPECT_EQ((net::Prefix{ip("1.2.3.4"), 0}.mask()), 0u);
}

TEST(Addr, Ipv6ParseAndCanonicalText) {
  // RFC 5952's rules, each with an example from the RFC or RFC 4291.
  const std::pair<const char*, const char*> cases[] = {
      {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},       // the first of two equal runs
      {"2001:0db8:0000:0000:0000:0000:0002:0001", "2001:db8::2:1"},  // leading zeros dropped
      {"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},    // one zero group is not compressed
      {"2001:db8:0:0:1:0:0:0", "2001:db8:0:0:1::"},        // the longest run
      {"2001:DB8::AbCd", "2001:db8::abcd"},                // lower case
      {"::", "::"},
      {"::1", "::1"},
      {"1::", "1::"},
      {"fe80::1", "fe80::1"},
      {"::ffff:198.18.0.1", "::ffff:198.18.0.1"},          // IPv4-mapped: dotted tail
      {"::ffff:c612:1", "::ffff:198.18.0.1"},
      {"64:ff9b::198.18.0.1", "64:ff9b::c612:1"},          // a dotted tail elsewhere is hex
      {"1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"},
      {"1:2:3:4:5:6::8", "1:2:3:4:5:6:0:8"},               // "::" for one group is read, not written
  };
  for (const auto& [in, canonical] : cases) {
    const auto a = net::parse_ipv6(in);
    ASSERT_TRUE(a) << in;
    EXPECT_EQ(net::to_string(*a), canonical) << in;
    EXPECT_EQ(net::parse_ipv6(canonical), a) << canonical;
  }
  EXPECT_TRUE(net::parse_ipv6("ff02::1")->is_multicast());
  EXPECT_TRUE(net::parse_ipv6("fe80::1")->is_link_local());
  EXPECT_TRUE(net::parse_ipv6("::1")->is_loopback());
  EXPECT_TRUE(net::parse_ipv6("::")->is_unspecified());
  EXPECT_EQ(net::parse_ipv6("2001:db8::1")->group(0), 0x2001);
  for (const char* bad : {"", ":", ":::", "1:::2", "1::2::3", ":1::2", "1::2:", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9",
                          "1::2:3:4:5:6:7:8", "12345::1", "g::1", "::1.2.3", "::1.2.3.4.5", "1.2.3.4::", "::01.2.3.4",
                          "1:2:3:4:5:6:7:1.2.3.4", "fe80::1%eth0", "[::1]", " ::1", "::1 "})
    EXPECT_FALSE(net::parse_ipv6(bad)) << bad;
}

// Against the C library on random addresses rich in zero groups: the same bytes from
// either parser, and the same canonical text (glibc's inet_ntop follows RFC 5952, but
// also writes the deprecated IPv4-compatible ::a.b.c.d, which RFC 4291 retired: drfwd
// writes those in hex, and both read either).
TEST(Addr, Ipv6AgreesWithTheCLibrary) {
  std::mt19937 rng(7);
  for (int n = 0; n < 20000; ++n) {
    uint8_t b[16];
    for (int g = 0; g < 8; ++g) {
      const uint32_t r = rng();
      const uint16_t v = (r & 3) == 0 ? static_cast<uint16_t>(r >> 16) : (r & 3) == 1 ? static_cast<uint16_t>(r >> 28) : 0;
      b[2 * g] = static_cast<uint8_t>(v >> 8);
      b[2 * g + 1] = static_cast<uint8_t>(v);
    }
    char text[INET6_ADDRSTRLEN];
    ASSERT_NE(inet_ntop(AF_INET6, b, text, sizeof text), nullptr);
    net::Ipv6 mine;
    std::memcpy(mine.bytes.data(), b, 16);
    if (std::strchr(text, '.') == nullptr || mine.is_v4_mapped()) {
      EXPECT_EQ(net::to_string(mine), text);
    }
    const auto back = net::parse_ipv6(text);
    ASSERT_TRUE(back) << text;
    EXPECT_EQ(*back, mine) << text;
    EXPECT_EQ(net::parse_ipv6(net::to_string(mine)), mine) << net::to_string(mine);
  }
}

TEST(Parse, TcpSyn) {
  auto f = build({});
  auto p = parse(f);
  ASSERT_EQ(p.kind, FrameKind::kIpv4L4);
  EXPECT_EQ(p.key.src, ip("198.18.2.1").be());
  EXPECT_EQ(p.key.dst, ip("198.18.1.10").be());
  EXPECT_EQ(net::ntoh16(p.key.sport), 40000);
  EXPECT_EQ(net::ntoh16(p.key.dport), 80);
  EXPECT_EQ(p.key.proto, net::kProtoTcp);
  EXPECT_EQ(p.tcp_flags, net::kTcpSyn);
  EXPECT_FALSE(p.fragment);
}

// The data offset is byte 12's high nibble alone: the low nibble (reserved bits and
// AccECN's AE flag) is not part of it, a segment without payload has offset = length.
TEST(Parse, TcpDataOffsetIsTheHighNibble) {
  uint8_t tcp[60] = {};
  tcp[12] = 0x5f;
  EXPECT_TRUE(net::tcp_offset_ok(tcp, 20));
  EXPECT_FALSE(net::tcp_offset_ok(tcp, 19));
  tcp[12] = 0xff;
  EXPECT_TRUE(net::tcp_offset_ok(tcp, 60));
  EXPECT_FALSE(net::tcp_offset_ok(tcp, 59));
  tcp[12] = 0x4f;
  EXPECT_FALSE(net::tcp_offset_ok(tcp, 60));
  FrameSpec s;  // a SYN without options or payload: offset 20, the segment's length
  s.payload = 0;
  auto f = build(s);
  f[14 + 20 + 12] |= 0x0f;
  EXPECT_EQ(parse(f).kind, FrameKind::kIpv4L4) << net::drop_name(parse(f).drop);
}

TEST(Parse, UdpAndOptionsAndPadding) {
  FrameSpec s;
  s.proto = net::kProtoUdp;
  s.dport = 53;
  s.ip_options = {1, 1, 1, 0};  // NOP NOP NOP EOL
  auto f = build(s);
  f.resize(f.size() + 20, 0);  // Ethernet padding after the datagram is fine
  auto p = parse(f);
  ASSERT_EQ(p.kind, FrameKind::kIpv4L4) << net::drop_name(p.drop);
  EXPECT_EQ(net::ntoh16(p.key.dport), 53);
}

TEST(Parse, ArpVlanOther) {
  FrameSpec s;
  s.ethertype = net::kEtherArp;
  EXPECT_EQ(parse(build(s)).kind, FrameKind::kArp);
  s.ethertype = net::kEtherVlan;
  EXPECT_EQ(parse(build(s)).drop, Drop::kVlanDouble);
  s.ethertype = 0x88a8;
  EXPECT_EQ(parse(build(s)).drop, Drop::kVlanDouble);
  // Too short to hold a tag and an EtherType: a runt, whatever the tag.
  for (uint32_t len = net::kEtherHdrLen; len < net::kEtherHdrLen + net::kVlanTagLen; ++len)
    EXPECT_EQ(net::parse_frame(build(s).data(), len, len).drop, Drop::kRunt) << len;
  s.ethertype = 0x86dd;  // an IPv4 packet under the IPv6 EtherType
  EXPECT_EQ(parse(build(s)).drop, Drop::kIpBadVersion);
  s.ethertype = 0x88cc;  // LLDP
  EXPECT_EQ(parse(build(s)).drop, Drop::kNotIpv4);
  FrameSpec icmp;
  icmp.proto = net::kProtoIcmp;
  EXPECT_EQ(parse(build(icmp)).kind, FrameKind::kIpv4Other);
}

// An ICMP error about a datagram the VIP sent (a real server's reply, in DR) is keyed as
// the client's connection; anything else ICMP stays "other".
TEST(Parse, IcmpErrorsAboutAVipsDatagrams) {
  FrameSpec reply;  // RS -> client, from the VIP
  reply.saddr = ip("198.18.1.10");
  reply.daddr = ip("198.18.2.1");
  reply.sport = 80;
  reply.dport = 40000;
  reply.payload = 1000;
  const net::Ipv4 router = ip("198.18.9.1"), vip = ip("198.18.1.10");
  auto p = parse(icmp_error(reply, router, vip));
  ASSERT_EQ(p.kind, FrameKind::kIcmpError) << net::drop_name(p.drop);
  EXPECT_EQ(p.key.src, ip("198.18.2.1").be());
  EXPECT_EQ(p.key.dst, vip.be());
  EXPECT_EQ(net::ntoh16(p.key.sport), 40000);
  EXPECT_EQ(net::ntoh16(p.key.dport), 80);
  EXPECT_EQ(p.key.proto, net::kProtoTcp);
  EXPECT_EQ(p.key.kind, net::FlowKind::kConnection);
  reply.proto = net::kProtoUdp;
  EXPECT_EQ(parse(icmp_error(reply, router, vip, 11, 0)).kind, FrameKind::kIcmpError) << "time exceeded, UDP";
  reply.proto = net::kProtoTcp;
  // Not an error type; not about a datagram from the destination; a quoted later
  // fragment (no ports); quoting ICMP: all "other".
  EXPECT_EQ(parse(icmp_error(reply, router, vip, 0, 0)).kind, FrameKind::kIpv4Other);
  EXPECT_EQ(parse(icmp_error(reply, router, ip("198.18.1.11"))).kind, FrameKind::kIpv4Other);
  FrameSpec later = reply;
  later.frag = 0x0010;
  EXPECT_EQ(parse(icmp_error(later, router, vip)).kind, FrameKind::kIpv4Other);
  FrameSpec echo = reply;
  echo.proto = net::kProtoIcmp;
  EXPECT_EQ(parse(icmp_error(echo, router, vip)).kind, FrameKind::kIpv4Other);
  // Cut short of the quoted ports, in the IP length: "other"; a wrong ICMP checksum on
  // an error that would be followed: dropped.
  auto cut = icmp_error(reply, router, vip);
  net::store16(&cut[16], net::hton16(20 + 8 + 20 + 2));
  fix_ip_checksum(cut);
  EXPECT_EQ(parse(cut).kind, FrameKind::kIpv4Other);
  auto bad = icmp_error(reply, router, vip);
  bad[14 + 20 + 6] ^= 1;  // the next-hop MTU, under the checksum
  p = parse(bad);
  EXPECT_EQ(p.kind, FrameKind::kDrop);
  EXPECT_EQ(p.drop, Drop::kIcmpBadChecksum);
  EXPECT_TRUE(net::is_malformed(p.drop));
}

TEST(Parse, Fragments) {
  FrameSpec first;
  first.frag = 0x2000;  // MF, offset 0: has ports
  auto p = parse(build(first));
  EXPECT_EQ(p.kind, FrameKind::kIpv4L4);
  EXPECT_TRUE(p.fragment);
  FrameSpec later;
  later.frag = 0x0003;  // offset 24 bytes, last
  p = parse(build(later));
  EXPECT_EQ(p.kind, FrameKind::kIpv4Frag);
  EXPECT_TRUE(p.fragment);
  EXPECT_EQ(p.key.sport, 0);
  // A first fragment too short for its TCP header is refused (tiny-fragment attack).
  FrameSpec tiny;
  tiny.frag = 0x2000;
  auto f = build(tiny);
  f.resize(14 + 20 + 8);
  f[16] = 0;
  f[17] = 28;
  fix_ip_checksum(f);
  EXPECT_EQ(parse(f).drop, Drop::kL4Truncated);
  // A UDP first fragment carries the whole datagram's length: not checked against the fragment.
  FrameSpec ufirst;
  ufirst.proto = net::kProtoUdp;
  ufirst.frag = 0x2000;
  auto uf = build(ufirst);
  uf[14 + 20 + 4] = 0x10;  // UDP length 4096 > this fragment
  EXPECT_EQ(parse(uf).kind, FrameKind::kIpv4L4);
}

// Each malformation, and the reason it is counted under.
struct Broken {
  const char* what;
  Drop expect;
  void (*mutate)(std::vector<uint8_t>&);
};

class Malformed : public ::testing::TestWithParam<Broken> {};

TEST_P(Malformed, IsDroppedWithItsReason) {
  auto f = build({});
  GetParam().mutate(f);
  auto p = parse(f);
  EXPECT_EQ(p.kind, FrameKind::kDrop) << GetParam().what;
  EXPECT_EQ(p.drop, GetParam().expect) << GetParam().what << ": got " << net::drop_name(p.drop);
}

INSTANTIATE_TEST_SUITE_P(
    Parse, Malformed,
    ::testing::Values(
        Broken{"empty", Drop::kRunt, [](auto& f) { f.clear(); }},
        Broken{"13 bytes", Drop::kRunt, [](auto& f) { f.resize(13); }},
        Broken{"ends after Ethernet", Drop::kIpTruncated, [](auto& f) { f.resize(14); }},
        Broken{"ends inside IPv4", Drop::kIpTruncated, [](auto& f) { f.resize(14 + 19); }},
        Broken{"version 6 in an IPv4 frame", Drop::kIpBadVersion, [](auto& f) { f[14] = 0x65; fix_ip_checksum(f); }},
        Broken{"IHL 4", Drop::kIpBadIhl, [](auto& f) { f[14] = 0x44; }},
        Broken{"IHL 0", Drop::kIpBadIhl, [](auto& f) { f[14] = 0x40; }},
        Broken{"IHL beyond the frame", Drop::kIpBadIhl, [](auto& f) { f[14] = 0x4f; f.resize(14 + 40); }},
        Broken{"total length beyond the frame", Drop::kIpBadLength,
               [](auto& f) { f[16] = 0x05; f[17] = 0xdc; fix_ip_checksum(f); }},
        Broken{"total length below the header", Drop::kIpBadLength,
               [](auto& f) { f[16] = 0; f[17] = 19; fix_ip_checksum(f); }},
        Broken{"bad header checksum", Drop::kIpBadChecksum, [](auto& f) { f[24] ^= 0x55; }},
        Broken{"source 0.0.0.0", Drop::kIpBadSrc,
               [](auto& f) { f[26] = f[27] = f[28] = f[29] = 0; fix_ip_checksum(f); }},
        Broken{"source loopback", Drop::kIpBadSrc, [](auto& f) { f[26] = 127; fix_ip_checksum(f); }},
        Broken{"source multicast", Drop::kIpBadSrc, [](auto& f) { f[26] = 224; fix_ip_checksum(f); }},
        Broken{"source broadcast", Drop::kIpBadSrc,
               [](auto& f) { f[26] = f[27] = f[28] = f[29] = 255; fix_ip_checksum(f); }},
        Broken{"TCP header cut (datagram)", Drop::kL4Truncated,
               [](auto& f) { f.resize(14 + 20 + 10); f[16] = 0; f[17] = 30; fix_ip_checksum(f); }},
        Broken{"TCP data offset 4", Drop::kTcpBadDoff, [](auto& f) { f[14 + 20 + 12] = 4 << 4; }},
        Broken{"TCP data offset beyond segment", Drop::kTcpBadDoff, [](auto& f) { f[14 + 20 + 12] = 15 << 4; }},
        Broken{"UDP header cut", Drop::kL4Truncated,
               [](auto& f) {
                 f[14 + 9] = net::kProtoUdp;
                 f.resize(14 + 20 + 6);
                 f[16] = 0;
                 f[17] = 26;
                 fix_ip_checksum(f);
               }},
        Broken{"UDP length 7", Drop::kUdpBadLength,
               [](auto& f) { f[14 + 9] = net::kProtoUdp; fix_ip_checksum(f); f[14 + 24] = 0; f[14 + 25] = 7; }},
        Broken{"UDP length beyond the datagram", Drop::kUdpBadLength,
               [](auto& f) { f[14 + 9] = net::kProtoUdp; fix_ip_checksum(f); f[14 + 24] = 0x10; f[14 + 25] = 0; }}));

TEST(Parse, HardwareChecksumVerdictIsUsed) {
  auto f = build({});
  f[24] ^= 1;  // wrong, but the NIC says good: trusted
  EXPECT_EQ(net::parse_frame(f.data(), f.size(), f.size(), net::IpCsum::kGood).kind, FrameKind::kIpv4L4);
  auto g = build({});
  EXPECT_EQ(net::parse_frame(g.data(), g.size(), g.size(), net::IpCsum::kBad).drop, Drop::kIpBadChecksum);
}

TEST(Parse, HeadersMustBeInTheFirstSegment) {
  auto f = build({});
  // pkt_len says the whole frame is there, but only 30 bytes are readable here.
  EXPECT_EQ(net::parse_frame(f.data(), 30, f.size()).drop, Drop::kIpTruncated);
  EXPECT_EQ(net::parse_frame(f.data(), 14 + 20 + 10, f.size()).drop, Drop::kL4Truncated);
}

TEST(Parse, NeverReadsPastTheBuffer) {
  // Every prefix of a valid frame parses without reading beyond it (ASan checks this).
  auto full = build({});
  for (size_t n = 0; n <= full.size(); ++n) {
    std::vector<uint8_t> f(full.begin(), full.begin() + n);
    f.shrink_to_fit();
    auto p = net::parse_frame(f.data(), static_cast<uint32_t>(n), static_cast<uint32_t>(n));
    if (n < full.size()) {
      EXPECT_EQ(p.kind, FrameKind::kDrop) << n;
    }
  }
}

// The 20-byte header's fast checksum test agrees with RFC 1071's sum word by word, on
// random headers, on headers whose checksum is right, and on the carry edge cases
// (all ones, words that overflow 64 and 32 bits, a zero header).
TEST(Checksum, FastTwentyByteSumAgreesWithTheReference) {
  std::mt19937_64 rng(15);
  auto check = [](const uint8_t* ip) {
    const bool want = net::ones_sum(ip, 20) == 0xffff;
    ASSERT_EQ(net::ipv4_header20_sum_ok(net::load64(ip), net::load64(ip + 8), net::load32(ip + 16)), want);
    ASSERT_EQ(net::ipv4_header_checksum_ok(ip, 20, 0x45), want);
  };
  uint8_t ip[20];
  for (int round = 0; round < 200000; ++round) {
    for (auto& b : ip) b = static_cast<uint8_t>(rng());
    const int shape = round % 4;
    if (shape == 1) std::memset(ip, 0xff, 20 - (rng() % 20));  // long runs of ones: every carry
    if (shape == 2) std::memset(ip + rng() % 17, 0, 1 + rng() % 4);  // up to 4 zero bytes, within the 20
    if (shape >= 2) {  // a correct checksum in place
      ip[10] = ip[11] = 0;
      const uint16_t c = net::checksum_finish(ip, 20);
      std::memcpy(ip + 10, &c, 2);
      ASSERT_TRUE(net::ipv4_header20_sum_ok(net::load64(ip), net::load64(ip + 8), net::load32(ip + 16)));
    }
    check(ip);
  }
  std::memset(ip, 0, 20);
  check(ip);
  std::memset(ip, 0xff, 20);
  check(ip);
  EXPECT_TRUE(net::ipv4_header20_sum_ok(~0ull, ~0ull, ~0u));   // -0 + -0 + -0
  EXPECT_FALSE(net::ipv4_header20_sum_ok(0, 0, 0));
  EXPECT_TRUE(net::ipv4_header20_sum_ok(0xffff000000000000ull, 0, 0x0000ffffu));
}
