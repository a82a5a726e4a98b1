#include "sync/wire.hpp"

#include <algorithm>
#include <cstring>

#include "net/bytes.hpp"

namespace drfwd::sync {

namespace {

using net::hton16;
using net::hton32;
using net::load16;
using net::load32;
using net::ntoh16;
using net::ntoh32;
using net::store16;
using net::store32;

// ip_vs_sync.c's names for what the kernel checks.
constexpr unsigned kVerShift = 12;          // SVER_SHIFT
constexpr unsigned kSizeMask = 0x0fff;      // SVER_MASK
constexpr uint8_t kTypeInet6 = 1;           // STYPE_F_INET6
constexpr size_t kEntryV6Len = 72;          // sizeof(struct ip_vs_sync_v6)
constexpr uint8_t kOptSeqData = 1;          // IPVS_OPT_SEQ_DATA
constexpr uint8_t kOptPeData = 2;           // IPVS_OPT_PE_DATA
constexpr uint8_t kOptPeName = 3;           // IPVS_OPT_PE_NAME
constexpr uint8_t kOptIgnorable = 1 << 6;   // IPVS_OPT_F_PARAM
constexpr size_t kSeqDataLen = 24;          // struct ip_vs_sync_conn_options: two ip_vs_seq
constexpr size_t kPeNameMaxLen = 16;        // IP_VS_PENAME_MAXLEN

enum class Entry : uint8_t { kUsable, kUnsupported };

struct Options {
  DecodeError error = DecodeError::kNone;
  Entry entry = Entry::kUsable;
};

// The options of one entry, [p, end), checked as ip_vs_proc_sync_conn does: a malformed
// option drops the whole message, an unknown mandatory one only its entry (and the
// kernel stops reading that entry's options there, so neither does this).
Options walk_options(const uint8_t* p, const uint8_t* end) {
  Options r;
  unsigned seen = 0;  // bit (type - 1) per option met
  while (p < end) {
    if (end - p < 2) return {DecodeError::kTruncated};
    const uint8_t type = p[0], len = p[1];
    p += 2;
    if (len == 0) return {DecodeError::kOption};
    if (len > end - p) return {DecodeError::kTruncated};
    const uint8_t kind = type & ~kOptIgnorable;
    if (kind == kOptSeqData || kind == kOptPeData || kind == kOptPeName) {
      if (seen & (1u << (kind - 1))) return {DecodeError::kOption};
      seen |= 1u << (kind - 1);
      if ((kind == kOptSeqData && len != kSeqDataLen) || (kind == kOptPeName && len > kPeNameMaxLen))
        return {DecodeError::kOption};
    } else if (!(type & kOptIgnorable)) {
      r.entry = Entry::kUnsupported;
      return r;
    }
    p += len;
  }
  // Persistence-engine data needs the named engine (ip_vs_conn_fill_param_sync), and
  // drfwd has none: the kernel without it drops the entry, so does this.
  if (seen & (1u << (kOptPeData - 1))) r.entry = Entry::kUnsupported;
  return r;
}

Conn read_v4(const uint8_t* e) {
  Conn c;
  c.protocol = e[1];
  c.flags = ntoh32(load32(e + 4));
  c.state = ntoh16(load16(e + 8));
  c.cport_be = load16(e + 10);
  c.vport_be = load16(e + 12);
  c.dport_be = load16(e + 14);
  c.fwmark = ntoh32(load32(e + 16));
  c.timeout = ntoh32(load32(e + 20));
  c.caddr_be = load32(e + 24);
  c.vaddr_be = load32(e + 28);
  c.daddr_be = load32(e + 32);
  return c;
}

}  // namespace

std::string_view decode_error_name(DecodeError e) {
  switch (e) {
    case DecodeError::kNone: return "none";
    case DecodeError::kShort: return "short";
    case DecodeError::kVersion: return "version";
    case DecodeError::kSize: return "size";
    case DecodeError::kTruncated: return "truncated";
    case DecodeError::kEntryVersion: return "entry-version";
    case DecodeError::kOption: return "option";
  }
  return "unknown";
}

// The checks and their order are ip_vs_process_message's, so a datagram is refused here
// exactly when a Linux backup would refuse it.
Decoded decode(std::span<const uint8_t> datagram, std::span<Conn> out) {
  Decoded r;
  const uint8_t* d = datagram.data();
  const size_t n = datagram.size();
  auto fail = [&r](DecodeError e) { r.error = e; return r; };
  if (n < kHeaderLen) return fail(DecodeError::kShort);
  r.syncid = d[1];
  if (ntoh16(load16(d + 2)) != n) return fail(DecodeError::kSize);
  if (d[0] != 0 || d[5] != kProtoVersion || d[6] != 0 || d[7] != 0) return fail(DecodeError::kVersion);
  size_t pos = kHeaderLen;  // up to 3 past n after the last entry: its padding is not sent
  for (unsigned i = 0; i < d[4]; ++i) {
    // Even an IPv6 entry needs 36 bytes here; its own size is checked below.
    if (pos > n || n - pos < kEntryV4Len) return fail(DecodeError::kTruncated);
    const uint8_t* e = d + pos;
    const uint16_t ver_size = ntoh16(load16(e + 2));
    const size_t size = ver_size & kSizeMask;
    if (size > n - pos) return fail(DecodeError::kTruncated);
    if (ver_size >> kVerShift) return fail(DecodeError::kEntryVersion);
    const bool v6 = e[0] & kTypeInet6;
    if (!v6 && e[0] != 0) return fail(DecodeError::kEntryVersion);
    const size_t fixed = v6 ? kEntryV6Len : kEntryV4Len;
    if (size < fixed) return fail(DecodeError::kTruncated);
    const Options o = walk_options(e + fixed, e + size);
    if (o.error != DecodeError::kNone) return fail(o.error);
    if (v6) {
      ++r.skipped_v6;
    } else if (o.entry == Entry::kUnsupported) {
      ++r.skipped_unsupported;
    } else if (r.conns < out.size()) {
      out[r.conns++] = read_v4(e);
    }
    pos += (size + 3) & ~size_t{3};
  }
  return r;
}

Encoder::Encoder(uint8_t syncid, size_t max_len)
    : len_(kHeaderLen), max_len_(std::clamp(max_len, kMinMaxLen, kMaxMaxLen)), syncid_(syncid) {}

bool Encoder::add(const Conn& c) {
  if (count_ == kMaxConnsPerMessage || len_ + kEntryV4Len > max_len_) return false;
  uint8_t* e = buf_ + len_;
  e[0] = 0;  // IPv4
  e[1] = c.protocol;
  store16(e + 2, hton16(kEntryV4Len));  // version 0, no options: 36 is already 4-aligned
  store32(e + 4, hton32(c.flags));
  store16(e + 8, hton16(c.state));
  store16(e + 10, c.cport_be);
  store16(e + 12, c.vport_be);
  store16(e + 14, c.dport_be);
  store32(e + 16, hton32(c.fwmark));
  store32(e + 20, hton32(c.timeout));
  store32(e + 24, c.caddr_be);
  store32(e + 28, c.vaddr_be);
  store32(e + 32, c.daddr_be);
  len_ += kEntryV4Len;
  ++count_;
  return true;
}

size_t Encoder::count() const { return count_; }

std::span<const uint8_t> Encoder::message() {
  buf_[0] = 0;  // reserved: a version 0 receiver reads it as nr_conns, so finds nothing to apply
  buf_[1] = syncid_;
  store16(buf_ + 2, hton16(static_cast<uint16_t>(len_)));
  buf_[4] = static_cast<uint8_t>(count_);
  buf_[5] = kProtoVersion;
  buf_[6] = buf_[7] = 0;  // spare
  return {buf_, len_};
}

void Encoder::clear() {
  len_ = kHeaderLen;
  count_ = 0;
}

size_t Encoder::max_len() const { return max_len_; }

}  // namespace drfwd::sync
