// The IPVS connection synchronisation protocol, version 1 (Linux's ip_vs_sync.c:
// struct ip_vs_sync_mesg followed by struct ip_vs_sync_v4 entries), as sent to UDP port
// 8848 (multicast group 224.0.0.81 by default). Encoding and decoding only: no sockets,
// no allocation on either path, no exceptions. Every input is untrusted.
//
// Message header (8 bytes):  reserved=0 | syncid | size (be16, whole message) |
//                            nr_conns | version=1 | spare (2 bytes, 0)
// IPv4 entry (36 bytes, then options):
//   type (0: IPv4) | protocol | ver_size (be16: version << 12 | size incl. options) |
//   flags (be32) | state (be16) | cport | vport | dport (be16 each) | fwmark (be32) |
//   timeout (be32, seconds) | caddr | vaddr | daddr (be32 each)
// An IPv6 entry (type bit 0 set) is the same with 16-byte addresses: 72 bytes. The next
// entry starts at this one's size rounded up to 4; the padding is in the message's size,
// not the entry's, and the last entry is not padded.
// Options: type (bit 6: may be ignored) | length (1..255) | data. 1: sequence numbers
// (24 bytes), 2: persistence-engine data, 3: persistence-engine name (at most 16 bytes);
// each at most once per entry.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace drfwd::sync {

constexpr uint16_t kDefaultPort = 8848;
constexpr uint32_t kDefaultGroup = 0xe0000051;  // 224.0.0.81, host order
constexpr uint8_t kProtoVersion = 1;             // SYNC_PROTO_VER
constexpr size_t kHeaderLen = 8;
constexpr size_t kEntryV4Len = 36;
constexpr size_t kMaxConnsPerMessage = 255;     // nr_conns is 8 bits
constexpr size_t kDefaultMaxLen = 1472;          // UDP payload for an MTU of 1500 (the kernel's default)
constexpr size_t kMinMaxLen = kHeaderLen + kEntryV4Len;
constexpr size_t kMaxMaxLen = 65507;             // the largest UDP payload over IPv4

// IPVS connection flags that matter here (include/uapi/linux/ip_vs.h).
constexpr uint32_t kFlagFwdMask = 0x0007;
constexpr uint32_t kFlagDroute = 0x0003;
constexpr uint32_t kFlagNoOutput = 0x0080;
constexpr uint32_t kFlagInactive = 0x0100;
constexpr uint32_t kFlagTemplate = 0x1000;
constexpr uint32_t kFlagOnePacket = 0x2000;

// One connection as carried in an IPv4 entry. Addresses and ports in network byte order
// (as in net::FlowKey); every other field in host order.
struct Conn {
  uint8_t protocol = 0;   // IPPROTO_TCP, IPPROTO_UDP, ...
  uint32_t flags = 0;     // kFlag*
  uint16_t state = 0;     // IPVS state number (TCP: NONE 0 .. SYNACK 10; UDP: 0)
  uint16_t cport_be = 0, vport_be = 0, dport_be = 0;
  uint32_t fwmark = 0;
  uint32_t timeout = 0;   // seconds
  uint32_t caddr_be = 0, vaddr_be = 0, daddr_be = 0;
  bool operator==(const Conn&) const = default;
};

// Why a datagram is not a message this side can read, as the kernel's receiver
// (ip_vs_process_message) decides. Bytes after nr_conns entries are not an error: the
// kernel ignores them.
enum class DecodeError : uint8_t {
  kNone,
  kShort,         // shorter than the header
  kVersion,       // reserved != 0 or spare != 0 (a version 0 message) or version != 1
  kSize,          // the header's size is not the datagram's length
  kTruncated,     // under 36 bytes left for an entry, its size runs past the end or is below
                  // its fixed part (36, IPv6 72), or an option runs past its entry
  kEntryVersion,  // an entry's version bits are not 0, or its type is unknown (not 0, bit 0 clear)
  kOption,        // an option of length 0, sequence data not 24 bytes, a persistence-engine
                  // name over 16 bytes, or an option given twice
};
std::string_view decode_error_name(DecodeError e);  // "short", "version", ...

// Walks a datagram. Entries of another family (IPv6, type bit 0) are skipped and counted;
// so are the entries a kernel without persistence engines drops too: those carrying
// persistence-engine data, or an option it must understand but does not know. Sequence
// numbers and ignorable options are skipped. `out` receives at most out.size() IPv4
// entries (255 always suffice); the entries past that are still checked, not counted.
// The walk stops at the first error: like the kernel, which has applied the entries
// before it and drops the rest, conns says how many of them out holds. Flags, protocol
// and state come as sent: the kernel masks the flags (IP_VS_CONN_F_BACKUP_MASK) and drops
// entries of a protocol it lacks or a state past that protocol's last, checks that are
// the receiver's, against its own tables.
struct Decoded {
  DecodeError error = DecodeError::kNone;
  uint8_t syncid = 0;    // once the header is there (8 bytes)
  size_t conns = 0;      // IPv4 entries written to out
  size_t skipped_v6 = 0; // entries of another family
  size_t skipped_unsupported = 0;  // IPv4 entries with persistence-engine data or an unknown mandatory option
};
Decoded decode(std::span<const uint8_t> datagram, std::span<Conn> out);

// Builds messages into a buffer of its own (no allocation after construction).
class Encoder {
 public:
  // max_len: the largest message (UDP payload), kMinMaxLen..kMaxMaxLen (clamped).
  Encoder(uint8_t syncid, size_t max_len);
  // Appends one entry; false when the message is full (by size or by 255 entries): send
  // what message() holds, clear(), add again.
  bool add(const Conn& c);
  size_t count() const;
  bool empty() const { return count() == 0; }
  // The message so far with its header filled in; valid until the next add() or clear().
  std::span<const uint8_t> message();
  void clear();
  size_t max_len() const;

 private:
  uint8_t buf_[kMaxMaxLen];
  size_t len_;
  size_t max_len_;
  size_t count_ = 0;
  uint8_t syncid_;
};

}  // namespace drfwd::sync
