// lib/sync: the IPVS sync protocol v1 on the wire. The fixtures are written out byte by
// byte from the kernel's structs (net/netfilter/ipvs/ip_vs_sync.c: ip_vs_sync_mesg,
// ip_vs_sync_v4, ip_vs_sync_v6, the options), not produced by the code under test; each
// refusal is the smallest datagram that the kernel's receiver refuses for that reason.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "net/bytes.hpp"
#include "sync/wire.hpp"

using namespace drfwd;
using namespace drfwd::sync;
using Bytes = std::vector<uint8_t>;

namespace {

constexpr uint8_t kTcp = 6, kUdp = 17;

uint32_t be_ip(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  const uint8_t raw[4] = {a, b, c, d};
  return net::load32(raw);
}

Conn conn(uint8_t proto, uint32_t flags, uint16_t state, uint16_t cport, uint16_t vport, uint32_t fwmark,
          uint32_t timeout, uint32_t caddr) {
  Conn c;
  c.protocol = proto;
  c.flags = flags;
  c.state = state;
  c.cport_be = net::hton16(cport);
  c.vport_be = c.dport_be = net::hton16(vport);
  c.fwmark = fwmark;
  c.timeout = timeout;
  c.caddr_be = caddr;
  c.vaddr_be = be_ip(198, 18, 1, 10);
  c.daddr_be = be_ip(198, 18, 0, 11);
  return c;
}

// 198.18.2.1:40000 -> 198.18.1.10:80, DR to 198.18.0.11, ESTABLISHED (1), 900 s.
const Conn kTcpConn = conn(kTcp, kFlagDroute, 1, 40000, 80, 0, 900, be_ip(198, 18, 2, 1));
// The persistence template for 198.18.2.1 on :80: no client port, 300 s.
const Conn kTemplate = conn(kTcp, kFlagTemplate | kFlagDroute, 0, 0, 80, 0, 300, be_ip(198, 18, 2, 1));
// 198.18.2.7:5353 -> :53 UDP (NORMAL, 0) of the service with firewall mark 42.
const Conn kUdpConn = conn(kUdp, kFlagDroute, 0, 5353, 53, 42, 300, be_ip(198, 18, 2, 7));

// The entry bytes (after type, protocol and ver_size) that every fixture's v4 entries share.
#define VADDR_DADDR 0xc6, 0x12, 0x01, 0x0a, /* vaddr 198.18.1.10 */ 0xc6, 0x12, 0x00, 0x0b /* daddr 198.18.0.11 */

const Bytes kTcpMsg = {
    0x00, 0x07, 0x00, 0x2c,  // reserved 0, syncid 7, size 44
    0x01, 0x01, 0x00, 0x00,  // nr_conns 1, version 1, spare 0
    0x00, 0x06, 0x00, 0x24,  // type 0 (IPv4), protocol TCP, ver_size: version 0, size 36
    0x00, 0x00, 0x00, 0x03,  // flags: IP_VS_CONN_F_DROUTE
    0x00, 0x01, 0x9c, 0x40,  // state ESTABLISHED, cport 40000
    0x00, 0x50, 0x00, 0x50,  // vport 80, dport 80
    0x00, 0x00, 0x00, 0x00,  // fwmark 0
    0x00, 0x00, 0x03, 0x84,  // timeout 900
    0xc6, 0x12, 0x02, 0x01,  // caddr 198.18.2.1
    VADDR_DADDR};

const Bytes kTemplateMsg = {
    0x00, 0x07, 0x00, 0x2c, 0x01, 0x01, 0x00, 0x00,
    0x00, 0x06, 0x00, 0x24,  // type 0, TCP, size 36
    0x00, 0x00, 0x10, 0x03,  // flags: IP_VS_CONN_F_TEMPLATE | IP_VS_CONN_F_DROUTE
    0x00, 0x00, 0x00, 0x00,  // state 0 (IP_VS_CTPL_S_NONE), cport 0
    0x00, 0x50, 0x00, 0x50,  // vport 80, dport 80
    0x00, 0x00, 0x00, 0x00,  // fwmark 0
    0x00, 0x00, 0x01, 0x2c,  // timeout 300
    0xc6, 0x12, 0x02, 0x01, VADDR_DADDR};

const Bytes kUdpMsg = {
    0x00, 0x07, 0x00, 0x2c, 0x01, 0x01, 0x00, 0x00,
    0x00, 0x11, 0x00, 0x24,  // type 0, protocol UDP, size 36
    0x00, 0x00, 0x00, 0x03,  // DROUTE
    0x00, 0x00, 0x14, 0xe9,  // state 0 (IP_VS_UDP_S_NORMAL), cport 5353
    0x00, 0x35, 0x00, 0x35,  // vport 53, dport 53
    0x00, 0x00, 0x00, 0x2a,  // fwmark 42
    0x00, 0x00, 0x01, 0x2c,  // timeout 300
    0xc6, 0x12, 0x02, 0x07, VADDR_DADDR};

// kTcpConn, an IPv6 connection (struct ip_vs_sync_v6: the same 24 bytes, then three
// 16-byte addresses), kUdpConn. Size 8 + 36 + 72 + 36 = 152.
const Bytes kMixedMsg = {
    0x00, 0x07, 0x00, 0x98, 0x03, 0x01, 0x00, 0x00,  // size 152, nr_conns 3
    0x00, 0x06, 0x00, 0x24, 0x00, 0x00, 0x00, 0x03, 0x00, 0x01, 0x9c, 0x40, 0x00, 0x50, 0x00, 0x50,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x84, 0xc6, 0x12, 0x02, 0x01, VADDR_DADDR,
    0x01, 0x06, 0x00, 0x48,  // type 1 (STYPE_F_INET6), TCP, size 72
    0x00, 0x00, 0x00, 0x03, 0x00, 0x01, 0x9c, 0x41, 0x01, 0xbb, 0x01, 0xbb,  // flags, state, ports 40001 443 443
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x84,  // fwmark 0, timeout 900
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,  // caddr 2001:db8::1
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a,  // vaddr 2001:db8::a
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0b,  // daddr 2001:db8::b
    0x00, 0x11, 0x00, 0x24, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x14, 0xe9, 0x00, 0x35, 0x00, 0x35,
    0x00, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x01, 0x2c, 0xc6, 0x12, 0x02, 0x07, VADDR_DADDR};

// A NAT connection that adjusts sequence numbers: the entry carries IPVS_OPT_SEQ_DATA
// (type 1, length 24: in_seq and out_seq, each init_seq, delta, previous_delta), so its
// size is 36 + 2 + 24 = 62. The next entry starts 2 bytes of padding later, at 64.
const Conn kSeqConn = conn(kTcp, 0x0600 /* IN_SEQ | OUT_SEQ, MASQ */, 1, 40002, 80, 0, 900, be_ip(198, 18, 2, 1));
#define SEQ_ENTRY                                                                             \
  0x00, 0x06, 0x00, 0x3e,                         /* type 0, TCP, size 62 */                  \
      0x00, 0x00, 0x06, 0x00,                     /* flags IN_SEQ | OUT_SEQ */                \
      0x00, 0x01, 0x9c, 0x42, 0x00, 0x50, 0x00, 0x50, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x84, \
      0xc6, 0x12, 0x02, 0x01, VADDR_DADDR,                                                    \
      0x01, 0x18,                                 /* IPVS_OPT_SEQ_DATA, 24 bytes */           \
      0x11, 0x11, 0x11, 0x11, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, /* in_seq */    \
      0x22, 0x22, 0x22, 0x22, 0xff, 0xff, 0xff, 0xf0, 0x00, 0x00, 0x00, 0x00  /* out_seq */
const Bytes kSeqMsg = {
    0x00, 0x07, 0x00, 0x6c, 0x02, 0x01, 0x00, 0x00,  // size 8 + 62 + 2 + 36 = 108, nr_conns 2
    SEQ_ENTRY, 0x00, 0x00,                           // the padding
    0x00, 0x06, 0x00, 0x24, 0x00, 0x00, 0x00, 0x03, 0x00, 0x01, 0x9c, 0x40, 0x00, 0x50, 0x00, 0x50,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x84, 0xc6, 0x12, 0x02, 0x01, VADDR_DADDR};
// The same entry last: the kernel does not pad the last entry.
const Bytes kSeqLastMsg = {0x00, 0x07, 0x00, 0x46, 0x01, 0x01, 0x00, 0x00, SEQ_ENTRY};  // size 70

// A version 0 message (struct ip_vs_sync_mesg_v0, ip_vs_sync_conn_v0) of kTcpConn: its
// first byte is nr_conns, which a version 1 message keeps 0 so that v0 receivers drop it.
const Bytes kV0Msg = {
    0x01, 0x07, 0x00, 0x1c,  // nr_conns 1, syncid 7, size 28
    0x00, 0x06, 0x9c, 0x40, 0x00, 0x50, 0x00, 0x50,  // reserved, TCP, cport, vport, dport
    0xc6, 0x12, 0x02, 0x01, VADDR_DADDR,
    0x00, 0x03, 0x00, 0x01};  // flags (be16) DROUTE, state ESTABLISHED

struct Result {
  Decoded d;
  std::vector<Conn> conns;
};

Result dec(const Bytes& b, size_t room = kMaxConnsPerMessage) {
  Result r;
  r.conns.resize(room);
  r.d = decode(b, r.conns);
  r.conns.resize(r.d.conns);
  return r;
}

Bytes encode(uint8_t syncid, std::initializer_list<Conn> conns, size_t max_len = kDefaultMaxLen) {
  auto e = std::make_unique<Encoder>(syncid, max_len);
  for (const Conn& c : conns) EXPECT_TRUE(e->add(c));
  const auto m = e->message();
  return Bytes(m.begin(), m.end());
}

// A message of one IPv4 entry whose size is 36 + opts.size(), the options as given.
Bytes with_options(const Bytes& opts) {
  Bytes m(kTcpMsg);
  m.insert(m.end(), opts.begin(), opts.end());
  net::store16(m.data() + 2, net::hton16(static_cast<uint16_t>(m.size())));
  net::store16(m.data() + 10, net::hton16(static_cast<uint16_t>(kEntryV4Len + opts.size())));
  return m;
}

// The same with kMixedMsg's IPv6 entry: the kernel checks its options too.
Bytes v6_with_options(const Bytes& opts) {
  Bytes m(kMixedMsg.begin(), kMixedMsg.begin() + kHeaderLen);
  m.insert(m.end(), kMixedMsg.begin() + kHeaderLen + 36, kMixedMsg.begin() + kHeaderLen + 36 + 72);
  m.insert(m.end(), opts.begin(), opts.end());
  m[4] = 1;
  net::store16(m.data() + 2, net::hton16(static_cast<uint16_t>(m.size())));
  net::store16(m.data() + 10, net::hton16(static_cast<uint16_t>(72 + opts.size())));
  return m;
}

Bytes seq_opt(uint8_t type = 1, uint8_t len = 24) {
  Bytes o = {type, len};
  o.resize(2 + len, 0x5a);
  return o;
}

Bytes operator+(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

TEST(SyncWire, FixturesMatchTheKernelLayout) {
  static_assert(kHeaderLen == 8 && kEntryV4Len == 36);
  EXPECT_EQ(kTcpMsg.size(), 44u);
  EXPECT_EQ(kMixedMsg.size(), 152u);
  EXPECT_EQ(kSeqMsg.size(), 108u);
  EXPECT_EQ(kSeqLastMsg.size(), 70u);
}

TEST(SyncWire, EncodeEqualsFixtures) {
  EXPECT_EQ(encode(7, {kTcpConn}), kTcpMsg);
  EXPECT_EQ(encode(7, {kTemplate}), kTemplateMsg);
  EXPECT_EQ(encode(7, {kUdpConn}), kUdpMsg);
  EXPECT_EQ(encode(7, {}), (Bytes{0x00, 0x07, 0x00, 0x08, 0x00, 0x01, 0x00, 0x00}));
}

TEST(SyncWire, DecodeFixtures) {
  const std::vector<std::pair<Bytes, Conn>> cases = {
      {kTcpMsg, kTcpConn}, {kTemplateMsg, kTemplate}, {kUdpMsg, kUdpConn}};
  for (const auto& [msg, want] : cases) {
    const Result r = dec(msg);
    EXPECT_EQ(r.d.error, DecodeError::kNone);
    EXPECT_EQ(r.d.syncid, 7);
    EXPECT_EQ(r.d.skipped_v6, 0u);
    ASSERT_EQ(r.conns.size(), 1u);
    EXPECT_EQ(r.conns[0], want);
  }
  // Network order kept for addresses and ports, host order for the rest.
  const Conn c = dec(kTcpMsg).conns.at(0);
  EXPECT_EQ(net::ntoh16(c.cport_be), 40000);
  EXPECT_EQ(net::ntoh32(c.caddr_be), 0xc6120201u);
  EXPECT_EQ(c.timeout, 900u);
  EXPECT_EQ(dec(kUdpMsg).conns.at(0).fwmark, 42u);
  EXPECT_EQ(dec(kTemplateMsg).conns.at(0).flags & kFlagFwdMask, kFlagDroute);
}

TEST(SyncWire, Ipv6EntriesAreSkippedAndCounted) {
  const Result r = dec(kMixedMsg);
  EXPECT_EQ(r.d.error, DecodeError::kNone);
  EXPECT_EQ(r.d.skipped_v6, 1u);
  ASSERT_EQ(r.conns.size(), 2u);
  EXPECT_EQ(r.conns[0], kTcpConn);
  EXPECT_EQ(r.conns[1], kUdpConn);
  for (const Bytes& o : {seq_opt(), Bytes{0x05, 1, 0}, Bytes{0x02, 1, 9}}) {  // whatever it carries
    const Result v6 = dec(v6_with_options(o));
    EXPECT_EQ(v6.d.error, DecodeError::kNone);
    EXPECT_EQ(v6.d.skipped_v6, 1u);
    EXPECT_EQ(v6.d.skipped_unsupported + v6.d.conns, 0u);
  }
}

TEST(SyncWire, SequenceOptionSkippedAndPaddingFollowed) {
  Result r = dec(kSeqMsg);
  EXPECT_EQ(r.d.error, DecodeError::kNone);
  ASSERT_EQ(r.conns.size(), 2u);
  EXPECT_EQ(r.conns[0], kSeqConn);
  EXPECT_EQ(r.conns[1], kTcpConn);
  r = dec(kSeqLastMsg);
  EXPECT_EQ(r.d.error, DecodeError::kNone);
  ASSERT_EQ(r.conns.size(), 1u);
  EXPECT_EQ(r.conns[0], kSeqConn);
}

TEST(SyncWire, OptionsTheKernelAccepts) {
  // An unknown option with IPVS_OPT_F_PARAM (0x40) set may be ignored; so is the flag
  // on a known one (the kernel switches on type & ~0x40).
  for (const Bytes& o : {Bytes{0x45, 3, 1, 2, 3}, seq_opt(0x41), Bytes{0x03, 3, 's', 'i', 'p'},  // PE name alone
                         seq_opt() + Bytes{0x43, 16, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l',
                                           'm', 'n', 'o', 'p'}}) {
    const Result r = dec(with_options(o));
    EXPECT_EQ(r.d.error, DecodeError::kNone);
    ASSERT_EQ(r.conns.size(), 1u);
    EXPECT_EQ(r.conns[0], kTcpConn);
  }
}

TEST(SyncWire, EntriesTheKernelDropsAlone) {
  // Persistence-engine data needs the engine it names; drfwd has none, like a kernel
  // without ip_vs_pe_sip: the entry goes, the message stays.
  // An unknown mandatory option drops its entry; the kernel stops reading its options
  // there, so a malformed option after it does not drop the message.
  for (const Bytes& o : {Bytes{0x02, 4, 1, 2, 3, 4, 0x03, 3, 's', 'i', 'p'}, Bytes{0x02, 1, 9},
                         Bytes{0x05, 1, 0}, Bytes{0x05, 1, 0, 0x01, 0x00}}) {
    Bytes m = with_options(o);
    m.resize((m.size() + 3) & ~size_t{3}, 0);               // the padding before the next entry
    m = m + Bytes(kTcpMsg.begin() + kHeaderLen, kTcpMsg.end());  // a plain entry: kept
    m[4] = 2;
    net::store16(m.data() + 2, net::hton16(static_cast<uint16_t>(m.size())));
    const Result r = dec(m);
    EXPECT_EQ(r.d.error, DecodeError::kNone);
    EXPECT_EQ(r.d.skipped_unsupported, 1u);
    ASSERT_EQ(r.conns.size(), 1u);
    EXPECT_EQ(r.conns[0], kTcpConn);
  }
}

TEST(SyncWire, TrailingBytesAreIgnoredAsTheKernelDoes) {
  Bytes m = kTcpMsg + Bytes{0xde, 0xad, 0xbe, 0xef, 0x01};
  m[3] = static_cast<uint8_t>(m.size());
  const Result r = dec(m);
  EXPECT_EQ(r.d.error, DecodeError::kNone);
  EXPECT_EQ(r.conns.size(), 1u);
}

TEST(SyncWire, EachRefusalWithItsSmallestInput) {
  const Bytes hdr0 = {0x00, 0x07, 0x00, 0x08, 0x00, 0x01, 0x00, 0x00};  // a valid empty message
  EXPECT_EQ(dec(hdr0).d.error, DecodeError::kNone);
  auto with = [](Bytes b, size_t at, uint8_t v) { b.at(at) = v; return b; };
  const std::vector<std::pair<Bytes, DecodeError>> cases = {
      {{}, DecodeError::kShort},
      {Bytes(hdr0.begin(), hdr0.end() - 1), DecodeError::kShort},
      {with(hdr0, 3, 9), DecodeError::kSize},                      // size 9, 8 bytes
      {hdr0 + Bytes{0}, DecodeError::kSize},                       // size 8, 9 bytes
      {with(hdr0, 0, 1), DecodeError::kVersion},                   // reserved: a v0 message's nr_conns
      {kV0Msg, DecodeError::kVersion},
      {with(hdr0, 5, 0), DecodeError::kVersion},
      {with(hdr0, 5, 2), DecodeError::kVersion},
      {with(hdr0, 7, 1), DecodeError::kVersion},                   // spare
      {with(hdr0, 4, 1), DecodeError::kTruncated},                 // nr_conns 1, no entry
      {with(kTcpMsg, 11, 0x28), DecodeError::kTruncated},          // entry size 40 > 36 left
      {with(kTcpMsg, 11, 0x23), DecodeError::kTruncated},          // entry size 35 < 36
      {with(kTcpMsg, 8, 0x01), DecodeError::kTruncated},           // IPv6 entry of 36 < 72
      {with(kTcpMsg, 10, 0x10), DecodeError::kEntryVersion},       // ver_size 0x1024
      {with(kTcpMsg, 10, 0xf0), DecodeError::kEntryVersion},
      {with(kTcpMsg, 8, 0x02), DecodeError::kEntryVersion},        // type 2: neither v4 nor v6
      {with_options({0x01}), DecodeError::kTruncated},             // option header cut
      {with_options({0x45, 2, 0}), DecodeError::kTruncated},       // option data cut
      {with_options({0x45, 0}), DecodeError::kOption},             // length 0
      {with_options(seq_opt(1, 23)), DecodeError::kOption},        // sequence data not 24
      {with_options(seq_opt(0x41, 25)), DecodeError::kOption},
      {with_options(seq_opt() + seq_opt()), DecodeError::kOption},  // twice
      {with_options({0x02, 1, 0, 0x02, 1, 0}), DecodeError::kOption},
      {with_options({0x03, 1, 'a', 0x43, 1, 'b'}), DecodeError::kOption},
      {with_options(Bytes{0x03, 17} + Bytes(17, 'a')), DecodeError::kOption},  // PE name > 16
      {v6_with_options({0x45, 0}), DecodeError::kOption},         // an IPv6 entry's options count too
      {v6_with_options(seq_opt(1, 12)), DecodeError::kOption},
      {v6_with_options({0x45}), DecodeError::kTruncated},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const Result r = dec(cases[i].first);
    EXPECT_EQ(r.d.error, cases[i].second) << "case " << i;
    EXPECT_EQ(r.conns.size(), 0u) << "case " << i;
  }
  EXPECT_EQ(dec(with(hdr0, 5, 0)).d.syncid, 7);  // known once the header is there
}

TEST(SyncWire, EntriesBeforeAnErrorAreKept) {
  // The kernel has applied the first entry when it finds the second cut short.
  Bytes m = kTcpMsg + Bytes(kUdpMsg.begin() + 8, kUdpMsg.end() - 1);
  m[3] = static_cast<uint8_t>(m.size());
  m[4] = 2;
  const Result r = dec(m);
  EXPECT_EQ(r.d.error, DecodeError::kTruncated);
  ASSERT_EQ(r.conns.size(), 1u);
  EXPECT_EQ(r.conns[0], kTcpConn);
  Bytes one_of_two = kTcpMsg;  // nr_conns 2, one entry
  one_of_two[4] = 2;
  EXPECT_EQ(dec(one_of_two).d.error, DecodeError::kTruncated);
  EXPECT_EQ(dec(one_of_two).d.conns, 1u);
}

TEST(SyncWire, PaddingPastTheEndIsNotRead) {
  // A last entry of 39 bytes: the next one would start 1 byte past the end.
  Bytes m = with_options({0x45, 1, 0});
  EXPECT_EQ(dec(m).d.error, DecodeError::kNone);
  m[4] = 2;  // a second entry that is not there
  EXPECT_EQ(dec(m).d.error, DecodeError::kTruncated);
}

TEST(SyncWire, ShortOutStopsWritingButKeepsChecking) {
  Result r = dec(kMixedMsg, 1);
  EXPECT_EQ(r.d.error, DecodeError::kNone);
  EXPECT_EQ(r.d.skipped_v6, 1u);
  ASSERT_EQ(r.conns.size(), 1u);
  EXPECT_EQ(r.conns[0], kTcpConn);
  Bytes bad = kSeqMsg;
  bad[8 + 64 + 3] = 0x20;  // the second entry's size: 32
  r = dec(bad, 1);
  EXPECT_EQ(r.d.error, DecodeError::kTruncated);
  EXPECT_EQ(r.conns.size(), 1u);
  EXPECT_EQ(dec(kTcpMsg, 0).d.conns, 0u);
}

TEST(SyncWire, RoundTrips) {
  uint64_t x = 0x9e3779b97f4a7c15u;
  auto next = [&x] { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x; };
  auto e = std::make_unique<Encoder>(200, kDefaultMaxLen);
  std::vector<Conn> sent, got;
  auto flush = [&] {
    const auto m = e->message();
    std::array<Conn, kMaxConnsPerMessage> out;
    const Decoded d = decode(m, out);
    ASSERT_EQ(d.error, DecodeError::kNone);
    EXPECT_EQ(d.syncid, 200);
    ASSERT_EQ(d.conns, e->count());
    got.insert(got.end(), out.begin(), out.begin() + d.conns);
    e->clear();
  };
  for (int i = 0; i < 1000; ++i) {
    Conn c;
    c.protocol = static_cast<uint8_t>(next());
    c.flags = static_cast<uint32_t>(next());
    c.state = static_cast<uint16_t>(next());
    c.cport_be = static_cast<uint16_t>(next());
    c.vport_be = static_cast<uint16_t>(next());
    c.dport_be = static_cast<uint16_t>(next());
    c.fwmark = static_cast<uint32_t>(next());
    c.timeout = static_cast<uint32_t>(next());
    c.caddr_be = static_cast<uint32_t>(next());
    c.vaddr_be = static_cast<uint32_t>(next());
    c.daddr_be = static_cast<uint32_t>(next());
    sent.push_back(c);
    if (!e->add(c)) {
      flush();
      ASSERT_TRUE(e->add(c));
    }
  }
  flush();
  EXPECT_EQ(got, sent);
}

TEST(SyncWire, MaxLenIsClamped) {
  EXPECT_EQ(std::make_unique<Encoder>(0, 0)->max_len(), kMinMaxLen);
  EXPECT_EQ(std::make_unique<Encoder>(0, kMinMaxLen - 1)->max_len(), kMinMaxLen);
  EXPECT_EQ(std::make_unique<Encoder>(0, kDefaultMaxLen)->max_len(), kDefaultMaxLen);
  EXPECT_EQ(std::make_unique<Encoder>(0, kMaxMaxLen + 1)->max_len(), kMaxMaxLen);
  EXPECT_EQ(std::make_unique<Encoder>(0, SIZE_MAX)->max_len(), kMaxMaxLen);
}

TEST(SyncWire, AddFailsExactlyWhenFull) {
  // By size: (1472 - 8) / 36 = 40 entries; the smallest message holds one; by count: 255.
  const std::vector<std::pair<size_t, size_t>> limits = {{kDefaultMaxLen, 40},   {kMinMaxLen, 1},
                                                         {kMinMaxLen + 35, 1},   {kMinMaxLen + 36, 2},
                                                         {kHeaderLen + 255 * kEntryV4Len, 255}, {kMaxMaxLen, 255}};
  for (const auto& [max_len, fits] : limits) {
    auto e = std::make_unique<Encoder>(1, max_len);
    for (size_t i = 0; i < fits; ++i) ASSERT_TRUE(e->add(kTcpConn)) << max_len << " " << i;
    EXPECT_FALSE(e->add(kTcpConn)) << max_len;
    EXPECT_EQ(e->count(), fits);
    const auto m = e->message();
    EXPECT_EQ(m.size(), kHeaderLen + fits * kEntryV4Len);
    EXPECT_LE(m.size(), e->max_len());
    std::array<Conn, kMaxConnsPerMessage> out;
    const Decoded d = decode(m, out);
    EXPECT_EQ(d.error, DecodeError::kNone);
    EXPECT_EQ(d.conns, fits);
    e->clear();
    EXPECT_TRUE(e->empty());
    EXPECT_EQ(e->message().size(), kHeaderLen);
    EXPECT_TRUE(e->add(kUdpConn));
    EXPECT_EQ(e->count(), 1u);
  }
}

TEST(SyncWire, DecodeErrorNames) {
  const std::vector<std::pair<DecodeError, std::string_view>> names = {
      {DecodeError::kNone, "none"},           {DecodeError::kShort, "short"},
      {DecodeError::kVersion, "version"},     {DecodeError::kSize, "size"},
      {DecodeError::kTruncated, "truncated"}, {DecodeError::kEntryVersion, "entry-version"},
      {DecodeError::kOption, "option"}};
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(static_cast<size_t>(names[i].first), i);  // every value, in order
    EXPECT_EQ(decode_error_name(names[i].first), names[i].second);
  }
  EXPECT_EQ(decode_error_name(static_cast<DecodeError>(names.size())), "unknown");
}
